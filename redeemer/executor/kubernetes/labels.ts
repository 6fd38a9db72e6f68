/** Label and annotation keys the executor writes on its Jobs and reads back. */

/** The executor's own keys, under its prefix. */
const own = <K extends string>(key: K) => `ctk.compute-tokens/${key}` as const;

/** Label keys: who manages the Job and which redemption it runs, Kueue's queue and priority, the GPU pin. */
export const LABEL = {
  managedBy: "app.kubernetes.io/managed-by",
  redemptionId: own("redemption-id"),
  kueueQueue: "kueue.x-k8s.io/queue-name",
  kueuePriority: "kueue.x-k8s.io/priority-class",
  /** The GPU Feature Discovery node label the pod is pinned with. */
  gpuProduct: "nvidia.com/gpu.product",
} as const;

/** Annotation keys: what the redemption asked for, read back when the Job is found again. */
export const ANNOTATION = {
  class: own("class"),
  allottedSeconds: own("allotted-seconds"),
  gpus: own("gpus"),
  specName: own("spec-name"),
  project: own("project"),
} as const;

export const MANAGED_BY = "ctk-redeemer";
export const GPU_RESOURCE = "nvidia.com/gpu";

/** The one container of every Job (the pod failure policy names it). */
export const CONTAINER_NAME = "main";

/** Selects every Job and Pod this executor created. */
export const MANAGED_SELECTOR = `${LABEL.managedBy}=${MANAGED_BY}`;

export const redemptionSelector = (redemptionId: bigint): string => `${MANAGED_SELECTOR},${LABEL.redemptionId}=${redemptionId.toString()}`;
