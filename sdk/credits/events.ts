/**
 * Reading InferenceCredit's history: its events, typed from the ABI, in chain order, fetched over
 * bounded block ranges (as ../events.ts does for ComputeToken).
 */
import { type AbiEvent, type Address, type DecodeEventLogReturnType, type Hex, type Log, type PublicClient, decodeEventLog, toEventSelector } from "viem";
import { compareChainOrder, UndecodableLogError } from "../events.js";
import { inferenceCreditAbi } from "../generated/abi.js";

type Abi = typeof inferenceCreditAbi;
export type CreditEventName = Extract<Abi[number], { type: "event" }>["name"];

export interface CreditEvent<N extends CreditEventName = CreditEventName> {
  eventName: N;
  args: DecodeEventLogReturnType<Abi, N>["args"];
  blockNumber: bigint;
  transactionHash: Hex;
  logIndex: number;
}
/** A union over names, so `switch (e.eventName)` narrows `args`. */
export type CreditEventOf<N extends CreditEventName> = N extends CreditEventName ? CreditEvent<N> : never;
export type AnyCreditEvent = CreditEventOf<CreditEventName>;

const BY_SELECTOR = new Map<string, { name: CreditEventName; item: AbiEvent }>(
  inferenceCreditAbi
    .filter((x): x is Extract<Abi[number], { type: "event" }> => x.type === "event")
    .map((x) => [toEventSelector(x as AbiEvent), { name: x.name, item: x as AbiEvent }]),
);

/** Decodes raw logs of InferenceCredit into typed events (unknown topics skipped), in chain order. */
export function decodeCreditLogs(logs: readonly Pick<Log, "data" | "topics" | "blockNumber" | "transactionHash" | "logIndex">[]): AnyCreditEvent[] {
  const out: AnyCreditEvent[] = [];
  for (const log of logs) {
    const entry = log.topics[0] ? BY_SELECTOR.get(log.topics[0].toLowerCase()) : undefined;
    if (!entry) continue;
    let decoded: { args: unknown };
    try {
      decoded = decodeEventLog({ abi: [entry.item], data: log.data, topics: log.topics as [Hex, ...Hex[]], strict: true });
    } catch (err) {
      throw new UndecodableLogError(log as Log, { cause: err });
    }
    out.push({
      eventName: entry.name,
      args: decoded.args,
      blockNumber: BigInt(log.blockNumber!),
      transactionHash: log.transactionHash!,
      logIndex: Number(log.logIndex!),
    } as AnyCreditEvent);
  }
  return out.sort(compareChainOrder);
}

export interface FetchCreditEventsOptions {
  publicClient: Pick<PublicClient, "getLogs">;
  address: Address;
  fromBlock: bigint;
  /** Inclusive. */
  toBlock: bigint;
  /** Most blocks per `eth_getLogs` (default 5,000). */
  maxBlockRange?: bigint;
}

/** Every InferenceCredit event in [fromBlock, toBlock], in chain order. */
export async function fetchCreditEvents(o: FetchCreditEventsOptions): Promise<AnyCreditEvent[]> {
  const span = o.maxBlockRange ?? 5_000n;
  const out: AnyCreditEvent[] = [];
  for (let from = o.fromBlock; from <= o.toBlock; from += span) {
    const to = from + span - 1n < o.toBlock ? from + span - 1n : o.toBlock;
    const logs = await o.publicClient.getLogs({ address: o.address, fromBlock: from, toBlock: to });
    out.push(...decodeCreditLogs(logs));
  }
  return out;
}

/** The events of one receipt that InferenceCredit emitted. */
export function creditEventsOfReceipt(receipt: { logs: readonly Log[] }, address: Address): AnyCreditEvent[] {
  return decodeCreditLogs(receipt.logs.filter((l) => l.address.toLowerCase() === address.toLowerCase()));
}
