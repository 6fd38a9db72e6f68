/**
 * The auditor's dashboard (no wallet needed): `audit verify`'s result — every finding, or
 * "reconciles" — the report's charts (usage per class per month, expiry waste, top consumers), how
 * evenly compute is used (Lorenz curve and Gini coefficient per month), and the downloads.
 */
import { useEffect, useMemo, useState } from "preact/hooks";
import { consumptionInequality } from "../../../sdk/audit/inequality.js";
import { formatHours, hoursNumber } from "../../../sdk/format.js";
import { errorText } from "../context.js";
import { HorizontalBars, LorenzChart, PALETTE, StackedBars, type Series } from "../charts.js";
import { Choice } from "../form.js";
import { TableHead } from "../table.js";

/** `ctk audit report --format json`, as served by /api/audit/report (units are GPU-second strings). */
interface ReportDoc {
  chainId: number;
  toBlock: string;
  asOf: string;
  classes: { classId: number; name: string }[];
  months: string[];
  holders: { holder: string; class: string; total: Record<string, string>; months: Record<string, Record<string, string>> }[];
  classTotals: { class: string; total: Record<string, string>; months: Record<string, Record<string, string>> }[];
}

interface VerifyDoc {
  ok: boolean;
  findings: { code: string; message: string }[];
  seconds: number;
  summary: { events: number; transactions: number; holders: number; lots: number; toBlock: string; receiptsChecked: number; redemptions: Record<string, number | string> };
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
const hoursOf = (units: string | undefined) => hoursNumber(BigInt(units ?? 0));

function Verify() {
  const [doc, setDoc] = useState<VerifyDoc>();
  const [error, setError] = useState<string>();
  const [tick, setTick] = useState(0);
  useEffect(() => {
    setDoc(undefined);
    setError(undefined);
    fetch("/api/audit/verify")
      .then(async (r) => (r.ok ? setDoc((await r.json()) as VerifyDoc) : setError(((await r.json()) as { error: string }).error)))
      .catch((e) => setError(errorText(e)));
  }, [tick]);
  return (
    <section aria-labelledby="verify-h">
      <h2 id="verify-h">Verify</h2>
      {error && (
        <p class="problems" role="alert">
          The audit could not run: {error}
        </p>
      )}
      {!doc && !error && (
        <p class="muted" role="status">
          Replaying every event and reconciling with the chain…
        </p>
      )}
      {doc && (
        <div data-testid="verify" data-ok={String(doc.ok)}>
          <p class="muted">
            Replayed {doc.summary.events} events in {doc.summary.transactions} transactions up to block {doc.summary.toBlock} ({doc.seconds.toFixed(1)} s): {doc.summary.holders}{" "}
            accounts, {doc.summary.lots} lots, {plural(Number(doc.summary.redemptions.total), "redemption")}
            {doc.summary.receiptsChecked ? `, ${plural(doc.summary.receiptsChecked, "receipt")} checked` : ""}.
          </p>
          {doc.ok ? (
            <p class="ok" role="status">
              Reconciles: every balance, supply, redemption, role, receipt and credit matches the events.
            </p>
          ) : (
            <div class="problems" role="alert">
              <strong>
                {doc.findings.length} finding{doc.findings.length === 1 ? "" : "s"}
              </strong>
              <ul data-testid="findings">
                {doc.findings.map((f, i) => (
                  <li key={i}>
                    <code>{f.code}</code> {f.message}
                  </li>
                ))}
              </ul>
            </div>
          )}
          <div class="row">
            <button type="button" class="secondary" onClick={() => setTick((t) => t + 1)}>
              Verify again
            </button>
          </div>
        </div>
      )}
    </section>
  );
}

function Charts(props: { report: ReportDoc }) {
  const r = props.report;
  const months = r.months.length ? r.months : ["—"];
  const colorOf = new Map(r.classes.map((c, i) => [c.name, PALETTE[i % PALETTE.length]!]));
  const seriesOf = (measure: string): Series[] =>
    r.classTotals.map((c) => ({ name: c.class, color: colorOf.get(c.class) ?? "#888", values: months.map((m) => hoursOf(c.months[m]?.[measure])) }));
  const top = useMemo(() => {
    const by = new Map<string, number>();
    for (const row of r.holders) by.set(row.holder, (by.get(row.holder) ?? 0) + hoursOf(row.total.consumed));
    return [...by]
      .filter(([, v]) => v > 0)
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .slice(0, 10)
      .map(([label, value]) => ({ label, value }));
  }, [r]);
  const inequality = useMemo(
    () =>
      consumptionInequality(
        r.holders.map((row) => ({
          holder: row.holder,
          months: Object.fromEntries(
            Object.entries(row.months).map(([m, v]) => [m, { consumed: BigInt(v.consumed ?? "0"), granted: BigInt(v.granted ?? "0"), received: BigInt(v.received ?? "0") }]),
          ),
        })),
        r.months,
      ),
    [r],
  );
  const withUse = inequality.filter((m) => m.total > 0n);
  const [month, setMonth] = useState<string>(withUse.at(-1)?.month ?? inequality.at(-1)?.month ?? "");
  const chosen = inequality.find((m) => m.month === month);
  return (
    <section aria-labelledby="charts-h">
      <h2 id="charts-h">Usage</h2>
      <div class="charts">
        <StackedBars id="chart-usage" title="GPU-hours consumed per class per month" categories={months} series={seriesOf("consumed")} unit="GPU-hours" />
        <StackedBars id="chart-expiry" title="Expiry waste: GPU-hours expired per class, by month of expiry" categories={months} series={seriesOf("expired")} unit="GPU-hours" />
        <HorizontalBars id="chart-top" title="Top consumers (all classes)" items={top} unit="GPU-hours" />
        <div>
          <LorenzChart id="chart-lorenz" title={`How evenly compute is used${chosen ? `, ${chosen.month}` : ""}`} points={chosen?.lorenz ?? []} gini={chosen?.gini ?? null} />
          {inequality.length > 0 && <Choice id="lorenz-month" label="Month" value={month} onChange={setMonth} choices={inequality.map((m) => ({ value: m.month }))} />}
        </div>
      </div>
      <h3>Gini coefficient of consumption per month</h3>
      <p class="muted">0 = every employee used the same; near 1 = a few used almost all. Employees who had hours and used none count as zero.</p>
      <div class="table-wrap">
        <table data-testid="gini">
          <TableHead columns={["month", { head: "employees", num: true }, { head: "GPU-hours used", num: true }, { head: "Gini", num: true }]} />
          <tbody>
            {inequality.map((m) => (
              <tr key={m.month}>
                <th scope="row">{m.month}</th>
                <td class="num">{m.holders}</td>
                <td class="num">{formatHours(m.total)}</td>
                <td class="num">{m.gini === null ? "—" : m.gini.toFixed(3)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function Downloads() {
  const [wallet, setWallet] = useState("");
  const valid = /^0x[0-9a-fA-F]{40}$/.test(wallet.trim());
  return (
    <section aria-labelledby="downloads-h">
      <h2 id="downloads-h">Download</h2>
      <div class="card">
        <p>
          The report:{" "}
          <a class="button secondary" href="/api/audit/report?format=html&download=1" download>
            HTML
          </a>{" "}
          <a class="button secondary" href="/api/audit/report?format=csv&download=1" download>
            CSV
          </a>{" "}
          <a class="button secondary" href="/api/audit/report?format=json&download=1" download>
            JSON
          </a>
        </p>
        <label for="statement-wallet">An employee's statement: wallet</label>
        <input id="statement-wallet" value={wallet} onInput={(e) => setWallet(e.currentTarget.value)} placeholder="0x…" autocomplete="off" />
        <div class="row">
          {valid ? (
            <>
              <a class="button secondary" href={`/api/audit/statement?wallet=${wallet.trim()}&format=csv&download=1`} download>
                Statement (CSV)
              </a>
              <a class="button secondary" href={`/api/audit/statement?wallet=${wallet.trim()}&format=text&download=1`} download>
                Statement (text)
              </a>
            </>
          ) : (
            <span class="muted">Enter a 0x wallet address to download its statement.</span>
          )}
        </div>
      </div>
    </section>
  );
}

export function AuditorPage() {
  const [report, setReport] = useState<ReportDoc>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    fetch("/api/audit/report?format=json")
      .then(async (r) => (r.ok ? setReport((await r.json()) as ReportDoc) : setError(((await r.json()) as { error: string }).error)))
      .catch((e) => setError(errorText(e)));
  }, []);
  return (
    <>
      <h1>Audit</h1>
      <p class="muted">Rebuilt from the chain's events alone; no wallet needed.</p>
      <Verify />
      {error && (
        <p class="problems" role="alert">
          The report could not be built: {error}
        </p>
      )}
      {!report && !error && (
        <p class="muted" role="status">
          Building the report…
        </p>
      )}
      {report && <Charts report={report} />}
      <Downloads />
    </>
  );
}
