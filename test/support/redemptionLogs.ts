/**
 * Synthetic ComputeToken logs for tests that read logs without a chain (the SDK's decoder, the range
 * splitter, the streaming reader): a RedemptionRequested and a RedemptionRejected as a node returns them.
 */
import { encodeAbiParameters, encodeEventTopics, type Hex, type Log, toHex } from "viem";
import { computeTokenAbi } from "../../sdk/generated/abi.js";

export const LOG_ADDRESS = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
export const LOG_HOLDER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

const logAt = (topics: readonly unknown[], data: Hex, block: bigint, logIndex: number, txByte: string): Log =>
  ({
    address: LOG_ADDRESS,
    topics: topics as [Hex, ...Hex[]],
    data,
    blockNumber: block,
    blockHash: `0x${"01".repeat(32)}`,
    transactionHash: `0x${txByte.repeat(32)}`,
    logIndex,
    transactionIndex: 0,
    removed: false,
  }) as Log;

/** RedemptionRequested of `id` (class 1, priority 1, 2 GPUs × 3600 s, 7200 reserved) carrying `spec`. */
export function requestedLog(id: bigint, block: bigint, logIndex: number, spec = '{"name":"x"}'): Log {
  const topics = encodeEventTopics({ abi: computeTokenAbi, eventName: "RedemptionRequested", args: { id, holder: LOG_HOLDER, classId: 1 } });
  const data = encodeAbiParameters(
    [{ type: "uint8" }, { type: "uint16" }, { type: "uint32" }, { type: "uint256" }, { type: "bytes32" }, { type: "bytes" }],
    [1, 2, 3600, 7200n, `0x${"aa".repeat(32)}`, toHex(new TextEncoder().encode(spec))],
  );
  return logAt(topics, data, block, logIndex, "02");
}

/** RedemptionRejected of `id` (reason 4, 7200 refunded). */
export function rejectedLog(id: bigint, block: bigint, logIndex: number): Log {
  const topics = encodeEventTopics({ abi: computeTokenAbi, eventName: "RedemptionRejected", args: { id, holder: LOG_HOLDER } });
  const data = encodeAbiParameters([{ type: "uint16" }, { type: "uint256" }], [4, 7200n]);
  return logAt(topics, data, block, logIndex, "03");
}

/** The log with its quantities in hex, as eth_getLogs answers. */
export const hexLog = (l: Log) => ({ ...l, blockNumber: toHex(l.blockNumber!), logIndex: toHex(l.logIndex!) });
