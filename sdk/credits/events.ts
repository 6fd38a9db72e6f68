/**
 * Reading InferenceCredit's history: its events, typed from the ABI, in chain order, fetched over
 * bounded block ranges and decoded by the one reader (../logs/), as ../events.ts does for ComputeToken.
 */
import type { Address, Log, PublicClient } from "viem";
import { inferenceCreditAbi } from "../generated/abi.js";
import { type DecodedEvent, type DecodedEventOf, decodeLogs, type LogLike } from "../logs/decodeLogs.js";
import { fetchLogRanges, type RpcRequest, type TopicFilter } from "../logs/fetchLogRanges.js";

type Abi = typeof inferenceCreditAbi;
export type CreditEventName = Extract<Abi[number], { type: "event" }>["name"];

export type CreditEvent<N extends CreditEventName = CreditEventName> = DecodedEvent<Abi, N>;
/** A union over names, so `switch (e.eventName)` narrows `args`. */
export type CreditEventOf<N extends CreditEventName> = DecodedEventOf<Abi, N>;
export type AnyCreditEvent = CreditEventOf<CreditEventName>;

/** Decodes raw logs of InferenceCredit into typed events (unknown topics skipped), in chain order. */
export function decodeCreditLogs(logs: readonly LogLike[]): AnyCreditEvent[] {
  return decodeLogs(inferenceCreditAbi, logs);
}

export interface FetchCreditEventsOptions {
  publicClient: Pick<PublicClient, "request">;
  address: Address;
  /** `eth_getLogs` topic filter (default: every event), e.g. from viem's `encodeEventTopics`. */
  topics?: TopicFilter[];
  fromBlock: bigint;
  /** Inclusive. */
  toBlock: bigint;
  /** Most blocks per `eth_getLogs` (default 5,000). */
  maxBlockRange?: bigint;
}

/** Every InferenceCredit event in [fromBlock, toBlock], in chain order (read by the one range fetcher). */
export async function fetchCreditEvents(o: FetchCreditEventsOptions): Promise<AnyCreditEvent[]> {
  const out: AnyCreditEvent[] = [];
  for await (const range of fetchLogRanges({
    request: o.publicClient.request.bind(o.publicClient) as RpcRequest,
    addresses: o.address,
    ...(o.topics && { topics: o.topics }),
    fromBlock: o.fromBlock,
    toBlock: o.toBlock,
    chunkBlocks: o.maxBlockRange ?? 5_000n,
    prefetch: 0,
    timestamps: false,
  }))
    out.push(...decodeCreditLogs(range.logs));
  return out;
}

/** The events of one receipt that InferenceCredit emitted. */
export function creditEventsOfReceipt(receipt: { logs: readonly Log[] }, address: Address): AnyCreditEvent[] {
  return decodeCreditLogs(receipt.logs.filter((l) => l.address.toLowerCase() === address.toLowerCase()));
}
