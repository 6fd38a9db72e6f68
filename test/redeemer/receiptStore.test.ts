import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { RECEIPT_VERSION, type UsageReceipt, encodeReceipt, receiptHashOf } from "../../sdk/receipt.js";
import { ReceiptStore } from "../../redeemer/settler/receiptStore.js";

const CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3";

function receiptFor(id: bigint, used = "600"): UsageReceipt {
  return {
    version: RECEIPT_VERSION,
    chainId: 31337,
    contract: CONTRACT,
    redemptionId: id.toString(),
    holder: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    className: "A100-80GB",
    gpuProduct: null,
    priority: "normal",
    executor: "local",
    jobName: `ctk-${id}`,
    node: null,
    phase: "succeeded",
    exitCode: 0,
    reason: null,
    segments: [{ start: 1, end: 2, node: null, gpuProduct: null }],
    gpus: 1,
    allottedSeconds: 3600,
    gpuSeconds: 1,
    multiplierBps: 10000,
    reservedUnits: "3600",
    usedUnits: used,
    refundedUnits: (3600n - BigInt(used)).toString(),
    issuedAt: new Date(0).toISOString(),
  };
}

describe("redeemer receipt store", () => {
  let dir: string;
  let store: ReceiptStore;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "ctk-receipts-"));
    store = new ReceiptStore(dir);
    await store.init();
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("writes a receipt once and returns the same bytes and hash on every later write", async () => {
    const first = await store.writeOnce(7n, receiptFor(7n, "600"));
    const again = await store.writeOnce(7n, receiptFor(7n, "900"));
    expect(again.hash).to.equal(first.hash);
    expect(again.receipt.usedUnits).to.equal("600");
    expect(receiptHashOf(readFileSync(store.pathOf(7n)))).to.equal(first.hash);
  });

  it("replaces a torn file, and one that parses but does not match the receipt schema", async () => {
    writeFileSync(store.pathOf(1n), '{"version":1,"redemp');
    expect(await store.read(1n)).to.equal(undefined);
    const torn = await store.writeOnce(1n, receiptFor(1n));
    expect(torn.receipt.usedUnits).to.equal("600");

    // Valid JSON with the right id, but used + refunded ≠ reserved: not a receipt this redeemer wrote.
    const bad = { ...receiptFor(2n), refundedUnits: "1" };
    writeFileSync(store.pathOf(2n), encodeReceipt(bad));
    expect(await store.read(2n)).to.equal(undefined);
    const replaced = await store.writeOnce(2n, receiptFor(2n));
    expect(replaced.receipt.refundedUnits).to.equal("3000");
  });

  it("ignores a receipt of another redemption or another contract", async () => {
    writeFileSync(store.pathOf(3n), encodeReceipt(receiptFor(4n)));
    expect(await store.read(3n)).to.equal(undefined);
    writeFileSync(store.pathOf(5n), encodeReceipt(receiptFor(5n)));
    expect((await store.read(5n, CONTRACT))?.receipt.redemptionId).to.equal("5");
    expect(await store.read(5n, "0x0000000000000000000000000000000000000001")).to.equal(undefined);
  });
});
