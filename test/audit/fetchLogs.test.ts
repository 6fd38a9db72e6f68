import { expect } from "chai";
import type { Hex } from "viem";
import { fetchLogRanges, type RpcRequest } from "../../sdk/audit/fetchLogs.js";
import type { RawLog } from "../../sdk/audit/events.js";
import { pickLots } from "../../sdk/pickLots.js";

/** A fake node: `perBlock(n)` logs in block n; refuses ranges of more than `maxLogs` logs. */
function fakeNode(perBlock: (n: number) => number, maxLogs = Infinity) {
  const calls: [number, number][] = [];
  const request: RpcRequest = async ({ method, params }) => {
    if (method === "eth_getBlockByNumber") return { timestamp: "0x10" };
    const { fromBlock, toBlock } = params[0] as { fromBlock: Hex; toBlock: Hex };
    const from = Number(fromBlock);
    const to = Number(toBlock);
    calls.push([from, to]);
    const logs: RawLog[] = [];
    for (let b = from; b <= to; b++) {
      for (let i = 0; i < perBlock(b); i++) {
        logs.push({ address: "0x01", topics: [], data: "0x", blockNumber: `0x${b.toString(16)}`, transactionHash: `0x${b.toString(16).padStart(64, "0")}`, transactionIndex: "0x0", logIndex: `0x${i.toString(16)}` });
      }
    }
    if (logs.length > maxLogs) throw new Error(`query returned more than ${maxLogs} results`);
    return logs;
  };
  return { request, calls };
}

describe("bounded log fetching (sdk/audit/fetchLogs.ts)", function () {
  it("covers the whole range in order, in ranges of at most chunkBlocks, and reports progress", async function () {
    const node = fakeNode(() => 1);
    const progress: bigint[] = [];
    const blocks: number[] = [];
    for await (const r of fetchLogRanges({ request: node.request, addresses: [], fromBlock: 5n, toBlock: 104n, chunkBlocks: 30n, onProgress: (p) => progress.push(p.doneBlock) })) {
      for (const l of r.logs) blocks.push(Number(l.blockNumber));
      expect(r.logs.every((l) => l.blockTimestamp === "0x10")).to.equal(true);
    }
    expect(blocks).to.deep.equal(Array.from({ length: 100 }, (_, i) => i + 5));
    expect(node.calls.every(([a, b]) => b - a + 1 <= 30)).to.equal(true);
    expect(progress.at(-1)).to.equal(104n);
  });

  it("splits a range the node refuses as too large, and shrinks later ranges in a dense stretch", async function () {
    // Blocks 100..199 hold 50 logs each; the node answers at most 200 logs per call.
    const node = fakeNode((b) => (b >= 100 && b < 200 ? 50 : 1), 200);
    let total = 0;
    let largest = 0;
    for await (const r of fetchLogRanges({ request: node.request, addresses: [], fromBlock: 0n, toBlock: 400n, chunkBlocks: 100n, targetLogs: 150, prefetch: 0 })) {
      total += r.logs.length;
      largest = Math.max(largest, r.logs.length);
    }
    expect(total).to.equal(100 * 50 + 301);
    expect(largest).to.be.at.most(200);
    // After the first dense range, ranges are sized to about targetLogs.
    expect(node.calls.filter(([a]) => a >= 100 && a < 200).length).to.be.greaterThan(10);
  });

  it("passes other node errors through", async function () {
    const request: RpcRequest = async () => {
      throw new Error("connection refused");
    };
    const it = fetchLogRanges({ request, addresses: [], fromBlock: 0n, toBlock: 10n });
    const err = await it.next().catch((e: Error) => e);
    expect((err as Error).message).to.equal("connection refused");
  });
});

describe("lot selection (scripts/wallet/pickLots.ts)", function () {
  const lot = (lotId: bigint, expiresAt: bigint, policy: "soulbound" | "transferable", balance: bigint) => ({ lotId, expiresAt, policy, balance, expired: false });
  const lots = [lot(1n, 300n, "transferable", 50n), lot(2n, 100n, "soulbound", 10n), lot(3n, 200n, "transferable", 20n), lot(4n, 50n, "transferable", 99n)];

  it("takes the soonest-expiring unexpired lots first", function () {
    expect(pickLots(lots, 40n, { now: 60n }).picks.map((p) => [p.lotId, p.amount])).to.deep.equal([
      [2n, 10n],
      [3n, 20n],
      [1n, 10n],
    ]);
  });

  it("skips soulbound lots for a transfer and says how much qualified when it is not enough", function () {
    expect(pickLots(lots, 30n, { now: 60n, transferableOnly: true }).picks.map((p) => p.lotId)).to.deep.equal([3n, 1n]);
    expect(pickLots(lots, 71n, { now: 60n, transferableOnly: true })).to.deep.equal({ picks: [], available: 70n });
  });

  it("respects the contract's limit on lots per redemption", function () {
    expect(pickLots(lots, 80n, { now: 60n, maxLots: 2 }).picks).to.deep.equal([]);
  });
});
