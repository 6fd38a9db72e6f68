/**
 * Redemption lifecycles as the replay rebuilds them: each redemption's legal steps
 * (requested → running → settled, or rejected, or reclaimed), the counts per status, and the
 * redemptions that reached a final state (handed out once, then dropped from memory).
 */
import type { Address } from "viem";
import { REDEMPTION_STATUS_WORDS, type RedemptionStatusWord } from "../../redemptions.js";
import type { AuditEventPosition } from "../events.js";
import type { FindFn, Lifecycle } from "./types.js";

const TERMINAL: ReadonlySet<RedemptionStatusWord> = new Set(["settled", "rejected", "reclaimed"]);
const LEGAL_NEXT: Record<RedemptionStatusWord, readonly RedemptionStatusWord[]> = {
  none: ["requested"],
  requested: ["running", "rejected", "reclaimed"],
  running: ["settled", "rejected"],
  settled: [],
  rejected: [],
  reclaimed: [],
};

export class Lifecycles {
  /** Redemptions still in flight (terminal ones move to `terminal` until taken). */
  readonly redemptions = new Map<bigint, Lifecycle>();
  private terminal: Lifecycle[] = [];
  redemptionCount = 0n;
  readonly statusCounts = Object.fromEntries(REDEMPTION_STATUS_WORDS.map((s) => [s, 0])) as Record<RedemptionStatusWord, number>;

  constructor(private readonly find: FindFn) {}

  /** Redemption ids come in sequence. */
  expectNext(id: bigint, pos: AuditEventPosition): void {
    if (id !== this.redemptionCount + 1n) this.find("lifecycle", `redemption ${id} requested out of sequence (expected ${this.redemptionCount + 1n})`, pos);
    if (id > this.redemptionCount) this.redemptionCount = id;
  }

  /** A new redemption, requested at `pos`: each id once. */
  request(life: Lifecycle, pos: AuditEventPosition): void {
    const { id } = life;
    if (this.redemptions.has(id)) this.find("lifecycle", `redemption ${id} requested twice`, pos);
    this.redemptions.set(id, life);
    this.statusCounts.requested++;
  }

  /** Moves a redemption to `next`; a step the contract does not allow is a finding. */
  transition(id: bigint, next: RedemptionStatusWord, e: AuditEventPosition): Lifecycle | undefined {
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

  checkHolder(life: Lifecycle, holder: Address, pos: AuditEventPosition): void {
    if (holder !== life.holder) this.find("lifecycle", `redemption ${life.id} belongs to ${life.holder}, the event names ${holder}`, pos);
  }

  /** Called once a redemption's refund is matched: a final one leaves memory for `takeTerminal`. */
  settled(life: Lifecycle): void {
    if (!TERMINAL.has(life.status)) return;
    this.redemptions.delete(life.id);
    this.terminal.push(life);
  }

  /** Redemptions that reached a final state since the last call (removed from memory). */
  takeTerminal(): Lifecycle[] {
    const out = this.terminal;
    this.terminal = [];
    return out;
  }
}
