import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { expect } from "chai";
import type { PriorityName } from "../../sdk/jobSpec.js";
import type { JobState, LaunchRequest } from "../../redeemer/executor/types.js";
import { jobNameFor } from "../../redeemer/executor/types.js";
import {
  DataDirInUse,
  findProcessesWithEnv,
  LocalExecutor,
  type LocalExecutorConfigInput,
  LocalLaunchError,
  jobRecordSchema,
  measureGpuSeconds,
  parseNvidiaSmiCsv,
  pickNextJobs,
  SUPERVISOR_SCRIPT,
} from "../../redeemer/executor/local/index.js";
import { ConfigError } from "../../sdk/ctkError.js";

const EXECUTOR_MODULE = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), "../../redeemer/executor/local/index.ts")).href;
const IMAGE = `registry.example.com/team/train@sha256:${"ab12".repeat(16)}`;
const PATH = `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ""}`;
/** 1 allotted second = 10 ms of wall clock. */
const TIME_SCALE = 0.01;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function request(
  id: bigint,
  script: string,
  opts: {
    gpus?: number;
    seconds?: number;
    priority?: PriorityName;
    env?: Record<string, string>;
    command?: string[];
    className?: string;
  } = {},
): LaunchRequest {
  const gpus = opts.gpus ?? 1;
  const seconds = opts.seconds ?? 1000;
  const priority = opts.priority ?? "normal";
  return {
    redemptionId: id,
    className: opts.className ?? "H100-80GB",
    productLabel: "NVIDIA-H100-80GB-HBM3",
    gpus,
    seconds,
    priority,
    spec: {
      name: `job-${id}`,
      image: IMAGE,
      command: opts.command ?? ["node", "-e", script],
      args: [],
      env: opts.env ?? {},
      gpus,
      hours: seconds / 3600,
      priority,
    },
  };
}

async function waitFor(executor: LocalExecutor, id: bigint, until: (s: JobState) => boolean, timeoutMs = 5000): Promise<JobState> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await executor.get(id);
    if (state && until(state)) return state;
    if (Date.now() > deadline)
      throw new Error(`job ${id} did not get there in ${timeoutMs} ms; last state ${JSON.stringify(state, (_, v) => (typeof v === "bigint" ? v.toString() : v))}`);
    await sleep(10);
  }
}
const finished = (s: JobState) => s.phase === "succeeded" || s.phase === "failed";
const running = (s: JobState) => s.phase === "running";

describe("redeemer local executor", function () {
  this.timeout(20_000);

  let dataDir: string;
  let warnings: string[];
  const open: LocalExecutor[] = [];

  const config = (overrides: Partial<LocalExecutorConfigInput> = {}): LocalExecutorConfigInput => ({
    dataDir,
    gpus: [{ simulated: true, class: "H100-80GB", productLabel: "NVIDIA-H100-80GB-HBM3", count: 2 }],
    allowedCommands: ["node"],
    path: PATH,
    timeScale: TIME_SCALE,
    heartbeatSeconds: 0.05,
    killGraceSeconds: 0.3,
    killRunningOnClose: true, // no test leaves a process behind
    ...overrides,
  });
  const create = async (overrides: Partial<LocalExecutorConfigInput> = {}): Promise<LocalExecutor> => {
    const executor = await LocalExecutor.create(config(overrides), { onWarning: (m) => warnings.push(m) });
    open.push(executor);
    return executor;
  };
  const readLog = (id: bigint) => readFileSync(join(dataDir, "logs", `${jobNameFor(id)}.log`), "utf8");
  const readRecord = (id: bigint) => jobRecordSchema.parse(JSON.parse(readFileSync(join(dataDir, "jobs", `${jobNameFor(id)}.json`), "utf8")));

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), "ctk-local-"));
    warnings = [];
  });
  afterEach(async () => {
    for (const e of open.splice(0)) await e.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("runs a job to success and measures gpus × wall-clock seconds held", async () => {
    const executor = await create();
    const result = await executor.launch(request(1n, "setTimeout(() => {}, 300)", { gpus: 2 }));
    expect(result).to.deep.equal({ name: "ctk-redemption-1", alreadyExisted: false });

    const state = await waitFor(executor, 1n, finished);
    expect(state).to.include({ redemptionId: 1n, name: "ctk-redemption-1", phase: "succeeded", exitCode: 0 });
    expect(state.reason).to.equal(undefined);
    expect(state.segments).to.have.length(1);
    const [segment] = state.segments;
    expect(segment).to.include({ gpuProduct: "NVIDIA-H100-80GB-HBM3" });
    const held = segment!.end! - segment!.start;
    expect(held).to.be.within(0.3, 3);
    expect(state.gpuSeconds).to.equal(2 * Math.ceil(Math.round(held * 1000) / 1000 / TIME_SCALE - 1e-9));
    expect(state.gpuSeconds).to.equal(measureGpuSeconds({ gpus: 2, seconds: 1000, timeScale: TIME_SCALE, segments: state.segments }));
  });

  it("gives the job spec.env, CUDA_VISIBLE_DEVICES and CTK_REDEMPTION_ID, but not the redeemer's environment", async () => {
    process.env.CTK_TEST_SECRET = "signing-key";
    try {
      const executor = await create();
      const script =
        "const e = process.env; console.log(JSON.stringify({ cuda: e.CUDA_VISIBLE_DEVICES, id: e.CTK_REDEMPTION_ID, seed: e.SEED, secret: e.CTK_TEST_SECRET, cwd: process.cwd() }))";
      await executor.launch(request(7n, script, { gpus: 2, env: { SEED: "42", CUDA_VISIBLE_DEVICES: "5", CTK_REDEMPTION_ID: "99" } }));
      await waitFor(executor, 7n, finished);
      const line = readLog(7n)
        .split("\n")
        .find((l) => l.startsWith("{"))!;
      expect(JSON.parse(line)).to.deep.equal({ cuda: "0,1", id: "7", seed: "42", cwd: join(dataDir, "work", "ctk-redemption-7") });
    } finally {
      delete process.env.CTK_TEST_SECRET;
    }
  });

  it("writes stdout and stderr to <dataDir>/logs/<job>.log and state to <dataDir>/jobs/<job>.json", async () => {
    const executor = await create();
    await executor.launch(request(2n, "console.log('to stdout'); console.error('to stderr')"));
    await waitFor(executor, 2n, finished);
    // The executor's record and its own closing log line are written asynchronously after the state it reports:
    // waited for until the record shows the job's end (a fixed 20 ms was not enough on a loaded machine, nor
    // waiting out "running": on a fresh-clone CI run the record still said "pending", its "running" not yet written).
    for (const deadline = Date.now() + 5_000; !["succeeded", "failed"].includes(readRecord(2n).phase) && Date.now() < deadline; ) await sleep(10);
    const log = readLog(2n);
    expect(log)
      .to.contain("to stdout\n")
      .and.contain("to stderr\n")
      .and.match(/\[ctk\] .* starting ctk-redemption-2/);
    expect(readRecord(2n)).to.include({ redemptionId: "2", phase: "succeeded", exitCode: 0 });
    expect(readdirSync(join(dataDir, "jobs"))).to.deep.equal(["ctk-redemption-2.json"]); // no temporary files left
  });

  it("reports a non-zero exit as failed with the exit code", async () => {
    const executor = await create();
    await executor.launch(request(3n, "process.exit(3)"));
    const state = await waitFor(executor, 3n, finished);
    expect(state).to.include({ phase: "failed", exitCode: 3, reason: "Error" });
  });

  it("at the deadline sends SIGTERM, then SIGKILL after the grace to a job that ignores it; usage is capped", async () => {
    const executor = await create();
    const stubborn = "process.on('SIGTERM', () => console.log('ignoring SIGTERM')); setInterval(() => {}, 1000)";
    const polite = "process.on('SIGTERM', () => { console.log('stopping'); process.exit(0) }); setInterval(() => {}, 1000)";
    await executor.launch(request(4n, stubborn, { seconds: 40 }));
    await executor.launch(request(5n, polite, { seconds: 40 }));

    const [killed, stopped] = await Promise.all([waitFor(executor, 4n, finished), waitFor(executor, 5n, finished)]);
    expect(killed).to.include({ phase: "failed", reason: "DeadlineExceeded", exitCode: 137, gpuSeconds: 40 });
    const held = killed.segments[0]!.end! - killed.segments[0]!.start;
    expect(held).to.be.at.least(0.4 + 0.3 - 0.02); // deadline + grace
    expect(stopped).to.include({ phase: "failed", reason: "DeadlineExceeded", exitCode: 0 });
    expect(stopped.gpuSeconds).to.equal(40);
    await sleep(20);
    expect(readLog(4n)).to.contain("ignoring SIGTERM").and.contain("SIGKILL");
    expect(readLog(5n)).to.contain("stopping");
  });

  it("pins distinct GPUs per job and queues by priority, then arrival, while GPUs are busy", async () => {
    const executor = await create();
    const started: bigint[] = [];
    executor.watch((s) => {
      if (s.phase === "running") started.push(s.redemptionId);
    });
    const printDevices = "console.log('devices=' + process.env.CUDA_VISIBLE_DEVICES);";
    // Every job holds its GPU until the test says so (its own file appears), not for a time that a loaded
    // machine could outlast: each GPU is freed only once the job started before it is seen running.
    const go = (id: bigint) => join(dataDir, `go-${id}`);
    // (A job the test never releases, because it failed, ends itself after a minute.)
    const holdUntilGo = (id: bigint) =>
      `${printDevices} setTimeout(() => process.exit(1), 60000); setInterval(() => { if (require('fs').existsSync(${JSON.stringify(go(id))})) process.exit(0); }, 20)`;
    const pending = async (ids: bigint[]) => {
      for (const id of ids) expect((await executor.get(id))!.phase, `job ${id}`).to.equal("pending");
    };
    await executor.launch(request(10n, holdUntilGo(10n)));
    await executor.launch(request(11n, holdUntilGo(11n)));
    await Promise.all([waitFor(executor, 10n, running), waitFor(executor, 11n, running)]);

    await executor.launch(request(12n, holdUntilGo(12n), { priority: "low" }));
    await executor.launch(request(13n, holdUntilGo(13n), { priority: "urgent" }));
    await executor.launch(request(14n, holdUntilGo(14n), { priority: "urgent" }));
    await executor.launch(request(15n, holdUntilGo(15n), { priority: "normal" }));
    await pending([12n, 13n, 14n, 15n]);

    // Each freed GPU goes to the most urgent waiting job, the earliest of equals first.
    for (const [ends, next, waiting] of [
      [10n, 13n, [12n, 14n, 15n]],
      [11n, 14n, [12n, 15n]],
      [13n, 15n, [12n]],
      [14n, 12n, []],
    ] as const) {
      writeFileSync(go(ends), "");
      await waitFor(executor, next, running);
      await pending([...waiting]);
    }
    for (const id of [12n, 15n]) writeFileSync(go(id), "");

    const states = await Promise.all([10n, 11n, 12n, 13n, 14n, 15n].map((id) => waitFor(executor, id, finished, 10_000)));
    for (const s of states) expect(s.phase, `job ${s.redemptionId} ${s.reason} ${JSON.stringify(s.segments)} ${warnings.join(";")}`).to.equal("succeeded");
    expect(started.slice(0, 2)).to.have.members([10n, 11n]);
    expect(started.slice(2)).to.deep.equal([13n, 14n, 15n, 12n]);
    // In the order they were started (each start as its supervisor recorded it).
    const byStart = [...states].sort((a, b) => a.segments[0]!.start - b.segments[0]!.start).map((s) => s.redemptionId);
    expect(byStart.slice(2)).to.deep.equal([13n, 14n, 15n, 12n]);

    const devices = [10n, 11n].map((id) => /^devices=(\S+)$/m.exec(readLog(id))![1]);
    expect(devices).to.have.members(["0", "1"]);
    // The waiting jobs only started once a running one had ended.
    const byId = new Map(states.map((s) => [s.redemptionId, s.segments[0]!]));
    expect(byId.get(13n)!.start).to.be.at.least(byId.get(10n)!.end!);
    expect(byId.get(15n)!.start).to.be.at.least(byId.get(13n)!.end!);
  });

  it("launches a redemption once: a second launch, even a concurrent one, finds the first", async () => {
    const executor = await create();
    const req = request(20n, "setTimeout(() => {}, 100)");
    const results = await Promise.all([executor.launch(req), executor.launch(req), executor.launch(req)]);
    expect(results.filter((r) => !r.alreadyExisted)).to.have.length(1);
    for (const r of results) expect(r.name).to.equal("ctk-redemption-20");
    await waitFor(executor, 20n, finished);
    expect(await executor.launch(req)).to.deep.equal({ name: "ctk-redemption-20", alreadyExisted: true });
    expect(readLog(20n).match(/starting ctk-redemption-20/g)).to.have.length(1);
  });

  it("refuses commands off the allow-list and classes it cannot serve, with typed errors", async () => {
    const executor = await create();
    const attempt = async (req: LaunchRequest) => {
      try {
        await executor.launch(req);
      } catch (err) {
        expect(err).to.be.instanceOf(LocalLaunchError);
        return err as LocalLaunchError;
      }
      throw new Error("launched");
    };
    expect(await attempt(request(30n, "", { command: ["python3", "-c", "print(1)"] }))).to.include({
      problem: "COMMAND_NOT_ALLOWED",
      reason: "LAUNCH_FAILED",
      redemptionId: 30n,
    });
    expect(await attempt(request(31n, "", { command: ["/usr/bin/env", "node"] }))).to.include({ problem: "COMMAND_NOT_ALLOWED" });
    expect(await attempt(request(32n, "", { command: [] }))).to.include({ problem: "COMMAND_MISSING", reason: "LAUNCH_FAILED" });
    expect(await attempt(request(33n, "1", { className: "B200" }))).to.include({
      problem: "CLASS_UNAVAILABLE",
      reason: "CLASS_UNAVAILABLE",
    });
    expect(await attempt(request(34n, "1", { gpus: 3 }))).to.include({ problem: "TOO_MANY_GPUS", reason: "CLASS_UNAVAILABLE" });
    expect(await attempt(request(35n, "1", { env: { BAD: "a\0b" } }))).to.include({ problem: "INVALID_ARGUMENT" });
    expect(await executor.list()).to.deep.equal([]);
    expect(readdirSync(join(dataDir, "jobs"))).to.deep.equal([]);
  });

  /** A separate "redeemer" process with an executor on `dataDir`: runs `steps`, prints READY, then waits to be killed. */
  async function harness(steps: string, cfg: LocalExecutorConfigInput): Promise<void> {
    const script = `
      const { LocalExecutor } = await import(${JSON.stringify(EXECUTOR_MODULE)});
      const executor = await LocalExecutor.create(JSON.parse(process.env.CTK_HARNESS_CONFIG), { onWarning: () => {} });
      const spec = (id, script, seconds = 1000) => ({ redemptionId: BigInt(id), className: "H100-80GB", productLabel: "P", gpus: 1, seconds, priority: "normal",
        spec: { name: "j" + id, image: "x", command: ["node", "-e", script], args: [], env: {}, gpus: 1, hours: seconds / 3600, priority: "normal" } });
      const until = async (id, phase) => { while ((await executor.get(BigInt(id))).phase !== phase) await new Promise((r) => setTimeout(r, 5)); };
      ${steps}
      console.log("READY");
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      env: { ...process.env, CTK_HARNESS_CONFIG: JSON.stringify(cfg) },
      stdio: ["ignore", "pipe", "inherit"],
    });
    await new Promise<void>((resolve, reject) => {
      let out = "";
      child.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        if (out.includes("READY")) resolve();
      });
      child.once("exit", (code) => reject(new Error(`harness exited early with ${code}: ${out}`)));
    });
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));
  }
  const runStatus = (id: bigint, attempt = 1) => {
    const file = join(dataDir, "run", `${jobNameFor(id)}.${attempt}.status.json`);
    return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as { stage: string; start: number; end?: number; jobPid: number }) : undefined;
  };

  it("after the redeemer is SIGKILLed, re-adopts jobs still running (GPUs kept) and learns the end of those that finished meanwhile", async () => {
    // Two GPUs. 40 is done, 41 ends while no redeemer runs, 42 keeps running, 43 waits for a GPU.
    await harness(
      `await executor.launch(spec(40, "0")); await until(40, "succeeded");
       await executor.launch(spec(41, "setTimeout(() => {}, 600)"));
       await executor.launch(spec(42, "console.log('devices=' + process.env.CUDA_VISIBLE_DEVICES); setTimeout(() => {}, 2500)"));
       await executor.launch(spec(43, "console.log('devices=' + process.env.CUDA_VISIBLE_DEVICES)"));
       await until(41, "running"); await until(42, "running");`,
      config({ gpus: [{ simulated: true, class: "H100-80GB", count: 2 }], killRunningOnClose: false }),
    );
    // The redeemer may die before its record says "running": the supervisor's own status says it.
    const before42 = runStatus(42n)!;
    expect(before42.stage).to.equal("running");
    expect(runStatus(41n)).to.not.equal(undefined);
    expect(readRecord(43n).phase).to.equal("pending");
    expect(isAlive(before42.jobPid), "job 42 outlives the redeemer").to.equal(true);
    // Job 41 ends while no redeemer runs: its supervisor records it.
    for (let i = 0; i < 300 && runStatus(41n)?.stage !== "exited"; i++) await sleep(10);
    expect(runStatus(41n)?.stage).to.equal("exited");

    const executor = await create({ gpus: [{ simulated: true, class: "H100-80GB", count: 2 }] });
    expect(await executor.get(40n)).to.include({ phase: "succeeded", exitCode: 0 });
    // 41: finished while the redeemer was down, charged for the whole time it ran.
    const j41 = (await executor.get(41n))!;
    const s41 = runStatus(41n)!;
    expect(j41).to.include({ phase: "succeeded", exitCode: 0 });
    expect(j41.segments).to.have.length(1);
    expect(j41.segments[0]).to.include({ start: s41.start, end: s41.end });
    expect(s41.end! - s41.start).to.be.at.least(0.6);
    expect(j41.gpuSeconds)
      .to.equal(measureGpuSeconds({ gpus: 1, seconds: 1000, timeScale: TIME_SCALE, segments: j41.segments }))
      .and.be.at.least(60);
    // 42: still running, re-adopted with its start; its GPU stays taken, so 43 gets the other one.
    const j42 = (await executor.get(42n))!;
    expect(j42.phase).to.equal("running");
    expect(j42.segments[0]!.start).to.equal(before42.start);
    await waitFor(executor, 43n, finished);
    const devices = (id: bigint) => /^devices=(\S+)$/m.exec(readLog(id))![1];
    expect(devices(43n)).to.not.equal(devices(42n));
    // 42 runs to its end under the new executor, charged from its first start.
    const end42 = await waitFor(executor, 42n, finished);
    expect(end42).to.include({ phase: "succeeded", exitCode: 0 });
    expect(end42.segments[0]!.end! - end42.segments[0]!.start).to.be.at.least(2.5);
    // Never launched twice.
    expect(await executor.launch(request(41n, "0"))).to.deep.equal({ name: "ctk-redemption-41", alreadyExisted: true });
    expect(readLog(42n).match(/starting ctk-redemption-42/g)).to.have.length(1);
  });

  it("kills a job whose supervisor is gone, with everything it started, before reporting it; charged until then", async () => {
    const executor = await create();
    // The job starts a grandchild in a session of its own: only its CTK_JOB_RUN finds it.
    const escapee =
      "const c = require('node:child_process').spawn('sleep', ['30'], { detached: true, stdio: 'ignore' }); console.log('escapee=' + c.pid); setInterval(() => {}, 1000)";
    await executor.launch(request(44n, escapee));
    await waitFor(executor, 44n, running);
    for (let i = 0; i < 200 && !/escapee=\d+/.test(readLog(44n)); i++) await sleep(10);
    const escapeePid = Number(/escapee=(\d+)/.exec(readLog(44n))![1]);
    for (let i = 0; i < 200 && readRecord(44n).phase !== "running"; i++) await sleep(10);
    const record = readRecord(44n);
    expect(isAlive(escapeePid)).to.equal(true);
    process.kill(record.supervisorPid!, "SIGKILL");
    const killedAt = Date.now() / 1000;

    const state = await waitFor(executor, 44n, finished);
    expect(isAlive(record.pid!), "the job").to.equal(false);
    expect(isAlive(escapeePid), "what it started").to.equal(false);
    expect(state).to.include({ phase: "failed", reason: "Interrupted" });
    expect(state.segments[0]!.start).to.equal(record.segments[0]!.start);
    expect(state.segments[0]!.end).to.be.at.least(killedAt);
    for (let i = 0; i < 200 && readRecord(44n).phase !== "failed"; i++) await sleep(10);
    expect(readRecord(44n).message).to.match(/killed/);
  });

  it("the supervisor carries the job's run token too: a job forked but not yet exec'd when its supervisor is killed is still found", async () => {
    const executor = await create();
    await executor.launch(request(45n, "setInterval(() => {}, 1000)"));
    await waitFor(executor, 45n, running);
    // The record on disk catches up with the "running" event asynchronously.
    for (let i = 0; i < 200 && (readRecord(45n).supervisorPid === undefined || readRecord(45n).pid === undefined); i++) await sleep(10);
    const record = readRecord(45n);
    // Between fork and exec the job's process has its supervisor's environment: the token must be in it.
    expect(findProcessesWithEnv("CTK_JOB_RUN", record.runToken!).sort()).to.deep.equal([record.supervisorPid!, record.pid!].sort());
  });

  it("with killRunningOnClose, close() stops running jobs and records them as ExecutorShutdown", async () => {
    const executor = await create({ killRunningOnClose: true });
    await executor.launch(request(50n, "setInterval(() => {}, 1000)"));
    await waitFor(executor, 50n, running);
    expect(executor.activeJobs()).to.deep.equal(["ctk-redemption-50"]);
    await executor.close();
    expect(readRecord(50n)).to.include({ phase: "failed", reason: "ExecutorShutdown", exitCode: 143 });
    expect(await executor.ping()).to.equal(false);
  });

  it("without killRunningOnClose, close() leaves jobs running, and the next executor follows them to their end", async () => {
    const first = await create({ killRunningOnClose: false });
    await first.launch(request(51n, "setTimeout(() => {}, 700)"));
    const { segments } = await waitFor(first, 51n, running);
    expect(first.activeJobs()).to.deep.equal(["ctk-redemption-51"]);
    await first.close();
    const pid = readRecord(51n).pid!; // close() waits for the record's writes
    expect(isAlive(pid)).to.equal(true);
    const second = await create();
    expect(await second.get(51n)).to.include({ phase: "running" });
    const state = await waitFor(second, 51n, finished);
    expect(state).to.include({ phase: "succeeded", exitCode: 0 });
    expect(state.segments[0]!.start).to.equal(segments[0]!.start);
    expect(state.gpuSeconds).to.be.at.least(70);
  });

  it("after a restart, a job that ended just before the crash (its end not yet in its record) does not free the GPU a later start was given", async () => {
    const first = await create({ killRunningOnClose: false });
    await first.launch(request(60n, "setTimeout(() => {}, 200)"));
    await first.launch(request(61n, "setTimeout(() => {}, 2500)"));
    await waitFor(first, 60n, running);
    await waitFor(first, 61n, running);
    await first.close();
    for (let i = 0; i < 300 && runStatus(60n)?.stage !== "exited"; i++) await sleep(10);
    expect(runStatus(60n)?.stage).to.equal("exited");
    // As if 60's end had freed its GPU and 61 had been started on it, and the redeemer had died
    // before 60's final record was written: both records name the same GPU.
    const r60 = readRecord(60n);
    expect(r60.phase).to.equal("running");
    writeFileSync(join(dataDir, "jobs", "ctk-redemption-61.json"), JSON.stringify({ ...readRecord(61n), gpuIndexes: r60.gpuIndexes }));

    const second = await create({ gpus: [{ simulated: true, class: "H100-80GB", productLabel: "NVIDIA-H100-80GB-HBM3", count: 1 }] });
    expect(await second.get(60n)).to.include({ phase: "succeeded" });
    expect(await second.get(61n)).to.include({ phase: "running" });
    await second.launch(request(62n, "0"));
    await sleep(300);
    expect(second.activeJobs(), "62 waits for the GPU 61 runs on").to.deep.equal(["ctk-redemption-61"]);
    const end61 = await waitFor(second, 61n, finished);
    const s62 = await waitFor(second, 62n, finished);
    expect(s62.segments[0]!.start).to.be.at.least(end61.segments[0]!.end!);
  });

  it("a start cut short before its supervisor claimed it runs once: queued again, and a late supervisor finds the claim taken", async () => {
    const marks = join(dataDir, "marks");
    writeFileSync(marks, "");
    const job = `require('node:fs').appendFileSync(${JSON.stringify(marks)}, 'ran ' + process.env.CTK_JOB_RUN + '\\n')`;
    const first = await create({ gpus: [{ simulated: true, class: "H100-80GB", count: 1 }] });
    await first.launch(request(52n, "setInterval(() => {}, 1000)"));
    await first.launch(request(53n, job));
    await waitFor(first, 52n, running);
    await first.close();
    // As if the redeemer had died between recording the intent of attempt 1 of job 53 and spawning its supervisor.
    const record = readRecord(53n);
    expect(record.phase).to.equal("pending");
    const order = join(dataDir, "run", "ctk-redemption-53.1.order.json");
    writeFileSync(
      order,
      JSON.stringify({
        name: "ctk-redemption-53",
        attempt: 1,
        command: process.execPath,
        args: ["-e", job],
        env: { CTK_JOB_RUN: "late" },
        cwd: dataDir,
        logFile: join(dataDir, "logs", "ctk-redemption-53.log"),
        deadlineMs: 10_000,
        graceMs: 100,
        heartbeatMs: 50,
        describe: "late",
      }),
    );
    writeFileSync(join(dataDir, "jobs", "ctk-redemption-53.json"), JSON.stringify({ ...record, startingAt: Date.now() / 1000, attempt: 1, gpuIndexes: [0] }));

    const second = await create({ gpus: [{ simulated: true, class: "H100-80GB", count: 1 }] });
    const state = await waitFor(second, 53n, finished);
    expect(state).to.include({ phase: "succeeded", exitCode: 0 });
    expect(readRecord(53n).attempt).to.equal(2);
    // The supervisor of attempt 1 arrives late: it must not run the job.
    const late = spawn(process.execPath, ["--experimental-strip-types", "--no-warnings", SUPERVISOR_SCRIPT, order], { stdio: "inherit" });
    expect(await new Promise((resolve) => late.once("exit", resolve))).to.equal(0);
    expect(readFileSync(marks, "utf8").trim().split("\n")).to.deep.equal([`ran ${readRecord(53n).runToken}`]);
  });

  it("after a restart, a record from before supervisors whose start was under way is not started again", async () => {
    const first = await create({ gpus: [{ simulated: true, class: "H100-80GB", count: 1 }] });
    await first.launch(request(54n, "setInterval(() => {}, 1000)"));
    await first.launch(request(55n, "0"));
    await waitFor(first, 54n, running);
    await first.close();
    const record = readRecord(55n);
    writeFileSync(join(dataDir, "jobs", "ctk-redemption-55.json"), JSON.stringify({ ...record, startingAt: Date.now() / 1000 }));

    const second = await create();
    expect(await second.get(55n)).to.include({ phase: "failed", reason: "Interrupted", gpuSeconds: 0 });
    await sleep(100);
    expect(existsSync(join(dataDir, "logs", "ctk-redemption-55.log"))).to.equal(false);
  });

  it("after a restart, starts queued jobs, and fails those the new inventory can no longer serve", async () => {
    const first = await create();
    await first.launch(request(56n, "setInterval(() => {}, 1000)", { gpus: 2 }));
    await first.launch(request(57n, "0", { gpus: 2 }));
    await first.launch(request(58n, "0", { gpus: 1 }));
    await waitFor(first, 56n, running);
    await first.close();

    const second = await create({ gpus: [{ simulated: true, class: "H100-80GB", count: 1 }] });
    expect(await second.get(57n)).to.include({ phase: "failed", reason: "Unschedulable", gpuSeconds: 0 });
    expect(await waitFor(second, 58n, finished)).to.include({ phase: "succeeded" });
  });

  it("refuses a second executor on a data directory in use", async () => {
    await create();
    try {
      await create();
      expect.fail("created a second executor");
    } catch (err) {
      expect(err).to.be.instanceOf(DataDirInUse).and.include({ pid: process.pid });
    }
  });

  it("watch() reports pending, running and the end; the returned function stops it", async () => {
    const executor = await create();
    const seen: string[] = [];
    const stop = executor.watch((s) => seen.push(`${s.redemptionId}:${s.phase}`));
    await executor.launch(request(60n, "0"));
    await waitFor(executor, 60n, finished);
    stop();
    await executor.launch(request(61n, "0"));
    await waitFor(executor, 61n, finished);
    expect(seen).to.deep.equal(["60:pending", "60:running", "60:succeeded"]);
  });

  it("remove() deletes a job's state and working directory, keeps its log, and is idempotent", async () => {
    const executor = await create();
    await executor.launch(request(70n, "0"));
    await waitFor(executor, 70n, finished);
    await executor.remove(70n);
    await executor.remove(70n);
    expect(await executor.get(70n)).to.equal(undefined);
    expect(existsSync(join(dataDir, "jobs", "ctk-redemption-70.json"))).to.equal(false);
    expect(existsSync(join(dataDir, "work", "ctk-redemption-70"))).to.equal(false);
    expect(existsSync(join(dataDir, "logs", "ctk-redemption-70.log"))).to.equal(true);
    expect(await executor.ping()).to.equal(true);
  });

  it("takes its GPUs from nvidia-smi where it is installed, and has none where it is not", async () => {
    const fake = join(dataDir, "nvidia-smi");
    writeFileSync(fake, '#!/bin/sh\necho "0, NVIDIA H100 80GB HBM3"\necho "1, NVIDIA A100-SXM4-80GB"\n');
    chmodSync(fake, 0o755);
    const detected = await create({ gpus: undefined, nvidiaSmi: fake, productClasses: { "NVIDIA H100 80GB HBM3": "H100-80GB" } });
    expect(detected.inventory).to.deep.equal([
      { index: 0, className: "H100-80GB", productLabel: "NVIDIA-H100-80GB-HBM3", simulated: false },
      { index: 1, className: "NVIDIA-A100-SXM4-80GB", productLabel: "NVIDIA-A100-SXM4-80GB", simulated: false },
    ]);
    await detected.close();
    const none = await create({ gpus: undefined, nvidiaSmi: "no-such-nvidia-smi" });
    expect(none.inventory).to.deep.equal([]);
  });

  it("validates its configuration with a ConfigError", async () => {
    for (const bad of [
      { timeScale: 0 },
      { allowedCommands: [] },
      {
        gpus: [
          { index: 0, class: "A" },
          { index: 0, class: "B" },
        ],
      },
      { unknown: 1 },
    ]) {
      try {
        await LocalExecutor.create({ ...config(), ...bad } as LocalExecutorConfigInput);
        expect.fail(`accepted ${JSON.stringify(bad)}`);
      } catch (err) {
        expect(err, JSON.stringify(bad)).to.be.instanceOf(ConfigError);
      }
    }
  });
});

describe("redeemer local executor: pure parts", () => {
  it("orders the queue by priority then arrival, and lets the first job that does not fit block its class", () => {
    const q = (key: string, priority: PriorityName, seq: number, gpus = 1, className = "H100") => ({ key, className, gpus, priority, seq });
    const queued = [q("low", "low", 0), q("big-urgent", "urgent", 3, 4), q("urgent", "urgent", 4), q("normal", "normal", 1), q("a100", "low", 2, 1, "A100")];
    expect(
      pickNextJobs(
        queued,
        new Map([
          ["H100", 8],
          ["A100", 1],
        ]),
      ).map((j) => j.key),
    ).to.deep.equal(["big-urgent", "urgent", "normal", "low", "a100"]);
    expect(
      pickNextJobs(
        queued,
        new Map([
          ["H100", 3],
          ["A100", 1],
        ]),
      ).map((j) => j.key),
    ).to.deep.equal(["a100"]);
    expect(pickNextJobs(queued, new Map([["H100", 6]])).map((j) => j.key)).to.deep.equal(["big-urgent", "urgent", "normal"]);
  });

  it("measures GPU-seconds in allotted seconds, rounded up, capped at gpus × allotted", () => {
    const m = (segments: { start: number; end?: number }[], now?: number) => measureGpuSeconds({ gpus: 2, seconds: 100, timeScale: 1, segments }, now);
    expect(m([{ start: 1000, end: 1010 }])).to.equal(20);
    expect(m([{ start: 1000, end: 1010.2 }])).to.equal(22);
    expect(
      m([
        { start: 1000, end: 1010 },
        { start: 1020, end: 1030 },
      ]),
    ).to.equal(40);
    expect(m([{ start: 1000 }], 1005)).to.equal(10);
    expect(m([{ start: 1000, end: 2000 }])).to.equal(200);
    expect(measureGpuSeconds({ gpus: 1, seconds: 100, timeScale: 0.01, segments: [{ start: 0, end: 0.5 }] })).to.equal(50);
  });

  it("parses nvidia-smi's CSV", () => {
    expect(parseNvidiaSmiCsv("0, NVIDIA H100 80GB HBM3\n1, NVIDIA H100 80GB HBM3\r\n\n")).to.deep.equal([
      { index: 0, name: "NVIDIA H100 80GB HBM3" },
      { index: 1, name: "NVIDIA H100 80GB HBM3" },
    ]);
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) [ZX]/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}
