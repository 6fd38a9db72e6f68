/**
 * A holder's redemptions, newest first, as the chain tells them: what was asked (from the
 * holder-indexed `RedemptionRequested` events), where each one is now, when it started running,
 * and why it was rejected. What a wallet shows under "my redemptions".
 */
import { type Address, hexToString, type Hex } from "viem";
import type { CtkClient } from "./client.js";
import { describeReason } from "./reasons.js";
import { getRedemption, type Redemption } from "./redemptions.js";

export interface HolderRedemption extends Redemption {
  /** Seconds of wall-clock time asked for. */
  seconds: number;
  /** The job spec's JSON text (as sent). */
  specText: string;
  requestTx: Hex;
  /** Unix seconds of the block that marked it Running, once it did. */
  runningAt?: number;
  /** Why it was rejected, in words. */
  rejectReason?: string;
}

export async function listHolderRedemptions(client: CtkClient, holder: Address, maxBlockRange = 50_000n): Promise<HolderRedemption[]> {
  const pc = client.publicClient;
  const latest = await pc.getBlockNumber();
  const from0 = BigInt(client.deployment.deployBlock);
  const requested = [];
  for (let from = from0; from <= latest; from += maxBlockRange) {
    const to = from + maxBlockRange - 1n < latest ? from + maxBlockRange - 1n : latest;
    requested.push(...(await pc.getContractEvents({ ...client.computeToken, eventName: "RedemptionRequested", args: { holder }, fromBlock: from, toBlock: to })));
  }
  const ids = requested.map((l) => l.args.id!);
  const [views, running, rejected] = await Promise.all([
    Promise.all(ids.map((id) => getRedemption({ publicClient: pc, address: client.computeToken.address }, id))),
    ids.length ? pc.getContractEvents({ ...client.computeToken, eventName: "RedemptionRunning", args: { id: ids }, fromBlock: from0, toBlock: latest }) : [],
    ids.length ? pc.getContractEvents({ ...client.computeToken, eventName: "RedemptionRejected", args: { holder }, fromBlock: from0, toBlock: latest }) : [],
  ]);
  const runningBlocks = new Map(running.map((l) => [l.args.id!, l.blockNumber]));
  const blockTimes = new Map<bigint, number>();
  await Promise.all([...new Set(runningBlocks.values())].map(async (b) => blockTimes.set(b, Number((await pc.getBlock({ blockNumber: b })).timestamp))));
  const reasons = new Map(rejected.map((l) => [l.args.id!, describeReason(l.args.reasonCode!)]));
  const out: HolderRedemption[] = [];
  requested.forEach((l, i) => {
    const v = views[i];
    if (!v) return;
    let specText = "";
    try {
      specText = hexToString(l.args.spec!);
    } catch {
      specText = "";
    }
    const rb = runningBlocks.get(v.id);
    out.push({
      ...v,
      seconds: Number(l.args.seconds_!),
      specText,
      requestTx: l.transactionHash,
      ...(rb !== undefined && { runningAt: blockTimes.get(rb) }),
      ...(reasons.has(v.id) && { rejectReason: reasons.get(v.id) }),
    });
  });
  return out.sort((a, b) => (a.id < b.id ? 1 : -1));
}
