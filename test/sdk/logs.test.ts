import { expect } from "chai";
import { decodeEventLog, encodeAbiParameters, encodeEventTopics, type Hex, toHex } from "viem";
import { computeTokenAbi } from "../../sdk/generated/abi.js";
import { decodeLogs, UndecodableLogError } from "../../sdk/logs/decodeLogs.js";
import { FastDecodeError, fastDecoderFor } from "../../sdk/logs/fastDecode.js";
import { fetchLogRanges, RangePlan, type RawLog, type RpcRequest, shorterRange } from "../../sdk/logs/fetchLogRanges.js";

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
        logs.push({
          address: "0x01",
          topics: [],
          data: "0x",
          blockNumber: `0x${b.toString(16)}`,
          transactionHash: `0x${b.toString(16).padStart(64, "0")}`,
          transactionIndex: "0x0",
          logIndex: `0x${i.toString(16)}`,
        });
      }
    }
    if (logs.length > maxLogs) throw new Error(`query returned more than ${maxLogs} results`);
    return logs;
  };
  return { request, calls };
}

describe("bounded log fetching (sdk/logs/fetchLogRanges.ts)", function () {
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

  it("sizes the ranges not yet asked for from the latest range read, so that ranges fetched ahead never compound a sparse range's growth", async function () {
    // As bench:audit's history: a sparse start, a dense stretch (1,000 logs a block), then 200 and 300 a block.
    const perBlock = (b: number) => (b < 32 ? 2 : b < 80 ? 1000 : b < 120 ? 200 : 300);
    const node = fakeNode(perBlock);
    const sizes: number[] = [];
    let total = 0;
    for await (const r of fetchLogRanges({ request: node.request, addresses: [], fromBlock: 0n, toBlock: 299n, chunkBlocks: 2000n, targetLogs: 5000, prefetch: 2 })) {
      sizes.push(r.logs.length);
      total += r.logs.length;
    }
    expect(total).to.equal(32 * 2 + 48 * 1000 + 40 * 200 + 180 * 300);
    // The first ranges are asked for before any density is known; every later one holds at most
    // 1.5 × the target here (a range's density over the next ones' blocks: 300 / 200 × 5,000 = 7,500).
    const later = sizes.slice(4);
    expect(Math.max(...later), sizes.join(",")).to.be.at.most(7_500);
    expect(sizes.length, sizes.join(",")).to.be.lessThan(40);
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

describe("the range fetcher's reading of a refusal (sdk/logs/fetchLogRanges.ts)", function () {
  it("takes the range a provider suggests (getLogsRetryHelper), halves on a message it only recognises, and passes other errors", function () {
    const alchemy = new Error(
      "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range and no limit on the response size, or you can request any block range with a cap of 10K logs in the response. Based on your parameters, this block range should work: [0x0, 0x2a]",
    );
    expect(shorterRange(alchemy, 0n, 1000n)).to.equal(42n);
    expect(shorterRange(new Error("query returned more than 10000 results"), 0n, 99n)).to.equal(49n);
    expect(shorterRange(new Error("Requested range exceeds maximum RPC range limit"), 10n, 20n)).to.equal(15n);
    expect(shorterRange(new Error("connection refused"), 0n, 99n)).to.equal(undefined);
    expect(shorterRange(new Error("query returned more than 10000 results"), 7n, 7n)).to.equal(undefined);
  });
});

describe("the one range plan (sdk/logs/fetchLogRanges.ts RangePlan)", function () {
  const length = ([a, b]: [bigint, bigint]) => b - a + 1n;

  it("never asks again for more than a refused range was cut to, and lets a cut range's leftover shrink the ranges but not set their growth", function () {
    const plan = new RangePlan({ fromBlock: 0n, toBlock: 10_000n, chunkBlocks: 1_000n, firstChunkBlocks: 64n, targetLogs: 100 });
    const [from, to] = plan.next();
    expect(to - from + 1n).to.equal(64n);
    expect(plan.refused(new Error("block range too large"), from, to)).to.equal(31n);
    // The leftover [32, 63]: sparse, yet it does not make the next ranges 64 blocks (twice its size).
    plan.read(32n, 0, true);
    expect(length(plan.next())).to.equal(32n);
    // A sparse range read whole grows the next ones, never past the 32 blocks the node accepted.
    plan.read(32n, 0);
    expect(length(plan.next())).to.equal(32n);
    // A dense one shrinks them: about 100 logs at its density.
    plan.read(32n, 800);
    expect(length(plan.next())).to.equal(4n);
    // A dense leftover shrinks them too.
    plan.read(4n, 200, true);
    expect(length(plan.next())).to.equal(2n);
  });

  it("does not shorten a range for a rate limit, and refuses a first range of no blocks", function () {
    for (const message of ["429 Too Many Requests", "rate limit exceeded", "Rate-limited: slow down"])
      expect(shorterRange(new Error(message), 0n, 63n), message).to.equal(undefined);
    expect(() => new RangePlan({ fromBlock: 0n, toBlock: 9n, firstChunkBlocks: 0n })).to.throw(RangeError, "firstChunkBlocks must be at least 1");
    expect(() => new RangePlan({ fromBlock: 0n, toBlock: 9n, chunkBlocks: 0n })).to.throw(RangeError, "chunkBlocks must be at least 1");
  });
});

describe("the fast event decoder's bounds checks (sdk/logs/fastDecode.ts)", function () {
  const HOLDER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
  const item = computeTokenAbi.find((x) => x.type === "event" && x.name === "RedemptionRequested")!;
  const decoder = fastDecoderFor(item as never)!;
  const topics = encodeEventTopics({ abi: computeTokenAbi, eventName: "RedemptionRequested", args: { id: 7n, holder: HOLDER, classId: 1 } }) as Hex[];
  const spec = toHex(new TextEncoder().encode('{"name":"x"}'));
  const good = encodeAbiParameters(
    [{ type: "uint8" }, { type: "uint16" }, { type: "uint32" }, { type: "uint256" }, { type: "bytes32" }, { type: "bytes" }],
    [1, 2, 3600, 7200n, `0x${"aa".repeat(32)}`, spec],
  );
  /** `good` with its word `i` (0-based, 32 bytes) replaced. */
  const withWord = (i: number, value: bigint) => `0x${good.slice(2, 2 + i * 64)}${value.toString(16).padStart(64, "0")}${good.slice(2 + (i + 1) * 64)}` as Hex;

  it("decodes what viem decodes", function () {
    expect(decoder.decode(topics, good)).to.deep.equal(decodeEventLog({ abi: computeTokenAbi, topics: topics as [Hex, ...Hex[]], data: good, strict: true }).args);
  });

  it("throws on an offset past the end of the data, never decoding the field as empty", function () {
    expect(() => decoder.decode(topics, withWord(5, 4096n))).to.throw(FastDecodeError, /offset 4096 is past the end/);
    expect(() => decoder.decode(topics, withWord(5, 2n ** 200n))).to.throw(FastDecodeError, /out of range/);
  });

  it("throws on a length that runs past the end of the data", function () {
    // Word 6 is the length of the spec bytes (the offset in word 5 points at it).
    expect(() => decoder.decode(topics, withWord(6, 1000n))).to.throw(FastDecodeError, /length 1000 is past the end/);
  });

  it("throws on data cut short or a wrong number of topics", function () {
    expect(() => decoder.decode(topics, good.slice(0, 2 + 64 * 6) as Hex)).to.throw(FastDecodeError);
    expect(() => decoder.decode(topics, `${good}00` as Hex)).to.throw(FastDecodeError, /not whole words/);
    expect(() => decoder.decode(topics.slice(0, 2), good)).to.throw(FastDecodeError, /topics/);
  });

  it("reports such a log as undecodable, naming its transaction and index", function () {
    const log = { topics, data: withWord(5, 4096n), blockNumber: "0x5" as Hex, transactionHash: `0x${"02".repeat(32)}` as Hex, logIndex: "0x3" as Hex };
    expect(() => decodeLogs(computeTokenAbi, [log])).to.throw(UndecodableLogError, `log 0x${"02".repeat(32)}#3 does not decode`);
  });
});
