/**
 * Decoding the logs of a deployment (ComputeToken + its AccessManager) into typed events.
 * Types come from the generated ABI; one decoder per topic0, built once.
 */
import {
  decodeEventLog,
  toEventSelector,
  type AbiEvent,
  type Address,
  type ContractEventName,
  type DecodeEventLogReturnType,
  type Hex,
} from "viem";
import { accessManagerAbi, computeTokenAbi } from "../generated/abi.js";
import { fastDecoderFor, type FastEventDecoder } from "./fastDecode.js";

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

export type TokenEventName = ContractEventName<typeof computeTokenAbi>;
export type ManagerEventName = ContractEventName<typeof accessManagerAbi>;

export type TokenEventArgs<N extends TokenEventName> = DecodeEventLogReturnType<
  typeof computeTokenAbi,
  N,
  Hex[],
  Hex,
  true
>["args"];
export type ManagerEventArgs<N extends ManagerEventName> = DecodeEventLogReturnType<
  typeof accessManagerAbi,
  N,
  Hex[],
  Hex,
  true
>["args"];

/** Where and when an event happened. */
export interface EventPosition {
  blockNumber: bigint;
  /** Unix seconds of the block. */
  timestamp: bigint;
  txHash: Hex;
  logIndex: number;
}

export type TokenEvent = {
  [N in TokenEventName]: { source: "token"; eventName: N; args: TokenEventArgs<N> } & EventPosition;
}[TokenEventName];
export type ManagerEvent = {
  [N in ManagerEventName]: { source: "manager"; eventName: N; args: ManagerEventArgs<N> } & EventPosition;
}[ManagerEventName];
export type AuditEvent = TokenEvent | ManagerEvent;

type Decoder = { source: "token" | "manager"; abi: readonly AbiEvent[]; fast: FastEventDecoder };

const decoders = new Map<Hex, Decoder>();
for (const [source, abi] of [
  ["token", computeTokenAbi],
  ["manager", accessManagerAbi],
] as const) {
  for (const item of abi) {
    if (item.type !== "event") continue;
    decoders.set(toEventSelector(item as AbiEvent), { source, abi: [item as AbiEvent], fast: fastDecoderFor(item as AbiEvent) });
  }
}

export class UndecodableLogError extends Error {
  constructor(readonly log: RawLog) {
    super(`log ${log.transactionHash}#${Number(log.logIndex)} does not decode with the deployment's ABI`);
    this.name = "UndecodableLogError";
  }
}

/**
 * Decodes one log of the deployment (with the fast decoder; `viem: true` uses viem's, which the
 * tests compare it with). `tokenAddress` tells the two contracts apart.
 */
export function decodeAuditLog(log: RawLog, tokenAddress: Address, managerAddress: Address, opts: { viem?: boolean } = {}): AuditEvent {
  const topic0 = log.topics[0];
  const decoder = topic0 ? decoders.get(topic0) : undefined;
  const addr = log.address.toLowerCase();
  const expected = addr === tokenAddress.toLowerCase() ? "token" : addr === managerAddress.toLowerCase() ? "manager" : undefined;
  if (!decoder || decoder.source !== expected) throw new UndecodableLogError(log);
  let decoded: { eventName: string; args: unknown };
  try {
    decoded = opts.viem
      ? decodeEventLog({ abi: decoder.abi, topics: log.topics as [Hex, ...Hex[]], data: log.data, strict: true })
      : { eventName: decoder.fast.eventName, args: decoder.fast.decode(log.topics, log.data) };
  } catch {
    throw new UndecodableLogError(log);
  }
  return {
    source: decoder.source,
    eventName: decoded.eventName,
    args: decoded.args,
    blockNumber: BigInt(log.blockNumber),
    timestamp: log.blockTimestamp ? BigInt(log.blockTimestamp) : 0n,
    txHash: log.transactionHash,
    logIndex: Number(log.logIndex),
  } as AuditEvent;
}

/** Splits a block-ordered list of events into transactions (a transaction's logs are contiguous). */
export function groupByTransaction<T extends { txHash: Hex }>(events: readonly T[]): T[][] {
  const out: T[][] = [];
  let current: T[] = [];
  for (const e of events) {
    if (current.length && current[0]!.txHash !== e.txHash) {
      out.push(current);
      current = [];
    }
    current.push(e);
  }
  if (current.length) out.push(current);
  return out;
}
