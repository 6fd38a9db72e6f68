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
 * price versions increase one by one; balances, buckets, usage debts, supply and authorizations equal the chain's.
 *
 * Usage debt: a charge that finds the holder's unexpired credits short (moved out or expired between the
 * serving and the batch) owes the rest (UsageDebtIncurred, counted in the authorization's `charged` and
 * its cap), and credits arriving later (a grant row or a transfer in) pay it first (UsageDebtPaid after
 * the arrival's own events, then a burn). The replay keeps each holder's debt and checks that a debt is
 * incurred only by a charge that emptied the holder's unexpired credits, that every arrival pays what is
 * owed (no more, no less) from the bucket it just filled, and that each event's `debt` is the replay's.
 */
import { type Address, type Hex, type PublicClient, decodeFunctionData, getAddress, verifyTypedData, zeroAddress } from "viem";
import { computeTokenAbi, inferenceCreditAbi } from "../generated/abi.js";
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

/** InferenceCredit's MAX_AMOUNT (2^96 − 1): a bucket's largest amount, and where a holder's debt saturates. */
const MAX_AMOUNT = 2n ** 96n - 1n;

export interface CreditTotals {
  granted: bigint;
  /** Usage paid: taken by charges, and debts paid from credits arriving later. */
  spent: bigint;
  expired: bigint;
  clawedBack: bigint;
  transferredIn: bigint;
  transferredOut: bigint;
  /**
   * Usage debt, incurred less paid: per holder over the whole history, what is still owed; over a
   * month, how much the debt grew (negative: was paid down). `spent + owed` is what authorizations charged.
   */
  owed: bigint;
}

const zero = (): CreditTotals => ({ granted: 0n, spent: 0n, expired: 0n, clawedBack: 0n, transferredIn: 0n, transferredOut: 0n, owed: 0n });

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
  /** Usage debt per holder (InferenceCredit's `usageDebtOf`); a holder appears once it has owed something. */
  readonly debts = new Map<Address, bigint>();
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
  /**
   * Charges that took and owed less than they asked within a live authorization's cap: right only if
   * the holder was offboarded then (auditCredits checks ComputeToken at that block; a finding if not).
   */
  readonly shortfalls: { holder: Address; authId: Hex; missing: bigint; blockNumber: bigint; txHash: Hex }[] = [];
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
    // Nothing arrives: no bucket (the contract plants none for a transfer of 0).
    if (amount === 0n) return;
    const list = this.buckets.get(holder) ?? [];
    const b = list.find((x) => x.expiresAt === expiresAt && x.transferable === transferable);
    if (b) b.amount += amount;
    else {
      list.push({ amount, expiresAt, transferable });
      list.sort((a, c) => (a.expiresAt !== c.expiresAt ? (a.expiresAt < c.expiresAt ? -1 : 1) : Number(a.transferable) - Number(c.transferable)));
    }
    this.buckets.set(holder, list);
  }

  /** The holder's usage debt in the replay. */
  debtOf(holder: Address): bigint {
    return this.debts.get(holder) ?? 0n;
  }

  /** Unexpired credits the replay holds for `holder` at `ts`. */
  private unexpired(holder: Address, ts: bigint): bigint {
    return (this.buckets.get(holder) ?? []).reduce((s, b) => (b.expiresAt > ts ? s + b.amount : s), 0n);
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
    // The batch a transaction's charges belong to (its event comes after them): whose gateway charged.
    const settled = events.find((e) => e.eventName === "UsageBatchSettled");
    let mints = 0n;
    let mintCount = 0n;
    let requested = 0n;
    let charged = 0n;
    let charges = 0n;
    // Usage debt within the transaction: what each arrival (holder, bucket) must pay of the holder's
    // debt, as replayed (its UsageDebtPaid follows the arrival's own events), and what the arrivals
    // not matched by their UsageDebtPaid yet will pay per holder; a UsageDebtIncurred waits for its UsageCharged.
    const toPay = new Map<string, { holder: Address; expiresAt: bigint; transferable: boolean; amount: bigint; arrived: bigint }>();
    const pending = new Map<Address, bigint>();
    let incurred: { holder: Address; authId: Hex; amount: bigint } | undefined;
    const bucketKey = (holder: Address, expiresAt: bigint, transferable: boolean) => `${holder}|${expiresAt}|${transferable}`;
    const arrive = (holder: Address, expiresAt: bigint, transferable: boolean, amount: bigint) => {
      if (amount === 0n) return;
      const owing = this.debtOf(holder) - (pending.get(holder) ?? 0n);
      if (owing <= 0n) return;
      const pay = amount < owing ? amount : owing;
      const k = bucketKey(holder, expiresAt, transferable);
      const p = toPay.get(k) ?? { holder, expiresAt, transferable, amount: 0n, arrived: 0n };
      p.amount += pay;
      p.arrived += amount;
      toPay.set(k, p);
      pending.set(holder, (pending.get(holder) ?? 0n) + pay);
    };
    for (let i = 0; i < events.length; i++) {
      const e = events[i];
      switch (e.eventName) {
        case "Transfer": {
          const { from, to, value } = e.args;
          if (from === zeroAddress) {
            if (!granted) this.finding("mint", `mint of ${value} to ${to} outside a grant batch`, tx);
            else {
              const holder = getAddress(to);
              const expiresAt = BigInt(granted.args.expiresAt);
              this.deposit(holder, expiresAt, granted.args.transferable, value);
              arrive(holder, expiresAt, granted.args.transferable, value);
              this.add(holder, ts, "granted", value);
              this.movements.push({
                holder,
                kind: "granted",
                amount: value,
                timestamp: ts,
                blockNumber: e.blockNumber,
                txHash: tx,
                expiresAt,
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
          // The buckets go; a usage debt stays (paid by credits arriving if the holder is allow-listed again).
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
          arrive(to, expiresAt, true, e.args.amount);
          this.add(from, ts, "transferredOut", e.args.amount);
          this.add(to, ts, "transferredIn", e.args.amount);
          this.movements.push({ holder: from, kind: "sent", amount: e.args.amount, timestamp: ts, blockNumber: e.blockNumber, txHash: tx, expiresAt, note: `to ${to}` });
          this.movements.push({ holder: to, kind: "received", amount: e.args.amount, timestamp: ts, blockNumber: e.blockNumber, txHash: tx, expiresAt, note: `from ${from}` });
          break;
        }
        case "UsageDebtPaid": {
          // Credits that just arrived (a grant row, or the parts of a transfer: their events came first)
          // paid the holder's debt: taken from the bucket they filled, then burnt.
          const holder = getAddress(e.args.holder);
          const { amount, debt, transferable } = e.args;
          const expiresAt = BigInt(e.args.expiresAt);
          const policy = transferable ? "transferable" : "soulbound";
          const k = bucketKey(holder, expiresAt, transferable);
          const expected = toPay.get(k);
          const owing = this.debtOf(holder);
          // What is owed once this payment is made, as replayed (each part of a transfer says what it left).
          const left = owing - (expected?.amount ?? 0n);
          const b = (this.buckets.get(holder) ?? []).find((x) => x.expiresAt === expiresAt && x.transferable === transferable);
          if (amount > owing) this.finding("debt-paid", `${holder}: paid ${amount} of a usage debt of ${owing} (more than it owed)`, tx);
          else if (amount !== (expected?.amount ?? 0n))
            this.finding(
              "debt-paid",
              expected
                ? `${holder}: ${expected.arrived} arriving in the ${policy} bucket expiring ${expiresAt} paid ${amount} of a usage debt of ${owing}; the replay has it pay ${expected.amount}`
                : `${holder}: paid ${amount} of its usage debt from the ${policy} bucket expiring ${expiresAt}, into which no credits arrived to pay it`,
              tx,
            );
          else if (!b || b.amount < amount)
            this.finding("debt-paid", `${holder}: paid ${amount} of its usage debt from the ${policy} bucket expiring ${expiresAt}, which held ${b?.amount ?? 0n}`, tx);
          if (debt !== left) this.finding("debt", `${holder}: usage debt after paying ${amount} is ${debt} on chain, ${left} replayed`, tx);
          const burn = events[i + 1];
          if (burn?.eventName !== "Transfer" || getAddress(burn.args.from) !== holder || burn.args.to !== zeroAddress || burn.args.value !== amount)
            this.finding("debt-paid", `${holder}: the ${amount} paid of its usage debt is not burnt next (Transfer to the zero address)`, tx);
          if (expected) {
            toPay.delete(k);
            pending.set(holder, (pending.get(holder) ?? 0n) - expected.amount);
          }
          const fromBucket = b ? (amount < b.amount ? amount : b.amount) : 0n;
          const fromDebt = amount < owing ? amount : owing;
          if (b) b.amount -= fromBucket;
          this.prune(holder);
          this.debts.set(holder, owing - fromDebt);
          this.add(holder, ts, "spent", fromBucket);
          this.add(holder, ts, "owed", -fromDebt);
          this.movements.push({
            holder,
            kind: "spent",
            amount: fromBucket,
            timestamp: ts,
            blockNumber: e.blockNumber,
            txHash: tx,
            expiresAt,
            note: "debt for usage served before",
          });
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
        case "UsageDebtIncurred": {
          // A charge found the holder's unexpired credits short: the rest is owed (its UsageCharged follows).
          const holder = getAddress(e.args.holder);
          const { authId, amount, debt } = e.args;
          if (incurred) this.finding("debt", `${incurred.holder}: usage debt of ${incurred.amount} incurred under ${incurred.authId} without its charge`, tx);
          const before = this.debtOf(holder);
          const after = before + amount > MAX_AMOUNT ? MAX_AMOUNT : before + amount;
          if (amount === 0n) this.finding("debt", `${holder}: a usage debt of 0 incurred under ${authId}`, tx);
          if (debt !== after) this.finding("debt", `${holder}: usage debt after owing ${amount} under ${authId} is ${debt} on chain, ${after} replayed`, tx);
          this.debts.set(holder, after);
          this.add(holder, ts, "owed", after - before);
          incurred = { holder, authId, amount };
          break;
        }
        case "UsageCharged": {
          const { authId, holder: h, requested: req, charged: taken } = e.args;
          const holder = getAddress(h);
          charges++;
          requested += req;
          charged += taken;
          this.charges.push({ batchId: e.args.batchId, authId, holder, requested: req, charged: taken, timestamp: ts });
          // What this charge owes (the UsageDebtIncurred just before it), beside what it took.
          let owed = 0n;
          if (incurred) {
            if (incurred.holder === holder && incurred.authId.toLowerCase() === authId.toLowerCase()) owed = incurred.amount;
            else
              this.finding("debt", `${incurred.holder}: usage debt of ${incurred.amount} incurred under ${incurred.authId}, followed by a charge of ${holder} under ${authId}`, tx);
            incurred = undefined;
          }
          const want = taken + owed;
          if (want > req) this.finding("charge", `charge under ${authId} took ${taken}${owed ? ` and owed ${owed}` : ""}, more than the ${req} requested`, tx);
          const auth = this.authorizations.get(authId);
          if (auth && auth.cap > 0n) {
            // An authorization charges its own holder, for its own gateway only.
            if (auth.holder !== holder) this.finding("charge", `charge of ${holder} under ${authId}, the authorization of ${auth.holder}`, tx);
            if (settled && getAddress(settled.args.gateway) !== auth.gateway)
              this.finding("charge", `charge under ${authId} (for gateway ${auth.gateway}) in a batch settled by ${getAddress(settled.args.gateway)}`, tx);
            // Within its grace, a charge takes or owes all it asks within the cap: less only if its holder
            // was not allow-listed (which InferenceCredit's events do not say; checked against ComputeToken
            // by auditCredits).
            const left = auth.cap > auth.charged ? auth.cap - auth.charged : 0n;
            const due = auth.expiresAt + SETTLEMENT_GRACE_S > ts ? (req < left ? req : left) : 0n;
            if (want < due) this.shortfalls.push({ holder, authId, missing: due - want, blockNumber: e.blockNumber, txHash: tx });
          }
          if (want > 0n) {
            const a = auth;
            if (!a || a.cap === 0n) this.finding("charge", `charge of ${want} under ${authId}, which is not activated`, tx);
            else {
              // Usage served until its end (expiry or revocation) is charged within the grace after it.
              if (a.expiresAt + SETTLEMENT_GRACE_S <= ts)
                this.finding(
                  "charge",
                  `charge of ${want} under ${authId} more than ${SETTLEMENT_GRACE_S} s after it ${a.status === "revoked" ? "was revoked or expired" : "expired"}`,
                  tx,
                );
              // Taken and owed alike count against the cap.
              a.charged += want;
              if (a.charged > a.cap) this.finding("cap", `authorization ${authId} of ${holder} charged ${a.charged}, over its cap of ${a.cap}`, tx);
            }
          }
          if (taken > 0n) {
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
          if (owed > 0n) {
            // Owed only by a charge that emptied the holder's unexpired credits.
            const still = this.unexpired(holder, ts);
            if (still > 0n) this.finding("debt", `${holder}: owed ${owed} under ${authId} while the replay still holds ${still} unexpired credits`, tx);
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
    if (incurred) this.finding("debt", `${incurred.holder}: usage debt of ${incurred.amount} incurred under ${incurred.authId} without its charge`, tx);
    // Credits that arrived while their holder owed, and paid nothing of it: the debt was forgiven.
    for (const p of toPay.values())
      this.finding(
        "debt-paid",
        `${p.holder}: ${p.arrived} arrived in the ${p.transferable ? "transferable" : "soulbound"} bucket expiring ${p.expiresAt} while it owed, and paid none of it (the replay has it pay ${p.amount})`,
        tx,
      );
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

/**
 * The replay's short charges (taken and owed less than due within a live authorization's cap) that
 * the holder's allow-listing does not explain: `isHolderAt` says whether it was a holder at the end of
 * a block, read before the batch's block and at its end (an offboarding in the same block may come
 * before or after the batch).
 */
export async function shortfallFindings(replay: CreditReplay, isHolderAt: (holder: Address, blockNumber: bigint) => Promise<boolean>): Promise<CreditFinding[]> {
  const out: CreditFinding[] = [];
  for (const s of replay.shortfalls) {
    const [before, after] = await Promise.all([isHolderAt(s.holder, s.blockNumber - 1n), isHolderAt(s.holder, s.blockNumber)]);
    if (before && after)
      out.push({
        code: "charge",
        message: `charge of ${s.holder} under ${s.authId} took and owed ${s.missing} less than it asked within the authorization's cap and grace, the holder being allow-listed`,
        txHash: s.txHash,
      });
  }
  return out;
}

export interface CreditAudit {
  replay: CreditReplay;
  findings: CreditFinding[];
  events: number;
  /** Holders whose buckets and usage debt were compared with the chain. */
  holdersCompared: number;
  authorizationsCompared: number;
}

/**
 * Fetches InferenceCredit's events up to `toBlock`, replays them (signatures re-verified from calldata)
 * and, with `compare`, checks buckets, usage debts, supply and authorizations against the chain at `toBlock`.
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
  // A charge short of what it was due is right only for a holder off the allow-list when it landed:
  // ComputeToken's `isHolder` before the batch's block and at its end (an offboarding in the same block
  // may come before or after the batch), read at those blocks.
  if (replay.shortfalls.length) {
    const registry = (await client.readContract({ address, abi: inferenceCreditAbi, functionName: "computeToken", blockNumber: toBlock })) as Address;
    findings.push(
      ...(await shortfallFindings(
        replay,
        (holder, blockNumber) => client.readContract({ address: registry, abi: computeTokenAbi, functionName: "isHolder", args: [holder], blockNumber }) as Promise<boolean>,
      )),
    );
  }
  let holdersCompared = 0;
  let authorizationsCompared = 0;
  if (opts.compare) {
    const read = (functionName: string, args: readonly unknown[]) =>
      client.readContract({ address, abi: inferenceCreditAbi, functionName, args, blockNumber: toBlock } as never) as Promise<unknown>;
    const supply = (await read("totalSupply", [])) as bigint;
    if (supply !== replay.liveSupply()) findings.push({ code: "supply", message: `totalSupply ${supply} on chain, ${replay.liveSupply()} replayed` });
    // Every holder the replay knows of: its buckets and its usage debt.
    const holders = new Set<Address>([...replay.buckets.keys(), ...replay.debts.keys(), ...[...replay.authorizations.values()].map((a) => a.holder)]);
    for (const holder of holders) {
      const [live, debt] = (await Promise.all([read("bucketsOf", [holder]), read("usageDebtOf", [holder])])) as [
        readonly { amount: bigint; expiresAt: number; transferable: boolean }[],
        bigint,
      ];
      const a = live.map((b) => `${b.amount}@${b.expiresAt}/${b.transferable}`).join(",");
      const b = (replay.buckets.get(holder) ?? []).map((x) => `${x.amount}@${x.expiresAt}/${x.transferable}`).join(",");
      if (a !== b) findings.push({ code: "buckets", message: `${holder}: buckets on chain [${a}], replayed [${b}]` });
      if (debt !== replay.debtOf(holder)) findings.push({ code: "debt", message: `${holder}: usageDebtOf ${debt} on chain, ${replay.debtOf(holder)} replayed` });
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
