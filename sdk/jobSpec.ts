/**
 * The job spec: the JSON an employee submits with `redeem`. Its bytes travel on-chain in the
 * `RedemptionRequested` event and its keccak256 is stored with the redemption. This is the one
 * definition of the schema: the CLI validates with it before sending, the redeemer before launching.
 */
import { z } from "zod";

export const PRIORITIES = ["low", "normal", "high", "urgent"] as const;
export type PriorityName = (typeof PRIORITIES)[number];
/** On-chain enum order (ComputeToken.Priority). */
export const priorityIndex = (p: PriorityName): number => PRIORITIES.indexOf(p);

/** Upper bounds that keep a spec small enough to carry in an event and to render in a Job. */
export const SPEC_LIMITS = {
  maxSpecBytes: 8192,
  maxNameLength: 63,
  maxArgs: 64,
  maxArgLength: 1024,
  maxEnvVars: 64,
  maxEnvValueLength: 1024,
  maxHours: 24 * 14,
} as const;

/** Keys that would ask for privileges; the schema is strict, these get their own reason code. */
export const PRIVILEGED_KEYS = [
  "privileged",
  "securityContext",
  "hostNetwork",
  "hostPID",
  "hostIPC",
  "hostPath",
  "volumes",
  "volumeMounts",
  "capabilities",
  "runAsUser",
  "runAsRoot",
  "serviceAccountName",
  "nodeName",
] as const;

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be a valid environment variable name");

/** A named secret the cluster holds (a key of the Kubernetes Secret, an entry of the local secrets file). */
export const SECRET_NAME_RE = /^[A-Za-z0-9][-._A-Za-z0-9]{0,62}$/;
const secretName = z.string().regex(SECRET_NAME_RE, "must be a secret name: letters, digits, '-', '.', '_' (at most 63)");

export const jobSpecSchema = z
  .object({
    name: z
      .string()
      .min(1)
      .max(SPEC_LIMITS.maxNameLength)
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "must be lower-case letters, digits and '-' (a DNS label)"),
    image: z.string().min(1).max(512),
    command: z.array(z.string().max(SPEC_LIMITS.maxArgLength)).max(SPEC_LIMITS.maxArgs).default([]),
    args: z.array(z.string().max(SPEC_LIMITS.maxArgLength)).max(SPEC_LIMITS.maxArgs).default([]),
    env: z
      .record(envName, z.string().max(SPEC_LIMITS.maxEnvValueLength))
      .refine((e) => Object.keys(e).length <= SPEC_LIMITS.maxEnvVars, {
        message: `at most ${SPEC_LIMITS.maxEnvVars} variables`,
      })
      .default({}),
    /**
     * Environment variables whose values are named secrets the cluster holds: `{ "HF_TOKEN": "hf-token" }`.
     * Only the names travel on-chain; the values never leave the cluster.
     */
    secrets: z
      .record(envName, secretName)
      .refine((e) => Object.keys(e).length <= SPEC_LIMITS.maxEnvVars, { message: `at most ${SPEC_LIMITS.maxEnvVars} secrets` })
      .optional(),
    gpus: z.number().int().min(1).max(1024),
    hours: z
      .number()
      .positive()
      .max(SPEC_LIMITS.maxHours)
      .refine((h) => Number.isInteger(Math.round(h * 3600 * 1e6) / 1e6), {
        message: "must be a whole number of seconds (hours × 3600)",
      }),
    priority: z.enum(PRIORITIES).default("normal"),
    project: z.string().min(1).max(128).optional(),
  })
  .strict()
  .superRefine((spec, ctx) => {
    for (const name of Object.keys(spec.secrets ?? {})) {
      if (name in spec.env) ctx.addIssue({ code: "custom", path: ["secrets", name], message: `${name} is set in env too: give it one source` });
    }
  });

export type JobSpec = z.infer<typeof jobSpecSchema>;

/** Seconds of wall-clock time the spec asks for. */
export const specSeconds = (spec: Pick<JobSpec, "hours">): number => Math.round(spec.hours * 3600);

/** Units a redemption reserves: ceil(gpus × seconds × multiplierBps / 10000) — same as the contract. */
export function unitsFor(gpus: number | bigint, seconds: number | bigint, multiplierBps: number | bigint): bigint {
  const raw = BigInt(gpus) * BigInt(seconds) * BigInt(multiplierBps);
  return (raw + 9999n) / 10000n;
}

/** Canonical bytes that go on-chain: UTF-8 JSON, keys in the order given. */
export function encodeSpec(spec: JobSpec): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(spec));
}
