/**
 * The credit half of the audit: replays InferenceCredit's events (grants into buckets, transfers,
 * charges soonest-expiring first, expiry, clawback, authorizations, price versions, usage batches),
 * checks every rule the contract promises, and compares the result with the chain. Pure replay
 * ({@link CreditReplay}) is separate from fetching and comparing ({@link auditCredits}).
 *
 * Checks: a grant batch lands once and its mints add up to its CreditsGranted; a usage batch lands once,
 * names a price version that existed, and its charges add up to its UsageBatchSettled; every charge
 * takes no more than requested, only under an authorization that was activated with the holder's valid
 * EIP-712 signature (re-verified from the transaction's calldata), within a day of its end (its expiry or revocation), and the
 * total charged under an authorization never exceeds its cap; nothing is spent from an expired bucket;
 * price versions increase one by one; balances, buckets, supply and authorizations equal the chain's.
 */
import { type Address, type Hex, type PublicClient, decodeFunctionData, getAddress, verifyTypedData } from "viem";
import { inferenceCreditAbi } from "../generated/abi.js";
import { authorizationId, authorizationTypedData } from "./authorization.js";
import { type AnyCreditEvent, fetchCreditEvents } from "./events.js";

/** InferenceCredit's SETTLEMENT_GRACE (s): an authorization is charged this long after its end for usage served before it. */
export const SETTLEMENT_GRACE_S = 86_400n;

export interface CreditFinding {
  code: string;
  message: string;
  txHash?: Hex;
}

interface ReplayBucket {
  amount: bigint;
  expiresAt: bigint;
  transferable: boolean;
}

export interface CreditTotals {
  granted: bigint;
  spent: bigint;
  expired: bigint;
  clawedBack: bigint;
  transferredIn: bigint;
  transferredOut: bigint;
}

const zero = (): CreditTotals => ({ granted: 0n, spent: 0n, expired: 0n, clawedBack: 0n, transferredIn: 0n, transferredOut: 0n });

export interface ReplayedAuthorization {
  authId: Hex;
  holder: Address;
  gateway: Address;
  nonce: bigint;
  cap: bigint;
  expiresAt: bigint;
  models: readonly string[];
  charged: bigint;
  status: "none" | "active" | "revoked";
}

/** One line of a holder's credit history (for `ctk audit statement`). */
export interface CreditMovement {
  holder: Address;
  kind: "granted" | "spent" | "expired" | "clawed back" | "received" | "sent";
  amount: bigint;
  timestamp: bigint;
  blockNumber: bigint;
  txHash: Hex;
  expiresAt?: bigint;
  note?: string;
}

/** One UsageCharged: what a usage batch asked of an authorization and what it took (for per-model totals). */
export interface CreditCharge {
  batchId: Hex;
  authId: Hex;
  holder: Address;
  requested: bigint;
  charged: bigint;
  timestamp: bigint;
}

export const monthOfTimestamp = (ts: bigint): string => new Date(Number(ts) * 1000).toISOString().slice(0, 7);

/** Replays InferenceCredit's events in chain order; `timestampOf` gives each block's time. */
export class CreditReplay {
  readonly buckets = new Map<Address, ReplayBucket[]>();
  readonly authorizations = new Map<Hex, ReplayedAuthorization>();
  readonly perHolder = new Map<Address, CreditTotals>();
  readonly perMonth = new Map<string, CreditTotals>();
  readonly totals: CreditTotals = zero();
  readonly movements: CreditMovement[] = [];
  /** Every UsageCharged, in chain order. */
  readonly charges: CreditCharge[] = [];
  readonly findings: CreditFinding[] = [];
  readonly grantBatches = new Set<string>();
  readonly usageBatches = new Set<string>();
  priceVersion = 0n;
  /** Per version: the model prices and fees in force (for recomputing charges from usage records). */
  readonly prices = new Map<bigint, { models: Map<string, { inputPerMTok: bigint; outputPerMTok: bigint; requestCharge: bigint }>; fees: readonly bigint[] }>();
  usageBatchCount = 0;
  chargeCount = 0;
  private current = { models: new Map<string, { inputPerMTok: bigint; outputPerMTok: bigint; requestCharge: bigint }>(), fees: [0n, 0n, 0n, 0n] as readonly bigint[] };

  constructor() {
    this.prices.set(0n, { models: new Map(), fees: [0n, 0n, 0n, 0n] });
  }

  private finding(code: string, message: string, txHash?: Hex) {
    this.findings.push({ code, message, txHash });
  }

  private add(holder: Address, ts: bigint, k: keyof CreditTotals, amount: bigint) {
    const h = this.perHolder.get(holder) ?? zero();
    h[k] += amount;
    this.perHolder.set(holder, h);
    const month = monthOfTimestamp(ts);
    const m = this.perMonth.get(month) ?? zero();
    m[k] += amount;
    this.perMonth.set(month, m);
    this.totals[k] += amount;
  }

  private deposit(holder: Address, expiresAt: bigint, transferable: boolean, amount: bigint) {
    const list = this.buckets.get(holder) ?? [];
    const b = list.find((x) => x.expiresAt === expiresAt && x.transferable === transferable);
    if (b) b.amount += amount;
    else {
      list.push({ amount, expiresAt, transferable });
      list.sort((a, c) => (a.expiresAt !== c.expiresAt ? (a.expiresAt < c.expiresAt ? -1 : 1) : Number(a.transferable) - Number(c.transferable)));
    }
    this.buckets.set(holder, list);
  }

  private prune(holder: Address) {
    this.buckets.set(
      holder,
      (this.buckets.get(holder) ?? []).filter((b) => b.amount > 0n),
    );
  }

  /** Applies one transaction's InferenceCredit events (chain order) at block time `ts`. */
  applyTransaction(events: readonly AnyCreditEvent[], ts: bigint, validActivations?: ReadonlySet<string>) {
    if (!events.length) return;
    const tx = events[0].transactionHash;
    const granted = events.find((e) => e.eventName === "CreditsGranted");
    const settled = events.find((e) => e.eventName === "UsageBatchSettled");
    let mints = 0n;
    let mintCount = 0n;
    let requested = 0n;
    let charged = 0n;
    let charges = 0n;
    for (const e of events) {
      switch (e.eventName) {
        case "Transfer": {
          const { from, to, value } = e.args;
          if (from === "0x0000000000000000000000000000000000000000") {
            if (!granted) this.finding("mint", `mint of ${value} to ${to} outside a grant batch`, tx);
            else {
              this.deposit(getAddress(to), BigInt(granted.args.expiresAt), granted.args.transferable, value);
              this.add(getAddress(to), ts, "granted", value);
              this.movements.push({
                holder: getAddress(to),
                kind: "granted",
                amount: value,
                timestamp: ts,
                blockNumber: e.blockNumber,
                txHash: tx,
                expiresAt: BigInt(granted.args.expiresAt),
                note: `batch ${granted.args.batchRef}`,
              });
              mints += value;
              mintCount++;
            }
          }
          break;
        }
        case "CreditsGranted": {
          const ref = e.args.batchRef.toLowerCase();
          if (this.grantBatches.has(ref)) this.finding("grant-batch", `grant batch ${e.args.batchRef} landed twice`, tx);
          this.grantBatches.add(ref);
          if (mints !== e.args.amount || mintCount !== e.args.recipients) {
            this.finding("grant-batch", `grant batch ${e.args.batchRef} says ${e.args.recipients} rows / ${e.args.amount}, its mints are ${mintCount} / ${mints}`, tx);
          }
          break;
        }
        case "CreditsExpired": {
          const holder = getAddress(e.args.holder);
          const list = this.buckets.get(holder) ?? [];
          const b = list.find((x) => x.expiresAt === BigInt(e.args.expiresAt) && x.amount === e.args.amount) ?? list.find((x) => x.expiresAt === BigInt(e.args.expiresAt));
          if (!b || b.amount !== e.args.amount)
            this.finding("expiry", `${holder}: expired ${e.args.amount} of the bucket expiring ${e.args.expiresAt}, which held ${b?.amount ?? 0n}`, tx);
          if (BigInt(e.args.expiresAt) > ts) this.finding("expiry", `${holder}: bucket expiring ${e.args.expiresAt} burnt as expired at ${ts}, before its expiry`, tx);
          if (b) b.amount -= e.args.amount < b.amount ? e.args.amount : b.amount;
          this.prune(holder);
          this.add(holder, ts, "expired", e.args.amount);
          this.movements.push({ holder, kind: "expired", amount: e.args.amount, timestamp: ts, blockNumber: e.blockNumber, txHash: tx, expiresAt: BigInt(e.args.expiresAt) });
          break;
        }
        case "CreditsClawedBack": {
          const holder = getAddress(e.args.holder);
          const live = (this.buckets.get(holder) ?? []).reduce((s, b) => s + b.amount, 0n);
          if (live !== e.args.amount) this.finding("clawback", `${holder}: clawed back ${e.args.amount}, the replay holds ${live}`, tx);
          this.buckets.set(holder, []);
          this.add(holder, ts, "clawedBack", e.args.amount);
          this.movements.push({ holder, kind: "clawed back", amount: e.args.amount, timestamp: ts, blockNumber: e.blockNumber, txHash: tx });
          break;
        }
        case "BucketTransferred": {
          const from = getAddress(e.args.from);
          const to = getAddress(e.args.to);
          const expiresAt = BigInt(e.args.expiresAt);
          const b = (this.buckets.get(from) ?? []).find((x) => x.expiresAt === expiresAt && x.transferable);
          if (!b || b.amount < e.args.amount)
            this.finding("transfer", `${from} sent ${e.args.amount} from a transferable bucket expiring ${expiresAt} that held ${b?.amount ?? 0n}`, tx);
          if (expiresAt <= ts) this.finding("transfer", `${from} sent credits that had expired (${expiresAt})`, tx);
          if (b) b.amount -= e.args.amount < b.amount ? e.args.amount : b.amount;
          this.prune(from);
          this.deposit(to, expiresAt, true, e.args.amount);
          this.add(from, ts, "transferredOut", e.args.amount);
          this.add(to, ts, "transferredIn", e.args.amount);
          this.movements.push({ holder: from, kind: "sent", amount: e.args.amount, timestamp: ts, blockNumber: e.blockNumber, txHash: tx, expiresAt, note: `to ${to}` });
          this.movements.push({ holder: to, kind: "received", amount: e.args.amount, timestamp: ts, blockNumber: e.blockNumber, txHash: tx, expiresAt, note: `from ${from}` });
          break;
        }
        case "ModelPriceSet":
        case "PriorityFeesSet": {
          const v = e.args.priceVersion;
          if (v !== this.priceVersion + 1n) this.finding("price-version", `price version ${v} follows ${this.priceVersion}`, tx);
          this.priceVersion = v;
          const models = new Map(this.current.models);
          let fees = this.current.fees;
          if (e.eventName === "ModelPriceSet") {
            const { model, inputPerMTok, outputPerMTok, requestCharge } = e.args;
            if (inputPerMTok === 0n && outputPerMTok === 0n && requestCharge === 0n) models.delete(model);
            else models.set(model, { inputPerMTok, outputPerMTok, requestCharge });
          } else fees = [...e.args.fees];
          this.current = { models, fees };
          this.prices.set(v, this.current);
          break;
        }
        case "AuthorizationActivated": {
          const { authId, holder, gateway, cap, expiresAt, nonce, models } = e.args;
          if (authorizationId(holder, gateway, nonce).toLowerCase() !== authId.toLowerCase())
            this.finding("authorization", `authorization ${authId} is not the id of (${holder}, ${gateway}, ${nonce})`, tx);
          const prior = this.authorizations.get(authId);
          // Revoked before its first batch: activated all the same, ending at its revocation (at most).
          const revokedFirst = prior?.status === "revoked" && prior.cap === 0n && prior.charged === 0n;
          if (prior && !revokedFirst) this.finding("authorization", `authorization ${authId} (nonce ${nonce} of ${holder}) activated twice`, tx);
          if (revokedFirst && BigInt(expiresAt) > prior.expiresAt)
            this.finding("authorization", `authorization ${authId} activated after its revocation to end at ${expiresAt}, after the revocation (${prior.expiresAt})`, tx);
          if (validActivations && !validActivations.has(authId.toLowerCase())) {
            this.finding("signature", `authorization ${authId} of ${holder}: no valid holder signature in the settling transaction`, tx);
          }
          this.authorizations.set(authId, {
            authId,
            holder: getAddress(holder),
            gateway: getAddress(gateway),
            nonce,
            cap,
            expiresAt: BigInt(expiresAt),
            models,
            charged: 0n,
            status: revokedFirst ? "revoked" : "active",
          });
          break;
        }
        case "AuthorizationRevoked": {
          const { authId, holder, gateway, nonce } = e.args;
          const a = this.authorizations.get(authId);
          if (a?.status === "revoked") this.finding("authorization", `authorization ${authId} revoked twice`, tx);
          // It ends at the revocation (its expiry if sooner); not activated yet, its activation ends there.
          if (a) {
            a.status = "revoked";
            if (a.cap === 0n || a.expiresAt > ts) a.expiresAt = ts;
          } else
            this.authorizations.set(authId, {
              authId,
              holder: getAddress(holder),
              gateway: getAddress(gateway),
              nonce,
              cap: 0n,
              expiresAt: ts,
              models: [],
              charged: 0n,
              status: "revoked",
            });
          break;
        }
        case "UsageCharged": {
          const { authId, holder: h, requested: req, charged: taken } = e.args;
          const holder = getAddress(h);
          charges++;
          requested += req;
          charged += taken;
          this.charges.push({ batchId: e.args.batchId, authId, holder, requested: req, charged: taken, timestamp: ts });
          if (taken > req) this.finding("charge", `charge under ${authId} took ${taken}, more than the ${req} requested`, tx);
          if (taken > 0n) {
            const a = this.authorizations.get(authId);
            if (!a || a.cap === 0n) this.finding("charge", `charge of ${taken} under ${authId}, which is not activated`, tx);
            else {
              // Usage served until its end (expiry or revocation) is charged within the grace after it.
              if (a.expiresAt + SETTLEMENT_GRACE_S <= ts)
                this.finding(
                  "charge",
                  `charge of ${taken} under ${authId} more than ${SETTLEMENT_GRACE_S} s after it ${a.status === "revoked" ? "was revoked or expired" : "expired"}`,
                  tx,
                );
              a.charged += taken;
              if (a.charged > a.cap) this.finding("cap", `authorization ${authId} of ${holder} charged ${a.charged}, over its cap of ${a.cap}`, tx);
            }
            // burn soonest-expiring unexpired buckets first
            let left = taken;
            for (const b of this.buckets.get(holder) ?? []) {
              if (left === 0n) break;
              if (b.expiresAt <= ts) continue;
              const t = b.amount < left ? b.amount : left;
              b.amount -= t;
              left -= t;
            }
            if (left > 0n) this.finding("charge", `${holder}: charged ${taken} but held only ${taken - left} unexpired credits`, tx);
            this.prune(holder);
            this.add(holder, ts, "spent", taken);
            this.movements.push({ holder, kind: "spent", amount: taken, timestamp: ts, blockNumber: e.blockNumber, txHash: tx, note: `authorization ${authId}` });
          }
          break;
        }
        case "UsageBatchSettled": {
          const id = e.args.batchId.toLowerCase();
          if (this.usageBatches.has(id)) this.finding("usage-batch", `usage batch ${e.args.batchId} settled twice`, tx);
          this.usageBatches.add(id);
          this.usageBatchCount++;
          this.chargeCount += Number(e.args.charges);
          if (e.args.priceVersion > this.priceVersion)
            this.finding("price-version", `usage batch ${e.args.batchId} priced with version ${e.args.priceVersion}, the latest was ${this.priceVersion}`, tx);
          if (e.args.charges !== charges || e.args.requested !== requested || e.args.charged !== charged) {
            this.finding(
              "usage-batch",
              `usage batch ${e.args.batchId} says ${e.args.charges} charges / ${e.args.requested} requested / ${e.args.charged} charged; its charges add up to ${charges} / ${requested} / ${charged}`,
              tx,
            );
          }
          break;
        }
        default:
          break;
      }
    }
    void settled;
  }

  /** Re-verifies the EIP-712 signatures of a settling transaction's activations; returns the valid ids. */
  static async verifiedActivations(calldata: Hex, chainId: number, credit: Address): Promise<Set<string>> {
    const ok = new Set<string>();
    const { functionName, args } = decodeFunctionData({ abi: inferenceCreditAbi, data: calldata });
    if (functionName !== "settleUsage") return ok;
    const activations = args[3] as readonly {
      auth: { holder: Address; gateway: Address; cap: bigint; expiresAt: bigint; nonce: bigint; models: readonly string[] };
      signature: Hex;
    }[];
    for (const { auth, signature } of activations) {
      const good = await verifyTypedData({ address: auth.holder, ...authorizationTypedData(chainId, credit, auth), signature }).catch(() => false);
      if (good) ok.add(authorizationId(auth.holder, auth.gateway, auth.nonce).toLowerCase());
    }
    return ok;
  }

  liveSupply(): bigint {
    let s = 0n;
    for (const list of this.buckets.values()) for (const b of list) s += b.amount;
    return s;
  }
}

export interface CreditAudit {
  replay: CreditReplay;
  findings: CreditFinding[];
  events: number;
  holdersCompared: number;
  authorizationsCompared: number;
}

/**
 * Fetches InferenceCredit's events up to `toBlock`, replays them (signatures re-verified from calldata)
 * and, with `compare`, checks buckets, supply and authorizations against the chain at `toBlock`.
 */
export async function auditCredits(opts: {
  client: PublicClient;
  inferenceCredit: Address;
  chainId: number;
  fromBlock: bigint;
  toBlock: bigint;
  compare?: boolean;
}): Promise<CreditAudit> {
  const { client, inferenceCredit: address, toBlock } = opts;
  const events = await fetchCreditEvents({ publicClient: client, address, fromBlock: opts.fromBlock, toBlock });
  const replay = new CreditReplay();
  const byTx = new Map<string, AnyCreditEvent[]>();
  for (const e of events) byTx.set(e.transactionHash, [...(byTx.get(e.transactionHash) ?? []), e]);
  const times = new Map<bigint, bigint>();
  for (const list of byTx.values()) {
    const block = list[0].blockNumber;
    if (!times.has(block)) times.set(block, (await client.getBlock({ blockNumber: block })).timestamp);
    const ts = times.get(block)!;
    // Activations: re-verify the signatures in the transaction's calldata.
    if (list.some((e) => e.eventName === "AuthorizationActivated")) {
      const tx = await client.getTransaction({ hash: list[0].transactionHash });
      const valid = await CreditReplay.verifiedActivations(tx.input, opts.chainId, address).catch(() => new Set<string>());
      replay.applyTransaction(list, ts, valid);
    } else replay.applyTransaction(list, ts);
  }
  const findings = [...replay.findings];
  let holdersCompared = 0;
  let authorizationsCompared = 0;
  if (opts.compare) {
    const read = (functionName: string, args: readonly unknown[]) =>
      client.readContract({ address, abi: inferenceCreditAbi, functionName, args, blockNumber: toBlock } as never) as Promise<unknown>;
    const supply = (await read("totalSupply", [])) as bigint;
    if (supply !== replay.liveSupply()) findings.push({ code: "supply", message: `totalSupply ${supply} on chain, ${replay.liveSupply()} replayed` });
    for (const [holder, list] of replay.buckets) {
      const live = (await read("bucketsOf", [holder])) as readonly { amount: bigint; expiresAt: number; transferable: boolean }[];
      const a = live.map((b) => `${b.amount}@${b.expiresAt}/${b.transferable}`).join(",");
      const b = list.map((x) => `${x.amount}@${x.expiresAt}/${x.transferable}`).join(",");
      if (a !== b) findings.push({ code: "buckets", message: `${holder}: buckets on chain [${a}], replayed [${b}]` });
      holdersCompared++;
    }
    for (const [authId, r] of replay.authorizations) {
      const s = (await read("authorizationOf", [authId])) as { cap: bigint; charged: bigint; expiresAt: number; status: number };
      const status = ["none", "active", "revoked"][s.status];
      if (status !== r.status || s.cap !== r.cap || s.charged !== r.charged || BigInt(s.expiresAt) !== r.expiresAt) {
        findings.push({
          code: "authorization",
          message: `authorization ${authId}: chain ${status} ${s.charged}/${s.cap} ending ${s.expiresAt}, replayed ${r.status} ${r.charged}/${r.cap} ending ${r.expiresAt}`,
        });
      }
      authorizationsCompared++;
    }
    const version = (await read("priceVersion", [])) as bigint;
    if (version !== replay.priceVersion) findings.push({ code: "price-version", message: `priceVersion ${version} on chain, ${replay.priceVersion} replayed` });
  }
  return { replay, findings, events: events.length, holdersCompared, authorizationsCompared };
}
