/**
 * GPU usage from Pods (pure). Each pod whose container started is one run segment: from the
 * container's `startedAt` to its `finishedAt`, or to now while it runs. A Job that Kueue preempts
 * and re-admits has one pod per segment; the GPU-seconds are the sum over them, capped at what
 * the redemption reserved.
 */
import type { V1ContainerStatus, V1Pod } from "@kubernetes/client-node";
import type { RunSegment } from "../types.js";
import { CONTAINER_NAME, LABEL } from "./labels.js";

/** Objects from a list are deserialised (Date); objects from a watch are raw JSON (string). */
export type KubeTime = Date | string | undefined | null;

/** Unix seconds of a Kubernetes timestamp, or undefined. */
export function toUnixSeconds(t: KubeTime): number | undefined {
  if (t === undefined || t === null) return undefined;
  const ms = t instanceof Date ? t.getTime() : Date.parse(t);
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : undefined;
}

/** The status of the job's container (by name, else the first). */
export function mainContainerStatus(pod: V1Pod): V1ContainerStatus | undefined {
  const statuses = pod.status?.containerStatuses ?? [];
  return statuses.find((s) => s.name === CONTAINER_NAME) ?? statuses[0];
}

/** One pod's run segment, with its pod uid; undefined if its container never started. */
export interface PodSegment extends RunSegment {
  podUid: string;
}

export function segmentOfPod(pod: V1Pod): PodSegment | undefined {
  const state = mainContainerStatus(pod)?.state;
  const start = toUnixSeconds(state?.running?.startedAt) ?? toUnixSeconds(state?.terminated?.startedAt);
  if (start === undefined) return undefined;
  const end = toUnixSeconds(state?.terminated?.finishedAt);
  const node = pod.spec?.nodeName;
  const gpuProduct = pod.spec?.nodeSelector?.[LABEL.gpuProduct];
  return {
    podUid: pod.metadata?.uid ?? "",
    start,
    ...(end === undefined ? {} : { end: Math.max(end, start) }),
    ...(node ? { node } : {}),
    ...(gpuProduct ? { gpuProduct } : {}),
  };
}

/** gpus × Σ (end, or now, − start), capped at gpus × allotted seconds. */
export function gpuSecondsUsed(segments: readonly RunSegment[], gpus: number, allottedSeconds: number, nowSeconds: number): number {
  const seconds = segments.reduce((sum, s) => sum + Math.max(0, (s.end ?? nowSeconds) - s.start), 0);
  return Math.min(gpus * seconds, gpus * allottedSeconds);
}
