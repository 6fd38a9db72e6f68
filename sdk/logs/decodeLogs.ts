/**
 * Decoding logs into typed events: one event shape for every reader (the redeemer's watcher, the
 * audit, the wallet, the inference-credit readers), typed from the generated ABIs (`as const`).
 *
 * Each ABI's events get one decoder per topic0, built once: the fast decoder (./fastDecode.ts)
 * where it supports the event's types, viem's `decodeEventLog` otherwise.
 */
import { type Abi, type AbiEvent, type ContractEventName, type DecodeEventLogReturnType, type Hex, decodeEventLog, toEventSelector } from "viem";
import { fastDecoderFor } from "./fastDecode.js";

/** Where (and, when the reader fetched it, when) an event happened. */
export interface EventPosition {
  blockNumber: bigint;
  transactionHash: Hex;
  logIndex: number;
  /** Unix seconds of the block: set by readers that fetch block timestamps (the audit). */
  timestamp?: bigint;
}

/** One decoded event of `TAbi`: its name, its arguments (typed from the ABI) and where it is. */
export type DecodedEvent<TAbi extends Abi, N extends ContractEventName<TAbi> = ContractEventName<TAbi>> = {
  eventName: N;
  args: DecodeEventLogReturnType<TAbi, N, Hex[], Hex, true>["args"];
} & EventPosition;

/** A union over the given names, so `switch (e.eventName)` narrows `args`. */
export type DecodedEventOf<TAbi extends Abi, N extends ContractEventName<TAbi>> = N extends ContractEventName<TAbi> ? DecodedEvent<TAbi, N> : never;

/**
 * A log as a node returns it: `eth_getLogs` answers hex quantities, viem's `getLogs` and receipts
 * numbers; both are read.
 */
export interface LogLike {
  address?: Hex;
  topics: readonly Hex[];
  data: Hex;
  blockNumber: Hex | bigint | null;
  transactionHash: Hex | null;
  logIndex: Hex | number | null;
  blockTimestamp?: Hex | bigint | null;
}

/** A log the ABI cannot decode (another contract's, or a malformed one). */
export class UndecodableLogError extends Error {
  override readonly name = "UndecodableLogError";
  constructor(
    readonly log: Pick<LogLike, "transactionHash" | "logIndex" | "topics">,
    options?: { cause?: unknown },
  ) {
    super(`log ${log.transactionHash}#${Number(log.logIndex)} does not decode with the deployment's ABI`, options);
  }
}

/** What decodes one event of an ABI. */
export interface EventDecoder {
  eventName: string;
  item: AbiEvent;
  /** Throws when the log does not fit the event. */
  decode(topics: readonly Hex[], data: Hex): unknown;
}

const byAbi = new WeakMap<Abi, Map<string, EventDecoder>>();

/** topic0 (lower case) → decoder, for every event of the ABI (built once per ABI). */
export function eventDecoders(abi: Abi): ReadonlyMap<string, EventDecoder> {
  let map = byAbi.get(abi);
  if (map) return map;
  map = new Map();
  for (const entry of abi) {
    if (entry.type !== "event") continue;
    const item = entry as AbiEvent;
    const fast = fastDecoderFor(item);
    const decode = fast
      ? (topics: readonly Hex[], data: Hex) => fast.decode(topics, data)
      : (topics: readonly Hex[], data: Hex) => decodeEventLog({ abi: [item], data, topics: topics as [Hex, ...Hex[]], strict: true }).args;
    map.set(toEventSelector(item), { eventName: item.name, item, decode });
  }
  byAbi.set(abi, map);
  return map;
}

/** The decoder of a log's event in `abi`, or undefined when its topic0 is not one of the ABI's events. */
export function decoderOf(abi: Abi, log: Pick<LogLike, "topics">): EventDecoder | undefined {
  const topic0 = log.topics[0];
  return topic0 ? eventDecoders(abi).get(topic0.toLowerCase()) : undefined;
}

/** A log's position, whichever way its quantities are written. */
export function positionOf(log: LogLike): EventPosition {
  const position: EventPosition = {
    blockNumber: typeof log.blockNumber === "string" ? BigInt(log.blockNumber) : log.blockNumber!,
    transactionHash: log.transactionHash!,
    logIndex: typeof log.logIndex === "string" ? Number(log.logIndex) : log.logIndex!,
  };
  if (log.blockTimestamp != null) position.timestamp = BigInt(log.blockTimestamp);
  return position;
}

/** Decodes one log with `decoder`, or throws {@link UndecodableLogError}. */
export function decodeWith(decoder: EventDecoder, log: LogLike): { eventName: string; args: unknown } & EventPosition {
  let args: unknown;
  try {
    args = decoder.decode(log.topics, log.data);
  } catch (err) {
    throw new UndecodableLogError(log, { cause: err });
  }
  return { eventName: decoder.eventName, args, ...positionOf(log) };
}

/**
 * Decodes logs of `abi`'s contract into typed events, in chain order. Logs whose event is not in
 * `names` (or not in the ABI) are skipped; a log of a wanted event that fails to decode throws
 * {@link UndecodableLogError}.
 */
export function decodeLogs<const TAbi extends Abi, const N extends ContractEventName<TAbi>>(abi: TAbi, logs: readonly LogLike[], names?: readonly N[]): DecodedEventOf<TAbi, N>[] {
  const wanted = names ? new Set<string>(names) : undefined;
  const out: DecodedEventOf<TAbi, N>[] = [];
  for (const log of logs) {
    const decoder = decoderOf(abi, log);
    if (!decoder || (wanted && !wanted.has(decoder.eventName))) continue;
    out.push(decodeWith(decoder, log) as DecodedEventOf<TAbi, N>);
  }
  return out.sort(compareChainOrder);
}

/** Orders events as the chain did: by block, then log index. */
export function compareChainOrder(a: { blockNumber: bigint; logIndex: number }, b: { blockNumber: bigint; logIndex: number }): number {
  if (a.blockNumber !== b.blockNumber) return a.blockNumber < b.blockNumber ? -1 : 1;
  return a.logIndex - b.logIndex;
}

/** Splits a chain-ordered list of events into transactions (a transaction's logs are contiguous). */
export function groupByTransaction<T extends { transactionHash: Hex }>(events: readonly T[]): T[][] {
  const out: T[][] = [];
  let current: T[] = [];
  for (const e of events) {
    if (current.length && current[0]!.transactionHash !== e.transactionHash) {
      out.push(current);
      current = [];
    }
    current.push(e);
  }
  if (current.length) out.push(current);
  return out;
}
