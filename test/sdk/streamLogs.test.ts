/**
 * sdk/logs/streamLogs.ts against a real HTTP server that sends its answer a few bytes at a
 * time: the logs, cut anywhere by the network, come out decoded exactly as the SDK's decoder does,
 * in groups; a node's error answer comes out as its message. A history read in streamed ranges
 * (streamEventRanges) comes out whole, in order, each range marked done once complete; a range the
 * node refuses is shortened, and a read cut half-way throws and resumes from the last range done.
 */
import { expect } from "chai";
import { decodeComputeTokenLogs, REDEMPTION_EVENT_NAMES } from "../../sdk/events.js";
import { LogsRequestError, type StreamedRange, streamComputeTokenEvents, streamEventRanges } from "../../sdk/logs/streamLogs.js";
import { type FakeLogsNode, type LogsAnswer, RANGE_TOO_LARGE, startFakeLogsNode } from "../support/fakeLogsNode.js";
import { hexLog, LOG_ADDRESS, rejectedLog, requestedLog as requestedLogWith } from "../support/redemptionLogs.js";

const requestedLog = (id: bigint, block: bigint, logIndex: number) => requestedLogWith(id, block, logIndex, `{"name":"job-${id}","args":["}{[\\""]}`);

describe("redeemer: eth_getLogs read as a stream", () => {
  let node: FakeLogsNode;
  /** What every eth_getLogs is answered. */
  let answer: LogsAnswer = [];

  before(async () => {
    node = await startFakeLogsNode({ getLogs: () => answer });
  });
  after(() => node.close());

  const read = async (groupSize: number) => {
    const groups = [];
    for await (const g of streamComputeTokenEvents({ rpcUrl: node.url, address: LOG_ADDRESS, names: REDEMPTION_EVENT_NAMES, fromBlock: 1n, toBlock: 9n, groupSize }))
      groups.push(g);
    return groups;
  };

  it("decodes every log as the SDK's decoder does, however the answer is cut, in groups of the size asked", async () => {
    const logs = [requestedLog(1n, 2n, 0), rejectedLog(1n, 2n, 1), requestedLog(2n, 3n, 0), requestedLog(3n, 3n, 4), rejectedLog(3n, 5n, 0)];
    answer = logs.map(hexLog);
    const expected = decodeComputeTokenLogs(logs, REDEMPTION_EVENT_NAMES);
    // Bytes per write: the answer arrives cut at every possible place across the tests.
    for (const chunk of [1, 7, 64, 100_000]) {
      node.chunk = chunk;
      const groups = await read(2);
      expect(
        groups.map((g) => g.length),
        `chunks of ${chunk}`,
      ).to.deep.equal([2, 2, 1]);
      expect(groups.flat(), `chunks of ${chunk}`).to.deep.equal(expected);
    }
    answer = [];
    expect(await read(2)).to.deep.equal([]);
  });

  it("throws the node's error message (so a range too large can be split), with its data", async () => {
    node.chunk = 5;
    answer = { error: { ...RANGE_TOO_LARGE, data: { ranges: [{ from: "0x1" }] } } };
    const err = await read(2).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(LogsRequestError);
    expect((err as LogsRequestError).message).to.equal("query returned more than 10000 results");
    expect((err as LogsRequestError).details).to.equal('{"ranges":[{"from":"0x1"}]}');
  });

  it("refuses an answer whose logs are not in chain order", async () => {
    answer = [requestedLog(2n, 3n, 0), requestedLog(1n, 2n, 0)].map(hexLog);
    const err = await read(10).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(LogsRequestError);
    expect((err as Error).message).to.equal("eth_getLogs answered logs out of chain order");
  });
});

describe("a history read in streamed ranges (sdk/logs/streamLogs.ts streamEventRanges)", () => {
  let node: FakeLogsNode;
  /** The node's rules: at most `maxBlocks` blocks an answer, 3 requests a block. */
  const maxBlocks = 8;
  const logsOf = (from: number, to: number) => {
    const logs = [];
    for (let b = from; b <= to; b++) for (let i = 0; i < 3; i++) logs.push(hexLog(requestedLog(BigInt(b * 3 + i), BigInt(b), i)));
    return logs;
  };
  /** The requests asked for, as [from, to]. */
  const calls = () => node.calls.map((c) => [c.from, c.to]);
  /** The request for [from, to] whose answer the connection drops half-way, once. */
  const dropOnce = (from: number) => {
    node.dropOnce = { when: (c) => c.from === from, at: 0.7 };
  };

  before(async () => {
    node = await startFakeLogsNode({ maxBlocks, getLogs: (c) => logsOf(c.from, c.to) });
  });
  after(() => node.close());

  const read = async (fromBlock: bigint, out: StreamedRange<"RedemptionRequested">[]) => {
    const ranges = streamEventRanges({
      rpcUrl: node.url,
      address: LOG_ADDRESS,
      names: ["RedemptionRequested"],
      fromBlock,
      toBlock: 99n,
      chunkBlocks: 64n,
      firstChunkBlocks: 16n,
      targetLogs: 12,
      groupSize: 2,
    });
    for await (const r of ranges) out.push(r);
  };
  /** Checks what was handed over from `from`: every range's groups lie in it, ranges done follow each other without gaps. */
  const covered = (ranges: StreamedRange<"RedemptionRequested">[], from: number) => {
    let next = from;
    const ids: number[] = [];
    for (const r of ranges) {
      expect(Number(r.fromBlock), "a range starts where the last one done ended").to.equal(next);
      for (const e of r.events) {
        expect(e.blockNumber >= r.fromBlock && e.blockNumber <= r.toBlock).to.equal(true);
        ids.push(Number(e.args.id));
      }
      if (r.done) {
        expect(r.events).to.deep.equal([]);
        next = Number(r.toBlock) + 1;
      }
    }
    return { next, ids };
  };

  it("hands over every event once, in order, shortening a range the node refuses before any of it arrived, then sizing ranges to about targetLogs", async () => {
    node.calls.length = 0;
    const ranges: StreamedRange<"RedemptionRequested">[] = [];
    await read(0n, ranges);
    const { next, ids } = covered(ranges, 0);
    expect(next).to.equal(100);
    expect(ids).to.deep.equal(Array.from({ length: 300 }, (_, i) => i));
    // [0, 15] refused: its first half, then the rest; then ranges of at most what the node accepted, sized to about 12 logs.
    expect(calls().slice(0, 3)).to.deep.equal([
      [0, 15],
      [0, 7],
      [8, 15],
    ]);
    expect(
      calls()
        .slice(3)
        .every(([a, b]) => b - a + 1 === 4),
    ).to.equal(true);
  });

  it("throws when an answer breaks off half-way; read again from the last range done, nothing is lost or repeated", async () => {
    node.calls.length = 0;
    dropOnce(32);
    const first: StreamedRange<"RedemptionRequested">[] = [];
    const err = await read(0n, first).catch((e: unknown) => e);
    expect(err).to.be.an("error");
    const { next, ids } = covered(first, 0);
    expect(next).to.equal(32);
    // Part of the broken range was handed over (not done): the read resumes at its start.
    const partial = first.filter((r) => r.fromBlock === 32n).flatMap((r) => r.events.map((e) => Number(e.args.id)));
    expect(partial.length).to.be.greaterThan(0);
    const again: StreamedRange<"RedemptionRequested">[] = [];
    await read(BigInt(next), again);
    const rest = covered(again, next);
    expect(rest.next).to.equal(100);
    expect([...ids.filter((id) => id < 96), ...rest.ids]).to.deep.equal(Array.from({ length: 300 }, (_, i) => i));
  });
});
