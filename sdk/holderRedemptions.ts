/**
 * A holder's redemptions, newest first, as the chain tells them: what was asked (from the
 * holder-indexed `RedemptionRequested` events), where each one is now, when it started running,
 * and why it was rejected. What a wallet shows under "my redemptions".
 */
import { type Address, hexToString, type Hex, pad } from "viem";
import type { CtkClient } from "./client.js";
import { fetchComputeTokenEvents } from "./events.js";
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
  const range = { publicClient: pc, address: client.computeToken.address, fromBlock: BigInt(client.deployment.deployBlock), toBlock: latest, maxBlockRange };
  const byHolder = [null, pad(holder)] as const; // second indexed argument of both events
  const requested = await fetchComputeTokenEvents({ ...range, names: ["RedemptionRequested"], indexed: byHolder });
  const ids = requested.map((e) => e.args.id);
  const [views, running, rejected] = await Promise.all([
    Promise.all(ids.map((id) => getRedemption({ publicClient: pc, address: client.computeToken.address }, id))),
    ids.length ? fetchComputeTokenEvents({ ...range, names: ["RedemptionRunning"], ids }) : [],
    ids.length ? fetchComputeTokenEvents({ ...range, names: ["RedemptionRejected"], indexed: byHolder }) : [],
  ]);
  const runningBlocks = new Map(running.map((e) => [e.args.id, e.blockNumber]));
  const blockTimes = new Map<bigint, number>();
  await Promise.all([...new Set(runningBlocks.values())].map(async (b) => blockTimes.set(b, Number((await pc.getBlock({ blockNumber: b })).timestamp))));
  const reasons = new Map(rejected.map((e) => [e.args.id, describeReason(e.args.reasonCode)]));
  const out: HolderRedemption[] = [];
  requested.forEach((l, i) => {
    const v = views[i];
    if (!v) return;
    let specText = "";
    try {
      specText = hexToString(l.args.spec);
    } catch {
      specText = "";
    }
    const rb = runningBlocks.get(v.id);
    out.push({
      ...v,
      seconds: Number(l.args.seconds_),
      specText,
      requestTx: l.transactionHash,
      ...(rb !== undefined && { runningAt: blockTimes.get(rb) }),
      ...(reasons.has(v.id) && { rejectReason: reasons.get(v.id) }),
    });
  });
  return out.sort((a, b) => (a.id < b.id ? 1 : -1));
}
