/**
 * An in-process fake of the slice of the Kubernetes API that the `kubernetes` executor uses:
 * batch/v1 Jobs and core/v1 Pods in namespaces — create, get, list (label selectors, limit /
 * continue, resourceVersion), watch (newline-delimited JSON events, 410 Gone on a compacted
 * resourceVersion) and delete (propagationPolicy). No kube-apiserver can be installed here, so
 * tests drive the real `@kubernetes/client-node` against this server.
 *
 * Jobs move through their lifecycle only when a test says so (`startJob`, `succeedJob`,
 * `failJob`, `preemptJob`, `resumeJob`, `enforceDeadlines`) or, for benchmarks, on timers
 * (`autoRun`). Every timestamp comes from an injectable clock. Faults (5xx, slow responses,
 * spurious 409 after a real create) are drawn from a seeded RNG so a failing run can be replayed.
 */
import http from "node:http";
import https from "node:https";
import type { TLSSocket } from "node:tls";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";

// ---------------------------------------------------------------------------------------------
// Public types

export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

/** A clock that only moves when told to (whole seconds keep Kubernetes timestamps exact). */
export class ManualClock implements Clock {
  constructor(private ms: number = Date.UTC(2030, 0, 1)) {}
  now(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
  advanceSeconds(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

export type Verb = "create" | "get" | "list" | "watch" | "delete";
const VERBS: readonly Verb[] = ["create", "get", "list", "watch", "delete"];

export interface FaultOptions {
  /** Probability that a request is answered 500 InternalError without being processed. */
  errorRate?: number;
  /** Probability that a response is held back `delayMs` (the request is processed first). */
  delayRate?: number;
  delayMs?: number;
  /** Probability that a successful create is answered 409 AlreadyExists anyway. */
  conflictRate?: number;
  /** Verbs the faults apply to (default: all). */
  verbs?: readonly Verb[];
}

export interface AutoRunOptions {
  /** Delay between a Job's creation and its pod starting. */
  startAfterMs: number;
  /** How long the pod runs before the Job completes. */
  runMs: number;
  /** Non-zero makes the Job fail with this exit code instead of succeeding. */
  exitCode?: number;
  node?: string;
}

export interface FakeKubeOptions {
  /** Source of every timestamp the server writes (default: the wall clock). */
  clock?: Clock;
  /** Seed of the RNG that draws faults (default 1). */
  seed?: number;
  faults?: FaultOptions;
  autoRun?: AutoRunOptions;
  /** Watch events kept for resuming watches; older resourceVersions get 410 Gone (default 10 000). */
  historyLimit?: number;
  /**
   * How an expired resourceVersion is reported on a watch: as a 200 stream carrying one ERROR
   * event with a 410 Status (what kube-apiserver does), or as an HTTP 410 response.
   */
  goneAs?: "event" | "status";
  /**
   * Serve HTTPS with this key and certificate (PEM); with `ca`, ask clients for a certificate
   * signed by it (recorded per request, not enforced).
   */
  tls?: { key: string; cert: string; ca?: string };
  /** Keep the method, path, headers and client certificate of every request (`requests`). */
  recordRequests?: boolean;
}

/** A request as the server received it (with `recordRequests`). */
export interface RecordedRequest {
  verb: Verb | undefined;
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** The client's port: one per connection, so it tells reused connections apart. */
  remotePort: number | undefined;
  /** Subject CN of the client certificate presented over TLS, if any. */
  clientCertCN?: string;
}

export interface StartOptions {
  node?: string;
  /** Overrides the pod's `nvidia.com/gpu.product` node selector (the GPU the pod landed on). */
  gpuProduct?: string;
}

export type Kind = "Job" | "Pod";

/** A stored object, as JSON (timestamps are RFC 3339 strings). */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    resourceVersion: string;
    creationTimestamp: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
    deletionTimestamp?: string;
    deletionGracePeriodSeconds?: number;
  };
  // The fake manipulates arbitrary Kubernetes JSON; typing every field would be a second client.
  // biome-ignore lint/suspicious/noExplicitAny: arbitrary Kubernetes JSON (see above)
  spec?: any;
  // biome-ignore lint/suspicious/noExplicitAny: arbitrary Kubernetes JSON (see above)
  status?: any;
}

export interface FakeKubeStats {
  calls: Record<Verb, number>;
  injected: { errors: number; delays: number; conflicts: number };
}

/** Start a fake API server on 127.0.0.1 and a random port. */
export async function startFakeKube(options: FakeKubeOptions = {}): Promise<FakeKube> {
  const fake = new FakeKube(options);
  await fake.listen();
  return fake;
}

// ---------------------------------------------------------------------------------------------

interface Watcher {
  kind: Kind;
  namespace: string;
  matches: (labels: Record<string, string> | undefined) => boolean;
  res: http.ServerResponse;
}

interface HistoryEvent {
  rv: number;
  kind: Kind;
  type: "ADDED" | "MODIFIED" | "DELETED";
  namespace: string;
  /** The object's labels at that event (what a watch's selector is matched against). */
  labels: Record<string, string> | undefined;
  /** The watch event as sent: one line of JSON, serialised once at commit. */
  line: string;
}

const RESOURCES: Record<Kind, { apiVersion: string; plural: string; group: string; listKind: string }> = {
  Job: { apiVersion: "batch/v1", plural: "jobs", group: "batch", listKind: "JobList" },
  Pod: { apiVersion: "v1", plural: "pods", group: "", listKind: "PodList" },
};

const ROUTES: { kind: Kind; pattern: RegExp }[] = [
  { kind: "Job", pattern: /^\/apis\/batch\/v1\/namespaces\/([^/]+)\/jobs(?:\/([^/]+))?\/?$/ },
  { kind: "Pod", pattern: /^\/api\/v1\/namespaces\/([^/]+)\/pods(?:\/([^/]+))?\/?$/ },
];

class HttpStatusError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

export class FakeKube {
  private readonly server: http.Server;
  private readonly tls: FakeKubeOptions["tls"];
  private readonly recordRequests: boolean;
  /** Every request received, with `recordRequests`. */
  readonly requests: RecordedRequest[] = [];
  private readonly clock: Clock;
  private readonly rng: () => number;
  private readonly historyLimit: number;
  private readonly goneAs: "event" | "status";
  private faults: FaultOptions | undefined;
  private autoRun: AutoRunOptions | undefined;

  private readonly store: Record<Kind, Map<string, KubeObject>> = { Job: new Map(), Pod: new Map() };
  private readonly history: HistoryEvent[] = [];
  /** Watches from a resourceVersion below this get 410 Gone. */
  private compactedRv = 0;
  private rv = 1;
  private uidSeq = 0;
  private podSeq = 0;
  private readonly watchers = new Set<Watcher>();
  /** Watch responses with events written this turn of the event loop, flushed together. */
  private readonly corked = new Set<http.ServerResponse>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly jobTimers = new Map<string, Set<NodeJS.Timeout>>();
  private readonly creations = new Map<string, number>();
  // Indexes, so that benchmarks with thousands of Jobs stay linear.
  private readonly jobKeyByName = new Map<string, string>();
  private readonly podKeysByOwner = new Map<string, Set<string>>();
  private readonly ownerOfPod = new Map<string, string>();
  private closed = false;

  readonly stats: FakeKubeStats = {
    calls: { create: 0, get: 0, list: 0, watch: 0, delete: 0 },
    injected: { errors: 0, delays: 0, conflicts: 0 },
  };
  url = "";

  constructor(options: FakeKubeOptions = {}) {
    this.clock = options.clock ?? { now: () => Date.now() };
    this.rng = mulberry32(options.seed ?? 1);
    this.historyLimit = options.historyLimit ?? 10_000;
    this.goneAs = options.goneAs ?? "event";
    this.faults = options.faults;
    this.autoRun = options.autoRun;
    this.tls = options.tls;
    this.recordRequests = options.recordRequests ?? false;
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => this.handle(req, res);
    this.server = options.tls
      ? https.createServer({ key: options.tls.key, cert: options.tls.cert, ...(options.tls.ca && { ca: options.tls.ca, requestCert: true, rejectUnauthorized: false }) }, handler)
      : http.createServer(handler);
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(0, "127.0.0.1", () => resolve());
    });
    const { port } = this.server.address() as AddressInfo;
    this.url = `${this.tls ? "https" : "http"}://127.0.0.1:${port}`;
  }

  /** A KubeConfig for the real client: plain HTTP to this server, no credentials. */
  kubeConfig(namespace = "default"): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "fake", server: this.url, skipTLSVerify: true }],
      users: [],
      contexts: [{ name: "fake", cluster: "fake", user: "", namespace }],
      currentContext: "fake",
    });
    return kc;
  }

  /**
   * A KubeConfig that authenticates as a user: a bearer token and/or a client certificate
   * (PEM), trusting `caPem` for the server's certificate (or not verifying it, `skipTLSVerify`).
   */
  userKubeConfig(user: { token?: string; certPem?: string; keyPem?: string; caPem?: string; skipTLSVerify?: boolean }, namespace = "default"): KubeConfig {
    const b64 = (pem: string | undefined) => pem && Buffer.from(pem).toString("base64");
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "fake", server: this.url, skipTLSVerify: user.skipTLSVerify ?? false, ...(user.caPem && { caData: b64(user.caPem) }) }],
      users: [
        { name: "redeemer", ...(user.token && { token: user.token }), ...(user.certPem && { certData: b64(user.certPem) }), ...(user.keyPem && { keyData: b64(user.keyPem) }) },
      ],
      contexts: [{ name: "fake", cluster: "fake", user: "redeemer", namespace }],
      currentContext: "fake",
    });
    return kc;
  }

  /** Stop accepting requests, end every watch and connection, cancel every timer. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.jobTimers.clear();
    this.flushWatches();
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
    const done = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await done;
  }

  // -------------------------------------------------------------------------------------------
  // Test control

  setFaults(faults: FaultOptions | undefined): void {
    this.faults = faults;
  }

  setAutoRun(autoRun: AutoRunOptions | undefined): void {
    this.autoRun = autoRun;
  }

  /** Forget the event history: every open resourceVersion becomes too old (410 on re-watch). */
  compactHistory(): void {
    this.history.length = 0;
    this.compactedRv = this.rv;
  }

  /** Drop every open watch connection, as a load balancer or an apiserver restart would. */
  cutWatches(): void {
    this.flushWatches();
    for (const w of this.watchers) w.res.destroy();
    this.watchers.clear();
  }

  /**
   * What kube-apiserver does when a watcher falls too far behind: send each open watch an ERROR
   * event carrying a 410 Expired Status and close it. The history is compacted too, so a watch
   * resumed from any resourceVersion seen so far is also answered 410.
   */
  expireWatches(): void {
    this.compactHistory();
    const gone = new HttpStatusError(410, "Expired", `too old resource version (${this.compactedRv})`);
    this.flushWatches();
    for (const w of this.watchers) {
      if (!w.res.destroyed) w.res.end(`${JSON.stringify({ type: "ERROR", object: statusBody(gone) })}\n`);
    }
    this.watchers.clear();
  }

  get openWatches(): number {
    return this.watchers.size;
  }

  /** How many times a Job of this name was really created (any namespace). */
  jobsCreated(name: string): number {
    return this.creations.get(name) ?? 0;
  }

  /** Every Job name ever created, with its creation count. */
  get jobCreations(): ReadonlyMap<string, number> {
    return this.creations;
  }

  job(name: string): KubeObject | undefined {
    const job = this.findJob(name);
    return job && structuredClone(job);
  }

  jobNames(): string[] {
    return [...this.store.Job.values()].map((j) => j.metadata.name);
  }

  /** Pods owned by the named Job, oldest first. */
  pods(jobName: string): KubeObject[] {
    const job = this.findJob(jobName);
    return job ? this.podsOf(job).map((p) => structuredClone(p)) : [];
  }

  /** Admit the Job: unsuspend it and start a running pod on `node`. Returns the pod's name. */
  startJob(name: string, opts: StartOptions = {}): string {
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
      this.jobTimer(job, runMs, () => (exitCode === 0 ? this.succeedJob(name) : this.failJob(name, "Error", exitCode)));
    }
    return pod.metadata.name;
  }

  /** Kueue re-admits a preempted Job: a new pod, a new run segment. */
  resumeJob(name: string, opts: StartOptions = {}): string {
    return this.startJob(name, opts);
  }

  /** The running pod exits with `exitCode` (0) and the Job completes. */
  succeedJob(name: string, exitCode = 0): void {
    const job = this.mustFindJob(name);
    this.clearJobTimers(job);
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
  failJob(name: string, reason = "Error", exitCode = 1): void {
    const job = this.mustFindJob(name);
    this.clearJobTimers(job);
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
  preemptJob(name: string, opts: { deletePod?: boolean } = {}): void {
    const job = this.mustFindJob(name);
    this.clearJobTimers(job); // an autoRun completion must wait for the resumed run
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
  enforceDeadlines(opts: { deletePods?: boolean } = {}): string[] {
    const nowMs = this.clock.now();
    const failed: string[] = [];
    for (const job of this.store.Job.values()) {
      const deadline = job.spec?.activeDeadlineSeconds;
      const start = job.status?.startTime;
      if (isFinished(job) || job.spec.suspend || deadline === undefined || !start) continue;
      if (nowMs < Date.parse(start) + deadline * 1000) continue;
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

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      try {
        this.route(req, res, Buffer.concat(chunks).toString("utf8"));
      } catch (err) {
        const e = err instanceof HttpStatusError ? err : new HttpStatusError(500, "InternalError", (err as Error).message);
        sendStatus(res, e);
      }
    });
  }

  private route(req: http.IncomingMessage, res: http.ServerResponse, body: string): void {
    const url = new URL(req.url ?? "/", "http://fake");
    let route: { kind: Kind; m: RegExpExecArray } | undefined;
    for (const r of ROUTES) {
      const m = r.pattern.exec(url.pathname);
      if (m) {
        route = { kind: r.kind, m };
        break;
      }
    }
    if (!route) throw new HttpStatusError(404, "NotFound", `the server could not find the requested resource`);
    const kind = route.kind;
    const namespace = decodeURIComponent(route.m[1]);
    const name = route.m[2] && decodeURIComponent(route.m[2]);
    const q = url.searchParams;
    const verb = verbOf(req.method ?? "GET", name, q);
    if (this.recordRequests) {
      const peer = this.tls ? (req.socket as TLSSocket).getPeerCertificate?.() : undefined;
      this.requests.push({
        verb,
        method: req.method ?? "GET",
        path: url.pathname,
        headers: { ...req.headers },
        remotePort: req.socket.remotePort,
        ...(peer?.subject?.CN ? { clientCertCN: String(peer.subject.CN) } : {}),
      });
    }
    if (!verb) throw new HttpStatusError(405, "MethodNotAllowed", `${req.method} is not supported by the fake`);
    this.stats.calls[verb] += 1;

    const faults = this.faults;
    const applies = faults && (faults.verbs ?? VERBS).includes(verb);
    if (applies && this.rng() < (faults.errorRate ?? 0)) {
      this.stats.injected.errors += 1;
      throw new HttpStatusError(500, "InternalError", "Internal error occurred: injected fault");
    }
    const delayMs = applies && this.rng() < (faults.delayRate ?? 0) ? (faults.delayMs ?? 1000) : 0;
    if (delayMs > 0) this.stats.injected.delays += 1;

    if (verb === "watch") {
      this.later(delayMs, () => this.watch(kind, namespace, q, res));
      return;
    }

    // Responses are serialised when the request is processed (a snapshot), even if held back.
    let status = 200;
    let text: string;
    try {
      switch (verb) {
        case "create": {
          const created = this.create(kind, namespace, JSON.parse(body || "{}"));
          text = created.json;
          status = 201;
          if (applies && this.rng() < (faults.conflictRate ?? 0)) {
            this.stats.injected.conflicts += 1;
            throw alreadyExists(kind, created.name);
          }
          break;
        }
        case "get":
          text = JSON.stringify(this.mustGet(kind, namespace, name!));
          break;
        case "list":
          text = JSON.stringify(this.list(kind, namespace, q));
          break;
        case "delete":
          text = JSON.stringify(this.delete(kind, namespace, name!, q, body));
          break;
      }
    } catch (err) {
      if (!(err instanceof HttpStatusError)) throw err;
      this.later(delayMs, () => sendStatus(res, err));
      return;
    }
    this.later(delayMs, () => sendText(res, status, text));
  }

  /** Run `fn` now, or after `ms` on a timer that `close()` cancels. */
  private later(ms: number, fn: () => void): void {
    if (ms <= 0) return fn();
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  /** Stores the object; returns its name and its JSON as stored. */
  private create(kind: Kind, namespace: string, body: KubeObject): { name: string; json: string } {
    const name = body?.metadata?.name;
    if (!name) throw new HttpStatusError(422, "Invalid", `${kind} is invalid: metadata.name: Required value`);
    const key = `${namespace}/${name}`;
    if (this.store[kind].has(key)) throw alreadyExists(kind, name);
    const uid = this.nextUid();
    const obj: KubeObject = {
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
        resourceVersion: "",
      },
      status: {},
    };
    if (kind === "Job") {
      defaultJob(obj);
      this.creations.set(name, (this.creations.get(name) ?? 0) + 1);
    } else {
      obj.status = { phase: "Pending" };
    }
    const json = this.commit(kind, "ADDED", obj);
    if (kind === "Job" && this.autoRun) {
      this.jobTimer(obj, this.autoRun.startAfterMs, () => this.startJob(name, { node: this.autoRun?.node }));
    }
    return { name, json };
  }

  private list(kind: Kind, namespace: string, q: URLSearchParams): unknown {
    const matches = parseLabelSelector(q.get("labelSelector") ?? "");
    let items = [...this.store[kind].values()]
      .filter((o) => o.metadata.namespace === namespace && matches(o.metadata.labels))
      .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
    const cont = q.get("continue");
    if (cont) {
      const after = Buffer.from(cont, "base64url").toString("utf8");
      items = items.filter((o) => o.metadata.name > after);
    }
    const limit = Number(q.get("limit") ?? 0);
    let next: string | undefined;
    if (limit > 0 && items.length > limit) {
      items = items.slice(0, limit);
      next = Buffer.from(items[items.length - 1].metadata.name, "utf8").toString("base64url");
    }
    return {
      apiVersion: RESOURCES[kind].apiVersion,
      kind: RESOURCES[kind].listKind,
      metadata: { resourceVersion: String(this.rv), ...(next ? { continue: next } : {}) },
      items,
    };
  }

  private delete(kind: Kind, namespace: string, name: string, q: URLSearchParams, body: string): unknown {
    const obj = this.mustGet(kind, namespace, name);
    let policy = q.get("propagationPolicy") ?? undefined;
    if (!policy && body) {
      try {
        policy = (JSON.parse(body) as { propagationPolicy?: string }).propagationPolicy;
      } catch {
        // a body that is not JSON carries no options
      }
    }
    if (kind === "Job") {
      this.clearJobTimers(obj);
      // batch/v1 Jobs orphan their pods unless told otherwise.
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
      details: { name, group: RESOURCES[kind].group, kind: RESOURCES[kind].plural, uid: obj.metadata.uid },
    };
  }

  private watch(kind: Kind, namespace: string, q: URLSearchParams, res: http.ServerResponse): void {
    if (this.closed || res.destroyed) return;
    const matches = parseLabelSelector(q.get("labelSelector") ?? "");
    const rvParam = q.get("resourceVersion");
    const from = rvParam && rvParam !== "0" ? Number(rvParam) : undefined;
    if (from !== undefined && (!Number.isFinite(from) || from < this.compactedRv)) {
      const gone = new HttpStatusError(410, "Expired", `too old resource version: ${rvParam} (${this.compactedRv})`);
      if (this.goneAs === "status") return sendStatus(res, gone);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(`${JSON.stringify({ type: "ERROR", object: statusBody(gone) })}\n`);
      return;
    }
    res.writeHead(200, { "content-type": "application/json", "cache-control": "no-cache" });
    res.flushHeaders(); // the client's fetch resolves on headers; a quiet watch must still get them
    const inScope = (o: KubeObject) => o.metadata.namespace === namespace && matches(o.metadata.labels);
    if (from === undefined) {
      for (const o of this.store[kind].values()) {
        if (inScope(o)) writeLine(res, eventLine("ADDED", JSON.stringify(o)));
      }
    } else {
      for (const e of this.history) {
        if (e.rv > from && e.kind === kind && e.namespace === namespace && matches(e.labels)) writeLine(res, e.line);
      }
    }
    const watcher: Watcher = { kind, namespace, matches, res };
    this.watchers.add(watcher);
    res.on("close", () => this.watchers.delete(watcher));
    const timeoutSeconds = Number(q.get("timeoutSeconds") ?? 0);
    if (timeoutSeconds > 0) this.later(timeoutSeconds * 1000, () => res.end());
  }

  // -------------------------------------------------------------------------------------------
  // Store

  /**
   * Stores a change and tells the watches. The object is serialised once, here: that JSON is the
   * snapshot kept in the history, sent to every watch and returned (a create's response).
   */
  private commit(kind: Kind, type: HistoryEvent["type"], obj: KubeObject): string {
    this.rv += 1;
    obj.metadata.resourceVersion = String(this.rv);
    const key = `${obj.metadata.namespace}/${obj.metadata.name}`;
    if (type === "DELETED") this.store[kind].delete(key);
    else this.store[kind].set(key, obj);
    this.index(kind, type, key, obj);
    const json = JSON.stringify(obj);
    const line = eventLine(type, json);
    const { namespace, labels } = obj.metadata;
    this.history.push({ rv: this.rv, kind, type, namespace, labels: labels && { ...labels }, line });
    if (this.history.length > this.historyLimit) {
      const dropped = this.history.splice(0, this.history.length - this.historyLimit);
      this.compactedRv = dropped[dropped.length - 1].rv;
    }
    for (const w of this.watchers) {
      if (w.kind === kind && w.namespace === namespace && w.matches(labels)) this.writeWatch(w.res, line);
    }
    return json;
  }

  /**
   * Events of one turn of the event loop go out together (kube-apiserver, too, flushes a watch
   * only when no more events are pending), rather than one socket write each.
   */
  private writeWatch(res: http.ServerResponse, line: string): void {
    if (res.destroyed || res.writableEnded) return;
    if (!this.corked.has(res)) {
      if (this.corked.size === 0) setImmediate(() => this.flushWatches());
      this.corked.add(res);
      res.cork();
    }
    res.write(line);
  }

  private flushWatches(): void {
    for (const res of this.corked) if (!res.destroyed) res.uncork();
    this.corked.clear();
  }

  private index(kind: Kind, type: HistoryEvent["type"], key: string, obj: KubeObject): void {
    if (kind === "Job") {
      if (type !== "DELETED") this.jobKeyByName.set(obj.metadata.name, key);
      else if (this.jobKeyByName.get(obj.metadata.name) === key) this.jobKeyByName.delete(obj.metadata.name);
      return;
    }
    const previous = this.ownerOfPod.get(key);
    const owner = type === "DELETED" ? undefined : obj.metadata.ownerReferences?.find((o) => o.kind === "Job")?.uid;
    if (previous === owner) return;
    if (previous) this.podKeysByOwner.get(previous)?.delete(key);
    if (owner) {
      let keys = this.podKeysByOwner.get(owner);
      if (!keys) {
        keys = new Set();
        this.podKeysByOwner.set(owner, keys);
      }
      keys.add(key);
      this.ownerOfPod.set(key, owner);
    } else this.ownerOfPod.delete(key);
  }

  private remove(kind: Kind, obj: KubeObject): void {
    obj.metadata.deletionTimestamp ??= this.timestamp();
    this.commit(kind, "DELETED", obj);
  }

  private mustGet(kind: Kind, namespace: string, name: string): KubeObject {
    const obj = this.store[kind].get(`${namespace}/${name}`);
    if (!obj) {
      throw new HttpStatusError(404, "NotFound", `${RESOURCES[kind].plural}${RESOURCES[kind].group ? `.${RESOURCES[kind].group}` : ""} "${name}" not found`, {
        name,
        group: RESOURCES[kind].group,
        kind: RESOURCES[kind].plural,
      });
    }
    return obj;
  }

  private findJob(name: string): KubeObject | undefined {
    const key = this.jobKeyByName.get(name);
    return key === undefined ? undefined : this.store.Job.get(key);
  }

  private mustFindJob(name: string): KubeObject {
    const job = this.findJob(name);
    if (!job) throw new Error(`fakeKube: no job named ${name}`);
    return job;
  }

  private podsOf(job: KubeObject): KubeObject[] {
    return [...(this.podKeysByOwner.get(job.metadata.uid) ?? [])]
      .map((key) => this.store.Pod.get(key)!)
      .sort((a, b) => a.metadata.creationTimestamp.localeCompare(b.metadata.creationTimestamp) || a.metadata.name.localeCompare(b.metadata.name));
  }

  private runningPod(job: KubeObject): KubeObject | undefined {
    return this.podsOf(job).find((p) => p.status?.phase === "Running");
  }

  private newPod(job: KubeObject, opts: StartOptions, now: string): KubeObject {
    this.podSeq += 1;
    const name = `${job.metadata.name}-${this.podSeq.toString(36).padStart(5, "0")}`;
    const template = structuredClone(job.spec.template ?? {});
    const spec = { ...(template.spec ?? {}), nodeName: opts.node ?? "gpu-node-0" };
    if (opts.gpuProduct) spec.nodeSelector = { ...(spec.nodeSelector ?? {}), "nvidia.com/gpu.product": opts.gpuProduct };
    const containers: { name: string; image: string }[] = spec.containers ?? [];
    return {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name,
        namespace: job.metadata.namespace,
        uid: this.nextUid(),
        resourceVersion: "",
        creationTimestamp: now,
        labels: { ...(template.metadata?.labels ?? {}) },
        annotations: { ...(template.metadata?.annotations ?? {}) },
        ownerReferences: [{ apiVersion: "batch/v1", kind: "Job", name: job.metadata.name, uid: job.metadata.uid, controller: true }],
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
          lastTransitionTime: now,
        })),
        containerStatuses: containers.map((c) => ({
          name: c.name,
          image: c.image,
          imageID: c.image,
          containerID: `containerd://${this.podSeq.toString(16).padStart(12, "0")}`,
          ready: true,
          started: true,
          restartCount: 0,
          state: { running: { startedAt: now } },
        })),
      },
    };
  }

  private terminatePod(pod: KubeObject, exitCode: number, reason: string, now: string): void {
    pod.status.phase = exitCode === 0 ? "Succeeded" : "Failed";
    for (const c of pod.status.containerStatuses ?? []) {
      const startedAt = c.state?.running?.startedAt;
      c.ready = false;
      c.started = false;
      c.state = { terminated: { exitCode, reason, startedAt, finishedAt: now, containerID: c.containerID } };
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

  private clearJobTimers(job: KubeObject): void {
    for (const t of this.jobTimers.get(job.metadata.uid) ?? []) {
      clearTimeout(t);
      this.timers.delete(t);
    }
    this.jobTimers.delete(job.metadata.uid);
  }

  private jobTimer(job: KubeObject, ms: number, fn: () => void): void {
    const uid = job.metadata.uid;
    const set = this.jobTimers.get(uid) ?? new Set<NodeJS.Timeout>();
    this.jobTimers.set(uid, set);
    const t = setTimeout(() => {
      this.timers.delete(t);
      set.delete(t);
      try {
        fn();
      } catch {
        // The job moved on (deleted, finished) before its timer fired.
      }
    }, ms);
    this.timers.add(t);
    set.add(t);
  }

  private nextUid(): string {
    this.uidSeq += 1;
    return `00000000-0000-4000-8000-${this.uidSeq.toString(16).padStart(12, "0")}`;
  }

  private lastStamp = { second: NaN, text: "" };

  private timestamp(): string {
    const second = Math.floor(this.clock.now() / 1000);
    if (second !== this.lastStamp.second) this.lastStamp = { second, text: rfc3339(second * 1000) };
    return this.lastStamp.text;
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

function verbOf(method: string, name: string | undefined, q: URLSearchParams): Verb | undefined {
  const watch = q.get("watch");
  if (method === "GET") return name ? "get" : watch === "true" || watch === "1" ? "watch" : "list";
  if (method === "POST" && !name) return "create";
  if (method === "DELETE" && name) return "delete";
  return undefined;
}

/** Kubernetes serialises times to whole seconds. */
function rfc3339(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

function defaultJob(job: KubeObject): void {
  const { uid, name } = job.metadata;
  job.spec ??= {};
  const spec = job.spec;
  spec.suspend ??= false;
  spec.parallelism ??= 1;
  spec.completions ??= 1;
  spec.completionMode ??= "NonIndexed";
  spec.backoffLimit ??= 6;
  spec.selector = { matchLabels: { "batch.kubernetes.io/controller-uid": uid } };
  spec.template ??= {};
  const template = spec.template;
  template.metadata ??= {};
  const meta = template.metadata;
  meta.labels = {
    ...(meta.labels ?? {}),
    "batch.kubernetes.io/controller-uid": uid,
    "batch.kubernetes.io/job-name": name,
    "controller-uid": uid,
    "job-name": name,
  };
  job.status = {};
  if (spec.suspend) {
    setCondition(job, "Suspended", "True", "JobSuspended", "Job suspended", job.metadata.creationTimestamp);
  }
}

function isFinished(job: KubeObject): boolean {
  return (job.status?.conditions ?? []).some((c: { type: string; status: string }) => (c.type === "Complete" || c.type === "Failed") && c.status === "True");
}

function containerName(pod: KubeObject): string {
  return pod.spec?.containers?.[0]?.name ?? "main";
}

function setCondition(obj: KubeObject, type: string, status: string, reason: string, message: string, now: string): void {
  obj.status ??= {};
  obj.status.conditions ??= [];
  const conditions: { type: string; status: string; [k: string]: unknown }[] = obj.status.conditions;
  const existing = conditions.find((c) => c.type === type);
  if (!existing) {
    if (status === "False") return; // absent means false
    conditions.push({ type, status, reason, message, lastProbeTime: now, lastTransitionTime: now });
    return;
  }
  if (existing.status !== status) existing.lastTransitionTime = now;
  Object.assign(existing, { status, reason, message, lastProbeTime: now });
}

function alreadyExists(kind: Kind, name: string): HttpStatusError {
  const r = RESOURCES[kind];
  return new HttpStatusError(409, "AlreadyExists", `${r.plural}${r.group ? `.${r.group}` : ""} "${name}" already exists`, {
    name,
    group: r.group,
    kind: r.plural,
  });
}

function statusBody(err: HttpStatusError): unknown {
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message: err.message,
    reason: err.reason,
    ...(err.details ? { details: err.details } : {}),
    code: err.code,
  };
}

function sendStatus(res: http.ServerResponse, err: HttpStatusError): void {
  sendJson(res, err.code, statusBody(err));
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  sendText(res, status, JSON.stringify(body));
}

function sendText(res: http.ServerResponse, status: number, text: string): void {
  if (res.destroyed || res.writableEnded) return;
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function eventLine(type: string, objectJson: string): string {
  return `{"type":"${type}","object":${objectJson}}\n`;
}

function writeLine(res: http.ServerResponse, line: string): void {
  if (res.destroyed || res.writableEnded) return;
  res.write(line);
}

/**
 * Equality-based and set-based label selectors: `a=b`, `a==b`, `a!=b`, `a`, `!a`,
 * `a in (x,y)`, `a notin (x,y)`, comma-separated (AND).
 */
export function parseLabelSelector(selector: string): (labels: Record<string, string> | undefined) => boolean {
  const terms: string[] = [];
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
  const tests = terms
    .map((t) => t.trim())
    .filter(Boolean)
    .map((term): ((l: Record<string, string>) => boolean) => {
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

/** Small, fast, seedable PRNG (public-domain mulberry32). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
