/** Label and annotation keys the executor writes on its Jobs and reads back. */

export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
export const MANAGED_BY = "ctk-redeemer";
export const REDEMPTION_ID_LABEL = "ctk.compute-tokens/redemption-id";
export const KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name";
export const KUEUE_PRIORITY_LABEL = "kueue.x-k8s.io/priority-class";

export const CLASS_ANNOTATION = "ctk.compute-tokens/class";
export const ALLOTTED_SECONDS_ANNOTATION = "ctk.compute-tokens/allotted-seconds";
export const GPUS_ANNOTATION = "ctk.compute-tokens/gpus";
export const SPEC_NAME_ANNOTATION = "ctk.compute-tokens/spec-name";
export const PROJECT_ANNOTATION = "ctk.compute-tokens/project";

/** The GPU Feature Discovery node label the pod is pinned with. */
export const GPU_PRODUCT_LABEL = "nvidia.com/gpu.product";
export const GPU_RESOURCE = "nvidia.com/gpu";

/** The one container of every Job (the pod failure policy names it). */
export const CONTAINER_NAME = "main";

/** Selects every Job and Pod this executor created. */
export const MANAGED_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY}`;

export const redemptionSelector = (redemptionId: bigint): string => `${MANAGED_SELECTOR},${REDEMPTION_ID_LABEL}=${redemptionId.toString()}`;
