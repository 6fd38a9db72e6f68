/**
 * A holder's balances: per lot (raw ERC-1155 balance, expired or not at the latest block) and per
 * class (raw, redeemable = unexpired, expired). Units are GPU-seconds.
 */
import { type Address, pad } from "viem";
import { type CtkClient, chainTime } from "./client.js";
import { listClasses } from "./classes.js";
import { toCtkError } from "./errors.js";
import { fetchComputeTokenEvents } from "./events.js";
import { decodeLotId, type TransferPolicyName } from "./lotId.js";

export interface LotBalance {
  lotId: bigint;
  expiresAt: bigint;
  policy: TransferPolicyName;
  balance: bigint;
  expired: boolean;
}

export interface ClassBalance {
  classId: number;
  name: string;
  active: boolean;
  /** All units held, expired or not (what ERC-1155 balanceOf reports). */
  raw: bigint;
  /** Unexpired units: what the holder can redeem or transfer now. */
  redeemable: bigint;
  /** Units in expired lots (burnable by anyone with sweepExpired). */
  expired: bigint;
  /** Units reserved by this holder's redemptions still Requested or Running (burnt, not yet settled). */
  inFlight: bigint;
  /** Lots with a non-zero balance, soonest expiry first. */
  lots: LotBalance[];
}

export interface HolderBalances {
  holder: Address;
  onboarded: boolean;
  /** The chain time the balances were judged against (latest block timestamp). */
  at: bigint;
  /** Classes the holder has units in, by class id. */
  classes: ClassBalance[];
  totals: { raw: bigint; redeemable: bigint; expired: bigint; inFlight: bigint };
}

/**
 * Units each class holds in flight for a holder: the `reserved` of every redemption of theirs that
 * is still Requested or Running. Found from the holder-indexed RedemptionRequested events since the
 * deployment block, in bounded block ranges, then each one's live status.
 */
export async function inFlightByClass(client: CtkClient, holder: Address, maxBlockRange = 50_000n): Promise<Map<number, bigint>> {
  const latest = await client.publicClient.getBlockNumber();
  const requested = await fetchComputeTokenEvents({
    publicClient: client.publicClient,
    address: client.computeToken.address,
    names: ["RedemptionRequested"],
    indexed: [null, pad(holder)], // the holder: RedemptionRequested's second indexed argument
    fromBlock: BigInt(client.deployment.deployBlock),
    toBlock: latest,
    maxBlockRange,
  });
  const ids = requested.map((e) => e.args.id);
  const result = new Map<number, bigint>();
  const views = await Promise.all(ids.map((id) => client.publicClient.readContract({ ...client.computeToken, functionName: "getRedemption", args: [id] })));
  for (const v of views) {
    // 1 = Requested, 2 = Running
    if (v.status === 1 || v.status === 2) result.set(v.classId, (result.get(v.classId) ?? 0n) + v.reserved);
  }
  return result;
}

export async function getBalances(client: CtkClient, holder: Address): Promise<HolderBalances> {
  try {
    const [classes, at, onboarded, inFlight] = await Promise.all([
      listClasses(client),
      chainTime(client),
      client.publicClient.readContract({ ...client.computeToken, functionName: "isHolder", args: [holder] }),
      inFlightByClass(client, holder),
    ]);
    const lotLists = await Promise.all(classes.map((c) => client.publicClient.readContract({ ...client.computeToken, functionName: "lotsOfClass", args: [c.classId] })));
    const allLots = lotLists.flat();
    const balances = allLots.length
      ? await client.publicClient.readContract({
          ...client.computeToken,
          functionName: "balanceOfBatch",
          args: [allLots.map(() => holder), allLots],
        })
      : [];
    const byLot = new Map(allLots.map((id, i) => [id, balances[i]]));
    const result: ClassBalance[] = [];
    classes.forEach((c, ci) => {
      const lots: LotBalance[] = [];
      for (const lotId of lotLists[ci]) {
        const balance = byLot.get(lotId) ?? 0n;
        if (balance === 0n) continue;
        const parts = decodeLotId(lotId);
        lots.push({ lotId, expiresAt: parts.expiresAt, policy: parts.policy, balance, expired: at >= parts.expiresAt });
      }
      const held = inFlight.get(c.classId) ?? 0n;
      if (!lots.length && held === 0n) return;
      lots.sort((a, b) => (a.expiresAt < b.expiresAt ? -1 : a.expiresAt > b.expiresAt ? 1 : a.policy.localeCompare(b.policy)));
      const raw = lots.reduce((s, l) => s + l.balance, 0n);
      const expired = lots.filter((l) => l.expired).reduce((s, l) => s + l.balance, 0n);
      result.push({ classId: c.classId, name: c.name, active: c.active, raw, redeemable: raw - expired, expired, inFlight: held, lots });
    });
    const totals = result.reduce(
      (t, c) => ({
        raw: t.raw + c.raw,
        redeemable: t.redeemable + c.redeemable,
        expired: t.expired + c.expired,
        inFlight: t.inFlight + c.inFlight,
      }),
      { raw: 0n, redeemable: 0n, expired: 0n, inFlight: 0n },
    );
    return { holder, onboarded, at, classes: result, totals };
  } catch (e) {
    throw await toCtkError(client, e);
  }
}

/** Units a holder can redeem now in one class (the contract's own sum). */
export async function redeemableBalanceOf(client: CtkClient, holder: Address, classId: number): Promise<bigint> {
  return client.publicClient.readContract({
    ...client.computeToken,
    functionName: "redeemableBalanceOf",
    args: [holder, classId],
  });
}
