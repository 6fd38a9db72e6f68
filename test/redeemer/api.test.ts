/**
 * The redeemer's HTTP API, metrics and logs, against a real anvil and an in-memory executor.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { expect } from "chai";
import { type Redeemer, startRedeemer } from "../../redeemer/index.js";
import { type ChainFixture, nodeJob, POLICY, startChainFixture, redeemerConfigFor } from "./support/chainFixture.js";
import { MemoryExecutor } from "./support/memoryExecutor.js";
import { waitFor } from "./support/waitFor.js";

/** A log stream that parses each JSON line into `lines`. */
function jsonLinesInto(lines: Record<string, unknown>[]): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
}

describe("redeemer HTTP API, metrics and logs", function () {
  this.timeout(120_000);
  let f: ChainFixture;
  let dir: string;
  let redeemer: Redeemer;
  let executor: MemoryExecutor;
  let api: string;
  const lines: Record<string, unknown>[] = [];

  const configOf = () =>
    redeemerConfigFor(f, dir, {
      retry: { baseMs: 20, maxMs: 200 },
    });

  before(async () => {
    f = await startChainFixture();
    dir = mkdtempSync(join(tmpdir(), "ctk-api-"));
    executor = new MemoryExecutor();
    redeemer = await startRedeemer(configOf(), { executor, logStream: jsonLinesInto(lines) });
    await redeemer.ready;
    api = `http://127.0.0.1:${redeemer.port}`;
  });
  after(async () => {
    await redeemer?.stop();
    await f?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const get = async (path: string) => {
    const res = await fetch(`${api}${path}`);
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON (metrics)
    }
    return { status: res.status, body: body as Record<string, any>, text, headers: res.headers };
  };

  it("answers /healthz while the process is up", async () => {
    const r = await get("/healthz");
    expect(r.status).to.equal(200);
    expect(r.body).to.deep.equal({ status: "ok" });
  });

  it("publishes its policy: registries, digest pinning, commands, secrets and each class's own GPU limit", async () => {
    const r = await get("/v1/policy");
    expect(r.status).to.equal(200);
    expect(r.body).to.deep.include({
      allowedRegistries: POLICY.allowedRegistries,
      requireDigest: true,
      maxSpecBytes: 8192,
      executor: "local",
      allowedSecrets: [],
      computeToken: f.deployment.computeToken,
      chainId: f.deployment.chainId,
    });
    expect(r.body.deployBlockHash).to.match(/^0x[0-9a-f]{64}$/);
    // The in-memory executor declares no command list: any command, none required.
    expect(r.body).to.include({ allowedCommands: null, commandRequired: false });
    const h100 = r.body.classes.find((c: { name: string }) => c.name === "H100-80GB");
    expect(h100).to.deep.include({ active: true });
    expect(h100.maxGpusPerJob).to.be.a("number").and.be.below(1024);
  });

  it("answers /readyz 200 when chain and executor answer, 503 naming the executor when it does not", async () => {
    expect((await get("/readyz")).body).to.deep.equal({ status: "ready", checks: { chain: true, executor: true, history: true } });
    executor.healthy = false;
    try {
      const r = await get("/readyz");
      expect(r.status).to.equal(503);
      expect(r.body.checks).to.deep.equal({ chain: true, executor: false, history: true });
    } finally {
      executor.healthy = true;
    }
  });

  it("shows a redemption through its lifecycle: spec, job, usage, receipt and transaction hashes", async () => {
    const id = await f.redeem(0, nodeJob("1", { gpus: 2, hours: 0.5, name: "api-job" }));
    await waitFor("running", async () => (await get(`/v1/redemptions/${id}`)).body.status === "Running");
    let v = (await get(`/v1/redemptions/${id}`)).body;
    expect(v).to.include({
      id: id.toString(),
      phase: "running",
      holder: f.holders[0]!.account.address,
      className: "H100-80GB",
      gpus: 2,
      seconds: 1800,
      priority: "normal",
      reservedUnits: "3600",
    });
    expect(v.spec).to.include({ name: "api-job" });
    expect(v.job).to.include({ name: `ctk-redemption-${id}`, phase: "pending" });
    expect(v.transactions.requested).to.match(/^0x[0-9a-f]{64}$/);
    expect(v.transactions.running).to.match(/^0x[0-9a-f]{64}$/);
    expect(v.receipt).to.equal(null);

    executor.start(id);
    executor.finish(id, 1000);
    await waitFor("settled", async () => (await get(`/v1/redemptions/${id}`)).body.status === "Settled");
    v = (await get(`/v1/redemptions/${id}`)).body;
    expect(v).to.include({ phase: "settled", usedUnits: "1000", refundedUnits: "2600" });
    expect(v.receipt.hash).to.match(/^0x[0-9a-f]{64}$/);
    expect(v.receipt.content).to.include({ usedUnits: "1000", jobName: `ctk-redemption-${id}`, node: "mem-node" });
    expect(v.transactions.settled).to.match(/^0x[0-9a-f]{64}$/);
    const raw = await fetch(`${api}/v1/redemptions/${id}/receipt`);
    expect(raw.headers.get("x-receipt-hash")).to.equal(v.receipt.hash);
  });

  it("shows why a redemption was rejected", async () => {
    const id = await f.redeem(1, nodeJob("1", { image: `quay.io/x/y@sha256:${"ab12".repeat(16)}` }));
    await waitFor("rejected", async () => (await get(`/v1/redemptions/${id}`)).body.status === "Rejected");
    const v = (await get(`/v1/redemptions/${id}`)).body;
    expect(v.rejection).to.include({ code: 4, reason: "IMAGE_NOT_ALLOWED" });
    expect(v.rejection.detail).to.contain("quay.io");
    expect(v).to.include({ usedUnits: "0", refundedUnits: v.reservedUnits });
  });

  it("lists a holder's redemptions, and only theirs", async () => {
    const mine = await f.redeem(2, nodeJob("1", { name: "listed" }));
    await waitFor("seen", async () => (await get(`/v1/redemptions/${mine}`)).status === 200);
    const r = await get(`/v1/redemptions?holder=${f.holders[2]!.account.address.toLowerCase()}`);
    expect(r.status).to.equal(200);
    expect(r.body.redemptions.map((x: { id: string }) => x.id)).to.deep.equal([mine.toString()]);
    expect(r.body.total).to.equal(1);
    const other = await get(`/v1/redemptions?holder=0x000000000000000000000000000000000000dEaD`);
    expect(other.body).to.deep.equal({ redemptions: [], total: 0 });
  });

  it("answers 400 to a malformed id or holder and 404 to an unknown redemption", async () => {
    expect((await get("/v1/redemptions/abc")).status).to.equal(400);
    expect((await get("/v1/redemptions?holder=0x123")).status).to.equal(400);
    expect((await get("/v1/redemptions?limit=0")).status).to.equal(400);
    const missing = await get("/v1/redemptions/999999");
    expect(missing.status).to.equal(404);
    expect(missing.body.error).to.contain("999999");
    expect((await get("/v1/redemptions/999999/receipt")).status).to.equal(404);
    expect((await get("/nope")).status).to.equal(404);
  });

  it("exports Prometheus metrics: redemptions by state, launch and settle latency, executor errors", async () => {
    executor.failLaunchWith = new Error("injected");
    const id = await f.redeem(0, nodeJob("1", { name: "fails-once" }));
    await waitFor("a launch error counted", async () => /ctk_redeemer_executor_errors_total\{operation="launch"\} [1-9]/.test((await get("/metrics")).text));
    executor.failLaunchWith = undefined;
    await waitFor("running", async () => (await get(`/v1/redemptions/${id}`)).body.status === "Running");
    const m = await get("/metrics");
    expect(m.headers.get("content-type")).to.contain("text/plain");
    expect(m.text).to.match(/ctk_redeemer_redemptions\{state="settled"\} [1-9]/);
    expect(m.text).to.match(/ctk_redeemer_redemptions\{state="rejected"\} [1-9]/);
    expect(m.text).to.match(/ctk_redeemer_redemptions\{state="running"\} [1-9]/);
    expect(m.text).to.match(/ctk_redeemer_launch_latency_seconds_count [1-9]/);
    expect(m.text).to.match(/ctk_redeemer_settle_latency_seconds_count [1-9]/);
    expect(m.text).to.match(/ctk_redeemer_claim_batch_seconds_count [1-9]/);
    expect(m.text).to.match(/ctk_redeemer_transactions_total\{call="settle"\} [1-9]/);
    expect(m.text).to.match(/ctk_redeemer_head_block \d+/);
    expect(m.text).to.contain("ctk_redeemer_process_cpu_seconds_total");
  });

  it("logs JSON lines that name the redemption", async () => {
    const settled = lines.find((l) => l.msg === "redemption settled");
    expect(settled).to.include({ service: "ctk-redeemer", status: "Settled" });
    expect(settled!.redemptionId).to.be.a("string");
    expect(lines.some((l) => l.msg === "redeemer ready")).to.equal(true);
    expect(lines.every((l) => typeof l.level === "number" && typeof l.time === "number")).to.equal(true);
  });

  it("on a restart, sums up the history it rebuilt in its ready line instead of a line per past redemption", async () => {
    const settledBefore = lines.filter((l) => l.msg === "redemption settled").length;
    expect(settledBefore, "settlements logged by the first run").to.be.at.least(1);
    await redeemer.stop();
    const restartLines: Record<string, unknown>[] = [];
    redeemer = await startRedeemer(configOf(), { executor, logStream: jsonLinesInto(restartLines) });
    await redeemer.ready;
    const ready = restartLines.find((l) => l.msg === "redeemer ready");
    // From the first run's checkpoint: the redemptions over before it are counted, not held.
    const d = redeemer.book.droppedCount;
    expect(ready?.fromCheckpoint).to.equal(true);
    expect(ready?.redemptions).to.equal(redeemer.book.size + d.settled + d.rejected + d.reclaimed);
    expect(ready?.redemptions).to.be.at.least(settledBefore);
    const perRedemption = restartLines.filter((l) => typeof l.msg === "string" && /^redemption (settled|rejected|running|reclaimed)$/.test(l.msg));
    expect(perRedemption, "history lines logged on restart").to.deep.equal([]);
  });
});
