// test/support/fakeKube.ts
import http from "node:http";
import { KubeConfig } from "@kubernetes/client-node";
var VERBS = ["create", "get", "list", "watch", "delete"];
async function startFakeKube(options = {}) {
  const fake2 = new FakeKube(options);
  await fake2.listen();
  return fake2;
}
var RESOURCES = {
  Job: { apiVersion: "batch/v1", plural: "jobs", group: "batch", listKind: "JobList" },
  Pod: { apiVersion: "v1", plural: "pods", group: "", listKind: "PodList" }
};
var ROUTES = [
  { kind: "Job", pattern: /^\/apis\/batch\/v1\/namespaces\/([^/]+)\/jobs(?:\/([^/]+))?\/?$/ },
  { kind: "Pod", pattern: /^\/api\/v1\/namespaces\/([^/]+)\/pods(?:\/([^/]+))?\/?$/ }
];
var HttpStatusError = class extends Error {
  constructor(code, reason, message, details) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.details = details;
  }
  code;
  reason;
  details;
};
var FakeKube = class {
  server;
  clock;
  rng;
  historyLimit;
  goneAs;
  faults;
  autoRun;
  store = { Job: /* @__PURE__ */ new Map(), Pod: /* @__PURE__ */ new Map() };
  history = [];
  /** Watches from a resourceVersion below this get 410 Gone. */
  compactedRv = 0;
  rv = 1;
  uidSeq = 0;
  podSeq = 0;
  watchers = /* @__PURE__ */ new Set();
  timers = /* @__PURE__ */ new Set();
  jobTimers = /* @__PURE__ */ new Map();
  creations = /* @__PURE__ */ new Map();
  // Indexes, so that benchmarks with thousands of Jobs stay linear.
  jobKeyByName = /* @__PURE__ */ new Map();
  podKeysByOwner = /* @__PURE__ */ new Map();
  ownerOfPod = /* @__PURE__ */ new Map();
  closed = false;
  stats = {
    calls: { create: 0, get: 0, list: 0, watch: 0, delete: 0 },
    injected: { errors: 0, delays: 0, conflicts: 0 }
  };
  url = "";
  constructor(options = {}) {
    this.clock = options.clock ?? { now: () => Date.now() };
    this.rng = mulberry32(options.seed ?? 1);
    this.historyLimit = options.historyLimit ?? 1e4;
    this.goneAs = options.goneAs ?? "event";
    this.faults = options.faults;
    this.autoRun = options.autoRun;
    this.server = http.createServer((req, res) => this.handle(req, res));
  }
  async listen() {
    await new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(0, "127.0.0.1", () => resolve());
    });
    const { port } = this.server.address();
    this.url = `http://127.0.0.1:${port}`;
  }
  /** A KubeConfig for the real client: plain HTTP to this server, no credentials. */
  kubeConfig(namespace = "default") {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "fake", server: this.url, skipTLSVerify: true }],
      users: [],
      contexts: [{ name: "fake", cluster: "fake", user: "", namespace }],
      currentContext: "fake"
    });
    return kc;
  }
  /** Stop accepting requests, end every watch and connection, cancel every timer. */
  async close() {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.jobTimers.clear();
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
    const done = new Promise((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await done;
  }
  // -------------------------------------------------------------------------------------------
  // Test control
  setFaults(faults) {
    this.faults = faults;
  }
  setAutoRun(autoRun) {
    this.autoRun = autoRun;
  }
  /** Forget the event history: every open resourceVersion becomes too old (410 on re-watch). */
  compactHistory() {
    this.history.length = 0;
    this.compactedRv = this.rv;
  }
  /** Drop every open watch connection, as a load balancer or an apiserver restart would. */
  cutWatches() {
    for (const w of this.watchers) w.res.destroy();
    this.watchers.clear();
  }
  /**
   * What kube-apiserver does when a watcher falls too far behind: send each open watch an ERROR
   * event carrying a 410 Expired Status and close it. The history is compacted too, so a watch
   * resumed from any resourceVersion seen so far is also answered 410.
   */
  expireWatches() {
    this.compactHistory();
    const gone = new HttpStatusError(410, "Expired", `too old resource version (${this.compactedRv})`);
    for (const w of this.watchers) {
      if (!w.res.destroyed) w.res.end(JSON.stringify({ type: "ERROR", object: statusBody(gone) }) + "\n");
    }
    this.watchers.clear();
  }
  get openWatches() {
    return this.watchers.size;
  }
  /** How many times a Job of this name was really created (any namespace). */
  jobsCreated(name) {
    return this.creations.get(name) ?? 0;
  }
  /** Every Job name ever created, with its creation count. */
  get jobCreations() {
    return this.creations;
  }
  job(name) {
    const job = this.findJob(name);
    return job && structuredClone(job);
  }
  jobNames() {
    return [...this.store.Job.values()].map((j) => j.metadata.name);
  }
  /** Pods owned by the named Job, oldest first. */
  pods(jobName) {
    const job = this.findJob(jobName);
    return job ? this.podsOf(job).map((p) => structuredClone(p)) : [];
  }
  /** Admit the Job: unsuspend it and start a running pod on `node`. Returns the pod's name. */
  startJob(name, opts = {}) {
    const job = this.mustFindJob(name);
    if (isFinished(job)) throw new Error(`fakeKube: job ${name} has already finished`);
    if (this.runningPod(job)) throw new Error(`fakeKube: job ${name} already has a running pod`);
    const now = this.timestamp();
    job.spec.suspend = false;
    setCondition(job, "Suspended", "False", "JobResumed", "Job resumed", now);
    job.status = { ...job.status, startTime: now, active: 1, ready: 1 };
    this.commit("Job", "MODIFIED", job);
    const pod = this.newPod(job, opts, now);
    this.commit("Pod", "ADDED", pod);
    if (this.autoRun) {
      const { runMs, exitCode = 0 } = this.autoRun;
      this.jobTimer(
        job,
        runMs,
        () => exitCode === 0 ? this.succeedJob(name) : this.failJob(name, "Error", exitCode)
      );
    }
    return pod.metadata.name;
  }
  /** Kueue re-admits a preempted Job: a new pod, a new run segment. */
  resumeJob(name, opts = {}) {
    return this.startJob(name, opts);
  }
  /** The running pod exits with `exitCode` (0) and the Job completes. */
  succeedJob(name, exitCode = 0) {
    const job = this.mustFindJob(name);
    const now = this.timestamp();
    const pod = this.runningPod(job);
    if (pod) this.terminatePod(pod, exitCode, exitCode === 0 ? "Completed" : "Error", now);
    job.status = { ...job.status, active: 0, ready: 0, succeeded: 1, completionTime: now };
    setCondition(job, "SuccessCriteriaMet", "True", "CompletionsReached", "Reached expected number of succeeded pods", now);
    setCondition(job, "Complete", "True", "CompletionsReached", "Reached expected number of succeeded pods", now);
    this.commit("Job", "MODIFIED", job);
  }
  /**
   * The running pod terminates with `exitCode` and container reason `reason` ("Error",
   * "OOMKilled" …); the pod failure policy's FailJob rule fails the Job.
   */
  failJob(name, reason = "Error", exitCode = 1) {
    const job = this.mustFindJob(name);
    const now = this.timestamp();
    const pod = this.runningPod(job);
    let message = "Job has reached the specified backoff limit";
    let jobReason = "BackoffLimitExceeded";
    if (pod) {
      this.terminatePod(pod, exitCode, reason, now);
      if (exitCode !== 0 && job.spec.podFailurePolicy) {
        jobReason = "PodFailurePolicy";
        message = `Container ${containerName(pod)} for pod ${pod.metadata.namespace}/${pod.metadata.name} failed with exit code ${exitCode} matching FailJob rule at index 1`;
      }
    }
    job.status = { ...job.status, active: 0, ready: 0, failed: (job.status.failed ?? 0) + 1 };
    setCondition(job, "FailureTarget", "True", jobReason, message, now);
    setCondition(job, "Failed", "True", jobReason, message, now);
    this.commit("Job", "MODIFIED", job);
  }
  /**
   * Kueue preempts the Job: it is suspended, its pod gets a DisruptionTarget condition and is
   * terminated (SIGTERM, exit 143), and — when `deletePod`, as the Job controller really does —
   * removed. The Job waits, pending, for `resumeJob`.
   */
  preemptJob(name, opts = {}) {
    const job = this.mustFindJob(name);
    const now = this.timestamp();
    const pod = this.runningPod(job);
    if (pod) {
      setCondition(pod, "DisruptionTarget", "True", "PreemptionByScheduler", "Kueue preempted the workload", now);
      pod.metadata.deletionTimestamp = now;
      pod.metadata.deletionGracePeriodSeconds = 30;
      this.terminatePod(pod, 143, "Error", now);
      if (opts.deletePod) this.remove("Pod", pod);
    }
    job.spec.suspend = true;
    const { startTime: _reset, ...status } = job.status ?? {};
    job.status = { ...status, active: 0, ready: 0 };
    setCondition(job, "Suspended", "True", "JobSuspended", "Job suspended", now);
    this.commit("Job", "MODIFIED", job);
  }
  /**
   * Fail every running Job whose `activeDeadlineSeconds` has passed since its (last) start,
   * killing its pod; `deletePods` also removes the pods, as the Job controller does.
   * Returns the names of the Jobs it failed.
   */
  enforceDeadlines(opts = {}) {
    const nowMs = this.clock.now();
    const failed = [];
    for (const job of this.store.Job.values()) {
      const deadline = job.spec?.activeDeadlineSeconds;
      const start = job.status?.startTime;
      if (isFinished(job) || job.spec.suspend || deadline === void 0 || !start) continue;
      if (nowMs < Date.parse(start) + deadline * 1e3) continue;
      const now = this.timestamp();
      const pod = this.runningPod(job);
      if (pod) {
        pod.metadata.deletionTimestamp = now;
        this.terminatePod(pod, 137, "Error", now);
        if (opts.deletePods) this.remove("Pod", pod);
      }
      const message = "Job was active longer than specified deadline";
      job.status = { ...job.status, active: 0, ready: 0, failed: (job.status.failed ?? 0) + (pod ? 1 : 0) };
      setCondition(job, "FailureTarget", "True", "DeadlineExceeded", message, now);
      setCondition(job, "Failed", "True", "DeadlineExceeded", message, now);
      this.commit("Job", "MODIFIED", job);
      failed.push(job.metadata.name);
    }
    return failed;
  }
  // -------------------------------------------------------------------------------------------
  // HTTP
  handle(req, res) {
    const chunks = [];
    req.on("data", (c2) => chunks.push(c2));
    req.on("end", () => {
      try {
        this.route(req, res, Buffer.concat(chunks).toString("utf8"));
      } catch (err) {
        const e = err instanceof HttpStatusError ? err : new HttpStatusError(500, "InternalError", err.message);
        sendStatus(res, e);
      }
    });
  }
  route(req, res, body) {
    const url = new URL(req.url ?? "/", "http://fake");
    const route = ROUTES.map((r) => ({ kind: r.kind, m: r.pattern.exec(url.pathname) })).find((r) => r.m);
    if (!route?.m) throw new HttpStatusError(404, "NotFound", `the server could not find the requested resource`);
    const kind = route.kind;
    const namespace = decodeURIComponent(route.m[1]);
    const name = route.m[2] && decodeURIComponent(route.m[2]);
    const q = url.searchParams;
    const verb = verbOf(req.method ?? "GET", name, q);
    if (!verb) throw new HttpStatusError(405, "MethodNotAllowed", `${req.method} is not supported by the fake`);
    this.stats.calls[verb] += 1;
    const faults = this.faults;
    const applies = faults && (faults.verbs ?? VERBS).includes(verb);
    if (applies && this.rng() < (faults.errorRate ?? 0)) {
      this.stats.injected.errors += 1;
      throw new HttpStatusError(500, "InternalError", "Internal error occurred: injected fault");
    }
    const delayMs = applies && this.rng() < (faults.delayRate ?? 0) ? faults.delayMs ?? 1e3 : 0;
    if (delayMs > 0) this.stats.injected.delays += 1;
    if (verb === "watch") {
      this.later(delayMs, () => this.watch(kind, namespace, q, res));
      return;
    }
    let status = 200;
    let payload;
    try {
      switch (verb) {
        case "create": {
          payload = this.create(kind, namespace, JSON.parse(body || "{}"));
          status = 201;
          if (applies && this.rng() < (faults.conflictRate ?? 0)) {
            this.stats.injected.conflicts += 1;
            const created = payload;
            throw alreadyExists(kind, created.metadata.name);
          }
          break;
        }
        case "get":
          payload = structuredClone(this.mustGet(kind, namespace, name));
          break;
        case "list":
          payload = this.list(kind, namespace, q);
          break;
        case "delete":
          payload = this.delete(kind, namespace, name, q, body);
          break;
      }
    } catch (err) {
      if (!(err instanceof HttpStatusError)) throw err;
      this.later(delayMs, () => sendStatus(res, err));
      return;
    }
    this.later(delayMs, () => sendJson(res, status, payload));
  }
  /** Run `fn` now, or after `ms` on a timer that `close()` cancels. */
  later(ms, fn) {
    if (ms <= 0) return fn();
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }
  create(kind, namespace, body) {
    const name = body?.metadata?.name;
    if (!name) throw new HttpStatusError(422, "Invalid", `${kind} is invalid: metadata.name: Required value`);
    const key = `${namespace}/${name}`;
    if (this.store[kind].has(key)) throw alreadyExists(kind, name);
    const uid = this.nextUid();
    const obj = {
      ...body,
      apiVersion: RESOURCES[kind].apiVersion,
      kind,
      metadata: {
        ...body.metadata,
        name,
        namespace,
        uid,
        generation: 1,
        creationTimestamp: this.timestamp(),
        resourceVersion: ""
      },
      status: {}
    };
    if (kind === "Job") {
      defaultJob(obj);
      this.creations.set(name, (this.creations.get(name) ?? 0) + 1);
    } else {
      obj.status = { phase: "Pending" };
    }
    this.commit(kind, "ADDED", obj);
    if (kind === "Job" && this.autoRun) {
      this.jobTimer(obj, this.autoRun.startAfterMs, () => this.startJob(name, { node: this.autoRun?.node }));
    }
    return structuredClone(obj);
  }
  list(kind, namespace, q) {
    const matches = parseLabelSelector(q.get("labelSelector") ?? "");
    let items = [...this.store[kind].values()].filter((o) => o.metadata.namespace === namespace && matches(o.metadata.labels)).sort((a, b) => a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0);
    const cont = q.get("continue");
    if (cont) {
      const after = Buffer.from(cont, "base64url").toString("utf8");
      items = items.filter((o) => o.metadata.name > after);
    }
    const limit = Number(q.get("limit") ?? 0);
    let next2;
    if (limit > 0 && items.length > limit) {
      items = items.slice(0, limit);
      next2 = Buffer.from(items[items.length - 1].metadata.name, "utf8").toString("base64url");
    }
    return {
      apiVersion: RESOURCES[kind].apiVersion,
      kind: RESOURCES[kind].listKind,
      metadata: { resourceVersion: String(this.rv), ...next2 ? { continue: next2 } : {} },
      items: items.map((o) => structuredClone(o))
    };
  }
  delete(kind, namespace, name, q, body) {
    const obj = this.mustGet(kind, namespace, name);
    let policy = q.get("propagationPolicy") ?? void 0;
    if (!policy && body) {
      try {
        policy = JSON.parse(body).propagationPolicy;
      } catch {
      }
    }
    if (kind === "Job") {
      for (const t of this.jobTimers.get(obj.metadata.uid) ?? []) {
        clearTimeout(t);
        this.timers.delete(t);
      }
      this.jobTimers.delete(obj.metadata.uid);
      for (const pod of this.podsOf(obj)) {
        if (policy === "Background" || policy === "Foreground") {
          this.remove("Pod", pod);
        } else {
          delete pod.metadata.ownerReferences;
          this.commit("Pod", "MODIFIED", pod);
        }
      }
    }
    this.remove(kind, obj);
    return {
      apiVersion: "v1",
      kind: "Status",
      metadata: {},
      status: "Success",
      details: { name, group: RESOURCES[kind].group, kind: RESOURCES[kind].plural, uid: obj.metadata.uid }
    };
  }
  watch(kind, namespace, q, res) {
    if (this.closed || res.destroyed) return;
    const matches = parseLabelSelector(q.get("labelSelector") ?? "");
    const rvParam = q.get("resourceVersion");
    const from = rvParam && rvParam !== "0" ? Number(rvParam) : void 0;
    if (from !== void 0 && (!Number.isFinite(from) || from < this.compactedRv)) {
      const gone = new HttpStatusError(410, "Expired", `too old resource version: ${rvParam} (${this.compactedRv})`);
      if (this.goneAs === "status") return sendStatus(res, gone);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ type: "ERROR", object: statusBody(gone) }) + "\n");
      return;
    }
    res.writeHead(200, { "content-type": "application/json", "cache-control": "no-cache" });
    res.flushHeaders();
    const inScope = (o) => o.metadata.namespace === namespace && matches(o.metadata.labels);
    if (from === void 0) {
      for (const o of this.store[kind].values()) {
        if (inScope(o)) writeEvent(res, "ADDED", o);
      }
    } else {
      for (const e of this.history) {
        if (e.rv > from && e.kind === kind && inScope(e.object)) writeEvent(res, e.type, e.object);
      }
    }
    const watcher = { kind, namespace, matches, res };
    this.watchers.add(watcher);
    res.on("close", () => this.watchers.delete(watcher));
    const timeoutSeconds = Number(q.get("timeoutSeconds") ?? 0);
    if (timeoutSeconds > 0) this.later(timeoutSeconds * 1e3, () => res.end());
  }
  // -------------------------------------------------------------------------------------------
  // Store
  commit(kind, type, obj) {
    this.rv += 1;
    obj.metadata.resourceVersion = String(this.rv);
    const key = `${obj.metadata.namespace}/${obj.metadata.name}`;
    if (type === "DELETED") this.store[kind].delete(key);
    else this.store[kind].set(key, obj);
    this.index(kind, type, key, obj);
    const snapshot = structuredClone(obj);
    this.history.push({ rv: this.rv, kind, type, object: snapshot });
    if (this.history.length > this.historyLimit) {
      const dropped = this.history.splice(0, this.history.length - this.historyLimit);
      this.compactedRv = dropped[dropped.length - 1].rv;
    }
    for (const w of this.watchers) {
      if (w.kind === kind && w.namespace === obj.metadata.namespace && w.matches(obj.metadata.labels)) {
        writeEvent(w.res, type, snapshot);
      }
    }
  }
  index(kind, type, key, obj) {
    if (kind === "Job") {
      if (type !== "DELETED") this.jobKeyByName.set(obj.metadata.name, key);
      else if (this.jobKeyByName.get(obj.metadata.name) === key) this.jobKeyByName.delete(obj.metadata.name);
      return;
    }
    const previous = this.ownerOfPod.get(key);
    const owner = type === "DELETED" ? void 0 : obj.metadata.ownerReferences?.find((o) => o.kind === "Job")?.uid;
    if (previous === owner) return;
    if (previous) this.podKeysByOwner.get(previous)?.delete(key);
    if (owner) {
      let keys = this.podKeysByOwner.get(owner);
      if (!keys) this.podKeysByOwner.set(owner, keys = /* @__PURE__ */ new Set());
      keys.add(key);
      this.ownerOfPod.set(key, owner);
    } else this.ownerOfPod.delete(key);
  }
  remove(kind, obj) {
    obj.metadata.deletionTimestamp ??= this.timestamp();
    this.commit(kind, "DELETED", obj);
  }
  mustGet(kind, namespace, name) {
    const obj = this.store[kind].get(`${namespace}/${name}`);
    if (!obj) {
      throw new HttpStatusError(404, "NotFound", `${RESOURCES[kind].plural}${RESOURCES[kind].group ? "." + RESOURCES[kind].group : ""} "${name}" not found`, {
        name,
        group: RESOURCES[kind].group,
        kind: RESOURCES[kind].plural
      });
    }
    return obj;
  }
  findJob(name) {
    const key = this.jobKeyByName.get(name);
    return key === void 0 ? void 0 : this.store.Job.get(key);
  }
  mustFindJob(name) {
    const job = this.findJob(name);
    if (!job) throw new Error(`fakeKube: no job named ${name}`);
    return job;
  }
  podsOf(job) {
    return [...this.podKeysByOwner.get(job.metadata.uid) ?? []].map((key) => this.store.Pod.get(key)).sort((a, b) => a.metadata.creationTimestamp.localeCompare(b.metadata.creationTimestamp) || a.metadata.name.localeCompare(b.metadata.name));
  }
  runningPod(job) {
    return this.podsOf(job).find((p) => p.status?.phase === "Running");
  }
  newPod(job, opts, now) {
    this.podSeq += 1;
    const name = `${job.metadata.name}-${this.podSeq.toString(36).padStart(5, "0")}`;
    const template = structuredClone(job.spec.template ?? {});
    const spec = { ...template.spec ?? {}, nodeName: opts.node ?? "gpu-node-0" };
    if (opts.gpuProduct) spec.nodeSelector = { ...spec.nodeSelector ?? {}, "nvidia.com/gpu.product": opts.gpuProduct };
    const containers = spec.containers ?? [];
    return {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name,
        namespace: job.metadata.namespace,
        uid: this.nextUid(),
        resourceVersion: "",
        creationTimestamp: now,
        labels: { ...template.metadata?.labels ?? {} },
        annotations: { ...template.metadata?.annotations ?? {} },
        ownerReferences: [
          { apiVersion: "batch/v1", kind: "Job", name: job.metadata.name, uid: job.metadata.uid, controller: true }
        ]
      },
      spec,
      status: {
        phase: "Running",
        hostIP: "10.0.0.1",
        podIP: `10.1.${this.podSeq >> 8}.${this.podSeq & 255}`,
        startTime: now,
        qosClass: "BestEffort",
        conditions: ["PodScheduled", "Initialized", "ContainersReady", "Ready"].map((type) => ({
          type,
          status: "True",
          lastProbeTime: null,
          lastTransitionTime: now
        })),
        containerStatuses: containers.map((c2) => ({
          name: c2.name,
          image: c2.image,
          imageID: c2.image,
          containerID: `containerd://${this.podSeq.toString(16).padStart(12, "0")}`,
          ready: true,
          started: true,
          restartCount: 0,
          state: { running: { startedAt: now } }
        }))
      }
    };
  }
  terminatePod(pod, exitCode, reason, now) {
    pod.status.phase = exitCode === 0 ? "Succeeded" : "Failed";
    for (const c2 of pod.status.containerStatuses ?? []) {
      const startedAt = c2.state?.running?.startedAt;
      c2.ready = false;
      c2.started = false;
      c2.state = { terminated: { exitCode, reason, startedAt, finishedAt: now, containerID: c2.containerID } };
    }
    for (const cond of pod.status.conditions ?? []) {
      if (cond.type === "Ready" || cond.type === "ContainersReady") {
        cond.status = "False";
        cond.reason = "PodCompleted";
        cond.lastTransitionTime = now;
      }
    }
    this.commit("Pod", "MODIFIED", pod);
  }
  jobTimer(job, ms, fn) {
    const uid = job.metadata.uid;
    const set = this.jobTimers.get(uid) ?? /* @__PURE__ */ new Set();
    this.jobTimers.set(uid, set);
    const t = setTimeout(() => {
      this.timers.delete(t);
      set.delete(t);
      try {
        fn();
      } catch {
      }
    }, ms);
    this.timers.add(t);
    set.add(t);
  }
  nextUid() {
    this.uidSeq += 1;
    return `00000000-0000-4000-8000-${this.uidSeq.toString(16).padStart(12, "0")}`;
  }
  timestamp() {
    return rfc3339(this.clock.now());
  }
};
function verbOf(method, name, q) {
  const watch = q.get("watch");
  if (method === "GET") return name ? "get" : watch === "true" || watch === "1" ? "watch" : "list";
  if (method === "POST" && !name) return "create";
  if (method === "DELETE" && name) return "delete";
  return void 0;
}
function rfc3339(ms) {
  return new Date(Math.floor(ms / 1e3) * 1e3).toISOString().replace(/\.\d{3}Z$/, "Z");
}
function defaultJob(job) {
  const { uid, name } = job.metadata;
  const spec = job.spec ??= {};
  spec.suspend ??= false;
  spec.parallelism ??= 1;
  spec.completions ??= 1;
  spec.completionMode ??= "NonIndexed";
  spec.backoffLimit ??= 6;
  spec.selector = { matchLabels: { "batch.kubernetes.io/controller-uid": uid } };
  const template = spec.template ??= {};
  const meta = template.metadata ??= {};
  meta.labels = {
    ...meta.labels ?? {},
    "batch.kubernetes.io/controller-uid": uid,
    "batch.kubernetes.io/job-name": name,
    "controller-uid": uid,
    "job-name": name
  };
  job.status = {};
  if (spec.suspend) {
    setCondition(job, "Suspended", "True", "JobSuspended", "Job suspended", job.metadata.creationTimestamp);
  }
}
function isFinished(job) {
  return (job.status?.conditions ?? []).some(
    (c2) => (c2.type === "Complete" || c2.type === "Failed") && c2.status === "True"
  );
}
function containerName(pod) {
  return pod.spec?.containers?.[0]?.name ?? "main";
}
function setCondition(obj, type, status, reason, message, now) {
  obj.status ??= {};
  const conditions = obj.status.conditions ??= [];
  const existing = conditions.find((c2) => c2.type === type);
  if (!existing) {
    if (status === "False") return;
    conditions.push({ type, status, reason, message, lastProbeTime: now, lastTransitionTime: now });
    return;
  }
  if (existing.status !== status) existing.lastTransitionTime = now;
  Object.assign(existing, { status, reason, message, lastProbeTime: now });
}
function alreadyExists(kind, name) {
  const r = RESOURCES[kind];
  return new HttpStatusError(409, "AlreadyExists", `${r.plural}${r.group ? "." + r.group : ""} "${name}" already exists`, {
    name,
    group: r.group,
    kind: r.plural
  });
}
function statusBody(err) {
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message: err.message,
    reason: err.reason,
    ...err.details ? { details: err.details } : {},
    code: err.code
  };
}
function sendStatus(res, err) {
  sendJson(res, err.code, statusBody(err));
}
function sendJson(res, status, body) {
  if (res.destroyed || res.writableEnded) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}
function writeEvent(res, type, object) {
  if (res.destroyed || res.writableEnded) return;
  res.write(JSON.stringify({ type, object }) + "\n");
}
function parseLabelSelector(selector) {
  const terms = [];
  let depth = 0;
  let current = "";
  for (const ch of selector) {
    if (ch === "(") depth += 1;
    if (ch === ")") depth -= 1;
    if (ch === "," && depth === 0) {
      terms.push(current);
      current = "";
    } else current += ch;
  }
  terms.push(current);
  const tests = terms.map((t) => t.trim()).filter(Boolean).map((term) => {
    const set = /^([^\s!=()]+)\s+(in|notin)\s+\((.*)\)$/.exec(term);
    if (set) {
      const [, key, op, list] = set;
      const values = list.split(",").map((v) => v.trim());
      return op === "in" ? (l) => key in l && values.includes(l[key]) : (l) => !(key in l) || !values.includes(l[key]);
    }
    const ne = /^([^\s!=]+)\s*!=\s*(.*)$/.exec(term);
    if (ne) return (l) => l[ne[1]] !== ne[2].trim();
    const eq = /^([^\s!=]+)\s*==?\s*(.*)$/.exec(term);
    if (eq) return (l) => l[eq[1]] === eq[2].trim();
    if (term.startsWith("!")) {
      const key = term.slice(1).trim();
      return (l) => !(key in l);
    }
    return (l) => term in l;
  });
  return (labels) => tests.every((t) => t(labels ?? {}));
}
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = a + 1831565813 >>> 0;
    let t = a;
    t = Math.imul(t ^ t >>> 15, t | 1);
    t ^= t + Math.imul(t ^ t >>> 7, t | 61);
    return ((t ^ t >>> 14) >>> 0) / 4294967296;
  };
}

// redeemer/executor/types.ts
var jobNameFor = (redemptionId) => `ctk-redemption-${redemptionId.toString()}`;

// redeemer/executor/kubernetes/labels.ts
var MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
var MANAGED_BY = "ctk-redeemer";
var REDEMPTION_ID_LABEL = "ctk.compute-tokens/redemption-id";
var KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name";
var KUEUE_PRIORITY_LABEL = "kueue.x-k8s.io/priority-class";
var CLASS_ANNOTATION = "ctk.compute-tokens/class";
var ALLOTTED_SECONDS_ANNOTATION = "ctk.compute-tokens/allotted-seconds";
var GPUS_ANNOTATION = "ctk.compute-tokens/gpus";
var SPEC_NAME_ANNOTATION = "ctk.compute-tokens/spec-name";
var PROJECT_ANNOTATION = "ctk.compute-tokens/project";
var GPU_PRODUCT_LABEL = "nvidia.com/gpu.product";
var GPU_RESOURCE = "nvidia.com/gpu";
var CONTAINER_NAME = "main";
var MANAGED_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY}`;
var redemptionSelector = (redemptionId) => `${MANAGED_SELECTOR},${REDEMPTION_ID_LABEL}=${redemptionId.toString()}`;

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

// redeemer/executor/kubernetes/config.ts
import { z as z2 } from "zod";

// sdk/jobSpec.ts
import { z } from "zod";
var PRIORITIES = ["low", "normal", "high", "urgent"];
var SPEC_LIMITS = {
  maxSpecBytes: 8192,
  maxNameLength: 63,
  maxArgs: 64,
  maxArgLength: 1024,
  maxEnvVars: 64,
  maxEnvValueLength: 1024,
  maxHours: 24 * 14
};
var envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be a valid environment variable name");
var jobSpecSchema = z.object({
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

// redeemer/policy/configError.ts
var ConfigError = class _ConfigError extends Error {
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

// redeemer/executor/kubernetes/config.ts
var dnsLabel = z2.string().min(1).max(63).regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "must be a DNS label (lower-case letters, digits and '-')");
var resourceName = z2.string().min(1).max(253).regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, "must be a Kubernetes resource name");
var perPriority = z2.object(
  Object.fromEntries(PRIORITIES.map((p) => [p, resourceName]))
);
var kubernetesExecutorConfigSchema = z2.object({
  /** Namespace the Jobs are created in. */
  namespace: dnsLabel,
  /** Kueue LocalQueue the Jobs are submitted to (`kueue.x-k8s.io/queue-name`). */
  localQueue: resourceName,
  /** Pod `priorityClassName` per priority. */
  priorityClasses: perPriority,
  /** Kueue WorkloadPriorityClass per priority (`kueue.x-k8s.io/priority-class`). */
  workloadPriorityClasses: perPriority,
  /** Create Jobs suspended, for Kueue to admit (Kueue's recommended way). */
  createSuspended: z2.boolean().default(true),
  /** Optional `runAsUser` for images that do not declare a non-root user. */
  runAsUser: z2.number().int().min(1).optional(),
  /** Optional `ttlSecondsAfterFinished`: let Kubernetes garbage-collect finished Jobs. */
  ttlSecondsAfterFinished: z2.number().int().min(0).optional(),
  /** A full re-list of Jobs and Pods this often, whatever the watches say. */
  resyncMs: z2.number().int().min(10).default(3e4),
  /** Per-request timeout of every API call (not of watches). */
  requestTimeoutMs: z2.number().int().min(10).default(1e4),
  /** Attempts of a call that fails with 5xx, 429, a timeout or a network error. */
  maxAttempts: z2.number().int().min(1).max(20).default(5),
  /** First retry back-off; doubles each attempt (with jitter) up to `retryMaxMs`. */
  retryBaseMs: z2.number().int().min(0).default(200),
  retryMaxMs: z2.number().int().min(0).default(5e3),
  /** API calls in flight at once (watches not counted); the rest queue. */
  maxConcurrentRequests: z2.number().int().min(1).max(1e3).default(32),
  /** Page size of list calls. */
  listPageSize: z2.number().int().min(1).max(5e3).default(500)
}).strict();
function parseKubernetesExecutorConfig(raw, source) {
  const parsed = kubernetesExecutorConfigSchema.safeParse(raw);
  if (!parsed.success) throw ConfigError.fromZod("kubernetes executor config", parsed.error, source);
  return parsed.data;
}

// redeemer/executor/kubernetes/errors.ts
var KubernetesUnavailable = class extends Error {
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
var KubernetesRequestRejected = class extends Error {
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
var JobNameTaken = class extends Error {
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
var ExecutorClosed = class extends Error {
  constructor(operation) {
    super(`kubernetes executor is closed (${operation})`);
    this.operation = operation;
  }
  operation;
  name = "ExecutorClosed";
};

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
function gpuSecondsUsed(segments, gpus, allottedSeconds, nowSeconds) {
  const seconds = segments.reduce((sum, s) => sum + Math.max(0, (s.end ?? nowSeconds) - s.start), 0);
  return Math.min(gpus * seconds, gpus * allottedSeconds);
}

// redeemer/executor/kubernetes/jobStateFrom.ts
var UNINFORMATIVE_REASONS = /* @__PURE__ */ new Set(["Error", "Completed"]);
function redemptionIdOf(job) {
  const raw = job.metadata?.labels?.[REDEMPTION_ID_LABEL];
  return raw !== void 0 && /^\d+$/.test(raw) ? BigInt(raw) : void 0;
}
function allotmentOf(job) {
  const annotations = job.metadata?.annotations ?? {};
  const container = job.spec?.template.spec?.containers.find((c2) => c2.name === CONTAINER_NAME) ?? job.spec?.template.spec?.containers[0];
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
  return job.status?.conditions?.find((c2) => c2.type === type && c2.status === "True");
}
function isRunning(pod) {
  return pod.status?.phase === "Running";
}
function isFinished2(job) {
  return condition(job, "Complete") !== void 0 || condition(job, "Failed") !== void 0;
}
function segmentsFromJobStatus(job) {
  const start = toUnixSeconds(job.status?.startTime);
  if (start === void 0 || !isFinished2(job)) return [];
  const end = toUnixSeconds(job.status?.completionTime) ?? toUnixSeconds(condition(job, "Failed")?.lastTransitionTime) ?? start;
  return [{ start, end: Math.max(start, end) }];
}
var byStart = (a, b) => a.start - b.start;
function jobStateFrom(redemptionId, job, pods, segments, nowSeconds) {
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
    gpuSeconds: gpuSecondsUsed(runs, gpus, seconds, nowSeconds)
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

// redeemer/executor/kubernetes/kubernetesExecutor.ts
import { ApiException as ApiException2 } from "@kubernetes/client-node";

// redeemer/executor/kubernetes/jobWatcher.ts
import { setTimeout as sleep2 } from "node:timers/promises";

// redeemer/executor/kubernetes/retry.ts
import { setTimeout as sleep } from "node:timers/promises";
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
function backoffMs(attempt, policy, random = Math.random) {
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
        await sleep(backoffMs(n, policy), void 0, { signal: stop });
      } catch {
        throw new ExecutorClosed(operation);
      }
    }
  }
}

// redeemer/executor/kubernetes/segmentLedger.ts
function ownerJobUid(pod) {
  return pod.metadata?.ownerReferences?.find((o) => o.kind === "Job")?.uid ?? pod.metadata?.labels?.["batch.kubernetes.io/controller-uid"] ?? pod.metadata?.labels?.["controller-uid"];
}
var SegmentLedger = class {
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
  gone(pod, nowSeconds, jobUid = ownerJobUid(pod)) {
    this.observe(pod, jobUid);
    const podUid = pod.metadata?.uid;
    if (jobUid && podUid) this.close(jobUid, podUid, nowSeconds);
  }
  /**
   * `pods` is every current pod of the Job: close the open segments of recorded pods that are
   * missing from it.
   */
  reconcile(jobUid, pods, nowSeconds) {
    for (const pod of pods) this.observe(pod, jobUid);
    const present = new Set(pods.map((p) => p.metadata?.uid));
    for (const podUid of this.jobs.get(jobUid)?.keys() ?? []) {
      if (!present.has(podUid)) this.close(jobUid, podUid, nowSeconds);
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
  close(jobUid, podUid, nowSeconds) {
    const pods = this.jobs.get(jobUid);
    const entry = pods?.get(podUid);
    if (!pods || !entry || entry.segment.end !== void 0) return;
    const { start } = entry.segment;
    let end = entry.deletedAt ?? nowSeconds;
    for (const other of pods.values()) {
      if (other !== entry && other.segment.start > start) end = Math.min(end, other.segment.start);
    }
    entry.segment = { ...entry.segment, end: Math.max(start, end) };
  }
};

// redeemer/executor/kubernetes/jobWatcher.ts
var JobWatcher = class {
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
        await sleep2(backoffMs(failures, this.opts.retry), void 0, { signal: this.stopController.signal });
      } catch {
        break;
      }
    }
  }
  /** Replace the cache of one kind with a fresh list; report what changed. Returns its resourceVersion. */
  async relist(kind) {
    const nowSeconds = Math.floor(this.opts.now() / 1e3);
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
    for (const [uid, pod] of this.pods) if (!fresh.has(uid)) this.podGone(pod, nowSeconds);
    for (const pod of fresh.values()) this.podSeen(pod);
    for (const uid of this.jobs.keys()) this.report(uid);
    return resourceVersion;
  }
  watchOnce(kind, resourceVersion) {
    const path = kind === "jobs" ? `/apis/batch/v1/namespaces/${this.opts.namespace}/jobs` : `/api/v1/namespaces/${this.opts.namespace}/pods`;
    return new Promise((resolve) => {
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
        resolve({ err: err ?? void 0, gone: gone || httpStatusOf(err) === 410 });
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
  podGone(pod, nowSeconds) {
    const uid = pod.metadata.uid;
    const known = this.pods.get(uid) ?? pod;
    this.pods.delete(uid);
    const jobUid = ownerJobUid(known) ?? ownerJobUid(pod);
    if (!jobUid) return;
    this.podsByJob.get(jobUid)?.delete(uid);
    this.opts.ledger.gone(pod, nowSeconds, jobUid);
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
    if (isFinished2(job) && pods.some(isRunning)) return;
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

// redeemer/executor/kubernetes/concurrencyLimit.ts
var ConcurrencyLimit = class {
  constructor(limit) {
    this.limit = limit;
  }
  limit;
  active = 0;
  waiting = [];
  async run(fn) {
    if (this.active < this.limit) this.active += 1;
    else await new Promise((resolve) => this.waiting.push(resolve));
    try {
      return await fn();
    } finally {
      const next2 = this.waiting.shift();
      if (next2) next2();
      else this.active -= 1;
    }
  }
  get inFlight() {
    return this.active;
  }
  get queued() {
    return this.waiting.length;
  }
};

// redeemer/executor/kubernetes/kubeClients.ts
import {
  BatchV1Api,
  CoreV1Api,
  ServerConfiguration,
  Watch,
  createConfiguration
} from "@kubernetes/client-node";
var USER_AGENT = "ctk-redeemer";
var SharedPoolAuthentication = class {
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

// redeemer/executor/kubernetes/kubernetesExecutor.ts
function createKubernetesExecutor(options) {
  return new KubernetesExecutor(options);
}
var KubernetesExecutor = class {
  kind = "kubernetes";
  config;
  clients;
  ledger = new SegmentLedger();
  limit;
  now;
  onWarning;
  stopController = new AbortController();
  watchers = /* @__PURE__ */ new Set();
  /** Watchers whose stop function was called and that are still winding down. */
  stopping = /* @__PURE__ */ new Set();
  closing;
  constructor(options) {
    this.config = parseKubernetesExecutorConfig(options.config);
    this.now = options.now ?? Date.now;
    this.onWarning = options.onWarning ?? (() => {
    });
    this.limit = new ConcurrencyLimit(this.config.maxConcurrentRequests);
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
      if (!this.watchers.delete(watcher)) return;
      const stopping = watcher.stop().finally(() => this.stopping.delete(stopping));
      this.stopping.add(stopping);
    };
  }
  async ping() {
    if (this.stop.aborted) return false;
    try {
      await this.limit.run(() => this.clients.batch.listNamespacedJob({ namespace: this.config.namespace, limit: 1 }));
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
      await Promise.all([...watchers.map((w) => w.stop()), ...this.stopping]);
      await this.clients.close();
    })();
    return this.closing;
  }
  // -------------------------------------------------------------------------------------------
  stateOf(redemptionId, job, pods) {
    const owned = pods.filter((p) => isOwnedBy(p, job));
    const nowSeconds = Math.floor(this.now() / 1e3);
    const jobUid = job.metadata?.uid;
    if (jobUid) this.ledger.reconcile(jobUid, owned, nowSeconds);
    const segments = jobUid ? this.ledger.segments(jobUid) : [];
    return jobStateFrom(redemptionId, job, owned, segments, nowSeconds);
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
  /** Each attempt holds one request slot for its duration (its calls run one after another). */
  retry(operation, attempt, stop = this.stop) {
    return withRetry(operation, this.config, stop, () => this.limit.run(attempt));
  }
};

// .tmp-redeemer/kb.mts
var KUBE = {
  namespace: "gpu-jobs",
  localQueue: "team-gpus",
  priorityClasses: { low: "ctk-low", normal: "ctk-normal", high: "ctk-high", urgent: "ctk-urgent" },
  workloadPriorityClasses: { low: "wl-low", normal: "wl-normal", high: "wl-high", urgent: "wl-urgent" },
  resyncMs: 6e5
};
var fake = await startFakeKube({ historyLimit: 1e5 });
var ex = createKubernetesExecutor({ kubeConfig: fake.kubeConfig(), config: KUBE });
var events = 0;
var watchOn = process.argv[2] === "watch";
if (watchOn) ex.watch(() => events++);
var IMAGE = `registry.example.com/team/train@sha256:${"ab12".repeat(16)}`;
var N = 500;
var t0 = performance.now();
var c0 = process.cpuUsage();
var next = 1;
await Promise.all(Array.from({ length: 64 }, async () => {
  while (next <= N) {
    const id = BigInt(next++);
    await ex.launch({
      redemptionId: id,
      className: "H100-80GB",
      productLabel: "X",
      gpus: 1,
      seconds: 36,
      priority: "normal",
      spec: { name: "x", image: IMAGE, command: ["python"], args: [], env: {}, gpus: 1, hours: 0.01, priority: "normal" }
    });
  }
}));
var c = process.cpuUsage(c0);
console.log("launch", N, "in", Math.round(performance.now() - t0), "ms; cpu", Math.round((c.user + c.system) / 1e3), "ms; events", events);
await ex.close();
await fake.close();
