/**
 * Usage served while the holder had the credits is paid even when they are gone by the time its batch
 * lands: moved to a colleague, or expired, between the serving and the settlement. Before, the batch
 * took what was left (nothing) and the usage was free, again and again: serve, send the credits
 * away, get them back, serve again. Now the rest is owed as usage debt (InferenceCredit
 * `usageDebtOf`), paid first from the next credits the holder receives (a transfer back, a grant),
 * and the gateway reads the holder's balance net of it. The real gateway, its settler and chain
 * watcher, anvil and the llama.cpp upstream.
 */
import { expect } from "chai";
import { type Address, getAddress, type Hex, zeroAddress } from "viem";
import { rpc } from "../../devkit/localChain.js";
import type { Gateway } from "../../gateway/index.js";
import type { BatchRow } from "../../gateway/ledger/ledger.js";
import { creditContract } from "../../sdk/credits/contract.js";
import { type AnyCreditEvent, creditEventsOfReceipt } from "../../sdk/credits/events.js";
import { readAuthorization, readCreditBalance } from "../../sdk/credits/reads.js";
import { formatCredits } from "../../sdk/credits/units.js";
import { transferCredits } from "../../sdk/credits/write.js";
import { offboardHolder, onboardHolders } from "../../sdk/holders.js";
import { type GatewayFixture, MODEL, startGatewayFixture } from "./support/gatewayFixture.js";

describe("gateway: usage served before the credits moved out or expired is owed, and paid from the next credits", function () {
  this.timeout(180_000);
  let f: GatewayFixture;
  let gw: Gateway;
  const logs: Record<string, unknown>[] = [];
  before(async () => {
    f = await startGatewayFixture();
    // No periodic balance reads in these tests: what the gateway knows, it learns from the chain's events
    // and from the credits' expiries.
    gw = await f.start({ chain: { ...f.config().chain, balanceRefreshMs: 600_000 } }, logs);
  });
  after(async () => {
    await f?.stop();
  });

  const keyFor = async (i: number) => {
    const { status, body } = await f.createKey(gw, await f.authorize(i, { cap: "100" }));
    expect(status, JSON.stringify(body)).to.equal(201);
    return body as { key: string; holder: Address; authorizationId: Hex };
  };
  const debtOf = (holder: Address) => f.chain.reader.publicClient.readContract({ ...creditContract(f.chain.reader), functionName: "usageDebtOf", args: [holder] });
  const totalSupply = () => f.chain.reader.publicClient.readContract({ ...creditContract(f.chain.reader), functionName: "totalSupply" });
  /** Until the gateway's chain watcher has applied the block (and the balance reads it caused). */
  const watched = async (block: bigint) => {
    while (gw.watcher.lastBlock < block) await new Promise((r) => setTimeout(r, 10));
  };
  const ledgerOf = async (holder: Address) => {
    const s = (await gw.ledger.holderState(holder))!;
    return { unsettled: s.unsettled, available: s.available };
  };
  /** One metered request's status and error code. */
  const attempt = async (key: string) => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "Once" }], max_tokens: 2 }),
    });
    const body = (await res.json()) as { error?: { code: string } };
    return { status: res.status, code: body.error?.code };
  };
  /** Settles every charge waiting, in one batch; returns it and its settlement's InferenceCredit events, in order. */
  const settle = async (): Promise<{ batch: BatchRow; events: AnyCreditEvent[] }> => {
    const before = new Set((await gw.ledger.batches("settled")).map((b) => b.batchId));
    await gw.settler.settleDue(true);
    const landed = (await gw.ledger.batches("settled")).filter((b) => !before.has(b.batchId));
    expect(landed.length).to.equal(1);
    const receipt = await f.chain.reader.publicClient.getTransactionReceipt({ hash: landed[0].txHash as Hex });
    return { batch: landed[0], events: creditEventsOfReceipt(receipt, f.chain.deployment.inferenceCredit!) };
  };
  /** The events named, in order, each including the arguments given. */
  const expectEvents = (events: readonly AnyCreditEvent[], expected: { event: string; [arg: string]: unknown }[]) => {
    const names = new Set(expected.map((e) => e.event));
    const found = events.filter((e) => names.has(e.eventName));
    expect(found.map((e) => e.eventName)).to.deep.equal(expected.map((e) => e.event));
    for (const [i, e] of found.entries()) {
      const { event: _, ...args } = expected[i];
      expect(e.args, e.eventName).to.deep.include(args);
    }
  };
  const shortWarnings = () => logs.filter((l) => typeof l.msg === "string" && /short of credit|not charged in full/.test(l.msg));

  it("stops counting credits at their expiry, which no event announces, rather than serve against them until a batch finds them gone", async () => {
    // The chain's clock follows the wall clock here (before any test moves it on).
    const wall = BigInt(Math.floor(Date.now() / 1000));
    const chainNow = await f.chainTime();
    expect(Number(chainNow - wall), "chain clock ahead of the wall clock").to.be.lessThan(5);
    await f.grant(4, "10");
    const k = await keyFor(4);
    const expiresAt = (chainNow > wall ? chainNow : wall) + 4n;
    await f.grant(4, "5", { expiresAt });
    await watched(await f.chain.reader.publicClient.getBlockNumber({ cacheTime: 0 }));
    const served = await f.chargedRequest(gw, k.key);
    expect(await ledgerOf(k.holder)).to.deep.equal({ unsettled: served, available: 15_000_000n - served });
    // No block after the expiry, no event: the gateway reads the holder again at the expiry itself.
    const deadline = Number(expiresAt) * 1000 + 1_500;
    while ((await ledgerOf(k.holder)).available !== 10_000_000n - served && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await ledgerOf(k.holder)).to.deep.equal({ unsettled: served, available: 10_000_000n - served });
    expect(Date.now()).to.be.at.least(Number(expiresAt) * 1000);
    await settle();
    expect(await debtOf(k.holder)).to.equal(0n);
  });

  it("charges usage served before the holder sent all its credits to a colleague: owed, then paid from the credits sent back", async () => {
    await f.grant(0, "10", { transferable: true });
    const colleague = f.chain.employeeAddress(1);
    await onboardHolders(f.chain.hr, [colleague]);
    const k = await keyFor(0);
    const holder = getAddress(k.holder);
    const authId = k.authorizationId.toLowerCase();
    const original = await readCreditBalance(f.chain.reader, k.holder);
    const supply = await totalSupply();
    let served = 0n;
    for (let i = 0; i < 3; i++) served += await f.chargedRequest(gw, k.key);
    expect(served).to.be.greaterThan(0n);
    expect(await ledgerOf(k.holder)).to.deep.equal({ unsettled: served, available: original - served });

    // Before the batch lands, every credit goes to the colleague: the gateway reads the holder's 0 and refuses it.
    const out = await transferCredits(f.chain.employee(0), colleague, original);
    await watched(out.blockNumber);
    expect(await readCreditBalance(f.chain.reader, k.holder)).to.equal(0n);
    expect(await attempt(k.key)).to.deep.equal({ status: 402, code: "insufficient_credits" });

    // The batch finds nothing to burn: the whole charge is owed, and counted against the authorization's cap.
    const { events } = await settle();
    expectEvents(events, [
      { event: "UsageDebtIncurred", holder, authId, amount: served, debt: served },
      { event: "UsageCharged", holder, authId, requested: served, charged: 0n },
    ]);
    expect(await debtOf(k.holder)).to.equal(served);
    expect(await readCreditBalance(f.chain.reader, k.holder)).to.equal(0n);
    expect((await readAuthorization(f.chain.reader, k.authorizationId)).charged).to.equal(served);
    expect(await ledgerOf(k.holder)).to.deep.equal({ unsettled: 0n, available: 0n });
    expect(await totalSupply()).to.equal(supply, "nothing burnt yet");
    // The settler's log tells the debt from what was not charged.
    expect(shortWarnings().map((l) => [l.level, l.msg, l.owed, l.owedCharges, l.debtors, l.notCharged])).to.deep.equal([
      [
        40,
        `1 charge was short of credit: ${formatCredits(served)} credits owed as debt by the holder (paid from the next credits they receive)`,
        served.toString(),
        1,
        [holder],
        undefined,
      ],
    ]);

    // The colleague sends them back: the debt is paid first (a burn after the arrival), the rest is the holder's.
    const back = await transferCredits(f.chain.employee(1), k.holder, original);
    const backEvents = creditEventsOfReceipt(back, f.chain.deployment.inferenceCredit!);
    expectEvents(backEvents, [
      { event: "Transfer", from: colleague, to: holder, value: original },
      { event: "UsageDebtPaid", holder, transferable: true, amount: served, debt: 0n },
      { event: "Transfer", from: holder, to: zeroAddress, value: served },
    ]);
    expect(await debtOf(k.holder)).to.equal(0n);
    expect(await readCreditBalance(f.chain.reader, k.holder)).to.equal(original - served);
    expect(await readCreditBalance(f.chain.reader, colleague)).to.equal(0n);
    expect(await totalSupply()).to.equal(supply - served, "the served usage was burnt after all");

    // The chain watcher re-read the holder's balance from these Transfers, net of the debt paid: served again.
    await watched(back.blockNumber);
    expect(await ledgerOf(k.holder)).to.deep.equal({ unsettled: 0n, available: original - served });
    const more = await f.chargedRequest(gw, k.key);
    expect(await ledgerOf(k.holder)).to.deep.equal({ unsettled: more, available: original - served - more });
    await settle();
    expect(await readCreditBalance(f.chain.reader, k.holder)).to.equal(original - served - more);
    expect((await readAuthorization(f.chain.reader, k.authorizationId)).charged).to.equal(served + more);
  });

  it("charges usage served before the holder's credits expired, in a batch that lands after: paid from the next grant", async () => {
    const expiresAt = (await f.chainTime()) + 600n;
    await f.grant(2, "10", { expiresAt });
    const k = await keyFor(2);
    const original = await readCreditBalance(f.chain.reader, k.holder);
    let served = 0n;
    for (let i = 0; i < 3; i++) served += await f.chargedRequest(gw, k.key);
    // The batch goes out after the credits' expiry (the chain's clock moved past it).
    await rpc(f.chain, "evm_increaseTime", [700]);
    await rpc(f.chain, "evm_mine");
    expect(await f.chainTime()).to.be.greaterThan(expiresAt);
    expect(await readCreditBalance(f.chain.reader, k.holder)).to.equal(0n);
    const supply = await totalSupply();
    // Its balance last read long before the batch (as for a key made days ago): the settler does not read it again.
    await gw.ledger.db.transaction((tx) => tx.run("UPDATE gw_holders SET refreshed_at = 0 WHERE holder = $1", [k.holder]));
    const { events } = await settle();
    expectEvents(events, [
      { event: "UsageDebtIncurred", amount: served, debt: served },
      { event: "UsageCharged", requested: served, charged: 0n },
    ]);
    expect(await debtOf(k.holder)).to.equal(served);
    expect((await readAuthorization(f.chain.reader, k.authorizationId)).charged).to.equal(served);
    // No event said the credits expired; the debt the batch incurred makes the gateway read the balance again.
    await watched(events[0].blockNumber);
    expect(await ledgerOf(k.holder)).to.deep.equal({ unsettled: 0n, available: 0n });
    expect(await attempt(k.key)).to.deep.equal({ status: 402, code: "insufficient_credits" });

    // The next grant pays the debt first; the gateway reads what is left.
    await f.grant(2, "10");
    expect(await readCreditBalance(f.chain.reader, k.holder)).to.equal(original - served);
    expect(await debtOf(k.holder)).to.equal(0n);
    expect(await totalSupply()).to.equal(supply + original - served, "granted 10, of which the debt burnt");
    await watched(await f.chain.reader.publicClient.getBlockNumber({ cacheTime: 0 }));
    expect(await ledgerOf(k.holder)).to.deep.equal({ unsettled: 0n, available: original - served });
    const more = await f.chargedRequest(gw, k.key);
    await settle();
    expect(await readCreditBalance(f.chain.reader, k.holder)).to.equal(original - served - more);
    expect(await debtOf(k.holder)).to.equal(0n);
  });

  it("says in the settler's log what is owed as debt apart from what is not charged, also for a batch found on-chain after a restart", async () => {
    const colleague = f.chain.employeeAddress(1);
    await onboardHolders(f.chain.hr, [colleague]);
    await f.grant(3, "10", { transferable: true });
    await f.grant(4, "10");
    const mover = await keyFor(3);
    const leaver = await keyFor(4);
    const owed = await f.chargedRequest(gw, mover.key);
    const lost = await f.chargedRequest(gw, leaver.key);
    // Between the serving and the batch, one holder sends its credits away, the other is offboarded.
    await transferCredits(f.chain.employee(3), colleague, await readCreditBalance(f.chain.reader, mover.holder));
    await offboardHolder(f.chain.hr, leaver.holder);
    await watched(await f.chain.reader.publicClient.getBlockNumber({ cacheTime: 0 }));
    const holders = [mover.holder, leaver.holder];
    const before = await Promise.all(holders.map((h) => gw.ledger.holderState(h)));
    const from = logs.length;
    const { batch, events } = await settle();
    const of = (holder: Address) =>
      events.filter((e) => (e.eventName === "UsageCharged" || e.eventName === "UsageDebtIncurred") && (e.args as { holder: Address }).holder === getAddress(holder));
    expectEvents(of(mover.holder), [
      { event: "UsageDebtIncurred", amount: owed, debt: owed },
      { event: "UsageCharged", requested: owed, charged: 0n },
    ]);
    expect(
      of(leaver.holder).map((e) => e.eventName),
      "nothing owed by an offboarded holder",
    ).to.deep.equal(["UsageCharged"]);
    expectEvents(of(leaver.holder), [{ event: "UsageCharged", requested: lost, charged: 0n }]);
    const expected = [
      {
        level: 40,
        msg: `1 charge was short of credit: ${formatCredits(owed)} credits owed as debt by the holder (paid from the next credits they receive)`,
        requested: (owed + lost).toString(),
        charged: "0",
        owed: owed.toString(),
        owedCharges: 1,
        debtors: [getAddress(mover.holder)],
      },
      {
        level: 40,
        msg: `1 charge was not charged in full: ${formatCredits(lost)} credits not charged (authorization revoked or expired more than a day ago, holder offboarded, or over the authorization's cap)`,
        requested: (owed + lost).toString(),
        charged: "0",
        notCharged: lost.toString(),
        notChargedCharges: 1,
      },
    ];
    const warned = () => shortWarnings().filter((l) => logs.indexOf(l) >= from);
    expect(warned().length).to.equal(2);
    for (const [i, l] of warned().entries()) expect(l).to.deep.include(expected[i]);
    const after = await Promise.all(holders.map((h) => gw.ledger.holderState(h)));

    // The ledger's update lost (a crash after the batch landed): the batch is found on-chain by its
    // UsageCharged events, without its receipt; the debt is read from the receipt, for the log.
    await gw.ledger.db.transaction(async (tx) => {
      await tx.run("UPDATE gw_batches SET status = 'pending', charged = NULL, settled_at = NULL WHERE batch_id = $1", [batch.batchId]);
      for (const [j, h] of holders.entries()) await tx.run("UPDATE gw_holders SET balance = $2, unsettled = $3 WHERE holder = $1", [h, before[j]!.balance, before[j]!.unsettled]);
      await tx.run("UPDATE gw_meta SET value = value - 1 WHERE name = 'settled_batches'");
    });
    const again = logs.length;
    await gw.settler.settleDue();
    expect(await gw.ledger.batches("pending")).to.deep.equal([]);
    const replayed = shortWarnings().filter((l) => logs.indexOf(l) >= again);
    expect(replayed.length).to.equal(2);
    for (const [i, l] of replayed.entries()) expect(l).to.deep.include({ ...expected[i], tx: batch.txHash });
    expect(await Promise.all(holders.map((h) => gw.ledger.holderState(h)))).to.deep.equal(after);
  });
});
