/**
 * The employee's page: balances per class and per lot, the redeem form (validated with the SDK's
 * job-spec schema, cost shown before signing), my redemptions live, and transfers.
 */
import { useEffect, useMemo, useState } from "preact/hooks";
import { getAddress, isAddress, type Address } from "viem";
import { getBalances, type HolderBalances } from "../../../sdk/balances.js";
import { listClasses, type ClassInfo } from "../../../sdk/classes.js";
import { formatExpiry, formatHours, parseHours, InputFormatError } from "../../../sdk/format.js";
import { listHolderRedemptions, type HolderRedemption } from "../../../sdk/holderRedemptions.js";
import { PRIORITIES, SPEC_LIMITS, encodeSpec, jobSpecSchema, priorityIndex, specSeconds, unitsFor, type JobSpec, type PriorityName } from "../../../sdk/jobSpec.js";
import { pickLots } from "../../../sdk/pickLots.js";
import { checkSpecPolicy, fetchRedeemerPolicy, otherRedeemer, policyOrigin, type RedeemerPolicy } from "../../../sdk/policy.js";
import { redeemJob } from "../../../sdk/redeem.js";
import { writeComputeToken } from "../../../sdk/write.js";
import { countdown, errorText, useApp } from "../context.js";
import { CreditsSection } from "./Credits.js";
import { Choice, type FormResult, ResultNote } from "../form.js";
import { TableHead } from "../table.js";

const MAX_REDEMPTION_LOTS = 16;

function usePoll<T>(load: () => Promise<T>, deps: unknown[], everyMs: number): { data?: T; error?: string; reload: () => void } {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<string>();
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      try {
        const d = await load();
        if (!stopped) {
          setData(d);
          setError(undefined);
        }
      } catch (e) {
        if (!stopped) setError(errorText(e));
      }
      if (!stopped && everyMs > 0) timer = setTimeout(run, everyMs);
    };
    void run();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [...deps, tick]);
  return { data, error, reload: () => setTick((t) => t + 1) };
}

function Balances(props: { balances?: HolderBalances; fetchedAt: number; error?: string }) {
  const { balances } = props;
  if (props.error)
    return (
      <p class="problems" role="alert">
        Balances could not be read: {props.error}
      </p>
    );
  if (!balances) return <p class="muted">Reading balances…</p>;
  const now = Number(balances.at) + (Date.now() - props.fetchedAt) / 1000;
  return (
    <section aria-labelledby="balances-h">
      <h2 id="balances-h">GPU-hours</h2>
      {!balances.onboarded && <p class="notice">This wallet is not onboarded: it cannot receive, move or redeem GPU-hours until HR onboards it.</p>}
      {!balances.classes.length && <p class="muted">No GPU-hours yet.</p>}
      {balances.classes.length > 0 && (
        <div class="table-wrap">
          <table data-testid="balances">
            <TableHead columns={["class", { head: "redeemable (h)", num: true }, { head: "held by redemptions in flight (h)", num: true }, { head: "expired (h)", num: true }]} />
            <tbody>
              {balances.classes.map((c) => (
                <tr key={c.classId} data-class={c.name}>
                  <th scope="row">
                    {c.name}
                    {c.active ? "" : " (retired)"}
                  </th>
                  <td class="num" data-testid={`redeemable-${c.name}`}>
                    {formatHours(c.redeemable)}
                  </td>
                  <td class="num">{formatHours(c.inFlight)}</td>
                  <td class="num">{formatHours(c.expired)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {balances.classes.some((c) => c.lots.length) && (
        <>
          <h3>Lots</h3>
          <div class="table-wrap">
            <table data-testid="lots">
              <TableHead columns={["class", "expires", "policy", { head: "hours", num: true }]} />
              <tbody>
                {balances.classes.flatMap((c) =>
                  c.lots.map((l) => (
                    <tr key={l.lotId.toString()}>
                      <td>{c.name}</td>
                      <td>
                        {formatExpiry(l.expiresAt)}{" "}
                        <span class="muted">
                          ({l.expired ? `expired ${countdown(Number(l.expiresAt) - now).replace(" ago", "")} ago` : `expires ${countdown(Number(l.expiresAt) - now)}`})
                        </span>
                      </td>
                      <td>{l.policy}</td>
                      <td class="num">{formatHours(l.balance)}</td>
                    </tr>
                  )),
                )}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}

interface SpecFields {
  name: string;
  image: string;
  command: string;
  args: string;
  env: string;
  secrets: string;
  gpus: string;
  hours: string;
  priority: PriorityName;
  project: string;
}

const EMPTY_FIELDS: SpecFields = { name: "", image: "", command: "", args: "", env: "", secrets: "", gpus: "1", hours: "1", priority: "normal", project: "" };

const lines = (s: string) => s.split("\n").filter((l) => l.length > 0);

/** KEY=value lines as an object. */
function pairs(text: string, what: string, problems: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  lines(text).forEach((l, i) => {
    const at = l.indexOf("=");
    if (at < 1) problems.push(`${what} line ${i + 1}: write KEY=value`);
    else out[l.slice(0, at)] = l.slice(at + 1);
  });
  return out;
}

/** The form's fields as the raw spec the schema judges (env lines KEY=value). */
function rawSpec(f: SpecFields): { raw: Record<string, unknown>; problems: string[] } {
  const problems: string[] = [];
  const env = pairs(f.env, "env", problems);
  const secrets = pairs(f.secrets, "secrets", problems);
  const raw: Record<string, unknown> = {
    name: f.name.trim(),
    image: f.image.trim(),
    command: lines(f.command),
    args: lines(f.args),
    env,
    ...(Object.keys(secrets).length && { secrets }),
    gpus: f.gpus.trim() === "" ? Number.NaN : Number(f.gpus),
    hours: f.hours.trim() === "" ? Number.NaN : Number(f.hours),
    priority: f.priority,
    ...(f.project.trim() && { project: f.project.trim() }),
  };
  return { raw, problems };
}

function fieldsOf(spec: Partial<JobSpec>): SpecFields {
  return {
    name: spec.name ?? "",
    image: spec.image ?? "",
    command: (spec.command ?? []).join("\n"),
    args: (spec.args ?? []).join("\n"),
    env: Object.entries(spec.env ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join("\n"),
    secrets: Object.entries(spec.secrets ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join("\n"),
    gpus: String(spec.gpus ?? ""),
    hours: String(spec.hours ?? ""),
    priority: spec.priority ?? "normal",
    project: spec.project ?? "",
  };
}

function RedeemForm(props: { classes: ClassInfo[]; balances?: HolderBalances; onSent: () => void }) {
  const { reader, connection, config } = useApp();
  const active = props.classes.filter((c) => c.active);
  const [policy, setPolicy] = useState<RedeemerPolicy>();
  const [policyProblem, setPolicyProblem] = useState<string>();
  const [className, setClassName] = useState<string>("");
  const [fields, setFields] = useState<SpecFields>(EMPTY_FIELDS);
  const [fileProblem, setFileProblem] = useState<string>();
  const [multipliers, setMultipliers] = useState<Record<string, number>>({});
  const [sending, setSending] = useState(false);
  const [result, setResult] = useState<FormResult>();

  useEffect(() => {
    if (!className && active[0]) setClassName(active[0].name);
  }, [active.length]);
  useEffect(() => {
    void Promise.all(PRIORITIES.map((p) => reader.publicClient.readContract({ ...reader.computeToken, functionName: "priorityMultiplier", args: [priorityIndex(p)] }))).then(
      (bps) => setMultipliers(Object.fromEntries(PRIORITIES.map((p, i) => [p, bps[i]!]))),
    );
  }, []);
  // The redeemer's published policy: a spec it would refuse is explained here, before anything is burned.
  useEffect(() => {
    if (!config.redeemer) return;
    fetchRedeemerPolicy(`${location.origin}/redeemer`)
      .then(async (p) => {
        // Another deployment's redeemer: its policy is not the one the burn is judged by.
        const other = await otherRedeemer(p, policyOrigin(reader));
        if (other) setPolicyProblem(`it is not this deployment's: the redeemer ${other}`);
        else setPolicy(p);
      })
      .catch((e) => setPolicyProblem(errorText(e)));
  }, []);

  const cls = active.find((c) => c.name === className);
  const check = useMemo(() => {
    const { raw, problems } = rawSpec(fields);
    const parsed = jobSpecSchema.safeParse(raw);
    if (!parsed.success) problems.push(...parsed.error.issues.map((i) => `${i.path.join(".") || "spec"}: ${i.message}`));
    const spec = parsed.success ? parsed.data : undefined;
    if (spec && encodeSpec(spec).length > SPEC_LIMITS.maxSpecBytes) problems.push(`the spec is ${encodeSpec(spec).length} bytes; at most ${SPEC_LIMITS.maxSpecBytes}`);
    if (!cls) problems.push("choose a hardware class");
    if (spec && cls && policy) {
      problems.push(...checkSpecPolicy(spec, policy, { className: cls.name, classMaxGpus: cls.maxGpusPerJob }).map((r) => `${r.field}: ${r.message}`));
    } else {
      const gpus = raw.gpus as number;
      if (cls && Number.isFinite(gpus) && gpus > cls.maxGpusPerJob) problems.push(`gpus: the spec asks for ${gpus} GPUs; ${cls.name} allows at most ${cls.maxGpusPerJob} per job`);
    }
    if (config.redeemer && !policy)
      problems.push(
        policyProblem ? `the redeemer's policy could not be read (${policyProblem}): the spec cannot be checked, so nothing will be sent` : "reading the redeemer's policy…",
      );
    let units: bigint | undefined;
    let picks: ReturnType<typeof pickLots>["picks"] = [];
    const bps = spec ? multipliers[spec.priority] : undefined;
    if (spec && cls && bps) {
      units = unitsFor(spec.gpus, specSeconds(spec), bps);
      const lots = props.balances?.classes.find((c) => c.classId === cls.classId)?.lots ?? [];
      const r = pickLots(lots, units, { now: props.balances?.at ?? 0n, maxLots: MAX_REDEMPTION_LOTS });
      picks = r.picks;
      if (!picks.length) problems.push(`this needs ${formatHours(units)} ${cls.name} GPU-hours; you can redeem ${formatHours(r.available)}`);
    }
    return { spec, problems, units, picks, bps };
  }, [fields, cls, multipliers, props.balances, policy, policyProblem]);

  const set = (k: keyof SpecFields) => (e: Event) => setFields({ ...fields, [k]: (e.currentTarget as HTMLInputElement).value });

  const loadFile = async (e: Event) => {
    const input = e.currentTarget as HTMLInputElement;
    const file = input.files?.[0];
    setFileProblem(undefined);
    if (!file) return;
    try {
      const json = JSON.parse(await file.text()) as Partial<JobSpec>;
      setFields(fieldsOf(json));
    } catch (err) {
      setFileProblem(`${file.name} is not valid JSON: ${errorText(err)}`);
    }
    input.value = "";
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    setResult(undefined);
    if (!connection?.writer || !check.spec || !cls || check.problems.length) return;
    setSending(true);
    try {
      const lotIds = check.picks.map((p) => p.lotId);
      const { id, receipt } = await redeemJob(connection.writer, cls.classId, lotIds, check.spec);
      setResult({ ok: true, text: `Redemption ${id} requested (transaction ${receipt.transactionHash}).` });
      props.onSent();
    } catch (err) {
      setResult({ ok: false, text: `Not sent: ${errorText(err)}` });
    } finally {
      setSending(false);
    }
  };

  const costText =
    check.spec && cls && check.bps && check.units !== undefined
      ? `${check.spec.gpus} GPU${check.spec.gpus === 1 ? "" : "s"} × ${check.spec.hours} h × ${check.bps / 10000} (${check.spec.priority}) = ${formatHours(check.units)} ${cls.name} GPU-hours`
      : undefined;
  const canSend = Boolean(connection?.writer) && !check.problems.length && !sending;

  return (
    <section aria-labelledby="redeem-h">
      <h2 id="redeem-h">Redeem: run a job</h2>
      <form class="card" onSubmit={submit} aria-describedby="spec-problems">
        <label for="spec-file">Load a job spec (JSON file)</label>
        <input id="spec-file" type="file" accept="application/json,.json" onChange={loadFile} />
        {fileProblem && (
          <p class="problems" role="alert">
            {fileProblem}
          </p>
        )}
        <div class="grid">
          <div>
            <Choice
              id="f-class"
              label="Hardware class"
              value={className}
              onChange={setClassName}
              choices={active.map((c) => ({ value: c.name, label: `${c.name} (≤ ${c.maxGpusPerJob} GPUs)` }))}
            />
          </div>
          <div>
            <label for="f-gpus">GPUs</label>
            <input id="f-gpus" type="number" min={1} step={1} value={fields.gpus} onInput={set("gpus")} />
          </div>
          <div>
            <label for="f-hours">Hours</label>
            <input id="f-hours" type="number" min={0} step="any" value={fields.hours} onInput={set("hours")} />
          </div>
          <div>
            <label for="f-priority">Priority</label>
            <select id="f-priority" value={fields.priority} onChange={set("priority")}>
              {PRIORITIES.map((p) => (
                <option key={p} value={p}>
                  {p}
                  {multipliers[p] ? ` (× ${multipliers[p] / 10000})` : ""}
                </option>
              ))}
            </select>
          </div>
        </div>
        <div class="grid">
          <div>
            <label for="f-name">Job name</label>
            <input id="f-name" value={fields.name} onInput={set("name")} autocomplete="off" />
          </div>
          <div>
            <label for="f-project">Project (optional)</label>
            <input id="f-project" value={fields.project} onInput={set("project")} autocomplete="off" />
          </div>
        </div>
        <label for="f-image">Image (pinned: registry/…@sha256:…)</label>
        <input id="f-image" value={fields.image} onInput={set("image")} autocomplete="off" />
        <div class="grid">
          <div>
            <label for="f-command">Command (one item per line)</label>
            <textarea id="f-command" value={fields.command} onInput={set("command")} />
          </div>
          <div>
            <label for="f-args">Arguments (one per line)</label>
            <textarea id="f-args" value={fields.args} onInput={set("args")} />
          </div>
          <div>
            <label for="f-env">Environment (KEY=value per line)</label>
            <textarea id="f-env" value={fields.env} onInput={set("env")} />
          </div>
          <div>
            <label for="f-secrets">Secrets (VARIABLE=secret-name per line)</label>
            <textarea id="f-secrets" value={fields.secrets} onInput={set("secrets")} />
          </div>
        </div>
        <div id="spec-problems" aria-live="polite">
          {check.problems.length > 0 && (
            <div class="problems" data-testid="spec-problems">
              <strong>This job cannot be sent yet:</strong>
              <ul>
                {check.problems.map((p) => (
                  <li key={p}>{p}</li>
                ))}
              </ul>
            </div>
          )}
        </div>
        {costText && (
          <p data-testid="cost">
            Cost: <strong>{costText}</strong>
          </p>
        )}
        {check.picks.length > 0 && <p class="muted">From {check.picks.map((p) => `${formatHours(p.amount)} h of the lot expiring ${formatExpiry(p.expiresAt)}`).join("; ")}.</p>}
        <div class="row">
          <button type="submit" disabled={!canSend}>
            {sending ? "Waiting for the wallet…" : "Redeem"}
          </button>
          {!connection?.writer && <span class="muted">Connect a wallet on the deployment's chain to sign.</span>}
        </div>
        <ResultNote result={result} testId="redeem-result" />
      </form>
    </section>
  );
}

/** The chain's clock as last read (a block's timestamp) and when it was read here, to count on from. */
interface ChainClock {
  at: number;
  readAt: number;
}

const chainNow = (c: ChainClock | undefined, nowMs: number): number | undefined => (c ? c.at + (nowMs - c.readAt) / 1000 : undefined);

/**
 * Reclaim, when the contract allows it (its `reclaimableAt`, judged by the chain's clock, not this
 * computer's): a redemption nobody launched within the launch timeout, or one launched and not settled
 * within its allotted time plus the settle grace.
 */
function ReclaimOffer(props: { r: HolderRedemption; now?: number; onChanged: () => void }) {
  const { connection } = useApp();
  const { r, now } = props;
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  if (now === undefined) return null;
  const at = Number(r.reclaimableAt);
  const reclaim = async () => {
    if (!connection?.writer) return;
    setBusy(true);
    setError(undefined);
    try {
      await writeComputeToken(connection.writer, "reclaim", [r.id]);
      props.onChanged();
    } catch (e) {
      setError(`Not reclaimed: ${errorText(e)}`);
    } finally {
      setBusy(false);
    }
  };
  if (now < at) {
    return r.status === "Requested" ? (
      <span class="muted"> · if it is not launched, you can reclaim it {countdown(at - now)}</span>
    ) : (
      <span class="muted"> · if it is not settled, you can reclaim it {countdown(at - now)}</span>
    );
  }
  return (
    <>
      {" · "}
      <span data-testid={`reclaimable-${r.id}`}>{r.status === "Requested" ? "not launched in time" : "not settled in time"}:</span>{" "}
      <button
        type="button"
        onClick={reclaim}
        disabled={busy || !connection?.writer}
        aria-label={busy ? undefined : `Reclaim (full refund): redemption ${r.id}, ${formatHours(r.reserved)} h`}
      >
        {busy ? "Waiting for the wallet…" : "Reclaim (full refund)"}
      </button>
      {error && (
        <span class="problems" role="alert">
          {" "}
          {error}
        </span>
      )}
    </>
  );
}

function RedemptionRow(props: { r: HolderRedemption; now?: number; onChanged: () => void }) {
  const { r, now } = props;
  let name = "";
  try {
    name = (JSON.parse(r.specText) as { name?: string }).name ?? "";
  } catch {
    name = "";
  }
  let detail;
  if (r.status === "Requested") {
    detail = (
      <>
        requested: waiting for the redeemer to launch it
        <ReclaimOffer r={r} now={now} onChanged={props.onChanged} />
      </>
    );
  } else if (r.status === "Running") {
    const elapsed = r.runningAt !== undefined && now !== undefined ? Math.max(0, now - r.runningAt) : 0;
    detail = (
      <>
        {elapsed <= r.seconds ? (
          <>
            running: {Math.round(elapsed)} s of {r.seconds} s allotted{" "}
          </>
        ) : (
          <>
            running: its {r.seconds} s allotted ended {countdown(r.seconds - elapsed)}, not settled yet{" "}
          </>
        )}
        <progress max={r.seconds} value={Math.min(elapsed, r.seconds)} aria-label={`redemption ${r.id} elapsed time`} />
        <ReclaimOffer r={r} now={now} onChanged={props.onChanged} />
      </>
    );
  } else if (r.status === "Settled") {
    detail = (
      <>
        settled: used {formatHours(r.used)} h, refunded {formatHours(r.reserved - r.used)} h
      </>
    );
  } else if (r.status === "Rejected") {
    detail = (
      <>
        rejected: {r.rejectReason ?? "no reason recorded"}; refunded {formatHours(r.reserved)} h
      </>
    );
  } else if (r.status === "Reclaimed") {
    detail = <>reclaimed: refunded {formatHours(r.reserved)} h</>;
  }
  return (
    <tr data-testid={`redemption-${r.id}`} data-status={r.status}>
      <td class="num">{r.id.toString()}</td>
      <td>{name}</td>
      <td>
        {r.gpus} × {formatHours(BigInt(r.seconds))} h, {r.priority}
      </td>
      <td class="num">{formatHours(r.reserved)}</td>
      <td>
        <span class={`status status-${r.status}`}>{r.status}</span> — {detail}
      </td>
    </tr>
  );
}

function Redemptions(props: { list?: HolderRedemption[]; error?: string; clock?: ChainClock; reload: () => void }) {
  const [nowMs, setNowMs] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNowMs(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  const now = chainNow(props.clock, nowMs);
  return (
    <section aria-labelledby="redemptions-h">
      <h2 id="redemptions-h">My redemptions</h2>
      {props.error && (
        <p class="problems" role="alert">
          {props.error}
        </p>
      )}
      {!props.list ? (
        <p class="muted">Reading…</p>
      ) : !props.list.length ? (
        <p class="muted">None yet.</p>
      ) : (
        <div class="table-wrap">
          <table data-testid="redemptions">
            <TableHead columns={[{ head: "id", num: true }, "job", "asked", { head: "reserved (h)", num: true }, "status"]} />
            <tbody>
              {props.list.map((r) => (
                <RedemptionRow key={r.id.toString()} r={r} now={now} onChanged={props.reload} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function TransferForm(props: { balances?: HolderBalances; onSent: () => void }) {
  const { connection } = useApp();
  const [to, setTo] = useState("");
  const [cls, setCls] = useState("");
  const [hours, setHours] = useState("");
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<FormResult>();
  const classes = props.balances?.classes ?? [];
  useEffect(() => {
    if (!cls && classes[0]) setCls(classes[0].name);
  }, [classes.length]);
  const submit = async (e: Event) => {
    e.preventDefault();
    setResult(undefined);
    const w = connection?.writer;
    if (!w || !props.balances) return;
    try {
      if (!isAddress(to.trim())) throw new InputFormatError("the recipient must be a 0x-prefixed 20-byte address");
      const recipient = getAddress(to.trim()) as Address;
      const amount = parseHours(hours);
      const c = classes.find((x) => x.name === cls);
      if (!c) throw new InputFormatError("choose a class you hold");
      const { picks, available } = pickLots(c.lots, amount, { now: props.balances.at, transferableOnly: true });
      if (!picks.length)
        throw new InputFormatError(`you can transfer ${formatHours(available)} ${c.name} GPU-hours (transferable, unexpired lots only; soulbound hours stay with you)`);
      setBusy(true);
      const me = w.account.address;
      const receipt =
        picks.length === 1
          ? await writeComputeToken(w, "safeTransferFrom", [me, recipient, picks[0]!.lotId, picks[0]!.amount, "0x"])
          : await writeComputeToken(w, "safeBatchTransferFrom", [me, recipient, picks.map((p) => p.lotId), picks.map((p) => p.amount), "0x"]);
      setResult({ ok: true, text: `Sent ${formatHours(amount)} ${c.name} GPU-hours to ${recipient} (transaction ${receipt.transactionHash}).` });
      props.onSent();
    } catch (err) {
      setResult({ ok: false, text: `Not sent: ${errorText(err)}` });
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="transfer-h">
      <h2 id="transfer-h">Give hours to a colleague</h2>
      <form class="card" onSubmit={submit}>
        <div class="grid">
          <div>
            <label for="t-to">Colleague's wallet</label>
            <input id="t-to" value={to} onInput={(e) => setTo(e.currentTarget.value)} autocomplete="off" placeholder="0x…" />
          </div>
          <div>
            <Choice id="t-class" label="Class" value={cls} onChange={setCls} choices={classes.map((c) => ({ value: c.name }))} />
          </div>
          <div>
            <label for="t-hours">GPU-hours</label>
            <input id="t-hours" value={hours} onInput={(e) => setHours(e.currentTarget.value)} inputMode="decimal" />
          </div>
        </div>
        <div class="row">
          <button type="submit" disabled={busy || !connection?.writer || !classes.length}>
            Transfer
          </button>
        </div>
        <ResultNote result={result} />
      </form>
    </section>
  );
}

export function EmployeePage() {
  const { reader, connection } = useApp();
  const address = connection?.address;
  const classes = usePoll(() => listClasses(reader), [], 0);
  const [fetchedAt, setFetchedAt] = useState(Date.now());
  const balances = usePoll(
    async () => {
      if (!address) return undefined;
      const b = await getBalances(reader, address);
      setFetchedAt(Date.now());
      return b;
    },
    [address],
    4000,
  );
  const redemptions = usePoll(() => (address ? listHolderRedemptions(reader, address) : Promise.resolve(undefined)), [address], 1500);
  // A redemption that changes state changes the balance: read it again then.
  const signature = redemptions.data?.map((r) => `${r.id}:${r.status}`).join(",");
  useEffect(() => {
    if (signature !== undefined) balances.reload();
  }, [signature]);
  const reloadAll = () => {
    balances.reload();
    redemptions.reload();
  };
  return (
    <>
      <h1>My compute</h1>
      {!address ? (
        <p>Connect your wallet (the button at the top) to see your GPU-hours and redeem them.</p>
      ) : (
        <>
          <Balances balances={balances.data} fetchedAt={fetchedAt} error={balances.error} />
          <RedeemForm classes={classes.data ?? []} balances={balances.data} onSent={reloadAll} />
          <Redemptions
            list={redemptions.data}
            error={redemptions.error}
            clock={balances.data ? { at: Number(balances.data.at), readAt: fetchedAt } : undefined}
            reload={reloadAll}
          />
          <TransferForm balances={balances.data} onSent={reloadAll} />
          <CreditsSection />
        </>
      )}
    </>
  );
}
