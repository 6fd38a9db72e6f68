/**
 * The audit report: per holder and per class — granted, received, sent, redeemed, consumed,
 * refunded, expired, clawed back (and converted / recovered) — in total and per month, built from
 * the replay's classified movements. Pure. Memory grows with holders × classes × months, not
 * with events.
 *
 * Months are UTC calendar months of the block that made the movement, except "expired", which
 * counts in the month the lot expired (swept or not: units still held in an expired lot at the
 * last block replayed count as expired too).
 */
import type { Address } from "viem";
import { decodeLotId } from "../lotId.js";
import { MOVEMENTS } from "./movements.js";
import type { Movement, Replay } from "./replay.js";

export const MEASURES = [
  "granted",
  "received",
  "sent",
  "redeemed",
  "consumed",
  "refunded",
  "expired",
  "clawedBack",
  "convertedIn",
  "convertedOut",
  "recoveredIn",
  "recoveredOut",
] as const;
export type Measure = (typeof MEASURES)[number];
export type Measures = Record<Measure, bigint>;

export const zeroMeasures = (): Measures => Object.fromEntries(MEASURES.map((m) => [m, 0n])) as Measures;

/** Unix seconds → "YYYY-MM" (UTC). */
export const monthOf = (ts: bigint | number): string => new Date(Number(ts) * 1000).toISOString().slice(0, 7);

export interface ReportRow {
  holder: Address;
  classId: number;
  className: string;
  total: Measures;
  /** Month ("YYYY-MM") → measures, months in order. */
  months: Record<string, Measures>;
}

export interface AuditReport {
  chainId: number;
  computeToken: Address;
  fromBlock: bigint;
  toBlock: bigint;
  /** Unix seconds of the last block replayed. */
  asOf: bigint;
  classes: { classId: number; name: string }[];
  months: string[];
  rows: ReportRow[];
  /** Per class: totals and per month (all holders). */
  byClass: { classId: number; className: string; total: Measures; months: Record<string, Measures> }[];
}

export class ReportBuilder {
  private readonly cells = new Map<string, { holder: Address; classId: number; total: Measures; months: Map<string, Measures> }>();

  /** Feed every movement (a Replay's `onMovement`). */
  add = (m: Movement): void => {
    const measure = MOVEMENTS[m.kind].measure;
    let month = monthOf(m.timestamp);
    if (m.kind === "expire") month = monthOf(decodeLotId(m.lotId).expiresAt);
    this.addTo(m.holder, m.classId, month, measure, m.amount);
  };

  private addTo(holder: Address, classId: number, month: string, measure: Measure, amount: bigint): void {
    const key = `${holder}:${classId}`;
    let cell = this.cells.get(key);
    if (!cell) {
      cell = { holder, classId, total: zeroMeasures(), months: new Map() };
      this.cells.set(key, cell);
    }
    cell.total[measure] += amount;
    let mm = cell.months.get(month);
    if (!mm) {
      mm = zeroMeasures();
      cell.months.set(month, mm);
    }
    mm[measure] += amount;
  }

  /** Adds units still held in expired lots at the end, and assembles the report. */
  build(replay: Replay, meta: { chainId: number; computeToken: Address; fromBlock: bigint; toBlock: bigint; asOf: bigint }): AuditReport {
    for (const [holder, lots] of replay.balances) {
      for (const [lotId, units] of lots) {
        if (units <= 0n) continue;
        const { classId, expiresAt } = decodeLotId(lotId);
        if (expiresAt <= meta.asOf) this.addTo(holder, classId, monthOf(expiresAt), "expired", units);
      }
    }
    const names = new Map([...replay.classes.values()].map((c) => [c.classId, c.name]));
    const className = (id: number) => names.get(id) ?? `class #${id}`;
    const monthSet = new Set<string>();
    for (const c of this.cells.values()) for (const m of c.months.keys()) monthSet.add(m);
    const months = [...monthSet].sort();
    const rows: ReportRow[] = [...this.cells.values()]
      .map((c) => ({
        holder: c.holder,
        classId: c.classId,
        className: className(c.classId),
        total: c.total,
        months: Object.fromEntries([...c.months.entries()].sort(([a], [b]) => a.localeCompare(b))),
      }))
      .sort((a, b) => a.holder.localeCompare(b.holder) || a.classId - b.classId);
    const byClassMap = new Map<number, { total: Measures; months: Map<string, Measures> }>();
    for (const r of rows) {
      let c = byClassMap.get(r.classId);
      if (!c) {
        c = { total: zeroMeasures(), months: new Map() };
        byClassMap.set(r.classId, c);
      }
      for (const m of MEASURES) c.total[m] += r.total[m];
      for (const [month, ms] of Object.entries(r.months)) {
        let mm = c.months.get(month);
        if (!mm) {
          mm = zeroMeasures();
          c.months.set(month, mm);
        }
        for (const m of MEASURES) mm[m] += ms[m];
      }
    }
    return {
      ...meta,
      classes: [...replay.classes.values()].map((c) => ({ classId: c.classId, name: c.name })),
      months,
      rows,
      byClass: [...byClassMap.entries()]
        .sort(([a], [b]) => a - b)
        .map(([classId, c]) => ({
          classId,
          className: className(classId),
          total: c.total,
          months: Object.fromEntries([...c.months.entries()].sort(([a], [b]) => a.localeCompare(b))),
        })),
    };
  }
}
