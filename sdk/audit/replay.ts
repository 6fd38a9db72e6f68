/**
 * The audit's replay: rebuilds ComputeToken's state from its events and the AccessManager's, and
 * reports every event that breaks a rule the contract enforces as a finding. It dispatches each
 * event to the part that does one job:
 *   replay/ledger.ts      balances and supplies per lot, classified movements
 *   replay/matching.ts    within one transaction, the mints and burns each announcing event explains
 *   replay/lifecycles.ts  redemption lifecycles and their legal steps
 *   replay/roles.ts       the AccessManager's roles
 * and keeps here what the token's own events define: classes, lots, the allow-list, conversions.
 */
import { keccak256, type Address, type Hex, zeroAddress } from "viem";
import { PRIORITIES, unitsFor } from "../jobSpec.js";
import { decodeLotId, InvalidLotIdError, type LotParts } from "../lotId.js";
import type { AuditEvent, AuditEventPosition as Pos, TokenEvent } from "./events.js";
import { Ledger } from "./replay/ledger.js";
import { Lifecycles } from "./replay/lifecycles.js";
import { newTxContext, type TxContext, TxMatcher } from "./replay/matching.js";
import { Roles } from "./replay/roles.js";
import type { ClassState, Finding, Lifecycle, LotState, ReplayOptions } from "./replay/types.js";

export type * from "./replay/types.js";

const fmt = (n: bigint | number) => n.toLocaleString("en-US");
const short = (h: Hex) => `${h.slice(0, 10)}…`;

export class Replay {
  readonly token: Address;
  readonly manager: Address;
  readonly findings: Finding[] = [];
  readonly ledger: Ledger;
  /** Redemption lifecycles: `redemptionCount`, `statusCounts`. */
  readonly lifecycles: Lifecycles;
  /** The AccessManager's roles: members, labels, history, function roles, notes, whether the token is closed. */
  readonly roles: Roles;
  private readonly matcher: TxMatcher;

  /** holder → lot → units (the ledger's). */
  readonly balances: Map<Address, Map<bigint, bigint>>;
  readonly lotSupply: Map<bigint, bigint>;
  readonly lots = new Map<bigint, LotState>();
  readonly classLots = new Map<number, bigint[]>();
  readonly classes = new Map<number, ClassState>();
  /** Every account ever on the allow-list, and whether it is now. */
  readonly holders = new Map<Address, boolean>();
  readonly batchRefs = new Set<Hex>();
  /** Lost keys and the accounts they were recovered to (refunds of their redemptions follow). */
  readonly recoveredTo = new Map<Address, Address>();
  readonly multipliersBps: number[] = [0, 0, 0, 0];
  launchTimeout = 0;
  /** Each class's value (conversion rates derive from it): the one in force, the scheduled one and when it applies. */
  readonly classValues = new Map<number, { value: bigint; pending: bigint; effectiveAt: bigint }>();
  paused = false;
  authority: Address | undefined;

  events = 0;
  transactions = 0;
  lastTimestamp = 0n;
  lastBlock = 0n;

  constructor(opts: ReplayOptions) {
    this.token = opts.token;
    this.manager = opts.manager;
    const find = this.find.bind(this);
    this.ledger = new Ledger(find, opts.onMovement);
    this.lifecycles = new Lifecycles(find);
    this.roles = new Roles(opts.token, find);
    this.matcher = new TxMatcher(this);
    this.balances = this.ledger.balances;
    this.lotSupply = this.ledger.lotSupply;
  }

  // ───────────── public API ─────────────

  /** Applies one transaction's events (in log order). */
  applyTransaction(events: readonly AuditEvent[]): void {
    if (!events.length) return;
    this.transactions++;
    const ctx = newTxContext();
    for (const e of events) {
      this.events++;
      if (e.blockNumber < this.lastBlock) this.find("order", `events out of block order at block ${e.blockNumber}`, e);
      this.lastBlock = e.blockNumber;
      if (e.timestamp > this.lastTimestamp) this.lastTimestamp = e.timestamp;
      if (e.source === "token") this.applyToken(e, ctx);
      else this.roles.apply(e);
    }
    this.matcher.closeTransaction(ctx);
  }

  /** Redemptions that reached a final state since the last call (removed from memory). */
  takeTerminal(): Lifecycle[] {
    return this.lifecycles.takeTerminal();
  }

  /** Redemptions still in flight. */
  get redemptions(): Map<bigint, Lifecycle> {
    return this.lifecycles.redemptions;
  }

  balanceOf(holder: Address, lotId: bigint): bigint {
    return this.ledger.balanceOf(holder, lotId);
  }

  classSupply(classId: number): bigint {
    let total = 0n;
    for (const lotId of this.classLots.get(classId) ?? []) total += this.lotSupply.get(lotId) ?? 0n;
    return total;
  }

  /** Members of a role effective at `at` (unix seconds). */
  membersOf(roleId: bigint, at: bigint = this.lastTimestamp): Address[] {
    return this.roles.membersOf(roleId, at);
  }

  // ───────────── helpers ─────────────

  find(code: string, message: string, pos?: Partial<Pos>): void {
    const where = pos?.blockNumber !== undefined ? ` (block ${pos.blockNumber}${pos.transactionHash ? `, tx ${pos.transactionHash}` : ""})` : "";
    this.findings.push({ code, message: `${message}${where}`, blockNumber: pos?.blockNumber, txHash: pos?.transactionHash });
  }

  lotParts(lotId: bigint, pos: Pos): LotParts | undefined {
    try {
      return decodeLotId(lotId);
    } catch (e) {
      if (e instanceof InvalidLotIdError) this.find("lot", `units moved in malformed lot id ${lotId}`, pos);
      return undefined;
    }
  }

  private isHolder(a: Address): boolean {
    return this.holders.get(a) === true;
  }

  private checkNotPaused(what: string, pos: Pos): void {
    if (this.paused) this.find("paused", `${what} while the contract was paused`, pos);
  }

  // ───────────── ERC-1155 movements ─────────────

  private applyMovement(from: Address, to: Address, lotId: bigint, amount: bigint, e: TokenEvent, ctx: TxContext): void {
    const pos: Pos = e;
    if (from === zeroAddress && to === zeroAddress) {
      this.find("transfer", `a transfer from and to the zero address in lot ${lotId}`, pos);
      return;
    }
    if (from === zeroAddress) {
      this.ledger.mint(to, lotId, amount);
      this.matcher.classifyMint({ to, lotId, amount, pos }, ctx);
    } else if (to === zeroAddress) {
      this.ledger.burn(from, lotId, amount, pos);
      this.matcher.classifyBurn({ from, lotId, amount, pos }, ctx);
    } else {
      this.ledger.debit(from, lotId, amount, pos);
      this.ledger.credit(to, lotId, amount);
      const rec = ctx.recovered;
      if (rec && rec.lost === from && rec.replacement === to) {
        this.ledger.emit("recover-out", from, lotId, amount, pos, { counterparty: to });
        this.ledger.emit("recover-in", to, lotId, amount, pos, { counterparty: from });
        return;
      }
      this.checkTransfer(from, to, lotId, amount, pos);
      this.ledger.emit("transfer-out", from, lotId, amount, pos, { counterparty: to });
      this.ledger.emit("transfer-in", to, lotId, amount, pos, { counterparty: from });
    }
  }

  private checkTransfer(from: Address, to: Address, lotId: bigint, amount: bigint, pos: Pos): void {
    this.checkNotPaused(`a transfer of ${fmt(amount)} units`, pos);
    if (!this.isHolder(from)) this.find("allow-list", `${from} sent ${fmt(amount)} units of lot ${lotId} while not on the allow-list`, pos);
    if (!this.isHolder(to)) this.find("allow-list", `${to} received ${fmt(amount)} units of lot ${lotId} while not on the allow-list`, pos);
    const parts = this.lotParts(lotId, pos);
    if (!parts) return;
    if (parts.policy === "soulbound") this.find("transfer", `soulbound lot ${lotId} moved from ${from} to ${to}`, pos);
    if (pos.timestamp >= parts.expiresAt) this.find("transfer", `expired lot ${lotId} moved from ${from} to ${to}`, pos);
  }

  /** Where a refund of `holder`'s redemption goes: the holder, or the account it was recovered to (followed). */
  refundRecipient(holder: Address): Address {
    let to = holder;
    for (let hops = 0; hops <= 8 && !this.isHolder(to); hops++) {
      const next = this.recoveredTo.get(to);
      if (!next) break;
      to = next;
    }
    return to;
  }

  // ───────────── ComputeToken events ─────────────

  private applyToken(e: TokenEvent, ctx: TxContext): void {
    if (e.source !== "token") return;
    switch (e.eventName) {
      case "TransferSingle":
        this.applyMovement(e.args.from, e.args.to, e.args.id, e.args.value, e, ctx);
        return;
      case "TransferBatch": {
        const { ids, values } = e.args;
        if (ids.length !== values.length) this.find("transfer", `TransferBatch with ${ids.length} ids and ${values.length} values`, e);
        for (let i = 0; i < ids.length; i++) this.applyMovement(e.args.from, e.args.to, ids[i]!, values[i] ?? 0n, e, ctx);
        return;
      }
      case "BatchGranted":
        return this.onBatchGranted(e, ctx);
      case "ClassDefined": {
        const { classId, name, productLabel, memoryGiB, maxGpusPerJob } = e.args;
        if (classId !== this.classes.size + 1) this.find("class", `class ${classId} defined out of sequence (expected ${this.classes.size + 1})`, e);
        for (const c of this.classes.values()) if (c.name === name) this.find("class", `class name ${name} defined twice`, e);
        this.classes.set(classId, { classId, name, productLabel, memoryGiB, maxGpusPerJob, active: true });
        this.classLots.set(classId, []);
        return;
      }
      case "ClassUpdated": {
        const c = this.classes.get(e.args.classId);
        if (!c) return this.find("class", `update of unknown class ${e.args.classId}`, e);
        if (!c.active) this.find("class", `update of retired class ${c.name}`, e);
        Object.assign(c, { productLabel: e.args.productLabel, memoryGiB: e.args.memoryGiB, maxGpusPerJob: e.args.maxGpusPerJob });
        return;
      }
      case "ClassRetired": {
        const c = this.classes.get(e.args.classId);
        if (!c) return this.find("class", `retirement of unknown class ${e.args.classId}`, e);
        c.active = false;
        return;
      }
      case "LotRegistered": {
        const { lotId, classId, expiresAt, policy } = e.args;
        const parts = this.lotParts(lotId, e);
        if (parts && (parts.classId !== classId || parts.expiresAt !== expiresAt || parts.policy !== (policy === 0 ? "soulbound" : "transferable"))) {
          this.find("lot", `LotRegistered(${lotId}) fields do not match the id's encoding`, e);
        }
        if (this.lots.has(lotId)) this.find("lot", `lot ${lotId} registered twice`, e);
        if (!this.classes.has(classId)) this.find("lot", `lot ${lotId} registered in unknown class ${classId}`, e);
        if (parts) this.lots.set(lotId, { ...parts, lotId, registeredAt: e.timestamp });
        const list = this.classLots.get(classId) ?? [];
        list.push(lotId);
        this.classLots.set(classId, list);
        return;
      }
      case "HolderOnboarded":
        if (this.isHolder(e.args.account)) this.find("allow-list", `${e.args.account} onboarded twice`, e);
        this.holders.set(e.args.account, true);
        return;
      case "HolderOffboarded":
        if (!this.isHolder(e.args.account)) this.find("allow-list", `${e.args.account} offboarded while not on the allow-list`, e);
        this.holders.set(e.args.account, false);
        return;
      case "Expired": {
        const { holder, lotId, amount } = e.args;
        if (!this.matcher.claimBurn(ctx, holder, lotId, amount, "expiry", e)) return;
        const parts = this.lotParts(lotId, e);
        if (parts && e.timestamp < parts.expiresAt) this.find("expiry", `lot ${lotId} swept before its expiry`, e);
        if (this.ledger.balanceOf(holder, lotId) !== 0n) this.find("expiry", `sweep of lot ${lotId} left ${holder} with ${fmt(this.ledger.balanceOf(holder, lotId))} units`, e);
        this.ledger.emit("expire", holder, lotId, amount, e);
        return;
      }
      case "ClawedBack": {
        const { holder, lotId, amount } = e.args;
        if (!this.matcher.claimBurn(ctx, holder, lotId, amount, "clawback", e)) return;
        if (this.ledger.balanceOf(holder, lotId) !== 0n)
          this.find("clawback", `clawback of lot ${lotId} left ${holder} with ${fmt(this.ledger.balanceOf(holder, lotId))} units`, e);
        this.ledger.emit("clawback", holder, lotId, amount, e);
        return;
      }
      case "AccountRecovered": {
        const { lost, replacement } = e.args;
        if (!this.isHolder(replacement)) this.find("allow-list", `recovery to ${replacement}, which is not on the allow-list`, e);
        if (this.isHolder(lost)) this.find("allow-list", `recovered account ${lost} is still on the allow-list`, e);
        ctx.recovered = { lost, replacement, pos: e };
        this.recoveredTo.set(lost, replacement);
        return;
      }
      case "PriorityMultiplierSet":
        this.multipliersBps[e.args.priority] = e.args.bps;
        return;
      case "LaunchTimeoutSet":
        this.launchTimeout = e.args.launchTimeout;
        return;
      case "ClassValueScheduled": {
        const { classId, value, effectiveAt } = e.args;
        this.classValues.set(classId, { value: this.classValueAt(classId, e.timestamp), pending: value, effectiveAt });
        return;
      }
      case "Converted":
        return this.onConverted(e, ctx);
      case "RedemptionRequested":
        return this.onRequested(e, ctx);
      case "RedemptionRunning": {
        const life = this.lifecycles.transition(e.args.id, "running", e);
        if (life) life.jobRef = e.args.jobRef;
        return;
      }
      case "RedemptionSettled": {
        const { id, holder, used, refunded, receiptHash } = e.args;
        const life = this.lifecycles.transition(id, "settled", e);
        if (!life) return;
        this.lifecycles.checkHolder(life, holder, e);
        if (used > life.reserved) this.find("settle", `redemption ${id} settled ${fmt(used)} units used of ${fmt(life.reserved)} reserved`, e);
        if (used + refunded !== life.reserved) {
          this.find("settle", `redemption ${id}: refunded ${fmt(refunded)} ≠ reserved ${fmt(life.reserved)} − used ${fmt(used)}`, e);
        }
        life.used = used;
        life.receiptHash = receiptHash;
        return this.matcher.startRefund(ctx, life, refunded, e);
      }
      case "RedemptionRejected": {
        const { id, holder, reasonCode, refunded } = e.args;
        const life = this.lifecycles.transition(id, "rejected", e);
        if (!life) return;
        this.lifecycles.checkHolder(life, holder, e);
        life.reasonCode = reasonCode;
        if (refunded !== life.reserved) this.find("reject", `redemption ${id} rejected with a refund of ${fmt(refunded)}, not the ${fmt(life.reserved)} reserved`, e);
        return this.matcher.startRefund(ctx, life, refunded, e);
      }
      case "RedemptionReclaimed": {
        const { id, holder, refunded } = e.args;
        const life = this.lifecycles.transition(id, "reclaimed", e);
        if (!life) return;
        this.lifecycles.checkHolder(life, holder, e);
        const availableAt = life.requestedAt + BigInt(this.launchTimeout);
        if (e.timestamp < availableAt) {
          this.find("reclaim", `redemption ${id} reclaimed at ${e.timestamp}, before the launch timeout ended at ${availableAt}`, e);
        }
        if (refunded !== life.reserved) this.find("reclaim", `redemption ${id} reclaimed with a refund of ${fmt(refunded)}, not the ${fmt(life.reserved)} reserved`, e);
        return this.matcher.startRefund(ctx, life, refunded, e);
      }
      case "Paused":
        this.paused = true;
        return;
      case "Unpaused":
        this.paused = false;
        return;
      case "AuthorityUpdated":
        this.authority = e.args.authority;
        return;
      case "ApprovalForAll":
        this.find("approval", `operator approval set by ${e.args.account} although approvals are disabled`, e);
        return;
      case "URI":
        return;
      default:
        return;
    }
  }

  private onBatchGranted(e: Extract<TokenEvent, { eventName: "BatchGranted" }>, ctx: TxContext): void {
    const { batchRef, recipients, units } = e.args;
    this.checkNotPaused(`grant batch ${short(batchRef)}`, e);
    if (this.batchRefs.has(batchRef)) this.find("grant", `grant batch ${batchRef} landed twice`, e);
    this.batchRefs.add(batchRef);
    const mints = ctx.grantMints;
    ctx.grantMints = [];
    const sum = mints.reduce((s, m) => s + m.amount, 0n);
    if (BigInt(mints.length) !== recipients || sum !== units) {
      this.find("grant", `grant batch ${batchRef} announces ${fmt(recipients)} grants of ${fmt(units)} units; ${mints.length} mints of ${fmt(sum)} units were made`, e);
    }
    for (const m of mints) {
      if (!this.isHolder(m.to)) this.find("allow-list", `grant of ${fmt(m.amount)} units to ${m.to}, not on the allow-list`, m.pos);
      const lot = this.lots.get(m.lotId);
      if (!lot) this.find("grant", `grant into unregistered lot ${m.lotId}`, m.pos);
      else {
        const c = this.classes.get(lot.classId);
        if (!c?.active) this.find("grant", `grant into lot ${m.lotId} of inactive class ${lot.classId}`, m.pos);
        if (m.pos.timestamp >= lot.expiresAt) this.find("grant", `grant into expired lot ${m.lotId}`, m.pos);
      }
      this.ledger.emit("grant", m.to, m.lotId, m.amount, m.pos, { note: batchRef });
    }
  }

  private onConverted(e: Extract<TokenEvent, { eventName: "Converted" }>, ctx: TxContext): void {
    const { holder, fromLotId, toLotId, amountIn, amountOut } = e.args;
    this.checkNotPaused("a conversion", e);
    if (!this.isHolder(holder)) this.find("allow-list", `conversion by ${holder}, not on the allow-list`, e);
    if (this.matcher.claimBurn(ctx, holder, fromLotId, amountIn, "conversion", e)) {
      this.ledger.emit("convert-out", holder, fromLotId, amountIn, e, { note: `into lot ${toLotId}` });
    }
    const from = this.lotParts(fromLotId, e);
    const to = this.lotParts(toLotId, e);
    if (from && to) {
      if (from.expiresAt !== to.expiresAt || from.policy !== to.policy) {
        this.find("convert", `conversion from lot ${fromLotId} into lot ${toLotId} changed the expiry or transfer policy`, e);
      }
      if (e.timestamp >= from.expiresAt) this.find("convert", `conversion of expired lot ${fromLotId}`, e);
      const rate = { numerator: this.classValueAt(from.classId, e.timestamp), denominator: this.classValueAt(to.classId, e.timestamp) };
      if (rate.numerator === 0n || rate.denominator === 0n) this.find("convert", `conversion from class ${from.classId} to ${to.classId} without a rate`, e);
      else if (amountIn * rate.numerator !== amountOut * rate.denominator) {
        this.find(
          "convert",
          `conversion of ${fmt(amountIn)} units gave ${fmt(amountOut)}; the rate ${rate.numerator}/${rate.denominator} gives ${fmt((amountIn * rate.numerator) / rate.denominator)}`,
          e,
        );
      }
    }
    ctx.convertMint = { holder, lotId: toLotId, amount: amountOut, fromLotId, pos: e };
  }

  /** A class's value at a time, as the contract computes it (the scheduled value once its time has come). */
  classValueAt(classId: number, timestamp: bigint): bigint {
    const v = this.classValues.get(classId);
    if (!v) return 0n;
    return v.effectiveAt !== 0n && timestamp >= v.effectiveAt ? v.pending : v.value;
  }

  private onRequested(e: Extract<TokenEvent, { eventName: "RedemptionRequested" }>, ctx: TxContext): void {
    const { id, holder, classId, priority, gpus, seconds_, reserved, specHash, spec } = e.args;
    this.checkNotPaused(`redemption ${id}`, e);
    this.matcher.closeRequested(ctx);
    this.lifecycles.expectNext(id, e);
    if (!this.isHolder(holder)) this.find("allow-list", `redemption ${id} by ${holder}, not on the allow-list`, e);
    const c = this.classes.get(classId);
    if (!c) this.find("redeem", `redemption ${id} in unknown class ${classId}`, e);
    else {
      if (!c.active) this.find("redeem", `redemption ${id} in retired class ${c.name}`, e);
      if (gpus > c.maxGpusPerJob) this.find("redeem", `redemption ${id} asks for ${gpus} GPUs; class ${c.name} allows ${c.maxGpusPerJob}`, e);
    }
    if (keccak256(spec) !== specHash) this.find("redeem", `redemption ${id}: the spec bytes hash to ${keccak256(spec)}, the event says ${specHash}`, e);
    const bps = this.multipliersBps[priority] ?? 0;
    const expected = unitsFor(gpus, seconds_, bps);
    if (reserved !== expected) {
      this.find("redeem", `redemption ${id} reserved ${fmt(reserved)} units; ${gpus} GPUs × ${seconds_} s × ${bps} bps is ${fmt(expected)}`, e);
    }
    const life: Lifecycle = {
      id,
      holder,
      classId,
      priority: PRIORITIES[priority] ?? "normal",
      gpus,
      seconds: seconds_,
      reserved,
      specHash,
      lots: [],
      status: "requested",
      used: 0n,
      refunded: 0n,
      requestedAt: e.timestamp,
      history: [{ status: "requested", timestamp: e.timestamp, blockNumber: e.blockNumber, txHash: e.transactionHash }],
    };
    this.lifecycles.request(life, e);
    ctx.requested = { life, remaining: reserved };
  }
}
