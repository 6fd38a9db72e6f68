/**
 * Reading ComputeToken's history: its events, typed from the ABI, fetched over bounded block
 * ranges by the one range fetcher (./logs/fetchLogRanges.ts) and decoded by the one decoder
 * (./logs/decodeLogs.ts), in chain order.
 */
import { type AbiEvent, type Address, type Hex, type PublicClient, getAbiItem, toEventSelector } from "viem";
import { computeTokenAbi } from "./generated/abi.js";
import { type DecodedEvent, type DecodedEventOf, decodeLogs, type LogLike } from "./logs/decodeLogs.js";
import { fetchLogRanges, type RpcRequest, type TopicFilter } from "./logs/fetchLogRanges.js";

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
export const REDEMPTION_CONTEXT_EVENT_NAMES = ["ClassDefined", "ClassUpdated", "ClassRetired", "PriorityMultiplierSet"] as const satisfies readonly AllEventNames[];

export type RedemptionEventName = (typeof REDEMPTION_EVENT_NAMES)[number];
export type ComputeTokenEventName = AllEventNames;

/** A decoded ComputeToken event: its name, its arguments (typed from the ABI) and where it is. */
export type ComputeTokenEvent<N extends ComputeTokenEventName = ComputeTokenEventName> = DecodedEvent<Abi, N>;

/** A union over the given names, so `switch (e.eventName)` narrows `args`. */
export type ComputeTokenEventOf<N extends ComputeTokenEventName> = DecodedEventOf<Abi, N>;
export type RedemptionEvent = ComputeTokenEventOf<RedemptionEventName>;
export type RedemptionRequestedEvent = ComputeTokenEvent<"RedemptionRequested">;

const eventItem = (name: ComputeTokenEventName): AbiEvent => getAbiItem({ abi: computeTokenAbi, name } as never) as AbiEvent;

/** topic0 of each named event. */
export function eventSelectors(names: readonly ComputeTokenEventName[]): Hex[] {
  return names.map((n) => toEventSelector(eventItem(n)));
}

/**
 * Decodes raw logs (as `eth_getLogs` or a receipt returns them) into typed events, in chain order.
 * Logs of events not in `names` are skipped; a log of a wanted event that fails to decode throws.
 */
export function decodeComputeTokenLogs<const N extends ComputeTokenEventName>(logs: readonly LogLike[], names: readonly N[]): ComputeTokenEventOf<N>[] {
  return decodeLogs(computeTokenAbi, logs, names);
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
  /** Blocks in the first call (default maxBlockRange); later ones are sized from the ranges read (see RangePlan). */
  firstBlockRange?: bigint;
  /** Logs one range should hold at most, roughly (default: no bound): denser ranges are split. */
  targetLogs?: number;
  /** Only events whose first indexed argument (the redemption id, for lifecycle events) is one of these. */
  ids?: readonly bigint[];
  /** Filters on the indexed arguments, from the first (overrides `ids`): `[null, pad(holder)]`. */
  indexed?: readonly TopicFilter[];
  /** Stops between ranges. */
  signal?: AbortSignal;
}

export interface EventRange<N extends ComputeTokenEventName> {
  fromBlock: bigint;
  toBlock: bigint;
  events: ComputeTokenEventOf<N>[];
}

/**
 * Fetches events range by range, yielding each range's events (in chain order) as soon as it
 * is read. Ranges start at `firstBlockRange` blocks; one the node refuses as too large is shortened
 * (and later ones grow back).
 */
export async function* iterateComputeTokenEvents<const N extends ComputeTokenEventName>(options: FetchEventsOptions<N>): AsyncGenerator<EventRange<N>> {
  const { publicClient, address, names, signal } = options;
  const maxRange = options.maxBlockRange ?? 5_000n;
  if (maxRange < 1n) throw new RangeError("maxBlockRange must be at least 1");
  const topics: TopicFilter[] = [eventSelectors(names)];
  if (options.indexed) topics.push(...options.indexed);
  else if (options.ids && options.ids.length > 0) topics.push(options.ids.map((id) => `0x${id.toString(16).padStart(64, "0")}` as Hex));
  const ranges = fetchLogRanges({
    request: publicClient.request.bind(publicClient) as RpcRequest,
    addresses: address,
    topics,
    fromBlock: options.fromBlock,
    toBlock: options.toBlock,
    chunkBlocks: maxRange,
    firstChunkBlocks: options.firstBlockRange ?? maxRange,
    targetLogs: options.targetLogs ?? Infinity,
    prefetch: 0,
    timestamps: false,
    signal,
  });
  for await (const range of ranges) yield { fromBlock: range.fromBlock, toBlock: range.toBlock, events: decodeComputeTokenLogs(range.logs, names) };
}

/** Every matching event in [fromBlock, toBlock], in chain order. */
export async function fetchComputeTokenEvents<const N extends ComputeTokenEventName>(options: FetchEventsOptions<N>): Promise<ComputeTokenEventOf<N>[]> {
  const all: ComputeTokenEventOf<N>[] = [];
  for await (const range of iterateComputeTokenEvents(options)) all.push(...range.events);
  return all;
}
