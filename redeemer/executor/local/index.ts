export { type DataDirLock, lockDataDir } from "./dataDirLock.js";
export { DataDirInUse, LocalLaunchError, type LocalLaunchProblem } from "./errors.js";
export { findExecutable } from "./findExecutable.js";
export {
  type DetectedGpu,
  type GpuSlot,
  detectNvidiaGpus,
  expandConfiguredSlots,
  parseNvidiaSmiCsv,
  productLabelOf,
  resolveGpuInventory,
} from "./gpuInventory.js";
export { GpuPool } from "./gpuPool.js";
export { type JobRecord, jobRecordSchema, toJobState } from "./jobRecord.js";
export { JobStore } from "./jobStore.js";
export { LOCAL_FAILURE_REASONS } from "./liveJob.js";
export { createLocalExecutor, LocalExecutor, type LocalExecutorDeps } from "./localExecutor.js";
export {
  type LocalExecutorConfig,
  type LocalExecutorConfigInput,
  localExecutorConfigSchema,
  parseLocalExecutorConfig,
} from "./localExecutorConfig.js";
export { measureGpuSeconds, type UsageInput } from "./measureGpuSeconds.js";
export { compareQueued, pickNextJobs, type QueuedJob } from "./pickNextJobs.js";
export { findProcessesWithEnv, isSameProcess, readProcStat, signalGroup } from "./processControl.js";
export { SUPERVISOR_SCRIPT } from "./supervision.js";
export { type Claim, type RunOrder, type RunStatus, RUN_TOKEN_ENV, runDirOf, runFilesOf } from "./runFiles.js";
