export { buildJobManifest } from "./buildJobManifest.js";
export {
  kubernetesExecutorConfigSchema,
  parseKubernetesExecutorConfig,
  type KubernetesExecutorConfig,
  type KubernetesExecutorConfigInput,
} from "./config.js";
export { ExecutorClosed, JobNameTaken, KubernetesRequestRejected, KubernetesUnavailable } from "./errors.js";
export { jobStateFrom } from "./jobStateFrom.js";
export { createKubernetesExecutor, KubernetesExecutor, type KubernetesExecutorOptions } from "./kubernetesExecutor.js";
export { gpuSecondsUsed, segmentOfPod } from "./usageFromPods.js";
export * from "./labels.js";
