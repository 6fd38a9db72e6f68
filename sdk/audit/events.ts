/**
 * The audit's events: the logs of a deployment (ComputeToken + its AccessManager), decoded by the
 * one decoder (../logs/decodeLogs.ts) into the one event shape, tagged with the contract they
 * come from and the block's timestamp.
 */
import { type Address, type ContractEventName, decodeEventLog, type Hex } from "viem";
import { accessManagerAbi, computeTokenAbi } from "../generated/abi.js";
import { type DecodedEvent, decoderOf, type EventPosition, UndecodableLogError } from "../logs/decodeLogs.js";
import type { RawLog } from "../logs/fetchLogRanges.js";

export type TokenEventName = ContractEventName<typeof computeTokenAbi>;
export type ManagerEventName = ContractEventName<typeof accessManagerAbi>;

/** Where and when an event happened: the audit always knows the block's timestamp. */
export type AuditEventPosition = EventPosition & { timestamp: bigint };

export type TokenEvent = {
  [N in TokenEventName]: { source: "token" } & DecodedEvent<typeof computeTokenAbi, N> & AuditEventPosition;
}[TokenEventName];
export type ManagerEvent = {
  [N in ManagerEventName]: { source: "manager" } & DecodedEvent<typeof accessManagerAbi, N> & AuditEventPosition;
}[ManagerEventName];
export type AuditEvent = TokenEvent | ManagerEvent;

/**
 * Decodes one log of the deployment (with the fast decoder; `viem: true` uses viem's, which the
 * tests compare it with). `tokenAddress` tells the two contracts apart; a log of neither, or of
 * an event its contract does not have, throws {@link UndecodableLogError}.
 */
export function decodeAuditLog(log: RawLog, tokenAddress: Address, managerAddress: Address, opts: { viem?: boolean } = {}): AuditEvent {
  const addr = log.address.toLowerCase();
  const source = addr === tokenAddress.toLowerCase() ? "token" : addr === managerAddress.toLowerCase() ? "manager" : undefined;
  const decoder = source ? decoderOf(source === "token" ? computeTokenAbi : accessManagerAbi, log) : undefined;
  if (!decoder) throw new UndecodableLogError(log);
  let args: unknown;
  try {
    args = opts.viem ? decodeEventLog({ abi: [decoder.item], topics: log.topics as [Hex, ...Hex[]], data: log.data, strict: true }).args : decoder.decode(log.topics, log.data);
  } catch (err) {
    throw new UndecodableLogError(log, { cause: err });
  }
  return {
    source,
    eventName: decoder.eventName,
    args,
    blockNumber: BigInt(log.blockNumber),
    transactionHash: log.transactionHash,
    logIndex: Number(log.logIndex),
    timestamp: log.blockTimestamp ? BigInt(log.blockTimestamp) : 0n,
  } as AuditEvent;
}
