/**
 * Runs the real `ctk` binary (bin/ctk.js) as a child process, as a user would, and captures stdout,
 * stderr and the exit code; and starts `ctk devnet up` as a long-running child for end-to-end tests.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { CHAIN_PID_FILE } from "../../scripts/devnet/runDevnet.js";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const CTK_BIN = path.join(ROOT, "bin", "ctk.js");

export interface CtkRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Added to the environment; `undefined` removes a variable. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Written to stdin, which is then closed. */
  input?: string;
  timeoutMs?: number;
  /** Run as `npx ctk …` (what the README shows) instead of `node bin/ctk.js …`. */
  npx?: boolean;
}

/** Variables a developer's shell may set that would change what ctk does under test. */
const SCRUBBED = ["CTK_PRIVATE_KEY", "CTK_OPERATIONS_KEY", "CTK_PASSWORD", "CTK_RPC", "CTK_DEPLOYMENT", "CTK_DEBUG", "CTK_REDEEMER_API"];

function childEnv(extra: RunOptions["env"] = {}): NodeJS.ProcessEnv {
  const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1" };
  for (const k of SCRUBBED) delete env[k];
  Object.assign(env, extra);
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  return env as NodeJS.ProcessEnv;
}

export async function runCtk(args: readonly string[], opts: RunOptions = {}): Promise<CtkRun> {
  const [command, argv] = opts.npx ? ["npx", ["--no-install", "ctk", ...args]] : [process.execPath, [CTK_BIN, ...args]];
  const child = spawn(command, argv, {
    cwd: opts.cwd ?? ROOT,
    env: childEnv(opts.env),
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  child.stdin.end(opts.input ?? "");
  const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
  const code = await new Promise<number>((resolve) => child.on("close", (c) => resolve(c ?? -1)));
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** `--json` output parsed (bigints arrive as decimal strings). */
export function jsonOf<T = Record<string, unknown>>(run: CtkRun): T {
  try {
    return JSON.parse(run.stdout) as T;
  } catch {
    throw new Error(`ctk did not print JSON (exit ${run.code}):\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
  }
}

export interface DevnetInfo {
  ready: true;
  rpcUrl: string;
  chainId: number;
  deployment: { chainId: number; computeToken: `0x${string}`; accessManager: `0x${string}`; deployBlock: number };
  deploymentFile: string;
  stateFile: string;
  reused: boolean;
  classes: { name: string; active: boolean }[];
  redeemer: { started: boolean; note: string };
}

export interface DevnetProcess {
  info: DevnetInfo;
  child: ChildProcess;
  /** Everything the devnet printed on stderr so far. */
  stderr(): string;
  /** Everything the devnet printed on stdout so far (its JSON lines). */
  stdout(): string;
  /** SIGTERM (what Ctrl-C's SIGINT also does) and wait for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number>;
}

/**
 * SIGKILLs the chain a devnet in `dir` noted ({@link CHAIN_PID_FILE}), if it still runs: `ctk devnet up` runs it
 * in a process group of its own, so a devnet killed outright (a test's last resort) leaves it.
 */
export function killChainLeftIn(dir: string): void {
  try {
    const { anvil } = JSON.parse(readFileSync(path.join(dir, CHAIN_PID_FILE), "utf8")) as { anvil: number };
    process.kill(anvil, "SIGKILL");
  } catch {
    // no note, or gone
  }
}

async function portAnswers(url: string): Promise<boolean> {
  try {
    await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts the devnet and resolves once it prints its ready line: `ctk --json devnet up …`, or with
 * `npmStart` exactly what a user types, `npm start -- --json …`, in its own process group so that
 * stopping it is Ctrl-C (SIGINT to the whole group), as in a terminal.
 */
export async function startDevnetProcess(args: readonly string[], opts: { env?: RunOptions["env"]; timeoutMs?: number; npmStart?: boolean } = {}): Promise<DevnetProcess> {
  const child = opts.npmStart
    ? spawn("npm", ["start", "--silent", "--", "--json", ...args], { cwd: ROOT, env: childEnv(opts.env), stdio: ["ignore", "pipe", "pipe"], detached: true })
    : spawn(process.execPath, [CTK_BIN, "--json", "devnet", "up", ...args], { cwd: ROOT, env: childEnv(opts.env), stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const exited = new Promise<number>((resolve) => child.on("exit", (c, s) => resolve(c ?? (s ? 128 : -1))));
  const signal = (sig: NodeJS.Signals) => {
    if (opts.npmStart) {
      try {
        process.kill(-child.pid!, sig);
      } catch {
        // the group is gone
      }
    } else if (child.exitCode === null && child.signalCode === null) child.kill(sig);
  };
  const info = await new Promise<DevnetInfo>((resolve, reject) => {
    const timer = setTimeout(() => {
      signal("SIGTERM");
      reject(new Error(`devnet did not become ready in ${opts.timeoutMs ?? 60_000} ms:\n${stderr}`));
    }, opts.timeoutMs ?? 60_000);
    child.stdout!.on("data", (d) => {
      stdout += d;
      const line = stdout.split("\n").find((l) => l.startsWith("{") && l.includes('"ready":true'));
      if (line) {
        clearTimeout(timer);
        resolve(JSON.parse(line) as DevnetInfo);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`devnet exited (${code}) before it was ready:\n${stderr}`));
    });
  });
  return {
    info,
    child,
    stderr: () => stderr,
    stdout: () => stdout,
    async stop(sig: NodeJS.Signals = opts.npmStart ? "SIGINT" : "SIGTERM") {
      signal(sig);
      const timer = setTimeout(() => signal("SIGKILL"), 15_000);
      const code = await exited;
      // npm may exit before the devnet under it has saved the chain and closed its port.
      for (let i = 0; i < 150 && (await portAnswers(info.rpcUrl)); i++) await new Promise((r) => setTimeout(r, 100));
      clearTimeout(timer);
      // Killed outright (the SIGKILL above): its chain, in a group of its own, is left; not to outlive the test.
      if (await portAnswers(info.rpcUrl)) killChainLeftIn(path.dirname(info.stateFile));
      return code;
    },
  };
}
