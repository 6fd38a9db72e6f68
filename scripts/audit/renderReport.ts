/**
 * The audit report as JSON, CSV or one self-contained HTML file (inline CSS and SVG charts: no
 * script, no network): usage per class per month, expiry waste, top consumers, and the table.
 */
import { formatHours, hoursNumber } from "../../sdk/format.js";
import { MEASURES, type AuditReport, type Measure, type Measures } from "../../sdk/audit/report.js";
import { hours, toJson, utc } from "./format.js";

// ───────────────────────────── JSON / CSV ─────────────────────────────

const unitsObject = (m: Measures) => Object.fromEntries(MEASURES.map((k) => [k, m[k]]));

/** Holder address → HR's employee id (from the employees file given to `audit report --employees`). */
export type EmployeeNames = ReadonlyMap<string, string>;
const employeeOf = (names: EmployeeNames | undefined, holder: string): string | undefined => names?.get(holder.toLowerCase());

export function reportJson(r: AuditReport, names?: EmployeeNames): string {
  return toJson({
    unit: "GPU-seconds (1 unit = 1 GPU-second; hours = units / 3600)",
    chainId: r.chainId,
    computeToken: r.computeToken,
    fromBlock: r.fromBlock,
    toBlock: r.toBlock,
    asOf: new Date(Number(r.asOf) * 1000).toISOString(),
    classes: r.classes,
    months: r.months,
    holders: r.rows.map((row) => ({
      holder: row.holder,
      ...(names && { employee: employeeOf(names, row.holder) ?? null }),
      class: row.className,
      total: unitsObject(row.total),
      months: Object.fromEntries(Object.entries(row.months).map(([m, v]) => [m, unitsObject(v)])),
    })),
    classTotals: r.byClass.map((c) => ({
      class: c.className,
      total: unitsObject(c.total),
      months: Object.fromEntries(Object.entries(c.months).map(([m, v]) => [m, unitsObject(v)])),
    })),
  });
}

const csvCell = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

/** One row per holder × class × period ("total" or YYYY-MM); amounts in GPU-hours (`_h`) and exact GPU-seconds (`_s`). */
export function reportCsv(r: AuditReport, names?: EmployeeNames): string {
  const head = ["holder", ...(names ? ["employee_id"] : []), "class", "period", ...MEASURES.map((m) => `${snake(m)}_h`), ...MEASURES.map((m) => `${snake(m)}_s`)];
  const lines = [head.join(",")];
  for (const row of r.rows) {
    const who = [row.holder, ...(names ? [csvCell(employeeOf(names, row.holder) ?? "")] : [])];
    const emit = (period: string, m: Measures) =>
      lines.push([...who, csvCell(row.className), period, ...MEASURES.map((k) => csvHours(m[k])), ...MEASURES.map((k) => m[k].toString())].join(","));
    emit("total", row.total);
    for (const [month, m] of Object.entries(row.months)) emit(month, m);
  }
  return `${lines.join("\n")}\n`;
}

/** GPU-seconds as hours in the CSV: sdk/format.ts's rule, plain digits (no grouping, no "~"): 30000n → "8.333333". */
export const csvHours = (units: bigint): string => formatHours(units, { markInexact: false });

function snake(m: Measure): string {
  return m.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

// ─────────────────────────────── HTML ────────────────────────────────

/** Distinct, colour-blind-friendly series colours (Okabe–Ito). */
export const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

interface Series {
  name: string;
  color: string;
  values: number[];
}

/** A stacked bar chart: one bar per category, one stack segment per series. */
export function stackedBars(id: string, title: string, categories: string[], series: Series[], unit: string): string {
  const W = 760;
  const H = 300;
  const left = 60;
  const bottom = 40;
  const top = 30;
  const plotH = H - top - bottom;
  const plotW = W - left - 20;
  const totals = categories.map((_, i) => series.reduce((s, x) => s + (x.values[i] ?? 0), 0));
  // Nothing to plot: an axis from 0 to 1 h, not ticks a billionth apart.
  const max = Math.max(...totals, 0) > 0 ? Math.max(...totals) : 1;
  const step = niceStep(max);
  const yMax = Math.ceil(max / step) * step || 1;
  const band = plotW / Math.max(1, categories.length);
  const barW = Math.max(2, Math.min(60, band * 0.7));
  const y = (v: number) => top + plotH - (v / yMax) * plotH;
  const parts: string[] = [];
  for (let v = 0; v <= yMax + 1e-9; v += step) {
    parts.push(`<line x1="${left}" x2="${W - 20}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#ddd"/>`);
    parts.push(`<text x="${left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" font-size="11">${fmtNum(v)}</text>`);
  }
  categories.forEach((cat, i) => {
    const x = left + band * i + (band - barW) / 2;
    let acc = 0;
    for (const s of series) {
      const v = s.values[i] ?? 0;
      if (v <= 0) continue;
      const y0 = y(acc);
      const y1 = y(acc + v);
      parts.push(
        `<rect class="bar" x="${x.toFixed(1)}" y="${y1.toFixed(1)}" width="${barW.toFixed(1)}" height="${Math.max(1, y0 - y1).toFixed(1)}" fill="${s.color}"><title>${esc(s.name)} ${esc(cat)}: ${fmtNum(v)} ${unit}</title></rect>`,
      );
      acc += v;
    }
    parts.push(`<text x="${(x + barW / 2).toFixed(1)}" y="${H - bottom + 16}" text-anchor="middle" font-size="11">${esc(cat)}</text>`);
  });
  parts.push(`<line x1="${left}" x2="${W - 20}" y1="${top + plotH}" y2="${top + plotH}" stroke="#333"/>`);
  const legend = series
    .map((s, i) => `<rect x="${left + i * 150}" y="8" width="12" height="12" fill="${s.color}"/><text x="${left + i * 150 + 16}" y="18" font-size="12">${esc(s.name)}</text>`)
    .join("");
  const empty = totals.every((t) => t === 0) ? `<text x="${W / 2}" y="${H / 2}" text-anchor="middle" fill="#777">nothing to show</text>` : "";
  return `<figure id="${id}"><figcaption>${esc(title)} (${unit})</figcaption><svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}">${legend}${parts.join("")}${empty}</svg></figure>`;
}

/** A horizontal bar chart (top consumers). */
export function horizontalBars(id: string, title: string, items: { label: string; value: number; color: string }[], unit: string): string {
  const W = 760;
  const rowH = 24;
  const left = 330;
  const H = Math.max(60, 20 + items.length * rowH);
  const max = Math.max(1e-9, ...items.map((i) => i.value));
  const plotW = W - left - 80;
  const rows = items
    .map((it, i) => {
      const w = Math.max(1, (it.value / max) * plotW);
      const yy = 10 + i * rowH;
      return `<text x="${left - 8}" y="${yy + 15}" text-anchor="end" font-size="12" font-family="monospace">${esc(it.label)}</text><rect class="bar" x="${left}" y="${yy + 3}" width="${w.toFixed(1)}" height="${rowH - 8}" fill="${it.color}"><title>${esc(it.label)}: ${fmtNum(it.value)} ${unit}</title></rect><text x="${(left + w + 6).toFixed(1)}" y="${yy + 15}" font-size="12">${fmtNum(it.value)}</text>`;
    })
    .join("");
  const empty = items.length ? "" : `<text x="${W / 2}" y="35" text-anchor="middle" fill="#777">nothing to show</text>`;
  return `<figure id="${id}"><figcaption>${esc(title)} (${unit})</figcaption><svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}">${rows}${empty}</svg></figure>`;
}

function niceStep(max: number): number {
  const raw = max / 5;
  const pow = 10 ** Math.floor(Math.log10(raw || 1));
  for (const m of [1, 2, 2.5, 5, 10]) if (raw <= m * pow) return m * pow;
  return 10 * pow;
}

const fmtNum = (v: number) => v.toLocaleString("en-US", { maximumFractionDigits: v !== 0 && Math.abs(v) < 0.01 ? 6 : 2 });

export function reportHtml(r: AuditReport, names?: EmployeeNames): string {
  const who = (holder: string) => {
    const id = employeeOf(names, holder);
    return id === undefined ? esc(holder) : `${esc(id)} <span class="addr">${esc(holder)}</span>`;
  };
  const colorOf = new Map(r.classes.map((c, i) => [c.classId, PALETTE[i % PALETTE.length]!]));
  const months = r.months.length ? r.months : ["—"];
  const seriesOf = (measure: Measure): Series[] =>
    r.byClass.map((c) => ({ name: c.className, color: colorOf.get(c.classId) ?? "#888", values: months.map((m) => hoursNumber(c.months[m]?.[measure] ?? 0n)) }));
  const consumers = new Map<string, { value: bigint; classId: number }>();
  for (const row of r.rows) {
    const cur = consumers.get(row.holder) ?? { value: 0n, classId: row.classId };
    cur.value += row.total.consumed;
    consumers.set(row.holder, cur);
  }
  const top = [...consumers.entries()]
    .filter(([, v]) => v.value > 0n)
    .sort((a, b) => (a[1].value > b[1].value ? -1 : a[1].value < b[1].value ? 1 : a[0].localeCompare(b[0])))
    .slice(0, 10)
    .map(([holder, v]) => ({ label: employeeOf(names, holder) ?? holder, value: hoursNumber(v.value), color: PALETTE[0]! }));
  const cols = MEASURES;
  const headRow = `<tr><th>holder</th><th>class</th>${cols.map((c) => `<th>${esc(snake(c).replace(/_/g, " "))}</th>`).join("")}</tr>`;
  const bodyRows = r.rows
    .map((row) => {
      const monthsDetail = Object.entries(row.months)
        .map(([m, v]) => `<tr class="month"><td></td><td>${esc(m)}</td>${cols.map((c) => `<td>${hours(v[c])}</td>`).join("")}</tr>`)
        .join("");
      return `<tr><td class="holder">${who(row.holder)}</td><td>${esc(row.className)}</td>${cols.map((c) => `<td>${hours(row.total[c])}</td>`).join("")}</tr>${monthsDetail}`;
    })
    .join("");
  const classRows = r.byClass.map((c) => `<tr><td>all holders</td><td>${esc(c.className)}</td>${cols.map((k) => `<td>${hours(c.total[k])}</td>`).join("")}</tr>`).join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Compute tokens audit report — chain ${r.chainId}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px}
.meta{color:#555;font-size:13px} figure{margin:12px 0} figcaption{font-weight:600;margin-bottom:4px}
table{border-collapse:collapse;font-size:12px} th,td{border:1px solid #ccc;padding:3px 6px;text-align:right} th{background:#f3f3f3} th:first-child,th:nth-child(2){text-align:left}
td:first-child,td:nth-child(2){text-align:left} .addr,td.holder{font-family:monospace} th,td{white-space:nowrap} tr.month td{color:#666;background:#fafafa}
.charts{display:flex;flex-wrap:wrap;gap:16px}
</style></head><body>
<h1>Compute tokens — audit report</h1>
<p class="meta">ComputeToken ${esc(r.computeToken)} on chain ${r.chainId} · blocks ${r.fromBlock}–${r.toBlock} · as of ${esc(utc(r.asOf))} · amounts in GPU-hours, rebuilt from on-chain events only</p>
<div class="charts">
${stackedBars("chart-usage", "GPU-hours consumed per class per month", months, seriesOf("consumed"), "GPU-hours")}
${stackedBars("chart-expiry", "Expiry waste: GPU-hours expired per class per month of expiry", months, seriesOf("expired"), "GPU-hours")}
${horizontalBars("chart-top", "Top consumers (all classes)", top, "GPU-hours")}
</div>
<h2>Per holder and class</h2>
<table id="holders"><thead>${headRow}</thead><tbody>${classRows}${bodyRows}</tbody></table>
</body></html>
`;
}
