/**
 * The redeemer as a separate process (`node --import tsx redeemer/main.ts --config <file>`), for
 * tests that kill it: its JSON log goes to a file; `ready()` waits for the "redeemer ready" line.
 * With `deferred`, the process loads its modules and waits for `start()` (support/deferredMain.ts).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, readFileSync, type WriteStream } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

export interface RedeemerProcess {
  child: ChildProcess;
  /** Resolves when the log says "redeemer ready"; rejects if the process exits first. */
  ready(timeoutMs?: number): Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal: NodeJS.Signals): void;
  /** Runs main in a `deferred` process (no-op otherwise, or when already started). */
  start(): void;
  /** The JSON log lines written up to "redeemer ready" (all of them so far if it is not ready). */
  startupLines(): Record<string, unknown>[];
}

export function spawnRedeemer(configFile: string, logFile: string, env: Record<string, string> = {}, options: { deferred?: boolean } = {}): RedeemerProcess {
  const log: WriteStream = createWriteStream(logFile, { flags: "a" });
  const entry = options.deferred ? path.join(root, "test/redeemer/support/deferredMain.ts") : path.join(root, "redeemer/main.ts");
  const child = spawn(process.execPath, ["--import", "tsx", entry, "--config", configFile], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: [options.deferred ? "pipe" : "ignore", "pipe", "pipe"],
  });
  let started = !options.deferred;
  child.stdin?.on("error", () => {}); // the process may be killed before it reads
  let buffered = "";
  let readyResolve: (() => void) | undefined;
  let isReady = false;
  child.stdout!.on("data", (d: Buffer) => {
    log.write(d);
    if (isReady) return;
    buffered += d.toString();
    if (buffered.includes('"msg":"redeemer ready"')) {
      isReady = true;
      readyResolve?.();
    }
    if (buffered.length > 1_000_000) buffered = buffered.slice(-10_000);
  });
  child.stderr!.on("data", (d: Buffer) => log.write(d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => {
      log.end();
      resolve({ code, signal });
    }),
  );
  return {
    child,
    exited,
    ready(timeoutMs = 60_000) {
      if (isReady) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`redeemer not ready after ${timeoutMs} ms:\n${tail(logFile)}`)), timeoutMs);
        readyResolve = () => {
          clearTimeout(t);
          resolve();
        };
        void exited.then(({ code, signal }) => {
          clearTimeout(t);
          if (!isReady) reject(new Error(`redeemer exited (${code ?? signal}) before it was ready:\n${tail(logFile)}`));
        });
      });
    },
    kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    startupLines() {
      const lines: Record<string, unknown>[] = [];
      for (const line of buffered.split("\n")) {
        try {
          const parsed: unknown = JSON.parse(line);
          if (parsed && typeof parsed === "object") lines.push(parsed as Record<string, unknown>);
        } catch {
          // a line cut by the kill, or not JSON
        }
      }
      return lines;
    },
    start() {
      if (started) return;
      started = true;
      child.stdin!.end("start\n");
    },
  };
}

export function tail(file: string, lines = 40): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}
