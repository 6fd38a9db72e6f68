/**
 * Settings of the `kubernetes` executor, parsed once at start-up and passed down typed.
 */
import { z } from "zod";
import { PRIORITIES, type PriorityName } from "../../../sdk/jobSpec.js";
import { parseConfig } from "../../../sdk/ctkError.js";

const dnsLabel = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "must be a DNS label (lower-case letters, digits and '-')");

/** A DNS subdomain: PriorityClass, WorkloadPriorityClass and LocalQueue names. */
const resourceName = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, "must be a Kubernetes resource name");

/** One name per priority, e.g. `{ low: "ctk-low", normal: "ctk-normal", … }`. */
const perPriority = z.object(Object.fromEntries(PRIORITIES.map((p) => [p, resourceName])) as Record<PriorityName, typeof resourceName>);

export const kubernetesExecutorConfigSchema = z
  .object({
    /** Namespace the Jobs are created in. */
    namespace: dnsLabel,
    /** Kueue LocalQueue the Jobs are submitted to (`kueue.x-k8s.io/queue-name`). */
    localQueue: resourceName,
    /** Pod `priorityClassName` per priority. */
    priorityClasses: perPriority,
    /** Kueue WorkloadPriorityClass per priority (`kueue.x-k8s.io/priority-class`). */
    workloadPriorityClasses: perPriority,
    /** Create Jobs suspended, for Kueue to admit (Kueue's recommended way). */
    createSuspended: z.boolean().default(true),
    /** Optional `runAsUser` for images that do not declare a non-root user. */
    runAsUser: z.number().int().min(1).optional(),
    /**
     * The Secret in `namespace` that holds the named secrets a spec may reference (`spec.secrets`):
     * one key per name. A job's variable gets `valueFrom.secretKeyRef { name: jobSecret, key }`, so the
     * value never appears in the spec, the Job or the chain.
     */
    jobSecret: resourceName.default("ctk-job-secrets"),
    /** Optional `ttlSecondsAfterFinished`: let Kubernetes garbage-collect finished Jobs. */
    ttlSecondsAfterFinished: z.number().int().min(0).optional(),
    /** A full re-list of Jobs and Pods this often, whatever the watches say. */
    resyncMs: z.number().int().min(10).default(30_000),
    /** Per-request timeout of every API call (not of watches). */
    requestTimeoutMs: z.number().int().min(10).default(10_000),
    /** Attempts of a call that fails with 5xx, 429, a timeout or a network error. */
    maxAttempts: z.number().int().min(1).max(20).default(5),
    /** First retry back-off; doubles each attempt (with jitter) up to `retryMaxMs`. */
    retryBaseMs: z.number().int().min(0).default(200),
    retryMaxMs: z.number().int().min(0).default(5_000),
    /** API calls in flight at once (watches not counted); the rest queue. */
    maxConcurrentRequests: z.number().int().min(1).max(1_000).default(32),
    /**
     * Job creates in flight per connection (HTTP/1.1 pipelining: sent before the previous answer
     * is back; safe because a create is idempotent by the Job's name). 1 turns it off. The
     * creates go over ceil(maxConcurrentRequests / pipelining) connections.
     */
    pipelining: z.number().int().min(1).max(64).default(8),
    /** Page size of list calls. */
    listPageSize: z.number().int().min(1).max(5_000).default(500),
  })
  .strict();

export type KubernetesExecutorConfig = z.infer<typeof kubernetesExecutorConfigSchema>;
export type KubernetesExecutorConfigInput = z.input<typeof kubernetesExecutorConfigSchema>;

/**
 * Validate raw settings (the `kubernetes` section of the executor configuration).
 * @throws ConfigError listing every bad setting
 */
export function parseKubernetesExecutorConfig(raw: unknown, source?: string): KubernetesExecutorConfig {
  return parseConfig(kubernetesExecutorConfigSchema, "kubernetes executor config", raw, source);
}
