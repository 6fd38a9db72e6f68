/** `gateway/main.ts` validates its configuration before any I/O, as the redeemer does: a mistake exits 2 (sdk/runService.ts). */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { parseGatewayConfig } from "../../gateway/config.js";

const ROOT = resolve(fileURLToPath(import.meta.url), "../../..");

async function runGatewayMain(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "gateway/main.ts"), ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const code = await new Promise<number | null>((done) => child.on("close", done));
  return { code, stdout, stderr };
}

describe("gateway process: configuration errors", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "ctk-gateway-main-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("reports a bad configuration in one line and exits 2, before contacting the chain", async () => {
    const file = join(dir, "gateway.json");
    // The RPC URL points nowhere: a connection attempt would fail differently.
    writeFileSync(file, JSON.stringify({ chain: { rpcUrl: "http://127.0.0.1:1", deployment: "deployment.json", privateKey: "0x12" }, models: [] }));
    const run = await runGatewayMain(["--config", file]);
    expect(run.stderr).to.match(/^gateway: gateway config: chain\.privateKey: must be 0x followed by 64 hex digits\n$/);
    expect(run.code).to.equal(2);
  });

  it("refuses a fail-closed delay shorter than two chain polls, and takes 0 (never) or the default of 30 s (three polls if longer)", () => {
    const a = `0x${"22".repeat(20)}`;
    const deployment = { chainId: 31337, computeToken: a, accessManager: a, inferenceCredit: a, deployBlock: 0 };
    const chain = { rpcUrl: "http://127.0.0.1:1", deployment, privateKey: `0x${"11".repeat(32)}`, pollIntervalMs: 1_000 };
    expect(() => parseGatewayConfig({ chain: { ...chain, failClosedAfterMs: 1_500 } })).to.throw(
      "gateway config: chain.failClosedAfterMs: chain.failClosedAfterMs must be 0 or at least twice chain.pollIntervalMs",
    );
    expect(parseGatewayConfig({ chain: { ...chain, failClosedAfterMs: 0 } }).chain.failClosedAfterMs).to.equal(0);
    expect(parseGatewayConfig({ chain }).chain.failClosedAfterMs).to.equal(30_000);
    // A slow poll: three of them, not a default shorter than two.
    expect(parseGatewayConfig({ chain: { ...chain, pollIntervalMs: 20_000 } }).chain.failClosedAfterMs).to.equal(60_000);
  });

  it("refuses a model whose queue wait and upstream timeout could outlive its hold, or its lease on PostgreSQL; by default a request waits 30 s in the queue at most", () => {
    const a = `0x${"22".repeat(20)}`;
    const deployment = { chainId: 31337, computeToken: a, accessManager: a, inferenceCredit: a, deployBlock: 0 };
    const chain = { rpcUrl: "http://127.0.0.1:1", deployment, privateKey: `0x${"11".repeat(32)}` };
    const parse = (model: Record<string, unknown>, over: Record<string, unknown> = {}) =>
      parseGatewayConfig({ chain, models: [{ name: "m", upstream: "http://127.0.0.1:8000/v1", ...model }], ...over });
    expect(parse({}).models[0]).to.include({ queueTimeoutMs: 30_000, timeoutMs: 120_000 });
    // SQLite: any replica that starts releases a hold older than staleHoldMs (15 min by default).
    expect(parse({ timeoutMs: 600_000 }).models[0].timeoutMs).to.equal(600_000);
    expect(() => parse({ timeoutMs: 600_000 }, { staleHoldMs: 600_000 })).to.throw(
      'gateway config: model "m": queueTimeoutMs + timeoutMs (630000 ms, the longest a request runs once held) must stay at least 60000 ms under staleHoldMs (600000 ms), after which a starting replica releases the hold: lower them, or raise staleHoldMs',
    );
    // PostgreSQL with leases: another replica recovers a lease not renewed for max(staleHoldMs, 5 min), held under up to a minute after its renewal.
    const postgres = { kind: "postgres", url: "postgres://127.0.0.1/ctk" };
    expect(parse({ queueTimeoutMs: 60_000 }, { staleHoldMs: 300_000, database: postgres }).models[0].queueTimeoutMs).to.equal(60_000);
    expect(() => parse({ queueTimeoutMs: 90_000 }, { staleHoldMs: 300_000, database: postgres })).to.throw(
      'gateway config: model "m": queueTimeoutMs + timeoutMs (210000 ms, the longest a request runs once held) must stay at least 60000 ms under 240000 ms: another replica recovers a credit lease not renewed for max(staleHoldMs, 300000 ms), and a request may be held under it up to 60000 ms after its renewal: lower them, raise staleHoldMs, or set database.leases to false',
    );
    expect(parse({ queueTimeoutMs: 90_000 }, { staleHoldMs: 300_000, database: { ...postgres, leases: false } }).models[0].queueTimeoutMs).to.equal(90_000);
  });

  it("takes the documented example configuration (config/gateway.example.json) as it is, given the chain", () => {
    const example = JSON.parse(readFileSync(join(ROOT, "config/gateway.example.json"), "utf8")) as Record<string, unknown>;
    const a = `0x${"22".repeat(20)}`;
    const deployment = { chainId: 31337, computeToken: a, accessManager: a, inferenceCredit: a, deployBlock: 0 };
    const parsed = parseGatewayConfig({ ...example, chain: { rpcUrl: "http://127.0.0.1:1", deployment, privateKey: `0x${"11".repeat(32)}` } });
    expect(parsed.models.map((m) => m.name)).to.deep.equal(["stories260K", "llama-3-8b"]);
    expect(parsed.settlement).to.deep.equal({ intervalMs: 10_000, maxCharges: 2_000 });
    expect(parsed.chain.failClosedAfterMs).to.equal(30_000);
  });

  it("says which file it cannot read, and exits 2; without --config it prints its usage and exits 2", async () => {
    const missing = await runGatewayMain(["--config", join(dir, "nope.json")]);
    expect(missing.stderr).to.equal(`gateway: cannot read gateway config ${join(dir, "nope.json")}: no such file\n`);
    expect(missing.code).to.equal(2);
    const usage = await runGatewayMain([]);
    expect(usage.stdout).to.match(/^usage: gateway --config gateway\.json/);
    expect(usage.code).to.equal(2);
  });
});
