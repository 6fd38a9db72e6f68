/**
 * A redemption's JobState from its Job and run segments (pure).
 *
 * phase: the Job's terminal conditions decide (Complete → succeeded, Failed → failed); otherwise
 * running while one of its pods runs (or its last pod has just ended and the Job controller has
 * not caught up), else pending (queued, suspended by Kueue, or its pod still starting).
 */
import type { V1Job, V1JobCondition, V1Pod } from "@kubernetes/client-node";
import type { JobPhase, JobState, RunSegment } from "../types.js";
import { ANNOTATION, CONTAINER_NAME, GPU_RESOURCE, LABEL } from "./labels.js";
import { gpuSecondsUsed, mainContainerStatus, segmentOfPod, toUnixSeconds } from "./usageFromPods.js";

/** Container termination reasons that say nothing beyond the exit code. */
const UNINFORMATIVE_REASONS = new Set(["Error", "Completed"]);

export function redemptionIdOf(job: V1Job): bigint | undefined {
  const raw = job.metadata?.labels?.[LABEL.redemptionId];
  return raw !== undefined && /^\d+$/.test(raw) ? BigInt(raw) : undefined;
}

/** GPUs and allotted seconds the Job was launched with (annotations, else its spec). */
function allotmentOf(job: V1Job): { gpus: number; seconds: number } {
  const annotations = job.metadata?.annotations ?? {};
  const container = job.spec?.template.spec?.containers.find((c) => c.name === CONTAINER_NAME) ?? job.spec?.template.spec?.containers[0];
  const gpus = Number(annotations[ANNOTATION.gpus] ?? container?.resources?.limits?.[GPU_RESOURCE] ?? 0);
  const seconds = Number(annotations[ANNOTATION.allottedSeconds] ?? job.spec?.activeDeadlineSeconds ?? 0);
  return { gpus: Number.isFinite(gpus) ? gpus : 0, seconds: Number.isFinite(seconds) ? seconds : 0 };
}

/** Whether the pod belongs to this incarnation of the Job (not an orphan of a deleted namesake). */
export function isOwnedBy(pod: V1Pod, job: V1Job): boolean {
  const uid = job.metadata?.uid;
  if (!uid) return true;
  return (
    pod.metadata?.ownerReferences?.some((o) => o.uid === uid) === true ||
    pod.metadata?.labels?.["batch.kubernetes.io/controller-uid"] === uid ||
    pod.metadata?.labels?.["controller-uid"] === uid
  );
}

function condition(job: V1Job, type: string): V1JobCondition | undefined {
  return job.status?.conditions?.find((c) => c.type === type && c.status === "True");
}

function isRunning(pod: V1Pod): boolean {
  return pod.status?.phase === "Running";
}

export function isFinished(job: V1Job): boolean {
  return condition(job, "Complete") !== undefined || condition(job, "Failed") !== undefined;
}

/**
 * Segments of a finished Job whose pods are gone (the Job controller deletes the pods of a Job
 * that exceeds its deadline): the last start to the end, from the Job's own status.
 */
function segmentsFromJobStatus(job: V1Job): RunSegment[] {
  const start = toUnixSeconds(job.status?.startTime);
  if (start === undefined || !isFinished(job)) return [];
  const end = toUnixSeconds(job.status?.completionTime) ?? toUnixSeconds(condition(job, "Failed")?.lastTransitionTime) ?? start;
  return [{ start, end: Math.max(start, end) }];
}

const byStart = (a: { start: number }, b: { start: number }) => a.start - b.start;

/** The Job's most recent pod (by container start, else creation). */
function latestPod(pods: readonly V1Pod[]): V1Pod | undefined {
  return [...pods]
    .map((pod) => ({ pod, start: segmentOfPod(pod)?.start ?? toUnixSeconds(pod.metadata?.creationTimestamp) ?? 0 }))
    .sort(byStart)
    .at(-1)?.pod;
}

/** Whether a finished Job's pods, as given, show its end: none running, the latest one ended. */
export function podsShowEnd(pods: readonly V1Pod[]): boolean {
  const latest = latestPod(pods);
  return !pods.some(isRunning) && latest !== undefined && mainContainerStatus(latest)?.state?.terminated !== undefined;
}

/**
 * @param pods the Job's pods as they are now (used for phase, exit code and reason)
 * @param segments every run segment known for the Job, including those of pods already deleted
 */
export function jobStateFrom(redemptionId: bigint, job: V1Job, pods: readonly V1Pod[], segments: readonly RunSegment[], nowSeconds: number): JobState {
  const { gpus, seconds } = allotmentOf(job);
  const known = segments.length > 0 ? [...segments].sort(byStart) : segmentsFromJobStatus(job);
  const runs: RunSegment[] = known.map((s) => ({
    start: s.start,
    ...(s.end === undefined ? {} : { end: s.end }),
    ...(s.node ? { node: s.node } : {}),
    ...(s.gpuProduct ? { gpuProduct: s.gpuProduct } : {}),
  }));

  const latest = latestPod(pods);
  const terminated = latest && mainContainerStatus(latest)?.state?.terminated;

  const complete = condition(job, "Complete");
  const failed = condition(job, "Failed");
  let phase: JobPhase;
  if (complete) phase = "succeeded";
  else if (failed) phase = "failed";
  else if (pods.some(isRunning)) phase = "running";
  // Its pod has just ended and the Job controller has not yet marked the Job: still running.
  else if (!job.spec?.suspend && latest && terminated) phase = "running";
  else phase = "pending";

  const state: JobState = {
    redemptionId,
    name: job.metadata?.name ?? "",
    phase,
    segments: runs,
    gpuSeconds: gpuSecondsUsed(runs, gpus, seconds, nowSeconds),
  };
  if (phase === "succeeded" || phase === "failed") {
    const exitCode = terminated?.exitCode ?? (phase === "succeeded" ? 0 : undefined);
    if (exitCode !== undefined) state.exitCode = exitCode;
  }
  if (phase === "failed") {
    const reason = failureReason(failed!, terminated?.reason, latest?.status?.reason);
    if (reason) state.reason = reason;
  }
  return state;
}

function failureReason(failed: V1JobCondition, containerReason: string | undefined, podReason: string | undefined): string | undefined {
  if (failed.reason === "DeadlineExceeded") return failed.reason;
  if (containerReason && !UNINFORMATIVE_REASONS.has(containerReason)) return containerReason;
  return podReason ?? failed.reason ?? containerReason;
}
