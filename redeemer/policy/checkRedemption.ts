/**
 * The policy check the redeemer runs on a redemption before launching anything. Pure: the raw
 * spec bytes from the chain event and the on-chain numbers in, a parsed spec or a reject reason
 * out. Checks run from the cheapest to the most specific, and the first failure decides:
 *
 *   size → UTF-8 → JSON → privileged keys → schema → the SDK's spec-vs-policy check (image
 *   reference, registry allow-list, digest pin, command, secrets, credentials in env, class GPU
 *   maximum: sdk/policy.ts) → priority → GPUs × seconds × multiplier vs. reserved units
 */
import type { ZodIssue } from "zod";
import { type JobSpec, PRIORITIES, jobSpecSchema, specSeconds, unitsFor } from "../../sdk/jobSpec.js";
import { REJECT_REASONS, type RejectReason } from "../../sdk/reasons.js";
import { findPrivilegedKey } from "./findPrivilegedKey.js";
import { checkSpecPolicy } from "../../sdk/policy.js";
import { type ImageRef, parseImageRef } from "../../sdk/imageRef.js";
import type { PolicyConfig } from "./policyConfig.js";

/** What the chain says about the redemption (numbers as viem decodes them, number or bigint). */
export interface RedemptionCheckInput {
  /** The spec bytes exactly as carried by the RedemptionRequested event. */
  specBytes: Uint8Array;
  gpus: number | bigint;
  /** Allotted wall-clock seconds. */
  seconds: number | bigint;
  /** On-chain priority enum index (0 low … 3 urgent). */
  priority: number | bigint;
  reservedUnits: bigint;
  /** The hardware class's per-job GPU maximum. */
  classMaxGpus: number | bigint;
  /** Price multiplier of the redemption's priority, in basis points. */
  multiplierBps: number | bigint;
}

export type RedemptionAccepted = { ok: true; spec: JobSpec; image: ImageRef };
export type RedemptionRefused = {
  ok: false;
  reason: RejectReason;
  /** The on-chain reason code for `reject(id, code)`. */
  code: number;
  /** One human line saying what was wrong. */
  detail: string;
  /** The spec field at fault, where there is one ("image", "env.FOO", "securityContext"). */
  field?: string;
};
export type RedemptionCheck = RedemptionAccepted | RedemptionRefused;

const refuse = (reason: RejectReason, detail: string, field?: string): RedemptionRefused => ({
  ok: false,
  reason,
  code: REJECT_REASONS[reason],
  detail,
  ...(field !== undefined && { field }),
});

export function checkRedemption(input: RedemptionCheckInput, policy: PolicyConfig): RedemptionCheck {
  const { specBytes } = input;
  if (specBytes.length > policy.maxSpecBytes) {
    return refuse("SPEC_TOO_LARGE", `the spec is ${specBytes.length} bytes; at most ${policy.maxSpecBytes} are allowed`);
  }

  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(specBytes);
  } catch {
    return refuse("NOT_UTF8", "the spec bytes are not valid UTF-8");
  }

  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return refuse("INVALID_SPEC", `the spec is not JSON: ${(err as Error).message}`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return refuse("INVALID_SPEC", "the spec must be a JSON object");
  }

  const privileged = findPrivilegedKey(json);
  if (privileged !== undefined) return refuse("PRIVILEGED", `the spec sets ${privileged}, which asks for privileges`, privileged);

  const parsed = jobSpecSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issueField(issue);
    return refuse("INVALID_SPEC", describeIssues(parsed.error.issues), field);
  }
  const spec = parsed.data;

  // The policy proper — image, command, secrets, class GPU limit — is the SDK's one check, which
  // `ctk redeem` and the web app also run before burning; the first refusal decides the code.
  const classMaxGpus = Number(input.classMaxGpus);
  const refusals = checkSpecPolicy(spec, policy, { classMaxGpus, specBytes: specBytes.length });
  const first = refusals[0];
  if (first) return refuse(first.reason, first.message, first.field === "spec" ? undefined : first.field);
  const image = parseImageRef(spec.image);

  const priorityIndex = Number(input.priority);
  const onChainPriority = PRIORITIES[priorityIndex];
  if (onChainPriority === undefined) {
    return refuse("PRIORITY_MISMATCH", `the redemption's priority index ${priorityIndex} is not one of ${PRIORITIES.join(", ")}`, "priority");
  }
  if (spec.priority !== onChainPriority) {
    return refuse("PRIORITY_MISMATCH", `the spec's priority is ${spec.priority}; the redemption was made at ${onChainPriority}`, "priority");
  }

  const gpus = Number(input.gpus);
  const seconds = Number(input.seconds);
  if (spec.gpus !== gpus) {
    return refuse("HOURS_MISMATCH", `the spec asks for ${spec.gpus} GPUs; the redemption reserved ${gpus}`, "gpus");
  }
  const wanted = specSeconds(spec);
  if (wanted !== seconds) {
    return refuse("HOURS_MISMATCH", `the spec asks for ${spec.hours} hours (${wanted} s); the redemption reserved ${seconds} s`, "hours");
  }
  const units = unitsFor(gpus, seconds, Number(input.multiplierBps));
  if (units !== input.reservedUnits) {
    return refuse("HOURS_MISMATCH", `${gpus} GPUs × ${seconds} s at ${input.multiplierBps} bps is ${units} units; the redemption reserved ${input.reservedUnits}`);
  }

  return { ok: true, spec, image };
}

function issueField(issue: ZodIssue): string | undefined {
  const path = issue.path.map(String);
  if (issue.code === "unrecognized_keys" && issue.keys.length > 0) path.push(issue.keys[0]!);
  return path.length > 0 ? path.join(".") : undefined;
}

function describeIssues(issues: readonly ZodIssue[]): string {
  const shown = issues.slice(0, 3).map((i) => {
    const field = issueField(i);
    return field === undefined ? i.message : `${field}: ${i.message}`;
  });
  const more = issues.length > 3 ? ` (and ${issues.length - 3} more)` : "";
  return `${shown.join("; ")}${more}`;
}
