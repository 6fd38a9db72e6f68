var __defProp = Object.defineProperty;
var __getOwnPropNames = Object.getOwnPropertyNames;
var __esm = (fn, res, err) => function __init() {
  if (err) throw err[0];
  try {
    return fn && (res = (0, fn[__getOwnPropNames(fn)[0]])(fn = 0)), res;
  } catch (e) {
    throw err = [e], e;
  }
};
var __export = (target, all) => {
  for (var name in all)
    __defProp(target, name, { get: all[name], enumerable: true });
};

// redeemer/policy/configError.ts
var ConfigError;
var init_configError = __esm({
  "redeemer/policy/configError.ts"() {
    "use strict";
    ConfigError = class _ConfigError extends Error {
      constructor(message, issues = [], source) {
        super(message);
        this.issues = issues;
        this.source = source;
      }
      issues;
      source;
      name = "ConfigError";
      /** One ConfigError for a failed zod parse: "invalid policy config (policy.json): a: …; b: …". */
      static fromZod(what, error, source) {
        const issues = error.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
        const where = source ? ` (${source})` : "";
        const list = issues.map((i) => i.path ? `${i.path}: ${i.message}` : i.message).join("; ");
        return new _ConfigError(`invalid ${what}${where}: ${list}`, issues, source);
      }
    };
  }
});

// sdk/jobSpec.ts
import { z } from "zod";
function unitsFor(gpus, seconds, multiplierBps) {
  const raw = BigInt(gpus) * BigInt(seconds) * BigInt(multiplierBps);
  return (raw + 9999n) / 10000n;
}
var PRIORITIES, SPEC_LIMITS, PRIVILEGED_KEYS, envName, jobSpecSchema, specSeconds;
var init_jobSpec = __esm({
  "sdk/jobSpec.ts"() {
    "use strict";
    PRIORITIES = ["low", "normal", "high", "urgent"];
    SPEC_LIMITS = {
      maxSpecBytes: 8192,
      maxNameLength: 63,
      maxArgs: 64,
      maxArgLength: 1024,
      maxEnvVars: 64,
      maxEnvValueLength: 1024,
      maxHours: 24 * 14
    };
    PRIVILEGED_KEYS = [
      "privileged",
      "securityContext",
      "hostNetwork",
      "hostPID",
      "hostIPC",
      "hostPath",
      "volumes",
      "volumeMounts",
      "capabilities",
      "runAsUser",
      "runAsRoot",
      "serviceAccountName",
      "nodeName"
    ];
    envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be a valid environment variable name");
    jobSpecSchema = z.object({
      name: z.string().min(1).max(SPEC_LIMITS.maxNameLength).regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "must be lower-case letters, digits and '-' (a DNS label)"),
      image: z.string().min(1).max(512),
      command: z.array(z.string().max(SPEC_LIMITS.maxArgLength)).max(SPEC_LIMITS.maxArgs).default([]),
      args: z.array(z.string().max(SPEC_LIMITS.maxArgLength)).max(SPEC_LIMITS.maxArgs).default([]),
      env: z.record(envName, z.string().max(SPEC_LIMITS.maxEnvValueLength)).refine((e) => Object.keys(e).length <= SPEC_LIMITS.maxEnvVars, {
        message: `at most ${SPEC_LIMITS.maxEnvVars} variables`
      }).default({}),
      gpus: z.number().int().min(1).max(1024),
      hours: z.number().positive().max(SPEC_LIMITS.maxHours).refine((h) => Number.isInteger(Math.round(h * 3600 * 1e6) / 1e6), {
        message: "must be a whole number of seconds (hours \xD7 3600)"
      }),
      priority: z.enum(PRIORITIES).default("normal"),
      project: z.string().min(1).max(128).optional()
    }).strict();
    specSeconds = (spec) => Math.round(spec.hours * 3600);
  }
});

// redeemer/executor/local/errors.ts
var LocalLaunchError, DataDirInUse;
var init_errors = __esm({
  "redeemer/executor/local/errors.ts"() {
    "use strict";
    LocalLaunchError = class extends Error {
      constructor(problem, message, redemptionId) {
        super(message);
        this.problem = problem;
        this.redemptionId = redemptionId;
        this.reason = problem === "CLASS_UNAVAILABLE" || problem === "TOO_MANY_GPUS" ? "CLASS_UNAVAILABLE" : "LAUNCH_FAILED";
      }
      problem;
      redemptionId;
      name = "LocalLaunchError";
      reason;
    };
    DataDirInUse = class extends Error {
      constructor(dataDir, pid) {
        super(`the local executor's data directory ${dataDir} is in use by process ${pid}`);
        this.dataDir = dataDir;
        this.pid = pid;
      }
      dataDir;
      pid;
      name = "DataDirInUse";
    };
  }
});

// redeemer/executor/local/processControl.ts
import { readFileSync as readFileSync3 } from "node:fs";
function signalGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}
function readProcStat(pid) {
  try {
    const stat2 = readFileSync3(`/proc/${pid}/stat`, "utf8");
    const fields = stat2.slice(stat2.lastIndexOf(")") + 2).split(" ");
    const state = fields[0];
    const startTime = fields[19];
    return state !== void 0 && startTime !== void 0 ? { state, startTime } : void 0;
  } catch {
    return void 0;
  }
}
function isSameProcess(pid, startTime) {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if (err.code === "ESRCH") return false;
  }
  const stat2 = readProcStat(pid);
  if (stat2 === void 0) return startTime === void 0 ? "unknown" : false;
  if (stat2.state === "Z" || stat2.state === "X") return false;
  return startTime === void 0 ? "unknown" : stat2.startTime === startTime;
}
var init_processControl = __esm({
  "redeemer/executor/local/processControl.ts"() {
    "use strict";
  }
});

// redeemer/executor/local/dataDirLock.ts
import { open as open2, readFile as readFile2, unlink } from "node:fs/promises";
import { join as join2 } from "node:path";
async function lockDataDir(dataDir) {
  const file = join2(dataDir, "executor.lock");
  const owner = { pid: process.pid, startTime: readProcStat(process.pid)?.startTime, token: Math.random().toString(36).slice(2) };
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open2(file, "wx");
      await handle.writeFile(JSON.stringify(owner));
      await handle.close();
      break;
    } catch (err) {
      if (err.code !== "EEXIST" || attempt > 0) throw err;
      let holder = {};
      try {
        holder = JSON.parse(await readFile2(file, "utf8"));
      } catch {
      }
      if (typeof holder.pid === "number") {
        const alive = holder.pid === process.pid || isSameProcess(holder.pid, typeof holder.startTime === "string" ? holder.startTime : void 0) !== false;
        if (alive) throw new DataDirInUse(dataDir, holder.pid);
      }
      await unlink(file).catch(() => {
      });
    }
  }
  return {
    async release() {
      try {
        if (JSON.parse(await readFile2(file, "utf8")).token === owner.token) await unlink(file);
      } catch {
      }
    }
  };
}
var init_dataDirLock = __esm({
  "redeemer/executor/local/dataDirLock.ts"() {
    "use strict";
    init_errors();
    init_processControl();
  }
});

// redeemer/executor/local/findExecutable.ts
import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { delimiter, isAbsolute as isAbsolute2, join as join3 } from "node:path";
async function findExecutable(name, path = process.env.PATH ?? "") {
  const candidates = name.includes("/") ? isAbsolute2(name) ? [name] : [] : path.split(delimiter).filter((d) => isAbsolute2(d)).map((d) => join3(d, name));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      if ((await stat(candidate)).isFile()) return candidate;
    } catch {
    }
  }
  return void 0;
}
var init_findExecutable = __esm({
  "redeemer/executor/local/findExecutable.ts"() {
    "use strict";
  }
});

// redeemer/executor/local/gpuInventory.ts
import { execFile } from "node:child_process";
import { promisify } from "node:util";
function parseNvidiaSmiCsv(text) {
  const gpus = [];
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*(\d+)\s*,\s*(.+?)\s*$/.exec(line);
    if (m) gpus.push({ index: Number(m[1]), name: m[2] });
  }
  return gpus;
}
async function detectNvidiaGpus(nvidiaSmi, path) {
  const binary = await findExecutable(nvidiaSmi, path);
  if (binary === void 0) return [];
  const { stdout } = await promisify(execFile)(binary, ["--query-gpu=index,name", "--format=csv,noheader"], { timeout: 15e3 });
  return parseNvidiaSmiCsv(stdout);
}
async function resolveGpuInventory(config, onWarning = () => {
}) {
  if (config.gpus !== void 0) return expandConfiguredSlots(config.gpus);
  let detected = [];
  try {
    detected = await detectNvidiaGpus(config.nvidiaSmi, config.path);
  } catch (err) {
    onWarning(`GPU detection with ${config.nvidiaSmi} failed, continuing with no GPUs: ${err.message}`);
  }
  return detected.map(({ index, name }) => {
    const productLabel = productLabelOf(name);
    const className = config.productClasses[name] ?? config.productClasses[productLabel] ?? productLabel;
    return { index, className, productLabel, simulated: false };
  });
}
function expandConfiguredSlots(gpus) {
  const slots = [];
  const used = /* @__PURE__ */ new Set();
  for (const g of gpus) {
    if (!("simulated" in g)) {
      slots.push({ index: g.index, className: g.class, productLabel: g.productLabel ?? g.class, simulated: false });
      used.add(g.index);
    }
  }
  let next = 0;
  for (const g of gpus) {
    if (!("simulated" in g)) continue;
    for (let i = 0; i < g.count; i++) {
      let index = g.index !== void 0 ? g.index + i : next;
      while (used.has(index)) index++;
      used.add(index);
      next = Math.max(next, index + 1);
      slots.push({ index, className: g.class, productLabel: g.productLabel ?? g.class, simulated: true });
    }
  }
  return slots.sort((a, b) => a.index - b.index);
}
var productLabelOf;
var init_gpuInventory = __esm({
  "redeemer/executor/local/gpuInventory.ts"() {
    "use strict";
    init_findExecutable();
    productLabelOf = (name) => name.trim().replace(/\s+/g, "-");
  }
});

// redeemer/executor/local/gpuPool.ts
var GpuPool;
var init_gpuPool = __esm({
  "redeemer/executor/local/gpuPool.ts"() {
    "use strict";
    GpuPool = class {
      constructor(slots) {
        this.slots = slots;
      }
      slots;
      holder = /* @__PURE__ */ new Map();
      /** Slots of the class, busy or not. */
      capacity(className) {
        return this.slots.filter((s) => s.className === className).length;
      }
      freeCount(className) {
        return this.slots.filter((s) => s.className === className && !this.holder.has(s.index)).length;
      }
      /** Free slots of the class for `job`, or undefined (nothing taken) when too few are free. */
      allocate(className, count, job) {
        const free = this.slots.filter((s) => s.className === className && !this.holder.has(s.index)).slice(0, count);
        if (free.length < count) return void 0;
        for (const s of free) this.holder.set(s.index, job);
        return free;
      }
      /** Frees whatever `job` holds. */
      release(job) {
        for (const [index, holder] of this.holder) if (holder === job) this.holder.delete(index);
      }
    };
  }
});

// redeemer/executor/local/jobRecord.ts
import { z as z5 } from "zod";
function toJobState(r, gpuSeconds = r.gpuSeconds) {
  return {
    redemptionId: BigInt(r.redemptionId),
    name: r.name,
    phase: r.phase,
    segments: r.segments.map((s) => ({
      start: s.start,
      ...s.end !== void 0 && { end: s.end },
      ...s.node !== void 0 && { node: s.node },
      ...s.gpuProduct !== void 0 && { gpuProduct: s.gpuProduct }
    })),
    gpuSeconds,
    ...r.exitCode !== void 0 && { exitCode: r.exitCode },
    ...r.reason !== void 0 && { reason: r.reason }
  };
}
var JOB_RECORD_VERSION, jobRecordSchema;
var init_jobRecord = __esm({
  "redeemer/executor/local/jobRecord.ts"() {
    "use strict";
    init_jobSpec();
    JOB_RECORD_VERSION = 1;
    jobRecordSchema = z5.object({
      version: z5.literal(JOB_RECORD_VERSION),
      redemptionId: z5.string().regex(/^\d+$/),
      name: z5.string().min(1),
      className: z5.string().min(1),
      productLabel: z5.string(),
      gpus: z5.number().int().positive(),
      /** Allotted seconds (unscaled). */
      seconds: z5.number().int().positive(),
      priority: z5.enum(PRIORITIES),
      spec: jobSpecSchema,
      /** Arrival order, for the queue. */
      seq: z5.number().int().nonnegative(),
      /** Real seconds per allotted second this job runs at. */
      timeScale: z5.number().positive(),
      /** Unix seconds. */
      createdAt: z5.number(),
      phase: z5.enum(["pending", "running", "succeeded", "failed"]),
      segments: z5.array(
        z5.object({ start: z5.number(), end: z5.number().optional(), node: z5.string().optional(), gpuProduct: z5.string().optional() })
      ),
      gpuSeconds: z5.number().int().nonnegative(),
      exitCode: z5.number().int().optional(),
      signal: z5.string().optional(),
      reason: z5.string().optional(),
      /** One line of detail for a failure the reason does not explain. */
      message: z5.string().optional(),
      /** CUDA indexes held while running. */
      gpuIndexes: z5.array(z5.number().int().nonnegative()),
      pid: z5.number().int().positive().optional(),
      /** Kernel start time of `pid` (Linux /proc), to tell our process from a recycled pid. */
      pidStartTime: z5.string().optional(),
      /** Unix seconds at which a start began: set (and persisted) before the process is spawned. */
      startingAt: z5.number().optional(),
      /** Unix seconds of the last persisted heartbeat while running. */
      heartbeatAt: z5.number().optional()
    });
  }
});

// redeemer/executor/local/jobStore.ts
import { randomBytes } from "node:crypto";
import { link, mkdir as mkdir2, open as open3, readFile as readFile3, readdir, rename as rename2, unlink as unlink2 } from "node:fs/promises";
import { join as join4 } from "node:path";
var TMP_MARK, JobStore;
var init_jobStore = __esm({
  "redeemer/executor/local/jobStore.ts"() {
    "use strict";
    init_jobRecord();
    TMP_MARK = ".tmp-";
    JobStore = class {
      constructor(dir) {
        this.dir = dir;
      }
      dir;
      fileFor(name) {
        return join4(this.dir, `${name}.json`);
      }
      async init() {
        await mkdir2(this.dir, { recursive: true });
        for (const f of await readdir(this.dir)) if (f.includes(TMP_MARK)) await unlink2(join4(this.dir, f)).catch(() => {
        });
      }
      /** Writes the record only if none exists; false when one already does. */
      async create(record) {
        const tmp = await this.writeTmp(record);
        try {
          await link(tmp, this.fileFor(record.name));
          return true;
        } catch (err) {
          if (err.code === "EEXIST") return false;
          throw err;
        } finally {
          await unlink2(tmp).catch(() => {
          });
        }
      }
      /** Replaces the record atomically. */
      async write(record) {
        const tmp = await this.writeTmp(record);
        try {
          await rename2(tmp, this.fileFor(record.name));
        } catch (err) {
          await unlink2(tmp).catch(() => {
          });
          throw err;
        }
      }
      async remove(name) {
        await unlink2(this.fileFor(name)).catch((err) => {
          if (err.code !== "ENOENT") throw err;
        });
      }
      async readAll() {
        const records = [];
        const unreadable = [];
        for (const f of (await readdir(this.dir)).sort()) {
          if (!f.endsWith(".json") || f.includes(TMP_MARK)) continue;
          const file = join4(this.dir, f);
          const name = f.slice(0, -".json".length);
          try {
            const parsed = jobRecordSchema.safeParse(JSON.parse(await readFile3(file, "utf8")));
            if (parsed.success && parsed.data.name === name) records.push(parsed.data);
            else
              unreadable.push({
                name,
                file,
                error: parsed.success ? `holds job ${parsed.data.name}` : parsed.error.issues[0]?.message ?? "invalid"
              });
          } catch (err) {
            unreadable.push({ name, file, error: err.message });
          }
        }
        return { records, unreadable };
      }
      async writeTmp(record) {
        const tmp = join4(this.dir, `${record.name}.json${TMP_MARK}${process.pid}-${randomBytes(4).toString("hex")}`);
        const handle = await open3(tmp, "wx");
        try {
          await handle.writeFile(`${JSON.stringify(record, null, 2)}
`);
          await handle.sync();
        } finally {
          await handle.close();
        }
        return tmp;
      }
    };
  }
});

// redeemer/executor/types.ts
var jobNameFor;
var init_types = __esm({
  "redeemer/executor/types.ts"() {
    "use strict";
    jobNameFor = (redemptionId) => `ctk-redemption-${redemptionId.toString()}`;
  }
});

// redeemer/executor/local/localExecutorConfig.ts
import { hostname } from "node:os";
import { z as z6 } from "zod";
function parseLocalExecutorConfig(raw, source) {
  const parsed = localExecutorConfigSchema.safeParse(raw);
  if (!parsed.success) throw ConfigError.fromZod("local executor config", parsed.error, source);
  return parsed.data;
}
var gpuSlotSchema, simulatedSlotSchema, localExecutorConfigSchema;
var init_localExecutorConfig = __esm({
  "redeemer/executor/local/localExecutorConfig.ts"() {
    "use strict";
    init_configError();
    gpuSlotSchema = z6.object({
      index: z6.number().int().min(0),
      class: z6.string().min(1),
      /** GPU Feature Discovery product label, e.g. "NVIDIA-H100-80GB-HBM3"; default: the class name. */
      productLabel: z6.string().min(1).optional()
    }).strict();
    simulatedSlotSchema = z6.object({
      simulated: z6.literal(true),
      class: z6.string().min(1),
      productLabel: z6.string().min(1).optional(),
      /** How many slots this entry stands for. */
      count: z6.number().int().min(1).max(1024).default(1),
      /** CUDA index of the first slot; default: after every other slot. */
      index: z6.number().int().min(0).optional()
    }).strict();
    localExecutorConfigSchema = z6.object({
      /** Holds jobs/<job>.json (state), logs/<job>.log (stdout + stderr) and work/<job>/ (cwd). */
      dataDir: z6.string().min(1),
      /** The GPU inventory. Absent: detect with `nvidia-smi` when it is installed, else no GPUs. */
      gpus: z6.array(z6.union([simulatedSlotSchema, gpuSlotSchema])).optional(),
      /** nvidia-smi binary used for detection. */
      nvidiaSmi: z6.string().min(1).default("nvidia-smi"),
      /** Detected product name ("NVIDIA H100 80GB HBM3") or label → class; default: the label. */
      productClasses: z6.record(z6.string(), z6.string().min(1)).default({}),
      /** Commands a job may run: names looked up on PATH, or absolute paths. */
      allowedCommands: z6.array(z6.string().min(1)).min(1).default(["node", "python3", "sleep", "sh"]),
      /** PATH used to find commands, and given to jobs; default: the redeemer's own PATH. */
      path: z6.string().optional(),
      /** Real seconds between SIGTERM at the deadline and SIGKILL. */
      killGraceSeconds: z6.number().min(0).default(10),
      /** Real seconds between persisted heartbeats of a running job. */
      heartbeatSeconds: z6.number().positive().default(5),
      /**
       * Real seconds per allotted second; below 1 only for tests and demos (0.01 runs a
       * one-hour allotment in 36 s). Usage is reported in allotted seconds.
       */
      timeScale: z6.number().positive().max(1).default(1),
      /** `close()` terminates running jobs (SIGTERM, then SIGKILL after the grace) instead of leaving them. */
      killRunningOnClose: z6.boolean().default(false),
      /** Recorded as each run segment's node. */
      nodeName: z6.string().min(1).default(() => hostname())
    }).strict().superRefine((config, ctx) => {
      const seen = /* @__PURE__ */ new Map();
      config.gpus?.forEach((slot, i) => {
        if ("simulated" in slot) return;
        const first = seen.get(slot.index);
        if (first !== void 0) {
          ctx.addIssue({ code: "custom", path: ["gpus", i, "index"], message: `GPU index ${slot.index} is already used by gpus.${first}` });
        }
        seen.set(slot.index, i);
      });
    });
  }
});

// redeemer/executor/local/measureGpuSeconds.ts
function measureGpuSeconds(input, now = Date.now() / 1e3) {
  let heldMs = 0;
  for (const s of input.segments) heldMs += Math.max(0, Math.round(((s.end ?? now) - s.start) * 1e3));
  const held = Math.ceil(heldMs / 1e3 / input.timeScale - 1e-9);
  return Math.min(input.gpus * input.seconds, input.gpus * Math.max(0, held));
}
var init_measureGpuSeconds = __esm({
  "redeemer/executor/local/measureGpuSeconds.ts"() {
    "use strict";
  }
});

// redeemer/executor/local/pickNextJobs.ts
function pickNextJobs(queued, freeByClass) {
  const free = new Map(freeByClass);
  const blocked = /* @__PURE__ */ new Set();
  const picked = [];
  for (const job of [...queued].sort(compareQueued)) {
    if (blocked.has(job.className)) continue;
    const available = free.get(job.className) ?? 0;
    if (job.gpus <= available) {
      picked.push(job);
      free.set(job.className, available - job.gpus);
    } else {
      blocked.add(job.className);
    }
  }
  return picked;
}
var compareQueued;
var init_pickNextJobs = __esm({
  "redeemer/executor/local/pickNextJobs.ts"() {
    "use strict";
    init_jobSpec();
    compareQueued = (a, b) => PRIORITIES.indexOf(b.priority) - PRIORITIES.indexOf(a.priority) || a.seq - b.seq;
  }
});

// redeemer/executor/local/localExecutor.ts
import { spawn } from "node:child_process";
import { constants as fsConstants } from "node:fs";
import { access as access2, appendFile, mkdir as mkdir3, open as open4, rm } from "node:fs/promises";
import { constants as osConstants } from "node:os";
import { join as join5 } from "node:path";
var LOCAL_FAILURE_REASONS, MAX_TIMEOUT_MS, nowSeconds, LocalExecutor, createLocalExecutor;
var init_localExecutor = __esm({
  "redeemer/executor/local/localExecutor.ts"() {
    "use strict";
    init_types();
    init_dataDirLock();
    init_errors();
    init_findExecutable();
    init_gpuInventory();
    init_gpuPool();
    init_jobRecord();
    init_jobStore();
    init_localExecutorConfig();
    init_measureGpuSeconds();
    init_pickNextJobs();
    init_processControl();
    LOCAL_FAILURE_REASONS = {
      deadline: "DeadlineExceeded",
      error: "Error",
      signaled: "Signaled",
      startError: "StartError",
      interrupted: "Interrupted",
      shutdown: "ExecutorShutdown",
      removed: "Removed",
      unreadable: "StateUnreadable",
      unschedulable: "Unschedulable"
    };
    MAX_TIMEOUT_MS = 2 ** 31 - 1;
    nowSeconds = () => Date.now() / 1e3;
    LocalExecutor = class _LocalExecutor {
      kind = "local";
      config;
      inventory;
      store;
      pool;
      jobs = /* @__PURE__ */ new Map();
      /** State files that could not be read: they still block a relaunch. */
      unreadable = /* @__PURE__ */ new Map();
      listeners = /* @__PURE__ */ new Set();
      warn;
      heartbeat;
      nextSeq = 0;
      closing;
      lock;
      /** While the jobs directory is read back at start-up: nothing is scheduled yet. */
      recovering = false;
      /** Starts in flight, which shutdown waits for. */
      starts = /* @__PURE__ */ new Set();
      /** Parses the configuration, finds the GPUs, recovers jobs from dataDir. @throws ConfigError, DataDirInUse */
      static async create(config, deps = {}) {
        const parsed = parseLocalExecutorConfig(config);
        const warn = deps.onWarning ?? ((m) => console.warn(`local executor: ${m}`));
        const inventory = await resolveGpuInventory(parsed, warn);
        const executor = new _LocalExecutor(parsed, inventory, warn);
        try {
          await executor.recover();
        } catch (err) {
          await executor.lock?.release();
          throw err;
        }
        return executor;
      }
      constructor(config, inventory, warn) {
        this.config = config;
        this.inventory = inventory;
        this.pool = new GpuPool(inventory);
        this.store = new JobStore(join5(config.dataDir, "jobs"));
        this.warn = warn;
      }
      logFileFor(name) {
        return join5(this.config.dataDir, "logs", `${name}.log`);
      }
      workDirFor(name) {
        return join5(this.config.dataDir, "work", name);
      }
      async launch(req) {
        if (this.closing) throw new Error("the local executor is closed");
        const key = req.redemptionId.toString();
        const name = jobNameFor(req.redemptionId);
        if (this.jobs.has(key) || this.unreadable.has(key)) return { name, alreadyExisted: true };
        await this.validate(req);
        if (this.jobs.has(key) || this.unreadable.has(key)) return { name, alreadyExisted: true };
        const record = {
          version: JOB_RECORD_VERSION,
          redemptionId: key,
          name,
          className: req.className,
          productLabel: req.productLabel,
          gpus: req.gpus,
          seconds: req.seconds,
          priority: req.priority,
          spec: req.spec,
          seq: this.nextSeq++,
          timeScale: this.config.timeScale,
          createdAt: nowSeconds(),
          phase: "pending",
          segments: [],
          gpuSeconds: 0,
          gpuIndexes: []
        };
        const job = this.track(record);
        job.unsaved = true;
        try {
          if (!await this.store.create(record)) {
            this.jobs.delete(key);
            await this.adoptForeign(name);
            return { name, alreadyExisted: true };
          }
        } catch (err) {
          this.jobs.delete(key);
          throw err;
        }
        job.unsaved = false;
        this.emit(job);
        this.schedule();
        return { name, alreadyExisted: false };
      }
      async get(redemptionId) {
        const key = redemptionId.toString();
        const job = this.jobs.get(key);
        return job ? this.stateOf(job) : this.unreadable.get(key);
      }
      async list() {
        const states = [...[...this.jobs.values()].map((j) => this.stateOf(j)), ...this.unreadable.values()];
        return states.sort((a, b) => a.redemptionId < b.redemptionId ? -1 : a.redemptionId > b.redemptionId ? 1 : 0);
      }
      /** Deletes the job's state file and working directory (the log stays). A job still queued is dropped; one still running is killed first. */
      async remove(redemptionId) {
        const key = redemptionId.toString();
        const name = jobNameFor(redemptionId);
        const job = this.jobs.get(key);
        if (job !== void 0 && !job.foreign && (job.record.phase === "running" || job.starting)) {
          job.stopReason = LOCAL_FAILURE_REASONS.removed;
          if (job.child?.pid !== void 0) signalGroup(job.child.pid, "SIGKILL");
          await job.ended;
        }
        this.jobs.delete(key);
        this.unreadable.delete(key);
        await job?.writing;
        await this.store.remove(name);
        await rm(this.workDirFor(name), { recursive: true, force: true });
      }
      watch(onChange) {
        this.listeners.add(onChange);
        return () => {
          this.listeners.delete(onChange);
        };
      }
      async ping() {
        if (this.closing) return false;
        try {
          await access2(this.config.dataDir, fsConstants.W_OK);
          return true;
        } catch {
          return false;
        }
      }
      /**
       * Stops timers and watches. Running jobs keep running (a restarted executor finishes them as
       * Interrupted) unless `killRunningOnClose` is set: then they get SIGTERM, SIGKILL after the
       * grace, and end as failed "ExecutorShutdown". Queued jobs stay queued on disk either way.
       */
      close() {
        this.closing ??= this.shutdown();
        return this.closing;
      }
      async shutdown() {
        await Promise.all(this.starts);
        const running = [...this.jobs.values()].filter((j) => !j.foreign && j.record.phase === "running");
        if (this.config.killRunningOnClose) {
          for (const job of running) this.stop(job, LOCAL_FAILURE_REASONS.shutdown);
          await Promise.all(running.map((j) => j.ended));
        } else {
          for (const job of running) {
            this.clearTimers(job);
            job.child?.removeAllListeners("exit");
            job.child?.removeAllListeners("error");
            job.child?.unref();
            this.beat(job);
          }
        }
        if (this.heartbeat) clearInterval(this.heartbeat);
        this.heartbeat = void 0;
        this.listeners.clear();
        await Promise.all([...this.jobs.values()].map((j) => j.writing));
        await this.lock?.release();
      }
      // --- launching and scheduling
      async validate(req) {
        const fail = (problem, message) => {
          throw new LocalLaunchError(problem, message, req.redemptionId);
        };
        const command = req.spec.command[0];
        if (command === void 0) fail("COMMAND_MISSING", "the local executor needs spec.command: it cannot run an image's entrypoint");
        if (!this.config.allowedCommands.includes(command)) {
          fail(
            "COMMAND_NOT_ALLOWED",
            `command ${JSON.stringify(command)} is not allowed here (allowed: ${this.config.allowedCommands.join(", ")})`
          );
        }
        if (await findExecutable(command, this.jobPath()) === void 0)
          fail("COMMAND_NOT_FOUND", `command ${JSON.stringify(command)} is not installed on this machine`);
        const strings = [...req.spec.command, ...req.spec.args, ...Object.values(req.spec.env)];
        if (strings.some((s) => s.includes("\0"))) fail("INVALID_ARGUMENT", "command, args and env must not contain NUL characters");
        if (!Number.isInteger(req.gpus) || req.gpus < 1) fail("INVALID_ARGUMENT", `gpus must be a positive integer, got ${req.gpus}`);
        if (!Number.isInteger(req.seconds) || req.seconds < 1)
          fail("INVALID_ARGUMENT", `seconds must be a positive integer, got ${req.seconds}`);
        const capacity = this.pool.capacity(req.className);
        if (capacity === 0) fail("CLASS_UNAVAILABLE", `this machine has no ${req.className} GPUs`);
        if (req.gpus > capacity) fail("TOO_MANY_GPUS", `${req.gpus} ${req.className} GPUs asked for; this machine has ${capacity}`);
      }
      track(record, foreign = false) {
        let markEnded;
        const ended = new Promise((resolve2) => markEnded = resolve2);
        const job = {
          record,
          foreign,
          starting: false,
          unsaved: false,
          deadlineHit: false,
          writing: Promise.resolve(),
          ended,
          markEnded
        };
        if (record.phase === "succeeded" || record.phase === "failed") markEnded();
        this.jobs.set(record.redemptionId, job);
        this.nextSeq = Math.max(this.nextSeq, record.seq + 1);
        return job;
      }
      schedule() {
        if (this.closing || this.recovering) return;
        const queued = [...this.jobs.values()].filter((j) => j.record.phase === "pending" && !j.starting && !j.unsaved && !j.foreign);
        if (queued.length === 0) return;
        const classes = new Set(queued.map((j) => j.record.className));
        const free = new Map([...classes].map((c) => [c, this.pool.freeCount(c)]));
        const picks = pickNextJobs(
          queued.map((j) => ({
            key: j.record.redemptionId,
            className: j.record.className,
            gpus: j.record.gpus,
            priority: j.record.priority,
            seq: j.record.seq,
            job: j
          })),
          free
        );
        for (const { job } of picks) {
          const slots = this.pool.allocate(job.record.className, job.record.gpus, job.record.name);
          if (slots === void 0) continue;
          job.starting = true;
          const started = this.start(job, slots).catch(
            (err) => this.warn(`starting ${job.record.name} failed: ${err.message}`)
          );
          this.starts.add(started);
          void started.finally(() => this.starts.delete(started));
        }
      }
      async start(job, slots) {
        const r = job.record;
        const { spec } = r;
        const workDir = this.workDirFor(r.name);
        const logFile = this.logFileFor(r.name);
        const devices = slots.map((s) => s.index).join(",");
        let child;
        try {
          const command = await findExecutable(spec.command[0] ?? "", this.jobPath());
          if (command === void 0 || !this.config.allowedCommands.includes(spec.command[0])) {
            throw new Error(`command ${JSON.stringify(spec.command[0])} is not available`);
          }
          await mkdir3(workDir, { recursive: true });
          await mkdir3(join5(this.config.dataDir, "logs"), { recursive: true });
          r.startingAt = nowSeconds();
          this.persist(job);
          await job.writing;
          const log = await open4(logFile, "a");
          try {
            await log.write(
              `[ctk] ${(/* @__PURE__ */ new Date()).toISOString()} starting ${r.name}: ${[...spec.command, ...spec.args].join(
                " "
              )} (CUDA_VISIBLE_DEVICES=${devices})
`
            );
            child = spawn(command, [...spec.command.slice(1), ...spec.args], {
              cwd: workDir,
              env: { PATH: this.jobPath(), HOME: workDir, ...spec.env, CUDA_VISIBLE_DEVICES: devices, CTK_REDEMPTION_ID: r.redemptionId },
              stdio: ["ignore", log.fd, log.fd],
              detached: true,
              shell: false
            });
          } finally {
            await log.close();
          }
        } catch (err) {
          this.finish(job, { phase: "failed", reason: LOCAL_FAILURE_REASONS.startError, message: err.message });
          return;
        }
        job.child = child;
        child.on("error", (err) => {
          if (child.pid === void 0) this.finish(job, { phase: "failed", reason: LOCAL_FAILURE_REASONS.startError, message: err.message });
        });
        child.once("exit", (code, signal) => this.onExit(job, code, signal));
        if (child.pid === void 0) return;
        const now = nowSeconds();
        job.starting = false;
        r.phase = "running";
        r.gpuIndexes = slots.map((s) => s.index);
        r.pid = child.pid;
        const stat2 = readProcStat(child.pid);
        if (stat2) r.pidStartTime = stat2.startTime;
        r.segments = [{ start: now, node: this.config.nodeName, gpuProduct: slots[0]?.productLabel ?? r.productLabel }];
        r.heartbeatAt = now;
        this.persist(job);
        this.emit(job);
        if (job.stopReason !== void 0) {
          signalGroup(child.pid, "SIGKILL");
          return;
        }
        this.armDeadline(job, r.seconds * 1e3 * r.timeScale);
        this.ensureHeartbeat();
      }
      armDeadline(job, remainingMs) {
        const step = Math.min(remainingMs, MAX_TIMEOUT_MS);
        job.deadlineTimer = setTimeout(() => {
          if (remainingMs > step) this.armDeadline(job, remainingMs - step);
          else this.onDeadline(job);
        }, step);
      }
      onDeadline(job) {
        const pid = job.child?.pid;
        if (pid === void 0 || job.record.phase !== "running") return;
        job.deadlineHit = true;
        this.appendLog(job, `deadline of ${job.record.seconds} s reached; SIGTERM, SIGKILL in ${this.config.killGraceSeconds} s`);
        this.terminate(job, pid);
      }
      /** SIGTERM to the process group now, SIGKILL after the grace. */
      terminate(job, pid) {
        signalGroup(pid, "SIGTERM");
        job.killTimer ??= setTimeout(() => {
          if (job.record.phase === "running") this.appendLog(job, "grace period over; SIGKILL");
          signalGroup(pid, "SIGKILL");
        }, this.config.killGraceSeconds * 1e3);
      }
      stop(job, reason) {
        job.stopReason = reason;
        const pid = job.child?.pid;
        if (pid !== void 0 && job.record.phase === "running") this.terminate(job, pid);
      }
      onExit(job, code, signal) {
        const pid = job.child?.pid;
        if (pid !== void 0) signalGroup(pid, "SIGKILL");
        const exitCode = code ?? (signal ? 128 + (osConstants.signals[signal] ?? 0) : void 0);
        const failure = job.stopReason ?? (job.deadlineHit ? LOCAL_FAILURE_REASONS.deadline : code === 0 ? void 0 : code !== null ? LOCAL_FAILURE_REASONS.error : LOCAL_FAILURE_REASONS.signaled);
        this.appendLog(job, `exited with ${code !== null ? `code ${code}` : `signal ${signal}`}${failure ? ` (${failure})` : ""}`);
        this.finish(job, {
          phase: failure === void 0 ? "succeeded" : "failed",
          ...failure !== void 0 && { reason: failure },
          ...exitCode !== void 0 && { exitCode },
          ...signal !== null && { signal }
        });
      }
      finish(job, outcome) {
        if (job.record.phase === "succeeded" || job.record.phase === "failed") return;
        this.clearTimers(job);
        const r = job.record;
        const now = nowSeconds();
        const open5 = r.segments.at(-1);
        if (open5 && open5.end === void 0) open5.end = now;
        Object.assign(r, outcome);
        r.gpuSeconds = measureGpuSeconds(r, now);
        job.starting = false;
        this.pool.release(r.name);
        this.persist(job);
        void job.writing.then(job.markEnded);
        this.emit(job);
        this.schedule();
      }
      // --- heartbeats, persistence, events
      ensureHeartbeat() {
        if (this.heartbeat) return;
        this.heartbeat = setInterval(() => {
          const running = [...this.jobs.values()].filter((j) => j.record.phase === "running");
          if (running.length === 0) {
            clearInterval(this.heartbeat);
            this.heartbeat = void 0;
          }
          for (const job of running) this.beat(job);
        }, this.config.heartbeatSeconds * 1e3);
        this.heartbeat.unref();
      }
      beat(job) {
        if (job.record.phase !== "running") return;
        const now = nowSeconds();
        job.record.heartbeatAt = now;
        job.record.gpuSeconds = measureGpuSeconds(job.record, now);
        this.persist(job);
      }
      /** Queues a write of the job's record as it is when the write runs (so the last write wins). */
      persist(job) {
        job.writing = job.writing.then(() => this.store.write(job.record)).catch((err) => this.warn(`cannot persist ${job.record.name}: ${err.message}`));
      }
      appendLog(job, line) {
        void appendFile(this.logFileFor(job.record.name), `[ctk] ${(/* @__PURE__ */ new Date()).toISOString()} ${line}
`).catch(() => {
        });
      }
      stateOf(job) {
        const r = job.record;
        return toJobState(r, r.phase === "running" ? measureGpuSeconds(r) : r.gpuSeconds);
      }
      emit(job) {
        const state = this.stateOf(job);
        for (const listener of this.listeners) {
          try {
            listener(state);
          } catch (err) {
            this.warn(`a watch listener threw: ${err.message}`);
          }
        }
      }
      clearTimers(job) {
        clearTimeout(job.deadlineTimer);
        clearTimeout(job.killTimer);
        job.deadlineTimer = void 0;
        job.killTimer = void 0;
      }
      jobPath() {
        return this.config.path ?? process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin";
      }
      // --- restart
      async recover() {
        await mkdir3(this.config.dataDir, { recursive: true });
        this.lock = await lockDataDir(this.config.dataDir);
        await this.store.init();
        await mkdir3(join5(this.config.dataDir, "logs"), { recursive: true });
        await mkdir3(join5(this.config.dataDir, "work"), { recursive: true });
        const { records, unreadable } = await this.store.readAll();
        this.recovering = true;
        for (const u of unreadable) this.markUnreadable(u.name, u.error);
        for (const record of records) {
          const job = this.track(record);
          if (record.phase === "running") this.finishInterrupted(job);
          else if (record.phase === "pending" && record.startingAt !== void 0) this.finishInterrupted(job);
          else if (record.phase === "pending" && this.pool.capacity(record.className) < record.gpus) {
            this.finish(job, {
              phase: "failed",
              reason: LOCAL_FAILURE_REASONS.unschedulable,
              message: `${record.gpus} ${record.className} GPUs asked for; this machine now has ${this.pool.capacity(record.className)}`
            });
          }
        }
        await Promise.all([...this.jobs.values()].map((j) => j.writing));
        this.recovering = false;
        this.schedule();
      }
      finishInterrupted(job) {
        const r = job.record;
        const open5 = r.segments.at(-1);
        let end = Math.max(open5?.start ?? r.createdAt, r.heartbeatAt ?? 0);
        let message = r.phase === "pending" ? "the redeemer stopped while starting the job; it is not started again" : "the redeemer stopped while the job ran; usage counted to its last heartbeat";
        if (r.pid !== void 0 && isSameProcess(r.pid, r.pidStartTime) === true) {
          signalGroup(r.pid, "SIGKILL");
          end = nowSeconds();
          message = "the redeemer stopped while the job ran; the job was still running and has been killed";
        }
        if (open5 && open5.end === void 0) open5.end = end;
        r.phase = "failed";
        r.reason = LOCAL_FAILURE_REASONS.interrupted;
        r.message = message;
        r.gpuSeconds = measureGpuSeconds(r, end);
        job.markEnded();
        this.persist(job);
      }
      markUnreadable(name, error) {
        const m = /^ctk-redemption-(\d+)$/.exec(name);
        if (!m) return this.warn(`ignoring ${name}.json in the jobs directory: not a job's state file`);
        this.warn(`the state file of ${name} cannot be read (${error}); reporting it as failed with no usage`);
        this.unreadable.set(m[1], {
          redemptionId: BigInt(m[1]),
          name,
          phase: "failed",
          segments: [],
          gpuSeconds: 0,
          reason: LOCAL_FAILURE_REASONS.unreadable
        });
      }
      /** A record another process created: known from now on, never started here. */
      async adoptForeign(name) {
        const { records, unreadable } = await this.store.readAll();
        const record = records.find((r) => r.name === name);
        if (record) this.track(record, true);
        else if (unreadable.some((u) => u.name === name)) this.markUnreadable(name, "unreadable");
      }
    };
    createLocalExecutor = (config, deps) => LocalExecutor.create(config, deps);
  }
});

// redeemer/executor/local/index.ts
var local_exports = {};
__export(local_exports, {
  DataDirInUse: () => DataDirInUse,
  GpuPool: () => GpuPool,
  JobStore: () => JobStore,
  LOCAL_FAILURE_REASONS: () => LOCAL_FAILURE_REASONS,
  LocalExecutor: () => LocalExecutor,
  LocalLaunchError: () => LocalLaunchError,
  compareQueued: () => compareQueued,
  createLocalExecutor: () => createLocalExecutor,
  detectNvidiaGpus: () => detectNvidiaGpus,
  expandConfiguredSlots: () => expandConfiguredSlots,
  findExecutable: () => findExecutable,
  isSameProcess: () => isSameProcess,
  jobRecordSchema: () => jobRecordSchema,
  localExecutorConfigSchema: () => localExecutorConfigSchema,
  lockDataDir: () => lockDataDir,
  measureGpuSeconds: () => measureGpuSeconds,
  parseLocalExecutorConfig: () => parseLocalExecutorConfig,
  parseNvidiaSmiCsv: () => parseNvidiaSmiCsv,
  pickNextJobs: () => pickNextJobs,
  productLabelOf: () => productLabelOf,
  readProcStat: () => readProcStat,
  resolveGpuInventory: () => resolveGpuInventory,
  signalGroup: () => signalGroup,
  toJobState: () => toJobState
});
var init_local = __esm({
  "redeemer/executor/local/index.ts"() {
    "use strict";
    init_dataDirLock();
    init_errors();
    init_findExecutable();
    init_gpuInventory();
    init_gpuPool();
    init_jobRecord();
    init_jobStore();
    init_localExecutor();
    init_localExecutorConfig();
    init_measureGpuSeconds();
    init_pickNextJobs();
    init_processControl();
  }
});

// redeemer/executor/kubernetes/labels.ts
var MANAGED_BY_LABEL, MANAGED_BY, REDEMPTION_ID_LABEL, KUEUE_QUEUE_LABEL, KUEUE_PRIORITY_LABEL, CLASS_ANNOTATION, ALLOTTED_SECONDS_ANNOTATION, GPUS_ANNOTATION, SPEC_NAME_ANNOTATION, PROJECT_ANNOTATION, GPU_PRODUCT_LABEL, GPU_RESOURCE, CONTAINER_NAME, MANAGED_SELECTOR, redemptionSelector;
var init_labels = __esm({
  "redeemer/executor/kubernetes/labels.ts"() {
    "use strict";
    MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
    MANAGED_BY = "ctk-redeemer";
    REDEMPTION_ID_LABEL = "ctk.compute-tokens/redemption-id";
    KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name";
    KUEUE_PRIORITY_LABEL = "kueue.x-k8s.io/priority-class";
    CLASS_ANNOTATION = "ctk.compute-tokens/class";
    ALLOTTED_SECONDS_ANNOTATION = "ctk.compute-tokens/allotted-seconds";
    GPUS_ANNOTATION = "ctk.compute-tokens/gpus";
    SPEC_NAME_ANNOTATION = "ctk.compute-tokens/spec-name";
    PROJECT_ANNOTATION = "ctk.compute-tokens/project";
    GPU_PRODUCT_LABEL = "nvidia.com/gpu.product";
    GPU_RESOURCE = "nvidia.com/gpu";
    CONTAINER_NAME = "main";
    MANAGED_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY}`;
    redemptionSelector = (redemptionId) => `${MANAGED_SELECTOR},${REDEMPTION_ID_LABEL}=${redemptionId.toString()}`;
  }
});

// redeemer/executor/kubernetes/buildJobManifest.ts
function buildJobManifest(req, config) {
  const name = jobNameFor(req.redemptionId);
  const { spec } = req;
  const identity = {
    [MANAGED_BY_LABEL]: MANAGED_BY,
    [REDEMPTION_ID_LABEL]: req.redemptionId.toString()
  };
  const seccompProfile = { type: "RuntimeDefault" };
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      name,
      namespace: config.namespace,
      labels: {
        ...identity,
        [KUEUE_QUEUE_LABEL]: config.localQueue,
        [KUEUE_PRIORITY_LABEL]: config.workloadPriorityClasses[req.priority]
      },
      annotations: {
        [CLASS_ANNOTATION]: req.className,
        [GPUS_ANNOTATION]: String(req.gpus),
        [ALLOTTED_SECONDS_ANNOTATION]: String(req.seconds),
        [SPEC_NAME_ANNOTATION]: spec.name,
        ...spec.project ? { [PROJECT_ANNOTATION]: spec.project } : {}
      }
    },
    spec: {
      suspend: config.createSuspended,
      backoffLimit: 0,
      activeDeadlineSeconds: req.seconds,
      podReplacementPolicy: "Failed",
      podFailurePolicy: {
        rules: [
          // Preemption and eviction are not the job's fault: do not count them, run again.
          { action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] },
          // Any non-zero exit of the job's container fails the Job at once.
          { action: "FailJob", onExitCodes: { containerName: CONTAINER_NAME, operator: "NotIn", values: [0] } }
        ]
      },
      ...config.ttlSecondsAfterFinished === void 0 ? {} : { ttlSecondsAfterFinished: config.ttlSecondsAfterFinished },
      template: {
        metadata: { labels: { ...identity } },
        spec: {
          restartPolicy: "Never",
          priorityClassName: config.priorityClasses[req.priority],
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          nodeSelector: { [GPU_PRODUCT_LABEL]: req.productLabel },
          tolerations: [{ key: GPU_RESOURCE, operator: "Exists", effect: "NoSchedule" }],
          securityContext: {
            runAsNonRoot: true,
            ...config.runAsUser === void 0 ? {} : { runAsUser: config.runAsUser },
            seccompProfile
          },
          containers: [
            {
              name: CONTAINER_NAME,
              image: spec.image,
              ...spec.command.length > 0 ? { command: [...spec.command] } : {},
              ...spec.args.length > 0 ? { args: [...spec.args] } : {},
              env: Object.entries(spec.env).map(([envName2, value]) => ({ name: envName2, value })),
              resources: { limits: { [GPU_RESOURCE]: String(req.gpus) } },
              securityContext: {
                runAsNonRoot: true,
                allowPrivilegeEscalation: false,
                capabilities: { drop: ["ALL"] },
                seccompProfile
              }
            }
          ]
        }
      }
    }
  };
}
var init_buildJobManifest = __esm({
  "redeemer/executor/kubernetes/buildJobManifest.ts"() {
    "use strict";
    init_types();
    init_labels();
  }
});

// redeemer/executor/kubernetes/config.ts
import { z as z7 } from "zod";
function parseKubernetesExecutorConfig(raw, source) {
  const parsed = kubernetesExecutorConfigSchema.safeParse(raw);
  if (!parsed.success) throw ConfigError.fromZod("kubernetes executor config", parsed.error, source);
  return parsed.data;
}
var dnsLabel, resourceName, perPriority, kubernetesExecutorConfigSchema;
var init_config = __esm({
  "redeemer/executor/kubernetes/config.ts"() {
    "use strict";
    init_jobSpec();
    init_configError();
    dnsLabel = z7.string().min(1).max(63).regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "must be a DNS label (lower-case letters, digits and '-')");
    resourceName = z7.string().min(1).max(253).regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, "must be a Kubernetes resource name");
    perPriority = z7.object(
      Object.fromEntries(PRIORITIES.map((p) => [p, resourceName]))
    );
    kubernetesExecutorConfigSchema = z7.object({
      /** Namespace the Jobs are created in. */
      namespace: dnsLabel,
      /** Kueue LocalQueue the Jobs are submitted to (`kueue.x-k8s.io/queue-name`). */
      localQueue: resourceName,
      /** Pod `priorityClassName` per priority. */
      priorityClasses: perPriority,
      /** Kueue WorkloadPriorityClass per priority (`kueue.x-k8s.io/priority-class`). */
      workloadPriorityClasses: perPriority,
      /** Create Jobs suspended, for Kueue to admit (Kueue's recommended way). */
      createSuspended: z7.boolean().default(true),
      /** Optional `runAsUser` for images that do not declare a non-root user. */
      runAsUser: z7.number().int().min(1).optional(),
      /** Optional `ttlSecondsAfterFinished`: let Kubernetes garbage-collect finished Jobs. */
      ttlSecondsAfterFinished: z7.number().int().min(0).optional(),
      /** A full re-list of Jobs and Pods this often, whatever the watches say. */
      resyncMs: z7.number().int().min(10).default(3e4),
      /** Per-request timeout of every API call (not of watches). */
      requestTimeoutMs: z7.number().int().min(10).default(1e4),
      /** Attempts of a call that fails with 5xx, 429, a timeout or a network error. */
      maxAttempts: z7.number().int().min(1).max(20).default(5),
      /** First retry back-off; doubles each attempt (with jitter) up to `retryMaxMs`. */
      retryBaseMs: z7.number().int().min(0).default(200),
      retryMaxMs: z7.number().int().min(0).default(5e3),
      /** Page size of list calls. */
      listPageSize: z7.number().int().min(1).max(5e3).default(500)
    }).strict();
  }
});

// redeemer/executor/kubernetes/errors.ts
var KubernetesUnavailable, KubernetesRequestRejected, JobNameTaken, ExecutorClosed;
var init_errors2 = __esm({
  "redeemer/executor/kubernetes/errors.ts"() {
    "use strict";
    KubernetesUnavailable = class extends Error {
      constructor(operation, attempts, status, options) {
        super(
          `Kubernetes API unavailable: ${operation} failed after ${attempts} attempt${attempts === 1 ? "" : "s"}` + (status ? ` (last HTTP ${status})` : ""),
          options
        );
        this.operation = operation;
        this.attempts = attempts;
        this.status = status;
      }
      operation;
      attempts;
      status;
      name = "KubernetesUnavailable";
    };
    KubernetesRequestRejected = class extends Error {
      constructor(operation, status, reason, serverMessage, options) {
        super(`Kubernetes rejected ${operation}: HTTP ${status}${reason ? ` ${reason}` : ""}${serverMessage ? `: ${serverMessage}` : ""}`, options);
        this.operation = operation;
        this.status = status;
        this.reason = reason;
        this.serverMessage = serverMessage;
      }
      operation;
      status;
      reason;
      serverMessage;
      name = "KubernetesRequestRejected";
    };
    JobNameTaken = class extends Error {
      constructor(jobName, redemptionId, foundRedemptionId) {
        super(
          `Job ${jobName} already exists but is not redemption ${redemptionId}` + (foundRedemptionId === void 0 ? " (not created by the redeemer)" : ` (it is redemption ${foundRedemptionId})`)
        );
        this.jobName = jobName;
        this.redemptionId = redemptionId;
        this.foundRedemptionId = foundRedemptionId;
      }
      jobName;
      redemptionId;
      foundRedemptionId;
      name = "JobNameTaken";
    };
    ExecutorClosed = class extends Error {
      constructor(operation) {
        super(`kubernetes executor is closed (${operation})`);
        this.operation = operation;
      }
      operation;
      name = "ExecutorClosed";
    };
  }
});

// redeemer/executor/kubernetes/usageFromPods.ts
function toUnixSeconds(t) {
  if (t === void 0 || t === null) return void 0;
  const ms = t instanceof Date ? t.getTime() : Date.parse(t);
  return Number.isFinite(ms) ? Math.floor(ms / 1e3) : void 0;
}
function mainContainerStatus(pod) {
  const statuses = pod.status?.containerStatuses ?? [];
  return statuses.find((s) => s.name === CONTAINER_NAME) ?? statuses[0];
}
function segmentOfPod(pod) {
  const state = mainContainerStatus(pod)?.state;
  const start = toUnixSeconds(state?.running?.startedAt) ?? toUnixSeconds(state?.terminated?.startedAt);
  if (start === void 0) return void 0;
  const end = toUnixSeconds(state?.terminated?.finishedAt);
  const node = pod.spec?.nodeName;
  const gpuProduct = pod.spec?.nodeSelector?.[GPU_PRODUCT_LABEL];
  return {
    podUid: pod.metadata?.uid ?? "",
    start,
    ...end === void 0 ? {} : { end: Math.max(end, start) },
    ...node ? { node } : {},
    ...gpuProduct ? { gpuProduct } : {}
  };
}
function gpuSecondsUsed(segments, gpus, allottedSeconds, nowSeconds2) {
  const seconds = segments.reduce((sum, s) => sum + Math.max(0, (s.end ?? nowSeconds2) - s.start), 0);
  return Math.min(gpus * seconds, gpus * allottedSeconds);
}
var init_usageFromPods = __esm({
  "redeemer/executor/kubernetes/usageFromPods.ts"() {
    "use strict";
    init_labels();
  }
});

// redeemer/executor/kubernetes/jobStateFrom.ts
function redemptionIdOf(job) {
  const raw = job.metadata?.labels?.[REDEMPTION_ID_LABEL];
  return raw !== void 0 && /^\d+$/.test(raw) ? BigInt(raw) : void 0;
}
function allotmentOf(job) {
  const annotations = job.metadata?.annotations ?? {};
  const container = job.spec?.template.spec?.containers.find((c) => c.name === CONTAINER_NAME) ?? job.spec?.template.spec?.containers[0];
  const gpus = Number(annotations[GPUS_ANNOTATION] ?? container?.resources?.limits?.[GPU_RESOURCE] ?? 0);
  const seconds = Number(annotations[ALLOTTED_SECONDS_ANNOTATION] ?? job.spec?.activeDeadlineSeconds ?? 0);
  return { gpus: Number.isFinite(gpus) ? gpus : 0, seconds: Number.isFinite(seconds) ? seconds : 0 };
}
function isOwnedBy(pod, job) {
  const uid = job.metadata?.uid;
  if (!uid) return true;
  return pod.metadata?.ownerReferences?.some((o) => o.uid === uid) === true || pod.metadata?.labels?.["batch.kubernetes.io/controller-uid"] === uid || pod.metadata?.labels?.["controller-uid"] === uid;
}
function condition(job, type) {
  return job.status?.conditions?.find((c) => c.type === type && c.status === "True");
}
function isRunning(pod) {
  return pod.status?.phase === "Running";
}
function isFinished(job) {
  return condition(job, "Complete") !== void 0 || condition(job, "Failed") !== void 0;
}
function segmentsFromJobStatus(job) {
  const start = toUnixSeconds(job.status?.startTime);
  if (start === void 0 || !isFinished(job)) return [];
  const end = toUnixSeconds(job.status?.completionTime) ?? toUnixSeconds(condition(job, "Failed")?.lastTransitionTime) ?? start;
  return [{ start, end: Math.max(start, end) }];
}
function jobStateFrom(redemptionId, job, pods, segments, nowSeconds2) {
  const { gpus, seconds } = allotmentOf(job);
  const known = segments.length > 0 ? [...segments].sort(byStart) : segmentsFromJobStatus(job);
  const runs = known.map((s) => ({
    start: s.start,
    ...s.end === void 0 ? {} : { end: s.end },
    ...s.node ? { node: s.node } : {},
    ...s.gpuProduct ? { gpuProduct: s.gpuProduct } : {}
  }));
  const latest = [...pods].map((pod) => ({ pod, start: segmentOfPod(pod)?.start ?? toUnixSeconds(pod.metadata?.creationTimestamp) ?? 0 })).sort(byStart).at(-1)?.pod;
  const terminated = latest && mainContainerStatus(latest)?.state?.terminated;
  const complete = condition(job, "Complete");
  const failed = condition(job, "Failed");
  let phase;
  if (complete) phase = "succeeded";
  else if (failed) phase = "failed";
  else if (pods.some(isRunning)) phase = "running";
  else if (!job.spec?.suspend && latest && terminated) phase = "running";
  else phase = "pending";
  const state = {
    redemptionId,
    name: job.metadata?.name ?? "",
    phase,
    segments: runs,
    gpuSeconds: gpuSecondsUsed(runs, gpus, seconds, nowSeconds2)
  };
  if (phase === "succeeded" || phase === "failed") {
    const exitCode = terminated?.exitCode ?? (phase === "succeeded" ? 0 : void 0);
    if (exitCode !== void 0) state.exitCode = exitCode;
  }
  if (phase === "failed") {
    const reason = failureReason(failed, terminated?.reason, latest?.status?.reason);
    if (reason) state.reason = reason;
  }
  return state;
}
function failureReason(failed, containerReason, podReason) {
  if (failed.reason === "DeadlineExceeded") return failed.reason;
  if (containerReason && !UNINFORMATIVE_REASONS.has(containerReason)) return containerReason;
  return podReason ?? failed.reason ?? containerReason;
}
var UNINFORMATIVE_REASONS, byStart;
var init_jobStateFrom = __esm({
  "redeemer/executor/kubernetes/jobStateFrom.ts"() {
    "use strict";
    init_labels();
    init_usageFromPods();
    UNINFORMATIVE_REASONS = /* @__PURE__ */ new Set(["Error", "Completed"]);
    byStart = (a, b) => a.start - b.start;
  }
});

// redeemer/executor/kubernetes/retry.ts
import { setTimeout as sleep2 } from "node:timers/promises";
import { ApiException } from "@kubernetes/client-node";
function httpStatusOf(err) {
  if (err instanceof ApiException) return err.code;
  const status = err?.statusCode;
  return typeof status === "number" ? status : void 0;
}
function apiStatusOf(err) {
  if (!(err instanceof ApiException)) return {};
  const body = err.body;
  try {
    const status = typeof body === "string" ? JSON.parse(body) : body;
    return {
      ...typeof status?.reason === "string" ? { reason: status.reason } : {},
      ...typeof status?.message === "string" ? { message: status.message } : {}
    };
  } catch {
    return {};
  }
}
function isRetryable(err) {
  const status = httpStatusOf(err);
  if (status !== void 0) return status >= 500 || status === 429;
  const name = err?.name;
  if (name === "TimeoutError") return true;
  if (err instanceof TypeError) return true;
  const code = err?.code;
  return typeof code === "string" && /^(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|UND_ERR_)/.test(code);
}
function backoffMs2(attempt, policy, random = Math.random) {
  const ceiling = Math.min(policy.retryMaxMs, policy.retryBaseMs * 2 ** (attempt - 1));
  return ceiling / 2 + random() * (ceiling / 2);
}
async function withRetry(operation, policy, stop, attempt) {
  for (let n = 1; ; n++) {
    if (stop.aborted) throw new ExecutorClosed(operation);
    try {
      return await attempt();
    } catch (err) {
      if (stop.aborted) throw new ExecutorClosed(operation);
      if (!isRetryable(err)) {
        const status = httpStatusOf(err);
        if (status === void 0) throw err;
        const { reason, message } = apiStatusOf(err);
        throw new KubernetesRequestRejected(operation, status, reason, message, { cause: err });
      }
      if (n >= policy.maxAttempts) {
        throw new KubernetesUnavailable(operation, n, httpStatusOf(err), { cause: err });
      }
      try {
        await sleep2(backoffMs2(n, policy), void 0, { signal: stop });
      } catch {
        throw new ExecutorClosed(operation);
      }
    }
  }
}
var init_retry = __esm({
  "redeemer/executor/kubernetes/retry.ts"() {
    "use strict";
    init_errors2();
  }
});

// redeemer/executor/kubernetes/segmentLedger.ts
function ownerJobUid(pod) {
  return pod.metadata?.ownerReferences?.find((o) => o.kind === "Job")?.uid ?? pod.metadata?.labels?.["batch.kubernetes.io/controller-uid"] ?? pod.metadata?.labels?.["controller-uid"];
}
var SegmentLedger;
var init_segmentLedger = __esm({
  "redeemer/executor/kubernetes/segmentLedger.ts"() {
    "use strict";
    init_usageFromPods();
    SegmentLedger = class {
      jobs = /* @__PURE__ */ new Map();
      /** Record what a pod shows of its run. */
      observe(pod, jobUid = ownerJobUid(pod)) {
        const podUid = pod.metadata?.uid;
        if (!jobUid || !podUid) return;
        const segment = segmentOfPod(pod);
        if (!segment) return;
        let pods = this.jobs.get(jobUid);
        if (!pods) this.jobs.set(jobUid, pods = /* @__PURE__ */ new Map());
        const previous = pods.get(podUid);
        const deletedAt = toUnixSeconds(pod.metadata?.deletionTimestamp) ?? previous?.deletedAt;
        const end = segment.end ?? previous?.segment.end;
        pods.set(podUid, {
          segment: { ...segment, ...end === void 0 ? {} : { end } },
          ...deletedAt === void 0 ? {} : { deletedAt }
        });
      }
      /** The pod no longer exists: close its segment if it was still open. */
      gone(pod, nowSeconds2, jobUid = ownerJobUid(pod)) {
        this.observe(pod, jobUid);
        const podUid = pod.metadata?.uid;
        if (jobUid && podUid) this.close(jobUid, podUid, nowSeconds2);
      }
      /**
       * `pods` is every current pod of the Job: close the open segments of recorded pods that are
       * missing from it.
       */
      reconcile(jobUid, pods, nowSeconds2) {
        for (const pod of pods) this.observe(pod, jobUid);
        const present = new Set(pods.map((p) => p.metadata?.uid));
        for (const podUid of this.jobs.get(jobUid)?.keys() ?? []) {
          if (!present.has(podUid)) this.close(jobUid, podUid, nowSeconds2);
        }
      }
      segments(jobUid) {
        if (!jobUid) return [];
        return [...this.jobs.get(jobUid)?.values() ?? []].map(({ segment: { podUid: _uid, ...run } }) => run);
      }
      forget(jobUid) {
        if (jobUid) this.jobs.delete(jobUid);
      }
      get size() {
        return this.jobs.size;
      }
      /**
       * Close a vanished pod's open segment at its deletion time if seen, else now — but never past
       * the start of a later pod of the Job: with `podReplacementPolicy: Failed` a replacement starts
       * only once the previous pod has fully terminated.
       */
      close(jobUid, podUid, nowSeconds2) {
        const pods = this.jobs.get(jobUid);
        const entry = pods?.get(podUid);
        if (!pods || !entry || entry.segment.end !== void 0) return;
        const { start } = entry.segment;
        let end = entry.deletedAt ?? nowSeconds2;
        for (const other of pods.values()) {
          if (other !== entry && other.segment.start > start) end = Math.min(end, other.segment.start);
        }
        entry.segment = { ...entry.segment, end: Math.max(start, end) };
      }
    };
  }
});

// redeemer/executor/kubernetes/jobWatcher.ts
import { setTimeout as sleep3 } from "node:timers/promises";
var JobWatcher;
var init_jobWatcher = __esm({
  "redeemer/executor/kubernetes/jobWatcher.ts"() {
    "use strict";
    init_jobStateFrom();
    init_labels();
    init_retry();
    init_segmentLedger();
    JobWatcher = class {
      constructor(opts) {
        this.opts = opts;
      }
      opts;
      jobs = /* @__PURE__ */ new Map();
      pods = /* @__PURE__ */ new Map();
      podsByJob = /* @__PURE__ */ new Map();
      reported = /* @__PURE__ */ new Map();
      stopController = new AbortController();
      watches = {};
      restartRequested = { jobs: false, pods: false };
      loops = [];
      resyncTimer;
      start() {
        this.loops = ["jobs", "pods"].map((kind) => this.run(kind));
        this.resyncTimer = setInterval(() => this.resync(), this.opts.resyncMs);
      }
      /** Stop watching; resolves once every loop has ended and every connection is closed. */
      async stop() {
        if (!this.stopController.signal.aborted) {
          this.stopController.abort();
          clearInterval(this.resyncTimer);
          for (const kind of ["jobs", "pods"]) this.watches[kind]?.abort();
        }
        await Promise.all(this.loops);
      }
      get stopped() {
        return this.stopController.signal.aborted;
      }
      /** End the current watches; their loops list again and watch again. */
      resync() {
        for (const kind of ["jobs", "pods"]) {
          const watch = this.watches[kind];
          if (watch) {
            this.restartRequested[kind] = true;
            watch.abort();
          }
        }
      }
      async run(kind) {
        let failures = 0;
        while (!this.stopped) {
          let end;
          try {
            const resourceVersion = await this.relist(kind);
            end = await this.watchOnce(kind, resourceVersion);
          } catch (err) {
            end = { err, gone: false };
          }
          if (this.stopped) break;
          const restarted = this.restartRequested[kind];
          this.restartRequested[kind] = false;
          if (restarted || end.gone || !end.err || end.err.name === "TimeoutError") {
            failures = 0;
            continue;
          }
          failures += 1;
          this.opts.onWarning(`watch of ${kind} failed; listing again`, {
            attempt: failures,
            status: httpStatusOf(end.err),
            error: String(end.err)
          });
          try {
            await sleep3(backoffMs2(failures, this.opts.retry), void 0, { signal: this.stopController.signal });
          } catch {
            break;
          }
        }
      }
      /** Replace the cache of one kind with a fresh list; report what changed. Returns its resourceVersion. */
      async relist(kind) {
        const nowSeconds2 = Math.floor(this.opts.now() / 1e3);
        if (kind === "jobs") {
          const { items: items2, resourceVersion: resourceVersion2 } = await this.opts.listJobs(this.stopController.signal);
          if (this.stopped) return resourceVersion2;
          const fresh2 = new Map(items2.filter((j) => j.metadata?.uid).map((j) => [j.metadata.uid, j]));
          for (const uid of this.jobs.keys()) if (!fresh2.has(uid)) this.jobGone(uid);
          for (const [uid, job] of fresh2) this.jobs.set(uid, job);
          for (const uid of fresh2.keys()) this.report(uid);
          return resourceVersion2;
        }
        const { items, resourceVersion } = await this.opts.listPods(this.stopController.signal);
        if (this.stopped) return resourceVersion;
        const fresh = new Map(items.filter((p) => p.metadata?.uid).map((p) => [p.metadata.uid, p]));
        for (const [uid, pod] of this.pods) if (!fresh.has(uid)) this.podGone(pod, nowSeconds2);
        for (const pod of fresh.values()) this.podSeen(pod);
        for (const uid of this.jobs.keys()) this.report(uid);
        return resourceVersion;
      }
      watchOnce(kind, resourceVersion) {
        const path = kind === "jobs" ? `/apis/batch/v1/namespaces/${this.opts.namespace}/jobs` : `/api/v1/namespaces/${this.opts.namespace}/pods`;
        return new Promise((resolve2) => {
          let gone = false;
          let ended = false;
          const onEvent = (type, obj) => {
            if (this.stopped || ended) return;
            if (type === "ERROR") {
              if (obj?.code === 410) gone = true;
              return;
            }
            if (type === "BOOKMARK") return;
            this.apply(kind, type, obj);
          };
          const onDone = (err) => {
            ended = true;
            this.watches[kind] = void 0;
            resolve2({ err: err ?? void 0, gone: gone || httpStatusOf(err) === 410 });
          };
          this.opts.clients.watch.watch(path, { labelSelector: MANAGED_SELECTOR, resourceVersion, allowWatchBookmarks: true }, onEvent, onDone).then((controller) => {
            if (ended || this.stopped) controller.abort();
            else this.watches[kind] = controller;
          }).catch((err) => onDone(err));
        });
      }
      apply(kind, type, obj) {
        const uid = obj?.metadata?.uid;
        if (!uid) return;
        if (kind === "jobs") {
          if (type === "DELETED") this.jobGone(uid);
          else {
            this.jobs.set(uid, obj);
            this.report(uid);
          }
          return;
        }
        const jobUid = ownerJobUid(obj);
        if (type === "DELETED") this.podGone(obj, Math.floor(this.opts.now() / 1e3));
        else this.podSeen(obj);
        if (jobUid) this.report(jobUid);
      }
      jobGone(uid) {
        this.jobs.delete(uid);
        this.reported.delete(uid);
        this.opts.ledger.forget(uid);
      }
      podSeen(pod) {
        const uid = pod.metadata.uid;
        this.pods.set(uid, pod);
        const jobUid = ownerJobUid(pod);
        if (!jobUid) return;
        let set = this.podsByJob.get(jobUid);
        if (!set) this.podsByJob.set(jobUid, set = /* @__PURE__ */ new Set());
        set.add(uid);
        this.opts.ledger.observe(pod, jobUid);
      }
      podGone(pod, nowSeconds2) {
        const uid = pod.metadata.uid;
        const known = this.pods.get(uid) ?? pod;
        this.pods.delete(uid);
        const jobUid = ownerJobUid(known) ?? ownerJobUid(pod);
        if (!jobUid) return;
        this.podsByJob.get(jobUid)?.delete(uid);
        this.opts.ledger.gone(pod, nowSeconds2, jobUid);
      }
      /** Report the Job's state if it differs from the last one reported. */
      report(jobUid) {
        const job = this.jobs.get(jobUid);
        const redemptionId = job && redemptionIdOf(job);
        if (!job || redemptionId === void 0) return;
        const pods = [...this.podsByJob.get(jobUid) ?? []].map((uid) => this.pods.get(uid)).filter(Boolean);
        const state = jobStateFrom(
          redemptionId,
          job,
          pods,
          this.opts.ledger.segments(jobUid),
          Math.floor(this.opts.now() / 1e3)
        );
        if (isFinished(job) && pods.some(isRunning)) return;
        const key = JSON.stringify([state.phase, state.segments, state.exitCode, state.reason]);
        if (this.reported.get(jobUid) === key) return;
        this.reported.set(jobUid, key);
        try {
          this.opts.onChange(state);
        } catch (err) {
          this.opts.onWarning("watch callback threw", { redemptionId: String(redemptionId), error: String(err) });
        }
      }
    };
  }
});

// redeemer/executor/kubernetes/kubeClients.ts
import {
  BatchV1Api,
  CoreV1Api,
  ServerConfiguration,
  Watch,
  createConfiguration
} from "@kubernetes/client-node";
function deadlineMiddleware(timeoutMs, stop) {
  return {
    async pre(context) {
      context.setSignal(AbortSignal.any([stop, AbortSignal.timeout(timeoutMs)]));
      context.setHeaderParam("User-Agent", USER_AGENT);
      return context;
    },
    async post(context) {
      return context;
    }
  };
}
function createKubeClients(kubeConfig, opts) {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error("KubeConfig has no current cluster");
  const auth = new SharedPoolAuthentication(kubeConfig);
  const configuration = createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: { default: auth },
    promiseMiddleware: [deadlineMiddleware(opts.requestTimeoutMs, opts.stop)]
  });
  const watch = new Watch(kubeConfig);
  return {
    batch: new BatchV1Api(configuration),
    core: new CoreV1Api(configuration),
    watch,
    close: () => auth.close()
  };
}
var USER_AGENT, SharedPoolAuthentication;
var init_kubeClients = __esm({
  "redeemer/executor/kubernetes/kubeClients.ts"() {
    "use strict";
    USER_AGENT = "ctk-redeemer";
    SharedPoolAuthentication = class {
      constructor(kubeConfig) {
        this.kubeConfig = kubeConfig;
      }
      kubeConfig;
      dispatcher;
      closed = false;
      getName() {
        return "kubeconfig, shared connection pool";
      }
      async applySecurityAuthentication(context) {
        await this.kubeConfig.applySecurityAuthentication(context);
        const fresh = context.getDispatcher();
        if (!fresh || this.closed) return;
        if (!this.dispatcher) {
          this.dispatcher = fresh;
          return;
        }
        context.setDispatcher(this.dispatcher);
        fresh.close().catch(() => {
        });
      }
      async close() {
        this.closed = true;
        const dispatcher = this.dispatcher;
        this.dispatcher = void 0;
        await dispatcher?.destroy().catch(() => {
        });
      }
    };
  }
});

// redeemer/executor/kubernetes/kubernetesExecutor.ts
import { ApiException as ApiException2 } from "@kubernetes/client-node";
function createKubernetesExecutor(options) {
  return new KubernetesExecutor(options);
}
var KubernetesExecutor;
var init_kubernetesExecutor = __esm({
  "redeemer/executor/kubernetes/kubernetesExecutor.ts"() {
    "use strict";
    init_types();
    init_buildJobManifest();
    init_config();
    init_errors2();
    init_jobStateFrom();
    init_jobWatcher();
    init_kubeClients();
    init_labels();
    init_retry();
    init_segmentLedger();
    KubernetesExecutor = class {
      kind = "kubernetes";
      config;
      clients;
      ledger = new SegmentLedger();
      now;
      onWarning;
      stopController = new AbortController();
      watchers = /* @__PURE__ */ new Set();
      closing;
      constructor(options) {
        this.config = parseKubernetesExecutorConfig(options.config);
        this.now = options.now ?? Date.now;
        this.onWarning = options.onWarning ?? (() => {
        });
        this.clients = createKubeClients(options.kubeConfig, {
          requestTimeoutMs: this.config.requestTimeoutMs,
          stop: this.stopController.signal
        });
      }
      get stop() {
        return this.stopController.signal;
      }
      async launch(req) {
        const body = buildJobManifest(req, this.config);
        const name = body.metadata.name;
        const namespace = this.config.namespace;
        const operation = `create job ${name}`;
        return this.retry(operation, async () => {
          try {
            await this.clients.batch.createNamespacedJob({ namespace, body });
            return { name, alreadyExisted: false };
          } catch (err) {
            if (httpStatusOf(err) !== 409) throw err;
          }
          const existing = await this.readJob(name);
          if (!existing) throw new ApiException2(503, "job vanished after AlreadyExists; create again", "", {});
          const labels = existing.metadata?.labels ?? {};
          if (labels[MANAGED_BY_LABEL] !== MANAGED_BY || labels[REDEMPTION_ID_LABEL] !== req.redemptionId.toString()) {
            throw new JobNameTaken(name, req.redemptionId, labels[REDEMPTION_ID_LABEL]);
          }
          return { name, alreadyExisted: true };
        });
      }
      async get(redemptionId) {
        const name = jobNameFor(redemptionId);
        const job = await this.retry(`get job ${name}`, () => this.readJob(name));
        if (!job) return void 0;
        const { items } = await this.listAll(
          `list pods of ${name}`,
          (cont) => this.clients.core.listNamespacedPod({
            namespace: this.config.namespace,
            labelSelector: redemptionSelector(redemptionId),
            limit: this.config.listPageSize,
            _continue: cont
          })
        );
        return this.stateOf(redemptionId, job, items);
      }
      async list() {
        const [jobs, pods] = await Promise.all([this.listJobs(this.stop), this.listPods(this.stop)]);
        const podsByJob = /* @__PURE__ */ new Map();
        for (const pod of pods.items) {
          const uid = ownerJobUid(pod);
          if (uid) podsByJob.set(uid, [...podsByJob.get(uid) ?? [], pod]);
        }
        const states = [];
        for (const job of jobs.items) {
          const redemptionId = redemptionIdOf(job);
          if (redemptionId === void 0) continue;
          states.push(this.stateOf(redemptionId, job, podsByJob.get(job.metadata?.uid ?? "") ?? []));
        }
        return states.sort((a, b) => a.redemptionId < b.redemptionId ? -1 : a.redemptionId > b.redemptionId ? 1 : 0);
      }
      async remove(redemptionId) {
        const name = jobNameFor(redemptionId);
        const uid = await this.retry(`delete job ${name}`, async () => {
          try {
            const status = await this.clients.batch.deleteNamespacedJob({
              name,
              namespace: this.config.namespace,
              propagationPolicy: "Background"
            });
            return status.details?.uid;
          } catch (err) {
            if (httpStatusOf(err) === 404) return void 0;
            throw err;
          }
        });
        this.ledger.forget(uid);
      }
      watch(onChange) {
        if (this.stop.aborted) throw new ExecutorClosed("watch");
        const watcher = new JobWatcher({
          clients: this.clients,
          namespace: this.config.namespace,
          resyncMs: this.config.resyncMs,
          retry: this.config,
          ledger: this.ledger,
          now: this.now,
          listJobs: (stop) => this.listJobs(stop),
          listPods: (stop) => this.listPods(stop),
          onChange,
          onWarning: this.onWarning
        });
        this.watchers.add(watcher);
        watcher.start();
        return () => {
          this.watchers.delete(watcher);
          void watcher.stop();
        };
      }
      async ping() {
        if (this.stop.aborted) return false;
        try {
          await this.clients.batch.listNamespacedJob({ namespace: this.config.namespace, limit: 1 });
          return true;
        } catch {
          return false;
        }
      }
      close() {
        this.closing ??= (async () => {
          this.stopController.abort(new ExecutorClosed("close"));
          const watchers = [...this.watchers];
          this.watchers.clear();
          await Promise.all(watchers.map((w) => w.stop()));
          await this.clients.close();
        })();
        return this.closing;
      }
      // -------------------------------------------------------------------------------------------
      stateOf(redemptionId, job, pods) {
        const owned = pods.filter((p) => isOwnedBy(p, job));
        const nowSeconds2 = Math.floor(this.now() / 1e3);
        const jobUid = job.metadata?.uid;
        if (jobUid) this.ledger.reconcile(jobUid, owned, nowSeconds2);
        const segments = jobUid ? this.ledger.segments(jobUid) : [];
        return jobStateFrom(redemptionId, job, owned, segments, nowSeconds2);
      }
      /** The Job, or undefined on 404. */
      async readJob(name) {
        try {
          return await this.clients.batch.readNamespacedJob({ name, namespace: this.config.namespace });
        } catch (err) {
          if (httpStatusOf(err) === 404) return void 0;
          throw err;
        }
      }
      listJobs(stop) {
        return this.listAll(
          "list jobs",
          (cont) => this.clients.batch.listNamespacedJob({
            namespace: this.config.namespace,
            labelSelector: MANAGED_SELECTOR,
            limit: this.config.listPageSize,
            _continue: cont
          }),
          stop
        );
      }
      listPods(stop) {
        return this.listAll(
          "list pods",
          (cont) => this.clients.core.listNamespacedPod({
            namespace: this.config.namespace,
            labelSelector: MANAGED_SELECTOR,
            limit: this.config.listPageSize,
            _continue: cont
          }),
          stop
        );
      }
      /** Every page of a list; the resourceVersion is the first page's (the snapshot's). */
      async listAll(operation, page, stop = this.stop) {
        const items = [];
        let resourceVersion;
        let cont;
        do {
          const result = await this.retry(operation, () => page(cont), stop);
          items.push(...result.items);
          resourceVersion ??= result.metadata?.resourceVersion;
          cont = result.metadata?._continue || void 0;
        } while (cont);
        return { items, resourceVersion: resourceVersion ?? "" };
      }
      retry(operation, attempt, stop = this.stop) {
        return withRetry(operation, this.config, stop, attempt);
      }
    };
  }
});

// redeemer/executor/kubernetes/index.ts
var kubernetes_exports = {};
__export(kubernetes_exports, {
  ALLOTTED_SECONDS_ANNOTATION: () => ALLOTTED_SECONDS_ANNOTATION,
  CLASS_ANNOTATION: () => CLASS_ANNOTATION,
  CONTAINER_NAME: () => CONTAINER_NAME,
  ExecutorClosed: () => ExecutorClosed,
  GPUS_ANNOTATION: () => GPUS_ANNOTATION,
  GPU_PRODUCT_LABEL: () => GPU_PRODUCT_LABEL,
  GPU_RESOURCE: () => GPU_RESOURCE,
  JobNameTaken: () => JobNameTaken,
  KUEUE_PRIORITY_LABEL: () => KUEUE_PRIORITY_LABEL,
  KUEUE_QUEUE_LABEL: () => KUEUE_QUEUE_LABEL,
  KubernetesExecutor: () => KubernetesExecutor,
  KubernetesRequestRejected: () => KubernetesRequestRejected,
  KubernetesUnavailable: () => KubernetesUnavailable,
  MANAGED_BY: () => MANAGED_BY,
  MANAGED_BY_LABEL: () => MANAGED_BY_LABEL,
  MANAGED_SELECTOR: () => MANAGED_SELECTOR,
  PROJECT_ANNOTATION: () => PROJECT_ANNOTATION,
  REDEMPTION_ID_LABEL: () => REDEMPTION_ID_LABEL,
  SPEC_NAME_ANNOTATION: () => SPEC_NAME_ANNOTATION,
  buildJobManifest: () => buildJobManifest,
  createKubernetesExecutor: () => createKubernetesExecutor,
  gpuSecondsUsed: () => gpuSecondsUsed,
  jobStateFrom: () => jobStateFrom,
  kubernetesExecutorConfigSchema: () => kubernetesExecutorConfigSchema,
  parseKubernetesExecutorConfig: () => parseKubernetesExecutorConfig,
  redemptionSelector: () => redemptionSelector,
  segmentOfPod: () => segmentOfPod
});
var init_kubernetes = __esm({
  "redeemer/executor/kubernetes/index.ts"() {
    "use strict";
    init_buildJobManifest();
    init_config();
    init_errors2();
    init_jobStateFrom();
    init_kubernetesExecutor();
    init_usageFromPods();
    init_labels();
  }
});

// redeemer/main.ts
init_configError();
import { parseArgs } from "node:util";

// redeemer/index.ts
import {
  createPublicClient,
  createWalletClient,
  defineChain,
  http
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { pino } from "pino";

// redeemer/api/metrics.ts
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
var RedeemerMetrics = class {
  registry = new Registry();
  launchLatency;
  settleLatency;
  executorErrors;
  chainErrors;
  transactions;
  headBlock;
  confirmedBlock;
  constructor(book, options = {}) {
    const registers = [this.registry];
    new Gauge({
      name: "ctk_redeemer_redemptions",
      help: "Redemptions known to the redeemer, by state",
      labelNames: ["state"],
      registers,
      collect() {
        const b = book();
        if (!b) return;
        for (const [state, n] of Object.entries(b.countByPhase())) this.set({ state }, n);
      }
    });
    this.launchLatency = new Histogram({
      name: "ctk_redeemer_launch_latency_seconds",
      help: "From the confirmed burn being read to the job being created",
      buckets: [5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers
    });
    this.settleLatency = new Histogram({
      name: "ctk_redeemer_settle_latency_seconds",
      help: "From the job being seen finished to the settle transaction being mined",
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers
    });
    this.executorErrors = new Counter({ name: "ctk_redeemer_executor_errors_total", help: "Executor calls that failed", labelNames: ["operation"], registers });
    this.chainErrors = new Counter({ name: "ctk_redeemer_chain_errors_total", help: "Chain reads and transactions that failed", labelNames: ["operation"], registers });
    this.transactions = new Counter({ name: "ctk_redeemer_transactions_total", help: "Transactions mined, by call", labelNames: ["call"], registers });
    this.headBlock = new Gauge({ name: "ctk_redeemer_head_block", help: "Latest block seen", registers });
    this.confirmedBlock = new Gauge({ name: "ctk_redeemer_confirmed_block", help: "Latest block at the confirmation depth", registers });
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: "ctk_redeemer_" });
  }
};

// redeemer/api/server.ts
import express from "express";
import { isAddress } from "viem";

// redeemer/api/redemptionView.ts
init_jobSpec();

// sdk/reasons.ts
var REJECT_REASONS = {
  INVALID_SPEC: 1,
  SPEC_TOO_LARGE: 2,
  NOT_UTF8: 3,
  IMAGE_NOT_ALLOWED: 4,
  IMAGE_NOT_PINNED: 5,
  TOO_MANY_GPUS: 6,
  HOURS_MISMATCH: 7,
  PRIORITY_MISMATCH: 8,
  PRIVILEGED: 9,
  CLASS_UNAVAILABLE: 10,
  LAUNCH_FAILED: 11
};
var REJECT_REASON_TEXT = {
  INVALID_SPEC: "the job spec does not match the schema",
  SPEC_TOO_LARGE: "the job spec is larger than allowed",
  NOT_UTF8: "the job spec is not valid UTF-8 JSON",
  IMAGE_NOT_ALLOWED: "the image's registry is not on the allow-list",
  IMAGE_NOT_PINNED: "the image is not pinned by @sha256 digest",
  TOO_MANY_GPUS: "more GPUs than the hardware class allows per job",
  HOURS_MISMATCH: "GPUs \xD7 hours \xD7 priority do not match the units reserved",
  PRIORITY_MISMATCH: "the spec's priority differs from the redemption's",
  PRIVILEGED: "the spec asks for privileged settings",
  CLASS_UNAVAILABLE: "no capacity is configured for this hardware class",
  LAUNCH_FAILED: "the executor could not launch the job"
};
function reasonName(code) {
  return Object.keys(REJECT_REASONS).find((k) => REJECT_REASONS[k] === code);
}

// redeemer/state/reduce.ts
init_jobSpec();

// redeemer/policy/checkRedemption.ts
init_jobSpec();

// redeemer/policy/findPrivilegedKey.ts
init_jobSpec();
var PRIVILEGED = new Set(PRIVILEGED_KEYS.map((k) => k.toLowerCase()));
function findPrivilegedKey(value) {
  const stack = [{ value, path: "", isEnvMap: false }];
  while (stack.length > 0) {
    const { value: node, path, isEnvMap } = stack.pop();
    if (typeof node !== "object" || node === null) continue;
    if (Array.isArray(node)) {
      for (let i = node.length - 1; i >= 0; i--) stack.push({ value: node[i], path: `${path}[${i}]`, isEnvMap: false });
      continue;
    }
    const keys = Object.keys(node);
    for (const key of keys) {
      const childPath = path === "" ? key : `${path}.${key}`;
      if (!isEnvMap && PRIVILEGED.has(key.toLowerCase())) return childPath;
    }
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i];
      const childPath = path === "" ? key : `${path}.${key}`;
      stack.push({ value: node[key], path: childPath, isEnvMap: path === "" && key === "env" });
    }
  }
  return void 0;
}

// redeemer/policy/parseImageRef.ts
var DOCKER_HUB = "docker.io";
var DOCKER_HUB_ALIASES = /* @__PURE__ */ new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);
var InvalidImageRef = class extends Error {
  constructor(ref, problem) {
    super(`invalid image reference ${JSON.stringify(ref.length > 80 ? `${ref.slice(0, 77)}...` : ref)}: ${problem}`);
    this.ref = ref;
    this.problem = problem;
  }
  ref;
  problem;
  name = "InvalidImageRef";
};
var MAX_NAME_LENGTH = 255;
var HOST_LABEL = "[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?";
var HOST_RE = new RegExp(`^(?:${HOST_LABEL}(?:\\.${HOST_LABEL})*|\\[[0-9a-fA-F:.]+\\])(?::([0-9]{1,5}))?$`);
var PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
var TAG_RE = /^[\w][\w.-]{0,127}$/;
var DIGEST_RE = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
var SHA256_DIGEST_RE = /^sha256:[0-9a-f]{64}$/;
function isRegistryHost(host) {
  const m = HOST_RE.exec(host);
  return m !== null && (m[1] === void 0 || Number(m[1]) <= 65535);
}
function normalizeRegistry(host) {
  const lower = host.toLowerCase();
  return DOCKER_HUB_ALIASES.has(lower) ? DOCKER_HUB : lower;
}
function parseImageRef(ref) {
  if (ref.length === 0) throw new InvalidImageRef(ref, "empty");
  if (/\s/.test(ref)) throw new InvalidImageRef(ref, "contains whitespace");
  const at = ref.indexOf("@");
  let rest = ref;
  let digest;
  if (at !== -1) {
    digest = ref.slice(at + 1);
    rest = ref.slice(0, at);
    if (!DIGEST_RE.test(digest)) throw new InvalidImageRef(ref, "the part after '@' is not a digest");
  }
  let tag;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw new InvalidImageRef(ref, `invalid tag ${JSON.stringify(tag)}`);
  }
  if (rest.length === 0) throw new InvalidImageRef(ref, "no repository name");
  if (rest.length > MAX_NAME_LENGTH) throw new InvalidImageRef(ref, `name longer than ${MAX_NAME_LENGTH} characters`);
  const components = rest.split("/");
  let registry = DOCKER_HUB;
  const first = components[0];
  if (components.length > 1 && (first.includes(".") || first.includes(":") || first === "localhost")) {
    if (!isRegistryHost(first)) throw new InvalidImageRef(ref, `invalid registry host ${JSON.stringify(first)}`);
    registry = normalizeRegistry(first);
    components.shift();
  }
  for (const c of components) {
    if (!PATH_COMPONENT_RE.test(c)) {
      throw new InvalidImageRef(ref, `invalid path component ${JSON.stringify(c)} (lower-case letters, digits, '.', '_', '-')`);
    }
  }
  if (registry === DOCKER_HUB && components.length === 1) components.unshift("library");
  return { registry, repository: components.join("/"), ...tag !== void 0 && { tag }, ...digest !== void 0 && { digest } };
}
var isPinned = (image) => image.digest !== void 0 && SHA256_DIGEST_RE.test(image.digest);
function registryAllows(entry, image) {
  const slash = entry.indexOf("/");
  const host = normalizeRegistry(slash === -1 ? entry : entry.slice(0, slash));
  const prefix = slash === -1 ? "" : entry.slice(slash + 1).replace(/\/+$/, "");
  if (host !== image.registry) return false;
  return prefix === "" || image.repository === prefix || image.repository.startsWith(`${prefix}/`);
}

// redeemer/policy/checkRedemption.ts
var refuse = (reason, detail, field) => ({
  ok: false,
  reason,
  code: REJECT_REASONS[reason],
  detail,
  ...field !== void 0 && { field }
});
var quote = (s, max = 80) => JSON.stringify(s.length > max ? `${s.slice(0, max - 3)}...` : s);
function checkRedemption(input, policy) {
  const { specBytes } = input;
  if (specBytes.length > policy.maxSpecBytes) {
    return refuse("SPEC_TOO_LARGE", `the spec is ${specBytes.length} bytes; at most ${policy.maxSpecBytes} are allowed`);
  }
  let text;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(specBytes);
  } catch {
    return refuse("NOT_UTF8", "the spec bytes are not valid UTF-8");
  }
  let json;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return refuse("INVALID_SPEC", `the spec is not JSON: ${err.message}`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return refuse("INVALID_SPEC", "the spec must be a JSON object");
  }
  const privileged = findPrivilegedKey(json);
  if (privileged !== void 0) return refuse("PRIVILEGED", `the spec sets ${privileged}, which asks for privileges`, privileged);
  const parsed = jobSpecSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issueField(issue);
    return refuse("INVALID_SPEC", describeIssues(parsed.error.issues), field);
  }
  const spec = parsed.data;
  let image;
  try {
    image = parseImageRef(spec.image);
  } catch (err) {
    if (err instanceof InvalidImageRef) return refuse("INVALID_SPEC", err.message, "image");
    throw err;
  }
  if (!policy.allowedRegistries.some((entry) => registryAllows(entry, image))) {
    return refuse(
      "IMAGE_NOT_ALLOWED",
      `images from ${image.registry}/${image.repository} are not allowed (allowed: ${policy.allowedRegistries.join(", ")})`,
      "image"
    );
  }
  if (policy.requireDigest && !isPinned(image)) {
    const got = image.digest === void 0 ? "no digest" : `digest ${quote(image.digest)}`;
    return refuse("IMAGE_NOT_PINNED", `the image must be pinned by @sha256:<64 lower-case hex digits>; it has ${got}`, "image");
  }
  const classMaxGpus = Number(input.classMaxGpus);
  if (spec.gpus > classMaxGpus) {
    return refuse("TOO_MANY_GPUS", `the spec asks for ${spec.gpus} GPUs; the class allows at most ${classMaxGpus} per job`, "gpus");
  }
  const priorityIndex = Number(input.priority);
  const onChainPriority = PRIORITIES[priorityIndex];
  if (onChainPriority === void 0) {
    return refuse(
      "PRIORITY_MISMATCH",
      `the redemption's priority index ${priorityIndex} is not one of ${PRIORITIES.join(", ")}`,
      "priority"
    );
  }
  if (spec.priority !== onChainPriority) {
    return refuse(
      "PRIORITY_MISMATCH",
      `the spec's priority is ${spec.priority}; the redemption was made at ${onChainPriority}`,
      "priority"
    );
  }
  const gpus = Number(input.gpus);
  const seconds = Number(input.seconds);
  if (spec.gpus !== gpus) {
    return refuse("HOURS_MISMATCH", `the spec asks for ${spec.gpus} GPUs; the redemption reserved ${gpus}`, "gpus");
  }
  const wanted = specSeconds(spec);
  if (wanted !== seconds) {
    return refuse("HOURS_MISMATCH", `the spec asks for ${spec.hours} hours (${wanted} s); the redemption reserved ${seconds} s`, "hours");
  }
  const units = unitsFor(gpus, seconds, Number(input.multiplierBps));
  if (units !== input.reservedUnits) {
    return refuse(
      "HOURS_MISMATCH",
      `${gpus} GPUs \xD7 ${seconds} s at ${input.multiplierBps} bps is ${units} units; the redemption reserved ${input.reservedUnits}`
    );
  }
  return { ok: true, spec, image };
}
function issueField(issue) {
  const path = issue.path.map(String);
  if (issue.code === "unrecognized_keys" && issue.keys.length > 0) path.push(issue.keys[0]);
  return path.length > 0 ? path.join(".") : void 0;
}
function describeIssues(issues) {
  const shown = issues.slice(0, 3).map((i) => {
    const field = issueField(i);
    return field === void 0 ? i.message : `${field}: ${i.message}`;
  });
  const more = issues.length > 3 ? ` (and ${issues.length - 3} more)` : "";
  return `${shown.join("; ")}${more}`;
}

// redeemer/state/reduce.ts
var RANK = { None: 0, Requested: 1, Running: 2, Settled: 3, Rejected: 3, Reclaimed: 3 };
var isTerminal = (s) => RANK[s] === 3;
function emptyRecord(id) {
  return {
    id,
    chain: "None",
    gone: false,
    probed: false,
    lookedUp: false,
    launchAttempts: 0,
    launchExhausted: false,
    txAttempts: 0,
    removed: false,
    txs: {},
    times: {}
  };
}
function backoffMs(attempt, backoff) {
  const ms = backoff.baseMs * 2 ** Math.max(0, Math.min(attempt - 1, 30));
  return Math.min(ms, backoff.maxMs);
}
function verdictFor(request, config) {
  if (!request.hardwareClass) {
    return { ok: false, reason: "CLASS_UNAVAILABLE", code: REJECT_REASONS.CLASS_UNAVAILABLE, detail: `hardware class ${request.classId} is not defined` };
  }
  const check = checkRedemption(
    {
      specBytes: request.specBytes,
      gpus: request.gpus,
      seconds: request.seconds,
      priority: request.priority,
      reservedUnits: request.reserved,
      classMaxGpus: request.hardwareClass.maxGpusPerJob,
      multiplierBps: request.multiplierBps
    },
    config.policy
  );
  if (!check.ok) {
    return { ok: false, reason: check.reason, code: check.code, detail: check.detail, ...check.field !== void 0 && { field: check.field } };
  }
  return {
    ok: true,
    spec: check.spec,
    launch: {
      redemptionId: request.id,
      className: request.hardwareClass.name,
      productLabel: request.hardwareClass.productLabel,
      gpus: request.gpus,
      seconds: request.seconds,
      priority: PRIORITIES[request.priority],
      spec: check.spec
    }
  };
}
function withStatus(r, status, at) {
  if (RANK[status] <= RANK[r.chain]) return r;
  const times = { ...r.times };
  if (status === "Running") times.running ??= at;
  if (isTerminal(status)) times.done ??= at;
  return { ...r, chain: status, times, txAttempts: 0, retryAt: void 0, lastError: void 0 };
}
function withVerdict(r, config) {
  if (r.verdict || !r.request || RANK[r.chain] > RANK.Requested) return r;
  return { ...r, verdict: verdictFor(r.request, config) };
}
function reduce(record, event, config) {
  const id = event.type === "requested" ? event.request.id : event.type === "jobObserved" ? event.state.redemptionId : event.id;
  let r = record ?? emptyRecord(id);
  switch (event.type) {
    case "requested": {
      r = { ...r, request: r.request ?? event.request, times: { ...r.times, seen: r.times.seen ?? event.at } };
      r = withStatus(r, "Requested", event.at);
      return withVerdict(r, config);
    }
    case "chainStatus": {
      if (event.status === "None") {
        return RANK[r.chain] <= RANK.Requested ? { ...r, chain: "None", gone: true, lookedUp: true, inflight: clearIf(r, "lookup") } : { ...r, lookedUp: true, inflight: clearIf(r, "lookup") };
      }
      r = withStatus(r, event.status, event.at);
      r = { ...r, lookedUp: r.lookedUp || event.source === "read", gone: false };
      const txs = { ...r.txs };
      if (event.txHash) {
        if (event.status === "Running") txs.running ??= event.txHash;
        if (event.status === "Settled") txs.settled ??= event.txHash;
        if (event.status === "Rejected") txs.rejected ??= event.txHash;
        if (event.status === "Reclaimed") txs.reclaimed ??= event.txHash;
      }
      r = { ...r, txs };
      if (event.jobRef) r = { ...r, jobRef: r.jobRef ?? event.jobRef };
      if (event.status === "Settled" && event.used !== void 0) {
        r = { ...r, settlement: { used: event.used, refunded: event.refunded, receiptHash: event.receiptHash ?? r.settlement?.receiptHash } };
      }
      if (event.status === "Rejected" && event.reasonCode !== void 0 && !r.rejection) {
        const name = reasonName(event.reasonCode);
        r = { ...r, rejection: { code: event.reasonCode, ...name && { reason: name }, detail: name ? REJECT_REASON_TEXT[name] : `reason code ${event.reasonCode}` } };
      }
      if (event.source !== "log") r = { ...r, inflight: void 0 };
      return withVerdict(r, config);
    }
    case "jobObserved": {
      const prev = r.job;
      if (prev && isFinishedPhase(prev.phase) && !isFinishedPhase(event.state.phase)) return r;
      const times = { ...r.times };
      if (isFinishedPhase(event.state.phase)) times.finished ??= event.at;
      times.launched ??= event.at;
      return { ...r, job: event.state, times, inflight: clearIf(r, "probe") };
    }
    case "jobMissing":
      return { ...r, job: void 0, probed: true, inflight: clearIf(r, "probe") };
    case "actionStarted":
      return { ...r, inflight: event.action };
    case "launched": {
      const job = r.job ?? { redemptionId: r.id, name: event.result.name, phase: "pending", segments: [], gpuSeconds: 0 };
      return { ...r, job, launchAttempts: r.launchAttempts + 1, inflight: void 0, retryAt: void 0, lastError: void 0, times: { ...r.times, launched: r.times.launched ?? event.at } };
    }
    case "launchFailed": {
      const attempts = r.launchAttempts + 1;
      if (event.permanent) return { ...r, launchAttempts: attempts, launchRefused: event.permanent, inflight: void 0, lastError: event.error };
      const exhausted = attempts >= config.maxLaunchAttempts;
      return {
        ...r,
        launchAttempts: attempts,
        launchExhausted: exhausted,
        // A launch that failed may have created the job all the same: ask before rejecting.
        probed: exhausted ? false : r.probed,
        inflight: void 0,
        lastError: event.error,
        retryAt: exhausted ? void 0 : event.at + backoffMs(attempts, config.backoff)
      };
    }
    case "actionFailed": {
      const attempts = r.txAttempts + 1;
      return { ...r, txAttempts: attempts, inflight: void 0, lastError: event.error, retryAt: event.at + backoffMs(attempts, config.backoff) };
    }
    case "removed":
      return { ...r, removed: true, inflight: void 0 };
  }
}
function clearIf(r, action) {
  return r.inflight === action ? void 0 : r.inflight;
}
var isFinishedPhase = (phase) => phase === "succeeded" || phase === "failed";

// redeemer/state/usage.ts
function wholeGpuSeconds(gpuSeconds) {
  if (!Number.isFinite(gpuSeconds) || gpuSeconds <= 0) return 0n;
  return BigInt(Math.ceil(gpuSeconds - 1e-6));
}
function usedUnits(gpuSeconds, multiplierBps, reserved) {
  const units = (wholeGpuSeconds(gpuSeconds) * BigInt(multiplierBps) + 9999n) / 10000n;
  return units > reserved ? reserved : units;
}

// redeemer/state/decide.ts
var launchFailed = (detail) => ({ code: REJECT_REASONS.LAUNCH_FAILED, reason: "LAUNCH_FAILED", detail });
function decide(r, now) {
  if (r.inflight) return void 0;
  if (r.retryAt !== void 0 && r.retryAt > now) return void 0;
  const { id, job } = r;
  const jobActive = job !== void 0 && !isFinishedPhase(job.phase);
  if (r.chain === "None") {
    if (r.gone) return jobActive && !r.removed ? { type: "remove", id } : void 0;
    if (job && !r.lookedUp) return { type: "lookup", id };
    return void 0;
  }
  if (isTerminal(r.chain)) return jobActive && !r.removed ? { type: "remove", id } : void 0;
  if (r.chain === "Requested") {
    if (r.verdict && !r.verdict.ok) {
      return { type: "reject", id, rejection: { code: r.verdict.code, reason: r.verdict.reason, detail: r.verdict.detail } };
    }
    if (job) return { type: "markRunning", id, jobName: job.name };
    if (r.launchRefused) return { type: "reject", id, rejection: r.launchRefused };
    if (r.launchExhausted) {
      if (!r.probed) return { type: "probe", id };
      return { type: "reject", id, rejection: launchFailed(`${REJECT_REASON_TEXT.LAUNCH_FAILED} after ${r.launchAttempts} attempts: ${r.lastError ?? "unknown error"}`) };
    }
    if (!r.verdict) return void 0;
    return { type: "launch", id, request: r.verdict.launch };
  }
  if (!job) {
    if (!r.probed) return { type: "probe", id };
    return { type: "reject", id, rejection: launchFailed("the executor has no job for this running redemption") };
  }
  if (!isFinishedPhase(job.phase)) return void 0;
  if (!r.request) return void 0;
  const used = usedUnits(job.gpuSeconds, r.request.multiplierBps, r.request.reserved);
  return { type: "settle", id, used, reserved: r.request.reserved, job, request: r.request };
}

// redeemer/state/redemptionBook.ts
function phaseOf(r) {
  switch (r.chain) {
    case "Settled":
      return "settled";
    case "Rejected":
      return "rejected";
    case "Reclaimed":
      return "reclaimed";
    case "None":
      return r.gone ? "gone" : "requested";
    case "Running":
      return r.job && (r.job.phase === "succeeded" || r.job.phase === "failed") ? "settling" : "running";
    case "Requested":
      return r.job || r.inflight === "launch" ? "launching" : "requested";
  }
}
var eventId = (e) => e.type === "requested" ? e.request.id : e.type === "jobObserved" ? e.state.redemptionId : e.id;
var RedemptionBook = class {
  constructor(config) {
    this.config = config;
  }
  config;
  records = /* @__PURE__ */ new Map();
  byHolder = /* @__PURE__ */ new Map();
  dirty = /* @__PURE__ */ new Set();
  waiting = /* @__PURE__ */ new Set();
  /** Called with each record after it changes (metrics, API caches). */
  onChange;
  get size() {
    return this.records.size;
  }
  get(id) {
    return this.records.get(id);
  }
  all() {
    return this.records.values();
  }
  ofHolder(holder) {
    const ids = this.byHolder.get(holder.toLowerCase());
    return ids ? [...ids].sort((a, b) => a < b ? -1 : a > b ? 1 : 0).map((id) => this.records.get(id)) : [];
  }
  /** Ids with work not yet finished (not terminal, or a job still to remove). */
  open() {
    return [...this.records.values()].filter((r) => !isTerminal(r.chain) && !r.gone);
  }
  apply(event) {
    const id = eventId(event);
    const before = this.records.get(id);
    const after = reduce(before, event, this.config);
    if (after === before) return after;
    this.records.set(id, after);
    const holder = after.request?.holder;
    if (holder && !before?.request) {
      const key = holder.toLowerCase();
      let set = this.byHolder.get(key);
      if (!set) this.byHolder.set(key, set = /* @__PURE__ */ new Set());
      set.add(id);
    }
    this.dirty.add(id);
    this.onChange?.(after, before);
    return after;
  }
  /**
   * The next action of every record that changed since the last call, or whose back-off has
   * expired. Records still waiting for a back-off are remembered and looked at again later.
   */
  takeActions(now) {
    const actions = [];
    const ids = [...this.dirty];
    this.dirty.clear();
    for (const id of this.waiting) {
      const r = this.records.get(id);
      if (r.retryAt === void 0 || r.retryAt <= now) {
        this.waiting.delete(id);
        ids.push(id);
      }
    }
    for (const id of ids) {
      const r = this.records.get(id);
      if (r.retryAt !== void 0 && r.retryAt > now && !r.inflight) {
        this.waiting.add(id);
        continue;
      }
      const action = decide(r, now);
      if (action) actions.push(action);
    }
    return actions;
  }
  /** Marks every record for a fresh decision (after a resync). */
  touchAll() {
    for (const id of this.records.keys()) this.dirty.add(id);
  }
  /** The earliest pending back-off deadline, if any. */
  nextRetryAt() {
    let min;
    for (const id of this.waiting) {
      const at = this.records.get(id)?.retryAt;
      if (at !== void 0 && (min === void 0 || at < min)) min = at;
    }
    return min;
  }
  /** Counts by phase. */
  countByPhase() {
    const counts = { requested: 0, launching: 0, running: 0, settling: 0, settled: 0, rejected: 0, reclaimed: 0, gone: 0 };
    for (const r of this.records.values()) counts[phaseOf(r)]++;
    return counts;
  }
};

// redeemer/api/redemptionView.ts
function specOf(r) {
  if (r.verdict?.ok) return r.verdict.spec;
  if (!r.request) return null;
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(r.request.specBytes);
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  } catch {
    return null;
  }
}
function redemptionView(r, receipt) {
  const q = r.request;
  const used = r.settlement?.used;
  const refunded = r.settlement?.refunded ?? (q && used !== void 0 ? q.reserved - used : r.chain === "Rejected" || r.chain === "Reclaimed" ? q?.reserved : void 0);
  return {
    id: r.id.toString(),
    status: r.chain,
    phase: phaseOf(r),
    holder: q?.holder ?? null,
    classId: q?.classId ?? null,
    className: q?.hardwareClass?.name ?? null,
    gpus: q?.gpus ?? null,
    seconds: q?.seconds ?? null,
    priority: q ? PRIORITIES[q.priority] ?? null : null,
    reservedUnits: q?.reserved.toString() ?? null,
    usedUnits: used?.toString() ?? (r.chain === "Rejected" || r.chain === "Reclaimed" ? "0" : null),
    refundedUnits: refunded?.toString() ?? null,
    specHash: q?.specHash ?? null,
    spec: specOf(r),
    block: q?.blockNumber.toString() ?? null,
    job: r.job ? {
      name: r.job.name,
      phase: r.job.phase,
      segments: r.job.segments,
      gpuSeconds: r.job.gpuSeconds,
      exitCode: r.job.exitCode ?? null,
      reason: r.job.reason ?? null
    } : null,
    rejection: rejectionOf(r),
    receipt: receipt ? { hash: receipt.hash, content: receipt.receipt } : null,
    transactions: {
      requested: q?.transactionHash ?? null,
      running: r.txs.running ?? null,
      settled: r.txs.settled ?? null,
      rejected: r.txs.rejected ?? null,
      reclaimed: r.txs.reclaimed ?? null
    },
    launchAttempts: r.launchAttempts,
    lastError: r.lastError ?? null
  };
}
function rejectionOf(r) {
  const decided = r.verdict && !r.verdict.ok ? { code: r.verdict.code, reason: r.verdict.reason, detail: r.verdict.detail } : r.launchRefused;
  const chosen = r.chain === "Rejected" ? decided && decided.code === r.rejection?.code ? decided : r.rejection : r.chain === "Requested" ? decided : void 0;
  return chosen ? { code: chosen.code, reason: chosen.reason ?? null, detail: chosen.detail } : null;
}

// redeemer/api/server.ts
var withTimeout = (p, ms, fallback) => Promise.race([p.catch(() => fallback), new Promise((r) => setTimeout(() => r(fallback), ms).unref())]);
function createApi(o) {
  const app = express();
  app.disable("x-powered-by");
  app.set("json replacer", (_key, value) => typeof value === "bigint" ? value.toString() : value);
  app.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  app.get("/readyz", async (_req, res) => {
    const results = await Promise.all(o.readiness.map(async (c) => [c.name, await withTimeout(c.check(), 3e3, false)]));
    const checks = Object.fromEntries(results);
    const ready = results.every(([, ok]) => ok);
    res.status(ready ? 200 : 503).json({ status: ready ? "ready" : "not ready", checks });
  });
  app.get("/metrics", async (_req, res, next) => {
    try {
      res.set("content-type", o.metrics.registry.contentType).send(await o.metrics.registry.metrics());
    } catch (err) {
      next(err);
    }
  });
  const parseId = (raw) => raw && /^\d{1,78}$/.test(raw) ? BigInt(raw) : void 0;
  app.get("/v1/redemptions/:id", async (req, res, next) => {
    try {
      const id = parseId(req.params.id);
      if (id === void 0) return void res.status(400).json({ error: "the redemption id must be a decimal integer" });
      const record = o.book.get(id);
      if (!record || record.chain === "None" && !record.request) return void res.status(404).json({ error: `redemption ${id} is not known to this redeemer` });
      const receipt = await o.receipts.read(id, o.contract);
      res.json(redemptionView(record, receipt));
    } catch (err) {
      next(err);
    }
  });
  app.get("/v1/redemptions/:id/receipt", async (req, res, next) => {
    try {
      const id = parseId(req.params.id);
      if (id === void 0) return void res.status(400).json({ error: "the redemption id must be a decimal integer" });
      const receipt = await o.receipts.read(id, o.contract);
      if (!receipt) return void res.status(404).json({ error: `no receipt for redemption ${id}` });
      res.set("content-type", "application/json").set("x-receipt-hash", receipt.hash).send(Buffer.from(receipt.bytes));
    } catch (err) {
      next(err);
    }
  });
  app.get("/v1/redemptions", (req, res) => {
    const holder = typeof req.query.holder === "string" ? req.query.holder : void 0;
    const status = typeof req.query.status === "string" ? req.query.status : void 0;
    const limitRaw = typeof req.query.limit === "string" ? Number(req.query.limit) : 100;
    if (holder !== void 0 && !isAddress(holder, { strict: false })) return void res.status(400).json({ error: "holder must be a 0x-prefixed 20-byte address" });
    if (!Number.isInteger(limitRaw) || limitRaw < 1 || limitRaw > 1e3) return void res.status(400).json({ error: "limit must be an integer from 1 to 1000" });
    let records = holder ? o.book.ofHolder(holder) : [...o.book.all()].filter((r) => r.request).sort((a, b) => a.id < b.id ? -1 : 1);
    if (status) records = records.filter((r) => r.chain.toLowerCase() === status.toLowerCase());
    const page = records.slice(-limitRaw);
    res.json({ redemptions: page.map((r) => redemptionView(r)), total: records.length });
  });
  app.use((_req, res) => {
    res.status(404).json({ error: "not found" });
  });
  app.use((err, _req, res, _next) => {
    o.log.error({ err }, "API request failed");
    res.status(500).json({ error: "internal error" });
  });
  return app;
}
function listen(app, host, port) {
  return new Promise((resolve2, reject) => {
    const server = app.listen(port, host);
    server.once("error", reject);
    server.once("listening", () => {
      server.off("error", reject);
      resolve2({
        port: server.address().port,
        close: () => new Promise((done) => {
          server.close(() => done());
          server.closeIdleConnections();
          setTimeout(() => server.closeAllConnections(), 2e3).unref();
        })
      });
    });
  });
}

// redeemer/engine/classifyLaunchError.ts
function classifyLaunchError(err) {
  const e = err;
  const message = typeof e?.message === "string" ? e.message : String(err);
  switch (e?.name) {
    case "LocalLaunchError": {
      const reason = typeof e.reason === "string" && e.reason in REJECT_REASONS ? e.reason : "LAUNCH_FAILED";
      return { code: REJECT_REASONS[reason], reason, detail: message };
    }
    case "JobNameTaken":
      return { code: REJECT_REASONS.LAUNCH_FAILED, reason: "LAUNCH_FAILED", detail: message };
    case "KubernetesRequestRejected":
      if (e.status === 400 || e.status === 422) return { code: REJECT_REASONS.LAUNCH_FAILED, reason: "LAUNCH_FAILED", detail: `${REJECT_REASON_TEXT.LAUNCH_FAILED}: ${message}` };
      return void 0;
    default:
      return void 0;
  }
}

// redeemer/engine/redemptionEngine.ts
var RANK2 = { None: 0, Requested: 1, Running: 2, Settled: 3, Rejected: 3, Reclaimed: 3 };
var Semaphore = class {
  constructor(limit) {
    this.limit = limit;
  }
  limit;
  active = 0;
  waiting = [];
  async run(fn) {
    if (this.active >= this.limit) await new Promise((r) => this.waiting.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
};
var errorMessage = (err) => {
  const e = err;
  return typeof e?.shortMessage === "string" ? e.shortMessage : typeof e?.message === "string" ? e.message : String(err);
};
var RedemptionEngine = class {
  o;
  now;
  launches;
  chainOps;
  paused = true;
  stopped = false;
  pumpScheduled = false;
  retryTimer;
  inflight = /* @__PURE__ */ new Set();
  idleWaiters = [];
  constructor(options) {
    this.o = options;
    this.now = options.now ?? Date.now;
    this.launches = new Semaphore(options.launchConcurrency);
    this.chainOps = new Semaphore(options.txConcurrency);
  }
  /** Learn something; decisions follow (unless paused). */
  dispatch(event) {
    const before = event.type === "chainStatus" ? this.o.book.get(event.id) : void 0;
    const after = this.o.book.apply(event);
    if (event.type === "chainStatus") this.observeStatus(before, after, event);
    this.schedule();
    return after;
  }
  /** Start deciding (after the start-up rebuild has fed the history in). */
  resume() {
    this.paused = false;
    this.o.book.touchAll();
    this.schedule();
  }
  /** Resolves once nothing is in flight and nothing is due now (tests, benchmarks). */
  idle() {
    if (this.inflight.size === 0 && !this.pumpScheduled) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }
  get inflightCount() {
    return this.inflight.size;
  }
  /** Stops taking actions and waits for those in flight. */
  async stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    await Promise.allSettled([...this.inflight]);
  }
  schedule() {
    if (this.paused || this.stopped || this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => this.pump());
  }
  pump() {
    this.pumpScheduled = false;
    if (this.stopped) return;
    const now = this.now();
    for (const action of this.o.book.takeActions(now)) this.start(action, now);
    clearTimeout(this.retryTimer);
    const next = this.o.book.nextRetryAt();
    if (next !== void 0) {
      this.retryTimer = setTimeout(() => this.schedule(), Math.max(0, next - this.now()) + 5);
      this.retryTimer.unref();
    }
    this.checkIdle();
  }
  checkIdle() {
    if (this.inflight.size === 0 && !this.pumpScheduled) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }
  start(action, at) {
    this.o.book.apply({ type: "actionStarted", id: action.id, action: action.type, at });
    const run = this.execute(action).then((events) => {
      if (this.stopped) return;
      for (const e of events) this.dispatch(e);
    }).catch((err) => {
      this.o.log.error({ err, redemptionId: action.id.toString(), action: action.type }, "action crashed");
    }).finally(() => {
      this.inflight.delete(run);
      this.checkIdle();
    });
    this.inflight.add(run);
  }
  async execute(action) {
    const { id } = action;
    const log = this.o.log.child({ redemptionId: id.toString(), action: action.type });
    const failed = (operation, err, chain) => {
      const message = errorMessage(err);
      (chain ? this.o.metrics?.chainErrors : this.o.metrics?.executorErrors)?.inc({ operation });
      log.warn({ err: message }, `${operation} failed; will retry`);
      return [{ type: "actionFailed", id, action: operation, error: message, at: this.now() }];
    };
    switch (action.type) {
      case "launch":
        return this.launches.run(async () => {
          try {
            const result = await this.o.executor.launch(action.request);
            log.info({ job: result.name, alreadyExisted: result.alreadyExisted }, "job launched");
            const seen = this.o.book.get(id)?.times.seen;
            if (seen !== void 0 && !result.alreadyExisted) this.o.metrics?.launchLatency.observe(Math.max(0, this.now() - seen) / 1e3);
            return [{ type: "launched", id, result, at: this.now() }];
          } catch (err) {
            const permanent = classifyLaunchError(err);
            this.o.metrics?.executorErrors.inc({ operation: "launch" });
            log.warn({ err: errorMessage(err), permanent: permanent?.reason }, "launch failed");
            return [{ type: "launchFailed", id, error: errorMessage(err), at: this.now(), ...permanent && { permanent } }];
          }
        });
      case "probe":
        return this.launches.run(async () => {
          try {
            const state = await this.o.executor.get(id);
            return [state ? { type: "jobObserved", state, at: this.now() } : { type: "jobMissing", id, at: this.now() }];
          } catch (err) {
            return failed("probe", err, false);
          }
        });
      case "remove":
        return this.launches.run(async () => {
          try {
            await this.o.executor.remove(id);
            log.info("job removed: its redemption is over");
            return [{ type: "removed", id, at: this.now() }];
          } catch (err) {
            return failed("remove", err, false);
          }
        });
      case "lookup":
        return this.chainOp(action.type, () => this.o.settler.lookup(id), failed);
      case "markRunning":
        return this.chainOp(action.type, () => this.o.settler.markRunning(id, action.jobName), failed);
      case "settle":
        return this.chainOp(action.type, () => this.o.settler.settle(action), failed);
      case "reject":
        log.info({ reason: action.rejection.reason, code: action.rejection.code, detail: action.rejection.detail }, "rejecting");
        return this.chainOp(action.type, () => this.o.settler.reject(id, action.rejection), failed);
    }
  }
  chainOp(operation, fn, failed) {
    return this.chainOps.run(async () => {
      try {
        const event = await fn();
        const record = this.o.book.get(event.id);
        if (record && event.status !== "None" && RANK2[event.status] < RANK2[record.chain]) {
          return [event, { type: "actionFailed", id: event.id, action: operation, error: `chain reports ${event.status}, expected ${record.chain}`, at: this.now() }];
        }
        return [event];
      } catch (err) {
        return failed(operation, err, true);
      }
    });
  }
  observeStatus(before, after, event) {
    if (before?.chain === after.chain) return;
    const log = this.o.log.child({ redemptionId: after.id.toString() });
    if (event.source === "tx") {
      this.o.metrics?.transactions.inc({ call: after.chain === "Running" ? "markRunning" : after.chain === "Settled" ? "settle" : "reject" });
    }
    if (after.chain === "Settled" && after.times.finished !== void 0) {
      this.o.metrics?.settleLatency.observe(Math.max(0, event.at - after.times.finished) / 1e3);
    }
    if (after.chain === "Settled" || after.chain === "Rejected" || after.chain === "Reclaimed" || after.chain === "Running") {
      log.info(
        {
          status: after.chain,
          source: event.source,
          ...event.txHash && { tx: event.txHash },
          ...event.used !== void 0 && { used: event.used.toString() },
          ...event.refunded !== void 0 && { refunded: event.refunded.toString() },
          ...after.rejection && { reason: after.rejection.reason ?? after.rejection.code }
        },
        `redemption ${after.chain.toLowerCase()}`
      );
    }
  }
};

// redeemer/settler/receiptStore.ts
import { mkdir, open, readFile, rename } from "node:fs/promises";
import { join } from "node:path";

// sdk/redemptions.ts
init_jobSpec();
import {
  BaseError,
  ContractFunctionRevertedError,
  keccak256,
  stringToBytes
} from "viem";

// sdk/generated/abi.ts
var computeTokenAbi = [
  {
    "inputs": [
      {
        "internalType": "address",
        "name": "initialAuthority",
        "type": "address"
      },
      {
        "internalType": "uint32",
        "name": "launchTimeout_",
        "type": "uint32"
      }
    ],
    "stateMutability": "nonpayable",
    "type": "constructor"
  },
  {
    "inputs": [
      {
        "internalType": "address",
        "name": "authority",
        "type": "address"
      }
    ],
    "name": "AccessManagedInvalidAuthority",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "address",
        "name": "caller",
        "type": "address"
      },
      {
        "internalType": "uint32",
        "name": "delay",
        "type": "uint32"
      }
    ],
    "name": "AccessManagedRequiredDelay",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "address",
        "name": "caller",
        "type": "address"
      }
    ],
    "name": "AccessManagedUnauthorized",
    "type": "error"
  },
  {
    "inputs": [],
    "name": "ApprovalsDisabled",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "bytes32",
        "name": "batchRef",
        "type": "bytes32"
      }
    ],
    "name": "BatchAlreadyGranted",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "uint256",
        "name": "length",
        "type": "uint256"
      },
      {
        "internalType": "uint256",
        "name": "max",
        "type": "uint256"
      }
    ],
    "name": "BatchTooLarge",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "string",
        "name": "name",
        "type": "string"
      },
      {
        "internalType": "uint32",
        "name": "classId",
        "type": "uint32"
      }
    ],
    "name": "ClassNameTaken",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "uint32",
        "name": "classId",
        "type": "uint32"
      }
    ],
    "name": "ClassNotActive",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "uint32",
        "name": "fromClassId",
        "type": "uint32"
      },
      {
        "internalType": "uint32",
        "name": "toClassId",
        "type": "uint32"
      }
    ],
    "name": "ConversionNotAvailable",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "uint256",
        "name": "lotId",
        "type": "uint256"
      }
    ],
    "name": "DuplicateLot",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "address",
        "name": "sender",
        "type": "address"
      },
      {
        "internalType": "uint256",
        "name": "balance",
        "type": "uint256"
      },
      {
        "internalType": "uint256",
        "name": "needed",
        "type": "uint256"
      },
      {
        "internalType": "uint256",
        "name": "tokenId",
        "type": "uint256"
      }
    ],
    "name": "ERC1155InsufficientBalance",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "address",
        "name": "approver",
        "type": "address"
      }
    ],
    "name": "ERC1155InvalidApprover",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "uint256",
        "name": "idsLength",
        "type": "uint256"
      },
      {
        "internalType": "uint256",
        "name": "valuesLength",
        "type": "uint256"
      }
    ],
    "name": "ERC1155InvalidArrayLength",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "address",
        "name": "operator",
        "type": "address"
      }
    ],
    "name": "ERC1155InvalidOperator",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "address",
        "name": "receiver",
        "type": "address"
      }
    ],
    "name": "ERC1155InvalidReceiver",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "address",
        "name": "sender",
        "type": "address"
      }
    ],
    "name": "ERC1155InvalidSender",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "address",
        "name": "operator",
        "type": "address"
      },
      {
        "internalType": "address",
        "name": "owner",
        "type": "address"
      }
    ],
    "name": "ERC1155MissingApprovalForAll",
    "type": "error"
  },
  {
    "inputs": [],
    "name": "EmptyBatch",
    "type": "error"
  },
  {
    "inputs": [],
    "name": "EnforcedPause",
    "type": "error"
  },
  {
    "inputs": [],
    "name": "ExpectedPause",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "uint32",
        "name": "classId",
        "type": "uint32"
      },
      {
        "internalType": "uint16",
        "name": "gpus",
        "type": "uint16"
      },
      {
        "internalType": "uint16",
        "name": "maxGpusPerJob",
        "type": "uint16"
      }
    ],
    "name": "GpuCountOutOfRange",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "uint256",
        "name": "amountIn",
        "type": "uint256"
      },
      {
        "internalType": "uint64",
        "name": "numerator",
        "type": "uint64"
      },
      {
        "internalType": "uint64",
        "name": "denominator",
        "type": "uint64"
      }
    ],
    "name": "InexactConversion",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "uint32",
        "name": "classId",
        "type": "uint32"
      },
      {
        "internalType": "uint256",
        "name": "required",
        "type": "uint256"
      },
      {
        "internalType": "uint256",
        "name": "available",
        "type": "uint256"
      }
    ],
    "name": "InsufficientBalance",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "bytes32",
        "name": "batchRef",
        "type": "bytes32"
      }
    ],
    "name": "InvalidBatchRef",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "string",
        "name": "name",
        "type": "string"
      }
    ],
    "name": "InvalidClassName",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "uint64",
        "name": "numerator",
        "type": "uint64"
      },
      {
        "internalType": "uint64",
        "name": "denominator",
        "type": "uint64"
      }
    ],
    "name": "InvalidConversionRate",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "address",
        "name": "account",
        "type": "address"
      }
    ],
    "name": "InvalidHolder",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "uint16",
        "name": "gpus",
        "type": "uint16"
      },
      {
        "internalType": "uint32",
        "name": "seconds_",
        "type": "uint32"
      }
    ],
    "name": "InvalidJobShape",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "uint32",
        "name": "launchTimeout",
        "type": "uint32"
      }
    ],
    "name": "InvalidLaunchTimeout",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "uint256",
        "name": "lotId",
        "type": "uint256"
      }
    ],
    "name": "InvalidLotId",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "uint16",
        "name": "maxGpusPerJob",
        "type": "uint16"
      }
    ],
    "name": "InvalidMaxGpus",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "uint16",
        "name": "bps",
        "type": "uint16"
      }
    ],
    "name": "InvalidMultiplier",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "uint256",
        "name": "id",
        "type": "uint256"
      },
      {
        "internalType": "enum ComputeToken.RedemptionStatus",
        "name": "status",
        "type": "uint8"
      }
    ],
    "name": "InvalidRedemptionStatus",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "uint256",
        "name": "a",
        "type": "uint256"
      },
      {
        "internalType": "uint256",
        "name": "b",
        "type": "uint256"
      }
    ],
    "name": "LengthMismatch",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "uint256",
        "name": "lotId",
        "type": "uint256"
      },
      {
        "internalType": "uint32",
        "name": "classId",
        "type": "uint32"
      }
    ],
    "name": "LotClassMismatch",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "uint256",
        "name": "count",
        "type": "uint256"
      },
      {
        "internalType": "uint256",
        "name": "max",
        "type": "uint256"
      }
    ],
    "name": "LotCountOutOfRange",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "uint256",
        "name": "lotId",
        "type": "uint256"
      },
      {
        "internalType": "uint64",
        "name": "expiredAt",
        "type": "uint64"
      }
    ],
    "name": "LotExpired",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "uint256",
        "name": "lotId",
        "type": "uint256"
      },
      {
        "internalType": "uint64",
        "name": "expiresAt",
        "type": "uint64"
      }
    ],
    "name": "LotNotExpired",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "uint256",
        "name": "lotId",
        "type": "uint256"
      }
    ],
    "name": "LotSoulbound",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "address",
        "name": "account",
        "type": "address"
      }
    ],
    "name": "NotHolder",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "uint256",
        "name": "id",
        "type": "uint256"
      },
      {
        "internalType": "address",
        "name": "account",
        "type": "address"
      }
    ],
    "name": "NotRedemptionHolder",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "uint256",
        "name": "id",
        "type": "uint256"
      },
      {
        "internalType": "uint64",
        "name": "availableAt",
        "type": "uint64"
      }
    ],
    "name": "ReclaimTooEarly",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "uint32",
        "name": "classId",
        "type": "uint32"
      }
    ],
    "name": "SameClass",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "uint256",
        "name": "id",
        "type": "uint256"
      },
      {
        "internalType": "uint256",
        "name": "used",
        "type": "uint256"
      },
      {
        "internalType": "uint256",
        "name": "reserved",
        "type": "uint256"
      }
    ],
    "name": "SettleExceedsReserve",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "uint256",
        "name": "size",
        "type": "uint256"
      },
      {
        "internalType": "uint256",
        "name": "max",
        "type": "uint256"
      }
    ],
    "name": "SpecTooLarge",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "uint32",
        "name": "classId",
        "type": "uint32"
      },
      {
        "internalType": "uint256",
        "name": "max",
        "type": "uint256"
      }
    ],
    "name": "TooManyLots",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "uint32",
        "name": "classId",
        "type": "uint32"
      }
    ],
    "name": "UnknownClass",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "uint256",
        "name": "id",
        "type": "uint256"
      }
    ],
    "name": "UnknownRedemption",
    "type": "error"
  },
  {
    "inputs": [
      {
        "internalType": "uint256",
        "name": "index",
        "type": "uint256"
      }
    ],
    "name": "ZeroAmount",
    "type": "error"
  },
  {
    "anonymous": false,
    "inputs": [
      {
        "indexed": true,
        "internalType": "address",
        "name": "lost",
        "type": "address"
      },
      {
        "indexed": true,
        "internalType": "address",
        "name": "replacement",
        "type": "address"
      },
      {
        "indexed": false,
        "internalType": "uint256",
        "name": "lots",
        "type": "uint256"
      }
    ],
    "name": "AccountRecovered",
    "type": "event"
  },
  {
    "anonymous": false,
    "inputs": [
      {
        "indexed": true,
        "internalType": "address",
        "name": "account",
        "type": "address"
      },
      {
        "indexed": true,
        "internalType": "address",
        "name": "operator",
        "type": "address"
      },
      {
        "indexed": false,
        "internalType": "bool",
        "name": "approved",
        "type": "bool"
      }
    ],
    "name": "ApprovalForAll",
    "type": "event"
  },
  {
    "anonymous": false,
    "inputs": [
      {
        "indexed": false,
        "internalType": "address",
        "name": "authority",
        "type": "address"
      }
    ],
    "name": "AuthorityUpdated",
    "type": "event"
  },
  {
    "anonymous": false,
    "inputs": [
      {
        "indexed": true,
        "internalType": "bytes32",
        "name": "batchRef",
        "type": "bytes32"
      },
      {
        "indexed": true,
        "internalType": "address",
        "name": "operator",
        "type": "address"
      },
      {
        "indexed": false,
        "internalType": "uint256",
        "name": "recipients",
        "type": "uint256"
      },
      {
        "indexed": false,
        "internalType": "uint256",
        "name": "units",
        "type": "uint256"
      }
    ],
    "name": "BatchGranted",
    "type": "event"
  },
  {
    "anonymous": false,
    "inputs": [
      {
        "indexed": true,
        "internalType": "uint32",
        "name": "classId",
        "type": "uint32"
      },
      {
        "indexed": false,
        "internalType": "string",
        "name": "name",
        "type": "string"
      },
      {
        "indexed": false,
        "internalType": "string",
        "name": "productLabel",
        "type": "string"
      },
      {
        "indexed": false,
        "internalType": "uint32",
        "name": "memoryGiB",
        "type": "uint32"
      },
      {
        "indexed": false,
        "internalType": "uint16",
        "name": "maxGpusPerJob",
        "type": "uint16"
      }
    ],
    "name": "ClassDefined",
    "type": "event"
  },
  {
    "anonymous": false,
    "inputs": [
      {
        "indexed": true,
        "internalType": "uint32",
        "name": "classId",
        "type": "uint32"
      }
    ],
    "name": "ClassRetired",
    "type": "event"
  },
  {
    "anonymous": false,
    "inputs": [
      {
        "indexed": true,
        "internalType": "uint32",
        "name": "classId",
        "type": "uint32"
      },
      {
        "indexed": false,
        "internalType": "string",
        "name": "productLabel",
        "type": "string"
      },
      {
        "indexed": false,
        "internalType": "uint32",
        "name": "memoryGiB",
        "type": "uint32"
      },
      {
        "indexed": false,
        "internalType": "uint16",
        "name": "maxGpusPerJob",
        "type": "uint16"
      }
    ],
    "name": "ClassUpdated",
    "type": "event"
  },
  {
    "anonymous": false,
    "inputs": [
      {
        "indexed": true,
        "internalType": "address",
        "name": "holder",
        "type": "address"
      },
      {
        "indexed": true,
        "internalType": "uint256",
        "name": "lotId",
        "type": "uint256"
      },
      {
        "indexed": false,
        "internalType": "uint256",
        "name": "amount",
        "type": "uint256"
      }
    ],
    "name": "ClawedBack",
    "type": "event"
  },
  {
    "anonymous": false,
    "inputs": [
      {
        "indexed": true,
        "internalType": "uint32",
        "name": "fromClassId",
        "type": "uint32"
      },
      {
        "indexed": true,
        "internalType": "uint32",
        "name": "toClassId",
        "type": "uint32"
      },
      {
        "indexed": false,
        "internalType": "uint64",
        "name": "numerator",
        "type": "uint64"
      },
      {
        "indexed": false,
        "internalType": "uint64",
        "name": "denominator",
        "type": "uint64"
      }
    ],
    "name": "ConversionRateSet",
    "type": "event"
  },
  {
    "anonymous": false,
    "inputs": [
      {
        "indexed": true,
        "internalType": "address",
        "name": "holder",
        "type": "address"
      },
      {
        "indexed": true,
        "internalType": "uint256",
        "name": "fromLotId",
        "type": "uint256"
      },
      {
        "indexed": true,
        "internalType": "uint256",
        "name": "toLotId",
        "type": "uint256"
      },
      {
        "indexed": false,
        "internalType": "uint256",
        "name": "amountIn",
        "type": "uint256"
      },
      {
        "indexed": false,
        "internalType": "uint256",
        "name": "amountOut",
        "type": "uint256"
      }
    ],
    "name": "Converted",
    "type": "event"
  },
  {
    "anonymous": false,
    "inputs": [
      {
        "indexed": true,
        "internalType": "address",
        "name": "holder",
        "type": "address"
      },
      {
        "indexed": true,
        "internalType": "uint256",
        "name": "lotId",
        "type": "uint256"
      },
      {
        "indexed": false,
        "internalType": "uint256",
        "name": "amount",
        "type": "uint256"
      }
    ],
    "name": "Expired",
    "type": "event"
  },
  {
    "anonymous": false,
    "inputs": [
      {
        "indexed": true,
        "internalType": "address",
        "name": "account",
        "type": "address"
      }
    ],
    "name": "HolderOffboarded",
    "type": "event"
  },
  {
    "anonymous": false,
    "inputs": [
      {
        "indexed": true,
        "internalType": "address",
        "name": "account",
        "type": "address"
      }
    ],
    "name": "HolderOnboarded",
    "type": "event"
  },
  {
    "anonymous": false,
    "inputs": [
      {
        "indexed": false,
        "internalType": "uint32",
        "name": "launchTimeout",
        "type": "uint32"
      }
    ],
    "name": "LaunchTimeoutSet",
    "type": "event"
  },
  {
    "anonymous": false,
    "inputs": [
      {
        "indexed": true,
        "internalType": "uint256",
        "name": "lotId",
        "type": "uint256"
      },
      {
        "indexed": true,
        "internalType": "uint32",
        "name": "classId",
        "type": "uint32"
      },
      {
        "indexed": false,
        "internalType": "uint64",
        "name": "expiresAt",
        "type": "uint64"
      },
      {
        "indexed": false,
        "internalType": "enum LotIds.TransferPolicy",
        "name": "policy",
        "type": "uint8"
      }
    ],
    "name": "LotRegistered",
    "type": "event"
  },
  {
    "anonymous": false,
    "inputs": [
      {
        "indexed": false,
        "internalType": "address",
        "name": "account",
        "type": "address"
      }
    ],
    "name": "Paused",
    "type": "event"
  },
  {
    "anonymous": false,
    "inputs": [
      {
        "indexed": true,
        "internalType": "enum ComputeToken.Priority",
        "name": "priority",
        "type": "uint8"
      },
      {
        "indexed": false,
        "internalType": "uint16",
        "name": "bps",
        "type": "uint16"
      }
    ],
    "name": "PriorityMultiplierSet",
    "type": "event"
  },
  {
    "anonymous": false,
    "inputs": [
      {
        "indexed": true,
        "internalType": "uint256",
        "name": "id",
        "type": "uint256"
      },
      {
        "indexed": true,
        "internalType": "address",
        "name": "holder",
        "type": "address"
      },
      {
        "indexed": false,
        "internalType": "uint256",
        "name": "refunded",
        "type": "uint256"
      }
    ],
    "name": "RedemptionReclaimed",
    "type": "event"
  },
  {
    "anonymous": false,
    "inputs": [
      {
        "indexed": true,
        "internalType": "uint256",
        "name": "id",
        "type": "uint256"
      },
      {
        "indexed": true,
        "internalType": "address",
        "name": "holder",
        "type": "address"
      },
      {
        "indexed": false,
        "internalType": "uint16",
        "name": "reasonCode",
        "type": "uint16"
      },
      {
        "indexed": false,
        "internalType": "uint256",
        "name": "refunded",
        "type": "uint256"
      }
    ],
    "name": "RedemptionRejected",
    "type": "event"
  },
  {
    "anonymous": false,
    "inputs": [
      {
        "indexed": true,
        "internalType": "uint256",
        "name": "id",
        "type": "uint256"
      },
      {
        "indexed": true,
        "internalType": "address",
        "name": "holder",
        "type": "address"
      },
      {
        "indexed": true,
        "internalType": "uint32",
        "name": "classId",
        "type": "uint32"
      },
      {
        "indexed": false,
        "internalType": "enum ComputeToken.Priority",
        "name": "priority",
        "type": "uint8"
      },
      {
        "indexed": false,
        "internalType": "uint16",
        "name": "gpus",
        "type": "uint16"
      },
      {
        "indexed": false,
        "internalType": "uint32",
        "name": "seconds_",
        "type": "uint32"
      },
      {
        "indexed": false,
        "internalType": "uint256",
        "name": "reserved",
        "type": "uint256"
      },
      {
        "indexed": false,
        "internalType": "bytes32",
        "name": "specHash",
        "type": "bytes32"
      },
      {
        "indexed": false,
        "internalType": "bytes",
        "name": "spec",
        "type": "bytes"
      }
    ],
    "name": "RedemptionRequested",
    "type": "event"
  },
  {
    "anonymous": false,
    "inputs": [
      {
        "indexed": true,
        "internalType": "uint256",
        "name": "id",
        "type": "uint256"
      },
      {
        "indexed": false,
        "internalType": "bytes32",
        "name": "jobRef",
        "type": "bytes32"
      }
    ],
    "name": "RedemptionRunning",
    "type": "event"
  },
  {
    "anonymous": false,
    "inputs": [
      {
        "indexed": true,
        "internalType": "uint256",
        "name": "id",
        "type": "uint256"
      },
      {
        "indexed": true,
        "internalType": "address",
        "name": "holder",
        "type": "address"
      },
      {
        "indexed": false,
        "internalType": "uint256",
        "name": "used",
        "type": "uint256"
      },
      {
        "indexed": false,
        "internalType": "uint256",
        "name": "refunded",
        "type": "uint256"
      },
      {
        "indexed": false,
        "internalType": "bytes32",
        "name": "receiptHash",
        "type": "bytes32"
      }
    ],
    "name": "RedemptionSettled",
    "type": "event"
  },
  {
    "anonymous": false,
    "inputs": [
      {
        "indexed": true,
        "internalType": "address",
        "name": "operator",
        "type": "address"
      },
      {
        "indexed": true,
        "internalType": "address",
        "name": "from",
        "type": "address"
      },
      {
        "indexed": true,
        "internalType": "address",
        "name": "to",
        "type": "address"
      },
      {
        "indexed": false,
        "internalType": "uint256[]",
        "name": "ids",
        "type": "uint256[]"
      },
      {
        "indexed": false,
        "internalType": "uint256[]",
        "name": "values",
        "type": "uint256[]"
      }
    ],
    "name": "TransferBatch",
    "type": "event"
  },
  {
    "anonymous": false,
    "inputs": [
      {
        "indexed": true,
        "internalType": "address",
        "name": "operator",
        "type": "address"
      },
      {
        "indexed": true,
        "internalType": "address",
        "name": "from",
        "type": "address"
      },
      {
        "indexed": true,
        "internalType": "address",
        "name": "to",
        "type": "address"
      },
      {
        "indexed": false,
        "internalType": "uint256",
        "name": "id",
        "type": "uint256"
      },
      {
        "indexed": false,
        "internalType": "uint256",
        "name": "value",
        "type": "uint256"
      }
    ],
    "name": "TransferSingle",
    "type": "event"
  },
  {
    "anonymous": false,
    "inputs": [
      {
        "indexed": false,
        "internalType": "string",
        "name": "value",
        "type": "string"
      },
      {
        "indexed": true,
        "internalType": "uint256",
        "name": "id",
        "type": "uint256"
      }
    ],
    "name": "URI",
    "type": "event"
  },
  {
    "anonymous": false,
    "inputs": [
      {
        "indexed": false,
        "internalType": "address",
        "name": "account",
        "type": "address"
      }
    ],
    "name": "Unpaused",
    "type": "event"
  },
  {
    "inputs": [],
    "name": "MAX_BATCH",
    "outputs": [
      {
        "internalType": "uint256",
        "name": "",
        "type": "uint256"
      }
    ],
    "stateMutability": "view",
    "type": "function"
  },
  {
    "inputs": [],
    "name": "MAX_LOTS_PER_CLASS",
    "outputs": [
      {
        "internalType": "uint256",
        "name": "",
        "type": "uint256"
      }
    ],
    "stateMutability": "view",
    "type": "function"
  },
  {
    "inputs": [],
    "name": "MAX_MULTIPLIER_BPS",
    "outputs": [
      {
        "internalType": "uint16",
        "name": "",
        "type": "uint16"
      }
    ],
    "stateMutability": "view",
    "type": "function"
  },
  {
    "inputs": [],
    "name": "MAX_REDEMPTION_LOTS",
    "outputs": [
      {
        "internalType": "uint256",
        "name": "",
        "type": "uint256"
      }
    ],
    "stateMutability": "view",
    "type": "function"
  },
  {
    "inputs": [],
    "name": "MAX_SPEC_BYTES",
    "outputs": [
      {
        "internalType": "uint256",
        "name": "",
        "type": "uint256"
      }
    ],
    "stateMutability": "view",
    "type": "function"
  },
  {
    "inputs": [],
    "name": "MIN_MULTIPLIER_BPS",
    "outputs": [
      {
        "internalType": "uint16",
        "name": "",
        "type": "uint16"
      }
    ],
    "stateMutability": "view",
    "type": "function"
  },
  {
    "inputs": [],
    "name": "authority",
    "outputs": [
      {
        "internalType": "address",
        "name": "",
        "type": "address"
      }
    ],
    "stateMutability": "view",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "address",
        "name": "account",
        "type": "address"
      },
      {
        "internalType": "uint256",
        "name": "id",
        "type": "uint256"
      }
    ],
    "name": "balanceOf",
    "outputs": [
      {
        "internalType": "uint256",
        "name": "",
        "type": "uint256"
      }
    ],
    "stateMutability": "view",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "address[]",
        "name": "accounts",
        "type": "address[]"
      },
      {
        "internalType": "uint256[]",
        "name": "ids",
        "type": "uint256[]"
      }
    ],
    "name": "balanceOfBatch",
    "outputs": [
      {
        "internalType": "uint256[]",
        "name": "",
        "type": "uint256[]"
      }
    ],
    "stateMutability": "view",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "bytes32",
        "name": "batchRef",
        "type": "bytes32"
      }
    ],
    "name": "batchGranted",
    "outputs": [
      {
        "internalType": "bool",
        "name": "",
        "type": "bool"
      }
    ],
    "stateMutability": "view",
    "type": "function"
  },
  {
    "inputs": [],
    "name": "classCount",
    "outputs": [
      {
        "internalType": "uint32",
        "name": "",
        "type": "uint32"
      }
    ],
    "stateMutability": "view",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "string",
        "name": "name",
        "type": "string"
      }
    ],
    "name": "classIdOf",
    "outputs": [
      {
        "internalType": "uint32",
        "name": "",
        "type": "uint32"
      }
    ],
    "stateMutability": "view",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "address",
        "name": "holder",
        "type": "address"
      },
      {
        "internalType": "uint256[]",
        "name": "lotIds",
        "type": "uint256[]"
      }
    ],
    "name": "clawback",
    "outputs": [],
    "stateMutability": "nonpayable",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "uint32",
        "name": "fromClassId",
        "type": "uint32"
      },
      {
        "internalType": "uint32",
        "name": "toClassId",
        "type": "uint32"
      }
    ],
    "name": "conversionRate",
    "outputs": [
      {
        "internalType": "uint64",
        "name": "numerator",
        "type": "uint64"
      },
      {
        "internalType": "uint64",
        "name": "denominator",
        "type": "uint64"
      }
    ],
    "stateMutability": "view",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "uint256",
        "name": "lotId",
        "type": "uint256"
      },
      {
        "internalType": "uint256",
        "name": "amount",
        "type": "uint256"
      },
      {
        "internalType": "uint32",
        "name": "toClassId",
        "type": "uint32"
      }
    ],
    "name": "convert",
    "outputs": [
      {
        "internalType": "uint256",
        "name": "toLotId",
        "type": "uint256"
      },
      {
        "internalType": "uint256",
        "name": "amountOut",
        "type": "uint256"
      }
    ],
    "stateMutability": "nonpayable",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "uint256",
        "name": "lotId",
        "type": "uint256"
      }
    ],
    "name": "decodeLotId",
    "outputs": [
      {
        "internalType": "uint32",
        "name": "classId",
        "type": "uint32"
      },
      {
        "internalType": "uint64",
        "name": "expiresAt",
        "type": "uint64"
      },
      {
        "internalType": "enum LotIds.TransferPolicy",
        "name": "policy",
        "type": "uint8"
      }
    ],
    "stateMutability": "pure",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "string",
        "name": "name",
        "type": "string"
      },
      {
        "internalType": "string",
        "name": "productLabel",
        "type": "string"
      },
      {
        "internalType": "uint32",
        "name": "memoryGiB",
        "type": "uint32"
      },
      {
        "internalType": "uint16",
        "name": "maxGpusPerJob",
        "type": "uint16"
      }
    ],
    "name": "defineClass",
    "outputs": [
      {
        "internalType": "uint32",
        "name": "classId",
        "type": "uint32"
      }
    ],
    "stateMutability": "nonpayable",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "uint32",
        "name": "classId",
        "type": "uint32"
      },
      {
        "internalType": "uint64",
        "name": "expiresAt",
        "type": "uint64"
      },
      {
        "internalType": "enum LotIds.TransferPolicy",
        "name": "policy",
        "type": "uint8"
      }
    ],
    "name": "encodeLotId",
    "outputs": [
      {
        "internalType": "uint256",
        "name": "",
        "type": "uint256"
      }
    ],
    "stateMutability": "pure",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "uint256",
        "name": "id",
        "type": "uint256"
      }
    ],
    "name": "exists",
    "outputs": [
      {
        "internalType": "bool",
        "name": "",
        "type": "bool"
      }
    ],
    "stateMutability": "view",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "uint32",
        "name": "classId",
        "type": "uint32"
      }
    ],
    "name": "getClass",
    "outputs": [
      {
        "internalType": "string",
        "name": "name",
        "type": "string"
      },
      {
        "internalType": "string",
        "name": "productLabel",
        "type": "string"
      },
      {
        "internalType": "uint32",
        "name": "memoryGiB",
        "type": "uint32"
      },
      {
        "internalType": "uint16",
        "name": "maxGpusPerJob",
        "type": "uint16"
      },
      {
        "internalType": "bool",
        "name": "active",
        "type": "bool"
      }
    ],
    "stateMutability": "view",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "uint256",
        "name": "id",
        "type": "uint256"
      }
    ],
    "name": "getRedemption",
    "outputs": [
      {
        "components": [
          {
            "internalType": "address",
            "name": "holder",
            "type": "address"
          },
          {
            "internalType": "uint32",
            "name": "classId",
            "type": "uint32"
          },
          {
            "internalType": "enum ComputeToken.Priority",
            "name": "priority",
            "type": "uint8"
          },
          {
            "internalType": "uint16",
            "name": "gpus",
            "type": "uint16"
          },
          {
            "internalType": "enum ComputeToken.RedemptionStatus",
            "name": "status",
            "type": "uint8"
          },
          {
            "internalType": "uint32",
            "name": "requestedAt",
            "type": "uint32"
          },
          {
            "internalType": "uint256",
            "name": "reserved",
            "type": "uint256"
          },
          {
            "internalType": "uint256",
            "name": "used",
            "type": "uint256"
          },
          {
            "internalType": "bytes32",
            "name": "specHash",
            "type": "bytes32"
          },
          {
            "internalType": "uint256[]",
            "name": "lotIds",
            "type": "uint256[]"
          },
          {
            "internalType": "uint256[]",
            "name": "amounts",
            "type": "uint256[]"
          }
        ],
        "internalType": "struct ComputeToken.RedemptionView",
        "name": "v",
        "type": "tuple"
      }
    ],
    "stateMutability": "view",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "bytes32",
        "name": "batchRef",
        "type": "bytes32"
      },
      {
        "internalType": "address[]",
        "name": "recipients",
        "type": "address[]"
      },
      {
        "internalType": "uint256[]",
        "name": "lotIds",
        "type": "uint256[]"
      },
      {
        "internalType": "uint256[]",
        "name": "amounts",
        "type": "uint256[]"
      }
    ],
    "name": "grantBatch",
    "outputs": [],
    "stateMutability": "nonpayable",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "address",
        "name": "account",
        "type": "address"
      },
      {
        "internalType": "address",
        "name": "operator",
        "type": "address"
      }
    ],
    "name": "isApprovedForAll",
    "outputs": [
      {
        "internalType": "bool",
        "name": "",
        "type": "bool"
      }
    ],
    "stateMutability": "view",
    "type": "function"
  },
  {
    "inputs": [],
    "name": "isConsumingScheduledOp",
    "outputs": [
      {
        "internalType": "bytes4",
        "name": "",
        "type": "bytes4"
      }
    ],
    "stateMutability": "view",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "address",
        "name": "account",
        "type": "address"
      }
    ],
    "name": "isHolder",
    "outputs": [
      {
        "internalType": "bool",
        "name": "",
        "type": "bool"
      }
    ],
    "stateMutability": "view",
    "type": "function"
  },
  {
    "inputs": [],
    "name": "launchTimeout",
    "outputs": [
      {
        "internalType": "uint32",
        "name": "",
        "type": "uint32"
      }
    ],
    "stateMutability": "view",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "uint256",
        "name": "lotId",
        "type": "uint256"
      }
    ],
    "name": "lotRegistered",
    "outputs": [
      {
        "internalType": "bool",
        "name": "",
        "type": "bool"
      }
    ],
    "stateMutability": "view",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "uint32",
        "name": "classId",
        "type": "uint32"
      }
    ],
    "name": "lotsOfClass",
    "outputs": [
      {
        "internalType": "uint256[]",
        "name": "",
        "type": "uint256[]"
      }
    ],
    "stateMutability": "view",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "uint256",
        "name": "id",
        "type": "uint256"
      },
      {
        "internalType": "bytes32",
        "name": "jobRef",
        "type": "bytes32"
      }
    ],
    "name": "markRunning",
    "outputs": [],
    "stateMutability": "nonpayable",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "address",
        "name": "account",
        "type": "address"
      }
    ],
    "name": "offboard",
    "outputs": [],
    "stateMutability": "nonpayable",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "address[]",
        "name": "accounts",
        "type": "address[]"
      }
    ],
    "name": "onboard",
    "outputs": [],
    "stateMutability": "nonpayable",
    "type": "function"
  },
  {
    "inputs": [],
    "name": "pause",
    "outputs": [],
    "stateMutability": "nonpayable",
    "type": "function"
  },
  {
    "inputs": [],
    "name": "paused",
    "outputs": [
      {
        "internalType": "bool",
        "name": "",
        "type": "bool"
      }
    ],
    "stateMutability": "view",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "enum ComputeToken.Priority",
        "name": "priority",
        "type": "uint8"
      }
    ],
    "name": "priorityMultiplier",
    "outputs": [
      {
        "internalType": "uint16",
        "name": "",
        "type": "uint16"
      }
    ],
    "stateMutability": "view",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "uint256",
        "name": "id",
        "type": "uint256"
      }
    ],
    "name": "reclaim",
    "outputs": [],
    "stateMutability": "nonpayable",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "address",
        "name": "lost",
        "type": "address"
      },
      {
        "internalType": "address",
        "name": "replacement",
        "type": "address"
      },
      {
        "internalType": "uint256[]",
        "name": "lotIds",
        "type": "uint256[]"
      }
    ],
    "name": "recover",
    "outputs": [],
    "stateMutability": "nonpayable",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "uint32",
        "name": "classId",
        "type": "uint32"
      },
      {
        "internalType": "uint256[]",
        "name": "lotIds",
        "type": "uint256[]"
      },
      {
        "internalType": "uint16",
        "name": "gpus",
        "type": "uint16"
      },
      {
        "internalType": "uint32",
        "name": "seconds_",
        "type": "uint32"
      },
      {
        "internalType": "enum ComputeToken.Priority",
        "name": "priority",
        "type": "uint8"
      },
      {
        "internalType": "bytes",
        "name": "spec",
        "type": "bytes"
      }
    ],
    "name": "redeem",
    "outputs": [
      {
        "internalType": "uint256",
        "name": "id",
        "type": "uint256"
      }
    ],
    "stateMutability": "nonpayable",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "address",
        "name": "holder",
        "type": "address"
      },
      {
        "internalType": "uint32",
        "name": "classId",
        "type": "uint32"
      }
    ],
    "name": "redeemableBalanceOf",
    "outputs": [
      {
        "internalType": "uint256",
        "name": "total",
        "type": "uint256"
      }
    ],
    "stateMutability": "view",
    "type": "function"
  },
  {
    "inputs": [],
    "name": "redemptionCount",
    "outputs": [
      {
        "internalType": "uint256",
        "name": "",
        "type": "uint256"
      }
    ],
    "stateMutability": "view",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "uint256",
        "name": "id",
        "type": "uint256"
      },
      {
        "internalType": "uint16",
        "name": "reasonCode",
        "type": "uint16"
      }
    ],
    "name": "reject",
    "outputs": [],
    "stateMutability": "nonpayable",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "uint32",
        "name": "classId",
        "type": "uint32"
      }
    ],
    "name": "retireClass",
    "outputs": [],
    "stateMutability": "nonpayable",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "address",
        "name": "from",
        "type": "address"
      },
      {
        "internalType": "address",
        "name": "to",
        "type": "address"
      },
      {
        "internalType": "uint256[]",
        "name": "ids",
        "type": "uint256[]"
      },
      {
        "internalType": "uint256[]",
        "name": "values",
        "type": "uint256[]"
      },
      {
        "internalType": "bytes",
        "name": "data",
        "type": "bytes"
      }
    ],
    "name": "safeBatchTransferFrom",
    "outputs": [],
    "stateMutability": "nonpayable",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "address",
        "name": "from",
        "type": "address"
      },
      {
        "internalType": "address",
        "name": "to",
        "type": "address"
      },
      {
        "internalType": "uint256",
        "name": "id",
        "type": "uint256"
      },
      {
        "internalType": "uint256",
        "name": "value",
        "type": "uint256"
      },
      {
        "internalType": "bytes",
        "name": "data",
        "type": "bytes"
      }
    ],
    "name": "safeTransferFrom",
    "outputs": [],
    "stateMutability": "nonpayable",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "address",
        "name": "",
        "type": "address"
      },
      {
        "internalType": "bool",
        "name": "",
        "type": "bool"
      }
    ],
    "name": "setApprovalForAll",
    "outputs": [],
    "stateMutability": "pure",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "address",
        "name": "newAuthority",
        "type": "address"
      }
    ],
    "name": "setAuthority",
    "outputs": [],
    "stateMutability": "nonpayable",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "uint32",
        "name": "fromClassId",
        "type": "uint32"
      },
      {
        "internalType": "uint32",
        "name": "toClassId",
        "type": "uint32"
      },
      {
        "internalType": "uint64",
        "name": "numerator",
        "type": "uint64"
      },
      {
        "internalType": "uint64",
        "name": "denominator",
        "type": "uint64"
      }
    ],
    "name": "setConversionRate",
    "outputs": [],
    "stateMutability": "nonpayable",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "uint32",
        "name": "launchTimeout_",
        "type": "uint32"
      }
    ],
    "name": "setLaunchTimeout",
    "outputs": [],
    "stateMutability": "nonpayable",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "enum ComputeToken.Priority",
        "name": "priority",
        "type": "uint8"
      },
      {
        "internalType": "uint16",
        "name": "bps",
        "type": "uint16"
      }
    ],
    "name": "setPriorityMultiplier",
    "outputs": [],
    "stateMutability": "nonpayable",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "uint256",
        "name": "id",
        "type": "uint256"
      },
      {
        "internalType": "uint256",
        "name": "used",
        "type": "uint256"
      },
      {
        "internalType": "bytes32",
        "name": "receiptHash",
        "type": "bytes32"
      }
    ],
    "name": "settle",
    "outputs": [],
    "stateMutability": "nonpayable",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "bytes4",
        "name": "interfaceId",
        "type": "bytes4"
      }
    ],
    "name": "supportsInterface",
    "outputs": [
      {
        "internalType": "bool",
        "name": "",
        "type": "bool"
      }
    ],
    "stateMutability": "view",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "address",
        "name": "holder",
        "type": "address"
      },
      {
        "internalType": "uint256[]",
        "name": "lotIds",
        "type": "uint256[]"
      }
    ],
    "name": "sweepExpired",
    "outputs": [],
    "stateMutability": "nonpayable",
    "type": "function"
  },
  {
    "inputs": [],
    "name": "totalSupply",
    "outputs": [
      {
        "internalType": "uint256",
        "name": "",
        "type": "uint256"
      }
    ],
    "stateMutability": "view",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "uint256",
        "name": "id",
        "type": "uint256"
      }
    ],
    "name": "totalSupply",
    "outputs": [
      {
        "internalType": "uint256",
        "name": "",
        "type": "uint256"
      }
    ],
    "stateMutability": "view",
    "type": "function"
  },
  {
    "inputs": [],
    "name": "unpause",
    "outputs": [],
    "stateMutability": "nonpayable",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "uint32",
        "name": "classId",
        "type": "uint32"
      },
      {
        "internalType": "string",
        "name": "productLabel",
        "type": "string"
      },
      {
        "internalType": "uint32",
        "name": "memoryGiB",
        "type": "uint32"
      },
      {
        "internalType": "uint16",
        "name": "maxGpusPerJob",
        "type": "uint16"
      }
    ],
    "name": "updateClass",
    "outputs": [],
    "stateMutability": "nonpayable",
    "type": "function"
  },
  {
    "inputs": [
      {
        "internalType": "uint256",
        "name": "lotId",
        "type": "uint256"
      }
    ],
    "name": "uri",
    "outputs": [
      {
        "internalType": "string",
        "name": "",
        "type": "string"
      }
    ],
    "stateMutability": "view",
    "type": "function"
  }
];

// sdk/redemptions.ts
var REDEMPTION_STATUSES = ["None", "Requested", "Running", "Settled", "Rejected", "Reclaimed"];
var statusName = (index) => {
  const name = REDEMPTION_STATUSES[index];
  if (name === void 0) throw new RangeError(`unknown redemption status ${index}`);
  return name;
};
var UnknownRedemptionError = class extends Error {
  constructor(id) {
    super(`redemption ${id} does not exist`);
    this.id = id;
  }
  id;
  name = "UnknownRedemptionError";
};
var RedemptionStatusConflict = class extends Error {
  constructor(id, status) {
    super(`redemption ${id} is ${status}`);
    this.id = id;
    this.status = status;
  }
  id;
  status;
  name = "RedemptionStatusConflict";
};
var SettleExceedsReserveError = class extends Error {
  constructor(id, used, reserved) {
    super(`redemption ${id}: cannot settle ${used} units, only ${reserved} are reserved`);
    this.id = id;
    this.used = used;
    this.reserved = reserved;
  }
  id;
  used;
  reserved;
  name = "SettleExceedsReserveError";
};
var NotRedeemerError = class extends Error {
  constructor(account) {
    super(`${account ?? "the caller"} may not move redemptions: it does not hold the REDEEMER role`);
    this.account = account;
  }
  account;
  name = "NotRedeemerError";
};
var RedemptionTxReverted = class extends Error {
  constructor(hash) {
    super(`transaction ${hash} reverted`);
    this.hash = hash;
  }
  hash;
  name = "RedemptionTxReverted";
};
function redemptionErrorFrom(err, context = {}) {
  if (!(err instanceof BaseError)) return err;
  const revert = err.walk((e) => e instanceof ContractFunctionRevertedError);
  const name = revert?.data?.errorName;
  const args = revert?.data?.args ?? [];
  switch (name) {
    case "UnknownRedemption":
      return new UnknownRedemptionError(args[0]);
    case "InvalidRedemptionStatus":
      return new RedemptionStatusConflict(args[0], statusName(Number(args[1])));
    case "SettleExceedsReserve":
      return new SettleExceedsReserveError(args[0], args[1], args[2]);
    case "AccessManagedUnauthorized":
      return new NotRedeemerError(args[0] ?? context.account);
    default:
      return err;
  }
}
async function getRedemption(ctx, id, options = {}) {
  let v;
  try {
    v = await ctx.publicClient.readContract({
      address: ctx.address,
      abi: computeTokenAbi,
      functionName: "getRedemption",
      args: [id],
      ...options.blockNumber !== void 0 && { blockNumber: options.blockNumber }
    });
  } catch (err) {
    const mapped = redemptionErrorFrom(err);
    if (mapped instanceof UnknownRedemptionError) return void 0;
    throw mapped;
  }
  return {
    id,
    holder: v.holder,
    classId: v.classId,
    priority: PRIORITIES[v.priority],
    gpus: v.gpus,
    status: statusName(v.status),
    requestedAt: v.requestedAt,
    reserved: v.reserved,
    used: v.used,
    specHash: v.specHash,
    lotIds: v.lotIds,
    amounts: v.amounts
  };
}
async function estimateRedemptionCall(ctx, call) {
  try {
    return await ctx.publicClient.estimateContractGas({
      address: ctx.address,
      abi: computeTokenAbi,
      functionName: call.functionName,
      args: call.args,
      account: ctx.walletClient.account
    });
  } catch (err) {
    throw redemptionErrorFrom(err, { id: call.args[0], account: ctx.walletClient.account.address });
  }
}
async function sendRedemptionCall(ctx, call, overrides = {}) {
  try {
    return await ctx.walletClient.writeContract({
      address: ctx.address,
      abi: computeTokenAbi,
      functionName: call.functionName,
      args: call.args,
      chain: ctx.walletClient.chain,
      account: ctx.walletClient.account,
      ...overrides.nonce !== void 0 && { nonce: overrides.nonce },
      ...overrides.gas !== void 0 && { gas: overrides.gas }
    });
  } catch (err) {
    throw redemptionErrorFrom(err, { id: call.args[0], account: ctx.walletClient.account.address });
  }
}
async function waitForRedemptionCall(ctx, hash, options = {}) {
  const receipt = await ctx.publicClient.waitForTransactionReceipt({
    hash,
    ...options.timeoutMs !== void 0 && { timeout: options.timeoutMs },
    ...options.pollingIntervalMs !== void 0 && { pollingInterval: options.pollingIntervalMs }
  });
  if (receipt.status !== "success") throw new RedemptionTxReverted(hash);
  return receipt;
}
var jobRefFor = (executorKind, jobName) => keccak256(stringToBytes(`${executorKind}:${jobName}`));
var receiptHashOf = (bytes) => keccak256(bytes);

// redeemer/settler/receipt.ts
init_jobSpec();
var RECEIPT_VERSION = 1;
function buildReceipt({ chainId, contract, executorKind, request, job, used, now }) {
  const last = job.segments.at(-1);
  return {
    version: RECEIPT_VERSION,
    chainId,
    contract,
    redemptionId: request.id.toString(),
    holder: request.holder,
    className: request.hardwareClass?.name ?? null,
    gpuProduct: last?.gpuProduct ?? request.hardwareClass?.productLabel ?? null,
    priority: PRIORITIES[request.priority] ?? String(request.priority),
    executor: executorKind,
    jobName: job.name,
    node: last?.node ?? null,
    phase: job.phase,
    exitCode: job.exitCode ?? null,
    reason: job.reason ?? null,
    segments: job.segments.map((s) => ({ start: s.start, end: s.end ?? null, node: s.node ?? null, gpuProduct: s.gpuProduct ?? null })),
    gpus: request.gpus,
    allottedSeconds: request.seconds,
    gpuSeconds: Number(wholeGpuSeconds(job.gpuSeconds)),
    multiplierBps: request.multiplierBps,
    reservedUnits: request.reserved.toString(),
    usedUnits: used.toString(),
    refundedUnits: (request.reserved - used).toString(),
    issuedAt: now.toISOString()
  };
}
function encodeReceipt(receipt) {
  return new TextEncoder().encode(`${JSON.stringify(receipt, null, 2)}
`);
}

// redeemer/settler/receiptStore.ts
var ReceiptStore = class {
  constructor(dir) {
    this.dir = dir;
  }
  dir;
  pathOf(id) {
    return join(this.dir, `${id.toString()}.json`);
  }
  async init() {
    await mkdir(this.dir, { recursive: true });
  }
  /** The stored receipt of a redemption of this contract, or undefined. */
  async read(id, contract) {
    const path = this.pathOf(id);
    let bytes;
    try {
      bytes = new Uint8Array(await readFile(path));
    } catch (err) {
      if (err.code === "ENOENT") return void 0;
      throw err;
    }
    let receipt;
    try {
      receipt = JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      return void 0;
    }
    if (receipt.redemptionId !== id.toString()) return void 0;
    if (contract && receipt.contract?.toLowerCase() !== contract.toLowerCase()) return void 0;
    return { receipt, bytes, hash: receiptHashOf(bytes), path };
  }
  /** Writes the receipt unless one for this redemption is already there; returns what is on disk. */
  async writeOnce(id, receipt) {
    const existing = await this.read(id, receipt.contract);
    if (existing) return existing;
    const bytes = encodeReceipt(receipt);
    const path = this.pathOf(id);
    const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
    const handle = await open(tmp, "w");
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
    return { receipt, bytes, hash: receiptHashOf(bytes), path };
  }
};

// redeemer/settler/settler.ts
var Settler = class {
  constructor(opts) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
  }
  opts;
  now;
  /** The chain status of a redemption, as an event. */
  async lookup(id) {
    const r = await getRedemption(this.opts.chain, id);
    return this.found(id, r);
  }
  async markRunning(id, jobName) {
    const r = await getRedemption(this.opts.chain, id);
    if (r?.status !== "Requested") return this.found(id, r);
    const jobRef = jobRefFor(this.opts.executorKind, jobName);
    const sent = await this.sendOrFound(id, () => this.opts.sender.send({ functionName: "markRunning", args: [id, jobRef] }));
    if ("type" in sent) return sent;
    this.opts.onTransaction?.("markRunning", id, sent.hash);
    return { type: "chainStatus", id, status: "Running", at: this.now(), source: "tx", txHash: sent.hash, jobRef };
  }
  async settle(action) {
    const { id } = action;
    const r = await getRedemption(this.opts.chain, id);
    if (r?.status !== "Running") return this.found(id, r);
    const stored = await this.opts.receipts.writeOnce(
      id,
      buildReceipt({
        chainId: this.opts.chainId,
        contract: this.opts.contract,
        executorKind: this.opts.executorKind,
        request: action.request,
        job: action.job,
        used: action.used,
        now: new Date(this.now())
      })
    );
    const used = BigInt(stored.receipt.usedUnits);
    if (used > r.reserved) throw new SettleExceedsReserveError(id, used, r.reserved);
    const sent = await this.sendOrFound(id, () => this.opts.sender.send({ functionName: "settle", args: [id, used, stored.hash] }));
    if ("type" in sent) return sent;
    this.opts.onTransaction?.("settle", id, sent.hash);
    return {
      type: "chainStatus",
      id,
      status: "Settled",
      at: this.now(),
      source: "tx",
      txHash: sent.hash,
      used,
      refunded: r.reserved - used,
      receiptHash: stored.hash
    };
  }
  async reject(id, rejection) {
    const r = await getRedemption(this.opts.chain, id);
    if (r?.status !== "Requested" && r?.status !== "Running") return this.found(id, r);
    const sent = await this.sendOrFound(id, () => this.opts.sender.send({ functionName: "reject", args: [id, rejection.code] }));
    if ("type" in sent) return sent;
    this.opts.onTransaction?.("reject", id, sent.hash);
    return { type: "chainStatus", id, status: "Rejected", at: this.now(), source: "tx", txHash: sent.hash, reasonCode: rejection.code, refunded: r.reserved };
  }
  /** Sends; a status conflict found at estimation becomes the status event instead. */
  async sendOrFound(id, send) {
    try {
      return await send();
    } catch (err) {
      if (err instanceof RedemptionStatusConflict) return { type: "chainStatus", id, status: err.status, at: this.now(), source: "read" };
      if (err instanceof UnknownRedemptionError) return { type: "chainStatus", id, status: "None", at: this.now(), source: "read" };
      throw err;
    }
  }
  found(id, r) {
    if (!r) return { type: "chainStatus", id, status: "None", at: this.now(), source: "read" };
    return {
      type: "chainStatus",
      id,
      status: r.status,
      at: this.now(),
      source: "read",
      ...r.status === "Settled" && { used: r.used, refunded: r.reserved - r.used }
    };
  }
};

// redeemer/settler/txSender.ts
var TxSender = class {
  constructor(ctx, options) {
    this.ctx = ctx;
    this.options = options;
  }
  ctx;
  options;
  nonce;
  queue = Promise.resolve();
  async send(call) {
    const estimate = await estimateRedemptionCall(this.ctx, call);
    const gas = estimate * 13n / 10n + 10000n;
    const hash = await this.exclusive(async () => {
      this.nonce ??= await this.ctx.publicClient.getTransactionCount({ address: this.ctx.walletClient.account.address, blockTag: "pending" });
      const nonce = this.nonce;
      try {
        const h = await sendRedemptionCall(this.ctx, call, { nonce, gas });
        this.nonce = nonce + 1;
        return h;
      } catch (err) {
        this.nonce = void 0;
        throw err;
      }
    });
    const receipt = await waitForRedemptionCall(this.ctx, hash, {
      timeoutMs: this.options.receiptTimeoutMs,
      ...this.options.pollingIntervalMs !== void 0 && { pollingIntervalMs: this.options.pollingIntervalMs }
    });
    return { hash, receipt };
  }
  exclusive(fn) {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {
    });
    return run;
  }
};

// sdk/events.ts
import {
  decodeEventLog,
  getAbiItem,
  toEventSelector
} from "viem";
var REDEMPTION_EVENT_NAMES = [
  "RedemptionRequested",
  "RedemptionRunning",
  "RedemptionSettled",
  "RedemptionRejected",
  "RedemptionReclaimed"
];
var REDEMPTION_CONTEXT_EVENT_NAMES = [
  "ClassDefined",
  "ClassUpdated",
  "ClassRetired",
  "PriorityMultiplierSet"
];
var eventItem = (name) => getAbiItem({ abi: computeTokenAbi, name });
var selectorCache = /* @__PURE__ */ new Map();
function bySelector(selector) {
  if (selectorCache.size === 0) {
    for (const item of computeTokenAbi) {
      if (item.type !== "event") continue;
      selectorCache.set(toEventSelector(item), { name: item.name, item });
    }
  }
  return selectorCache.get(selector.toLowerCase());
}
function eventSelectors(names) {
  return names.map((n) => toEventSelector(eventItem(n)));
}
var UndecodableLogError = class extends Error {
  constructor(log, options) {
    super(`cannot decode log ${log.logIndex} of transaction ${log.transactionHash}`, options);
    this.log = log;
  }
  log;
  name = "UndecodableLogError";
};
function decodeComputeTokenLogs(logs, names) {
  const wanted = new Set(names);
  const out = [];
  for (const log of logs) {
    const topic0 = log.topics[0];
    if (!topic0) continue;
    const entry = bySelector(topic0);
    if (!entry || !wanted.has(entry.name)) continue;
    let decoded;
    try {
      decoded = decodeEventLog({ abi: [entry.item], data: log.data, topics: log.topics, strict: true });
    } catch (err) {
      throw new UndecodableLogError(log, { cause: err });
    }
    out.push({
      eventName: entry.name,
      args: decoded.args,
      blockNumber: log.blockNumber,
      blockHash: log.blockHash,
      transactionHash: log.transactionHash,
      logIndex: log.logIndex
    });
  }
  return out.sort(compareChainOrder);
}
function compareChainOrder(a, b) {
  if (a.blockNumber !== b.blockNumber) return a.blockNumber < b.blockNumber ? -1 : 1;
  return a.logIndex - b.logIndex;
}
var TOO_LARGE_RE = /(range|too many|too large|limit|exceed|more than|response size|query returned)/i;
async function* iterateComputeTokenEvents(options) {
  const { publicClient, address: address2, names, signal } = options;
  const maxRange = options.maxBlockRange ?? 5000n;
  if (maxRange < 1n) throw new RangeError("maxBlockRange must be at least 1");
  const topics = [eventSelectors(names)];
  if (options.ids && options.ids.length > 0) topics.push(options.ids.map((id) => `0x${id.toString(16).padStart(64, "0")}`));
  let from = options.fromBlock;
  let span = maxRange;
  while (from <= options.toBlock) {
    signal?.throwIfAborted();
    const to = from + span - 1n < options.toBlock ? from + span - 1n : options.toBlock;
    let logs;
    try {
      logs = await publicClient.request({
        method: "eth_getLogs",
        params: [{ address: address2, topics, fromBlock: `0x${from.toString(16)}`, toBlock: `0x${to.toString(16)}` }]
      });
    } catch (err) {
      if (to > from && TOO_LARGE_RE.test(errorText(err))) {
        span = (to - from + 1n) / 2n;
        continue;
      }
      throw err;
    }
    yield { fromBlock: from, toBlock: to, events: decodeComputeTokenLogs(logs.map(normalizeLog), names) };
    from = to + 1n;
    if (span < maxRange) span = span * 2n > maxRange ? maxRange : span * 2n;
  }
}
function normalizeLog(raw) {
  const r = raw;
  return {
    ...raw,
    blockNumber: typeof r.blockNumber === "string" ? BigInt(r.blockNumber) : raw.blockNumber,
    logIndex: typeof r.logIndex === "string" ? Number(r.logIndex) : raw.logIndex
  };
}
function errorText(err) {
  const parts = [];
  let e = err;
  for (let depth = 0; e && depth < 5; depth++) {
    const x = e;
    for (const v of [x.shortMessage, x.details, x.message]) if (typeof v === "string") parts.push(v);
    e = x.cause;
  }
  return parts.join(" | ");
}

// redeemer/watcher/redemptionContext.ts
var DEFAULT_MULTIPLIERS_BPS = [8e3, 1e4, 12500, 15e3];
var RedemptionContext = class {
  classes = /* @__PURE__ */ new Map();
  multipliers = [...DEFAULT_MULTIPLIERS_BPS];
  apply(e) {
    switch (e.eventName) {
      case "ClassDefined":
        this.classes.set(e.args.classId, { name: e.args.name, productLabel: e.args.productLabel, maxGpusPerJob: e.args.maxGpusPerJob, active: true });
        break;
      case "ClassUpdated": {
        const c = this.classes.get(e.args.classId);
        if (c) Object.assign(c, { productLabel: e.args.productLabel, maxGpusPerJob: e.args.maxGpusPerJob });
        break;
      }
      case "ClassRetired": {
        const c = this.classes.get(e.args.classId);
        if (c) c.active = false;
        break;
      }
      case "PriorityMultiplierSet":
        this.multipliers[e.args.priority] = e.args.bps;
        break;
    }
  }
  /** The request as the state machine takes it, with the context as it is now. */
  requestOf(e) {
    const a = e.args;
    const c = this.classes.get(a.classId);
    return {
      id: a.id,
      holder: a.holder,
      classId: a.classId,
      priority: a.priority,
      gpus: a.gpus,
      seconds: a.seconds_,
      reserved: a.reserved,
      specHash: a.specHash,
      specBytes: hexToBytesFast(a.spec),
      blockNumber: e.blockNumber,
      transactionHash: e.transactionHash,
      ...c && { hardwareClass: { name: c.name, productLabel: c.productLabel, maxGpusPerJob: c.maxGpusPerJob } },
      multiplierBps: this.multipliers[a.priority] ?? 1e4
    };
  }
};
function hexToBytesFast(hex) {
  return Uint8Array.from(Buffer.from(hex.slice(2), "hex"));
}

// redeemer/watcher/chainWatcher.ts
var WATCHED = [...REDEMPTION_EVENT_NAMES, ...REDEMPTION_CONTEXT_EVENT_NAMES];
var ChainWatcher = class {
  opts;
  context = new RedemptionContext();
  /** Last block read and its hash. */
  processed;
  processedHash;
  abort = new AbortController();
  loop;
  synced = false;
  constructor(options) {
    this.opts = options;
    this.processed = options.deployBlock - 1n;
  }
  /** The last block read. */
  get cursor() {
    return this.processed;
  }
  get isSynced() {
    return this.synced;
  }
  /** Reads every confirmed block not read yet; resolves when caught up with the confirmed head. */
  async sync() {
    const head = await this.opts.publicClient.getBlockNumber({ cacheTime: 0 });
    const safe = head - BigInt(this.opts.confirmations);
    this.opts.onHead?.(head, safe);
    if (this.processed >= this.opts.deployBlock && await this.reorganised()) {
      this.opts.onWarning?.("the last block read was reorganised away (deeper than `confirmations`): reading the history again", {
        block: this.processed.toString()
      });
      this.context = new RedemptionContext();
      this.processed = this.opts.deployBlock - 1n;
      this.synced = false;
    }
    if (safe <= this.processed) {
      this.synced = true;
      return;
    }
    const backfill = !this.synced;
    for await (const range of iterateComputeTokenEvents({
      publicClient: this.opts.publicClient,
      address: this.opts.address,
      names: WATCHED,
      fromBlock: this.processed + 1n,
      toBlock: safe,
      maxBlockRange: this.opts.maxBlockRange,
      signal: this.abort.signal
    })) {
      await this.opts.onBatch(this.batchOf(range.fromBlock, range.toBlock, range.events, backfill));
      this.processed = range.toBlock;
    }
    this.processedHash = (await this.opts.publicClient.getBlock({ blockNumber: this.processed })).hash ?? void 0;
    this.synced = true;
  }
  /** Polls until stop(); a failed poll is retried at the next interval. */
  start() {
    if (this.loop) return;
    this.loop = (async () => {
      let failures = 0;
      while (!this.abort.signal.aborted) {
        try {
          await this.sync();
          failures = 0;
        } catch (err) {
          if (this.abort.signal.aborted) break;
          failures++;
          this.opts.onWarning?.("reading the chain failed; retrying", { error: err.message, failures });
        }
        const wait = failures === 0 ? this.opts.pollIntervalMs : Math.min(this.opts.pollIntervalMs * 2 ** Math.min(failures, 6), 1e4);
        await sleep(wait, this.abort.signal);
      }
    })();
  }
  async stop() {
    this.abort.abort();
    await this.loop?.catch(() => {
    });
  }
  async reorganised() {
    if (this.processedHash === void 0) return false;
    const block = await this.opts.publicClient.getBlock({ blockNumber: this.processed });
    return block.hash !== this.processedHash;
  }
  batchOf(fromBlock, toBlock, events, backfill) {
    const batch = { fromBlock, toBlock, backfill, requests: [], lifecycle: [] };
    for (const e of events) {
      switch (e.eventName) {
        case "RedemptionRequested":
          batch.requests.push(this.context.requestOf(e));
          break;
        case "RedemptionRunning":
        case "RedemptionSettled":
        case "RedemptionRejected":
        case "RedemptionReclaimed":
          batch.lifecycle.push(e);
          break;
        default:
          this.context.apply(e);
      }
    }
    return batch;
  }
};
function sleep(ms, signal) {
  return new Promise((resolve2) => {
    if (signal.aborted) return resolve2();
    const t = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve2();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      resolve2();
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

// redeemer/config.ts
import { existsSync, readFileSync as readFileSync2 } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { parse as parseDotenv2 } from "dotenv";
import { z as z4 } from "zod";

// sdk/deployment.ts
import { readFileSync } from "node:fs";
import { getAddress, isAddress as isAddress2 } from "viem";
import { z as z2 } from "zod";
var address = z2.string().refine((a) => isAddress2(a), { message: "must be a 0x-prefixed 20-byte address" }).transform((a) => getAddress(a));
var deploymentSchema = z2.object({
  chainId: z2.number().int().positive(),
  computeToken: address,
  accessManager: address,
  /** Block of the ComputeToken deployment: audits replay from here. */
  deployBlock: z2.number().int().nonnegative(),
  /** Role holders at deploy time (informational; the chain is the source of truth). */
  roles: z2.record(z2.string(), z2.array(address)).default({})
});
var DeploymentFileError = class extends Error {
  constructor(file, detail) {
    super(`deployment file ${file}: ${detail}`);
    this.file = file;
    this.name = "DeploymentFileError";
  }
  file;
};
function readDeployment(file) {
  let raw;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    const err = e;
    throw new DeploymentFileError(file, err.code === "ENOENT" ? "not found (is the devnet up? run `ctk devnet up`)" : err.message);
  }
  const parsed = deploymentSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new DeploymentFileError(file, `${issue.path.join(".") || "(root)"} ${issue.message}`);
  }
  return parsed.data;
}

// redeemer/config.ts
init_configError();

// redeemer/policy/index.ts
init_configError();

// redeemer/policy/loadPolicyConfig.ts
init_configError();
import { parse as parseDotenv } from "dotenv";

// redeemer/policy/policyConfig.ts
init_jobSpec();
init_configError();
import { z as z3 } from "zod";
var PATH_PREFIX_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
var registryEntry = z3.string().trim().transform((s) => s.replace(/\/+$/, "")).superRefine((entry, ctx) => {
  const slash = entry.indexOf("/");
  const host = slash === -1 ? entry : entry.slice(0, slash);
  const prefix = slash === -1 ? "" : entry.slice(slash + 1);
  if (!isRegistryHost(host)) ctx.addIssue({ code: "custom", message: `${JSON.stringify(entry)} is not a registry host[:port]` });
  else if (prefix !== "" && !PATH_PREFIX_RE.test(prefix)) {
    ctx.addIssue({ code: "custom", message: `${JSON.stringify(entry)} has an invalid repository path` });
  }
}).transform((entry) => {
  const slash = entry.indexOf("/");
  return slash === -1 ? normalizeRegistry(entry) : `${normalizeRegistry(entry.slice(0, slash))}${entry.slice(slash)}`;
});
var policyConfigSchema = z3.object({
  /** Registries (optionally narrowed to a repository path) that images may come from. */
  allowedRegistries: z3.array(registryEntry).min(1, "list at least one registry (host[:port][/path])"),
  /** Refuse images that are not pinned by `@sha256:<64 hex>`. */
  requireDigest: z3.boolean().default(true),
  /** Largest spec, in bytes, the redeemer will read. */
  maxSpecBytes: z3.number().int().positive().max(1 << 20).default(SPEC_LIMITS.maxSpecBytes)
}).strict();

// redeemer/policy/loadPolicyConfig.ts
var BOOLEAN = { true: true, "1": true, yes: true, false: false, "0": false, no: false };
function policyOverridesFromEnv(env) {
  const out = {};
  const issues = [];
  const registries = env.CTK_ALLOWED_REGISTRIES;
  if (registries !== void 0 && registries.trim() !== "") {
    out.allowedRegistries = registries.split(/[\s,]+/).filter((s) => s !== "");
  }
  const digest = env.CTK_REQUIRE_DIGEST;
  if (digest !== void 0 && digest.trim() !== "") {
    const value = BOOLEAN[digest.trim().toLowerCase()];
    if (value === void 0) issues.push({ path: "CTK_REQUIRE_DIGEST", message: `expected true or false, got ${JSON.stringify(digest)}` });
    else out.requireDigest = value;
  }
  const maxBytes = env.CTK_MAX_SPEC_BYTES;
  if (maxBytes !== void 0 && maxBytes.trim() !== "") {
    if (!/^\d+$/.test(maxBytes.trim()))
      issues.push({ path: "CTK_MAX_SPEC_BYTES", message: `expected an integer, got ${JSON.stringify(maxBytes)}` });
    else out.maxSpecBytes = Number(maxBytes.trim());
  }
  if (issues.length > 0) {
    throw new ConfigError(`invalid policy environment: ${issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`, issues, "environment");
  }
  return out;
}

// redeemer/config.ts
var privateKey = z4.string().regex(/^0x[0-9a-fA-F]{64}$/, "must be 0x followed by 64 hex digits").transform((k) => k);
var localExecutorSection = z4.object({ kind: z4.literal("local"), local: z4.record(z4.string(), z4.unknown()) }).strict();
var kubernetesExecutorSection = z4.object({
  kind: z4.literal("kubernetes"),
  kubernetes: z4.record(z4.string(), z4.unknown()),
  /** kubeconfig file; absent: the default loading rules (KUBECONFIG, ~/.kube/config, in-cluster). */
  kubeconfig: z4.string().min(1).optional()
}).strict();
var redeemerConfigSchema = z4.object({
  rpcUrl: z4.string().url(),
  /** The deployment: a file path, or the object itself. */
  deployment: z4.union([z4.string().min(1), deploymentSchema]),
  privateKey,
  confirmations: z4.number().int().min(0).max(1e3).default(2),
  pollIntervalMs: z4.number().int().min(10).max(6e5).default(1e3),
  /** Most blocks in one eth_getLogs call. */
  maxBlockRange: z4.number().int().min(1).max(1e6).default(5e3),
  receiptsDir: z4.string().min(1).default("data/receipts"),
  api: z4.object({
    host: z4.string().min(1).default("127.0.0.1"),
    /** 0: any free port (reported by startRedeemer). */
    port: z4.number().int().min(0).max(65535).default(8787)
  }).strict().default({}),
  logLevel: z4.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  policy: policyConfigSchema,
  executor: z4.discriminatedUnion("kind", [localExecutorSection, kubernetesExecutorSection]),
  launch: z4.object({
    /** Launch attempts that fail for a passing reason before the redemption is rejected LAUNCH_FAILED. */
    maxAttempts: z4.number().int().min(1).max(100).default(5),
    concurrency: z4.number().int().min(1).max(1024).default(64)
  }).strict().default({}),
  retry: z4.object({
    baseMs: z4.number().int().min(1).default(500),
    maxMs: z4.number().int().min(1).default(3e4)
  }).strict().default({}),
  tx: z4.object({
    /** Chain actions (status read + transaction) at once. */
    concurrency: z4.number().int().min(1).max(256).default(16),
    receiptTimeoutMs: z4.number().int().min(100).default(12e4)
  }).strict().default({}),
  /** A full re-list of the executor's jobs this often (watches can miss things). */
  reconcileIntervalMs: z4.number().int().min(100).default(3e4)
}).strict();
function parseRedeemerConfig(raw, options = {}) {
  const parsed = redeemerConfigSchema.safeParse(raw);
  if (!parsed.success) throw ConfigError.fromZod("redeemer config", parsed.error, options.source);
  const c = parsed.data;
  const base = options.baseDir ?? process.cwd();
  const at = (p) => isAbsolute(p) ? p : resolve(base, p);
  let deployment;
  try {
    deployment = typeof c.deployment === "string" ? readDeployment(at(c.deployment)) : c.deployment;
  } catch (err) {
    throw new ConfigError(`redeemer config: ${err.message}`, [{ path: "deployment", message: err.message }], options.source);
  }
  const executor = c.executor.kind === "local" ? { ...c.executor, local: { ...c.executor.local, ...typeof c.executor.local.dataDir === "string" && { dataDir: at(c.executor.local.dataDir) } } } : { ...c.executor, ...c.executor.kubeconfig && { kubeconfig: at(c.executor.kubeconfig) } };
  return { ...c, deployment, receiptsDir: at(c.receiptsDir), executor };
}
function loadRedeemerConfig(options = {}) {
  const env = { ...readEnvFile(options.envFile), ...options.env ?? process.env };
  const file = options.file ?? (env.CTK_REDEEMER_CONFIG || void 0);
  const fromFile = file === void 0 ? {} : readJsonObject(file);
  const merged = { ...fromFile };
  const issues = [];
  const str = (name, key) => {
    const v = env[name]?.trim();
    if (v) merged[key] = v;
  };
  const int = (name, set) => {
    const v = env[name]?.trim();
    if (!v) return;
    if (!/^\d+$/.test(v)) issues.push({ path: name, message: `expected a non-negative integer, got ${JSON.stringify(v)}` });
    else set(Number(v));
  };
  str("CTK_RPC_URL", "rpcUrl");
  str("CTK_DEPLOYMENT", "deployment");
  str("CTK_REDEEMER_KEY", "privateKey");
  str("CTK_RECEIPTS_DIR", "receiptsDir");
  str("CTK_LOG_LEVEL", "logLevel");
  int("CTK_CONFIRMATIONS", (n) => merged.confirmations = n);
  int("CTK_POLL_INTERVAL_MS", (n) => merged.pollIntervalMs = n);
  const api = { ...merged.api ?? {} };
  if (env.CTK_API_HOST?.trim()) api.host = env.CTK_API_HOST.trim();
  int("CTK_API_PORT", (n) => api.port = n);
  if (Object.keys(api).length) merged.api = api;
  const kind = env.CTK_EXECUTOR?.trim();
  if (kind) {
    const current = merged.executor ?? {};
    if (kind === "local") merged.executor = { kind, local: current.local ?? { dataDir: "data/local-executor" } };
    else if (kind === "kubernetes") merged.executor = { kind, kubernetes: current.kubernetes ?? {}, ...current.kubeconfig !== void 0 && { kubeconfig: current.kubeconfig } };
    else issues.push({ path: "CTK_EXECUTOR", message: `expected local or kubernetes, got ${JSON.stringify(kind)}` });
  }
  merged.policy = { ...merged.policy ?? {}, ...policyOverridesFromEnv(env) };
  if (issues.length) throw new ConfigError(`invalid redeemer environment: ${issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`, issues, "environment");
  const source = [file, "environment"].filter(Boolean).join(" + ");
  return parseRedeemerConfig(merged, { baseDir: file ? dirname(resolve(file)) : process.cwd(), source });
}
function readEnvFile(envFile) {
  if (envFile === false) return {};
  const path = resolve(envFile ?? ".env");
  if (envFile === void 0 && !existsSync(path)) return {};
  try {
    return parseDotenv2(readFileSync2(path));
  } catch (err) {
    throw new ConfigError(`cannot read env file ${path}: ${err.message}`, [], path);
  }
}
function readJsonObject(file) {
  let value;
  try {
    value = JSON.parse(readFileSync2(file, "utf8"));
  } catch (err) {
    const e = err;
    throw new ConfigError(`cannot read redeemer config ${file}: ${e.code === "ENOENT" ? "no such file" : e.message}`, [], file);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new ConfigError(`redeemer config ${file} must hold a JSON object`, [], file);
  return value;
}

// redeemer/index.ts
async function createExecutor(config, log) {
  const warn = (message, details) => log.warn({ executor: config.executor.kind, ...details }, message);
  if (config.executor.kind === "local") {
    const { LocalExecutor: LocalExecutor2 } = await Promise.resolve().then(() => (init_local(), local_exports));
    return LocalExecutor2.create(config.executor.local, { onWarning: (m) => warn(m) });
  }
  const [{ KubeConfig: KubeConfig2 }, { createKubernetesExecutor: createKubernetesExecutor2 }] = await Promise.all([import("@kubernetes/client-node"), Promise.resolve().then(() => (init_kubernetes(), kubernetes_exports))]);
  const kubeConfig = new KubeConfig2();
  if (config.executor.kubeconfig) kubeConfig.loadFromFile(config.executor.kubeconfig);
  else kubeConfig.loadFromDefault();
  return createKubernetesExecutor2({ kubeConfig, config: config.executor.kubernetes, onWarning: warn });
}
function lifecycleEvent(e, at) {
  const base = { type: "chainStatus", id: e.args.id, at, source: "log", txHash: e.transactionHash };
  switch (e.eventName) {
    case "RedemptionRunning":
      return { ...base, status: "Running", jobRef: e.args.jobRef };
    case "RedemptionSettled":
      return { ...base, status: "Settled", used: e.args.used, refunded: e.args.refunded, receiptHash: e.args.receiptHash };
    case "RedemptionRejected":
      return { ...base, status: "Rejected", reasonCode: e.args.reasonCode, refunded: e.args.refunded };
    case "RedemptionReclaimed":
      return { ...base, status: "Reclaimed", refunded: e.args.refunded };
  }
}
async function startRedeemer(config, deps = {}) {
  const log = deps.logger ?? pino({ level: config.logLevel, base: { service: "ctk-redeemer" } });
  const now = deps.now ?? Date.now;
  const { deployment } = config;
  const chain = defineChain({
    id: deployment.chainId,
    name: `ctk-${deployment.chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [config.rpcUrl] } }
  });
  const transport = deps.transport ?? http(config.rpcUrl, { retryCount: 3, retryDelay: 100, timeout: 15e3 });
  const pollingInterval = Math.min(config.pollIntervalMs, 500);
  const publicClient = createPublicClient({ chain, transport, pollingInterval });
  const account = privateKeyToAccount(config.privateKey);
  const walletClient = createWalletClient({ chain, transport, account, pollingInterval });
  const chainId = await publicClient.getChainId();
  if (chainId !== deployment.chainId) throw new Error(`the RPC endpoint is chain ${chainId}; the deployment is on chain ${deployment.chainId}`);
  const ownsExecutor = !deps.executor;
  const executor = deps.executor ?? await createExecutor(config, log);
  const receipts = new ReceiptStore(config.receiptsDir);
  await receipts.init();
  const book = new RedemptionBook({
    policy: config.policy,
    executorKind: executor.kind,
    maxLaunchAttempts: config.launch.maxAttempts,
    backoff: { baseMs: config.retry.baseMs, maxMs: config.retry.maxMs }
  });
  const metrics = new RedeemerMetrics(() => book);
  const address2 = deployment.computeToken;
  const sender = new TxSender({ publicClient, walletClient, address: address2 }, {
    receiptTimeoutMs: config.tx.receiptTimeoutMs,
    pollingIntervalMs: pollingInterval
  });
  const settler = new Settler({
    chain: { publicClient, address: address2 },
    sender,
    receipts,
    chainId,
    contract: address2,
    executorKind: executor.kind,
    now
  });
  const engine = new RedemptionEngine({
    book,
    executor,
    settler,
    log,
    metrics,
    launchConcurrency: config.launch.concurrency,
    txConcurrency: config.tx.concurrency,
    now
  });
  const watcher = new ChainWatcher({
    publicClient,
    address: address2,
    deployBlock: BigInt(deployment.deployBlock),
    confirmations: config.confirmations,
    pollIntervalMs: config.pollIntervalMs,
    maxBlockRange: BigInt(config.maxBlockRange),
    onBatch: (batch) => {
      const at = now();
      for (const e of batch.lifecycle) engine.dispatch(lifecycleEvent(e, at));
      for (const request of batch.requests) engine.dispatch({ type: "requested", request, at });
    },
    onWarning: (message, details) => {
      metrics.chainErrors.inc({ operation: "watch" });
      log.warn(details ?? {}, message);
    },
    onHead: (head, safe) => {
      metrics.headBlock.set(Number(head));
      metrics.confirmedBlock.set(Number(safe < 0n ? 0n : safe));
    }
  });
  const unwatch = executor.watch((state) => engine.dispatch({ type: "jobObserved", state, at: now() }));
  let stopping = false;
  const api = await listen(
    createApi({
      book,
      receipts,
      metrics,
      contract: address2,
      log,
      readiness: [
        { name: "chain", check: async () => await publicClient.getBlockNumber({ cacheTime: 0 }) >= 0n },
        { name: "executor", check: () => executor.ping() },
        { name: "history", check: async () => watcher.isSynced }
      ]
    }),
    config.api.host,
    config.api.port
  ).catch(async (err) => {
    unwatch();
    if (ownsExecutor) await executor.close();
    throw err;
  });
  const reconcile = async () => {
    try {
      for (const state of await executor.list()) engine.dispatch({ type: "jobObserved", state, at: now() });
    } catch (err) {
      metrics.executorErrors.inc({ operation: "list" });
      log.warn({ err: err.message }, "listing the executor's jobs failed");
      throw err;
    }
  };
  let reconcileTimer;
  const ready = (async () => {
    for (let attempt = 1; !stopping; attempt++) {
      try {
        await reconcile();
        await watcher.sync();
        break;
      } catch (err) {
        log.warn({ err: err.message, attempt }, "start-up rebuild failed; retrying");
        await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** attempt, 5e3)));
      }
    }
    if (stopping) return;
    engine.resume();
    watcher.start();
    reconcileTimer = setInterval(() => void reconcile().catch(() => {
    }), config.reconcileIntervalMs);
    reconcileTimer.unref();
    log.info({ redemptions: book.size, open: book.open().length, confirmedBlock: watcher.cursor.toString() }, "redeemer ready");
  })();
  ready.catch(() => {
  });
  log.info(
    { port: api.port, chainId, contract: address2, redeemer: account.address, executor: executor.kind, confirmations: config.confirmations },
    "redeemer started"
  );
  return {
    port: api.port,
    ready,
    book,
    engine,
    metrics,
    executor,
    async stop() {
      if (stopping) return;
      stopping = true;
      clearInterval(reconcileTimer);
      await watcher.stop();
      await ready.catch(() => {
      });
      unwatch();
      await engine.stop();
      await api.close();
      if (ownsExecutor) await executor.close();
      log.info("redeemer stopped");
    }
  };
}

// redeemer/main.ts
async function main() {
  const { values } = parseArgs({ options: { config: { type: "string", short: "c" }, help: { type: "boolean", short: "h" } }, allowPositionals: false });
  if (values.help) {
    process.stdout.write("usage: redeemer [--config redeemer.json]   (environment: see redeemer/config.ts)\n");
    return 0;
  }
  let config;
  try {
    config = loadRedeemerConfig({ ...values.config !== void 0 && { file: values.config } });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`redeemer: ${err.message}
`);
      return 2;
    }
    throw err;
  }
  const redeemer = await startRedeemer(config);
  await new Promise((resolve2) => {
    const onSignal = (signal) => {
      process.stderr.write(`redeemer: ${signal}, stopping
`);
      resolve2();
    };
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
  });
  const force = setTimeout(() => {
    process.stderr.write("redeemer: shutdown took too long, exiting\n");
    process.exit(1);
  }, 3e4);
  force.unref();
  await redeemer.stop();
  return 0;
}
main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`redeemer: ${err?.message ?? String(err)}
`);
    process.exitCode = 1;
  }
);
