/**
 * HR's grant desk (only for an account holding the HR role): a grants, credits or employees CSV
 * checked like `ctk hr grant --dry-run` / `ctk hr grant-credits --dry-run` — every bad line named —
 * then confirmed and sent in batches with progress; the same file twice grants nothing and says so.
 * Onboarding and offboarding. Parsing, checks, planning and sending are the SDK's (sdk/grants.ts,
 * sdk/credits/grants.ts, sdk/holders.ts); this page only shows them.
 */
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { getAddress, isAddress, type Address } from "viem";
import { formatExpiry, formatHours } from "../../../sdk/format.js";
import { type GrantPlan, type GrantProgress, prepareGrants, sendGrants } from "../../../sdk/grants.js";
import { type CreditGrantPlan, prepareCreditGrants, sendCreditGrants } from "../../../sdk/credits/grants.js";
import { formatCredits } from "../../../sdk/credits/units.js";

/** The payroll run a file belongs to: its name without extension, as `ctk hr grant` defaults to. */
const runOf = (file: string): string => file.replace(/\.[^.]*$/, "") || file;
import { type EmployeeRow, type RowProblem, offboardHolder, onboardHolders, parseEmployeesCsv } from "../../../sdk/holders.js";
import { errorText, useApp } from "../context.js";
import { type FormResult, ResultNote } from "../form.js";
import { TableHead } from "../table.js";

function Problems(props: { problems: RowProblem[]; file: string }) {
  return (
    <div class="problems" role="alert" data-testid="csv-problems">
      <strong>
        {props.file}: {props.problems.length} problem{props.problems.length === 1 ? "" : "s"}; nothing will be sent until every line is right.
      </strong>
      <ul>
        {props.problems.map((p) => (
          <li key={`${p.line}:${p.message}`}>
            line {p.line}: {p.message}
          </li>
        ))}
      </ul>
    </div>
  );
}

type Upload =
  | { kind: "grants"; file: string; plan: GrantPlan }
  | { kind: "credits"; file: string; plan: CreditGrantPlan }
  | { kind: "employees"; file: string; rows: EmployeeRow[]; problems: RowProblem[] };

const policyOf = (transferable: boolean) => (transferable ? "transferable" : "soulbound");

/** A column of the "every row" table of a dry run: its heading and what a row shows in it. */
interface RowColumn<R> {
  head: string;
  num?: boolean;
  mono?: boolean;
  cell: (r: R) => ComponentChildren;
}

/** Every row of a file, by line, folded under "Every row". */
function EveryRow<R extends { line: number }>(props: { rows: readonly R[]; columns: readonly RowColumn<R>[] }) {
  return (
    <details>
      <summary>Every row</summary>
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col" class="num">
                line
              </th>
              {props.columns.map((c) => (
                <th key={c.head} scope="col" class={c.num ? "num" : undefined}>
                  {c.head}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {props.rows.map((r) => (
              <tr key={r.line}>
                <td class="num">{r.line}</td>
                {props.columns.map((c) => (
                  <td key={c.head} class={c.num ? "num" : c.mono ? "mono" : undefined}>
                    {c.cell(r)}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </details>
  );
}

/** One group of a dry run's totals: its cells (the first heads the row), its rows, recipients and amount. */
interface TotalsGroup {
  key: string;
  cells: string[];
  rows: number;
  recipients: number;
  amount: string;
}

function TotalsRow(props: { group: TotalsGroup }) {
  const [head, ...rest] = props.group.cells;
  return (
    <tr>
      <th scope="row">{head}</th>
      {rest.map((c, i) => (
        <td key={i}>{c}</td>
      ))}
      <td class="num">{props.group.rows}</td>
      <td class="num">{props.group.recipients}</td>
      <td class="num">{props.group.amount}</td>
    </tr>
  );
}

/** A dry run's totals: one row per group, and a footer row when given. */
function TotalsTable(props: { caption: string; testId?: string; groupHeads: string[]; amountHead: string; groups: TotalsGroup[]; total?: TotalsGroup }) {
  return (
    <div class="table-wrap">
      <table data-testid={props.testId}>
        <caption class="sr-only">{props.caption}</caption>
        <TableHead columns={[...props.groupHeads, { head: "rows", num: true }, { head: "recipients", num: true }, { head: props.amountHead, num: true }]} />
        <tbody>
          {props.groups.map((g) => (
            <TotalsRow key={g.key} group={g} />
          ))}
        </tbody>
        {props.total && (
          <tfoot>
            <TotalsRow group={props.total} />
          </tfoot>
        )}
      </table>
    </div>
  );
}

function CreditDryRun(props: { file: string; plan: CreditGrantPlan; onConfirm: () => void; disabled: boolean }) {
  const rows = [...props.plan.pending].sort((a, b) => a.line - b.line);
  const buckets = props.plan.totals;
  const total = { rows: rows.length, recipients: new Set(rows.map((r) => r.wallet.toLowerCase())).size, amount: rows.reduce((s, r) => s + r.amount, 0n) };
  const already = props.plan.rows.length - rows.length;
  return (
    <DryRun
      intro={`Dry run of ${props.file}: ${rows.length} row${rows.length === 1 ? "" : "s"} of inference credits${already ? ` (${already} already granted)` : ""}. Nothing is sent until you confirm.`}
      confirm="Confirm and grant credits"
      onConfirm={props.onConfirm}
      disabled={props.disabled}
    >
      <TotalsTable
        caption="totals per expiry and policy"
        testId="credit-totals"
        groupHeads={["expires", "policy"]}
        amountHead="credits"
        groups={buckets.map((b) => ({
          key: `${b.expiresAt}|${b.transferable}`,
          cells: [formatExpiry(b.expiresAt), policyOf(b.transferable)],
          rows: b.rows,
          recipients: b.recipients,
          amount: formatCredits(b.amount),
        }))}
        total={{ key: "total", cells: ["total", ""], rows: total.rows, recipients: total.recipients, amount: formatCredits(total.amount) }}
      />
      <EveryRow
        rows={rows}
        columns={[
          { head: "employee", cell: (r) => r.employeeId },
          { head: "wallet", mono: true, cell: (r) => r.wallet },
          { head: "credits", num: true, cell: (r) => formatCredits(r.amount) },
          { head: "expires", cell: (r) => formatExpiry(r.expiresAt) },
          { head: "policy", cell: (r) => policyOf(r.transferable) },
        ]}
      />
    </DryRun>
  );
}

function GrantsDryRun(props: { file: string; plan: GrantPlan; onConfirm: () => void; disabled: boolean }) {
  const { plan } = props;
  return (
    <DryRun
      intro={`Dry run of ${props.file}: ${plan.pending.length} rows of run ${plan.run}${plan.granted.length ? ` (${plan.granted.length} already granted)` : ""}. Nothing is sent until you confirm.`}
      confirm="Confirm and grant"
      onConfirm={props.onConfirm}
      disabled={props.disabled}
    >
      <TotalsTable
        caption="totals per class"
        groupHeads={["class"]}
        amountHead="GPU-hours"
        groups={plan.totals.map((t) => ({ key: t.className, cells: [t.className], rows: t.rows, recipients: t.recipients, amount: formatHours(t.units) }))}
      />
      <EveryRow
        rows={[...plan.pending].sort((a, b) => a.line - b.line)}
        columns={[
          { head: "employee", cell: (r) => r.employeeId },
          { head: "wallet", mono: true, cell: (r) => r.wallet },
          { head: "class", cell: (r) => r.className },
          { head: "hours", num: true, cell: (r) => formatHours(r.units) },
          { head: "expires", cell: (r) => formatExpiry(r.expiresAt) },
          { head: "policy", cell: (r) => r.policy },
        ]}
      />
    </DryRun>
  );
}

/** What a dry run shows: a sentence, its tables, and the button that sends it. */
function DryRun(props: { intro: string; children?: ComponentChildren; confirm: string; onConfirm: () => void; disabled: boolean }) {
  return (
    <div data-testid="dry-run">
      <p>{props.intro}</p>
      {props.children}
      <div class="row">
        <button type="button" onClick={props.onConfirm} disabled={props.disabled}>
          {props.confirm}
        </button>
      </div>
    </div>
  );
}

/** A grant file's body: its problems, or that it was granted already, or its dry run. */
function GrantFileBody(props: { file: string; plan: { problems: RowProblem[]; pending: readonly unknown[] }; children: ComponentChildren }) {
  if (props.plan.problems.length) return <Problems problems={props.plan.problems} file={props.file} />;
  if (!props.plan.pending.length)
    return (
      <p class="ok" role="status" data-testid="already-granted">
        {props.file} was granted already: sending it again grants nothing.
      </p>
    );
  return <>{props.children}</>;
}

function CsvDesk() {
  const { reader, connection, config } = useApp();
  const [upload, setUpload] = useState<Upload>();
  const [error, setError] = useState<string>();
  const [progress, setProgress] = useState<GrantProgress>();
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<string>();

  const onFile = async (kind: Upload["kind"], e: Event) => {
    const input = e.currentTarget as HTMLInputElement;
    const file = input.files?.[0];
    setUpload(undefined);
    setError(undefined);
    setDone(undefined);
    setProgress(undefined);
    if (!file) return;
    try {
      const text = await file.text();
      if (kind === "grants") setUpload({ kind, file: file.name, plan: await prepareGrants(reader, text, { run: runOf(file.name) }) });
      else if (kind === "credits") setUpload({ kind, file: file.name, plan: await prepareCreditGrants(reader, text, { run: runOf(file.name) }) });
      else setUpload({ kind, file: file.name, ...parseEmployeesCsv(text) });
    } catch (err) {
      setError(errorText(err));
    }
    input.value = "";
  };

  const confirm = async () => {
    const w = connection?.writer;
    if (!w || !upload) return;
    setBusy(true);
    setError(undefined);
    try {
      if (upload.kind === "grants") {
        const r = await sendGrants(w, upload.plan, { onProgress: setProgress });
        setDone(
          `Granted ${formatHours(r.unitsMinted)} GPU-hours in ${r.rowsMinted} rows (${r.batchesSent} batch${r.batchesSent === 1 ? "" : "es"})` +
            (r.rowsSkipped ? `; ${r.rowsSkipped} row${r.rowsSkipped === 1 ? " was" : "s were"} already granted` : "") +
            (r.refused.length
              ? `; ${r.refused.length} row${r.refused.length === 1 ? " was" : "s were"} refused by the recipient contract (not minted; sending the file again retries them)`
              : "") +
            ".",
        );
      } else if (upload.kind === "credits") {
        setProgress({ rowsDone: 0, rowsTotal: upload.plan.pending.length });
        const r = await sendCreditGrants(w, upload.plan, { onProgress: setProgress });
        setDone(
          `Granted ${formatCredits(r.amountMinted)} credits in ${r.rowsMinted} row${r.rowsMinted === 1 ? "" : "s"} (${r.batchesSent} batch${r.batchesSent === 1 ? "" : "es"})` +
            (r.rowsSkipped ? `; ${r.rowsSkipped} row${r.rowsSkipped === 1 ? " was" : "s were"} already granted` : "") +
            (r.refused.length ? `; ${r.refused.length} row${r.refused.length === 1 ? " was" : "s were"} refused (not minted; sending the file again retries them)` : "") +
            ".",
        );
      } else {
        const r = await onboardHolders(
          w,
          upload.rows.map((x) => x.wallet),
          { onBatch: (n, total) => setProgress({ rowsDone: n, rowsTotal: total }) },
        );
        setDone(`Onboarded ${r.onboarded.length} wallet${r.onboarded.length === 1 ? "" : "s"}${r.alreadyHolders.length ? `; ${r.alreadyHolders.length} already onboarded` : ""}.`);
      }
      setUpload(undefined);
    } catch (err) {
      setError(`Stopped: ${errorText(err)} (sending the same file again resumes where it stopped)`);
    } finally {
      setBusy(false);
    }
  };

  let body;
  const disabled = busy || !connection?.writer;
  if (upload?.kind === "grants")
    body = (
      <GrantFileBody file={upload.file} plan={upload.plan}>
        <GrantsDryRun file={upload.file} plan={upload.plan} onConfirm={confirm} disabled={disabled} />
      </GrantFileBody>
    );
  else if (upload?.kind === "credits")
    body = (
      <GrantFileBody file={upload.file} plan={upload.plan}>
        <CreditDryRun file={upload.file} plan={upload.plan} onConfirm={confirm} disabled={disabled} />
      </GrantFileBody>
    );
  else if (upload?.kind === "employees") {
    if (upload.problems.length) body = <Problems problems={upload.problems} file={upload.file} />;
    else
      body = (
        <DryRun
          intro={`${upload.file}: ${upload.rows.length} employee${upload.rows.length === 1 ? "" : "s"} to onboard (wallets already onboarded are skipped).`}
          confirm="Confirm and onboard"
          onConfirm={confirm}
          disabled={disabled}
        />
      );
  }

  return (
    <section aria-labelledby="csv-h">
      <h2 id="csv-h">Upload a file</h2>
      <div class="card">
        <div class="grid">
          <div>
            <label for="grants-csv">Grants CSV (employee_id, wallet, class, gpu_hours, expires_at, transferable)</label>
            <input id="grants-csv" type="file" accept=".csv,text/csv" onChange={(e) => void onFile("grants", e)} />
          </div>
          {config.deployment.inferenceCredit && (
            <div>
              <label for="credits-csv">Inference credits CSV (employee_id, wallet, credits, expires_at, transferable)</label>
              <input id="credits-csv" type="file" accept=".csv,text/csv" onChange={(e) => void onFile("credits", e)} />
            </div>
          )}
          <div>
            <label for="employees-csv">Employees CSV (employee_id, wallet)</label>
            <input id="employees-csv" type="file" accept=".csv,text/csv" onChange={(e) => void onFile("employees", e)} />
          </div>
        </div>
        {body}
        {progress && (
          <p role="status">
            <label for="grant-progress">
              Rows landed: {progress.rowsDone} of {progress.rowsTotal}
            </label>
            <progress id="grant-progress" max={progress.rowsTotal || 1} value={progress.rowsDone} />
          </p>
        )}
        {done && (
          <p class="ok" role="status" data-testid="hr-done">
            {done}
          </p>
        )}
        {error && (
          <p class="problems" role="alert">
            {error}
          </p>
        )}
      </div>
    </section>
  );
}

function Offboard() {
  const { connection } = useApp();
  const [wallet, setWallet] = useState("");
  const [clawback, setClawback] = useState(true);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<FormResult>();
  const submit = async (e: Event) => {
    e.preventDefault();
    setResult(undefined);
    if (!connection?.writer) return;
    if (!isAddress(wallet.trim())) return setResult({ ok: false, text: "the wallet must be a 0x-prefixed 20-byte address" });
    setBusy(true);
    try {
      const r = await offboardHolder(connection.writer, getAddress(wallet.trim()) as Address, { clawback });
      const clawed = r.clawedBack.map((c) => `${formatHours(c.amount)} h of ${c.className}`).join(", ");
      setResult({ ok: true, text: `${r.wallet} ${r.offboarded ? "is offboarded" : "was not onboarded"}${clawback ? `; clawed back ${clawed || "nothing"}` : ""}.` });
    } catch (err) {
      setResult({ ok: false, text: errorText(err) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="offboard-h">
      <h2 id="offboard-h">Offboard a leaver</h2>
      <form class="card" onSubmit={submit}>
        <label for="o-wallet">Wallet</label>
        <input id="o-wallet" value={wallet} onInput={(e) => setWallet(e.currentTarget.value)} autocomplete="off" placeholder="0x…" />
        <div class="row">
          <input id="o-clawback" type="checkbox" checked={clawback} onChange={(e) => setClawback(e.currentTarget.checked)} />
          <label for="o-clawback" style="margin:0">
            Claw back everything it holds
          </label>
        </div>
        <div class="row">
          <button type="submit" disabled={busy || !connection?.writer}>
            Offboard
          </button>
        </div>
        <ResultNote result={result} />
      </form>
    </section>
  );
}

export function HrPage(props: { isHr: boolean }) {
  const { connection } = useApp();
  return (
    <>
      <h1>HR grant desk</h1>
      {!connection ? (
        <p>Connect the HR wallet (the button at the top).</p>
      ) : !props.isHr ? (
        <p class="notice" role="alert">
          This desk is for HR: {connection.address} does not hold the HR role.
        </p>
      ) : (
        <>
          <CsvDesk />
          <Offboard />
        </>
      )}
    </>
  );
}
