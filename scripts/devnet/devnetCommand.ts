/**
 * `ctk devnet up`: the local chain, deployed and configured, until Ctrl-C. Prints the RPC URL, the
 * contract addresses, the local role accounts and the next commands to try.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { privateKeyToAccount } from "viem/accounts";
import { chainTime, createCtkClient } from "../../sdk/client.js";
import { readCreditBalance } from "../../sdk/credits/reads.js";
import { formatCredits } from "../../sdk/credits/units.js";
import { formatExpiry, formatHours } from "../../sdk/format.js";
import type { JobSpec } from "../../sdk/jobSpec.js";
import { globalsOf } from "../cli/globals.js";
import { UserError, note, printLines, table } from "../cli/output.js";
import { howToCall } from "../gateway/gatewayCommand.js";
import { loadSpec } from "../wallet/redeemCommand.js";
import { LOCAL_ROLE_KEYS, type LocalRole, localAddress, localEmployeeKey } from "../../devkit/localAccounts.js";
import { DEMO_EMPLOYEE, DEMO_EMPLOYEE_KEY, type DemoEvent, type DemoGrant, grantDemoCredits, grantDemoHours, midnightAfter, runDemoRedemption } from "./runDemo.js";
import { DEFAULT_DEVNET_DIR, DEFAULT_DEVNET_PORT, type Devnet, DevnetError, type DevnetStopReport, startDevnet } from "./runDevnet.js";
import { type WebServer, startWebServer } from "../web/server.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const DEFAULT_CLASSES = "config/classes.json";
/** The signals that stop the devnet: Ctrl-C, a kill, a closed terminal. */
const STOP_SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
/** The demo redemption's job spec and class (`ctk devnet up` runs it once per fresh chain). */
const DEMO_SPEC = path.join(ROOT, "config", "demo-job.json");
const DEMO_CLASS = "H100-80GB";

const relative = (f: string) => {
  const r = path.relative(process.cwd(), f);
  return r && !r.startsWith("..") ? r : f;
};

const gpuSeconds = (units: bigint) => `${units} GPU-second${units === 1n ? "" : "s"}`;

/** Human lines for each step of the demo redemption. */
function describeDemoEvent(e: DemoEvent): string[] {
  switch (e.step) {
    case "granted": {
      const hours = formatHours(e.units);
      const credits = e.credits ? ` and ${formatCredits(e.credits)} inference credits` : "";
      return [`demo: HR onboarded the demo employee ${e.employee} and granted ${hours} ${e.className} GPU-hour${hours === "1" ? "" : "s"}${credits}`];
    }
    case "requested":
      return [
        `demo: redemption ${e.id} requested: burned ${formatHours(e.units)} ${e.className} GPU-hours (${e.spec.gpus} GPUs × ${e.spec.hours} h, ${e.spec.priority}) for job ${e.spec.name} (tx ${e.txHash})`,
      ];
    case "running":
      return [`demo: redemption ${e.id} running on ${e.jobLog ? `simulated GPU slots; job log ${relative(e.jobLog)}` : "the executor"}`];
    case "settled":
      return [
        ...e.jobOutput.map((l) => `demo:   job output | ${l}`),
        `demo: redemption ${e.id} settled: used ${formatHours(e.used)} GPU-hours (${gpuSeconds(e.used)}), refunded ${formatHours(e.refunded)} (${gpuSeconds(e.refunded)}); receipt ${relative(e.receipt)}`,
        `demo: done; the chain and the redeemer keep running (Ctrl-C stops them)`,
      ];
    case "rejected":
      return [`demo: redemption ${e.id} rejected: ${e.reason}; refunded ${formatHours(e.refunded)} GPU-hours`];
  }
}

const ROLE_LABEL: Record<LocalRole, string> = {
  ADMIN: "admin",
  HR: "HR",
  OPERATIONS: "operations",
  REDEEMER: "redeemer",
  PAUSER: "pauser",
  GATEWAY: "gateway",
};

/** The demo employee's inference credits, and an expiry for the authorization the gateway lines sign. */
interface DemoCredits {
  credits: bigint;
  expires: string;
}

/** What the demo employee holds for the gateway (none: the gateway lines stay generic). */
async function demoCreditsOf(d: Devnet): Promise<DemoCredits | undefined> {
  if (!d.gateway.url || !d.deployment.inferenceCredit) return undefined;
  const reader = createCtkClient({ rpcUrl: d.rpcUrl, deployment: d.deployment });
  const [credits, now] = await Promise.all([readCreditBalance(reader, DEMO_EMPLOYEE), chainTime(reader)]);
  return credits > 0n ? { credits, expires: formatExpiry(midnightAfter(now, 31n)) } : undefined;
}

function summary(d: Devnet, dir: string, web?: WebServer, demoCredits?: DemoCredits): string[] {
  const rel = relative;
  const rpcFlag = d.rpcUrl === `http://127.0.0.1:${DEFAULT_DEVNET_PORT}` ? "" : ` --rpc ${d.rpcUrl}`;
  const depFlag = path.resolve(dir) === path.resolve(DEFAULT_DEVNET_DIR) ? "" : ` --deployment ${rel(d.deploymentFile)}`;
  const flags = `${rpcFlag}${depFlag}`;
  const employee = privateKeyToAccount(localEmployeeKey(0)).address;
  return [
    `ctk devnet is up (${d.reused ? `reusing the deployment in ${rel(d.deploymentFile)}` : "deployed fresh"})`,
    ...table(
      ["", ""],
      [
        ["RPC URL", `${d.rpcUrl} (chain ${d.chainId})`],
        ["ComputeToken", d.deployment.computeToken],
        ["AccessManager", d.deployment.accessManager],
        ["InferenceCredit", d.deployment.inferenceCredit ?? "not deployed (older deployment)"],
        ["deployment", rel(d.deploymentFile)],
        ["chain state", rel(d.stateFile)],
        ["classes", d.classes.map((c) => c.name + (c.active ? "" : " (retired)")).join(", ") || "none"],
        ["redeemer", d.redeemer.note],
        ["web app", web ? web.url : "not started (--no-web)"],
        ["gateway", d.gateway.note],
      ],
    ).slice(2),
    "",
    "Local accounts (anvil's public test keys: never use them on a real network):",
    ...table(
      ["role", "address", "private key"],
      (Object.keys(LOCAL_ROLE_KEYS) as LocalRole[]).map((r) => [ROLE_LABEL[r], localAddress(r), LOCAL_ROLE_KEYS[r]]),
    ),
    "",
    "Next, in another terminal:",
    `  export CTK_PRIVATE_KEY=${LOCAL_ROLE_KEYS.HR}   # the local HR key`,
    `  export CTK_OPERATIONS_KEY=${LOCAL_ROLE_KEYS.OPERATIONS}   # the local operations key (ctk hr classes)`,
    `  npx ctk hr onboard --csv examples/employees.csv${flags}`,
    `  npx ctk hr grant --csv examples/grants.csv --dry-run${flags}`,
    `  npx ctk hr grant --csv examples/grants.csv${flags}`,
    `  npx ctk balance --wallet ${employee}${flags}`,
    ...(d.redeemer.started
      ? [
          "",
          "A fresh chain runs a demo redemption (--no-demo skips it). To redeem by hand as the demo employee,",
          "who keeps what the demo did not use:",
          `  export CTK_DEMO_KEY=${DEMO_EMPLOYEE_KEY}   # the local demo employee ${DEMO_EMPLOYEE}`,
          `  npx ctk redeem --class ${DEMO_CLASS} --spec ${rel(DEMO_SPEC)} --yes --key-env CTK_DEMO_KEY${flags}`,
          `  npx ctk status <id> --follow${flags}`,
        ]
      : []),
    ...(d.gateway.url
      ? [
          "",
          demoCredits
            ? `The metering gateway (OpenAI-compatible, paid in inference credits). The demo employee holds ${formatCredits(demoCredits.credits)} credits; as them, call it with curl or the openai client:`
            : "The metering gateway (OpenAI-compatible, paid in inference credits). Call it with curl or the openai client:",
          ...(demoCredits && !d.redeemer.started ? [`  export CTK_DEMO_KEY=${DEMO_EMPLOYEE_KEY}   # the local demo employee ${DEMO_EMPLOYEE}`] : []),
          ...howToCall(d.gateway.url, d.gateway.model ?? "stories260K", {
            ...(demoCredits && { expires: demoCredits.expires }),
            authorize: `${demoCredits ? " --key-env CTK_DEMO_KEY" : ""}${flags}`,
          }).map((l) => `  ${l}`),
        ]
      : []),
    "",
    `Ctrl-C stops the chain; its state stays in ${rel(path.dirname(d.stateFile))}/ for the next start.`,
    ...(d.redeemer.started ? ["Jobs still running then keep running, and the next start settles them (--stop-jobs: stop them, charged for what ran)."] : []),
    "devnet ready",
  ];
}

/** What became of the redeemer's running jobs when the devnet stopped. */
function describeJobsAtStop(report: DevnetStopReport, logsDir: string | undefined): string[] {
  const logs = logsDir ? ` (logs in ${relative(logsDir)}/)` : "";
  const list = (names: string[]) => names.join(", ");
  const lines: string[] = [];
  if (report.jobsLeftRunning.length > 0) {
    lines.push(
      `left running under supervision: ${list(report.jobsLeftRunning)}${logs}; the next start follows them to their end and settles them (--stop-jobs stops them instead)`,
    );
  }
  if (report.jobsStopped.length > 0) {
    lines.push(`stopped: ${list(report.jobsStopped)}${logs}; the next start settles each for the time it ran`);
  }
  return lines;
}

/** The demo went wrong: said in one line; the devnet keeps running. */
function demoFailed(e: unknown): void {
  note(`demo: failed: ${(e as Error).message.split("\n")[0]} (the devnet keeps running)`);
}

/** Runs the demo redemption after HR's `grant`, printing each step (JSON lines with --json); never throws. */
async function runDemoInBackground(d: Devnet, spec: JobSpec, grant: DemoGrant, json: boolean, signal: AbortSignal): Promise<void> {
  const report = (e: DemoEvent) => {
    if (!json) return printLines(describeDemoEvent(e));
    process.stdout.write(`${JSON.stringify({ demo: e }, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))}\n`);
  };
  try {
    await runDemoRedemption(
      {
        rpcUrl: d.rpcUrl,
        deployment: d.deployment,
        spec,
        receiptsDir: d.redeemer.receiptsDir ?? path.join(path.dirname(d.deploymentFile), "redeemer", "receipts"),
        ...(d.redeemer.jobLogsDir && { jobLogsDir: d.redeemer.jobLogsDir }),
        report,
        signal,
      },
      grant,
    );
  } catch (e) {
    demoFailed(e);
  }
}

export function devnetCommand(): Command {
  const devnet = new Command("devnet").description("the local chain for one machine");
  devnet
    .command("up")
    .description("start anvil (state kept in .devnet/), deploy once, apply config/classes.json, start the redeemer, run a demo redemption on a fresh chain; Ctrl-C stops")
    .option("--port <n>", "loopback port for the JSON-RPC endpoint", String(DEFAULT_DEVNET_PORT))
    .option("--dir <dir>", "where the chain state and deployment file live", DEFAULT_DEVNET_DIR)
    .option("--classes <file>", "classes file to apply", DEFAULT_CLASSES)
    .option("--no-classes", "do not apply a classes file")
    .option("--no-redeemer", "do not start the redeemer")
    .option("--redeemer-port <n>", "port of the redeemer's HTTP API (0: any free port)", "8787")
    .option("--no-gateway", "do not start the metering gateway")
    .option("--gateway-port <n>", "port of the metering gateway (0: any free port)", "8788")
    .option("--reset", "forget the saved chain and deploy afresh")
    .option("--web-port <n>", "port of the web app (0, or a port already in use: any free port)", "8080")
    .option("--no-web", "do not serve the web app")
    .option("--no-demo", "do not run the demo redemption (config/demo-job.json) on a freshly deployed chain")
    .option("--stop-jobs", "on Ctrl-C, stop the redeemer's running jobs (each charged for the time it ran) instead of leaving them running for the next start")
    .action(async function (
      this: Command,
      opts: {
        port: string;
        dir: string;
        classes: string | false;
        redeemer: boolean;
        redeemerPort: string;
        reset?: boolean;
        demo: boolean;
        stopJobs?: boolean;
        web: boolean;
        webPort: string;
        gateway: boolean;
        gatewayPort: string;
      },
    ) {
      const globals = globalsOf(this);
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UserError("--port must be a port number (1..65535)");
      const webPort = Number(opts.webPort);
      if (!Number.isInteger(webPort) || webPort < 0 || webPort > 65535) throw new UserError("--web-port must be a port number (0..65535)");
      // Signals are ours from the start: Ctrl-C during start-up still stops anvil cleanly.
      let stopping: NodeJS.Signals | undefined;
      let onStop: (signal: NodeJS.Signals) => void = (signal) => {
        stopping = signal;
      };
      const handler = (signal: NodeJS.Signals) => onStop(signal);
      // A closed terminal (SIGHUP) stops it as Ctrl-C does.
      for (const sig of STOP_SIGNALS) process.on(sig, handler);
      let d: Devnet;
      try {
        d = await startDevnet({
          port,
          dir: opts.dir,
          // The default file falls back to this repository's when the working directory has none.
          classesFile: opts.classes === false ? null : opts.classes === DEFAULT_CLASSES && !existsSync(DEFAULT_CLASSES) ? undefined : path.resolve(opts.classes),
          redeemer: opts.redeemer,
          redeemerApiPort: Number(opts.redeemerPort),
          gateway: opts.gateway,
          gatewayPort: Number(opts.gatewayPort),
          reset: opts.reset,
          stopJobs: opts.stopJobs ?? false,
          chainInOwnGroup: true,
          log: globals.json ? undefined : (l) => note(l),
        });
      } catch (e) {
        if (e instanceof DevnetError) throw new UserError(e.message);
        throw e;
      }
      // The web app, on this machine only; a taken port falls back to any free one (the address is printed).
      let web: WebServer | undefined;
      if (opts.web && !stopping) {
        const webOpts = {
          rpcUrl: d.rpcUrl,
          deployment: d.deployment,
          redeemerApi: d.redeemer.apiUrl,
          receipts: d.redeemer.receiptsDir ? [d.redeemer.receiptsDir] : undefined,
          gateway: d.gateway.url,
        };
        try {
          web = await startWebServer({ ...webOpts, port: webPort }).catch((e: NodeJS.ErrnoException) => {
            if (e.code === "EADDRINUSE") return startWebServer({ ...webOpts, port: 0 });
            throw e;
          });
        } catch (e) {
          note(`web app: not started: ${(e as Error).message.split("\n")[0]}`);
        }
      }
      // HR's part of the demo (once per fresh chain) before "devnet ready": from then on the HR key
      // is the user's alone, with no demo transaction in flight to clash with theirs.
      let demoRun: { spec: JobSpec; grant: DemoGrant } | undefined;
      if (opts.demo && !d.reused && !stopping) {
        if (!d.redeemer.started) note("demo: skipped: the redeemer is not running");
        else {
          try {
            const spec = loadSpec(DEMO_SPEC);
            demoRun = { spec, grant: await grantDemoHours({ rpcUrl: d.rpcUrl, deployment: d.deployment, spec, className: DEMO_CLASS }) };
          } catch (e) {
            demoFailed(e);
          }
          // Inference credits too, so that the gateway lines below work for the demo employee.
          if (demoRun && d.deployment.inferenceCredit) {
            try {
              demoRun.grant.event.credits = await grantDemoCredits({ rpcUrl: d.rpcUrl, deployment: d.deployment });
            } catch (e) {
              note(`demo: no inference credits granted: ${(e as Error).message.split("\n")[0]}`);
            }
          }
        }
      }
      if (globals.json) {
        process.stdout.write(
          `${JSON.stringify({
            ready: true,
            rpcUrl: d.rpcUrl,
            chainId: d.chainId,
            deployment: d.deployment,
            deploymentFile: d.deploymentFile,
            stateFile: d.stateFile,
            reused: d.reused,
            classes: d.classes,
            classChanges: d.classChanges,
            redeemer: d.redeemer,
            webUrl: web?.url ?? null,
            gateway: d.gateway,
            accounts: Object.fromEntries((Object.keys(LOCAL_ROLE_KEYS) as LocalRole[]).map((r) => [ROLE_LABEL[r], localAddress(r)])),
          })}\n`,
        );
      } else printLines(summary(d, opts.dir, web, await demoCreditsOf(d).catch(() => undefined)));

      // The demo redemption, once per fresh chain, while the devnet keeps running.
      const demoAbort = new AbortController();
      let demo: Promise<void> = Promise.resolve();
      if (demoRun) demo = runDemoInBackground(d, demoRun.spec, demoRun.grant, globals.json, demoAbort.signal);

      const report = await new Promise<DevnetStopReport>((resolve) => {
        let stoppedAt: number | undefined;
        onStop = (signal) => {
          if (stoppedAt !== undefined) {
            // npm passes its Ctrl-C on too: the same press arrives twice. A second press, later: the
            // chain now, without waiting for the services (their state is on disk already).
            if (Date.now() - stoppedAt < 1_000) return;
            if (!globals.json) note(`${signal} again: stopping the chain now, without waiting for the services`);
            d.stopChainNow();
            process.exit(130);
          }
          stoppedAt = Date.now();
          if (!globals.json) note(`\n${signal}: stopping the devnet (saving the chain state)`);
          demoAbort.abort();
          demo
            .then(() => web?.close())
            .then(() => d.stop())
            .then(resolve, (e) => {
              note(`error while stopping: ${(e as Error).message}`);
              resolve({ jobsLeftRunning: [], jobsStopped: [] });
            });
        };
        if (stopping) onStop(stopping);
      });
      for (const sig of STOP_SIGNALS) process.off(sig, handler);
      if (globals.json) process.stdout.write(`${JSON.stringify({ stopped: true, ...report })}\n`);
      else {
        for (const line of describeJobsAtStop(report, d.redeemer.jobLogsDir)) note(line);
        note("devnet stopped");
      }
    });
  return devnet;
}
