/**
 * Matching within one transaction: the ERC-1155 mints and burns a transaction makes must each be
 * explained by the event that announces them (a grant batch, a redemption's reservation or refund,
 * a conversion, a clawback, an expiry). Burns and mints are held in the transaction's context until
 * the announcing event claims them; what is left when the transaction ends is a finding.
 */
import type { Address } from "viem";
import type { LotParts } from "../../lotId.js";
import { describeReason } from "../../reasons.js";
import type { AuditEventPosition } from "../events.js";
import type { Ledger } from "./ledger.js";
import type { Lifecycles } from "./lifecycles.js";
import type { FindFn, Lifecycle } from "./types.js";

/** ComputeToken's MAX_REFUND_GRACE: a refund into a lot expiring sooner than this may go to a later lot. */
const MAX_REFUND_GRACE = 30n * 86_400n;
const fmt = (n: bigint | number) => n.toLocaleString("en-US");

export type Mint = { to: Address; lotId: bigint; amount: bigint; pos: AuditEventPosition };
export type Burn = { from: Address; lotId: bigint; amount: bigint; pos: AuditEventPosition };

/** What one transaction has done so far that its announcing events have not yet claimed. */
export interface TxContext {
  grantMints: Mint[];
  pendingBurns: Burn[];
  requested?: { life: Lifecycle; remaining: bigint };
  refund?: { life: Lifecycle; remaining: bigint; back: Map<bigint, bigint>; pos: AuditEventPosition };
  convertMint?: { holder: Address; lotId: bigint; amount: bigint; fromLotId: bigint; pos: AuditEventPosition };
  recovered?: { lost: Address; replacement: Address; pos: AuditEventPosition };
}

export const newTxContext = (): TxContext => ({ grantMints: [], pendingBurns: [] });

/** What the matcher needs of the replay. */
export interface MatchingHost {
  find: FindFn;
  ledger: Ledger;
  lifecycles: Lifecycles;
  lotParts(lotId: bigint, pos: AuditEventPosition): LotParts | undefined;
  refundRecipient(holder: Address): Address;
}

export class TxMatcher {
  constructor(private readonly h: MatchingHost) {}

  /**
   * The drawn lot a refund into `lotId` stands for: the lot itself, or — for a lot that expired (or was
   * about to) when the refund landed — a drawn lot of the same class and policy that expires sooner.
   */
  refundedShare(back: Map<bigint, bigint>, lotId: bigint, pos: AuditEventPosition): bigint | undefined {
    if (back.has(lotId)) return lotId;
    const minted = this.h.lotParts(lotId, pos);
    if (!minted) return undefined;
    for (const [drawn, left] of back) {
      const d = this.h.lotParts(drawn, pos);
      if (d && left > 0n && d.classId === minted.classId && d.policy === minted.policy && d.expiresAt < minted.expiresAt && d.expiresAt < pos.timestamp + MAX_REFUND_GRACE)
        return drawn;
    }
    return undefined;
  }

  classifyMint(m: Mint, ctx: TxContext): void {
    const r = ctx.refund;
    if (r && m.to === this.h.refundRecipient(r.life.holder) && r.remaining > 0n) {
      const share = this.refundedShare(r.back, m.lotId, m.pos);
      const back = share === undefined ? undefined : r.back.get(share);
      if (back === undefined) {
        this.h.find("refund", `redemption ${r.life.id} refunded ${fmt(m.amount)} units into lot ${m.lotId}, which it did not draw from`, m.pos);
      } else if (m.amount > back) {
        this.h.find("refund", `redemption ${r.life.id} refunded ${fmt(m.amount)} units into lot ${m.lotId}, more than the ${fmt(back)} it drew`, m.pos);
      } else {
        r.back.set(share!, back - m.amount);
      }
      if (m.amount > r.remaining) {
        this.h.find("refund", `redemption ${r.life.id} refunded ${fmt(m.amount)} units, more than the ${fmt(r.remaining)} announced`, m.pos);
        r.remaining = 0n;
      } else r.remaining -= m.amount;
      const note = r.life.status === "rejected" && r.life.reasonCode !== undefined ? `rejected: ${describeReason(r.life.reasonCode)}` : r.life.status;
      this.h.ledger.emit("refund", m.to, m.lotId, m.amount, m.pos, { redemptionId: r.life.id, note });
      return;
    }
    const c = ctx.convertMint;
    if (c && c.holder === m.to && c.lotId === m.lotId) {
      if (c.amount !== m.amount) {
        this.h.find("convert", `conversion minted ${fmt(m.amount)} units of lot ${m.lotId}, the Converted event says ${fmt(c.amount)}`, m.pos);
      }
      ctx.convertMint = undefined;
      this.h.ledger.emit("convert-in", m.to, m.lotId, m.amount, m.pos, { note: `from lot ${c.fromLotId}` });
      return;
    }
    ctx.grantMints.push(m);
  }

  classifyBurn(b: Burn, ctx: TxContext): void {
    const r = ctx.requested;
    if (r && r.life.holder === b.from && r.remaining > 0n) {
      const parts = this.h.lotParts(b.lotId, b.pos);
      if (parts && parts.classId !== r.life.classId) {
        this.h.find("redeem", `redemption ${r.life.id} of class ${r.life.classId} burnt units of lot ${b.lotId} (class ${parts.classId})`, b.pos);
      }
      if (parts && b.pos.timestamp >= parts.expiresAt) {
        this.h.find("redeem", `redemption ${r.life.id} drew from expired lot ${b.lotId}`, b.pos);
      }
      if (b.amount > r.remaining) {
        this.h.find("redeem", `redemption ${r.life.id} burnt ${fmt(b.amount)} units, more than the ${fmt(r.remaining)} left to reserve`, b.pos);
        r.remaining = 0n;
      } else r.remaining -= b.amount;
      r.life.lots.push({ lotId: b.lotId, amount: b.amount });
      this.h.ledger.emit("redeem", b.from, b.lotId, b.amount, b.pos, { redemptionId: r.life.id });
      return;
    }
    ctx.pendingBurns.push(b);
  }

  /** Matches a burn announced by ClawedBack / Expired / Converted (the burn precedes it). */
  claimBurn(ctx: TxContext, holder: Address, lotId: bigint, amount: bigint, what: string, pos: AuditEventPosition): boolean {
    const i = ctx.pendingBurns.findIndex((b) => b.from === holder && b.lotId === lotId && b.amount === amount);
    if (i < 0) {
      this.h.find("burn", `${what} of ${fmt(amount)} units of lot ${lotId} from ${holder} without the matching burn`, pos);
      return false;
    }
    ctx.pendingBurns.splice(i, 1);
    return true;
  }

  /** Everything of the transaction left unexplained is a finding. */
  closeTransaction(ctx: TxContext): void {
    for (const m of ctx.grantMints) {
      this.h.find("mint", `${fmt(m.amount)} units of lot ${m.lotId} minted to ${m.to} with no grant, refund or conversion to explain them`, m.pos);
    }
    for (const b of ctx.pendingBurns) {
      this.h.find("burn", `${fmt(b.amount)} units of lot ${b.lotId} burnt from ${b.from} with no redemption, clawback, expiry or conversion to explain them`, b.pos);
    }
    this.closeRequested(ctx);
    this.closeRefund(ctx);
    if (ctx.convertMint) {
      this.h.find("convert", `conversion into lot ${ctx.convertMint.lotId} announced ${fmt(ctx.convertMint.amount)} units but none were minted`, ctx.convertMint.pos);
    }
  }

  closeRequested(ctx: TxContext): void {
    const r = ctx.requested;
    if (!r) return;
    if (r.remaining !== 0n) {
      this.h.find("redeem", `redemption ${r.life.id} reserved ${fmt(r.life.reserved)} units but burnt ${fmt(r.life.reserved - r.remaining)}`, r.life.history[0]);
    }
    ctx.requested = undefined;
  }

  closeRefund(ctx: TxContext): void {
    const r = ctx.refund;
    if (!r) return;
    if (r.remaining !== 0n) {
      this.h.find("refund", `redemption ${r.life.id} announced a refund of ${fmt(r.life.refunded)} units but ${fmt(r.life.refunded - r.remaining)} were minted back`, r.pos);
    }
    if (r.life.status === "settled") {
      // Used units are charged to the lots in draw order: what was not refunded into a lot was consumed from it.
      for (const share of r.life.lots) {
        // `back` started at the units drawn from each lot and lost what was refunded into it.
        const consumed = r.back.get(share.lotId) ?? 0n;
        if (consumed > 0n) this.h.ledger.emit("consume", r.life.holder, share.lotId, consumed, r.pos, { redemptionId: r.life.id });
      }
    }
    ctx.refund = undefined;
    this.h.lifecycles.settled(r.life);
  }

  startRefund(ctx: TxContext, life: Lifecycle, refunded: bigint, e: AuditEventPosition): void {
    this.closeRefund(ctx);
    life.refunded = refunded;
    const back = new Map<bigint, bigint>();
    for (const s of life.lots) back.set(s.lotId, (back.get(s.lotId) ?? 0n) + s.amount);
    ctx.refund = { life, remaining: refunded, back, pos: e };
  }
}
