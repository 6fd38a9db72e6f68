/**
 * Stopping the devnet while a job runs (issue 17, and issue 12's "the job's fate is defined"):
 * by default Ctrl-C of `npm start` leaves the job running under its supervisor, says so, and the
 * next start follows it to its end and settles it in full; `--stop-jobs` stops it instead, says
 * so, and the next start settles it for the time it ran.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { createCtkClient } from "../../sdk/client.js";
import { readDeployment } from "../../sdk/deployment.js";
import { getRedemption } from "../../sdk/redemptions.js";
import { DEMO_EMPLOYEE_KEY } from "../../scripts/devnet/runDemo.js";
import { freePort } from "../../devkit/startAnvil.js";
import { isSameProcess, readProcStat } from "../../redeemer/executor/local/index.js";
import { CTK_BIN, ROOT, killChainLeftIn, runCtk, startDevnetProcess } from "../support/cli.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("stopping the devnet while a job runs", function () {
  this.timeout(180_000);
  let dir: string;
  let port: number;
  let env: Record<string, string>;
  const running: ChildProcess[] = [];
  const args = () => ["--port", String(port), "--dir", dir, "--redeemer-port", "0"];
  const executorDir = () => path.join(dir, "redeemer", "executor");
  const status = (id: number) => {
    const file = path.join(executorDir(), "run", `ctk-redemption-${id}.1.status.json`);
    return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as { stage: string; jobPid: number }) : undefined;
  };
  const whenRunning = async (id: number) => {
    for (let i = 0; i < 600; i++, await sleep(50)) {
      const s = status(id);
      if (s?.stage === "running") return { pid: s.jobPid, startTime: readProcStat(s.jobPid)?.startTime };
    }
    throw new Error(`job ${id} did not start`);
  };
  const redemption = async (id: bigint) => {
    const reader = createCtkClient({ rpcUrl: env.CTK_RPC!, deployment: readDeployment(env.CTK_DEPLOYMENT!) });
    return (await getRedemption({ publicClient: reader.publicClient, address: reader.computeToken.address }, id))!;
  };
  const settledSoon = async (id: bigint) => {
    for (let i = 0; i < 600; i++, await sleep(100)) {
      const r = await redemption(id);
      if (r.status === "Settled") return r;
    }
    throw new Error(`redemption ${id} not settled`);
  };

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "ctk-stopjobs-"));
    port = await freePort();
    env = { CTK_RPC: `http://127.0.0.1:${port}`, CTK_DEPLOYMENT: path.join(dir, "deployment.json"), CTK_DEMO_KEY: DEMO_EMPLOYEE_KEY };
  });
  after(async () => {
    for (const c of running) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    killChainLeftIn(dir);
    rmSync(dir, { recursive: true, force: true });
  });

  it("Ctrl-C of `npm start` leaves the running job running, says so, and the next start settles it in full", async () => {
    // A fresh chain runs the demo redemption: a 3 s job on 2 simulated GPUs.
    const first = await startDevnetProcess(args(), { npmStart: true, env });
    const job = await whenRunning(1);
    expect(await first.stop("SIGINT")).to.be.oneOf([0, 128, 130]);
    const report = first
      .stdout()
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { stopped?: boolean; jobsLeftRunning?: string[]; jobsStopped?: string[] })
      .find((o) => o.stopped);
    expect(report).to.deep.include({ stopped: true, jobsLeftRunning: ["ctk-redemption-1"], jobsStopped: [] });
    // The job was not in the terminal's process group: Ctrl-C did not reach it.
    expect(isSameProcess(job.pid, job.startTime), "the job outlives the devnet").to.equal(true);

    const second = await startDevnetProcess(args(), { env });
    try {
      const r = await settledSoon(1n);
      expect(r.used, "2 GPUs × 3 s, all of it").to.be.at.least(6n);
      const receipt = JSON.parse(readFileSync(path.join(dir, "redeemer", "receipts", "1.json"), "utf8")) as { phase: string };
      expect(receipt.phase).to.equal("succeeded");
      const log = readFileSync(path.join(executorDir(), "logs", "ctk-redemption-1.log"), "utf8");
      expect(log.match(/starting ctk-redemption-1/g)).to.have.length(1);
      expect(log).to.match(/found \d+ primes below \d+ in 3 s/);
    } finally {
      expect(await second.stop()).to.equal(0);
    }
  });

  it("with --stop-jobs, stopping stops the running job, says so, and the next start settles it for the time it ran", async () => {
    const child = spawn(process.execPath, [CTK_BIN, "devnet", "up", ...args(), "--stop-jobs"], {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    running.push(child);
    let out = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    for (let i = 0; i < 600 && !/^devnet ready$/m.test(out); i++) await sleep(100);
    expect(out).to.match(/^Jobs still running then keep running, and the next start settles them \(--stop-jobs: stop them, charged for what ran\)\.$/m);

    // The demo spec, made to run 30 s.
    const spec = path.join(dir, "long-job.json");
    const demo = JSON.parse(readFileSync(path.join(ROOT, "config", "demo-job.json"), "utf8")) as { env: Record<string, string> };
    writeFileSync(spec, JSON.stringify({ ...demo, env: { ...demo.env, DEMO_SECONDS: "30" } }));
    const redeem = await runCtk(["redeem", "--class", "H100-80GB", "--spec", spec, "--yes", "--key-env", "CTK_DEMO_KEY"], { env });
    expect(redeem.code, redeem.stderr).to.equal(0);
    const job = await whenRunning(2);
    await sleep(1_000);
    child.kill("SIGINT");
    expect(await exited).to.equal(0);
    expect(out).to.match(/^stopped: ctk-redemption-2 \(logs in \S+\); the next start settles each for the time it ran$/m);
    expect(isSameProcess(job.pid, job.startTime), "the job is stopped").to.equal(false);

    const again = await startDevnetProcess(args(), { env });
    try {
      const r = await settledSoon(2n);
      expect(r.used, "it ran about a second on 2 GPUs").to.be.at.least(2n);
      expect(r.used, "but not 30 s").to.be.below(40n);
      const receipt = JSON.parse(readFileSync(path.join(dir, "redeemer", "receipts", "2.json"), "utf8")) as { phase: string };
      expect(receipt.phase).to.equal("failed");
    } finally {
      expect(await again.stop()).to.equal(0);
    }
  });
});
