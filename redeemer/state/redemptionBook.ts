/**
 * Every redemption the redeemer knows, keyed by id, with the bookkeeping the engine needs:
 * which records changed since it last looked (dirty), which wait for a back-off, and lookups by
 * holder. No I/O: events in, actions out, so it is tested without a chain or an executor.
 */
import type { Address } from "viem";
import { decide } from "./decide.js";
import { isTerminal, reduce } from "./reduce.js";
import type { Action, MachineConfig, MachineEvent, RedemptionRecord } from "./types.js";

export type RedemptionPhase = "requested" | "launching" | "running" | "settling" | "settled" | "rejected" | "reclaimed" | "gone";

/** The phase a record is in, for metrics and the API. */
export function phaseOf(r: RedemptionRecord): RedemptionPhase {
  switch (r.chain) {
    case "Settled":
      return "settled";
    case "Rejected":
      return "rejected";
    case "Reclaimed":
      return "reclaimed";
    case "None":
      return r.gone ? "gone" : "requested";
    case "Running":
      return r.job && (r.job.phase === "succeeded" || r.job.phase === "failed") ? "settling" : "running";
    case "Requested":
      return r.job || r.inflight === "launch" ? "launching" : "requested";
  }
}

const eventId = (e: MachineEvent): bigint => (e.type === "requested" ? e.request.id : e.type === "jobObserved" ? e.state.redemptionId : e.id);

export class RedemptionBook {
  private readonly records = new Map<bigint, RedemptionRecord>();
  private readonly byHolder = new Map<string, Set<bigint>>();
  private readonly dirty = new Set<bigint>();
  private readonly waiting = new Set<bigint>();
  /** Called with each record after it changes (metrics, API caches). */
  onChange?: (after: RedemptionRecord, before: RedemptionRecord | undefined) => void;

  constructor(readonly config: MachineConfig) {}

  get size(): number {
    return this.records.size;
  }

  get(id: bigint): RedemptionRecord | undefined {
    return this.records.get(id);
  }

  all(): IterableIterator<RedemptionRecord> {
    return this.records.values();
  }

  ofHolder(holder: Address): RedemptionRecord[] {
    const ids = this.byHolder.get(holder.toLowerCase());
    return ids ? [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map((id) => this.records.get(id)!) : [];
  }

  /** Ids with work not yet finished (not terminal, or a job still to remove). */
  open(): RedemptionRecord[] {
    return [...this.records.values()].filter((r) => !isTerminal(r.chain) && !r.gone);
  }

  apply(event: MachineEvent): RedemptionRecord {
    const id = eventId(event);
    const before = this.records.get(id);
    const after = reduce(before, event, this.config);
    if (after === before) return after;
    this.records.set(id, after);
    const holder = after.request?.holder;
    if (holder && !before?.request) {
      const key = holder.toLowerCase();
      let set = this.byHolder.get(key);
      if (!set) this.byHolder.set(key, (set = new Set()));
      set.add(id);
    }
    this.dirty.add(id);
    this.onChange?.(after, before);
    return after;
  }

  /**
   * The next action of every record that changed since the last call, or whose back-off has
   * expired. Records still waiting for a back-off are remembered and looked at again later.
   * `eligible` limits the decisions to some records (the engine, while the history is read).
   */
  takeActions(now: number, eligible?: (r: RedemptionRecord) => boolean): Action[] {
    const actions: Action[] = [];
    let ids = [...this.dirty];
    this.dirty.clear();
    // A record turned down is not kept: the change that makes it eligible marks it changed again
    // (and touchAll() marks everything), so it cannot be forgotten.
    if (eligible) ids = ids.filter((id) => eligible(this.records.get(id)!));
    for (const id of this.waiting) {
      const r = this.records.get(id)!;
      if (r.retryAt === undefined || r.retryAt <= now) {
        this.waiting.delete(id);
        ids.push(id);
      }
    }
    for (const id of ids) {
      const r = this.records.get(id)!;
      if (r.retryAt !== undefined && r.retryAt > now && !r.inflight) {
        this.waiting.add(id);
        continue;
      }
      const action = decide(r, now);
      if (action) actions.push(action);
    }
    return actions;
  }

  /** Marks every record for a fresh decision (after a resync). */
  touchAll(): void {
    for (const id of this.records.keys()) this.dirty.add(id);
  }

  /** The earliest pending back-off deadline, if any. */
  nextRetryAt(): number | undefined {
    let min: number | undefined;
    for (const id of this.waiting) {
      const at = this.records.get(id)?.retryAt;
      if (at !== undefined && (min === undefined || at < min)) min = at;
    }
    return min;
  }

  /** Counts by phase. */
  countByPhase(): Record<RedemptionPhase, number> {
    const counts: Record<RedemptionPhase, number> = { requested: 0, launching: 0, running: 0, settling: 0, settled: 0, rejected: 0, reclaimed: 0, gone: 0 };
    for (const r of this.records.values()) counts[phaseOf(r)]++;
    return counts;
  }
}
