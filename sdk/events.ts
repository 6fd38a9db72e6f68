/**
 * Reading ComputeToken's history: fetch and decode its events over bounded block ranges.
 *
 * `eth_getLogs` is asked for one range of at most `maxBlockRange` blocks at a time (nodes cap
 * both the range and the number of results); a range the node refuses as too large is halved
 * and asked again. Events come back typed from the ABI (`as const`) and in chain order.
 */
import {
  type AbiEvent,
  type Address,
  type DecodeEventLogReturnType,
  type Hex,
  type Log,
  type PublicClient,
  decodeEventLog,
  getAbiItem,
  toEventSelector,
} from "viem";
import { computeTokenAbi } from "./generated/abi.js";

type Abi = typeof computeTokenAbi;
type AllEventNames = Extract<Abi[number], { type: "event" }>["name"];

/** The redemption lifecycle, in the order a redemption moves through it. */
export const REDEMPTION_EVENT_NAMES = [
  "RedemptionRequested",
  "RedemptionRunning",
  "RedemptionSettled",
  "RedemptionRejected",
  "RedemptionReclaimed",
] as const satisfies readonly AllEventNames[];

/** Events that say what a redemption was checked against: classes and priority multipliers. */
export const REDEMPTION_CONTEXT_EVENT_NAMES = [
  "ClassDefined",
  "ClassUpdated",
  "ClassRetired",
  "PriorityMultiplierSet",
] as const satisfies readonly AllEventNames[];

export type RedemptionEventName = (typeof REDEMPTION_EVENT_NAMES)[number];
export type ComputeTokenEventName = AllEventNames;

/** A decoded ComputeToken event: its name, its arguments (typed from the ABI) and where it is. */
export interface ComputeTokenEvent<N extends ComputeTokenEventName = ComputeTokenEventName> {
  eventName: N;
  args: DecodeEventLogReturnType<Abi, N>["args"];
  blockNumber: bigint;
  blockHash: Hex;
  transactionHash: Hex;
  logIndex: number;
}

/** A union over the given names, so `switch (e.eventName)` narrows `args`. */
export type ComputeTokenEventOf<N extends ComputeTokenEventName> = N extends ComputeTokenEventName ? ComputeTokenEvent<N> : never;
export type RedemptionEvent = ComputeTokenEventOf<RedemptionEventName>;
export type RedemptionRequestedEvent = ComputeTokenEvent<"RedemptionRequested">;

const eventItem = (name: ComputeTokenEventName): AbiEvent => getAbiItem({ abi: computeTokenAbi, name } as never) as AbiEvent;

const selectorCache = new Map<string, { name: ComputeTokenEventName; item: AbiEvent }>();
function bySelector(selector: Hex): { name: ComputeTokenEventName; item: AbiEvent } | undefined {
  if (selectorCache.size === 0) {
    for (const item of computeTokenAbi) {
      if (item.type !== "event") continue;
      selectorCache.set(toEventSelector(item as AbiEvent), { name: item.name, item: item as AbiEvent });
    }
  }
  return selectorCache.get(selector.toLowerCase());
}

/** topic0 of each named event. */
export function eventSelectors(names: readonly ComputeTokenEventName[]): Hex[] {
  return names.map((n) => toEventSelector(eventItem(n)));
}

/** A log the ABI cannot decode (another contract's, or a malformed one). */
export class UndecodableLogError extends Error {
  override readonly name = "UndecodableLogError";
  constructor(
    readonly log: Pick<Log, "transactionHash" | "logIndex" | "topics">,
    options?: { cause?: unknown },
  ) {
    super(`cannot decode log ${log.logIndex} of transaction ${log.transactionHash}`, options);
  }
}

/**
 * Decodes raw logs (as `eth_getLogs` returns them) into typed events, in chain order.
 * Logs of events not in `names` are skipped; a log of a wanted event that fails to decode throws.
 */
export function decodeComputeTokenLogs<const N extends ComputeTokenEventName>(
  logs: readonly Pick<Log, "data" | "topics" | "blockNumber" | "blockHash" | "transactionHash" | "logIndex">[],
  names: readonly N[],
): ComputeTokenEventOf<N>[] {
  const wanted = new Set<string>(names);
  const out: ComputeTokenEventOf<N>[] = [];
  for (const log of logs) {
    const topic0 = log.topics[0];
    if (!topic0) continue;
    const entry = bySelector(topic0);
    if (!entry || !wanted.has(entry.name)) continue;
    let decoded: { args: unknown };
    try {
      decoded = decodeEventLog({ abi: [entry.item], data: log.data, topics: log.topics as [Hex, ...Hex[]], strict: true });
    } catch (err) {
      throw new UndecodableLogError(log, { cause: err });
    }
    out.push({
      eventName: entry.name,
      args: decoded.args,
      blockNumber: log.blockNumber!,
      blockHash: log.blockHash!,
      transactionHash: log.transactionHash!,
      logIndex: log.logIndex!,
    } as ComputeTokenEventOf<N>);
  }
  return out.sort(compareChainOrder);
}

/** Orders events as the chain did: by block, then log index. */
export function compareChainOrder(a: { blockNumber: bigint; logIndex: number }, b: { blockNumber: bigint; logIndex: number }): number {
  if (a.blockNumber !== b.blockNumber) return a.blockNumber < b.blockNumber ? -1 : 1;
  return a.logIndex - b.logIndex;
}

export interface FetchEventsOptions<N extends ComputeTokenEventName> {
  publicClient: Pick<PublicClient, "request">;
  /** The ComputeToken contract. */
  address: Address;
  names: readonly N[];
  fromBlock: bigint;
  /** Inclusive. */
  toBlock: bigint;
  /** Most blocks in one `eth_getLogs` call (default 5,000). */
  maxBlockRange?: bigint;
  /** Only events whose first indexed argument (the redemption id, for lifecycle events) is one of these. */
  ids?: readonly bigint[];
  /** Stops between ranges. */
  signal?: AbortSignal;
}

export interface EventRange<N extends ComputeTokenEventName> {
  fromBlock: bigint;
  toBlock: bigint;
  events: ComputeTokenEventOf<N>[];
}

/** Matches the messages nodes use when a range or its result set is too large. */
const TOO_LARGE_RE = /(range|too many|too large|limit|exceed|more than|response size|query returned)/i;

/**
 * Fetches events range by range, yielding each range's events (in chain order) as soon as it
 * is read. A range the node refuses as too large is split in two.
 */
export async function* iterateComputeTokenEvents<const N extends ComputeTokenEventName>(
  options: FetchEventsOptions<N>,
): AsyncGenerator<EventRange<N>> {
  const { publicClient, address, names, signal } = options;
  const maxRange = options.maxBlockRange ?? 5_000n;
  if (maxRange < 1n) throw new RangeError("maxBlockRange must be at least 1");
  const topics: (Hex | Hex[] | null)[] = [eventSelectors(names)];
  if (options.ids && options.ids.length > 0) topics.push(options.ids.map((id) => `0x${id.toString(16).padStart(64, "0")}` as Hex));
  let from = options.fromBlock;
  let span = maxRange;
  while (from <= options.toBlock) {
    signal?.throwIfAborted();
    const to = from + span - 1n < options.toBlock ? from + span - 1n : options.toBlock;
    let logs: Log[];
    try {
      logs = (await publicClient.request({
        method: "eth_getLogs",
        params: [{ address, topics, fromBlock: `0x${from.toString(16)}`, toBlock: `0x${to.toString(16)}` }],
      } as never)) as Log[];
    } catch (err) {
      if (to > from && TOO_LARGE_RE.test(errorText(err))) {
        span = (to - from + 1n) / 2n;
        continue;
      }
      throw err;
    }
    yield { fromBlock: from, toBlock: to, events: decodeComputeTokenLogs(logs.map(normalizeLog), names) };
    from = to + 1n;
    if (span < maxRange) span = span * 2n > maxRange ? maxRange : span * 2n;
  }
}

/** Every matching event in [fromBlock, toBlock], in chain order. */
export async function fetchComputeTokenEvents<const N extends ComputeTokenEventName>(
  options: FetchEventsOptions<N>,
): Promise<ComputeTokenEventOf<N>[]> {
  const all: ComputeTokenEventOf<N>[] = [];
  for await (const range of iterateComputeTokenEvents(options)) all.push(...range.events);
  return all;
}

/** Fetches the lifecycle of redemptions (and only those). */
export function fetchRedemptionEvents(
  options: Omit<FetchEventsOptions<RedemptionEventName>, "names">,
): Promise<RedemptionEvent[]> {
  return fetchComputeTokenEvents({ ...options, names: REDEMPTION_EVENT_NAMES });
}

function normalizeLog(raw: Log): Log {
  // eth_getLogs answers hex quantities; viem's getLogs would format them, we do it here.
  const r = raw as unknown as Record<string, unknown>;
  return {
    ...raw,
    blockNumber: typeof r.blockNumber === "string" ? BigInt(r.blockNumber) : (raw.blockNumber as bigint),
    logIndex: typeof r.logIndex === "string" ? Number(r.logIndex) : (raw.logIndex as number),
  } as Log;
}

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
