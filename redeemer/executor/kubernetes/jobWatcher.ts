/**
 * Follows the executor's Jobs and Pods: list, then watch from the list's resourceVersion; when
 * a watch ends (410 Gone, a cut connection, a server timeout) list again and watch again; and
 * every `resyncMs` restart the cycle anyway, so a watch that silently stalled cannot hide a
 * change for longer than that. Each change is turned into the redemption's JobState, which is
 * reported when it differs from the last one reported; a finished Job's state comes from a
 * fresh read, so the final report carries the final usage.
 */
import type { V1Job, V1Pod } from "@kubernetes/client-node";
import { setTimeout as sleep } from "node:timers/promises";
import type { JobState } from "../types.js";
import type { KubeClients } from "./kubeClients.js";
import { isFinished, jobStateFrom, podsShowEnd, redemptionIdOf } from "./jobStateFrom.js";
import { MANAGED_SELECTOR } from "./labels.js";
import { backoffMs } from "../../../sdk/retry.js";
import { getOrInsert } from "../../../sdk/getOrInsert.js";
import { backoffPolicy, httpStatusOf, type RetryPolicy } from "./retry.js";
import { ownerJobUid, type SegmentLedger } from "./segmentLedger.js";

type ResourceKind = "jobs" | "pods";

export interface Listing<T> {
  items: T[];
  resourceVersion: string;
}

export interface JobWatcherOptions {
  clients: KubeClients;
  namespace: string;
  resyncMs: number;
  retry: RetryPolicy;
  ledger: SegmentLedger;
  /** Milliseconds since the epoch. */
  now: () => number;
  listJobs: (stop: AbortSignal) => Promise<Listing<V1Job>>;
  listPods: (stop: AbortSignal) => Promise<Listing<V1Pod>>;
  /** A fresh read of one redemption's Job and pods (the executor's `get`). */
  read: (redemptionId: bigint, stop: AbortSignal) => Promise<JobState | undefined>;
  onChange: (state: JobState) => void;
  onWarning: (message: string, details: Record<string, unknown>) => void;
}

interface WatchEnd {
  err?: unknown;
  gone: boolean;
}

export class JobWatcher {
  private readonly jobs = new Map<string, V1Job>();
  private readonly pods = new Map<string, V1Pod>();
  private readonly podsByJob = new Map<string, Set<string>>();
  private readonly reported = new Map<string, string>();
  /** Finished Jobs already read afresh, at this resourceVersion. */
  private readonly confirmed = new Map<string, string>();
  private readonly confirming = new Set<string>();
  private readonly reads = new Set<Promise<void>>();
  private readonly stopController = new AbortController();
  private readonly watches: Partial<Record<ResourceKind, AbortController>> = {};
  private readonly restartRequested: Record<ResourceKind, boolean> = { jobs: false, pods: false };
  private loops: Promise<void>[] = [];
  private resyncTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: JobWatcherOptions) {}

  start(): void {
    this.loops = (["jobs", "pods"] as const).map((kind) => this.run(kind));
    this.resyncTimer = setInterval(() => this.resync(), this.opts.resyncMs);
  }

  /** Stop watching; resolves once every loop has ended and every connection is closed. */
  async stop(): Promise<void> {
    if (!this.stopController.signal.aborted) {
      this.stopController.abort();
      clearInterval(this.resyncTimer);
      for (const kind of ["jobs", "pods"] as const) this.watches[kind]?.abort();
    }
    await Promise.all(this.loops);
    await Promise.all([...this.reads]);
  }

  private get stopped(): boolean {
    return this.stopController.signal.aborted;
  }

  /** End the current watches; their loops list again and watch again. */
  private resync(): void {
    for (const kind of ["jobs", "pods"] as const) {
      const watch = this.watches[kind];
      if (watch) {
        this.restartRequested[kind] = true;
        watch.abort();
      }
    }
  }

  private async run(kind: ResourceKind): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      let end: WatchEnd;
      try {
        const resourceVersion = await this.relist(kind);
        end = await this.watchOnce(kind, resourceVersion);
      } catch (err) {
        end = { err, gone: false };
      }
      if (this.stopped) break;
      const restarted = this.restartRequested[kind];
      this.restartRequested[kind] = false;
      if (restarted || end.gone || !end.err || (end.err as { name?: string }).name === "TimeoutError") {
        failures = 0;
        continue;
      }
      failures += 1;
      this.opts.onWarning(`watch of ${kind} failed; listing again`, {
        attempt: failures,
        status: httpStatusOf(end.err),
        error: String(end.err),
      });
      try {
        await sleep(backoffMs(failures, backoffPolicy(this.opts.retry)), undefined, { signal: this.stopController.signal });
      } catch {
        break;
      }
    }
  }

  /** Replace the cache of one kind with a fresh list; report what changed. Returns its resourceVersion. */
  private async relist(kind: ResourceKind): Promise<string> {
    const nowSeconds = Math.floor(this.opts.now() / 1000);
    if (kind === "jobs") {
      const { items, resourceVersion } = await this.opts.listJobs(this.stopController.signal);
      if (this.stopped) return resourceVersion;
      const fresh = new Map(items.filter((j) => j.metadata?.uid).map((j) => [j.metadata!.uid!, slimJob(j)]));
      for (const uid of this.jobs.keys()) if (!fresh.has(uid)) this.jobGone(uid);
      for (const [uid, job] of fresh) this.jobs.set(uid, job);
      for (const uid of fresh.keys()) this.report(uid);
      return resourceVersion;
    }
    const { items, resourceVersion } = await this.opts.listPods(this.stopController.signal);
    if (this.stopped) return resourceVersion;
    const fresh = new Map(items.filter((p) => p.metadata?.uid).map((p) => [p.metadata!.uid!, p]));
    for (const [uid, pod] of this.pods) if (!fresh.has(uid)) this.podGone(pod, nowSeconds);
    for (const pod of fresh.values()) this.podSeen(pod);
    for (const uid of this.jobs.keys()) this.report(uid);
    return resourceVersion;
  }

  private watchOnce(kind: ResourceKind, resourceVersion: string): Promise<WatchEnd> {
    const path = kind === "jobs" ? `/apis/batch/v1/namespaces/${this.opts.namespace}/jobs` : `/api/v1/namespaces/${this.opts.namespace}/pods`;
    return new Promise<WatchEnd>((resolve) => {
      let gone = false;
      let ended = false;
      const onEvent = (type: string, obj: unknown) => {
        if (this.stopped || ended) return;
        if (type === "ERROR") {
          // kube-apiserver reports an expired resourceVersion as an ERROR event, then closes.
          if ((obj as { code?: number } | undefined)?.code === 410) gone = true;
          return;
        }
        if (type === "BOOKMARK") return;
        this.apply(kind, type, obj as V1Job & V1Pod);
      };
      const onDone = (err: unknown) => {
        ended = true;
        this.watches[kind] = undefined;
        resolve({ err: err ?? undefined, gone: gone || httpStatusOf(err) === 410 });
      };
      this.opts.clients.watch
        .watch(path, { labelSelector: MANAGED_SELECTOR, resourceVersion, allowWatchBookmarks: true }, onEvent, onDone)
        .then((controller) => {
          if (ended || this.stopped) controller.abort();
          else this.watches[kind] = controller;
        })
        .catch((err: unknown) => onDone(err));
    });
  }

  private apply(kind: ResourceKind, type: string, obj: V1Job & V1Pod): void {
    const uid = obj?.metadata?.uid;
    if (!uid) return;
    if (kind === "jobs") {
      if (type === "DELETED") this.jobGone(uid);
      else {
        this.jobs.set(uid, slimJob(obj));
        this.report(uid);
      }
      return;
    }
    const jobUid = ownerJobUid(obj);
    if (type === "DELETED") this.podGone(obj, Math.floor(this.opts.now() / 1000));
    else this.podSeen(obj);
    if (jobUid) this.report(jobUid);
  }

  private jobGone(uid: string): void {
    this.jobs.delete(uid);
    this.reported.delete(uid);
    this.confirmed.delete(uid);
    this.opts.ledger.forget(uid);
  }

  private podSeen(pod: V1Pod): void {
    const uid = pod.metadata!.uid!;
    this.pods.set(uid, pod);
    const jobUid = ownerJobUid(pod);
    if (!jobUid) return;
    getOrInsert(this.podsByJob, jobUid, () => new Set()).add(uid);
    this.opts.ledger.observe(pod, jobUid);
  }

  private podGone(pod: V1Pod, nowSeconds: number): void {
    const uid = pod.metadata!.uid!;
    const known = this.pods.get(uid) ?? pod;
    this.pods.delete(uid);
    const jobUid = ownerJobUid(known) ?? ownerJobUid(pod);
    if (!jobUid) return;
    this.podsByJob.get(jobUid)?.delete(uid);
    this.opts.ledger.gone(pod, nowSeconds, jobUid);
  }

  /**
   * Report the Job's state if it differs from the last one reported. The Jobs and Pods watches
   * are separate streams, and a Job's final condition can arrive before its pod's last events:
   * a finished Job whose cached pods do not show the end yet is read afresh (Job, then pods —
   * Kubernetes marks a Job finished only after its pods have ended, so that read sees them).
   */
  private report(jobUid: string): void {
    const job = this.jobs.get(jobUid);
    const redemptionId = job && redemptionIdOf(job);
    if (!job || redemptionId === undefined) return;
    const pods = [...(this.podsByJob.get(jobUid) ?? [])].map((uid) => this.pods.get(uid)!).filter(Boolean);
    if (isFinished(job)) {
      const resourceVersion = job.metadata?.resourceVersion ?? "";
      if (this.confirmed.get(jobUid) === resourceVersion) return;
      if (!podsShowEnd(pods)) {
        this.confirmFinished(jobUid, redemptionId, resourceVersion);
        return;
      }
      this.confirmed.set(jobUid, resourceVersion);
    }
    const nowSeconds = Math.floor(this.opts.now() / 1000);
    this.emit(jobUid, jobStateFrom(redemptionId, job, pods, this.opts.ledger.segments(jobUid), nowSeconds));
  }

  private confirmFinished(jobUid: string, redemptionId: bigint, resourceVersion: string): void {
    if (this.confirming.has(jobUid)) return;
    this.confirming.add(jobUid);
    const done: Promise<void> = this.opts
      .read(redemptionId, this.stopController.signal)
      .then((state) => {
        if (this.stopped || !state) return;
        this.confirmed.set(jobUid, resourceVersion);
        this.emit(jobUid, state);
      })
      .catch((err: unknown) => {
        // The next list (at the latest the next resync) tries again.
        if (!this.stopped) {
          this.opts.onWarning("could not read a finished job", { redemptionId: String(redemptionId), error: String(err) });
        }
      })
      .finally(() => {
        this.confirming.delete(jobUid);
        this.reads.delete(done);
      });
    this.reads.add(done);
  }

  private emit(jobUid: string, state: JobState): void {
    const key = JSON.stringify([state.phase, state.segments, state.exitCode, state.reason]);
    if (this.reported.get(jobUid) === key) return;
    this.reported.set(jobUid, key);
    try {
      this.opts.onChange(state);
    } catch (err) {
      this.opts.onWarning("watch callback threw", { redemptionId: String(state.redemptionId), error: String(err) });
    }
  }
}

/**
 * The parts of a Job the watcher reads (jobStateFrom, isFinished, redemptionIdOf): its identity,
 * labels and annotations, suspension, deadline, the containers' names and resources, and its
 * status. The rest of a watched Job (its pod template, ~3 KB of JSON each) is left to the
 * garbage collector while still young instead of being kept for as long as the Job exists.
 */
export function slimJob(job: V1Job): V1Job {
  const { metadata, spec, status } = job;
  const podSpec = spec?.template?.spec;
  return {
    ...(metadata && {
      metadata: {
        uid: metadata.uid,
        name: metadata.name,
        resourceVersion: metadata.resourceVersion,
        labels: metadata.labels,
        annotations: metadata.annotations,
      },
    }),
    ...(spec && {
      spec: {
        suspend: spec.suspend,
        activeDeadlineSeconds: spec.activeDeadlineSeconds,
        template: podSpec ? { spec: { containers: (podSpec.containers ?? []).map((c) => ({ name: c.name, resources: c.resources })) } } : {},
      },
    }),
    ...(status && { status }),
  };
}
