import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { loadRedeemerConfig, parseRedeemerConfig } from "../../redeemer/config.js";
import { freePort } from "../../devkit/startAnvil.js";
import { ConfigError } from "../../redeemer/policy/index.js";

const KEY = `0x${"11".repeat(32)}`;
const DEPLOYMENT = {
  chainId: 31337,
  computeToken: "0x5fbdb2315678afecb367f032d93f642f64180aa3",
  accessManager: "0xe7f1725e7734ce288f8367e1bb143e90bb3f0512",
  deployBlock: 1,
};
const PER_PRIORITY = { low: "ctk-low", normal: "ctk-normal", high: "ctk-high", urgent: "ctk-urgent" };
const BASE = {
  rpcUrl: "http://127.0.0.1:8545",
  deployment: DEPLOYMENT,
  privateKey: KEY,
  policy: { allowedRegistries: ["registry.example.com"] },
  executor: { kind: "local", local: { dataDir: "data/local" } },
};

describe("redeemer configuration", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "ctk-config-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("fills in defaults and resolves relative paths against the file's directory", () => {
    const file = join(dir, "redeemer.json");
    writeFileSync(file, JSON.stringify({ ...BASE, receiptsDir: "receipts" }));
    const c = loadRedeemerConfig({ file, env: {}, envFile: false });
    expect(c.confirmations).to.equal(2);
    expect(c.api).to.deep.equal({ host: "127.0.0.1", port: 8787 });
    expect(c.receiptsDir).to.equal(join(dir, "receipts"));
    expect(c.executor.kind === "local" && c.executor.local.dataDir).to.equal(join(dir, "data/local"));
    expect(c.deployment.computeToken).to.equal("0x5FbDB2315678afecb367f032d93F642f64180aa3");
    expect(c.policy.requireDigest).to.equal(true);
  });

  it("lets the environment override the file, and the process environment override .env", () => {
    const file = join(dir, "redeemer.json");
    writeFileSync(file, JSON.stringify(BASE));
    const envFile = join(dir, ".env");
    writeFileSync(envFile, "CTK_CONFIRMATIONS=7\nCTK_API_PORT=9000\nCTK_ALLOWED_REGISTRIES=ghcr.io\n");
    const c = loadRedeemerConfig({ file, envFile, env: { CTK_API_PORT: "9100", CTK_RPC: "http://10.0.0.1:8545", CTK_LOG_LEVEL: "debug" } });
    expect(c.confirmations).to.equal(7);
    expect(c.api.port).to.equal(9100);
    expect(c.rpcUrl).to.equal("http://10.0.0.1:8545");
    expect(c.logLevel).to.equal("debug");
    expect(c.policy.allowedRegistries).to.deep.equal(["ghcr.io"]);
  });

  it("reads the RPC URL from CTK_RPC, as ctk does; the former CTK_RPC_URL still works, with a deprecation warning", () => {
    const file = join(dir, "redeemer.json");
    writeFileSync(file, JSON.stringify(BASE));
    const warnings: string[] = [];
    const load = (env: Record<string, string>) => loadRedeemerConfig({ file, envFile: false, env, onDeprecated: (m) => warnings.push(m) });
    expect(load({ CTK_RPC: "http://10.0.0.2:8545" }).rpcUrl).to.equal("http://10.0.0.2:8545");
    expect(warnings).to.deep.equal([]);
    expect(load({ CTK_RPC_URL: "http://10.0.0.3:8545" }).rpcUrl).to.equal("http://10.0.0.3:8545");
    expect(warnings).to.deep.equal(["CTK_RPC_URL is deprecated: set CTK_RPC instead"]);
    expect(load({ CTK_RPC_URL: "http://10.0.0.3:8545", CTK_RPC: "http://10.0.0.2:8545" }).rpcUrl).to.equal("http://10.0.0.2:8545");
    expect(warnings[1]).to.equal("CTK_RPC_URL is deprecated: set CTK_RPC instead (CTK_RPC is set and wins)");
  });

  it("reads the deployment from a file named by CTK_DEPLOYMENT", () => {
    const dep = join(dir, "deployment.json");
    writeFileSync(dep, JSON.stringify(DEPLOYMENT));
    const file = join(dir, "redeemer.json");
    writeFileSync(file, JSON.stringify({ ...BASE, deployment: "missing.json" }));
    const c = loadRedeemerConfig({ file, envFile: false, env: { CTK_DEPLOYMENT: dep } });
    expect(c.deployment.deployBlock).to.equal(1);
  });

  it("switches to the kubernetes executor with CTK_EXECUTOR, whose settings are then checked too", () => {
    const file = join(dir, "redeemer.json");
    writeFileSync(file, JSON.stringify({ ...BASE, executor: { kind: "local", local: { dataDir: "x" } } }));
    // The file has no kubernetes section: the switch is made, and the missing settings are named.
    expect(() => loadRedeemerConfig({ file, envFile: false, env: { CTK_EXECUTOR: "kubernetes" } }))
      .to.throw(ConfigError)
      .with.property("issues")
      .that.deep.includes({ path: "executor.kubernetes.namespace", message: "Required" });
    const kubernetes = { namespace: "gpu-jobs", localQueue: "q", priorityClasses: PER_PRIORITY, workloadPriorityClasses: PER_PRIORITY };
    writeFileSync(file, JSON.stringify({ ...BASE, executor: { kind: "kubernetes", kubernetes } }));
    const c = loadRedeemerConfig({ file, envFile: false, env: { CTK_EXECUTOR: "kubernetes" } });
    expect(c.executor.kind === "kubernetes" && c.executor.kubernetes).to.include({ namespace: "gpu-jobs", maxConcurrentRequests: 32 });
  });

  it("validates the executor's own section with the rest of the file", () => {
    try {
      parseRedeemerConfig({ ...BASE, executor: { kind: "local", local: { dataDir: "x", timeScale: 2, allowedCommands: [], bogus: 1 } } });
      expect.fail("accepted a bad executor section");
    } catch (err) {
      expect(err).to.be.instanceOf(ConfigError);
      expect((err as ConfigError).issues.map((i) => i.path)).to.include.members(["executor.local.timeScale", "executor.local.allowedCommands", "executor.local"]);
    }
  });

  it("reports a bad executor section as a configuration error (exit 2) before contacting the RPC", async () => {
    const port = await freePort(); // free a moment ago: nothing answers there
    const file = join(dir, "redeemer.json");
    writeFileSync(file, JSON.stringify({ ...BASE, rpcUrl: `http://127.0.0.1:${port}`, executor: { kind: "local", local: { dataDir: "x", timeScale: 2 } } }));
    const root = resolve(fileURLToPath(import.meta.url), "../../..");
    const child = spawn(process.execPath, ["--import", "tsx", join(root, "redeemer/main.ts"), "--config", file], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const code = await new Promise<number | null>((done) => child.on("close", done));
    expect(stderr).to.match(/^redeemer: invalid redeemer config \(.*redeemer\.json \+ environment\): executor\.local\.timeScale: /);
    expect(stderr).not.to.match(/fetch failed|HTTP request failed|ECONNREFUSED/);
    expect(code).to.equal(2);
  });

  it("says in one line, without a stack, that the chain cannot be reached when nothing answers at the RPC URL", async () => {
    const port = await freePort();
    const file = join(dir, "redeemer.json");
    writeFileSync(
      file,
      JSON.stringify({ ...BASE, rpcUrl: `http://127.0.0.1:${port}`, executor: { kind: "local", local: { dataDir: join(dir, "local") } }, receiptsDir: join(dir, "receipts") }),
    );
    const root = resolve(fileURLToPath(import.meta.url), "../../..");
    const child = spawn(process.execPath, ["--import", "tsx", join(root, "redeemer/main.ts"), "--config", file], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const code = await new Promise<number | null>((done) => child.on("close", done));
    expect(stderr).to.equal(`redeemer: cannot reach the chain at http://127.0.0.1:${port} (is the devnet up? run \`ctk devnet up\`)\n`);
    expect(code).to.equal(1);
  });

  it("names every bad setting in one ConfigError", () => {
    try {
      parseRedeemerConfig({ ...BASE, privateKey: "0x12", confirmations: -1, rpcUrl: "nope", extra: 1 });
      expect.fail("accepted a bad configuration");
    } catch (err) {
      expect(err).to.be.instanceOf(ConfigError);
      const paths = (err as ConfigError).issues.map((i) => i.path);
      expect(paths).to.include.members(["privateKey", "confirmations", "rpcUrl", ""]);
      expect((err as Error).message).to.match(/^invalid redeemer config/);
    }
  });

  it("refuses a malformed environment value with the variable's name", () => {
    expect(() => loadRedeemerConfig({ env: { CTK_CONFIRMATIONS: "two" }, envFile: false }))
      .to.throw(ConfigError)
      .with.property("message")
      .that.contains("CTK_CONFIRMATIONS");
    expect(() => loadRedeemerConfig({ env: { CTK_EXECUTOR: "docker" }, envFile: false })).to.throw(ConfigError, /CTK_EXECUTOR/);
  });

  it("says which file is missing", () => {
    expect(() => loadRedeemerConfig({ file: join(dir, "nope.json"), env: {}, envFile: false })).to.throw(ConfigError, /no such file/);
    const file = join(dir, "redeemer.json");
    writeFileSync(file, JSON.stringify({ ...BASE, deployment: "nowhere.json" }));
    expect(() => loadRedeemerConfig({ file, env: {}, envFile: false })).to.throw(ConfigError, /nowhere\.json/);
  });
});
