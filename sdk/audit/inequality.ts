/**
 * How evenly compute is used across employees: the Lorenz curve and the Gini coefficient of one
 * month's consumption. Pure. The population of a month is every holder who had been granted or had
 * received units by the end of that month — an employee who used nothing counts, with zero.
 */

export interface LorenzPoint {
  /** Share of the population, poorest first (0..1). */
  population: number;
  /** Share of the total they consumed (0..1). */
  share: number;
}

const sortedAscending = (values: readonly bigint[]): bigint[] => [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

/** The Lorenz curve of the values, from (0, 0) to (1, 1); empty when there is nothing to share. */
export function lorenzCurve(values: readonly bigint[]): LorenzPoint[] {
  const sorted = sortedAscending(values);
  const total = sorted.reduce((s, v) => s + v, 0n);
  if (!sorted.length || total <= 0n) return [];
  const points: LorenzPoint[] = [{ population: 0, share: 0 }];
  let acc = 0n;
  sorted.forEach((v, i) => {
    acc += v;
    points.push({ population: (i + 1) / sorted.length, share: Number((acc * 1_000_000n) / total) / 1_000_000 });
  });
  return points;
}

/**
 * The Gini coefficient: 0 when everyone consumed the same, (n − 1)/n when one person consumed
 * everything. G = 2·Σ i·xᵢ / (n·Σ xᵢ) − (n + 1)/n, xᵢ ascending, i from 1. Undefined (null) when nobody consumed anything.
 */
export function giniCoefficient(values: readonly bigint[]): number | null {
  const sorted = sortedAscending(values);
  const n = BigInt(sorted.length);
  const total = sorted.reduce((s, v) => s + v, 0n);
  if (n === 0n || total <= 0n) return null;
  const weighted = sorted.reduce((s, v, i) => s + BigInt(i + 1) * v, 0n);
  // Exact rational, then one division: (2·weighted − (n + 1)·total) / (n·total).
  const num = 2n * weighted - (n + 1n) * total;
  return Number((num * 1_000_000n) / (n * total)) / 1_000_000;
}

/** The per-holder, per-month figures inequality needs (any report row shape that has them). */
export interface HolderMonths {
  holder: string;
  months: Record<string, { consumed: bigint; granted: bigint; received: bigint }>;
}

export interface MonthInequality {
  month: string;
  /** Holders counted (granted or received something by the end of the month). */
  holders: number;
  /** GPU-seconds consumed in the month by each of them, ascending. */
  consumption: bigint[];
  total: bigint;
  gini: number | null;
  lorenz: LorenzPoint[];
}

/** Consumption per holder per month (all classes together), its Lorenz curve and Gini coefficient. */
export function consumptionInequality(rows: readonly HolderMonths[], months: readonly string[]): MonthInequality[] {
  const firstIn = new Map<string, string>();
  const used = new Map<string, Map<string, bigint>>();
  for (const row of rows) {
    for (const [month, m] of Object.entries(row.months)) {
      if (m.granted > 0n || m.received > 0n) {
        const first = firstIn.get(row.holder);
        if (!first || month < first) firstIn.set(row.holder, month);
      }
      if (m.consumed > 0n) {
        let byMonth = used.get(month);
        if (!byMonth) {
          byMonth = new Map();
          used.set(month, byMonth);
        }
        byMonth.set(row.holder, (byMonth.get(row.holder) ?? 0n) + m.consumed);
      }
    }
  }
  return [...months].sort().map((month) => {
    const population = new Set([...firstIn].filter(([, first]) => first <= month).map(([h]) => h));
    for (const h of used.get(month)?.keys() ?? []) population.add(h);
    const consumption = sortedAscending([...population].map((h) => used.get(month)?.get(h) ?? 0n));
    return {
      month,
      holders: population.size,
      consumption,
      total: consumption.reduce((s, v) => s + v, 0n),
      gini: giniCoefficient(consumption),
      lorenz: lorenzCurve(consumption),
    };
  });
}
