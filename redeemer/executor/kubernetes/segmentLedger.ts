/**
 * Remembers the run segments of every pod the executor has seen, by Job uid and pod uid.
 *
 * Kubernetes does not keep the pods of a preempted Job: suspending a Job deletes its running
 * pods, and so does exceeding the deadline. The segment such a pod ran must still be paid for,
 * so the executor records each pod's segment when it sees it, and closes it when the pod goes
 * (at its finish time, else its deletion time, else the time the executor noticed, bounded by
 * the start of the next pod). The ledger lives in memory: a restarted redeemer knows only the
 * pods that still exist, and falls back on the Job's own status for a finished Job without pods.
 */
import type { V1Pod } from "@kubernetes/client-node";
import type { RunSegment } from "../types.js";
import { getOrInsert } from "../../../sdk/getOrInsert.js";
import { segmentOfPod, toUnixSeconds, type PodSegment } from "./usageFromPods.js";

interface Entry {
  segment: PodSegment;
  /** Unix seconds of the pod's deletionTimestamp, once seen. */
  deletedAt?: number;
}

/** The uid of the Job that owns a pod. */
export function ownerJobUid(pod: V1Pod): string | undefined {
  return (
    pod.metadata?.ownerReferences?.find((o) => o.kind === "Job")?.uid ?? pod.metadata?.labels?.["batch.kubernetes.io/controller-uid"] ?? pod.metadata?.labels?.["controller-uid"]
  );
}

export class SegmentLedger {
  private readonly jobs = new Map<string, Map<string, Entry>>();

  /** Record what a pod shows of its run. */
  observe(pod: V1Pod, jobUid = ownerJobUid(pod)): void {
    const podUid = pod.metadata?.uid;
    if (!jobUid || !podUid) return;
    const segment = segmentOfPod(pod);
    if (!segment) return;
    const pods = getOrInsert(this.jobs, jobUid, () => new Map<string, Entry>());
    const previous = pods.get(podUid);
    const deletedAt = toUnixSeconds(pod.metadata?.deletionTimestamp) ?? previous?.deletedAt;
    // A closed segment stays closed: a stale copy of the pod must not reopen it.
    const end = segment.end ?? previous?.segment.end;
    pods.set(podUid, {
      segment: { ...segment, ...(end === undefined ? {} : { end }) },
      ...(deletedAt === undefined ? {} : { deletedAt }),
    });
  }

  /** The pod no longer exists: close its segment if it was still open. */
  gone(pod: V1Pod, nowSeconds: number, jobUid = ownerJobUid(pod)): void {
    this.observe(pod, jobUid);
    const podUid = pod.metadata?.uid;
    if (jobUid && podUid) this.close(jobUid, podUid, nowSeconds);
  }

  /**
   * `pods` is every current pod of the Job: close the open segments of recorded pods that are
   * missing from it.
   */
  reconcile(jobUid: string, pods: readonly V1Pod[], nowSeconds: number): void {
    for (const pod of pods) this.observe(pod, jobUid);
    const present = new Set(pods.map((p) => p.metadata?.uid));
    for (const podUid of this.jobs.get(jobUid)?.keys() ?? []) {
      if (!present.has(podUid)) this.close(jobUid, podUid, nowSeconds);
    }
  }

  segments(jobUid: string | undefined): RunSegment[] {
    if (!jobUid) return [];
    return [...(this.jobs.get(jobUid)?.values() ?? [])].map(({ segment: { podUid: _uid, ...run } }) => run);
  }

  forget(jobUid: string | undefined): void {
    if (jobUid) this.jobs.delete(jobUid);
  }

  get size(): number {
    return this.jobs.size;
  }

  /**
   * Close a vanished pod's open segment at its deletion time if seen, else now — but never past
   * the start of a later pod of the Job: with `podReplacementPolicy: Failed` a replacement starts
   * only once the previous pod has fully terminated.
   */
  private close(jobUid: string, podUid: string, nowSeconds: number): void {
    const pods = this.jobs.get(jobUid);
    const entry = pods?.get(podUid);
    if (!pods || !entry || entry.segment.end !== undefined) return;
    const { start } = entry.segment;
    let end = entry.deletedAt ?? nowSeconds;
    for (const other of pods.values()) {
      if (other !== entry && other.segment.start > start) end = Math.min(end, other.segment.start);
    }
    entry.segment = { ...entry.segment, end: Math.max(start, end) };
  }
}
