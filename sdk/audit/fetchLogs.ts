/**
 * Fetches a deployment's logs in bounded block ranges, in order, so that a history of any length
 * is replayed with bounded memory: one range is processed while the next is being fetched.
 * A range the node refuses as too large is split in two and retried.
 */
import type { Address, Hex } from "viem";
import type { RawLog } from "./events.js";

/** A JSON-RPC request function (viem's `client.request` fits). */
export type RpcRequest = (args: { method: string; params: unknown[] }) => Promise<unknown>;

export interface LogRange {
  fromBlock: bigint;
  toBlock: bigint;
  logs: RawLog[];
}

export interface Progress {
  fromBlock: bigint;
  toBlock: bigint;
  /** Last block fetched so far. */
  doneBlock: bigint;
  logs: number;
}

export interface FetchLogsOptions {
  request: RpcRequest;
  addresses: Address[];
  fromBlock: bigint;
  toBlock: bigint;
  /** Blocks per `eth_getLogs` call to start with (default 2,000). */
  chunkBlocks?: bigint;
  /** Logs one range should hold at most, roughly (default 5,000): dense ranges are split. */
  targetLogs?: number;
  /** Ranges fetched ahead of the one being processed (default 2). */
  prefetch?: number;
  /** Fill in `blockTimestamp` when the node does not return it (default true). */
  timestamps?: boolean;
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
}

const hex = (n: bigint): Hex => `0x${n.toString(16)}`;

/** Errors by which nodes say "ask for less" (geth, Besu, Alchemy-style, anvil). */
const TOO_LARGE = /limit|too many|exceed|range|response size|query returned more than|timeout/i;

/**
 * Fetches `[from, to]`, or — when the node refuses it as too large — the longest prefix it will
 * answer (halving), so that what is held at once stays what one request may return.
 */
async function fetchPrefix(opts: FetchLogsOptions, from: bigint, to: bigint): Promise<{ to: bigint; logs: RawLog[] }> {
  try {
    const logs = (await opts.request({
      method: "eth_getLogs",
      params: [{ address: opts.addresses, fromBlock: hex(from), toBlock: hex(to) }],
    })) as RawLog[];
    return { to, logs };
  } catch (e) {
    const message = (e as Error).message ?? "";
    if (to > from && TOO_LARGE.test(message + String((e as { details?: string }).details ?? ""))) {
      return fetchPrefix(opts, from, from + (to - from) / 2n);
    }
    throw e;
  }
}

async function fillTimestamps(request: RpcRequest, logs: RawLog[]): Promise<void> {
  const missing = [...new Set(logs.filter((l) => !l.blockTimestamp).map((l) => l.blockNumber))];
  if (!missing.length) return;
  const stamps = new Map<Hex, Hex>();
  const BATCH = 64;
  for (let i = 0; i < missing.length; i += BATCH) {
    const blocks = await Promise.all(
      missing.slice(i, i + BATCH).map((n) =>
        request({ method: "eth_getBlockByNumber", params: [n, false] }) as Promise<{ timestamp: Hex } | null>,
      ),
    );
    blocks.forEach((b, j) => {
      if (b) stamps.set(missing[i + j]!, b.timestamp);
    });
  }
  for (const l of logs) if (!l.blockTimestamp) l.blockTimestamp = stamps.get(l.blockNumber);
}

/**
 * Yields the logs of `[fromBlock, toBlock]` range by range, in block order. The range size adapts
 * to the density of the history: it shrinks when a range returns more than `targetLogs` logs and
 * grows back (up to `chunkBlocks`) when ranges are sparse, so one range's logs stay bounded.
 */
export async function* fetchLogRanges(opts: FetchLogsOptions): AsyncGenerator<LogRange> {
  const maxChunk = opts.chunkBlocks ?? 2000n;
  const target = BigInt(opts.targetLogs ?? 5_000);
  const ahead = Math.max(0, opts.prefetch ?? 2);
  // Start small and double while ranges are sparse: a dense history never asks for a huge response.
  let chunk = maxChunk < 16n ? maxChunk : 16n;
  let nextFrom = opts.fromBlock;
  type Pending = LogRange & { rest?: [bigint, bigint] };
  const start = (from: bigint, to: bigint): Promise<Pending> => {
    const p = (async () => {
      const got = await fetchPrefix(opts, from, to);
      if (opts.timestamps !== false) await fillTimestamps(opts.request, got.logs);
      return { fromBlock: from, toBlock: got.to, logs: got.logs, rest: got.to < to ? ([got.to + 1n, to] as [bigint, bigint]) : undefined };
    })();
    // Ranges fetched ahead may fail before they are awaited: keep that from being "unhandled".
    p.catch(() => undefined);
    return p;
  };
  const schedule = () => {
    const to = nextFrom + chunk - 1n < opts.toBlock ? nextFrom + chunk - 1n : opts.toBlock;
    const p = start(nextFrom, to);
    nextFrom = to + 1n;
    return p;
  };
  const inflight: Promise<Pending>[] = [];
  let logCount = 0;
  while (nextFrom <= opts.toBlock && inflight.length <= ahead) inflight.push(schedule());
  while (inflight.length) {
    if (opts.signal?.aborted) throw new Error("log fetch aborted");
    const { rest, ...range } = await inflight.shift()!;
    // The node answered only part of the range: the rest comes next, before what was fetched ahead.
    if (rest) inflight.unshift(start(rest[0], rest[1]));
    // Adapt the size of the ranges not yet requested to what this one held.
    const blocks = range.toBlock - range.fromBlock + 1n;
    const n = BigInt(range.logs.length);
    if (n > target) chunk = blocks * target / n > 0n ? (blocks * target) / n : 1n;
    else if (n < target / 4n && chunk < maxChunk) chunk = chunk * 2n > maxChunk ? maxChunk : chunk * 2n;
    if (nextFrom <= opts.toBlock) inflight.push(schedule());
    logCount += range.logs.length;
    opts.onProgress?.({ fromBlock: opts.fromBlock, toBlock: opts.toBlock, doneBlock: range.toBlock, logs: logCount });
    yield range;
  }
}

/**
 * A progress bar on stderr: redrawn in place on a terminal, a line every 10% otherwise.
 */
export function stderrProgress(label: string, stream: NodeJS.WriteStream = process.stderr): (p: Progress) => void {
  let lastTenth = -1;
  let lastDraw = 0;
  return (p) => {
    const total = Number(p.toBlock - p.fromBlock + 1n);
    const done = Number(p.doneBlock - p.fromBlock + 1n);
    const frac = total > 0 ? Math.min(1, done / total) : 1;
    const pct = Math.floor(frac * 100);
    const text = `${label} [${"#".repeat(Math.round(frac * 30)).padEnd(30, ".")}] ${String(pct).padStart(3)}% block ${p.doneBlock}/${p.toBlock} · ${p.logs.toLocaleString("en-US")} events`;
    if (stream.isTTY) {
      const now = Date.now();
      if (frac < 1 && now - lastDraw < 100) return;
      lastDraw = now;
      stream.write(`\r${text}${frac >= 1 ? "\n" : ""}`);
    } else {
      const tenth = Math.floor(frac * 10);
      if (tenth !== lastTenth) {
        lastTenth = tenth;
        stream.write(`${text}\n`);
      }
    }
  };
}
