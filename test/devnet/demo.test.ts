/**
 * `npm start` on a fresh chain shows a redemption go from the burn to settled: the devnet (the
 * very command `npm start` runs, as a child process, human output) grants the demo employee an
 * hour and inference credits, redeems the hour for config/demo-job.json — a CPU process on
 * simulated GPU slots — and prints requested, running and settled while the chain and the redeemer
 * keep running. Then the banner's gateway lines typed as printed (a key, an answer charged in
 * credits), the README's by-hand redemption with the same spec, a clean stop on SIGTERM, a restart
 * of the saved chain that does not run the demo again, and a `--reset` that does.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { expect } from "chai";
import { createCtkClient, type CtkClient } from "../../sdk/client.js";
import { readDeployment } from "../../sdk/deployment.js";
import { getRedemption, getRedemptionCount } from "../../sdk/redemptions.js";
import { readCreditBalance } from "../../sdk/credits/reads.js";
import { DEMO_CREDITS, DEMO_EMPLOYEE, DEMO_EMPLOYEE_KEY, DEMO_GRANT_UNITS } from "../../scripts/devnet/runDemo.js";
import { freePort } from "../../devkit/startAnvil.js";
import { LOCAL_ROLE_KEYS } from "../../devkit/localAccounts.js";
import { rpcAt } from "../../devkit/localChain.js";
import { privateKeyToAccount } from "viem/accounts";
import { CTK_BIN, ROOT, killChainLeftIn, runCtk } from "../support/cli.js";
import { Ledger } from "../../gateway/ledger/ledger.js";
import { SqliteDriver } from "../../gateway/ledger/sqliteDriver.js";
import { CHAIN_PID_FILE } from "../../scripts/devnet/runDevnet.js";
import { GATEWAY_NODE_OPTIONS } from "../../gateway/runtime.js";

const execFileAsync = promisify(execFile);
const SCRUBBED = ["CTK_PRIVATE_KEY", "CTK_OPERATIONS_KEY", "CTK_PASSWORD", "CTK_RPC", "CTK_DEPLOYMENT", "CTK_DEBUG", "CTK_LOG_LEVEL"];

interface Devnet {
  child: ChildProcess;
  /** Everything printed so far (stdout and stderr interleaved as they arrived). */
  output(): string;
  /** Resolves with the first line matching `re`; rejects on timeout or exit. */
  line(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<number | null>;
}

/** `node --max-semi-space-size=64 bin/ctk.js devnet up …`: what `npm start` runs, with its human output. */
function startDevnet(args: string[]): Devnet {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1" };
  for (const k of SCRUBBED) delete env[k];
  // A process group of its own, as a terminal's foreground job (Ctrl-C signals the whole group).
  const child = spawn(process.execPath, [...GATEWAY_NODE_OPTIONS, CTK_BIN, "devnet", "up", ...args], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let out = "";
  const waiters = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const w of waiters) w();
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    child,
    exited,
    output: () => out,
    line(re, timeoutMs = 45_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = out
            .split("\n")
            .map((l) => l.match(re))
            .find(Boolean);
          if (m) {
            done();
            resolve(m);
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no line matching ${re} after ${timeoutMs} ms:\n${out}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        void exited.then((code) => {
          done();
          reject(new Error(`the devnet exited (${code}) before printing ${re}:\n${out}`));
        });
        waiters.add(check);
        check();
      });
    },
  };
}

async function stop(d: Devnet): Promise<number | null> {
  if (d.child.exitCode !== null || d.child.signalCode !== null) return d.child.exitCode;
  d.child.kill("SIGTERM");
  const timer = setTimeout(() => d.child.kill("SIGKILL"), 15_000);
  const code = await d.exited;
  clearTimeout(timer);
  return code;
}

describe("npm start: the demo redemption (config/demo-job.json) on a fresh devnet", function () {
  this.timeout(120_000);
  let dir: string;
  let port: number;
  let devnet: Devnet | undefined;
  let reader: CtkClient;
  let env: Record<string, string>;
  const args = () => ["--port", String(port), "--dir", dir, "--redeemer-port", "0", "--gateway-port", "0"];

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "ctk-demo-"));
    port = await freePort();
    env = { CTK_RPC: `http://127.0.0.1:${port}`, CTK_DEPLOYMENT: path.join(dir, "deployment.json"), CTK_DEMO_KEY: DEMO_EMPLOYEE_KEY };
  });
  after(async () => {
    if (devnet) await stop(devnet);
    // A devnet a failed test left killed leaves its chain (in a process group of its own).
    killChainLeftIn(dir);
    rmSync(dir, { recursive: true, force: true });
  });

  it("is what `npm start` runs", () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts: { start: string } };
    // With the gateway's Node.js options (gateway/runtime.ts): the devnet runs one.
    expect(pkg.scripts.start).to.equal(`node ${GATEWAY_NODE_OPTIONS.join(" ")} bin/ctk.js devnet up`);
  });

  it("shows the demo redemption go from the burn to running to settled, with usage, refund and receipt", async () => {
    devnet = startDevnet(args());
    await devnet.line(/^devnet ready$/);
    // HR's demo transactions are done by "devnet ready": none follows that could clash with a user's.
    const hrNonce = () => rpcAt(env.CTK_RPC!, "eth_getTransactionCount", [privateKeyToAccount(LOCAL_ROLE_KEYS.HR).address, "pending"]);
    const hrNonceAtReady = await hrNonce();
    const [, requestedId] = await devnet.line(/^demo: redemption (\d+) requested: burned 0\.02 H100-80GB GPU-hours \(2 GPUs × 0\.01 h, normal\) for job cpu-demo/);
    const running = await devnet.line(/^demo: redemption 1 running on simulated GPU slots; job log (\S+)$/);
    const settled = await devnet.line(/^demo: redemption 1 settled: used (\S+) GPU-hours \((\d+) GPU-seconds?\), refunded (\S+) \((\d+) GPU-seconds?\); receipt (\S+)$/);
    expect(requestedId).to.equal("1");
    const out = devnet.output();
    expect(out).to.match(/^demo: HR onboarded the demo employee 0x[0-9a-fA-F]{40} and granted 1 H100-80GB GPU-hour and 10 inference credits$/m);
    expect(out).to.match(/^demo: {3}job output \| redemption 1: a CPU process standing in for a GPU job on simulated GPUs \d+,\d+$/m);
    expect(out).to.match(/^demo: {3}job output \| found \d+ primes below \d+ in 3 s$/m);
    const order = ["devnet ready", "demo: HR onboarded", "demo: redemption 1 requested", "demo: redemption 1 running", "demo: redemption 1 settled", "demo: done"].map((l) =>
      out.indexOf(l),
    );
    expect(
      order.every((at, i) => at >= 0 && (i === 0 || at > order[i - 1]!)),
      out,
    ).to.equal(true);
    expect(await hrNonce(), "HR transactions after devnet ready").to.equal(hrNonceAtReady);

    // On-chain: Settled, used ≤ reserved, and the refund back in the employee's lot.
    reader = createCtkClient({ rpcUrl: env.CTK_RPC!, deployment: readDeployment(env.CTK_DEPLOYMENT!) });
    const r = (await getRedemption({ publicClient: reader.publicClient, address: reader.computeToken.address }, 1n))!;
    expect(r.status).to.equal("Settled");
    expect(r.holder).to.equal(DEMO_EMPLOYEE);
    expect(r.reserved).to.equal(72n); // 2 GPUs × 36 s at 1.0x
    expect(r.used > 0n && r.used <= r.reserved, `used ${r.used} of ${r.reserved}`).to.equal(true);
    expect(BigInt(settled[2]!)).to.equal(r.used);
    expect(BigInt(settled[4]!)).to.equal(r.reserved - r.used);
    const balance = await reader.publicClient.readContract({ ...reader.computeToken, functionName: "balanceOf", args: [DEMO_EMPLOYEE, r.lotIds[0]!] });
    expect(balance).to.equal(DEMO_GRANT_UNITS - r.used);
    // Inference credits for the gateway, granted with the hour.
    expect(await readCreditBalance(reader, DEMO_EMPLOYEE)).to.equal(DEMO_CREDITS);

    const receiptFile = path.resolve(ROOT, settled[5]!);
    expect(receiptFile).to.equal(path.join(dir, "redeemer", "receipts", "1.json"));
    const receipt = JSON.parse(readFileSync(receiptFile, "utf8")) as { usedUnits: string; refundedUnits: string; phase: string; executor: string };
    expect(receipt).to.include({ usedUnits: r.used.toString(), refundedUnits: (r.reserved - r.used).toString(), phase: "succeeded", executor: "local" });
    expect(existsSync(path.resolve(ROOT, running[1]!))).to.equal(true);
  });

  it("the banner's gateway lines, typed in a shell as printed, get the demo employee a key and an answer the gateway charges for", async () => {
    const banner = devnet!.output();
    const printed = (re: RegExp) => {
      const m = banner.match(re);
      expect(m, `the banner has no line matching ${re}:\n${banner}`).to.not.equal(null);
      return m![1]!;
    };
    expect(banner).to.match(
      /^The metering gateway \(OpenAI-compatible, paid in inference credits\)\. The demo employee holds 10 credits; as them, call it with curl or the openai client:$/m,
    );
    const exportKey = printed(/^ {2}(export CTK_DEMO_KEY=0x[0-9a-f]{64}) {3}# the local demo employee/m);
    const getKey = printed(/^ {2}get a key: {2}(npx ctk credits authorize .*)$/m);
    const curl = printed(/^ {2}curl: {7}(curl .*)$/m);
    expect(getKey).to.include("--key-env CTK_DEMO_KEY");
    // A user's terminal in the repository (npx ctk), where auth.json may be written.
    const cwd = mkdtempSync(path.join(ROOT, ".tmp-demo-"));
    try {
      const env: NodeJS.ProcessEnv = { ...process.env };
      for (const k of [...SCRUBBED, "CTK_API_KEY"]) delete env[k];
      // Not spawnSync: the devnet's output comes through this process's pipes, which must keep flowing.
      const sh = await execFileAsync("sh", ["-ec", [exportKey, getKey, curl].join("\n")], { cwd, env, timeout: 90_000 }).catch((e: { stderr?: string; message: string }) => {
        throw new Error(`the banner's gateway lines failed: ${e.stderr ?? e.message}`);
      });
      expect(sh.stderr).to.include(`signing as ${DEMO_EMPLOYEE} (the key in CTK_DEMO_KEY)`);
      // The key went into CTK_API_KEY; the terminal is told whose key it is and that it is shown once, not pointed at a key it never saw.
      expect(sh.stderr).to.match(new RegExp(`^API key key_\\S+ for ${DEMO_EMPLOYEE}: `, "m"));
      expect(sh.stderr).to.include("The key (on stdout) is shown only this once");
      // What the terminal shows: authorize's lines, then curl's answer.
      expect(sh.stdout).to.match(/^signed authorization 0x[0-9a-f]{64}$/m);
      const answer = JSON.parse(sh.stdout.trim().split("\n").at(-1)!) as { choices: { message: { content: string } }[]; usage: { cost: string } };
      expect(answer.choices[0]!.message.content, sh.stdout).to.be.a("string").and.not.equal("");
      expect(Number(answer.usage.cost)).to.be.greaterThan(0);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it("runs the README's by-hand redemption with the demo spec while the devnet keeps running", async () => {
    const run = await runCtk(["redeem", "--class", "H100-80GB", "--spec", "config/demo-job.json", "--yes", "--key-env", "CTK_DEMO_KEY"], { env, npx: true });
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.include("redeem cpu-demo: 2 GPUs × 0.01 h × 1 (normal) = 0.02 H100-80GB GPU-hours");
    expect(run.stdout).to.match(/^redemption 2 requested \(tx 0x[0-9a-f]{64}\)$/m);
    const follow = await runCtk(["status", "2", "--follow"], { env, npx: true, timeoutMs: 60_000 });
    expect(follow.code, follow.stderr).to.equal(0);
    expect(follow.stdout).to.match(/^redemption 2: settled/m);
    expect(follow.stdout).to.match(/settled .*: used \S+ GPU-hours, refunded \S+/);
    const r = (await getRedemption({ publicClient: reader.publicClient, address: reader.computeToken.address }, 2n))!;
    expect(r.status).to.equal("Settled");
    expect(r.used <= r.reserved).to.equal(true);
  });

  it("stops cleanly on Ctrl-C (SIGINT to its process group, as a terminal sends it): the chain stops last, after the gateway settled what it had just charged", async () => {
    const gateway = (await devnet!.line(/^gateway\s+started on (http:\/\/127\.0\.0\.1:\d+) /))[1]!;
    // A charge just before Ctrl-C: not due for a batch yet (every 30 s), so only the gateway's last settlement, as it stops, can take it.
    const auth = path.join(dir, "ctrl-c-auth.json");
    let run = await runCtk(["credits", "authorize", "--cap", "1", "--expires", "2030-01-01", "--out", auth, "--key-env", "CTK_DEMO_KEY"], { env });
    expect(run.code, run.stderr).to.equal(0);
    run = await runCtk(["credits", "key", "create", "--authorization", auth, "--gateway", gateway], { env });
    expect(run.code, run.stderr).to.equal(0);
    const res = await fetch(`${gateway}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${run.stdout.trim()}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "stories260K", messages: [{ role: "user", content: "Once upon a time" }], max_tokens: 8 }),
    });
    expect(res.status, await res.text()).to.equal(200);
    expect(Number(res.headers.get("x-ctk-cost-base-units"))).to.be.greaterThan(0);

    const group = -devnet!.child.pid!;
    process.kill(group, "SIGINT");
    const timer = setTimeout(() => {
      try {
        process.kill(group, "SIGKILL");
      } catch {
        // gone
      }
    }, 15_000);
    try {
      expect(await devnet!.exited).to.equal(0);
    } finally {
      clearTimeout(timer);
    }
    const out = devnet!.output();
    expect(out).to.include("devnet stopped");
    // Before the chain ran in a group of its own, the Ctrl-C stopped it at once, and the gateway said so as it stopped.
    expect(out).not.to.match(/settlement failed|chain watch failed/);
    expect(existsSync(path.join(dir, CHAIN_PID_FILE)), "the chain's pid file is removed").to.equal(false);
    const ledger = new Ledger(new SqliteDriver(path.join(dir, "gateway", "ledger.sqlite")));
    try {
      expect((await ledger.unbatched()).count, "no charge left waiting for a batch").to.equal(0);
      expect(await ledger.batches("pending"), "no batch left pending").to.have.length(0);
    } finally {
      await ledger.close();
    }
  });

  it("a restart of the saved chain does not run the demo again, and it stops cleanly on SIGTERM", async () => {
    expect(await stop(devnet!)).to.equal(0);
    expect(devnet!.output()).to.include("devnet stopped");
    const closed = await fetch(env.CTK_RPC!, { method: "POST", body: "{}" }).then(
      () => false,
      () => true,
    );
    expect(closed, "the RPC port is closed").to.equal(true);

    devnet = startDevnet(args());
    await devnet.line(/^devnet ready$/);
    expect(devnet.output()).to.include("reusing the deployment");
    await new Promise((r) => setTimeout(r, 2_000));
    expect(devnet.output()).not.to.match(/^demo:/m);
    expect(await getRedemptionCount({ publicClient: reader.publicClient, address: reader.computeToken.address })).to.equal(2n);
    expect(await stop(devnet)).to.equal(0);
    devnet = undefined;
  });

  it("a devnet killed outright leaves its chain running; the next start stops that chain and goes on with the saved one", async () => {
    devnet = startDevnet(args());
    await devnet.line(/^devnet ready$/);
    const chainPid = (JSON.parse(readFileSync(path.join(dir, CHAIN_PID_FILE), "utf8")) as { anvil: number }).anvil;
    devnet.child.kill("SIGKILL");
    await devnet.exited;
    const answers = await fetch(env.CTK_RPC!, { method: "POST", body: "{}" }).then(
      () => true,
      () => false,
    );
    expect(answers, "the chain outlives a devnet killed outright").to.equal(true);

    devnet = startDevnet(args());
    await devnet.line(new RegExp(`^stopped the local chain \\(pid ${chainPid}\\) that a devnet stopped without its shutdown had left running$`));
    await devnet.line(/^devnet ready$/);
    expect(devnet.output()).to.include("reusing the deployment");
    expect(await getRedemptionCount({ publicClient: reader.publicClient, address: reader.computeToken.address })).to.equal(2n);
    expect(await stop(devnet)).to.equal(0);
    devnet = undefined;
  });

  it("--reset deploys afresh and runs the demo again, with the previous chain's redeemer data moved aside", async () => {
    const resetAt = Date.now();
    devnet = startDevnet([...args(), "--reset"]);
    await devnet.line(/^devnet ready$/);
    const [, aside] = await devnet.line(/^moved the previous chain's redeemer data to (\S+)$/);
    expect(existsSync(path.join(aside!, "receipts", "1.json"))).to.equal(true);
    const settled = await devnet.line(/^demo: redemption 1 settled: used \S+ GPU-hours \((\d+) GPU-seconds?\)/);
    // A new job ran and a new receipt was written: the new chain has the same contract address and
    // redemption ids, so the previous chain's would otherwise have been taken for them.
    const log = readFileSync(path.join(dir, "redeemer", "executor", "logs", "ctk-redemption-1.log"), "utf8");
    const starts = [...log.matchAll(/^\[ctk\] (\S+) starting ctk-redemption-1/gm)].map((m) => Date.parse(m[1]!));
    expect(starts).to.have.length(1);
    expect(starts[0]!).to.be.at.least(resetAt - 1_000);
    const receipt = readFileSync(path.join(dir, "redeemer", "receipts", "1.json"), "utf8");
    expect(receipt).not.to.equal(readFileSync(path.join(aside!, "receipts", "1.json"), "utf8"));
    const r = (await getRedemption({ publicClient: reader.publicClient, address: reader.computeToken.address }, 1n))!;
    expect(r.status).to.equal("Settled");
    expect(r.used).to.equal(BigInt(settled[1]!));
    expect(await getRedemptionCount({ publicClient: reader.publicClient, address: reader.computeToken.address })).to.equal(1n);
    expect(await stop(devnet)).to.equal(0);
    devnet = undefined;
  });
});
