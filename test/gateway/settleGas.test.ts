/**
 * The gas a settlement is sent with: a batch of charges only goes with the bound of
 * sdk/credits/write.ts (the node runs it once, not once more to estimate it); a batch with
 * activations goes with the node's estimate; and a batch whose send with a bound failed is sent
 * again with an estimate, landing once.
 */
import { expect } from "chai";
import type { Hash } from "viem";
import { readCreditBalance } from "../../sdk/credits/reads.js";
import { settleUsageGasBound } from "../../sdk/credits/write.js";
import { inferenceCreditAbi } from "../../sdk/generated/abi.js";
import { parseCredits } from "../../sdk/credits/units.js";
import { type GatewayFixture, startGatewayFixture } from "./support/gatewayFixture.js";

describe("gateway settlement gas", function () {
  this.timeout(180_000);
  let f: GatewayFixture;

  before(async () => {
    f = await startGatewayFixture();
    await f.grant(0, "10");
    await f.grant(1, "10");
  });
  after(async () => f?.stop());

  const settledTx = async (gw: Awaited<ReturnType<GatewayFixture["start"]>>) => {
    const batches = await gw.ledger.batches("settled");
    return f.chain.reader.publicClient.getTransaction({ hash: batches[batches.length - 1].txHash as Hash });
  };

  it("sends a batch of charges with the gas bound and a batch with activations with the node's estimate", async () => {
    const gw = await f.start({ replica: "bound" });
    const { key } = (await f.createKey(gw, await f.authorize(0))).body;
    await f.chargedRequest(gw, key);
    await gw.settler.settleDue(true);
    // With an activation: estimated, and the bound is not it.
    const first = await settledTx(gw);
    expect(first.gas).to.not.equal(settleUsageGasBound({ activations: [], charges: [{}] }));
    await f.chargedRequest(gw, key);
    await gw.settler.settleDue(true);
    const second = await settledTx(gw);
    expect(second.gas).to.equal(settleUsageGasBound({ activations: [], charges: [{}] }));
    expect((await f.chain.reader.publicClient.getTransactionReceipt({ hash: second.hash })).status).to.equal("success");
    expect(await gw.ledger.batches("pending")).to.deep.equal([]);
    await gw.stop({ settle: false });
  });

  // The bound given here (50,000 gas, too little) applies to every batch, this one's activation included:
  // what is tested is the settler's fallback, whatever made the bounded send fail.
  it("sends a batch again with the node's estimate when its send with a bound failed (here: out of gas), and it lands once", async () => {
    const logs: Record<string, unknown>[] = [];
    const gw = await f.start({ replica: "too-low", database: { kind: "sqlite", file: `${f.dir}/too-low.sqlite` }, recordsDir: `${f.dir}/too-low-records` }, logs, {
      settleGasLimit: () => 50_000n,
    });
    const { key, holder } = (await f.createKey(gw, await f.authorize(1))).body;
    const before = await readCreditBalance(f.chain.reader, holder);
    const charged = await f.chargedRequest(gw, key);
    const client = f.chain.reader.publicClient;
    const from = await client.getBlockNumber();
    const failed = await gw.settler.settleDue(true).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(failed?.message).to.match(/out of gas/);
    const warned = logs.find((l) => l.msg === "settlement sent with a gas bound failed; sending it again with an estimate");
    expect(warned).to.include({ gas: "50000" });
    // The failed transaction was mined, reverted, and charged nothing.
    const block = await client.getBlock({ blockNumber: from + 1n, includeTransactions: true });
    const reverted = await client.getTransactionReceipt({ hash: block.transactions[0].hash });
    expect([reverted.status, block.transactions[0].gas]).to.deep.equal(["reverted", 50_000n]);
    expect(await readCreditBalance(f.chain.reader, holder)).to.equal(before);
    expect((await gw.ledger.batches("pending")).length).to.equal(1);
    // The next attempt: estimated, landed, applied once.
    await gw.settler.settleDue(true);
    const tx = await settledTx(gw);
    expect(tx.gas).to.not.equal(50_000n);
    expect(await gw.ledger.batches("pending")).to.deep.equal([]);
    const landed = await client.getContractEvents({ address: f.chain.deployment.inferenceCredit!, abi: inferenceCreditAbi, eventName: "UsageBatchSettled", fromBlock: from + 1n });
    expect(landed.length).to.equal(1);
    expect(await readCreditBalance(f.chain.reader, holder)).to.equal(before - charged);
    expect(charged > 0n).to.equal(true);
    expect(before).to.equal(parseCredits("10"));
    await gw.stop({ settle: false });
  });
});
