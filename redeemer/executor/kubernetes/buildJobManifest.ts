/**
 * The batch/v1 Job for a redemption (pure: request + config in, manifest out).
 *
 * - named from the redemption id, so a second launch finds the first Job;
 * - Kueue picks it up by its queue and priority labels (created suspended, admitted by Kueue);
 * - `nvidia.com/gpu` limits and a GPU Feature Discovery node selector pin the hardware class;
 * - `activeDeadlineSeconds` is the allotted time, `backoffLimit: 0` means one run, and the pod
 *   failure policy fails the Job on a non-zero exit but ignores disruptions (Kueue preemption,
 *   eviction), so a preempted Job runs again when re-admitted;
 * - the pod meets the Pod Security "restricted" profile.
 */
import type { V1Job } from "@kubernetes/client-node";
import type { LaunchRequest } from "../types.js";
import { jobNameFor } from "../types.js";
import type { KubernetesExecutorConfig } from "./config.js";
import {
  ALLOTTED_SECONDS_ANNOTATION,
  CLASS_ANNOTATION,
  CONTAINER_NAME,
  GPU_PRODUCT_LABEL,
  GPU_RESOURCE,
  GPUS_ANNOTATION,
  KUEUE_PRIORITY_LABEL,
  KUEUE_QUEUE_LABEL,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  PROJECT_ANNOTATION,
  REDEMPTION_ID_LABEL,
  SPEC_NAME_ANNOTATION,
} from "./labels.js";

export function buildJobManifest(req: LaunchRequest, config: KubernetesExecutorConfig): V1Job {
  const name = jobNameFor(req.redemptionId);
  const { spec } = req;
  const identity = {
    [MANAGED_BY_LABEL]: MANAGED_BY,
    [REDEMPTION_ID_LABEL]: req.redemptionId.toString(),
  };
  const seccompProfile = { type: "RuntimeDefault" };

  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      name,
      namespace: config.namespace,
      labels: {
        ...identity,
        [KUEUE_QUEUE_LABEL]: config.localQueue,
        [KUEUE_PRIORITY_LABEL]: config.workloadPriorityClasses[req.priority],
      },
      annotations: {
        [CLASS_ANNOTATION]: req.className,
        [GPUS_ANNOTATION]: String(req.gpus),
        [ALLOTTED_SECONDS_ANNOTATION]: String(req.seconds),
        [SPEC_NAME_ANNOTATION]: spec.name,
        ...(spec.project ? { [PROJECT_ANNOTATION]: spec.project } : {}),
      },
    },
    spec: {
      suspend: config.createSuspended,
      backoffLimit: 0,
      activeDeadlineSeconds: req.seconds,
      podReplacementPolicy: "Failed",
      podFailurePolicy: {
        rules: [
          // Preemption and eviction are not the job's fault: do not count them, run again.
          { action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] },
          // Any non-zero exit of the job's container fails the Job at once.
          { action: "FailJob", onExitCodes: { containerName: CONTAINER_NAME, operator: "NotIn", values: [0] } },
        ],
      },
      ...(config.ttlSecondsAfterFinished === undefined
        ? {}
        : { ttlSecondsAfterFinished: config.ttlSecondsAfterFinished }),
      template: {
        metadata: { labels: { ...identity } },
        spec: {
          restartPolicy: "Never",
          priorityClassName: config.priorityClasses[req.priority],
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          nodeSelector: { [GPU_PRODUCT_LABEL]: req.productLabel },
          tolerations: [{ key: GPU_RESOURCE, operator: "Exists", effect: "NoSchedule" }],
          securityContext: {
            runAsNonRoot: true,
            ...(config.runAsUser === undefined ? {} : { runAsUser: config.runAsUser }),
            seccompProfile,
          },
          containers: [
            {
              name: CONTAINER_NAME,
              image: spec.image,
              ...(spec.command.length > 0 ? { command: [...spec.command] } : {}),
              ...(spec.args.length > 0 ? { args: [...spec.args] } : {}),
              env: Object.entries(spec.env).map(([envName, value]) => ({ name: envName, value })),
              resources: { limits: { [GPU_RESOURCE]: String(req.gpus) } },
              securityContext: {
                runAsNonRoot: true,
                allowPrivilegeEscalation: false,
                capabilities: { drop: ["ALL"] },
                seccompProfile,
              },
            },
          ],
        },
      },
    },
  };
}

const q = JSON.stringify;
const isString = (v: unknown): v is string => typeof v === "string";
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);

/**
 * `JSON.stringify(buildJobManifest(req, config))`, the same string, built without the
 * intermediate objects: the fixed parts are literal JSON, and every inserted value goes through
 * JSON.stringify (so names, images, env values and the like are escaped exactly as before). A
 * request or config with a value of an unexpected type (which validation should have stopped)
 * takes the general path, so the result is always the serialised manifest.
 */
export function jobManifestJson(req: LaunchRequest, config: KubernetesExecutorConfig): string {
  const { spec } = req;
  const workloadPriority = config.workloadPriorityClasses[req.priority];
  const priorityClass = config.priorityClasses[req.priority];
  if (
    typeof req.redemptionId !== "bigint" ||
    !isString(config.namespace) ||
    !isString(config.localQueue) ||
    !isString(workloadPriority) ||
    !isString(priorityClass) ||
    typeof config.createSuspended !== "boolean" ||
    !(config.ttlSecondsAfterFinished === undefined || typeof config.ttlSecondsAfterFinished === "number") ||
    !(config.runAsUser === undefined || typeof config.runAsUser === "number") ||
    !isString(req.className) ||
    !isString(req.productLabel) ||
    typeof req.gpus !== "number" ||
    typeof req.seconds !== "number" ||
    !isString(spec.name) ||
    !isString(spec.image) ||
    !(spec.project === undefined || isString(spec.project)) ||
    !isStringArray(spec.command) ||
    !isStringArray(spec.args) ||
    typeof spec.env !== "object" ||
    spec.env === null ||
    Array.isArray(spec.env)
  ) {
    return JSON.stringify(buildJobManifest(req, config));
  }
  let env = "";
  for (const envName in spec.env) {
    if (!Object.prototype.hasOwnProperty.call(spec.env, envName)) continue;
    const value = (spec.env as Record<string, unknown>)[envName];
    if (!isString(value)) return JSON.stringify(buildJobManifest(req, config));
    env += `${env ? "," : ""}{"name":${q(envName)},"value":${q(value)}}`;
  }
  const id = q(req.redemptionId.toString());
  const identity = `${IDENTITY_PREFIX}${id}`;
  const gpus = q(String(req.gpus));
  return (
    `{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":${q(jobNameFor(req.redemptionId))},` +
    `"namespace":${q(config.namespace)},"labels":{${identity},${QUEUE_KEY}${q(config.localQueue)},` +
    `${PRIORITY_KEY}${q(workloadPriority)}},"annotations":{${CLASS_KEY}${q(req.className)},${GPUS_KEY}${gpus},` +
    `${SECONDS_KEY}${q(String(req.seconds))},${SPEC_NAME_KEY}${q(spec.name)}` +
    `${spec.project ? `,${PROJECT_KEY}${q(spec.project)}` : ""}}},` +
    `"spec":{"suspend":${q(config.createSuspended)},"backoffLimit":0,"activeDeadlineSeconds":${q(req.seconds)},` +
    `"podReplacementPolicy":"Failed",${POD_FAILURE_POLICY}` +
    `${config.ttlSecondsAfterFinished === undefined ? "" : `,"ttlSecondsAfterFinished":${q(config.ttlSecondsAfterFinished)}`},` +
    `"template":{"metadata":{"labels":{${identity}}},"spec":{"restartPolicy":"Never","priorityClassName":${q(priorityClass)},` +
    `"automountServiceAccountToken":false,"enableServiceLinks":false,"nodeSelector":{${PRODUCT_KEY}${q(req.productLabel)}},` +
    `${TOLERATIONS},"securityContext":{"runAsNonRoot":true,` +
    `${config.runAsUser === undefined ? "" : `"runAsUser":${q(config.runAsUser)},`}${SECCOMP}},` +
    `"containers":[{"name":${q(CONTAINER_NAME)},"image":${q(spec.image)}` +
    `${spec.command.length > 0 ? `,"command":${q(spec.command)}` : ""}${spec.args.length > 0 ? `,"args":${q(spec.args)}` : ""}` +
    `,"env":[${env}],"resources":{"limits":{${GPU_KEY}${gpus}}},${CONTAINER_SECURITY}}]}}}}`
  );
}

const IDENTITY_PREFIX = `${q(MANAGED_BY_LABEL)}:${q(MANAGED_BY)},${q(REDEMPTION_ID_LABEL)}:`;
const QUEUE_KEY = `${q(KUEUE_QUEUE_LABEL)}:`;
const PRIORITY_KEY = `${q(KUEUE_PRIORITY_LABEL)}:`;
const CLASS_KEY = `${q(CLASS_ANNOTATION)}:`;
const GPUS_KEY = `${q(GPUS_ANNOTATION)}:`;
const SECONDS_KEY = `${q(ALLOTTED_SECONDS_ANNOTATION)}:`;
const SPEC_NAME_KEY = `${q(SPEC_NAME_ANNOTATION)}:`;
const PROJECT_KEY = `${q(PROJECT_ANNOTATION)}:`;
const PRODUCT_KEY = `${q(GPU_PRODUCT_LABEL)}:`;
const GPU_KEY = `${q(GPU_RESOURCE)}:`;
const SECCOMP = `"seccompProfile":{"type":"RuntimeDefault"}`;
const POD_FAILURE_POLICY = `"podFailurePolicy":${q({
  rules: [
    { action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] },
    { action: "FailJob", onExitCodes: { containerName: CONTAINER_NAME, operator: "NotIn", values: [0] } },
  ],
})}`;
const TOLERATIONS = `"tolerations":${q([{ key: GPU_RESOURCE, operator: "Exists", effect: "NoSchedule" }])}`;
const CONTAINER_SECURITY = `"securityContext":{"runAsNonRoot":true,"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]},${SECCOMP}}`;
