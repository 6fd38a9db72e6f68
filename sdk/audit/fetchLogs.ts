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

async function getLogsSplitting(opts: FetchLogsOptions, from: bigint, to: bigint): Promise<RawLog[]> {
  try {
    return (await opts.request({
      method: "eth_getLogs",
      params: [{ address: opts.addresses, fromBlock: hex(from), toBlock: hex(to) }],
    })) as RawLog[];
  } catch (e) {
    const message = (e as Error).message ?? "";
    if (to > from && TOO_LARGE.test(message + String((e as { details?: string }).details ?? ""))) {
      const mid = from + (to - from) / 2n;
      const left = await getLogsSplitting(opts, from, mid);
      const right = await getLogsSplitting(opts, mid + 1n, to);
      return left.concat(right);
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

/** Yields the logs of `[fromBlock, toBlock]` range by range, in block order. */
export async function* fetchLogRanges(opts: FetchLogsOptions): AsyncGenerator<LogRange> {
  const chunk = opts.chunkBlocks ?? 2000n;
  const ahead = Math.max(0, opts.prefetch ?? 2);
  const ranges: [bigint, bigint][] = [];
  for (let from = opts.fromBlock; from <= opts.toBlock; from += chunk) {
    const to = from + chunk - 1n < opts.toBlock ? from + chunk - 1n : opts.toBlock;
    ranges.push([from, to]);
  }
  const start = async ([from, to]: [bigint, bigint]): Promise<LogRange> => {
    const logs = await getLogsSplitting(opts, from, to);
    if (opts.timestamps !== false) await fillTimestamps(opts.request, logs);
    return { fromBlock: from, toBlock: to, logs };
  };
  const inflight: Promise<LogRange>[] = [];
  // Swallow rejections of ranges fetched ahead until they are awaited in order.
  const track = (p: Promise<LogRange>) => {
    p.catch(() => undefined);
    inflight.push(p);
  };
  let next = 0;
  let logCount = 0;
  while (next < ranges.length && inflight.length <= ahead) track(start(ranges[next++]!));
  while (inflight.length) {
    if (opts.signal?.aborted) throw new Error("log fetch aborted");
    const range = await inflight.shift()!;
    if (next < ranges.length) track(start(ranges[next++]!));
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
