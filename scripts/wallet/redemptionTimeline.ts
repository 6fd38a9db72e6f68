/**
 * One redemption as its holder sees it: the stored state (getRedemption) plus its lifecycle events
 * (filtered by the indexed id), with the times of each step.
 */
import type { Hex } from "viem";
import type { CtkClient } from "../../sdk/client.js";
import { getRedemption, type Redemption } from "../../sdk/redemptions.js";
import { CtkError } from "../../sdk/ctkError.js";
import { fetchComputeTokenEvents } from "../../sdk/events.js";

export interface Timeline {
  redemption: Redemption;
  seconds: number;
  launchTimeout: number;
  now: bigint;
  requested: { at: bigint; txHash: Hex };
  running?: { at: bigint; txHash: Hex };
  settled?: { at: bigint; txHash: Hex; used: bigint; refunded: bigint; receiptHash: Hex };
  rejected?: { at: bigint; txHash: Hex; reasonCode: number; refunded: bigint };
  reclaimed?: { at: bigint; txHash: Hex; refunded: bigint };
}

export class RedemptionNotFound extends CtkError {
  constructor(readonly id: bigint) {
    super(`there is no redemption ${id}`);
    this.name = "RedemptionNotFound";
  }
}

export async function loadTimeline(client: CtkClient, id: bigint): Promise<Timeline> {
  const redemption = await getRedemption({ publicClient: client.publicClient, address: client.computeToken.address }, id);
  if (!redemption) throw new RedemptionNotFound(id);
  const [head, launchTimeout] = await Promise.all([
    client.publicClient.getBlock({ blockTag: "latest" }),
    client.publicClient.readContract({ ...client.computeToken, functionName: "launchTimeout" }),
  ]);
  // Every lifecycle event of this id (its first indexed argument), in one pass of the range fetcher.
  const events = await fetchComputeTokenEvents({
    publicClient: client.publicClient,
    address: client.computeToken.address,
    names: ["RedemptionRequested", "RedemptionRunning", "RedemptionSettled", "RedemptionRejected", "RedemptionReclaimed"],
    ids: [id],
    fromBlock: BigInt(client.deployment.deployBlock),
    toBlock: head.number,
  });
  const q = (eventName: (typeof events)[number]["eventName"]) => events.filter((e) => e.eventName === eventName);
  const [req, run, set, rej, rec] = [q("RedemptionRequested"), q("RedemptionRunning"), q("RedemptionSettled"), q("RedemptionRejected"), q("RedemptionReclaimed")];
  const stamps = new Map<bigint, bigint>();
  const at = async (blockNumber: bigint) => {
    if (!stamps.has(blockNumber)) stamps.set(blockNumber, (await client.publicClient.getBlock({ blockNumber })).timestamp);
    return stamps.get(blockNumber)!;
  };
  const requested = req[0];
  const t: Timeline = {
    redemption,
    seconds: requested ? Number((requested.args as { seconds_: number }).seconds_) : 0,
    launchTimeout: Number(launchTimeout),
    now: head.timestamp,
    requested: { at: BigInt(redemption.requestedAt), txHash: requested?.transactionHash ?? "0x" },
  };
  if (run[0]) t.running = { at: await at(run[0].blockNumber), txHash: run[0].transactionHash };
  if (set[0]) {
    const a = set[0].args as { used: bigint; refunded: bigint; receiptHash: Hex };
    t.settled = { at: await at(set[0].blockNumber), txHash: set[0].transactionHash, used: a.used, refunded: a.refunded, receiptHash: a.receiptHash };
  }
  if (rej[0]) {
    const a = rej[0].args as { reasonCode: number; refunded: bigint };
    t.rejected = { at: await at(rej[0].blockNumber), txHash: rej[0].transactionHash, reasonCode: a.reasonCode, refunded: a.refunded };
  }
  if (rec[0]) {
    const a = rec[0].args as { refunded: bigint };
    t.reclaimed = { at: await at(rec[0].blockNumber), txHash: rec[0].transactionHash, refunded: a.refunded };
  }
  return t;
}

/** "2 h 05 min", "12 min", "40 s". */
export function duration(seconds: bigint | number): string {
  const s = Math.max(0, Math.round(Number(seconds)));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${String(m % 60).padStart(2, "0")} min`;
  return `${Math.floor(h / 24)} days`;
}
