/**
 * The redeemer's history read (redeemer/watcher/chainWatcher.ts, streamed through the SDK's
 * streamEventRanges) against a node that refuses ranges of more than a few blocks and, once,
 * drops an answer half-way: every request is handed over in chain order after the lifecycle
 * events, the cursor moves only when a range is complete, and a read that failed half-way
 * resumes from the cursor, handing over again only what came after it.
 */
import { expect } from "chai";
import { eventSelectors } from "../../sdk/events.js";
import { createChainClient } from "../../sdk/client.js";
import { ChainWatcher, type WatchBatch } from "../../redeemer/watcher/chainWatcher.js";
import { type FakeLogsNode, type LogsCall, startFakeLogsNode } from "../support/fakeLogsNode.js";
import { hexLog, LOG_ADDRESS, rejectedLog, requestedLog } from "../support/redemptionLogs.js";

const HEAD = 20;
/** The node answers at most this many blocks at once. */
const MAX_BLOCKS = 4;
const REQUESTED = eventSelectors(["RedemptionRequested"])[0]!;

/** Requests in block b: a few, then many (more than one group of the stream) from block 11. */
const countOf = (b: number) => (b <= 10 ? 3 : 300);
/** Block b holds the requests of ids 1000b, 1000b+1, …; an even block then the rejection of 1000b. */
function logsOf(from: number, to: number, requests: boolean) {
  const logs = [];
  for (let b = from; b <= to; b++) {
    if (requests) for (let i = 0; i < countOf(b); i++) logs.push(hexLog(requestedLog(BigInt(1000 * b + i), BigInt(b), i)));
    else if (b % 2 === 0) logs.push(hexLog(rejectedLog(BigInt(1000 * b), BigInt(b), countOf(b))));
  }
  return logs;
}

describe("redeemer: the history read in streamed ranges", () => {
  let node: FakeLogsNode;
  const requests = (c: LogsCall) => [c.topics[0]].flat().includes(REQUESTED);
  const calls = () => node.calls.map((c) => ({ from: c.from, to: c.to, requests: requests(c) }));

  before(async () => {
    node = await startFakeLogsNode({ head: HEAD, maxBlocks: MAX_BLOCKS, getLogs: (c) => logsOf(c.from, c.to, requests(c)) });
  });
  after(() => node.close());

  const watcher = (batches: WatchBatch[]) =>
    new ChainWatcher({
      publicClient: createChainClient(node.url, "local"),
      rpcUrl: node.url,
      address: LOG_ADDRESS,
      deployBlock: 1n,
      confirmations: 0,
      pollIntervalMs: 10,
      maxBlockRange: 64n,
      onBatch: (b) => {
        batches.push(b);
      },
    });
  const ids = (batches: WatchBatch[]) => batches.flatMap((b) => b.requests.map((r) => Number(r.id)));
  const every = Array.from({ length: HEAD }, (_, b) => Array.from({ length: countOf(b + 1) }, (_, i) => 1000 * (b + 1) + i)).flat();
  /** The ids of blocks up to `block`. */
  const upTo = (block: number) => (id: number) => id < 1000 * (block + 1);

  it("hands over the lifecycle, then every request once in chain order, shortening the ranges the node refuses", async () => {
    node.calls.length = 0;
    const batches: WatchBatch[] = [];
    const w = watcher(batches);
    await w.sync();
    expect(w.cursor).to.equal(BigInt(HEAD));
    const firstRequests = batches.findIndex((b) => b.requests.length > 0);
    expect(batches.slice(0, firstRequests).flatMap((b) => b.lifecycle.map((e) => Number(e.args.id)))).to.deep.equal(Array.from({ length: HEAD / 2 }, (_, i) => 2000 * (i + 1)));
    expect(batches.slice(firstRequests).every((b) => b.lifecycle.length === 0)).to.equal(true);
    expect(ids(batches)).to.deep.equal(every);
    // Ranges grow from one block; the node refused the longer ones before answering any of them, and was asked for less.
    const refused = calls().filter((c) => c.to - c.from + 1 > MAX_BLOCKS);
    expect(refused.length).to.be.greaterThan(0);
    for (const r of refused) expect(calls()).to.deep.include({ from: r.from, to: r.from + Math.floor((r.to - r.from) / 2), requests: r.requests });
  });

  it("after an answer dropped half-way, the cursor is where the last complete range ended, and the next sync resumes there", async () => {
    node.dropOnce = { when: (c) => requests(c) && c.from <= 15 && 15 <= c.to, at: 0.95 };
    const batches: WatchBatch[] = [];
    const w = watcher(batches);
    const err = await w.sync().catch((e: unknown) => e);
    expect(err).to.be.an("error");
    const cursor = Number(w.cursor);
    expect(cursor).to.be.lessThan(15);
    const first = ids(batches);
    // Part of the broken range was handed over, beyond the cursor.
    expect(first.some((id) => !upTo(cursor)(id))).to.equal(true);
    expect(first.filter(upTo(cursor))).to.deep.equal(every.filter(upTo(cursor)));
    const after = batches.length;
    await w.sync();
    expect(w.cursor).to.equal(BigInt(HEAD));
    // Everything after the cursor, once, in order: what was handed over in part comes again.
    expect(ids(batches.slice(after))).to.deep.equal(every.filter((id) => !upTo(cursor)(id)));
  });
});
