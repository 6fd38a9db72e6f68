/**
 * `eth_getLogs` read as a stream: the answer's logs are parsed and decoded one at a time as its
 * bytes arrive, and handed over in small groups, so that reading a dense range (a block of
 * thousands of burns, each carrying its spec) never holds the whole answer — neither its text
 * (several MiB, which V8 puts straight into the old generation) nor all its logs parsed at once
 * (which outlive the young generation and are promoted). What is held at once is one network
 * chunk and one group of events, whatever the size of the answer: the garbage stays young and is
 * collected cheaply, instead of growing the heap until a full collection.
 *
 * Events are decoded with the SDK's fast decoder (the same values as viem's decodeEventLog, at a
 * fraction of its allocations). An error answer throws a `LogsRequestError` with the node's
 * message (so that "range too large" can be told apart and the range split).
 *
 * `streamEventRanges` reads a whole history so, in the ranges of the SDK's one RangePlan
 * (./fetchLogRanges.ts): one request at a time, each streamed.
 */
import type { Address, Hex } from "viem";
import { computeTokenAbi } from "../generated/abi.js";
import { type ComputeTokenEventName, type ComputeTokenEventOf, type EventRange, eventSelectors } from "../events.js";
import { decoderOf, decodeWith } from "./decodeLogs.js";
import { RangePlan, type RangePlanOptions } from "./fetchLogRanges.js";

/** The node refused the request (its JSON-RPC error), or the HTTP request failed. */
export class LogsRequestError extends Error {
  constructor(
    message: string,
    readonly details?: string,
  ) {
    super(message);
    this.name = "LogsRequestError";
  }
}

export interface StreamLogsOptions<N extends ComputeTokenEventName> {
  rpcUrl: string;
  address: Address;
  names: readonly N[];
  fromBlock: bigint;
  toBlock: bigint;
  /** Events per group handed over (default 256). */
  groupSize?: number;
  signal?: AbortSignal;
  /** Milliseconds before the request is abandoned (default 30 s). */
  timeoutMs?: number;
}

interface RawLog {
  topics: Hex[];
  data: Hex;
  blockNumber: Hex;
  blockHash: Hex;
  transactionHash: Hex;
  logIndex: Hex;
  removed?: boolean;
}

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;

/**
 * Splits a JSON-RPC answer whose `result` is an array of objects into those objects' texts, as the
 * bytes come. Anything else (an error answer) is collected whole and returned by `rest()`.
 */
class ResultSplitter {
  private depth = 0;
  /** Whether the container at depth 2 (inside the answer's object) is an array: the result's. */
  private inArray = false;
  private inString = false;
  private escaped = false;
  /** Bytes of the object being read (from its `{`), from earlier chunks. */
  private pending: Uint8Array[] = [];
  private reading = false;
  /** Everything outside the result's objects (small: the envelope, or an error answer whole). */
  private envelope: number[] = [];
  private readonly decoder = new TextDecoder();

  /** Appends to `out` the text of each object of the result array that ends in this chunk. */
  push(chunk: Uint8Array, out: string[]): void {
    let start = this.reading ? 0 : -1;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === BACKSLASH) this.escaped = true;
        else if (c === QUOTE) this.inString = false;
      } else if (c === QUOTE) this.inString = true;
      else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
        this.depth++;
        if (this.depth === 2) this.inArray = c === OPEN_BRACKET;
        else if (this.depth === 3 && this.inArray && c === OPEN_BRACE) {
          start = i;
          this.reading = true;
        }
      } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        this.depth--;
        if (this.depth === 2 && this.reading) {
          out.push(this.textOf(chunk.subarray(start, i + 1)));
          start = -1;
          this.reading = false;
          continue;
        }
      } else if (c === COMMA && this.depth === 2 && this.inArray) continue;
      if (!this.reading) this.envelope.push(c);
    }
    if (this.reading) this.pending.push(chunk.slice(start)); // a copy: the chunk's memory may be reused
  }

  private textOf(tail: Uint8Array): string {
    if (this.pending.length === 0) return this.decoder.decode(tail);
    const whole = Buffer.concat([...this.pending, tail]);
    this.pending = [];
    return this.decoder.decode(whole);
  }

  /** The answer without its result's objects (`{"jsonrpc":"2.0","id":1,"result":[]}`), or an error answer whole. */
  rest(): string {
    return this.decoder.decode(Uint8Array.from(this.envelope));
  }
}

/**
 * Yields the decoded events of `names` in [fromBlock, toBlock], in chain order, in groups of at
 * most `groupSize`, as the answer streams in. One `eth_getLogs` request: the caller bounds the range.
 */
export async function* streamComputeTokenEvents<const N extends ComputeTokenEventName>(options: StreamLogsOptions<N>): AsyncGenerator<ComputeTokenEventOf<N>[]> {
  const { rpcUrl, address, names, fromBlock, toBlock } = options;
  const groupSize = options.groupSize ?? 256;
  const wanted = new Set<string>(names);
  const body = JSON.stringify({
    jsonrpc: "2.0",
    id: 1,
    method: "eth_getLogs",
    params: [{ address, topics: [eventSelectors(names)], fromBlock: `0x${fromBlock.toString(16)}`, toBlock: `0x${toBlock.toString(16)}` }],
  });
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 30_000);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  let res: Response;
  try {
    res = await fetch(rpcUrl, { method: "POST", headers: { "content-type": "application/json" }, body, signal });
  } catch (err) {
    throw new LogsRequestError(`eth_getLogs request failed: ${(err as Error).message}`);
  }
  if (!res.ok || !res.body) {
    const text = await res.text().catch(() => "");
    throw new LogsRequestError(`eth_getLogs answered HTTP ${res.status}`, text.slice(0, 500));
  }
  const splitter = new ResultSplitter();
  const texts: string[] = [];
  let group: ComputeTokenEventOf<N>[] = [];
  let last: { block: bigint; index: number } | undefined;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    splitter.push(chunk, texts);
    for (const text of texts) {
      const log = JSON.parse(text) as RawLog;
      const event = decode(log, wanted) as ComputeTokenEventOf<N> | undefined;
      if (!event) continue;
      if (last && (event.blockNumber < last.block || (event.blockNumber === last.block && event.logIndex <= last.index))) {
        throw new LogsRequestError("eth_getLogs answered logs out of chain order");
      }
      last = { block: event.blockNumber, index: event.logIndex };
      group.push(event);
      if (group.length >= groupSize) {
        yield group;
        group = [];
      }
    }
    texts.length = 0;
  }
  const envelope = JSON.parse(splitter.rest()) as { result?: unknown[]; error?: { code?: number; message?: string; data?: unknown } };
  if (envelope.error || !Array.isArray(envelope.result)) {
    const message = envelope.error?.message ?? "eth_getLogs answered without a result";
    throw new LogsRequestError(message, envelope.error?.data === undefined ? undefined : JSON.stringify(envelope.error.data));
  }
  if (group.length) yield group;
}

function decode(log: RawLog, wanted: ReadonlySet<string>): ComputeTokenEventOf<ComputeTokenEventName> | undefined {
  if (log.removed) return undefined;
  const decoder = decoderOf(computeTokenAbi, log);
  if (!decoder || !wanted.has(decoder.eventName)) return undefined;
  return decodeWith(decoder, log) as ComputeTokenEventOf<ComputeTokenEventName>;
}

/** A group of a range's events; `done` on the range's last group (empty when streamed): every event of [fromBlock, toBlock] was handed over. */
export interface StreamedRange<N extends ComputeTokenEventName> extends EventRange<N> {
  done: boolean;
}

/**
 * Yields the decoded events of `names` in [fromBlock, toBlock], in chain order, range by range in
 * the ranges of a RangePlan, each range's events in groups as its answer streams in, then the
 * range with `done`. A range the node refuses as too large before any of it was handed over is
 * shortened (the rest of it comes next); a failure after that throws: the caller reads that range
 * again from its start.
 */
export async function* streamEventRanges<const N extends ComputeTokenEventName>(options: StreamLogsOptions<N> & RangePlanOptions): AsyncGenerator<StreamedRange<N>> {
  const plan = new RangePlan(options);
  let rest: [bigint, bigint] | undefined;
  while (rest || plan.pending) {
    const leftover = rest !== undefined;
    const [fromBlock, end] = rest ?? plan.next();
    let toBlock = end;
    let count = 0;
    for (;;) {
      try {
        for await (const events of streamComputeTokenEvents({ ...options, fromBlock, toBlock })) {
          count += events.length;
          yield { fromBlock, toBlock, events, done: false };
        }
        break;
      } catch (err) {
        const shorter = err instanceof LogsRequestError && count === 0 ? plan.refused(err, fromBlock, toBlock) : undefined;
        if (shorter === undefined) throw err;
        options.signal?.throwIfAborted();
        toBlock = shorter;
      }
    }
    yield { fromBlock, toBlock, events: [], done: true };
    rest = toBlock < end ? [toBlock + 1n, end] : undefined;
    if (!rest) plan.read(toBlock - fromBlock + 1n, count, leftover);
  }
}
