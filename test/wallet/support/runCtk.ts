/**
 * Runs `ctk` as a child process (as a user would) and captures everything it prints.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

export const CTK_ENTRY = path.join(ROOT, "scripts/ctk.ts");

export interface CtkRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CtkProcess {
  /** Everything printed on stdout so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves when stdout matches. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  done: Promise<CtkRun>;
}

/** Starts `ctk` without waiting for it (for --follow). */
export function startCtk(args: string[], opts: { env?: Record<string, string | undefined> } = {}): CtkProcess {
  const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1", ...opts.env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  const child = spawn(process.execPath, ["--import", "tsx", CTK_ENTRY, ...args], { cwd: ROOT, env: env as NodeJS.ProcessEnv, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const timer = setTimeout(() => child.kill("SIGKILL"), 300_000);
  const done = new Promise<CtkRun>((resolve) =>
    child.on("close", (c) => {
      clearTimeout(timer);
      resolve({ code: c ?? -1, stdout, stderr });
    }),
  );
  return {
    stdout: () => stdout,
    stderr: () => stderr,
    async waitFor(pattern, timeoutMs = 120_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(stdout)) {
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`ctk never printed ${pattern}:\n${stdout}\n${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    done,
  };
}

export async function runCtk(args: string[], opts: { env?: Record<string, string | undefined>; input?: string; timeoutMs?: number } = {}): Promise<CtkRun> {
  const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1", ...opts.env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  const child = spawn(process.execPath, ["--import", "tsx", CTK_ENTRY, ...args], {
    cwd: ROOT,
    env: env as NodeJS.ProcessEnv,
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
