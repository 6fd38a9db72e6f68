/**
 * The one range fetcher: `eth_getLogs` over `[fromBlock, toBlock]` in bounded ranges, in order, so
 * that a history of any length is read with bounded memory (one range is processed while the next
 * ones are being fetched). Every reader of the chain goes through it: the redeemer's watcher (via
 * ../events.ts), the audit, the wallet and the inference-credit readers.
 *
 * A range the node refuses as too large is shortened: to the range the node's message suggests,
 * as `@ponder/utils`' `getLogsRetryHelper` reads the messages of the common providers, else (geth,
 * Besu, a timeout) to its first half. The rest of the range is fetched next.
 */
import { getLogsRetryHelper } from "@ponder/utils";
import type { Address, Hex, RpcError } from "viem";

/** A log exactly as `eth_getLogs` returns it (hex quantities). */
export interface RawLog {
  address: Hex;
  topics: Hex[];
  data: Hex;
  blockNumber: Hex;
  blockTimestamp?: Hex;
  transactionHash: Hex;
  transactionIndex: Hex;
  logIndex: Hex;
  removed?: boolean;
}

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

/** A topic filter position: one topic, any of several, or any (null). */
export type TopicFilter = Hex | Hex[] | null;

/** The ranges of a history read, and how their size adapts (see RangePlan). */
export interface RangePlanOptions {
  fromBlock: bigint;
  /** Inclusive. */
  toBlock: bigint;
  /** Most blocks in one `eth_getLogs` call (default 2,000). */
  chunkBlocks?: bigint;
  /** Blocks in the first call (default min(16, chunkBlocks)); later ones are sized from the ranges read (at most twice the last). */
  firstChunkBlocks?: bigint;
  /** Logs one range should hold at most, roughly (default 5,000): dense ranges are split. `Infinity`: never. */
  targetLogs?: number;
}

export interface FetchLogsOptions extends RangePlanOptions {
  request: RpcRequest;
  /** The contracts whose logs to read. */
  addresses: Address | Address[];
  /** `eth_getLogs` topic filter (default: every log of the addresses). */
  topics?: TopicFilter[];
  /** Ranges fetched ahead of the one being processed (default 2). */
  prefetch?: number;
  /** Fill in `blockTimestamp` when the node does not return it (default true). */
  timestamps?: boolean;
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
}

const hex = (n: bigint): Hex => `0x${n.toString(16)}`;

/** The text of an error and its causes (viem wraps the node's message in `details`/`cause`). */
function errorText(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e && depth < 5; depth++) {
    const x = e as { message?: unknown; details?: unknown; shortMessage?: unknown; cause?: unknown };
    for (const v of [x.shortMessage, x.details, x.message]) if (typeof v === "string") parts.push(v);
    e = x.cause;
  }
  return parts.join(" | ");
}

/** Messages by which nodes that `getLogsRetryHelper` does not know (geth, Besu, anvil) say "ask for less". */
const ASK_FOR_LESS = /limit|too many|too large|exceed|more than|response size|query returned|timeout|timed out/i;
/** A node or proxy asking to slow down, not to ask for less: shortening the range would not help. */
const RATE_LIMITED = /rate.?limit|too many requests|\b429\b/i;

/**
 * The last block of the longest prefix of `[from, to]` to ask for after the node refused it, or
 * undefined when the error is not about the size of the request.
 */
export function shorterRange(err: unknown, from: bigint, to: bigint): bigint | undefined {
  if (to <= from) return undefined;
  const text = errorText(err);
  if (RATE_LIMITED.test(text)) return undefined;
  const code = (err as { code?: unknown }).code;
  const helped = getLogsRetryHelper({
    error: { code, message: text, details: text } as unknown as RpcError,
    params: [{ fromBlock: hex(from), toBlock: hex(to) }],
  });
  if (helped.shouldRetry && helped.ranges.length > 0) {
    const end = BigInt(helped.ranges[0]!.toBlock);
    if (end >= from && end < to) return end;
  }
  return ASK_FOR_LESS.test(text) ? from + (to - from) / 2n : undefined;
}

/**
 * The one plan of a history read's ranges, for every reader of logs (fetchLogRanges here, the
 * streaming reader of ./streamLogs.ts): consecutive ranges from `fromBlock` to `toBlock`, whose
 * size adapts to the density of the history. It starts at `firstChunkBlocks`; each range read
 * whole sizes the next ones to about `targetLogs` logs at its density (growing at most twofold, up
 * to `chunkBlocks`), so that one range's logs stay bounded; after the node refuses a range as too
 * large, no later range is longer than the part it accepted.
 */
export class RangePlan {
  private readonly target: number;
  private chunk: bigint;
  private nextFrom: bigint;
  /** The longest range to ask for: `chunkBlocks`, then no longer than any range the node refused was cut to. */
  private ceiling: bigint;

  constructor(private readonly opts: RangePlanOptions) {
    this.ceiling = opts.chunkBlocks ?? 2000n;
    if (this.ceiling < 1n) throw new RangeError("chunkBlocks must be at least 1");
    this.target = opts.targetLogs ?? 5_000;
    // Start small and grow from what the ranges hold: a dense history never asks for a huge response.
    const first = opts.firstChunkBlocks ?? 16n;
    if (first < 1n) throw new RangeError("firstChunkBlocks must be at least 1");
    this.chunk = first < this.ceiling ? first : this.ceiling;
    this.nextFrom = opts.fromBlock;
  }

  /** Whether ranges remain to be asked for. */
  get pending(): boolean {
    return this.nextFrom <= this.opts.toBlock;
  }

  /** The next range to ask for (while `pending`). */
  next(): [bigint, bigint] {
    const from = this.nextFrom;
    const to = from + this.chunk - 1n < this.opts.toBlock ? from + this.chunk - 1n : this.opts.toBlock;
    this.nextFrom = to + 1n;
    return [from, to];
  }

  /**
   * The node refused `[from, to]` (`err`): the last block of the prefix to ask for instead — no
   * range asked for later in this read is longer — or undefined when the error is not about the
   * size of the request. The rest of the range is the caller's to ask for next.
   */
  refused(err: unknown, from: bigint, to: bigint): bigint | undefined {
    const shorter = shorterRange(err, from, to);
    if (shorter !== undefined) {
      const accepted = shorter - from + 1n;
      if (this.ceiling > accepted) this.ceiling = accepted;
      if (this.chunk > accepted) this.chunk = accepted;
    }
    return shorter;
  }

  /**
   * A range was read whole (`leftover`: the rest of a range the node cut), `blocks` long, holding `logs` logs: sizes the ranges not asked for yet
   * from it, the latest evidence of the history's density — the blocks that hold about `targetLogs`
   * logs at its density, and at most twice its own size, up to `chunkBlocks`. (Not twice the
   * current size: with ranges fetched ahead, that may already have been sized from a denser range,
   * and doubling it on a small range's word compounds: ranges of 6 × target.)
   */
  read(blocks: bigint, logs: number, leftover = false): void {
    // The leftover of a cut range may be tiny: it may shrink the ranges, never set their growth.
    const grown = leftover ? this.chunk : blocks * 2n;
    const fit = logs > 0 && Number.isFinite(this.target) ? (blocks * BigInt(Math.ceil(this.target))) / BigInt(logs) : grown;
    const next = fit < grown ? fit : grown;
    this.chunk = next > this.ceiling ? this.ceiling : next > 0n ? next : 1n;
  }
}

/**
 * Fetches `[from, to]`, or — when the node refuses it as too large — the longest prefix it will
 * answer, so that what is held at once stays what one request may return.
 */
async function fetchPrefix(opts: FetchLogsOptions, plan: RangePlan, from: bigint, to: bigint): Promise<{ to: bigint; logs: RawLog[] }> {
  for (;;) {
    try {
      const filter: Record<string, unknown> = { address: opts.addresses, fromBlock: hex(from), toBlock: hex(to) };
      if (opts.topics) filter.topics = opts.topics;
      const logs = (await opts.request({ method: "eth_getLogs", params: [filter] })) as RawLog[];
      return { to, logs };
    } catch (e) {
      const shorter = plan.refused(e, from, to);
      if (shorter === undefined) throw e;
      opts.signal?.throwIfAborted();
      to = shorter;
    }
  }
}

async function fillTimestamps(request: RpcRequest, logs: RawLog[]): Promise<void> {
  const missing = [...new Set(logs.filter((l) => !l.blockTimestamp).map((l) => l.blockNumber))];
  if (!missing.length) return;
  const stamps = new Map<Hex, Hex>();
  const BATCH = 64;
  for (let i = 0; i < missing.length; i += BATCH) {
    const blocks = await Promise.all(missing.slice(i, i + BATCH).map((n) => request({ method: "eth_getBlockByNumber", params: [n, false] }) as Promise<{ timestamp: Hex } | null>));
    blocks.forEach((b, j) => {
      if (b) stamps.set(missing[i + j]!, b.timestamp);
    });
  }
  for (const l of logs) if (!l.blockTimestamp) l.blockTimestamp = stamps.get(l.blockNumber);
}

/**
 * Yields the logs of `[fromBlock, toBlock]` range by range, in block order, in the ranges of a
 * RangePlan (so one range's logs stay bounded), `prefetch` of them fetched ahead.
 */
export async function* fetchLogRanges(opts: FetchLogsOptions): AsyncGenerator<LogRange> {
  const plan = new RangePlan(opts);
  const ahead = Math.max(0, opts.prefetch ?? 2);
  /** `planned`: a range as the plan made it, not the leftover of a cut one. */
  type Pending = LogRange & { rest?: [bigint, bigint]; planned: boolean };
  const start = ([from, to]: [bigint, bigint], planned = true): Promise<Pending> => {
    const p = (async () => {
      const got = await fetchPrefix(opts, plan, from, to);
      if (opts.timestamps !== false) await fillTimestamps(opts.request, got.logs);
      return { fromBlock: from, toBlock: got.to, logs: got.logs, planned, rest: got.to < to ? ([got.to + 1n, to] as [bigint, bigint]) : undefined };
    })();
    // Ranges fetched ahead may fail before they are awaited: keep that from being "unhandled".
    p.catch(() => undefined);
    return p;
  };
  const inflight: Promise<Pending>[] = [];
  let logCount = 0;
  opts.signal?.throwIfAborted();
  while (plan.pending && inflight.length <= ahead) inflight.push(start(plan.next()));
  while (inflight.length) {
    opts.signal?.throwIfAborted();
    const { rest, planned, ...range } = await inflight.shift()!;
    // The node answered only part of the range: the rest comes next, before what was fetched ahead.
    if (rest) inflight.unshift(start(rest, false));
    else plan.read(range.toBlock - range.fromBlock + 1n, range.logs.length, !planned);
    if (plan.pending) inflight.push(start(plan.next()));
    logCount += range.logs.length;
    opts.onProgress?.({ fromBlock: opts.fromBlock, toBlock: opts.toBlock, doneBlock: range.toBlock, logs: logCount });
    yield range;
  }
}
