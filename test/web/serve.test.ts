/**
 * How people get the web app: `npm start` serves it and prints its address; `ctk web serve` serves
 * it for any deployment (read-only RPC proxy, the redeemer's API, the audit endpoints) and stops on
 * Ctrl-C; `ctk web build` writes it out and prints the size of the first load.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { freePort } from "../../devkit/startAnvil.js";
import { CTK_BIN, ROOT, runCtk } from "../support/cli.js";

const SCRUBBED = ["CTK_PRIVATE_KEY", "CTK_OPERATIONS_KEY", "CTK_PASSWORD", "CTK_RPC", "CTK_DEPLOYMENT", "CTK_DEBUG", "CTK_LOG_LEVEL"];

interface Child {
  child: ChildProcess;
  output(): string;
  line(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  stop(): Promise<number | null>;
}

function spawnLines(command: string, args: string[], detached = false): Child {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1" };
  for (const k of SCRUBBED) delete env[k];
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"], detached });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    child,
    output: () => out,
    async line(re, timeoutMs = 60_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const m = out
          .split("\n")
          .map((l) => l.match(re))
          .find(Boolean);
        if (m) return m;
        if (child.exitCode !== null) throw new Error(`exited (${child.exitCode}) before printing ${re}:\n${out}`);
        if (Date.now() > until) throw new Error(`no line matching ${re}:\n${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      if (detached) process.kill(-child.pid!, "SIGINT");
      else child.kill("SIGTERM");
      const timer = setTimeout(() => (detached ? process.kill(-child.pid!, "SIGKILL") : child.kill("SIGKILL")), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

describe("npm start and ctk web serve: the web app's address", function () {
  this.timeout(120_000);
  let dir: string;
  let devnet: Child | undefined;
  let serve: Child | undefined;
  let rpcUrl: string;
  let redeemerApi: string;

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), "ctk-web-serve-"));
  });
  after(async () => {
    await serve?.stop();
    await devnet?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("npm start serves the web app and prints its address", async () => {
    const port = await freePort();
    // Exactly what a user types (Ctrl-C stops the whole process group).
    devnet = spawnLines(
      "npm",
      ["start", "--silent", "--", "--port", String(port), "--dir", path.join(dir, "devnet"), "--redeemer-port", "0", "--web-port", "0", "--no-demo"],
      true,
    );
    await devnet.line(/^devnet ready$/);
    const [, url] = await devnet.line(/^\s*web app\s+(http:\/\/127\.0\.0\.1:\d+\/)\s*$/);
    [, redeemerApi] = await devnet.line(/API (http:\/\/127\.0\.0\.1:\d+)\)/);
    rpcUrl = `http://127.0.0.1:${port}`;
    const page = await fetch(url!);
    expect(page.status).to.equal(200);
    expect(await page.text()).to.contain('<script type="module" src="/app.js"></script>');
    const config = (await (await fetch(new URL("config.json", url))).json()) as { chainId: number; redeemer: boolean };
    expect(config).to.include({ chainId: 31337, redeemer: true });
  });

  it("ctk web serve serves any deployment, forwards only reads to the RPC, and stops on Ctrl-C", async () => {
    const deployment = path.join(dir, "devnet", "deployment.json");
    serve = spawnLines(process.execPath, [
      CTK_BIN,
      "web",
      "serve",
      "--port",
      "0",
      "--rpc",
      rpcUrl,
      "--deployment",
      deployment,
      "--redeemer-api",
      redeemerApi,
      "--receipts",
      path.join(dir, "devnet", "redeemer", "receipts"),
    ]);
    const [, url] = await serve.line(/^web app: (http:\/\/127\.0\.0\.1:\d+\/)$/);
    expect(serve.output()).to.match(/^\(first load \d+\.\d KB of JavaScript gzipped; Ctrl-C stops\)$/m);
    // The proxy's own answer as the page's viem reads it (not rpcAt, which keeps only a result or an
    // error message): a JSON-RPC answer with the request's id, HTTP 200 and code -32601 for a refusal.
    const rpc = async (method: string) => {
      const res = await fetch(new URL("rpc", url), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 7, method, params: [] }),
      });
      expect(res.status, method).to.equal(200);
      const answer = (await res.json()) as { id: number; result?: string; error?: { code: number; message: string } };
      expect(answer.id, method).to.equal(7);
      return answer;
    };
    expect((await rpc("eth_chainId")).result).to.equal("0x7a69");
    expect((await rpc("eth_sendTransaction")).error).to.deep.equal({ code: -32601, message: "eth_sendTransaction is not served here: send transactions through your wallet" });
    expect((await rpc("anvil_setBalance")).error).to.deep.equal({ code: -32601, message: "anvil_setBalance is not served here: send transactions through your wallet" });
    const health = await fetch(new URL("redeemer/healthz", url));
    expect(health.status).to.equal(200);
    expect(await health.json()).to.deep.equal({ status: "ok" });
    const verify = (await (await fetch(new URL("api/audit/verify", url))).json()) as { ok: boolean; findings: unknown[] };
    expect(verify.findings).to.deep.equal([]);
    expect(verify.ok).to.equal(true);
    expect(await serve.stop()).to.equal(0);
    expect(serve.output()).to.contain("web app stopped");
    serve = undefined;
  });

  it("ctk web build writes the app and prints a first load of at most 300 KB gzipped", async () => {
    const out = path.join(dir, "dist");
    const run = await runCtk(["web", "build", "--out", out]);
    expect(run.code, run.stderr).to.equal(0);
    const [, kb] = run.stdout.match(/^first load: [\d.]+ KB of JavaScript, ([\d.]+) KB gzipped$/m) ?? [];
    expect(Number(kb)).to.be.greaterThan(10).and.at.most(300);
    expect(readdirSync(out).sort()).to.deep.equal(["app.css", "app.js", "icon.svg", "index.html"]);
  });
});
