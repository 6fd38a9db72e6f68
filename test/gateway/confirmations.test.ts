/**
 * Reorganisations: with `chain.confirmations: 2` the ledger takes a settlement as settled only once
 * a second block is on top of it; until then its batch stays pending and its charges count as not
 * yet settled (the on-chain balance is not trusted to include them).
 */
import { expect } from "chai";
import { readCreditBalance } from "../../sdk/credits/reads.js";
import { inferenceCreditAbi } from "../../sdk/generated/abi.js";
import { rpc } from "../../devkit/localChain.js";
import type { Gateway } from "../../gateway/index.js";
import { type GatewayFixture, startGatewayFixture } from "./support/gatewayFixture.js";

describe("gateway settlement against confirmed blocks", function () {
  this.timeout(180_000);
  let f: GatewayFixture;
  let gw: Gateway;

  before(async () => {
    f = await startGatewayFixture();
    gw = await f.start({ chain: { ...f.config().chain, confirmations: 2 }, settlement: { intervalMs: 3_600_000, maxCharges: 1000 } });
    await f.grant(0, "10");
  });
  after(async () => {
    // A settlement still waiting for its confirmation gets it (anvil mines only on a transaction).
    if (f) await rpc(f.chain, "evm_mine").catch(() => undefined);
    await f?.stop();
  });

  it("keeps a landed batch pending until it is 2 blocks deep, then applies it", async () => {
    const { key, holder } = (await f.createKey(gw, await f.authorize(0))).body;
    const charged = await f.chargedRequest(gw, key);
    const before = (await gw.ledger.holderState(holder))!.balance;
    const client = f.chain.reader.publicClient;
    const from = await client.getBlockNumber();
    const settling = gw.settler.settleDue(true);
    // The settlement lands in a block of its own (anvil mines one per transaction) …
    let landed = 0;
    while (landed === 0) {
      if ((await client.getBlockNumber()) > from)
        landed = (await client.getContractEvents({ address: f.chain.deployment.inferenceCredit!, abi: inferenceCreditAbi, eventName: "UsageBatchSettled", fromBlock: from + 1n }))
          .length;
      if (!landed) await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 1_000));
    // … but with nothing on top of it, the ledger does not count it yet.
    expect((await gw.ledger.batches("pending")).length).to.equal(1);
    expect((await gw.ledger.holderState(holder))!.unsettled).to.equal(charged);
    // The chain watcher (polling every 50 ms) saw the settlement's burn of the charge, this
    // gateway's own: it left the balance to the batch instead of reading it again.
    expect((await gw.ledger.holderState(holder))!.balance).to.equal(before);
    // A balance refresh in that window applies the lower on-chain balance at once (a pending batch:
    // only lower reads are applied), which already has the batch's charge taken off …
    await gw.refreshBalances([holder]);
    const onChain = await readCreditBalance(f.chain.reader, holder);
    expect((await gw.ledger.holderState(holder))!.balance).to.equal(onChain);
    await rpc(f.chain, "evm_mine");
    await settling;
    expect((await gw.ledger.batches("pending")).length).to.equal(0);
    expect((await gw.ledger.batches("settled")).map((b) => b.charged)).to.deep.equal([charged]);
    expect((await gw.ledger.holderState(holder))!.unsettled).to.equal(0n);
    // … and applying the batch does not leave it taken off twice: the holder's balance is the chain's.
    expect((await gw.ledger.holderState(holder))!.balance).to.equal(onChain);
  });
});
