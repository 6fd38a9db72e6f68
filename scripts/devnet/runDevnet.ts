/**
 * The embedded local chain: anvil with its state persisted under `.devnet/`, ComputeToken deployed
 * once (a later start reuses `.devnet/deployment.json` after checking the code is there), the
 * classes file applied, and — once it exists — the redeemer. `ctk devnet up` and `npm start` run this.
 */
import { hostname } from "node:os";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { connect } from "node:net";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { type CtkClient, checkDeployment, createCtkClient } from "../../sdk/client.js";
import { applyClassChanges, describeClassChange, diffClasses, listClasses, readClassesFile } from "../../sdk/classes.js";
import { type Deployment, readDeployment } from "../../sdk/deployment.js";
import { ensureContractsBuilt } from "./buildContracts.js";
import { LOCAL_ROLE_KEYS, deployLocal } from "../../devkit/localAccounts.js";
import { type AnvilHandle, startAnvil } from "../../devkit/startAnvil.js";
import { CtkError } from "../../sdk/ctkError.js";
import { writeFileAtomicSync } from "../../sdk/atomicFile.js";
// The redeemer's own check that a pid is still the process it noted (a leaf module: Node's modules only).
import { isSameProcess, readProcStat } from "../../redeemer/executor/local/processControl.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export const DEFAULT_DEVNET_PORT = 8545;
export const DEFAULT_DEVNET_DIR = ".devnet";

export interface DevnetOptions {
  port?: number;
  /** Where the chain state and the deployment file live (default .devnet). */
  dir?: string;
  /** Classes file to apply (default config/classes.json; null: none). */
  classesFile?: string | null;
  /** Forget the saved chain and deploy afresh. */
  reset?: boolean;
  /** Start the redeemer too, when it exists (default true). */
  redeemer?: boolean;
  /** Port of the redeemer's HTTP API (default 8787; 0: any free port). */
  redeemerApiPort?: number;
  /**
   * On stop, stop the redeemer's running jobs (each charged for the time it ran) instead of
   * leaving them running under their supervisors for the next start to follow (the default).
   */
  stopJobs?: boolean;
  /** Start the metering gateway too (default true). */
  gateway?: boolean;
  /** Port of the gateway (default 8788; 0: any free port). */
  gatewayPort?: number;
  /**
   * Run the chain in a process group of its own (`ctk devnet up`): a terminal's Ctrl-C then
   * reaches the devnet alone, which stops the chain after the services that use it. Noted in
   * `<dir>/anvil.pid`, so that a chain a killed devnet left running is stopped at the next start.
   */
  chainInOwnGroup?: boolean;
  /** Progress notes (stderr in the CLI). */
  log?: (line: string) => void;
}

export interface RedeemerHandle {
  stop(): Promise<void>;
  /** The local executor's jobs running or being started. */
  executor?: { activeJobs?(): string[] };
}

/** What stopping the devnet did to the redeemer's running jobs. */
export interface DevnetStopReport {
  /** Left running under their supervisors: the next start follows them and settles them. */
  jobsLeftRunning: string[];
  /** Stopped (with `stopJobs`): each is settled for the time it ran at the next start. */
  jobsStopped: string[];
}

export interface Devnet {
  rpcUrl: string;
  chainId: number;
  deployment: Deployment;
  deploymentFile: string;
  stateFile: string;
  /** True when the deployment was found in the saved state and reused. */
  reused: boolean;
  classes: { name: string; active: boolean }[];
  classChanges: string[];
  gateway: {
    started: boolean;
    note: string;
    /** The gateway's base URL, when it started. */
    url?: string;
    /** The first model it serves. */
    model?: string;
  };
  redeemer: {
    started: boolean;
    note: string;
    /** Where the redeemer writes usage receipts (<id>.json), when it started. */
    receiptsDir?: string;
    /** The local executor's job logs (<job>.log), when it started. */
    jobLogsDir?: string;
    /** The redeemer's HTTP API base URL, when it started. */
    apiUrl?: string;
  };
  stop(): Promise<DevnetStopReport>;
  /** Sends the chain SIGTERM now (it saves its state), without stopping the services first. */
  stopChainNow(): void;
}

export class DevnetError extends CtkError {
  constructor(message: string) {
    super(message);
    this.name = "DevnetError";
  }
}

/** Where a running devnet notes its chain's process and its own (see {@link stopChainLeftRunning}). */
export const CHAIN_PID_FILE = "anvil.pid";

interface ChainPidNote {
  anvil: number;
  /** When each process started (/proc/<pid>/stat, clock ticks since boot): a pid reused since is not taken for it. */
  anvilStart: string;
  devnet: number;
  devnetStart: string;
}

/** Whether `pid` is still the anvil of `note`: started then, its program anvil, its `--state` this state file. */
function isNotedChain(note: ChainPidNote, stateFile: string): boolean {
  if (isSameProcess(note.anvil, note.anvilStart) !== true) return false;
  let argv: string[];
  try {
    argv = readFileSync(`/proc/${note.anvil}/cmdline`, "utf8").split("\0");
  } catch {
    return false;
  }
  return path.basename(argv[0] ?? "") === "anvil" && argv[argv.indexOf("--state") + 1] === stateFile;
}

const signalIfAlive = (pid: number, signal: NodeJS.Signals): void => {
  try {
    process.kill(pid, signal);
  } catch {
    // gone meanwhile (or not ours to signal: then it is left as it is)
  }
};

/**
 * The chain a devnet stopped without its shutdown (SIGKILL, a crash) left running: the devnet of
 * `ctk devnet up` runs anvil in a process group of its own, so that Ctrl-C does not stop it before
 * the services that use it (the gateway settles what it charged as it stops), and so anvil outlives
 * such a devnet. Stopped here when the devnet that started it is gone and the process is still that
 * anvil; returns its pid then. Linux only (/proc): elsewhere the port check says the port is taken.
 */
async function stopChainLeftRunning(dir: string, stateFile: string): Promise<number | undefined> {
  const file = path.join(dir, CHAIN_PID_FILE);
  if (!existsSync(file) || readProcStat(process.pid) === undefined) return undefined;
  let note: ChainPidNote | undefined;
  try {
    note = JSON.parse(readFileSync(file, "utf8")) as ChainPidNote;
  } catch {
    // unreadable: nothing to go by
  }
  // Its devnet still runs (the same process: started then): not left, in use.
  if (note?.devnetStart && isSameProcess(note.devnet, note.devnetStart) === true) return undefined;
  if (!note || !isNotedChain(note, stateFile)) {
    rmSync(file, { force: true });
    return undefined;
  }
  signalIfAlive(note.anvil, "SIGTERM");
  for (let i = 0; i < 100 && isNotedChain(note, stateFile); i++) await new Promise((r) => setTimeout(r, 50));
  if (isNotedChain(note, stateFile)) signalIfAlive(note.anvil, "SIGKILL");
  for (let i = 0; i < 40 && isSameProcess(note.anvil, note.anvilStart) === true; i++) await new Promise((r) => setTimeout(r, 50));
  rmSync(file, { force: true });
  return note.anvil;
}

async function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** Reuses the saved deployment if the chain still has its code; else undefined. */
async function savedDeployment(rpcUrl: string, file: string, log: (l: string) => void): Promise<Deployment | undefined> {
  if (!existsSync(file)) return undefined;
  let deployment: Deployment;
  try {
    deployment = readDeployment(file);
  } catch (e) {
    log(`ignoring ${file}: ${(e as Error).message}`);
    return undefined;
  }
  try {
    await checkDeployment(createCtkClient({ rpcUrl, deployment }));
    return deployment;
  } catch (e) {
    log(`the saved chain does not hold the deployment in ${file} (${(e as Error).message}); deploying again`);
    return undefined;
  }
}

interface RedeemerStart {
  handle?: RedeemerHandle;
  note: string;
  receiptsDir?: string;
  jobLogsDir?: string;
  apiUrl?: string;
}

/**
 * Where the devnet notes its redeemer's API (next to deployment.json), so that `ctk redeem` and
 * `ctk status` find it with the same --deployment / CTK_DEPLOYMENT that finds the chain.
 */
const REDEEMER_API_FILE = "redeemer-api.json";
/** Named secrets for the devnet's jobs: `{ "<name>": "<value>" }`, read at start (never on-chain). */
const SECRETS_FILE = "secrets.json";

/**
 * The devnet is a zero-gas chain, as permissioned production chains usually are (Hyperledger Besu
 * `--min-gas-price=0`): employees never need ETH. anvil runs with a zero base fee and gas price.
 */
const ZERO_GAS_ANVIL_ARGS = ["--base-fee", "0", "--gas-price", "0", "--no-priority-fee"] as const;

/**
 * ── REDEEMER HOOK ── The redeemer exports `startRedeemer(config, deps)` from redeemer/index.ts.
 * The devnet starts it with the local executor (simulated GPUs of every class in the classes
 * file), the local redeemer key, no confirmations, its data under `<dir>/redeemer/`, and its logs
 * on stderr. `config/redeemer.devnet.json`, when present, is merged in (e.g. the image policy).
 */
async function startRedeemerIfPresent(client: CtkClient, devnetDir: string, classNames: readonly string[], apiPort: number, stopJobs: boolean): Promise<RedeemerStart> {
  const entry = path.join(ROOT, "redeemer", "index.ts");
  if (!existsSync(entry)) return { note: "not started: the redeemer is not part of this build yet (redeemer/index.ts)" };
  const mod = (await import(pathToFileURL(entry).href)) as {
    startRedeemer?: (config: unknown, deps?: { logger?: unknown }) => Promise<RedeemerHandle & { port?: number; ready?: Promise<void> }>;
    parseRedeemerConfig?: (raw: unknown, opts?: { baseDir?: string; source?: string }) => unknown;
  };
  if (typeof mod.startRedeemer !== "function" || typeof mod.parseRedeemerConfig !== "function") {
    return { note: "not started: redeemer/index.ts does not export startRedeemer and parseRedeemerConfig" };
  }
  const overridesFile = path.join(ROOT, "config", "redeemer.devnet.json");
  const overrides = existsSync(overridesFile) ? (JSON.parse(readFileSync(overridesFile, "utf8")) as Record<string, unknown>) : {};
  const dataDir = path.join(devnetDir, "redeemer");
  // Named secrets for jobs (`"secrets": { "HF_TOKEN": "hf-token" }` in a spec): <dir>/secrets.json
  // stays on this machine; the policy allows the names it holds.
  const secretsFile = path.join(devnetDir, SECRETS_FILE);
  const secretNames = existsSync(secretsFile) ? Object.keys(JSON.parse(readFileSync(secretsFile, "utf8")) as object) : [];
  const raw = {
    confirmations: 0,
    pollIntervalMs: 250,
    logLevel: process.env.CTK_LOG_LEVEL ?? "warn",
    policy: { allowedRegistries: ["registry.example.com", "ghcr.io", "docker.io"], requireDigest: true, allowedSecrets: secretNames },
    ...overrides,
    rpcUrl: client.rpcUrl,
    deployment: client.deployment,
    privateKey: LOCAL_ROLE_KEYS.REDEEMER,
    receiptsDir: path.join(dataDir, "receipts"),
    api: { host: "127.0.0.1", port: apiPort },
    executor: {
      kind: "local",
      local: {
        gpus: classNames.map((c) => ({ simulated: true, class: c, count: 8 })),
        // Jobs find `node` (config/demo-job.json runs it) even when it is not on the user's PATH.
        path: [path.dirname(process.execPath), process.env.PATH ?? ""].filter(Boolean).join(path.delimiter),
        ...(secretNames.length > 0 && { secretsFile }),
        ...((overrides.executor as { local?: object } | undefined)?.local ?? {}),
        dataDir: path.join(dataDir, "executor"),
        killRunningOnClose: stopJobs,
      },
    },
  };
  const config = mod.parseRedeemerConfig(raw, { baseDir: ROOT, source: "ctk devnet" });
  const { pino } = await import("pino");
  const logger = pino({ level: String(raw.logLevel), base: { service: "ctk-redeemer" } }, pino.destination(2));
  const handle = await mod.startRedeemer(config, { logger });
  await handle.ready;
  const executorDir = (config as { executor: { local?: { dataDir?: string } } }).executor.local?.dataDir;
  return {
    handle,
    note: `started (local executor, API http://127.0.0.1:${handle.port ?? apiPort})`,
    apiUrl: `http://127.0.0.1:${handle.port ?? apiPort}`,
    receiptsDir: raw.receiptsDir,
    ...(executorDir && { jobLogsDir: path.join(executorDir, "logs") }),
  };
}

const DEFAULT_GATEWAY_PORT = 8788;

interface GatewayStart {
  handle?: RedeemerHandle;
  note: string;
  url?: string;
  model?: string;
}

/**
 * ── GATEWAY ── The metering gateway beside the redeemer: config/gateway.devnet.json (models, the
 * embedded model file, settlement), the local GATEWAY account, its ledger and usage records under
 * `<dir>/gateway/`. Without the model file it says how to point the model at an upstream instead.
 */
async function startGatewayIfConfigured(client: CtkClient, devnetDir: string, port: number): Promise<GatewayStart> {
  const file = path.join(ROOT, "config", "gateway.devnet.json");
  if (!existsSync(file)) return { note: "not started: no config/gateway.devnet.json" };
  const raw = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown> & { embedded?: { modelPath?: string }; models?: { name: string; upstream: string }[] };
  const modelPath = raw.embedded?.modelPath ? path.resolve(ROOT, raw.embedded.modelPath) : undefined;
  if (raw.models?.some((m) => m.upstream === "embedded") && (!modelPath || !existsSync(modelPath))) {
    return {
      note: `not started: the model file ${modelPath ?? "(embedded.modelPath)"} is missing; set embedded.modelPath in config/gateway.devnet.json, or give the model an OpenAI-compatible upstream there ("upstream": "http://host:8000/v1"), or run \`ctk gateway serve --upstream stories260K=http://host:8000/v1\``,
    };
  }
  const [{ parseGatewayConfig }, { startGateway }, { pino }] = await Promise.all([import("../../gateway/config.js"), import("../../gateway/index.js"), import("pino")]);
  const dataDir = path.join(devnetDir, "gateway");
  const config = parseGatewayConfig(
    {
      logLevel: process.env.CTK_LOG_LEVEL ?? "warn",
      ...raw,
      chain: { rpcUrl: client.rpcUrl, deployment: client.deployment, privateKey: LOCAL_ROLE_KEYS.GATEWAY },
      host: "127.0.0.1",
      port,
      replica: "devnet",
      database: { kind: "sqlite", file: path.join(dataDir, "ledger.sqlite") },
      recordsDir: path.join(dataDir, "records"),
    },
    ROOT,
  );
  const logger = pino({ level: config.logLevel, base: { service: "ctk-gateway" } }, pino.destination(2));
  const gw = await startGateway(config, { logger });
  const model = config.models.find((m) => gw.prices()?.models.has(m.name))?.name ?? config.models[0]?.name;
  return {
    handle: gw,
    note: `started on ${gw.url} (models ${config.models.map((m) => m.name).join(", ")}; records ${path.relative(process.cwd(), config.recordsDir) || config.recordsDir})`,
    url: gw.url,
    model,
  };
}

export async function startDevnet(opts: DevnetOptions = {}): Promise<Devnet> {
  const log = opts.log ?? (() => {});
  const port = opts.port ?? DEFAULT_DEVNET_PORT;
  const dir = path.resolve(opts.dir ?? DEFAULT_DEVNET_DIR);
  const stateFile = path.join(dir, "anvil-state.json");
  const deploymentFile = path.join(dir, "deployment.json");
  const classesFile = opts.classesFile === undefined ? path.join(ROOT, "config", "classes.json") : opts.classesFile;
  const classesSpec = classesFile ? readClassesFile(classesFile) : undefined;

  const leftRunning = await stopChainLeftRunning(dir, stateFile);
  if (leftRunning) log(`stopped the local chain (pid ${leftRunning}) that a devnet stopped without its shutdown had left running`);
  if (await portAnswers(port)) {
    throw new DevnetError(`port ${port} is already in use (is a devnet already running?): stop it or pass --port <n>`);
  }
  mkdirSync(dir, { recursive: true });
  if (opts.reset) {
    rmSync(stateFile, { force: true });
    rmSync(deploymentFile, { force: true });
  }
  await ensureContractsBuilt(ROOT, log);
  log(`starting anvil on 127.0.0.1:${port} (state ${stateFile})`);
  // `ctk devnet up`: in a process group of its own, Ctrl-C reaching the devnet, which stops the chain
  // last; noted as soon as it is spawned (a devnet killed while anvil loads a long history leaves it too).
  const chainPidFile = path.join(dir, CHAIN_PID_FILE);
  let chainNote: string | undefined;
  const anvil: AnvilHandle = await startAnvil({
    port,
    statePath: stateFile,
    args: [...ZERO_GAS_ANVIL_ARGS],
    ...(opts.chainInOwnGroup && {
      ownProcessGroup: true,
      onSpawn: (pid: number) => {
        const start = (p: number) => readProcStat(p)?.startTime ?? "";
        const note: ChainPidNote = { anvil: pid, anvilStart: start(pid), devnet: process.pid, devnetStart: start(process.pid) };
        chainNote = `${JSON.stringify(note)}\n`;
        writeFileAtomicSync(chainPidFile, chainNote);
      },
    }),
  });
  let redeemer: RedeemerHandle | undefined;
  let gateway: RedeemerHandle | undefined;
  const apiFile = path.join(dir, REDEEMER_API_FILE);
  const stop = async (): Promise<DevnetStopReport> => {
    const active = redeemer?.executor?.activeJobs?.() ?? [];
    try {
      rmSync(apiFile, { force: true });
      await gateway?.stop();
      await redeemer?.stop();
    } finally {
      await anvil.stop();
      // Only our own note (another devnet on this directory may have written its own since).
      if (chainNote !== undefined && existsSync(chainPidFile) && readFileSync(chainPidFile, "utf8") === chainNote) rmSync(chainPidFile, { force: true });
    }
    return opts.stopJobs ? { jobsLeftRunning: [], jobsStopped: active } : { jobsLeftRunning: active, jobsStopped: [] };
  };
  try {
    let deployment = await savedDeployment(anvil.rpcUrl, deploymentFile, log);
    const reused = deployment !== undefined;
    if (!deployment) {
      // The redeemer's jobs and receipts belong to the chain that is gone; a new chain reuses the
      // same contract address and redemption ids, so they would be mistaken for the new ones.
      const redeemerDir = path.join(dir, "redeemer");
      if (existsSync(redeemerDir)) {
        const aside = `${redeemerDir}.previous-chain-${new Date().toISOString().replace(/[:.]/g, "-")}`;
        renameSync(redeemerDir, aside);
        log(`moved the previous chain's redeemer data to ${aside}`);
      }
      log("deploying AccessManager + ComputeToken");
      deployment = await deployLocal(anvil.rpcUrl);
      writeFileAtomicSync(deploymentFile, `${JSON.stringify(deployment, null, 2)}\n`);
    }
    const ops = createCtkClient({ rpcUrl: anvil.rpcUrl, deployment, account: LOCAL_ROLE_KEYS.OPERATIONS, pollingInterval: 20 });
    let classChanges: string[] = [];
    if (classesSpec) {
      const diff = diffClasses(classesSpec, await listClasses(ops));
      classChanges = diff.changes.map(describeClassChange);
      for (const c of classChanges) log(`classes: ${c}`);
      await applyClassChanges(ops, diff.changes);
    }
    const classes = (await listClasses(ops)).map((c) => ({ name: c.name, active: c.active }));
    let r: RedeemerStart = { note: "not started (--no-redeemer)" };
    if (opts.redeemer !== false) {
      try {
        r = await startRedeemerIfPresent(
          ops,
          dir,
          classes.filter((c) => c.active).map((c) => c.name),
          opts.redeemerApiPort ?? 8787,
          opts.stopJobs ?? false,
        );
      } catch (e) {
        r = { note: `FAILED to start: ${(e as Error).message.split("\n")[0]} (the chain is up without it)` };
      }
    }
    redeemer = r.handle;
    // No redeemer noted as none, so that the CLI does not ask the default port (another devnet's may listen there).
    // With this process's id: a note left by a devnet that was killed names no redeemer.
    const self = { pid: process.pid, pidStart: readProcStat(process.pid)?.startTime, host: hostname() };
    writeFileAtomicSync(apiFile, `${JSON.stringify({ ...(r.handle && r.apiUrl ? { url: r.apiUrl } : { url: null, note: r.note }), ...self })}\n`);
    let g: GatewayStart = { note: "not started (--no-gateway)" };
    if (opts.gateway !== false) {
      try {
        g = await startGatewayIfConfigured(ops, dir, opts.gatewayPort ?? DEFAULT_GATEWAY_PORT);
      } catch (e) {
        g = { note: `FAILED to start: ${(e as Error).message.split("\n")[0]} (the chain is up without it)` };
      }
    }
    gateway = g.handle;
    return {
      rpcUrl: anvil.rpcUrl,
      chainId: deployment.chainId,
      deployment,
      deploymentFile,
      stateFile,
      reused,
      classes,
      classChanges,
      gateway: { started: Boolean(g.handle), note: g.note, ...(g.url && { url: g.url, model: g.model }) },
      redeemer: {
        started: Boolean(r.handle),
        note: r.note,
        ...(r.handle && r.receiptsDir && { receiptsDir: r.receiptsDir }),
        ...(r.handle && r.jobLogsDir && { jobLogsDir: r.jobLogsDir }),
        ...(r.handle && r.apiUrl && { apiUrl: r.apiUrl }),
      },
      stop,
      stopChainNow: () => void anvil.process.kill("SIGTERM"),
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
