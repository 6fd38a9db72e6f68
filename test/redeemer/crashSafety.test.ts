/**
 * Crash safety: redemptions keep arriving while the redeemer process is killed with SIGKILL at
 * random moments and restarted, again and again. In the end every redemption is Settled or
 * Rejected exactly once, no job was started (local) or created (Kubernetes) twice, and no unit
 * was lost. Once with the local executor, once with the Kubernetes executor against the fake API
 * server (which runs in this process, so it outlives every redeemer it serves).
 *
 * Scale with CTK_CRASH_REDEMPTIONS (default 200) and CTK_CRASH_KILLS (default 20); replay a run
 * with CTK_CRASH_SEED.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { REJECT_REASONS } from "../../sdk/reasons.js";
import { type FakeKube, startFakeKube } from "../support/fakeKube.js";
import { type ChainFixture, IMAGE, KUBE_QUEUES, nodeJob, POLICY, startChainFixture } from "./support/chainFixture.js";
import { type CrashDrillOptions, expectBooksBalance, rng, runCrashDrill, type Submitted } from "./support/crashLoop.js";

const REDEMPTIONS = Number(process.env.CTK_CRASH_REDEMPTIONS ?? 200);
const KILLS = Number(process.env.CTK_CRASH_KILLS ?? 20);
const BAD_IMAGE = `docker.io/x/y@sha256:${"ab12".repeat(16)}`;

const seedOf = () => Number(process.env.CTK_CRASH_SEED ?? Date.now() % 100_000);
/** One line in the test output: what was measured, and the seed that replays it. */
const measured = (kills: number, redemptions: number, seed: number) =>
  console.log(`      (${kills} SIGKILLs, ${redemptions} redemptions; replay with CTK_CRASH_SEED=${seed})`);

/** What every redeemer run of the drill shares; `executor` is the part under test. */
const redeemerConfig = (f: ChainFixture, dir: string, executor: object) => ({
  rpcUrl: f.rpcUrl,
  deployment: f.deploymentFile,
  privateKey: f.redeemerKey,
  confirmations: 0,
  pollIntervalMs: 50,
  receiptsDir: join(dir, "receipts"),
  api: { port: 0 },
  logLevel: "info",
  policy: POLICY,
  executor,
  retry: { baseMs: 50, maxMs: 1_000 },
  tx: { receiptTimeoutMs: 10_000 },
});

describe("redeemer crash safety (SIGKILL at random moments)", function () {
  this.timeout(600_000);
  let f: ChainFixture;
  let dir: string;

  beforeEach(async () => {
    f = await startChainFixture({ holders: 6 });
    dir = mkdtempSync(join(tmpdir(), "ctk-crash-"));
  });
  afterEach(async () => {
    await f?.stop();
    if (process.env.CTK_KEEP_TMP !== "1") rmSync(dir, { recursive: true, force: true });
  });

  /**
   * The drill at this file's scale (its log in the test's directory), then what every drill must
   * show: enough kills, every redemption submitted, each settled or rejected once, no unit lost.
   */
  async function drill(configFile: string, seed: number, random: () => number, jobs: Pick<CrashDrillOptions, "good" | "bad">): Promise<Submitted[]> {
    const { submitted, kills } = await runCrashDrill({ f, configFile, logFile: join(dir, "redeemer.log"), random, seed, redemptions: REDEMPTIONS, kills: KILLS, ...jobs });
    measured(kills, submitted.length, seed);
    expect(kills).to.be.at.least(KILLS);
    expect(submitted).to.have.length(REDEMPTIONS);
    await expectBooksBalance(f, submitted, REJECT_REASONS.IMAGE_NOT_ALLOWED);
    return submitted;
  }

  it(`local executor: settles or rejects each of ${REDEMPTIONS} redemptions exactly once across ${KILLS} SIGKILLs, starting no job twice and losing no unit`, async () => {
    const seed = seedOf();
    const random = rng(seed);
    const marks = join(dir, "started.txt");
    writeFileSync(marks, "");
    const configFile = join(dir, "redeemer.json");
    writeFileSync(
      configFile,
      JSON.stringify(
        redeemerConfig(f, dir, {
          kind: "local",
          local: { dataDir: join(dir, "local"), gpus: [{ simulated: true, class: "H100-80GB", count: 8 }], timeScale: 0.01, heartbeatSeconds: 0.2, killGraceSeconds: 0.2 },
        }),
      ),
    );

    // Each good job appends its redemption id to `marks` when it starts: a line twice = started twice.
    const submitted = await drill(configFile, seed, random, {
      good: (i) =>
        nodeJob("", {
          name: `crash-${i}`,
          command: ["sh"],
          args: ["-c", `echo "$CTK_REDEMPTION_ID" >> "$MARK"; sleep ${(0.1 + random() * 0.4).toFixed(2)}`],
          env: { MARK: marks },
          gpus: 1 + Math.floor(random() * 2),
          hours: 0.05,
        }),
      bad: (i) => nodeJob("", { name: `bad-${i}`, image: BAD_IMAGE }),
    });

    // No job started twice, and only good specs started.
    const started = readFileSync(marks, "utf8").split("\n").filter(Boolean);
    const counts = new Map<string, number>();
    for (const id of started) counts.set(id, (counts.get(id) ?? 0) + 1);
    const twice = [...counts].filter(([, n]) => n > 1);
    expect(twice, "jobs started twice").to.deep.equal([]);
    for (const id of counts.keys()) expect(submitted.find((s) => s.id === BigInt(id))?.bad, `job ${id} was for a good spec`).to.equal(false);
  });

  describe("kubernetes executor on the fake API server", () => {
    let fake: FakeKube | undefined;
    afterEach(async () => {
      await fake?.close();
      fake = undefined;
    });

    it(`settles or rejects each of ${REDEMPTIONS} redemptions exactly once across ${KILLS} SIGKILLs, creating no Job twice and losing no unit`, async () => {
      const seed = seedOf();
      const random = rng(seed);
      // Jobs are admitted and run on timers, whether or not a redeemer is up to watch them.
      fake = await startFakeKube({ seed, autoRun: { startAfterMs: 50, runMs: 300, node: "gpu-node-1" } });
      const kubeconfig = join(dir, "kubeconfig.json");
      writeFileSync(kubeconfig, fake.kubeConfig().exportConfig());
      const configFile = join(dir, "redeemer.json");
      writeFileSync(
        configFile,
        JSON.stringify(
          redeemerConfig(f, dir, {
            kind: "kubernetes",
            kubeconfig,
            kubernetes: {
              ...KUBE_QUEUES,
              resyncMs: 1_000,
              requestTimeoutMs: 2_000,
              retryBaseMs: 20,
              retryMaxMs: 200,
            },
          }),
        ),
      );

      const submitted = await drill(configFile, seed, random, {
        good: (i) => nodeJob("", { name: `crash-${i}`, image: IMAGE, command: ["python", "train.py"], args: [], gpus: 1 + Math.floor(random() * 2), hours: 0.05 }),
        bad: (i) => nodeJob("", { name: `bad-${i}`, image: BAD_IMAGE }),
      });

      // No Job created twice (a 409 on a re-create is fine: it creates nothing), and only for good specs.
      const creations = fake.jobCreations;
      const twice = [...creations].filter(([, n]) => n > 1);
      expect(twice, "Jobs created twice").to.deep.equal([]);
      const jobOf = (id: bigint) => `ctk-redemption-${id}`;
      for (const s of submitted) expect(creations.get(jobOf(s.id)) ?? 0, `Job of redemption ${s.id}`).to.equal(s.bad ? 0 : 1);
      expect(creations.size).to.equal(submitted.filter((s) => !s.bad).length);
    });
  });
});
