/**
 * Memory that does not grow with history, and start-up from a checkpoint that is only ever a
 * speed-up: against a real anvil and an in-memory executor, the redeemer keeps only the most
 * recent finished redemptions in memory (the others are answered from the chain), restarts from
 * its checkpoint, and with the checkpoint corrupted, stale or from another chain reaches the same
 * decisions as from the chain alone — each redemption launched and ended exactly once.
 */
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { expect } from "chai";
import { parseRedeemerConfig, type Redeemer, startRedeemer } from "../../redeemer/index.js";
import { RedemptionBook } from "../../redeemer/state/index.js";
import type { MachineConfig } from "../../redeemer/state/types.js";
import { readCheckpoint, writeCheckpoint } from "../../redeemer/watcher/checkpoint.js";
import { type ChainFixture, lifecycleOf, nodeJob, POLICY, startChainFixture, redeemerConfigFor } from "./support/chainFixture.js";
import { MemoryExecutor } from "./support/memoryExecutor.js";
import { waitFor } from "./support/waitFor.js";

function jsonLinesInto(lines: Record<string, unknown>[]): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
}

const MACHINE: MachineConfig = {
  policy: { allowedRegistries: ["registry.example.com"] } as never,
  executorKind: "local",
  maxLaunchAttempts: 3,
  backoff: { baseMs: 10, maxMs: 100 },
};
const HOLDER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8" as const;

describe("redeemer memory and checkpoint: the book", () => {
  const over = (book: RedemptionBook, id: bigint, status: "Settled" | "Rejected" | "Reclaimed") =>
    book.apply({ type: "chainStatus", id, status, at: 1, source: "log", txHash: `0x${"11".repeat(32)}` });

  it("keeps only the most recent `keepDone` finished redemptions, counting the others by status", () => {
    const book = new RedemptionBook(MACHINE, { keepDone: 2 });
    for (let id = 1n; id <= 5n; id++) over(book, id, id === 3n ? "Rejected" : "Settled");
    expect([...book.all()].map((r) => r.id)).to.deep.equal([4n, 5n]);
    expect(book.droppedCount).to.deep.equal({ settled: 2, rejected: 1, reclaimed: 0 });
    expect(book.droppedStatus(3n)).to.equal("Rejected");
    expect(book.droppedStatus(4n)).to.equal(undefined);
    expect(book.countByPhase()).to.include({ settled: 4, rejected: 1 });
  });

  it("keeps a redemption over on its own transaction's word until a confirmed log says so", () => {
    const book = new RedemptionBook(MACHINE, { keepDone: 0 });
    book.apply({ type: "chainStatus", id: 1n, status: "Rejected", at: 1, source: "tx" });
    expect(book.get(1n)?.chain).to.equal("Rejected");
    over(book, 1n, "Rejected");
    expect(book.get(1n)).to.equal(undefined);
    expect(book.droppedStatus(1n)).to.equal("Rejected");
  });

  it("ignores a dropped redemption's request read again, and brings it back when a job of it is seen, to remove the job", () => {
    const book = new RedemptionBook(MACHINE, { keepDone: 0 });
    over(book, 7n, "Reclaimed");
    book.apply({
      type: "requested",
      at: 2,
      request: {
        id: 7n,
        holder: HOLDER,
        classId: 1,
        priority: 1,
        gpus: 1,
        seconds: 36,
        reserved: 36n,
        specHash: `0x${"00".repeat(32)}`,
        specBytes: new Uint8Array(),
        blockNumber: 1n,
        transactionHash: `0x${"22".repeat(32)}`,
        multiplierBps: 10_000,
      },
    });
    expect(book.get(7n)).to.equal(undefined);
    expect(book.takeActions(3)).to.deep.equal([]);
    book.apply({ type: "jobObserved", at: 4, state: { redemptionId: 7n, name: "ctk-redemption-7", phase: "running", segments: [], gpuSeconds: 0 } });
    expect(book.get(7n)?.chain).to.equal("Reclaimed");
    expect(book.droppedCount.reclaimed).to.equal(0);
    expect(book.takeActions(5)).to.deep.equal([{ type: "remove", id: 7n }]);
    book.apply({ type: "actionStarted", id: 7n, action: "remove", at: 6 });
    book.apply({ type: "removed", id: 7n, at: 7 });
    expect(book.get(7n)).to.equal(undefined);
    expect(book.droppedCount.reclaimed).to.equal(1);
  });
});

describe("redeemer memory and checkpoint: configuration", () => {
  const base = {
    rpcUrl: "http://127.0.0.1:8545",
    deployment: { chainId: 31337, computeToken: HOLDER, accessManager: HOLDER, deployBlock: 1 },
    privateKey: `0x${"11".repeat(32)}`,
    policy: POLICY,
    executor: { kind: "local", local: { dataDir: "data/local" } },
  };

  it("puts the checkpoint beside the receipts directory unless told otherwise, and keeps 1,000 finished redemptions", () => {
    const c = parseRedeemerConfig({ ...base, receiptsDir: "/srv/ctk/receipts" }, { baseDir: "/srv" });
    expect(c.checkpoint).to.deep.equal({ enabled: true, file: "/srv/ctk/redeemer-checkpoint.json", intervalMs: 10_000 });
    expect(c.keepDone).to.equal(1_000);
    const d = parseRedeemerConfig({ ...base, receiptsDir: "r", keepDone: 0, checkpoint: { enabled: false, file: "cp.json", intervalMs: 500 } }, { baseDir: "/srv" });
    expect(d.checkpoint).to.deep.equal({ enabled: false, file: "/srv/cp.json", intervalMs: 500 });
    expect(d.keepDone).to.equal(0);
  });
});

describe("redeemer memory and checkpoint: against a chain", function () {
  this.timeout(180_000);
  let f: ChainFixture;
  let dir: string;
  let redeemer: Redeemer | undefined;
  let executor: MemoryExecutor;
  let api: string;
  let lines: Record<string, unknown>[] = [];
  const checkpointFile = () => join(dir, "redeemer-checkpoint.json");
  const good: bigint[] = [];
  const bad: bigint[] = [];

  const configOf = () =>
    redeemerConfigFor(f, dir, {
      retry: { baseMs: 20, maxMs: 200 },
      keepDone: 2,
      checkpoint: { intervalMs: 100 },
    });

  const start = async () => {
    lines = [];
    redeemer = await startRedeemer(configOf(), { executor, logStream: jsonLinesInto(lines) });
    await redeemer.ready;
    api = `http://127.0.0.1:${redeemer.port}`;
    return lines.find((l) => l.msg === "redeemer ready")!;
  };
  const get = async (path: string) => {
    const res = await fetch(`${api}${path}`);
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  const statusOf = async (id: bigint) => (await get(`/v1/redemptions/${id}`)).body.status as string;
  const launchesOf = (id: bigint) => executor.launches.filter((l) => l.redemptionId === id).length;
  /** Every redemption ended at most once on-chain, and launched at most once. */
  const exactlyOnce = async () => {
    const { settled, rejected, running } = await lifecycleOf(f);
    for (const [id, s] of settled) expect(s, `settlements of ${id}`).to.have.length(1);
    for (const [id, r] of rejected) expect(r, `rejections of ${id}`).to.have.length(1);
    for (const [id, n] of running) expect(n, `markRunning of ${id}`).to.equal(1);
    for (const id of good) expect(launchesOf(id), `launches of ${id}`).to.be.at.most(1);
    return { settled, rejected };
  };

  before(async () => {
    f = await startChainFixture();
    dir = mkdtempSync(join(tmpdir(), "ctk-checkpoint-"));
    executor = new MemoryExecutor();
    await start();
  });
  after(async () => {
    await redeemer?.stop();
    await f?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("keeps only the most recent finished redemptions in memory and answers the others from the chain and the receipts", async () => {
    for (let i = 0; i < 4; i++) good.push(await f.redeem(i % 2, nodeJob("1", { name: `kept-${i}` })));
    bad.push(await f.redeem(0, nodeJob("1", { image: `quay.io/x/y@sha256:${"ab12".repeat(16)}` })));
    await waitFor("the bad one rejected", async () => (await statusOf(bad[0]!)) === "Rejected");
    for (const id of good) await waitFor(`job ${id}`, () => executor.jobs.has(id));
    for (const id of good) {
      executor.start(id);
      executor.finish(id, 10);
      await waitFor(`${id} settled`, async () => (await statusOf(id)) === "Settled");
    }
    // Over in this order: the bad one, then good[0..3]; the last two stay.
    await waitFor("only 2 in memory", () => redeemer!.book.size === 2);
    expect([...redeemer!.book.all()].map((r) => r.id)).to.deep.equal(good.slice(2));
    expect(redeemer!.book.droppedCount).to.deep.equal({ settled: 2, rejected: 1, reclaimed: 0 });

    const first = good[0]!;
    expect(redeemer!.book.get(first)).to.equal(undefined);
    const v = (await get(`/v1/redemptions/${first}`)).body;
    expect(v).to.include({ id: first.toString(), status: "Settled", phase: "settled", holder: f.holders[0]!.account.address, className: "H100-80GB", usedUnits: "10" });
    expect(v.spec).to.include({ name: "kept-0" });
    expect(v.job).to.include({ name: `ctk-redemption-${first}`, phase: "succeeded" });
    expect(v.receipt.content).to.include({ usedUnits: "10" });
    expect(v.transactions.settled).to.match(/^0x[0-9a-f]{64}$/);
    expect(v.transactions.running).to.match(/^0x[0-9a-f]{64}$/);

    const rejectedView = (await get(`/v1/redemptions/${bad[0]}`)).body;
    expect(rejectedView.rejection).to.include({ code: 4, reason: "IMAGE_NOT_ALLOWED" });
    expect(rejectedView.rejection.detail).to.contain("quay.io");
    const mine = (await get(`/v1/redemptions?holder=${f.holders[0]!.account.address}`)).body;
    expect(mine.redemptions.map((r: { id: string }) => r.id)).to.deep.equal([good[0], good[2], bad[0]].map(String));
    expect(mine.redemptions.map((r: { status: string }) => r.status)).to.deep.equal(["Settled", "Settled", "Rejected"]);
    expect((await get("/v1/redemptions/999999")).status).to.equal(404);
    await exactlyOnce();
  });

  let stale: string;
  it("restarts from its checkpoint: the redemptions over are counted, not read, and the open ones carry on", async () => {
    const open = [await f.redeem(1, nodeJob("1", { name: "open-a" })), await f.redeem(0, nodeJob("1", { name: "open-b" }))];
    good.push(...open);
    // Running as a confirmed log says (the checkpoint holds nothing less).
    for (const id of open) await waitFor(`${id} running`, () => redeemer!.book.get(id)?.logged === "Running");
    await redeemer!.stop();
    const cp = await readCheckpoint(checkpointFile());
    expect(cp!.open.map((o) => [o.request.id, o.status])).to.deep.equal(open.map((id) => [id, "Running"]));
    expect(cp!.done).to.deep.equal({ settled: 4, rejected: 1, reclaimed: 0 });
    stale = join(dir, "stale-checkpoint.json");
    copyFileSync(checkpointFile(), stale);

    const later = await f.redeem(1, nodeJob("1", { name: "while-down" }));
    good.push(later);
    const ready = await start();
    expect(lines.find((l) => l.msg === "starting from the checkpoint")).to.include({ block: cp!.position.block.toString(), open: 2 });
    expect(ready).to.include({ fromCheckpoint: true, redemptions: 8 });
    await waitFor("the new one running", async () => (await statusOf(later)) === "Running");
    for (const id of [...open, later]) {
      executor.start(id);
      executor.finish(id, 50);
    }
    await waitFor("all settled", async () => (await Promise.all([...open, later].map(statusOf))).every((s) => s === "Settled"));
    for (const id of open) expect(launchesOf(id), `launches of ${id}`).to.equal(1);
    const { settled } = await exactlyOnce();
    expect(settled.size).to.equal(7);
  });

  it("with the checkpoint corrupted, then deleted, rebuilds from the chain and reaches the same decisions", async () => {
    await redeemer!.stop();
    const text = readFileSync(checkpointFile(), "utf8");
    const at = text.indexOf('"open"');
    writeFileSync(checkpointFile(), `${text.slice(0, at + 2)}X${text.slice(at + 3)}`);
    const badToo = await f.redeem(0, nodeJob("1", { image: `quay.io/x/z@sha256:${"ab12".repeat(16)}` }));
    bad.push(badToo);
    const launchesBefore = executor.launches.length;
    let ready = await start();
    expect(lines.find((l) => String(l.msg).startsWith("checkpoint not used"))?.reason).to.contain("SHA-256");
    expect(ready).to.include({ fromCheckpoint: false, redemptions: 9 });
    await waitFor("the bad one rejected", async () => (await statusOf(badToo)) === "Rejected");
    expect(executor.launches.length).to.equal(launchesBefore);

    await redeemer!.stop();
    unlinkSync(checkpointFile());
    ready = await start();
    expect(ready).to.include({ fromCheckpoint: false, redemptions: 9 });
    expect(lines.some((l) => String(l.msg).startsWith("checkpoint not used"))).to.equal(false);
    await redeemer!.stop();
    expect(existsSync(checkpointFile()), "a new checkpoint on stop").to.equal(true);
    await start();
    expect(executor.launches.length).to.equal(launchesBefore);
    const { rejected } = await exactlyOnce();
    expect(rejected.size).to.equal(2);
  });

  it("with a stale checkpoint, whose open redemptions have ended since, launches and ends nothing twice", async () => {
    await redeemer!.stop();
    copyFileSync(stale, checkpointFile());
    const launchesBefore = executor.launches.length;
    const ready = await start();
    expect(ready).to.include({ fromCheckpoint: true, redemptions: 9 });
    const open = good.slice(4, 6);
    for (const id of open) expect(await statusOf(id)).to.equal("Settled");
    await new Promise((r) => setTimeout(r, 500)); // give it time to (wrongly) act
    expect(executor.launches.length).to.equal(launchesBefore);
    await exactlyOnce();
  });

  it("ignores a well-formed checkpoint whose block is not on this chain", async () => {
    await redeemer!.stop();
    const cp = (await readCheckpoint(checkpointFile()))!;
    await writeCheckpoint(checkpointFile(), { ...cp, position: { ...cp.position, hash: `0x${"ee".repeat(32)}` } });
    const ready = await start();
    expect(lines.find((l) => String(l.msg).startsWith("checkpoint not used"))?.reason).to.contain("no longer has the hash");
    expect(ready).to.include({ fromCheckpoint: false, redemptions: 9 });
    await exactlyOnce();
  });
});
