/**
 * Starts a real `anvil` process on loopback: the embedded local chain (`ctk devnet up`) and the
 * chain every end-to-end test runs against. `--state <file>` persists the chain across restarts.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { createRequire } from "node:module";
import path from "node:path";
import { CtkError } from "../sdk/ctkError.js";

export class AnvilNotFoundError extends CtkError {
  constructor() {
    super("anvil was not found: install the optional dependency @foundry-rs/anvil-linux-amd64 (npm ci on Linux x64) or put Foundry's anvil on PATH");
    this.name = "AnvilNotFoundError";
  }
}

/** The anvil binary: the npm package's, else one on PATH. */
export function findAnvilBinary(): string {
  const require = createRequire(import.meta.url);
  try {
    const pkg = require.resolve("@foundry-rs/anvil-linux-amd64/package.json");
    const bin = path.join(path.dirname(pkg), "bin", "anvil");
    if (existsSync(bin)) return bin;
  } catch {
    // not installed on this platform
  }
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    const candidate = path.join(dir, "anvil");
    if (dir && existsSync(candidate)) return candidate;
  }
  throw new AnvilNotFoundError();
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

export interface AnvilOptions {
  port?: number;
  /** Persist the chain to this file (loaded on start if present, dumped on exit and periodically). */
  statePath?: string;
  /** Seconds between blocks; omitted = a block per transaction (automine). */
  blockTime?: number;
  chainId?: number;
  /** Extra CLI arguments. */
  args?: string[];
  /** Pipe anvil's output to this process's stderr. */
  verbose?: boolean;
  /** How long to wait for anvil to answer (default 20 s; loading a long history takes minutes). */
  readyTimeoutMs?: number;
  /**
   * Run anvil in a process group of its own. Ctrl-C in a terminal signals the whole foreground
   * group: without this, the chain dies at once, before the services the caller stops first have
   * used it (the gateway's last settlement). With it, only {@link AnvilHandle.stop} stops it, and a
   * caller killed outright leaves it running (see scripts/devnet: the next start stops it).
   */
  ownProcessGroup?: boolean;
  /** Called with anvil's pid as soon as it is spawned (before it answers). */
  onSpawn?: (pid: number) => void;
}

export interface AnvilHandle {
  rpcUrl: string;
  port: number;
  process: ChildProcess;
  /** SIGTERM (anvil dumps its state), then SIGKILL if it has not exited after 5 s. */
  stop(): Promise<void>;
}

/** The accounts anvil creates from its default mnemonic ("test test … junk"). Local chains only. */
export const ANVIL_KEYS = [
  "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
  "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
  "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
  "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
  "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
  "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
  "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
  "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
  "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
  "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
] as const satisfies readonly `0x${string}`[];

export async function startAnvil(opts: AnvilOptions = {}): Promise<AnvilHandle> {
  const bin = findAnvilBinary();
  const port = opts.port ?? (await freePort());
  const args = ["--host", "127.0.0.1", "--port", String(port), "--chain-id", String(opts.chainId ?? 31337)];
  if (opts.statePath) args.push("--state", opts.statePath, "--state-interval", "1");
  if (opts.blockTime !== undefined) args.push("--block-time", String(opts.blockTime));
  args.push(...(opts.args ?? []));
  const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"], detached: opts.ownProcessGroup === true });
  if (child.pid !== undefined) opts.onSpawn?.(child.pid);
  let output = "";
  const onData = (d: Buffer) => {
    if (output.length < 20_000) output += d.toString();
    if (opts.verbose) process.stderr.write(d);
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const rpcUrl = `http://127.0.0.1:${port}`;

  const readyMs = opts.readyTimeoutMs ?? 20_000;
  const deadline = Date.now() + readyMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`anvil exited (${child.exitCode}) before it was ready:\n${output}`);
    try {
      const res = await fetch(rpcUrl, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
      });
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`anvil did not answer on ${rpcUrl} within ${readyMs / 1000} s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  return {
    rpcUrl,
    port,
    process: child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
