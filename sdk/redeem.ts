/**
 * An employee's redemption: burn units of one class from the given lots for a job spec, and
 * return the id and reserve the contract recorded (from its `RedemptionRequested` event).
 */
import { parseEventLogs, toHex, type Hex, type TransactionReceipt } from "viem";
import type { CtkClient } from "./client.js";
import { computeTokenAbi } from "./generated/abi.js";
import { encodeSpec, priorityIndex, specSeconds, type JobSpec } from "./jobSpec.js";
import { writeComputeToken } from "./write.js";

export interface RequestedRedemption {
  id: bigint;
  reserved: bigint;
  specHash: Hex;
  receipt: TransactionReceipt;
}

export async function redeemJob(client: CtkClient, classId: number, lotIds: readonly bigint[], spec: JobSpec): Promise<RequestedRedemption> {
  const receipt = await writeComputeToken(client, "redeem", [classId, [...lotIds], spec.gpus, specSeconds(spec), priorityIndex(spec.priority), toHex(encodeSpec(spec))]);
  const [event] = parseEventLogs({ abi: computeTokenAbi, eventName: "RedemptionRequested", logs: receipt.logs });
  if (!event) throw new Error(`transaction ${receipt.transactionHash} did not record a redemption`);
  return { id: event.args.id, reserved: event.args.reserved, specHash: event.args.specHash, receipt };
}
