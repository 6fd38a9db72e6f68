/**
 * The audit's core: rebuilds a deployment's whole state from its events alone — every holder's
 * balance in every lot, every lot's and class's supply, every redemption's lifecycle, the allow-list,
 * classes, configuration, and the role grants and revocations — and checks, transaction by
 * transaction, that every token movement is explained by the event that should accompany it and
 * that every lifecycle step is legal. Pure: no I/O; feed it decoded events in chain order.
 *
 * How a transaction's ERC-1155 movements are explained (the contract's emission order):
 *   grant        TransferSingle(0 → holder)…, BatchGranted(units, recipients)
 *   redeem       RedemptionRequested(reserved), TransferBatch(holder → 0, Σ = reserved)
 *   settle       RedemptionSettled(used, refunded), TransferBatch(0 → holder, Σ = refunded)
 *   reject       RedemptionRejected(refunded), TransferBatch(0 → holder, Σ = refunded)
 *   reclaim      RedemptionReclaimed(refunded), TransferBatch(0 → holder, Σ = refunded)
 *   clawback     TransferSingle(holder → 0), ClawedBack(same)
 *   sweep        TransferSingle(holder → 0), Expired(same)
 *   convert      TransferSingle(holder → 0), Converted, TransferSingle(0 → holder)
 *   recover      AccountRecovered(lost, replacement), TransferBatch(lost → replacement)
 *   transfer     TransferSingle/Batch(holder → holder)
 */
import { keccak256, zeroAddress, type Address, type Hex } from "viem";
import { decodeLotId, InvalidLotIdError, type LotParts } from "../lotId.js";
import { PRIORITIES, type PriorityName } from "../jobSpec.js";
import { describeReason } from "../reasons.js";
import type { AuditEvent, AuditEventPosition as EventPosition, ManagerEvent, TokenEvent } from "./events.js";

// ─────────────────────────────── types ───────────────────────────────

export const REDEMPTION_STATUSES = ["none", "requested", "running", "settled", "rejected", "reclaimed"] as const;
export type RedemptionStatusName = (typeof REDEMPTION_STATUSES)[number];

export interface Finding {
  /** Short category, e.g. "balance", "lifecycle", "bytecode", "receipt". */
  code: string;
  message: string;
  blockNumber?: bigint;
  txHash?: Hex;
}

export type MovementKind =
  | "grant"
  | "transfer-in"
  | "transfer-out"
  | "redeem"
  | "consume"
  | "refund"
  | "expire"
  | "clawback"
  | "convert-in"
  | "convert-out"
  | "recover-in"
  | "recover-out";

/** One classified change of a holder's position (consume is informational: units burnt at redeem and kept). */
export interface Movement {
  kind: MovementKind;
  holder: Address;
  lotId: bigint;
  classId: number;
  amount: bigint;
  counterparty?: Address;
  redemptionId?: bigint;
  note?: string;
  blockNumber: bigint;
  timestamp: bigint;
  txHash: Hex;
}

export interface LotShare {
  lotId: bigint;
  amount: bigint;
}

export interface StatusChange {
  status: RedemptionStatusName;
  timestamp: bigint;
  blockNumber: bigint;
  txHash: Hex;
}

export interface Lifecycle {
  id: bigint;
  holder: Address;
  classId: number;
  priority: PriorityName;
  gpus: number;
  seconds: number;
  reserved: bigint;
  specHash: Hex;
  /** Lots drawn from, in draw order. */
  lots: LotShare[];
  status: RedemptionStatusName;
  used: bigint;
  refunded: bigint;
  requestedAt: bigint;
  jobRef?: Hex;
  receiptHash?: Hex;
  reasonCode?: number;
  history: StatusChange[];
}

export interface ClassState {
  classId: number;
  name: string;
  productLabel: string;
  memoryGiB: number;
  maxGpusPerJob: number;
  active: boolean;
}

export interface LotState extends LotParts {
  lotId: bigint;
  registeredAt: bigint;
}

export interface RoleChange {
  action: "granted" | "revoked";
  roleId: bigint;
  account: Address;
  /** Execution delay of the grant (seconds). */
  delay?: number;
  /** Unix seconds from which the grant is effective. */
  since?: bigint;
  newMember?: boolean;
  blockNumber: bigint;
  timestamp: bigint;
  txHash: Hex;
}

export interface RoleMember {
  since: bigint;
  delay: number;
}

export interface ReplayOptions {
  token: Address;
  manager: Address;
  /** Called for every classified movement (reports and statements aggregate these). */
  onMovement?: (m: Movement) => void;
}

const TERMINAL: ReadonlySet<RedemptionStatusName> = new Set(["settled", "rejected", "reclaimed"]);
const LEGAL_NEXT: Record<RedemptionStatusName, readonly RedemptionStatusName[]> = {
  none: ["requested"],
  requested: ["running", "rejected", "reclaimed"],
  running: ["settled", "rejected"],
  settled: [],
  rejected: [],
  reclaimed: [],
};

const BPS = 10_000n;
/** ComputeToken's MAX_REFUND_GRACE: a refund into a lot expiring sooner than this may go to a later lot. */
const MAX_REFUND_GRACE = 30n * 86_400n;
const fmt = (n: bigint | number) => n.toLocaleString("en-US");
const short = (h: Hex) => `${h.slice(0, 10)}…`;

type Pos = EventPosition;
type Mint = { to: Address; lotId: bigint; amount: bigint; pos: Pos };
type Burn = { from: Address; lotId: bigint; amount: bigint; pos: Pos };

interface TxContext {
  grantMints: Mint[];
  pendingBurns: Burn[];
  requested?: { life: Lifecycle; remaining: bigint };
  refund?: { life: Lifecycle; remaining: bigint; back: Map<bigint, bigint>; pos: Pos };
  convertMint?: { holder: Address; lotId: bigint; amount: bigint; fromLotId: bigint; pos: Pos };
  recovered?: { lost: Address; replacement: Address; pos: Pos };
}

// ─────────────────────────────── replay ──────────────────────────────

export class Replay {
  readonly token: Address;
  readonly manager: Address;
  readonly findings: Finding[] = [];

  /** holder → lot → units. Pairs stay once touched (a zero is compared with the chain too). */
  readonly balances = new Map<Address, Map<bigint, bigint>>();
  readonly lotSupply = new Map<bigint, bigint>();
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
  /** Redemptions still in flight (terminal ones move to `terminal` until taken). */
  readonly redemptions = new Map<bigint, Lifecycle>();
  private terminal: Lifecycle[] = [];
  redemptionCount = 0n;
  readonly statusCounts: Record<RedemptionStatusName, number> = {
    none: 0,
    requested: 0,
    running: 0,
    settled: 0,
    rejected: 0,
    reclaimed: 0,
  };

  readonly roleMembers = new Map<bigint, Map<Address, RoleMember>>();
  readonly roleLabels = new Map<bigint, string>();
  readonly roleHistory: RoleChange[] = [];
  /** Selector → role required to call it on the token. */
  readonly functionRoles = new Map<Hex, bigint>();
  readonly managerNotes: string[] = [];
  targetClosed = false;

  events = 0;
  transactions = 0;
  lastTimestamp = 0n;
  lastBlock = 0n;
  private readonly onMovement?: (m: Movement) => void;

  constructor(opts: ReplayOptions) {
    this.token = opts.token;
    this.manager = opts.manager;
    this.onMovement = opts.onMovement;
  }

  // ───────────── public API ─────────────

  /** Applies one transaction's events (in log order). */
  applyTransaction(events: readonly AuditEvent[]): void {
    if (!events.length) return;
    this.transactions++;
    const ctx: TxContext = { grantMints: [], pendingBurns: [] };
    for (const e of events) {
      this.events++;
      if (e.blockNumber < this.lastBlock) this.find("order", `events out of block order at block ${e.blockNumber}`, e);
      this.lastBlock = e.blockNumber;
      if (e.timestamp > this.lastTimestamp) this.lastTimestamp = e.timestamp;
      if (e.source === "token") this.applyToken(e, ctx);
      else this.applyManager(e);
    }
    this.closeTransaction(ctx, events[events.length - 1]!);
  }

  /** Redemptions that reached a final state since the last call (removed from memory). */
  takeTerminal(): Lifecycle[] {
    const out = this.terminal;
    this.terminal = [];
    return out;
  }

  balanceOf(holder: Address, lotId: bigint): bigint {
    return this.balances.get(holder)?.get(lotId) ?? 0n;
  }

  classSupply(classId: number): bigint {
    let total = 0n;
    for (const lotId of this.classLots.get(classId) ?? []) total += this.lotSupply.get(lotId) ?? 0n;
    return total;
  }

  /** Members of a role effective at `at` (unix seconds). */
  membersOf(roleId: bigint, at: bigint = this.lastTimestamp): Address[] {
    return [...(this.roleMembers.get(roleId) ?? new Map()).entries()].filter(([, m]) => m.since <= at).map(([a]) => a);
  }

  // ───────────── helpers ─────────────

  private find(code: string, message: string, pos?: Partial<Pos>): void {
    const where = pos?.blockNumber !== undefined ? ` (block ${pos.blockNumber}${pos.transactionHash ? `, tx ${pos.transactionHash}` : ""})` : "";
    this.findings.push({ code, message: `${message}${where}`, blockNumber: pos?.blockNumber, txHash: pos?.transactionHash });
  }

  private lotParts(lotId: bigint, pos: Pos): LotParts | undefined {
    try {
      return decodeLotId(lotId);
    } catch (e) {
      if (e instanceof InvalidLotIdError) this.find("lot", `units moved in malformed lot id ${lotId}`, pos);
      return undefined;
    }
  }

  private emit(kind: MovementKind, holder: Address, lotId: bigint, amount: bigint, pos: Pos, extra: Partial<Movement> = {}) {
    if (!this.onMovement) return;
    const classId = Number((lotId >> 72n) & 0xffffffffn);
    this.onMovement({
      kind,
      holder,
      lotId,
      classId,
      amount,
      blockNumber: pos.blockNumber,
      timestamp: pos.timestamp,
      txHash: pos.transactionHash,
      ...extra,
    });
  }

  private credit(holder: Address, lotId: bigint, amount: bigint): void {
    let m = this.balances.get(holder);
    if (!m) this.balances.set(holder, (m = new Map()));
    m.set(lotId, (m.get(lotId) ?? 0n) + amount);
  }

  private debit(holder: Address, lotId: bigint, amount: bigint, pos: Pos): void {
    let m = this.balances.get(holder);
    if (!m) this.balances.set(holder, (m = new Map()));
    const have = m.get(lotId) ?? 0n;
    if (have < amount) {
      this.find("balance", `${holder} moved ${fmt(amount)} units of lot ${lotId} holding only ${fmt(have)}`, pos);
    }
    m.set(lotId, have - amount);
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
      this.credit(to, lotId, amount);
      this.lotSupply.set(lotId, (this.lotSupply.get(lotId) ?? 0n) + amount);
      this.classifyMint({ to, lotId, amount, pos }, ctx);
    } else if (to === zeroAddress) {
      this.debit(from, lotId, amount, pos);
      this.lotSupply.set(lotId, (this.lotSupply.get(lotId) ?? 0n) - amount);
      this.classifyBurn({ from, lotId, amount, pos }, ctx);
    } else {
      this.debit(from, lotId, amount, pos);
      this.credit(to, lotId, amount);
      const rec = ctx.recovered;
      if (rec && rec.lost === from && rec.replacement === to) {
        this.emit("recover-out", from, lotId, amount, pos, { counterparty: to });
        this.emit("recover-in", to, lotId, amount, pos, { counterparty: from });
        return;
      }
      this.checkTransfer(from, to, lotId, amount, pos);
      this.emit("transfer-out", from, lotId, amount, pos, { counterparty: to });
      this.emit("transfer-in", to, lotId, amount, pos, { counterparty: from });
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

  /**
   * The drawn lot a refund into `lotId` stands for: the lot itself, or — for a lot that expired (or was
   * about to) when the refund landed — a drawn lot of the same class and policy that expires sooner.
   */
  private refundedShare(back: Map<bigint, bigint>, lotId: bigint, pos: Pos): bigint | undefined {
    if (back.has(lotId)) return lotId;
    const minted = this.lotParts(lotId, pos);
    if (!minted) return undefined;
    for (const [drawn, left] of back) {
      const d = this.lotParts(drawn, pos);
      if (d && left > 0n && d.classId === minted.classId && d.policy === minted.policy && d.expiresAt < minted.expiresAt && d.expiresAt < pos.timestamp + MAX_REFUND_GRACE) return drawn;
    }
    return undefined;
  }

  private classifyMint(m: Mint, ctx: TxContext): void {
    const r = ctx.refund;
    if (r && m.to === this.refundRecipient(r.life.holder) && r.remaining > 0n) {
      const share = this.refundedShare(r.back, m.lotId, m.pos);
      const back = share === undefined ? undefined : r.back.get(share);
      if (back === undefined) {
        this.find("refund", `redemption ${r.life.id} refunded ${fmt(m.amount)} units into lot ${m.lotId}, which it did not draw from`, m.pos);
      } else if (m.amount > back) {
        this.find("refund", `redemption ${r.life.id} refunded ${fmt(m.amount)} units into lot ${m.lotId}, more than the ${fmt(back)} it drew`, m.pos);
      } else {
        r.back.set(share!, back - m.amount);
      }
      if (m.amount > r.remaining) {
        this.find("refund", `redemption ${r.life.id} refunded ${fmt(m.amount)} units, more than the ${fmt(r.remaining)} announced`, m.pos);
        r.remaining = 0n;
      } else r.remaining -= m.amount;
      const note = r.life.status === "rejected" && r.life.reasonCode !== undefined ? `rejected: ${describeReason(r.life.reasonCode)}` : r.life.status;
      this.emit("refund", m.to, m.lotId, m.amount, m.pos, { redemptionId: r.life.id, note });
      return;
    }
    const c = ctx.convertMint;
    if (c && c.holder === m.to && c.lotId === m.lotId) {
      if (c.amount !== m.amount) {
        this.find("convert", `conversion minted ${fmt(m.amount)} units of lot ${m.lotId}, the Converted event says ${fmt(c.amount)}`, m.pos);
      }
      ctx.convertMint = undefined;
      this.emit("convert-in", m.to, m.lotId, m.amount, m.pos, { note: `from lot ${c.fromLotId}` });
      return;
    }
    ctx.grantMints.push(m);
  }

  private classifyBurn(b: Burn, ctx: TxContext): void {
    const r = ctx.requested;
    if (r && r.life.holder === b.from && r.remaining > 0n) {
      const parts = this.lotParts(b.lotId, b.pos);
      if (parts && parts.classId !== r.life.classId) {
        this.find("redeem", `redemption ${r.life.id} of class ${r.life.classId} burnt units of lot ${b.lotId} (class ${parts.classId})`, b.pos);
      }
      if (parts && b.pos.timestamp >= parts.expiresAt) {
        this.find("redeem", `redemption ${r.life.id} drew from expired lot ${b.lotId}`, b.pos);
      }
      if (b.amount > r.remaining) {
        this.find("redeem", `redemption ${r.life.id} burnt ${fmt(b.amount)} units, more than the ${fmt(r.remaining)} left to reserve`, b.pos);
        r.remaining = 0n;
      } else r.remaining -= b.amount;
      r.life.lots.push({ lotId: b.lotId, amount: b.amount });
      this.emit("redeem", b.from, b.lotId, b.amount, b.pos, { redemptionId: r.life.id });
      return;
    }
    ctx.pendingBurns.push(b);
  }

  /** Matches a burn announced by ClawedBack / Expired / Converted (the burn precedes it). */
  private claimBurn(ctx: TxContext, holder: Address, lotId: bigint, amount: bigint, what: string, pos: Pos): boolean {
    const i = ctx.pendingBurns.findIndex((b) => b.from === holder && b.lotId === lotId && b.amount === amount);
    if (i < 0) {
      this.find("burn", `${what} of ${fmt(amount)} units of lot ${lotId} from ${holder} without the matching burn`, pos);
      return false;
    }
    ctx.pendingBurns.splice(i, 1);
    return true;
  }

  private closeTransaction(ctx: TxContext, last: Pos): void {
    for (const m of ctx.grantMints) {
      this.find("mint", `${fmt(m.amount)} units of lot ${m.lotId} minted to ${m.to} with no grant, refund or conversion to explain them`, m.pos);
    }
    for (const b of ctx.pendingBurns) {
      this.find("burn", `${fmt(b.amount)} units of lot ${b.lotId} burnt from ${b.from} with no redemption, clawback, expiry or conversion to explain them`, b.pos);
    }
    this.closeRequested(ctx);
    this.closeRefund(ctx);
    if (ctx.convertMint) {
      this.find("convert", `conversion into lot ${ctx.convertMint.lotId} announced ${fmt(ctx.convertMint.amount)} units but none were minted`, ctx.convertMint.pos);
    }
    void last;
  }


  private closeRequested(ctx: TxContext): void {
    const r = ctx.requested;
    if (!r) return;
    if (r.remaining !== 0n) {
      this.find("redeem", `redemption ${r.life.id} reserved ${fmt(r.life.reserved)} units but burnt ${fmt(r.life.reserved - r.remaining)}`, r.life.history[0]);
    }
    ctx.requested = undefined;
  }

  private closeRefund(ctx: TxContext): void {
    const r = ctx.refund;
    if (!r) return;
    if (r.remaining !== 0n) {
      this.find("refund", `redemption ${r.life.id} announced a refund of ${fmt(r.life.refunded)} units but ${fmt(r.life.refunded - r.remaining)} were minted back`, r.pos);
    }
    if (r.life.status === "settled") {
      // Used units are charged to the lots in draw order: what was not refunded into a lot was consumed from it.
      for (const share of r.life.lots) {
        // `back` started at the units drawn from each lot and lost what was refunded into it.
        const consumed = r.back.get(share.lotId) ?? 0n;
        if (consumed > 0n) this.emit("consume", r.life.holder, share.lotId, consumed, r.pos, { redemptionId: r.life.id });
      }
    }
    ctx.refund = undefined;
    if (TERMINAL.has(r.life.status)) {
      this.redemptions.delete(r.life.id);
      this.terminal.push(r.life);
    }
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
        if (!this.claimBurn(ctx, holder, lotId, amount, "expiry", e)) return;
        const parts = this.lotParts(lotId, e);
        if (parts && e.timestamp < parts.expiresAt) this.find("expiry", `lot ${lotId} swept before its expiry`, e);
        if (this.balanceOf(holder, lotId) !== 0n) this.find("expiry", `sweep of lot ${lotId} left ${holder} with ${fmt(this.balanceOf(holder, lotId))} units`, e);
        this.emit("expire", holder, lotId, amount, e);
        return;
      }
      case "ClawedBack": {
        const { holder, lotId, amount } = e.args;
        if (!this.claimBurn(ctx, holder, lotId, amount, "clawback", e)) return;
        if (this.balanceOf(holder, lotId) !== 0n) this.find("clawback", `clawback of lot ${lotId} left ${holder} with ${fmt(this.balanceOf(holder, lotId))} units`, e);
        this.emit("clawback", holder, lotId, amount, e);
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
        const life = this.transition(e.args.id, "running", e);
        if (life) life.jobRef = e.args.jobRef;
        return;
      }
      case "RedemptionSettled": {
        const { id, holder, used, refunded, receiptHash } = e.args;
        const life = this.transition(id, "settled", e);
        if (!life) return;
        this.checkHolder(life, holder, e);
        if (used > life.reserved) this.find("settle", `redemption ${id} settled ${fmt(used)} units used of ${fmt(life.reserved)} reserved`, e);
        if (used + refunded !== life.reserved) {
          this.find("settle", `redemption ${id}: refunded ${fmt(refunded)} ≠ reserved ${fmt(life.reserved)} − used ${fmt(used)}`, e);
        }
        life.used = used;
        life.receiptHash = receiptHash;
        return this.startRefund(ctx, life, refunded, e);
      }
      case "RedemptionRejected": {
        const { id, holder, reasonCode, refunded } = e.args;
        const life = this.transition(id, "rejected", e);
        if (!life) return;
        this.checkHolder(life, holder, e);
        life.reasonCode = reasonCode;
        if (refunded !== life.reserved) this.find("reject", `redemption ${id} rejected with a refund of ${fmt(refunded)}, not the ${fmt(life.reserved)} reserved`, e);
        return this.startRefund(ctx, life, refunded, e);
      }
      case "RedemptionReclaimed": {
        const { id, holder, refunded } = e.args;
        const life = this.transition(id, "reclaimed", e);
        if (!life) return;
        this.checkHolder(life, holder, e);
        const availableAt = life.requestedAt + BigInt(this.launchTimeout);
        if (e.timestamp < availableAt) {
          this.find("reclaim", `redemption ${id} reclaimed at ${e.timestamp}, before the launch timeout ended at ${availableAt}`, e);
        }
        if (refunded !== life.reserved) this.find("reclaim", `redemption ${id} reclaimed with a refund of ${fmt(refunded)}, not the ${fmt(life.reserved)} reserved`, e);
        return this.startRefund(ctx, life, refunded, e);
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

  private checkHolder(life: Lifecycle, holder: Address, pos: Pos): void {
    if (holder !== life.holder) this.find("lifecycle", `redemption ${life.id} belongs to ${life.holder}, the event names ${holder}`, pos);
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
      this.emit("grant", m.to, m.lotId, m.amount, m.pos, { note: batchRef });
    }
  }

  private onConverted(e: Extract<TokenEvent, { eventName: "Converted" }>, ctx: TxContext): void {
    const { holder, fromLotId, toLotId, amountIn, amountOut } = e.args;
    this.checkNotPaused("a conversion", e);
    if (!this.isHolder(holder)) this.find("allow-list", `conversion by ${holder}, not on the allow-list`, e);
    if (this.claimBurn(ctx, holder, fromLotId, amountIn, "conversion", e)) {
      this.emit("convert-out", holder, fromLotId, amountIn, e, { note: `into lot ${toLotId}` });
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
        this.find("convert", `conversion of ${fmt(amountIn)} units gave ${fmt(amountOut)}; the rate ${rate.numerator}/${rate.denominator} gives ${fmt((amountIn * rate.numerator) / rate.denominator)}`, e);
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
    this.closeRequested(ctx);
    if (id !== this.redemptionCount + 1n) this.find("lifecycle", `redemption ${id} requested out of sequence (expected ${this.redemptionCount + 1n})`, e);
    if (id > this.redemptionCount) this.redemptionCount = id;
    if (!this.isHolder(holder)) this.find("allow-list", `redemption ${id} by ${holder}, not on the allow-list`, e);
    const c = this.classes.get(classId);
    if (!c) this.find("redeem", `redemption ${id} in unknown class ${classId}`, e);
    else {
      if (!c.active) this.find("redeem", `redemption ${id} in retired class ${c.name}`, e);
      if (gpus > c.maxGpusPerJob) this.find("redeem", `redemption ${id} asks for ${gpus} GPUs; class ${c.name} allows ${c.maxGpusPerJob}`, e);
    }
    if (keccak256(spec) !== specHash) this.find("redeem", `redemption ${id}: the spec bytes hash to ${keccak256(spec)}, the event says ${specHash}`, e);
    const bps = BigInt(this.multipliersBps[priority] ?? 0);
    const expected = (BigInt(gpus) * BigInt(seconds_) * bps + BPS - 1n) / BPS;
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
    if (this.redemptions.has(id)) this.find("lifecycle", `redemption ${id} requested twice`, e);
    this.redemptions.set(id, life);
    this.statusCounts.requested++;
    ctx.requested = { life, remaining: reserved };
  }

  private transition(id: bigint, next: RedemptionStatusName, e: Pos): Lifecycle | undefined {
    const life = this.redemptions.get(id);
    if (!life) {
      this.find("lifecycle", `redemption ${id} moved to ${next} but it is unknown or already final`, e);
      return undefined;
    }
    if (!LEGAL_NEXT[life.status].includes(next)) {
      this.find("lifecycle", `redemption ${id} moved from ${life.status} to ${next}, which is not a legal step`, e);
    }
    this.statusCounts[life.status]--;
    this.statusCounts[next]++;
    life.status = next;
    life.history.push({ status: next, timestamp: e.timestamp, blockNumber: e.blockNumber, txHash: e.transactionHash });
    return life;
  }

  private startRefund(ctx: TxContext, life: Lifecycle, refunded: bigint, e: Pos): void {
    this.closeRefund(ctx);
    life.refunded = refunded;
    const back = new Map<bigint, bigint>();
    for (const s of life.lots) back.set(s.lotId, (back.get(s.lotId) ?? 0n) + s.amount);
    ctx.refund = { life, remaining: refunded, back, pos: e };
  }

  // ───────────── AccessManager events ─────────────

  private applyManager(e: ManagerEvent): void {
    switch (e.eventName) {
      case "RoleGranted": {
        const { roleId, account, delay, since, newMember } = e.args;
        let members = this.roleMembers.get(roleId);
        if (!members) this.roleMembers.set(roleId, (members = new Map()));
        members.set(account, { since: BigInt(since), delay });
        this.roleHistory.push({ action: "granted", roleId, account, delay, since: BigInt(since), newMember, blockNumber: e.blockNumber, timestamp: e.timestamp, txHash: e.transactionHash });
        return;
      }
      case "RoleRevoked": {
        const { roleId, account } = e.args;
        if (!this.roleMembers.get(roleId)?.delete(account)) this.find("roles", `role ${roleId} revoked from ${account}, who did not hold it`, e);
        this.roleHistory.push({ action: "revoked", roleId, account, blockNumber: e.blockNumber, timestamp: e.timestamp, txHash: e.transactionHash });
        return;
      }
      case "RoleLabel":
        this.roleLabels.set(e.args.roleId, e.args.label);
        return;
      case "TargetFunctionRoleUpdated":
        if (e.args.target === this.token) this.functionRoles.set(e.args.selector, e.args.roleId);
        return;
      case "TargetClosed":
        if (e.args.target === this.token) {
          this.targetClosed = e.args.closed;
          this.managerNotes.push(`block ${e.blockNumber}: ComputeToken ${e.args.closed ? "closed" : "reopened"} by the AccessManager admin`);
        }
        return;
      case "RoleAdminChanged":
        this.managerNotes.push(`block ${e.blockNumber}: admin of role ${e.args.roleId} set to role ${e.args.admin}`);
        return;
      case "RoleGuardianChanged":
        this.managerNotes.push(`block ${e.blockNumber}: guardian of role ${e.args.roleId} set to role ${e.args.guardian}`);
        return;
      case "RoleGrantDelayChanged":
        this.managerNotes.push(`block ${e.blockNumber}: grant delay of role ${e.args.roleId} set to ${e.args.delay} s`);
        return;
      case "TargetAdminDelayUpdated":
        this.managerNotes.push(`block ${e.blockNumber}: admin delay of ${e.args.target} set to ${e.args.delay} s`);
        return;
      default:
        return;
    }
  }
}

/** The on-chain enum value of a status name. */
export const statusIndex = (s: RedemptionStatusName): number => REDEMPTION_STATUSES.indexOf(s);
