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
      ...(config.ttlSecondsAfterFinished === undefined ? {} : { ttlSecondsAfterFinished: config.ttlSecondsAfterFinished }),
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
              env: [
                ...Object.entries(spec.env).map(([envName, value]) => ({ name: envName, value })),
                // Named secrets: a reference to the cluster's Secret, never the value.
                ...Object.entries(spec.secrets ?? {}).map(([envName, key]) => ({
                  name: envName,
                  valueFrom: { secretKeyRef: { name: config.jobSecret, key } },
                })),
              ],
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
