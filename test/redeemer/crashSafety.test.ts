/**
 * Crash safety: redemptions keep arriving while the redeemer process is killed with SIGKILL at
 * random moments and restarted, again and again. In the end every redemption is Settled or
 * Rejected exactly once, no job was started twice, and no unit was lost.
 *
 * Scale with CTK_CRASH_REDEMPTIONS (default 200) and CTK_CRASH_KILLS (default 20).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { computeTokenAbi } from "../../sdk/generated/abi.js";
import { REJECT_REASONS } from "../../sdk/reasons.js";
import { type ChainFixture, lifecycleOf, nodeJob, POLICY, startChainFixture } from "./support/chainFixture.js";
import { spawnRedeemer, tail } from "./support/redeemerProcess.js";
import { sleep, waitFor } from "./support/waitFor.js";

const REDEMPTIONS = Number(process.env.CTK_CRASH_REDEMPTIONS ?? 200);
const KILLS = Number(process.env.CTK_CRASH_KILLS ?? 20);

/** A small seeded RNG so a failing run can be replayed (CTK_CRASH_SEED). */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

describe("redeemer crash safety (SIGKILL at random moments)", function () {
  this.timeout(600_000);
  let f: ChainFixture;
  let dir: string;

  before(async () => {
    f = await startChainFixture({ holders: 6 });
    dir = mkdtempSync(join(tmpdir(), "ctk-crash-"));
  });
  after(async () => {
    await f?.stop();
    if (process.env.CTK_KEEP_TMP !== "1") rmSync(dir, { recursive: true, force: true });
  });

  it(`settles or rejects each of ${REDEMPTIONS} redemptions exactly once across ${KILLS} SIGKILLs, starting no job twice and losing no unit`, async () => {
    const seed = Number(process.env.CTK_CRASH_SEED ?? Date.now() % 100_000);
    const random = rng(seed);
    const marks = join(dir, "started.txt");
    writeFileSync(marks, "");
    const logFile = join(dir, "redeemer.log");
    const configFile = join(dir, "redeemer.json");
    writeFileSync(
      configFile,
      JSON.stringify({
        rpcUrl: f.rpcUrl,
        deployment: f.deploymentFile,
        privateKey: f.redeemerKey,
        confirmations: 0,
        pollIntervalMs: 50,
        receiptsDir: join(dir, "receipts"),
        api: { port: 0 },
        logLevel: "info",
        policy: POLICY,
        executor: {
          kind: "local",
          local: { dataDir: join(dir, "local"), gpus: [{ simulated: true, class: "H100-80GB", count: 8 }], timeScale: 0.01, heartbeatSeconds: 0.2, killGraceSeconds: 0.2 },
        },
        retry: { baseMs: 50, maxMs: 1_000 },
        tx: { receiptTimeoutMs: 10_000 },
      }),
    );

    // Each good job appends its redemption id to `marks` when it starts: a line twice = started twice.
    const good = (i: number) =>
      nodeJob("", {
        name: `crash-${i}`,
        command: ["sh"],
        args: ["-c", `echo "$CTK_REDEMPTION_ID" >> "$MARK"; sleep ${(0.1 + random() * 0.4).toFixed(2)}`],
        env: { MARK: marks },
        gpus: 1 + Math.floor(random() * 2),
        hours: 0.05,
      });
    const bad = (i: number) => nodeJob("", { name: `bad-${i}`, image: `docker.io/x/y@sha256:${"ab12".repeat(16)}` });

    // Producer: redemptions arrive all along, whether the redeemer is up or not.
    const submitted: { id: bigint; bad: boolean }[] = [];
    let producing = true;
    const producer = (async () => {
      for (let i = 0; i < REDEMPTIONS; i++) {
        const isBad = random() < 0.15;
        const holder = i % f.holders.length;
        submitted.push({ id: await f.redeem(holder, isBad ? bad(i) : good(i)), bad: isBad });
        await sleep(Math.floor(random() * 120));
      }
      producing = false;
    })();

    const kills: string[] = [];
    try {
      for (let k = 0; k < KILLS || producing; k++) {
        const p = spawnRedeemer(configFile, logFile);
        // A fifth of the kills land during start-up (the rebuild), the rest while it works.
        if (random() < 0.2) await sleep(Math.floor(random() * 800));
        else {
          await p.ready();
          await sleep(Math.floor(random() * 1_500));
        }
        p.kill("SIGKILL");
        await p.exited;
        kills.push(`${k}`);
      }
      await producer;

      // A last run, left alone, finishes everything; then a graceful SIGTERM.
      const last = spawnRedeemer(configFile, logFile);
      await last.ready();
      const ids = submitted.map((s) => s.id);
      await waitFor(
        "every redemption over",
        async () => {
          const { settled, rejected } = await lifecycleOf(f);
          return ids.every((id) => settled.has(id) || rejected.has(id));
        },
        240_000,
        250,
      );
      last.kill("SIGTERM");
      expect((await last.exited).code, "graceful exit").to.equal(0);
    } catch (err) {
      throw new Error(`${(err as Error).message}\nseed ${seed}, kills ${kills.length}\n${tail(logFile)}`);
    }

    expect(kills.length).to.be.at.least(KILLS);
    const { settled, rejected, running, requested } = await lifecycleOf(f);
    expect(requested.length).to.equal(REDEMPTIONS);
    let usedTotal = 0n;
    for (const s of submitted) {
      const outcomes = (settled.get(s.id)?.length ?? 0) + (rejected.get(s.id)?.length ?? 0);
      expect(outcomes, `redemption ${s.id}: settled or rejected exactly once`).to.equal(1);
      expect(running.get(s.id) ?? 0, `redemption ${s.id}: marked running at most once`).to.be.at.most(1);
      if (s.bad) expect(rejected.get(s.id), `bad spec ${s.id}`).to.deep.equal([REJECT_REASONS.IMAGE_NOT_ALLOWED]);
      else expect(settled.has(s.id), `good spec ${s.id} settled`).to.equal(true);
      usedTotal += settled.get(s.id)?.[0] ?? 0n;
    }

    // No job started twice.
    const started = readFileSync(marks, "utf8").split("\n").filter(Boolean);
    const counts = new Map<string, number>();
    for (const id of started) counts.set(id, (counts.get(id) ?? 0) + 1);
    const twice = [...counts].filter(([, n]) => n > 1);
    expect(twice, "jobs started twice").to.deep.equal([]);
    for (const id of counts.keys()) expect(submitted.find((s) => s.id === BigInt(id))?.bad, `job ${id} was for a good spec`).to.equal(false);

    // Conservation: what the holders hold plus what was consumed is what was granted.
    let held = 0n;
    for (let h = 0; h < f.holders.length; h++) held += await f.balance(h);
    expect(held + usedTotal).to.equal(f.grantPerHolder * BigInt(f.holders.length));
    const supply = await f.publicClient.readContract({ address: f.deployment.computeToken, abi: computeTokenAbi, functionName: "totalSupply", args: [f.lotId] });
    expect(supply).to.equal(held);
  });
});
