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
import { ANNOTATION, CONTAINER_NAME, GPU_RESOURCE, LABEL, MANAGED_BY } from "./labels.js";

export function buildJobManifest(req: LaunchRequest, config: KubernetesExecutorConfig): V1Job {
  const name = jobNameFor(req.redemptionId);
  const { spec } = req;
  const identity = {
    [LABEL.managedBy]: MANAGED_BY,
    [LABEL.redemptionId]: req.redemptionId.toString(),
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
        [LABEL.kueueQueue]: config.localQueue,
        [LABEL.kueuePriority]: config.workloadPriorityClasses[req.priority],
      },
      annotations: {
        [ANNOTATION.class]: req.className,
        [ANNOTATION.gpus]: String(req.gpus),
        [ANNOTATION.allottedSeconds]: String(req.seconds),
        [ANNOTATION.specName]: spec.name,
        ...(spec.project ? { [ANNOTATION.project]: spec.project } : {}),
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
          nodeSelector: { [LABEL.gpuProduct]: req.productLabel },
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
