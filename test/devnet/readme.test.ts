/**
 * What the README promises a new user: how to get Node 22, where the devnet keeps receipts, no
 * hard-coded redemption id, where the redeemer's API is described, what is public on-chain — and
 * the "try reclaim on the devnet" recipe, run as typed (`--no-redeemer`, `--no-policy-check`, curl).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { DEMO_EMPLOYEE_KEY } from "../../scripts/devnet/runDemo.js";
import { freePort } from "../../devkit/startAnvil.js";
import { LOCAL_ROLE_KEYS } from "../../devkit/localAccounts.js";
import { type DevnetProcess, ROOT, runCtk, startDevnetProcess } from "../support/cli.js";

const README = readFileSync(path.join(ROOT, "README.md"), "utf8");
const shellBlocks = [...README.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);

describe("README: the first hour", function () {
  this.timeout(300_000);

  it("says how to get Node 22, and the repository names it (.nvmrc, engines)", () => {
    expect(readFileSync(path.join(ROOT, ".nvmrc"), "utf8").trim()).to.equal("22");
    const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { engines: { node: string } };
    expect(pkg.engines.node).to.equal(">=22.13");
    expect(README).to.include("`nvm install && nvm use`");
  });

  it("hard-codes no redemption id, points `audit verify --receipts` at the devnet's receipts, and links the redeemer's API", () => {
    const commands = shellBlocks.join("\n");
    expect(commands).not.to.match(/ctk (status|reclaim) \d+/);
    expect(commands).to.include("npx ctk audit verify --receipts .devnet/redeemer/receipts");
    expect(README).to.include("[redeemer/README.md](redeemer/README.md#api)");
    expect(readFileSync(path.join(ROOT, "redeemer", "README.md"), "utf8")).to.include("`GET /v1/policy`");
  });

  it("says plainly what is public on-chain, and how to keep a secret out of it", () => {
    expect(README).to.include("### What is public on-chain");
    expect(README).to.include("**whole job spec**");
    expect(README).to.include('"secrets": { "HF_TOKEN": "hf-token" }');
    expect(README).to.include("--min-gas-price=0");
  });

  describe("trying reclaim on the devnet, as the README says", () => {
    let dir: string;
    let devnet: DevnetProcess | undefined;
    let env: Record<string, string>;
    let port: number;
    before(async () => {
      dir = mkdtempSync(path.join(tmpdir(), "ctk-readme-reclaim-"));
      port = await freePort();
      devnet = await startDevnetProcess(["--port", String(port), "--dir", dir, "--no-redeemer"], { timeoutMs: 120_000 });
      // No redeemer, and the devnet notes it: the CLI does not ask the default port (8787: another devnet's when `npm start` runs beside the tests).
      env = {
        CTK_RPC: `http://127.0.0.1:${port}`,
        CTK_DEPLOYMENT: path.join(dir, "deployment.json"),
        CTK_DEMO_KEY: DEMO_EMPLOYEE_KEY,
        CTK_PRIVATE_KEY: LOCAL_ROLE_KEYS.HR,
      };
    });
    after(async () => {
      await devnet?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it("redeems with no redeemer running, is told how long is left, skips the hour with curl, reclaims", async () => {
      const employees = path.join(dir, "employees.csv");
      const grants = path.join(dir, "grants.csv");
      const { writeFileSync } = await import("node:fs");
      const demo = "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720";
      writeFileSync(employees, `employee_id,wallet\nE9,${demo}\n`);
      writeFileSync(grants, `employee_id,wallet,class,gpu_hours,expires_at,transferable\nE9,${demo},H100-80GB,1,2030-12-31,false\n`);
      expect((await runCtk(["hr", "onboard", "--csv", employees], { env })).code).to.equal(0);
      expect((await runCtk(["hr", "grant", "--csv", grants], { env })).code).to.equal(0);

      const unchecked = await runCtk(["redeem", "--class", "H100-80GB", "--spec", "config/demo-job.json", "--yes", "--key-env", "CTK_DEMO_KEY"], { env });
      expect(unchecked.code).to.equal(1);
      expect(unchecked.stderr).to.include(`no redeemer runs beside the devnet of ${env.CTK_DEPLOYMENT} (its note: "not started (--no-redeemer)")`);
      expect(unchecked.stderr).to.include("--no-policy-check to burn anyway");
      const run = await runCtk(["redeem", "--class", "H100-80GB", "--spec", "config/demo-job.json", "--yes", "--key-env", "CTK_DEMO_KEY", "--no-policy-check"], { env });
      expect(run.code, run.stderr).to.equal(0);
      const id = /redemption (\d+) requested/.exec(run.stdout)![1]!;
      const status = await runCtk(["status", id], { env });
      expect(status.code, status.stderr).to.equal(0);
      expect(status.stdout).to.include("no redeemer runs beside the devnet");
      const early = await runCtk(["reclaim", id, "--key-env", "CTK_DEMO_KEY"], { env });
      expect(early.code).to.equal(1);
      expect(early.stderr).to.match(new RegExp(`error: redemption ${id} can be reclaimed in (59 min|1 h 00 min)`));

      // The README's curl lines, as typed, on this devnet's port.
      const block = shellBlocks.find((b) => b.includes("evm_increaseTime"))!;
      for (const line of block.trim().split("\n")) {
        const r = spawnSync("sh", ["-c", line.replace("127.0.0.1:8545", `127.0.0.1:${port}`)], { encoding: "utf8" });
        expect(r.status, r.stderr).to.equal(0);
        expect(r.stdout).to.include('"result"');
      }
      const reclaimed = await runCtk(["reclaim", id, "--key-env", "CTK_DEMO_KEY"], { env });
      expect(reclaimed.code, reclaimed.stderr).to.equal(0);
      expect(reclaimed.stdout).to.match(new RegExp(`^reclaimed redemption ${id}: 0\\.02 GPU-hours refunded`));
    });
  });
});
