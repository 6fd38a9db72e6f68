/**
 * The `kubernetes` executor: one batch/v1 Job per redemption, admitted by Kueue, followed
 * through its Job and Pods, with GPU usage summed over the pods' run segments.
 */
import type { KubeConfig, V1Job, V1Pod } from "@kubernetes/client-node";
import type { Executor, JobState, LaunchRequest, LaunchResult } from "../types.js";
import { jobNameFor } from "../types.js";
import { buildJobManifest } from "./buildJobManifest.js";
import { parseKubernetesExecutorConfig, type KubernetesExecutorConfig, type KubernetesExecutorConfigInput } from "./config.js";
import { ExecutorClosed, JobNameTaken } from "./errors.js";
import { isOwnedBy, jobStateFrom, redemptionIdOf } from "./jobStateFrom.js";
import { JobWatcher, type Listing } from "./jobWatcher.js";
import { Limiter } from "../../../sdk/limiter.js";
import { createKubeClients, USER_AGENT, type KubeClients } from "./kubeClients.js";
import { KubeEndpoint } from "./http1.js";
import { JobPoster } from "./jobPoster.js";
import { LABEL, MANAGED_BY, MANAGED_SELECTOR, redemptionSelector } from "./labels.js";
import { TryAgain, httpStatusOf, withRetry } from "./retry.js";
import { SegmentLedger, ownerJobUid } from "./segmentLedger.js";

export interface KubernetesExecutorOptions {
  /** Where the API server is and how to authenticate (e.g. `kc.loadFromDefault()`). */
  kubeConfig: KubeConfig;
  /** Settings; validated here (throws ConfigError). */
  config: KubernetesExecutorConfigInput;
  /** Milliseconds since the epoch; tests inject the fake cluster's clock. */
  now?: () => number;
  /** Recoverable trouble (a watch that failed and is being restarted, a throwing callback). */
  onWarning?: (message: string, details: Record<string, unknown>) => void;
}

export function createKubernetesExecutor(options: KubernetesExecutorOptions): KubernetesExecutor {
  return new KubernetesExecutor(options);
}

export class KubernetesExecutor implements Executor {
  readonly kind = "kubernetes" as const;
  readonly config: KubernetesExecutorConfig;
  private readonly clients: KubeClients;
  /** The light create path (undefined behind a proxy: the stock client is used there). */
  private readonly poster: JobPoster | undefined;
  private readonly ledger = new SegmentLedger();
  private readonly limit: Limiter;
  private readonly now: () => number;
  private readonly onWarning: (message: string, details: Record<string, unknown>) => void;
  private readonly stopController = new AbortController();
  private readonly watchers = new Set<JobWatcher>();
  /** Watchers whose stop function was called and that are still winding down. */
  private readonly stopping = new Set<Promise<void>>();
  private closing: Promise<void> | undefined;

  constructor(options: KubernetesExecutorOptions) {
    this.config = parseKubernetesExecutorConfig(options.config);
    this.now = options.now ?? Date.now;
    this.onWarning = options.onWarning ?? (() => {});
    this.limit = new Limiter(this.config.maxConcurrentRequests);
    this.clients = createKubeClients(options.kubeConfig, {
      requestTimeoutMs: this.config.requestTimeoutMs,
      stop: this.stopController.signal,
    });
    // Creates, the hot path, speak HTTP/1.1 themselves where they can (not through a proxy).
    const endpoint = KubeEndpoint.supports(options.kubeConfig) ? new KubeEndpoint(options.kubeConfig) : undefined;
    this.poster = endpoint
      ? new JobPoster(endpoint, {
          requestTimeoutMs: this.config.requestTimeoutMs,
          stop: this.stopController.signal,
          maxConnections: Math.ceil(this.config.maxConcurrentRequests / this.config.pipelining),
          pipelining: this.config.pipelining,
          userAgent: USER_AGENT,
        })
      : undefined;
  }

  private get stop(): AbortSignal {
    return this.stopController.signal;
  }

  async launch(req: LaunchRequest): Promise<LaunchResult> {
    const name = jobNameFor(req.redemptionId);
    const namespace = this.config.namespace;
    const operation = `create job ${name}`;
    const body = buildJobManifest(req, this.config);
    // The light path sends the manifest serialised once (not per attempt); the stock client gets the object.
    const json = this.poster && JSON.stringify(body);
    return this.retry(operation, async () => {
      try {
        if (json !== undefined) await this.poster!.create(namespace, json);
        else await this.clients.batch.createNamespacedJob({ namespace, body });
        return { name, alreadyExisted: false };
      } catch (err) {
        if (httpStatusOf(err) !== 409) throw err;
      }
      // The name is taken: by an earlier launch of this redemption (perhaps one whose response
      // was lost), or by something else entirely.
      const existing = await this.readJob(name);
      if (!existing) throw new TryAgain(`job ${name} vanished after AlreadyExists`);
      const labels = existing.metadata?.labels ?? {};
      if (labels[LABEL.managedBy] !== MANAGED_BY || labels[LABEL.redemptionId] !== req.redemptionId.toString()) {
        throw new JobNameTaken(name, req.redemptionId, labels[LABEL.redemptionId]);
      }
      return { name, alreadyExisted: true };
    });
  }

  get(redemptionId: bigint): Promise<JobState | undefined> {
    return this.read(redemptionId, this.stop);
  }

  async list(): Promise<JobState[]> {
    // Jobs first, then pods (as in `get`): a Job listed finished has its pods listed ended.
    const jobs = await this.listJobs(this.stop);
    const pods = await this.listPods(this.stop);
    const podsByJob = new Map<string, V1Pod[]>();
    for (const pod of pods.items) {
      const uid = ownerJobUid(pod);
      if (!uid) continue;
      const owned = podsByJob.get(uid);
      if (owned) owned.push(pod);
      else podsByJob.set(uid, [pod]);
    }
    const states: JobState[] = [];
    for (const job of jobs.items) {
      const redemptionId = redemptionIdOf(job);
      if (redemptionId === undefined) continue;
      states.push(this.stateOf(redemptionId, job, podsByJob.get(job.metadata?.uid ?? "") ?? []));
    }
    return states.sort((a, b) => (a.redemptionId < b.redemptionId ? -1 : a.redemptionId > b.redemptionId ? 1 : 0));
  }

  async remove(redemptionId: bigint): Promise<void> {
    const name = jobNameFor(redemptionId);
    const uid = await this.retry(`delete job ${name}`, async () => {
      try {
        const status = await this.clients.batch.deleteNamespacedJob({
          name,
          namespace: this.config.namespace,
          propagationPolicy: "Background",
        });
        return status.details?.uid;
      } catch (err) {
        if (httpStatusOf(err) === 404) return undefined;
        throw err;
      }
    });
    this.ledger.forget(uid);
  }

  watch(onChange: (state: JobState) => void): () => void {
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
      read: (redemptionId, stop) => this.read(redemptionId, stop),
      onChange,
      onWarning: this.onWarning,
    });
    this.watchers.add(watcher);
    watcher.start();
    return () => {
      if (!this.watchers.delete(watcher)) return;
      const stopping = watcher.stop().finally(() => this.stopping.delete(stopping));
      this.stopping.add(stopping);
    };
  }

  async ping(): Promise<boolean> {
    if (this.stop.aborted) return false;
    try {
      await this.limit.run(() => this.clients.batch.listNamespacedJob({ namespace: this.config.namespace, limit: 1 }));
      return true;
    } catch {
      return false;
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stopController.abort(new ExecutorClosed("close"));
      const watchers = [...this.watchers];
      this.watchers.clear();
      await Promise.all([...watchers.map((w) => w.stop()), ...this.stopping]);
      await Promise.all([this.clients.close(), this.poster?.close()]);
    })();
    return this.closing;
  }

  // -------------------------------------------------------------------------------------------

  /** The Job first, then its pods: a pod that ended before the Job was marked is seen ended. */
  private async read(redemptionId: bigint, stop: AbortSignal): Promise<JobState | undefined> {
    const name = jobNameFor(redemptionId);
    const job = await this.retry(`get job ${name}`, () => this.readJob(name), stop);
    if (!job) return undefined;
    const { items } = await this.listAll(`list pods of ${name}`, (q) => this.clients.core.listNamespacedPod(q), redemptionSelector(redemptionId), stop);
    return this.stateOf(redemptionId, job, items);
  }

  private stateOf(redemptionId: bigint, job: V1Job, pods: readonly V1Pod[]): JobState {
    const owned = pods.filter((p) => isOwnedBy(p, job));
    const nowSeconds = Math.floor(this.now() / 1000);
    const jobUid = job.metadata?.uid;
    if (jobUid) this.ledger.reconcile(jobUid, owned, nowSeconds);
    const segments = jobUid ? this.ledger.segments(jobUid) : [];
    return jobStateFrom(redemptionId, job, owned, segments, nowSeconds);
  }

  /** The Job, or undefined on 404. */
  private async readJob(name: string): Promise<V1Job | undefined> {
    try {
      return await this.clients.batch.readNamespacedJob({ name, namespace: this.config.namespace });
    } catch (err) {
      if (httpStatusOf(err) === 404) return undefined;
      throw err;
    }
  }

  private listJobs(stop: AbortSignal): Promise<Listing<V1Job>> {
    return this.listAll("list jobs", (q) => this.clients.batch.listNamespacedJob(q), MANAGED_SELECTOR, stop);
  }

  private listPods(stop: AbortSignal): Promise<Listing<V1Pod>> {
    return this.listAll("list pods", (q) => this.clients.core.listNamespacedPod(q), MANAGED_SELECTOR, stop);
  }

  /** Every page of the namespace's objects under `labelSelector`; the resourceVersion is the first page's (the snapshot's). */
  private async listAll<T>(
    operation: string,
    list: (query: {
      namespace: string;
      labelSelector: string;
      limit: number;
      _continue?: string;
    }) => Promise<{ items: T[]; metadata?: { _continue?: string; resourceVersion?: string } }>,
    labelSelector: string,
    stop: AbortSignal = this.stop,
  ): Promise<Listing<T>> {
    const query = { namespace: this.config.namespace, labelSelector, limit: this.config.listPageSize };
    const items: T[] = [];
    let resourceVersion: string | undefined;
    let cont: string | undefined;
    do {
      const result = await this.retry(operation, () => list({ ...query, _continue: cont }), stop);
      items.push(...result.items);
      resourceVersion ??= result.metadata?.resourceVersion;
      cont = result.metadata?._continue || undefined;
    } while (cont);
    return { items, resourceVersion: resourceVersion ?? "" };
  }

  /** Each attempt holds one request slot for its duration (its calls run one after another). */
  private retry<T>(operation: string, attempt: () => Promise<T>, stop: AbortSignal = this.stop): Promise<T> {
    return withRetry(operation, this.config, stop, () => this.limit.run(attempt));
  }
}
