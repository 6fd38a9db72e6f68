/**
 * The auditor's check of a gateway's usage records (`ctk audit verify --usage <dir>`): for every
 * records file `<batchId>.jsonl` and every settled batch on-chain —
 * - the file's Merkle root (usageRecord.ts) is the root the batch carries on-chain;
 * - every record's charge is recomputed from its tokens, tier and the on-chain prices at the
 *   batch's price version (replayed from ModelPriceSet / PriorityFeesSet): charge =
 *   min(chargeFor(…), hold);
 * - the records' charges summed per authorization are what the batch asked for (UsageCharged.requested);
 * - every settled batch has its records;
 * - no record started after its authorization's end — its expiry, or its revocation if sooner —
 *   by more than {@link START_TOLERANCE_S} (the gateway stops serving an authorization within its
 *   poll of the block that ends it; the contract still takes the charges of usage served before,
 *   for SETTLEMENT_GRACE after). The gateway writes `startedAt` itself: this finds a gateway that
 *   served on (a watcher behind, a bug), not one that would write times back.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type Address, type Hex, getAddress, type PublicClient } from "viem";
import { authorizationId } from "./authorization.js";
import { fetchCreditEvents } from "./events.js";
import { chargeFor, type ModelPrice } from "./price.js";
import { loadFastUsageHashing, parseUsageRecord, usageRecordLine, usageRoot, type UsageRecord } from "./usageRecord.js";

export interface UsageFinding {
  code: "ROOT_MISMATCH" | "CHARGE_MISMATCH" | "BATCH_MISMATCH" | "UNKNOWN_BATCH" | "MISSING_RECORDS" | "BAD_RECORD" | "UNKNOWN_PRICE" | "AFTER_END";
  message: string;
}

/**
 * How long (s) after an authorization's end a request may have started without a finding: the
 * gateway's watcher sees a revocation within its poll and refuses requests once it has not read the
 * chain for `failClosedAfterMs` (30 s by default); the gateway's clock and the chain's may differ.
 */
export const START_TOLERANCE_S = 60;

export interface VerifyUsageResult {
  ok: boolean;
  files: number;
  records: number;
  batchesOnChain: number;
  /** Base units, summed over the records. */
  charged: bigint;
  findings: UsageFinding[];
  /** Every record that parsed, in its batch's order, with the batch and authorization it was charged under. */
  usage: BatchedUsage[];
}

/** A usage record as settled: its batch, its authorization, its model and charge (base units). */
export interface BatchedUsage {
  batchId: Hex;
  authId: Hex;
  holder: Address;
  model: string;
  tokensIn: number;
  tokensOut: number;
  charge: bigint;
}

interface PriceState {
  models: Map<string, Pick<ModelPrice, "inputPerMTok" | "outputPerMTok" | "requestCharge">>;
  fees: bigint[];
}

export async function verifyUsageRecords(o: {
  publicClient: Pick<PublicClient, "request" | "getBlockNumber" | "getBlock">;
  inferenceCredit: Address;
  fromBlock: bigint;
  dir: string;
}): Promise<VerifyUsageResult> {
  const [events] = await Promise.all([
    fetchCreditEvents({ publicClient: o.publicClient, address: o.inferenceCredit, fromBlock: o.fromBlock, toBlock: await o.publicClient.getBlockNumber() }),
    loadFastUsageHashing(),
  ]);
  const findings: UsageFinding[] = [];
  // Price snapshots by version.
  const versions = new Map<bigint, PriceState>();
  let state: PriceState = { models: new Map(), fees: [0n, 0n, 0n, 0n] };
  const batches = new Map<string, { gateway: Address; priceVersion: bigint; usageRoot: Hex; requested: Map<string, bigint> }>();
  /** Each authorization's end (s) as activated, and the block of its revocation. */
  const activatedEnd = new Map<string, bigint>();
  const revokedIn = new Map<string, bigint>();
  for (const e of events) {
    const a = e.args as Record<string, unknown>;
    if (e.eventName === "AuthorizationActivated") activatedEnd.set((a.authId as string).toLowerCase(), BigInt(a.expiresAt as number));
    else if (e.eventName === "AuthorizationRevoked") revokedIn.set((a.authId as string).toLowerCase(), e.blockNumber);
    else if (e.eventName === "ModelPriceSet") {
      const models = new Map(state.models);
      const p = { inputPerMTok: a.inputPerMTok as bigint, outputPerMTok: a.outputPerMTok as bigint, requestCharge: a.requestCharge as bigint };
      if (p.inputPerMTok + p.outputPerMTok + p.requestCharge === 0n) models.delete(a.model as string);
      else models.set(a.model as string, p);
      state = { models, fees: state.fees };
      versions.set(a.priceVersion as bigint, state);
    } else if (e.eventName === "PriorityFeesSet") {
      state = { models: state.models, fees: [...(a.fees as readonly bigint[])] };
      versions.set(a.priceVersion as bigint, state);
    } else if (e.eventName === "UsageBatchSettled") {
      const b = batches.get((a.batchId as string).toLowerCase()) ?? { gateway: a.gateway as Address, priceVersion: 0n, usageRoot: "0x" as Hex, requested: new Map() };
      Object.assign(b, { gateway: getAddress(a.gateway as string), priceVersion: a.priceVersion as bigint, usageRoot: a.usageRoot as Hex });
      batches.set((a.batchId as string).toLowerCase(), b);
    } else if (e.eventName === "UsageCharged") {
      const id = (a.batchId as string).toLowerCase();
      const b = batches.get(id) ?? { gateway: "0x" as Address, priceVersion: 0n, usageRoot: "0x" as Hex, requested: new Map<string, bigint>() };
      b.requested.set((a.authId as string).toLowerCase(), (b.requested.get((a.authId as string).toLowerCase()) ?? 0n) + (a.requested as bigint));
      batches.set(id, b);
    }
  }
  // An authorization ends at its expiry, or at its revocation's block time if sooner.
  const blockTime = new Map<bigint, bigint>();
  for (const n of new Set(revokedIn.values())) blockTime.set(n, (await o.publicClient.getBlock({ blockNumber: n })).timestamp);
  const endOf = (authId: string): bigint | undefined => {
    const activated = activatedEnd.get(authId);
    const revoked = revokedIn.has(authId) ? blockTime.get(revokedIn.get(authId)!) : undefined;
    if (activated === undefined) return revoked;
    return revoked !== undefined && revoked < activated ? revoked : activated;
  };
  const priceAt = (v: bigint): PriceState | undefined => {
    let best: bigint | undefined;
    for (const k of versions.keys()) if (k <= v && (best === undefined || k > best)) best = k;
    return best === undefined ? undefined : versions.get(best);
  };

  const files = readdirSync(o.dir)
    .filter((f) => /^0x[0-9a-fA-F]{64}\.jsonl$/.test(f))
    .sort();
  let records = 0;
  let charged = 0n;
  const usage: BatchedUsage[] = [];
  const seen = new Set<string>();
  for (const file of files) {
    const batchId = file.slice(0, -6).toLowerCase();
    seen.add(batchId);
    const lines = readFileSync(join(o.dir, file), "utf8").split("\n").filter(Boolean);
    const batch = batches.get(batchId);
    if (!batch) {
      findings.push({ code: "UNKNOWN_BATCH", message: `${file}: no batch ${batchId} was settled on-chain` });
      continue;
    }
    if (lines.length === 0 || usageRoot(lines).toLowerCase() !== batch.usageRoot.toLowerCase()) {
      findings.push({
        code: "ROOT_MISMATCH",
        message: `${file}: the records hash to ${lines.length ? usageRoot(lines) : "nothing"}, the batch on-chain carries ${batch.usageRoot}`,
      });
    }
    const prices = priceAt(batch.priceVersion);
    const perAuth = new Map<string, bigint>();
    lines.forEach((l, i) => {
      let r: UsageRecord;
      try {
        r = parseUsageRecord(l, `${file}:${i + 1}`);
      } catch (err) {
        findings.push({ code: "BAD_RECORD", message: (err as Error).message });
        return;
      }
      records++;
      charged += BigInt(r.charge);
      if (usageRecordLine(r) !== l) findings.push({ code: "BAD_RECORD", message: `${file}:${i + 1}: not in the canonical form` });
      if (BigInt(r.priceVersion) !== batch.priceVersion)
        findings.push({ code: "BATCH_MISMATCH", message: `${file}:${i + 1}: price version ${r.priceVersion}, the batch's is ${batch.priceVersion}` });
      const price = prices?.models.get(r.model);
      if (!prices || !price) {
        findings.push({ code: "UNKNOWN_PRICE", message: `${file}:${i + 1}: model ${r.model} has no price at version ${batch.priceVersion}` });
      } else {
        const full = chargeFor({ inputTokens: r.tokensIn, outputTokens: r.tokensOut, tier: r.priority }, price, prices.fees);
        const want = full < BigInt(r.hold) ? full : BigInt(r.hold);
        if (want !== BigInt(r.charge))
          findings.push({ code: "CHARGE_MISMATCH", message: `${file}:${i + 1}: request ${r.requestId} charged ${r.charge}, the on-chain prices give ${want}` });
      }
      const auth = authorizationId(getAddress(r.holder), batch.gateway, BigInt(r.nonce)).toLowerCase();
      perAuth.set(auth, (perAuth.get(auth) ?? 0n) + BigInt(r.charge));
      const end = endOf(auth);
      const started = BigInt(Math.floor(Date.parse(r.startedAt) / 1000));
      if (end !== undefined && started >= end + BigInt(START_TOLERANCE_S))
        findings.push({
          code: "AFTER_END",
          message: `${file}:${i + 1}: request ${r.requestId} started at ${r.startedAt}, ${started - end} s after its authorization ${auth} ended (${revokedIn.has(auth) ? "revoked or expired" : "expired"} at ${new Date(Number(end) * 1000).toISOString()})`,
        });
      usage.push({
        batchId: batchId as Hex,
        authId: auth as Hex,
        holder: getAddress(r.holder),
        model: r.model,
        tokensIn: r.tokensIn,
        tokensOut: r.tokensOut,
        charge: BigInt(r.charge),
      });
    });
    const ids = new Set([...perAuth.keys(), ...batch.requested.keys()]);
    for (const id of ids) {
      if ((perAuth.get(id) ?? 0n) !== (batch.requested.get(id) ?? 0n)) {
        findings.push({
          code: "BATCH_MISMATCH",
          message: `${file}: authorization ${id}: records sum to ${perAuth.get(id) ?? 0n}, the batch asked for ${batch.requested.get(id) ?? 0n}`,
        });
      }
    }
  }
  for (const id of batches.keys()) if (!seen.has(id)) findings.push({ code: "MISSING_RECORDS", message: `batch ${id} was settled on-chain, but ${o.dir} has no ${id}.jsonl` });
  return { ok: findings.length === 0, files: files.length, records, batchesOnChain: batches.size, charged, findings, usage };
}
