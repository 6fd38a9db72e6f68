/**
 * Crash safety: redemptions keep arriving while the redeemer process is killed with SIGKILL at
 * random moments and restarted, again and again. In the end every redemption is Settled or
 * Rejected exactly once, no job was started (local) or created (Kubernetes) twice, and no unit
 * was lost. Once with the local executor, once with the Kubernetes executor against the fake API
 * server (which runs in this process, so it outlives every redeemer it serves).
 *
 * Scale with CTK_CRASH_REDEMPTIONS (default 200) and CTK_CRASH_KILLS (default 20); replay a run
 * with CTK_CRASH_SEED. The local executor's drill runs real jobs of 1–4 s under supervisors and
 * checks the machine side too (each job once, to its end, paid in full, never after its
 * redemption, never on a busy GPU): CTK_LOCAL_CRASH_REDEMPTIONS (default 40), CTK_LOCAL_CRASH_KILLS
 * (default 16); CTK_CRASH_SEEDS=1,2,3,4,5 runs it once per seed.
 *
 * The checkpoint is a speed-up, never a source of truth (issue 16): a drill whose checkpoint file
 * is replaced, between a kill and the restart, by a stale one and then corrupted (bytes changed,
 * then truncated) ends with the same on-chain outcomes and settlements as the same drill untouched
 * (CTK_CHECKPOINT_CRASH_REDEMPTIONS, default 20; CTK_CHECKPOINT_CRASH_KILLS, default 6).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, watch, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { REJECT_REASONS } from "../../sdk/reasons.js";
import { type FakeKube, startFakeKube } from "../../devkit/fakeKube.js";
import { readProcStat } from "../../redeemer/executor/local/index.js";
import { readCheckpoint } from "../../redeemer/watcher/checkpoint.js";
import { type ChainFixture, IMAGE, KUBE_QUEUES, lifecycleOf, nodeJob, POLICY, startChainFixture } from "./support/chainFixture.js";
import { type CrashDrillOptions, type CrashDrillResult, expectBooksBalance, rng, runCrashDrill, type Submitted } from "./support/crashLoop.js";

const REDEMPTIONS = Number(process.env.CTK_CRASH_REDEMPTIONS ?? 200);
const KILLS = Number(process.env.CTK_CRASH_KILLS ?? 20);
/** The local executor's drill runs real jobs of 1–4 s: fewer redemptions (CTK_LOCAL_CRASH_REDEMPTIONS, CTK_LOCAL_CRASH_KILLS). */
const LOCAL_REDEMPTIONS = Number(process.env.CTK_LOCAL_CRASH_REDEMPTIONS ?? 40);
const LOCAL_KILLS = Number(process.env.CTK_LOCAL_CRASH_KILLS ?? 16);
const BAD_IMAGE = `docker.io/x/y@sha256:${"ab12".repeat(16)}`;

const seedOf = () => Number(process.env.CTK_CRASH_SEED ?? Date.now() % 100_000);
/** One line in the test output: what was measured, and the seed that replays it. */
const measured = (kills: number, redemptions: number, seed: number) => console.log(`      (${kills} SIGKILLs, ${redemptions} redemptions; replay with CTK_CRASH_SEED=${seed})`);

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

  /**
   * The local executor's drill (issue 17): jobs of 1–4 s, kills aimed at job starts among the
   * random ones. Besides the books: every good job ran exactly once and to its end (or to its
   * deadline), none ran while or after its redemption was over, every GPU-second that ran is
   * charged, no GPU held by two jobs at once. One test per seed of CTK_CRASH_SEEDS (e.g. "1,2,3,4,5").
   */
  describe("local executor: jobs of 1–4 s, supervised through the kills", () => {
    const seeds = process.env.CTK_CRASH_SEEDS ? process.env.CTK_CRASH_SEEDS.split(",").map(Number) : [seedOf()];
    for (const seed of seeds) {
      it(`${LOCAL_REDEMPTIONS} redemptions across ${LOCAL_KILLS} SIGKILLs (seed ${seed}): each job runs once, to its end, paid in full, never after its redemption, never on a busy GPU`, async () => {
        const figures = await localDrill(seed);
        console.log(`      ${JSON.stringify(figures)}`);
      });
    }
  });

  async function localDrill(seed: number): Promise<Record<string, number>> {
    const random = rng(seed);
    const TIME_SCALE = 0.01;
    const HOURS = 0.1; // 360 allotted seconds: a deadline of 3.6 s
    const deadlineReal = HOURS * 3600 * TIME_SCALE;
    const marks = join(dir, "marks.txt");
    writeFileSync(marks, "");
    const dataDir = join(dir, "local");
    const runDir = join(dataDir, "run");
    mkdirSync(runDir, { recursive: true });
    const configFile = join(dir, "redeemer.json");
    writeFileSync(
      configFile,
      JSON.stringify(
        redeemerConfig(f, dir, {
          kind: "local",
          local: { dataDir, gpus: [{ simulated: true, class: "H100-80GB", count: 8 }], timeScale: TIME_SCALE, heartbeatSeconds: 0.1, killGraceSeconds: 0.2 },
        }),
      ),
    );
    // What each good job was asked to do, by submission order.
    const plans = new Map<number, { sleep: number; gpus: number }>();
    const job = (i: number) => {
      // Most end well before the deadline; some run into it. None ends near it.
      const sleep = random() < 0.15 ? 3.9 + random() * 0.1 : 1 + random() * 2.3;
      const gpus = 1 + Math.floor(random() * 2);
      plans.set(i, { sleep, gpus });
      const line = (what: string) => `echo "${what} $CTK_REDEMPTION_ID $$ $(date +%s.%N) $CUDA_VISIBLE_DEVICES" >> "$MARK"`;
      return nodeJob("", {
        name: `crash-${i}`,
        command: ["sh"],
        args: ["-c", `${line("start")}; sleep ${sleep.toFixed(2)}; ${line("done")}`],
        env: { MARK: marks },
        gpus,
        hours: HOURS,
      });
    };

    // A kill aimed at a job start: the moment the executor writes a start's order, or a few ms later (its supervisor starting).
    const startMoment = async (killRandom: () => number): Promise<boolean> => {
      const delay = killRandom() < 0.5 ? 0 : Math.floor(killRandom() * 40);
      const caught = await new Promise<boolean>((resolve) => {
        const watcher = watch(runDir, (_event, file) => {
          if (typeof file === "string" && file.endsWith(".order.json")) done(true);
        });
        const timer = setTimeout(() => done(false), 3_000);
        function done(value: boolean) {
          clearTimeout(timer);
          watcher.close();
          resolve(value);
        }
      });
      if (caught && delay > 0) await new Promise((r) => setTimeout(r, delay));
      return caught;
    };

    const observer = new JobObserver(f, marks);
    observer.start();
    let result;
    try {
      result = await runCrashDrill({
        f,
        configFile,
        logFile: join(dir, "redeemer.log"),
        random,
        seed,
        redemptions: LOCAL_REDEMPTIONS,
        kills: LOCAL_KILLS,
        good: job,
        bad: (i) => nodeJob("", { name: `bad-${i}`, image: BAD_IMAGE }),
        aimed: { share: 0.4, moment: startMoment },
        // Redemptions spread over the kills, so that jobs start (and are killed under) all along.
        gapMs: 1_200,
      });
    } finally {
      await observer.stop();
    }
    const { submitted, kills, aimedKills, killedAt } = result;
    measured(kills, submitted.length, seed);
    expect(kills).to.be.at.least(LOCAL_KILLS);
    expect(aimedKills, "kills that landed while a job was being started").to.be.at.least(1);
    expect(submitted).to.have.length(LOCAL_REDEMPTIONS);
    await expectBooksBalance(f, submitted, REJECT_REASONS.IMAGE_NOT_ALLOWED);
    expect(observer.violations, "seen while the drill ran").to.deep.equal([]);

    const runs = observer.runs();
    const { settled } = await lifecycleOf(f);
    let ranGpuSeconds = 0;
    let chargedGpuSeconds = 0;
    let completed = 0;
    let deadlineStopped = 0;
    let ranThroughKills = 0;
    const intervals: { id: bigint; devices: string[]; start: number; end: number }[] = [];
    for (const [i, s] of submitted.entries()) {
      const ofJob = runs.get(s.id) ?? [];
      if (s.bad) {
        expect(ofJob, `redemption ${s.id} (refused spec) ran nothing`).to.deep.equal([]);
        continue;
      }
      const plan = plans.get(i)!;
      expect(ofJob.length, `job of redemption ${s.id} started exactly once (seed ${seed})`).to.equal(1);
      const run = ofJob[0]!;
      const hitsDeadline = plan.sleep > deadlineReal;
      let ran: number;
      if (hitsDeadline) {
        expect(run.done, `job ${s.id} (${plan.sleep.toFixed(2)} s) was stopped by its deadline`).to.equal(undefined);
        deadlineStopped++;
        ran = deadlineReal;
      } else {
        expect(run.done, `job ${s.id} (${plan.sleep.toFixed(2)} s) ran to its end (seed ${seed})`).to.be.a("number");
        completed++;
        ran = run.done! - run.start;
      }
      intervals.push({ id: s.id, devices: run.devices, start: run.start, end: run.done ?? run.lastAlive ?? run.start });
      const end = run.done ?? run.lastAlive ?? run.start;
      if (killedAt.some((t) => run.start < t && t < end)) ranThroughKills++;
      // Charged GPU-seconds (allotted): the units settled, at the multiplier the reservation was priced at.
      const { reserved, used } = await f.redemption(s.id);
      expect(settled.get(s.id)?.[0]).to.equal(used);
      const cap = plan.gpus * HOURS * 3600;
      const charged = (Number(used) * cap) / Number(reserved);
      const ranAllotted = Math.min(cap, (plan.gpus * ran) / TIME_SCALE);
      expect(charged, `job ${s.id}: every GPU-second that ran is charged (ran ${ranAllotted.toFixed(1)}, charged ${charged.toFixed(1)})`).to.be.at.least(
        Math.floor(ranAllotted - 1e-6),
      );
      expect(charged, `job ${s.id}: charged no more than it ran, give or take its start and end`).to.be.at.most(ranAllotted + (plan.gpus * 1) / TIME_SCALE);
      ranGpuSeconds += ranAllotted;
      chargedGpuSeconds += charged;
    }
    // No GPU held by two jobs at once (each job's own start and end marks).
    for (const a of intervals)
      for (const b of intervals)
        if (a.id < b.id && a.devices.some((d) => b.devices.includes(d)))
          expect(a.end <= b.start || b.end <= a.start, `jobs ${a.id} and ${b.id} overlapped on GPUs ${a.devices} / ${b.devices}`).to.equal(true);
    return {
      seed,
      kills,
      killsAimedAtJobStarts: aimedKills,
      redemptions: submitted.length,
      refused: submitted.filter((s) => s.bad).length,
      jobsCompleted: completed,
      jobsStoppedByDeadline: deadlineStopped,
      jobsThatRanThroughAKill: ranThroughKills,
      gpuSecondsRan: Math.round(ranGpuSeconds),
      gpuSecondsCharged: Math.round(chargedGpuSeconds),
      observations: observer.ticks,
    };
  }

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

describe("redeemer crash safety with its checkpoint stale or corrupted between a kill and the restart", function () {
  this.timeout(600_000);
  const REDEMPTIONS_CP = Number(process.env.CTK_CHECKPOINT_CRASH_REDEMPTIONS ?? 20);
  const KILLS_CP = Number(process.env.CTK_CHECKPOINT_CRASH_KILLS ?? 6);
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  /**
   * The Kubernetes drill on its own chain and fake API server. The fake's clock stands still, so
   * every Job runs 0 s by its timestamps and what is settled does not depend on timing: two drills
   * of one seed must settle alike. `tamper` may change the checkpoint file before each restart.
   */
  async function checkpointDrill(seed: number, tamper?: (f: ChainFixture, file: string) => Pick<CrashDrillOptions, "beforeStart" | "until">) {
    const f = await startChainFixture({ holders: 6 });
    const dir = mkdtempSync(join(tmpdir(), "ctk-crash-cp-"));
    const fake = await startFakeKube({ seed, clock: { now: () => 1_800_000_000_000 }, autoRun: { startAfterMs: 50, runMs: 300, node: "gpu-node-1" } });
    cleanup.push(async () => {
      await fake.close();
      await f.stop();
      if (process.env.CTK_KEEP_TMP !== "1") rmSync(dir, { recursive: true, force: true });
    });
    const kubeconfig = join(dir, "kubeconfig.json");
    writeFileSync(kubeconfig, fake.kubeConfig().exportConfig());
    const checkpointFile = join(dir, "redeemer-checkpoint.json");
    const configFile = join(dir, "redeemer.json");
    const executor = { kind: "kubernetes", kubeconfig, kubernetes: { ...KUBE_QUEUES, resyncMs: 1_000, requestTimeoutMs: 2_000, retryBaseMs: 20, retryMaxMs: 200 } };
    writeFileSync(configFile, JSON.stringify({ ...redeemerConfig(f, dir, executor), checkpoint: { file: checkpointFile, intervalMs: 200 } }));
    const random = rng(seed);
    const result = await runCrashDrill({
      f,
      configFile,
      logFile: join(dir, "redeemer.log"),
      random,
      seed,
      redemptions: REDEMPTIONS_CP,
      kills: KILLS_CP,
      good: (i) => nodeJob("", { name: `crash-${i}`, image: IMAGE, command: ["python", "train.py"], args: [], gpus: 1 + Math.floor(random() * 2), hours: 0.05 }),
      bad: (i) => nodeJob("", { name: `bad-${i}`, image: BAD_IMAGE }),
      ...tamper?.(f, checkpointFile),
    });
    measured(result.kills, result.submitted.length, seed);
    expect(result.submitted).to.have.length(REDEMPTIONS_CP);
    await expectBooksBalance(f, result.submitted, REJECT_REASONS.IMAGE_NOT_ALLOWED);
    // No Job created twice, and one for each good spec only.
    for (const s of result.submitted) expect(fake.jobCreations.get(`ctk-redemption-${s.id}`) ?? 0, `Jobs of redemption ${s.id}`).to.equal(s.bad ? 0 : 1);
    expect(fake.jobCreations.size).to.equal(result.submitted.filter((s) => !s.bad).length);
    return { ...result, outcomes: await outcomesOf(f, result) };
  }

  /** Each redemption's end on the chain, by submission order, and what each holder holds. */
  async function outcomesOf(f: ChainFixture, { submitted }: CrashDrillResult) {
    const { settled, rejected } = await lifecycleOf(f);
    const ends = submitted.map((s) => (settled.has(s.id) ? `settled, used ${settled.get(s.id)}` : `rejected, reason ${rejected.get(s.id)}`));
    const statuses = [];
    for (const s of submitted) statuses.push((await f.redemption(s.id)).status);
    const balances = [];
    for (let h = 0; h < f.holders.length; h++) balances.push(await f.balance(h));
    return { ends, statuses, balances };
  }

  it("reaches the same on-chain outcomes and settlements from a stale, a corrupted and a truncated checkpoint as untouched, launching nothing twice", async () => {
    const seed = seedOf();
    const t0 = Date.now();
    const untouched = await checkpointDrill(seed);
    const untouchedMs = Date.now() - t0;
    const resumed = untouched.starts.filter((s) => s.fromCheckpoint);
    expect(resumed.length, `untouched: restarts that resumed from a checkpoint (${JSON.stringify(untouched.starts)})`).to.be.at.least(1);
    for (const s of resumed) expect(s.checkpointBlock, "the block it resumed from").to.match(/^\d+$/);
    expect(
      untouched.starts.filter((s) => s.refused),
      "untouched: no checkpoint refused",
    ).to.deep.equal([]);

    // The same drill again; between kills its checkpoint is replaced by a stale one, then corrupted, then truncated.
    const done: { label: string; block?: bigint }[] = [];
    const t1 = Date.now();
    const tampered = await checkpointDrill(seed, (f, file) => {
      // Kept aside while the drill runs: the first checkpoint written with redemptions still open.
      let stale: { text: string; block: bigint; open: bigint[] } | undefined;
      let polling = false;
      const poller = setInterval(() => {
        if (stale || polling) return;
        polling = true;
        void (async () => {
          const text = readFileSync(file, "utf8");
          const cp = await readCheckpoint(file);
          // Kept only if the file did not change between the two reads.
          if (cp && cp.open.length > 0 && readFileSync(file, "utf8") === text) stale = { text, block: cp.position.block, open: cp.open.map((o) => o.request.id) };
        })()
          .catch(() => {})
          .finally(() => {
            polling = false;
          });
      }, 20);
      cleanup.push(async () => clearInterval(poller));
      return {
        until: () => done.length === 3,
        async beforeStart() {
          const current = await readCheckpoint(file).catch(() => undefined);
          if (!current || !stale || done.length === 3) return undefined;
          if (done.length === 0) {
            // Put back once a newer one exists and some of its open redemptions have ended since.
            const { settled, rejected } = await lifecycleOf(f);
            if (current.position.block <= stale.block || !stale.open.some((id) => settled.has(id) || rejected.has(id))) return undefined;
            writeFileSync(file, stale.text);
            done.push({ label: "stale", block: stale.block });
            return "stale";
          }
          const text = readFileSync(file, "utf8");
          if (done.length === 1) {
            // One digit of its block changed: still JSON, still well-formed, no longer its SHA-256.
            const at = text.indexOf('"block":"') + '"block":"'.length;
            writeFileSync(file, `${text.slice(0, at)}${text[at] === "9" ? "8" : "9"}${text.slice(at + 1)}`);
            done.push({ label: "corrupted" });
            return "corrupted";
          }
          writeFileSync(file, text.slice(0, Math.floor(text.length / 2)));
          done.push({ label: "truncated" });
          return "truncated";
        },
      };
    });
    const tamperedMs = Date.now() - t1;
    expect(
      done.map((d) => d.label),
      "checkpoint changes made between kills",
    ).to.deep.equal(["stale", "corrupted", "truncated"]);
    const startOf = (label: string) => tampered.starts.find((s) => s.prepared === label);
    // The stale one is trusted (it is still true, only old): the restart reads on from its block.
    expect(startOf("stale"), "restart after the stale checkpoint").to.deep.include({ ready: true, fromCheckpoint: true, checkpointBlock: String(done[0]!.block) });
    // The corrupted ones are refused, saying why, and the history is read from the deployment block.
    expect(startOf("corrupted"), "restart after the corrupted checkpoint").to.deep.include({ ready: true, fromCheckpoint: false });
    expect(startOf("corrupted")?.refused).to.contain("SHA-256");
    expect(startOf("truncated"), "restart after the truncated checkpoint").to.deep.include({ ready: true, fromCheckpoint: false });
    expect(startOf("truncated")?.refused).to.contain("not a checkpoint file");
    expect(
      tampered.starts.filter((s) => s.prepared === undefined && s.fromCheckpoint),
      "other restarts still resume from a checkpoint",
    ).to.have.length.at.least(1);

    // Same decisions: every redemption ends the same way, with the same settlement, and the holders hold the same.
    expect(tampered.outcomes).to.deep.equal(untouched.outcomes);
    const settledCount = untouched.outcomes.ends.filter((e) => e.startsWith("settled")).length;
    console.log(
      `      (${settledCount} settled, ${REDEMPTIONS_CP - settledCount} rejected; untouched: ${untouched.kills} kills, ${resumed.length} restarts from a checkpoint, ${untouchedMs} ms; tampered: ${tampered.kills} kills, ${tamperedMs} ms)`,
    );
  });
});

/** One run of a job, from the marks it writes ("start|done <id> <pid> <unix time> <devices>"). */
interface JobRun {
  pid: number;
  start: number;
  devices: string[];
  done?: number;
  /** Last time the observer saw its process alive. */
  lastAlive?: number;
  /** Kernel start time of `pid` when first seen (to tell it from a reused pid). */
  pidStartTime?: string;
}

/**
 * Watches the drill from outside every ~100 ms: which job processes are alive (their marks name
 * their pids), on which GPUs, and which redemptions are over on the chain. A job process alive
 * after its redemption was seen over, or two alive on one GPU, is a violation.
 */
class JobObserver {
  readonly violations: string[] = [];
  ticks = 0;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private readonly byId = new Map<bigint, JobRun[]>();
  private offset = 0;
  private partial = "";

  constructor(
    private readonly f: ChainFixture,
    private readonly marks: string,
  ) {}

  start(): void {
    this.loop = (async () => {
      while (!this.stopped) {
        await this.tick().catch((err: unknown) => this.violations.push(`observer: ${(err as Error).message}`));
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    this.readMarks();
  }

  runs(): Map<bigint, JobRun[]> {
    return this.byId;
  }

  private readMarks(): void {
    const text = readFileSync(this.marks, "utf8");
    const fresh = this.partial + text.slice(this.offset);
    this.offset = text.length;
    const lines = fresh.split("\n");
    this.partial = lines.pop() ?? "";
    for (const line of lines) {
      const [what, id, pid, at, devices] = line.split(" ");
      const key = BigInt(id!);
      const runs = this.byId.get(key) ?? [];
      this.byId.set(key, runs);
      if (what === "start") runs.push({ pid: Number(pid), start: Number(at), devices: (devices ?? "").split(",") });
      else {
        const run = runs.find((r) => r.pid === Number(pid));
        if (run) run.done = Number(at);
        else this.violations.push(`job ${id}: "done" from pid ${pid}, which never started`);
      }
    }
  }

  private async tick(): Promise<void> {
    // What is over on the chain first: a job seen alive afterwards ran while its redemption was over.
    const { settled, rejected } = await lifecycleOf(this.f);
    this.readMarks();
    const now = Date.now() / 1000;
    const busy = new Map<string, bigint>();
    for (const [id, runs] of this.byId) {
      for (const run of runs) {
        if (run.done !== undefined) continue;
        const stat = readProcStat(run.pid);
        const alive = stat !== undefined && stat.state !== "Z" && stat.state !== "X" && (run.pidStartTime ?? stat.startTime) === stat.startTime;
        if (!alive) continue;
        run.pidStartTime ??= stat.startTime;
        run.lastAlive = now;
        if (settled.has(id) || rejected.has(id)) this.violations.push(`job ${id} (pid ${run.pid}) still ran after its redemption was over`);
        for (const d of run.devices) {
          const other = busy.get(d);
          if (other !== undefined && other !== id) this.violations.push(`GPU ${d} held by jobs ${other} and ${id} at once`);
          busy.set(d, id);
        }
      }
    }
    this.ticks++;
  }
}
