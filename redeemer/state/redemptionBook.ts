/**
 * The redemptions the redeemer has in hand, keyed by id, with the bookkeeping the engine needs:
 * which records changed since it last looked (dirty), which wait for a back-off, and lookups by
 * holder. No I/O: events in, actions out, so it is tested without a chain or an executor.
 *
 * Memory does not grow with all of history. A redemption whose end (settled, rejected,
 * reclaimed) has been read from a confirmed log, with nothing left to do (no action in flight, no
 * job to remove), is "done". The `keepDone` most recent done records stay in full (the API shows
 * them as they were); older ones are dropped, leaving one byte (their final status, in an array
 * indexed by id: ids are sequential) and a count per status. A dropped redemption is answered
 * from the chain on demand (redeemer/watcher/redemptionArchive.ts); an event about it later —
 * its request read again, a job of it seen in the executor — is handled as if the record were
 * still there: the request is ignored (it is over), a job brings the record back so that the job
 * can be removed.
 */
import type { Address } from "viem";
import { decide } from "./decide.js";
import { emptyRecord, isTerminal, isFinishedPhase, reduce } from "./reduce.js";
import type { RedemptionStatusName } from "../../sdk/redemptions.js";
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

/** A dropped redemption's final status, one byte per id (0: not dropped). */
const DONE_CODES = { Settled: 1, Rejected: 2, Reclaimed: 3 } as const;
const DONE_STATUS: readonly (RedemptionStatusName | undefined)[] = [undefined, "Settled", "Rejected", "Reclaimed"];
/** Ids above this are kept in memory rather than indexed (ids are sequential from 1). */
const MAX_INDEXED_ID = 2n ** 31n;

export type DoneCounts = { settled: number; rejected: number; reclaimed: number };

export interface RedemptionBookOptions {
  /** Done redemptions kept in memory in full, the most recent ones (default 1,000). */
  keepDone?: number;
}

/** Over on-chain as a confirmed log says, and nothing left for the redeemer to do. */
export function isDone(r: RedemptionRecord): boolean {
  if (!r.logged || !isTerminal(r.logged) || r.inflight) return false;
  return !(r.job && !isFinishedPhase(r.job.phase) && !r.removed);
}

export class RedemptionBook {
  private readonly records = new Map<bigint, RedemptionRecord>();
  private readonly byHolder = new Map<string, Set<bigint>>();
  private readonly dirty = new Set<bigint>();
  private readonly waiting = new Set<bigint>();
  /** Done records still in memory, oldest first. */
  private readonly doneOrder = new Set<bigint>();
  private dropped = new Uint8Array(1024);
  private readonly droppedCounts: DoneCounts = { settled: 0, rejected: 0, reclaimed: 0 };
  readonly keepDone: number;
  /**
   * True while the history is read at start-up: a redemption known only from its logs (no request
   * read yet, no job) that they say is over is dropped at once, instead of being kept among the
   * `keepDone` most recent — this process did nothing for it, and the API reads it from the chain
   * on demand. Memory during the read then holds the redemptions in flight, not a trail of ones over.
   */
  historyRead = false;
  /** Called with each record after it changes (metrics, API caches). */
  onChange?: (after: RedemptionRecord, before: RedemptionRecord | undefined) => void;

  constructor(
    readonly config: MachineConfig,
    options: RedemptionBookOptions = {},
  ) {
    this.keepDone = options.keepDone ?? 1_000;
  }

  /** Redemptions in memory. */
  get size(): number {
    return this.records.size;
  }

  /** Redemptions dropped from memory, by final status (since the start, or the checkpoint's). */
  get droppedCount(): DoneCounts {
    return { ...this.droppedCounts };
  }

  /**
   * The final status of every redemption over (dropped or not), one byte per id (0: not over, 1
   * settled, 2 rejected, 3 reclaimed), with the counts: what a checkpoint keeps of them.
   */
  doneStatuses(): { statuses: Uint8Array; counts: DoneCounts } {
    let last = this.dropped.length - 1;
    for (const id of this.doneOrder) if (id < MAX_INDEXED_ID && Number(id) > last) last = Number(id);
    const statuses = new Uint8Array(last + 1);
    statuses.set(this.dropped);
    const counts = { ...this.droppedCounts };
    for (const id of this.doneOrder) {
      const r = this.records.get(id)!;
      if (id <= 0n || id >= MAX_INDEXED_ID) continue;
      const status = r.logged as keyof typeof DONE_CODES;
      statuses[Number(id)] = DONE_CODES[status];
      counts[status.toLowerCase() as keyof DoneCounts]++;
    }
    return { statuses, counts };
  }

  /**
   * Takes the redemptions over from a checkpoint (statuses as `doneStatuses()` gives them) as
   * dropped; one already in memory (a job of it seen first) learns its status instead.
   */
  restoreDone(statuses: Uint8Array, at: number): void {
    this.growTo(statuses.length - 1);
    for (let i = 1; i < statuses.length; i++) {
      const code = statuses[i]!;
      const status = DONE_STATUS[code];
      if (!status || this.dropped[i]) continue;
      const id = BigInt(i);
      if (this.records.has(id)) this.apply({ type: "chainStatus", id, status, at, source: "log" });
      else {
        this.dropped[i] = code;
        this.droppedCounts[status.toLowerCase() as keyof DoneCounts]++;
      }
    }
  }

  private growTo(i: number): void {
    if (i < this.dropped.length) return;
    let n = this.dropped.length;
    while (n <= i) n *= 2;
    const grown = new Uint8Array(n);
    grown.set(this.dropped);
    this.dropped = grown;
  }

  /** The final status of a redemption dropped from memory, if it was. */
  droppedStatus(id: bigint): RedemptionStatusName | undefined {
    if (id <= 0n || id >= MAX_INDEXED_ID) return undefined;
    const i = Number(id);
    return i < this.dropped.length ? DONE_STATUS[this.dropped[i]!] : undefined;
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
    let before = this.records.get(id);
    if (!before) {
      const status = this.droppedStatus(id);
      if (status) {
        const stub: RedemptionRecord = { ...emptyRecord(id), chain: status, logged: status, lookedUp: true };
        // Its request or its end read again: it is over, nothing to learn.
        if (event.type === "requested" || event.type === "chainStatus") return stub;
        // Anything else (a job of it seen): back in memory until there is nothing left to do.
        this.undrop(id, status);
        before = stub;
      }
    }
    const after = reduce(before, event, this.config);
    if (after === before) return after;
    if (this.historyRead && !after.request && !after.job && isDone(after) && id > 0n && id < MAX_INDEXED_ID) {
      this.onChange?.(after, before);
      if (before) {
        this.records.delete(id);
        this.dirty.delete(id);
        this.waiting.delete(id);
        this.doneOrder.delete(id);
      }
      this.markDropped(id, after);
      return after;
    }
    this.records.set(id, after);
    const holder = after.request?.holder;
    if (holder && !before?.request) {
      const key = holder.toLowerCase();
      let set = this.byHolder.get(key);
      if (!set) {
        set = new Set();
        this.byHolder.set(key, set);
      }
      set.add(id);
    }
    this.dirty.add(id);
    this.onChange?.(after, before);
    if (isDone(after)) {
      if (!this.doneOrder.has(id)) {
        this.doneOrder.add(id);
        if (this.doneOrder.size > this.keepDone) this.dropOldest();
      }
    } else this.doneOrder.delete(id);
    return after;
  }

  private dropOldest(): void {
    const id: bigint = this.doneOrder.values().next().value!;
    const r = this.records.get(id)!;
    if (id <= 0n || id >= MAX_INDEXED_ID) {
      // Not indexable: it stays (never happens with the contract's sequential ids).
      this.doneOrder.delete(id);
      return;
    }
    this.doneOrder.delete(id);
    this.records.delete(id);
    this.dirty.delete(id);
    this.waiting.delete(id);
    const holder = r.request?.holder.toLowerCase();
    if (holder) {
      const set = this.byHolder.get(holder);
      set?.delete(id);
      if (set?.size === 0) this.byHolder.delete(holder);
    }
    this.markDropped(id, r);
  }

  private markDropped(id: bigint, r: RedemptionRecord): void {
    const status = r.logged as keyof typeof DONE_CODES;
    const i = Number(id);
    this.growTo(i);
    this.dropped[i] = DONE_CODES[status];
    this.droppedCounts[status.toLowerCase() as keyof DoneCounts]++;
  }

  private undrop(id: bigint, status: RedemptionStatusName): void {
    this.dropped[Number(id)] = 0;
    this.droppedCounts[status.toLowerCase() as keyof DoneCounts]--;
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
    const d = this.droppedCounts;
    const counts: Record<RedemptionPhase, number> = {
      requested: 0,
      launching: 0,
      running: 0,
      settling: 0,
      settled: d.settled,
      rejected: d.rejected,
      reclaimed: d.reclaimed,
      gone: 0,
    };
    for (const r of this.records.values()) counts[phaseOf(r)]++;
    return counts;
  }
}
