/**
 * Reason codes for `reject(id, reasonCode)`. The code is what goes on-chain; the text is what
 * the API, the CLI and the audit report show.
 */
export const REJECT_REASONS = {
  INVALID_SPEC: 1,
  SPEC_TOO_LARGE: 2,
  NOT_UTF8: 3,
  IMAGE_NOT_ALLOWED: 4,
  IMAGE_NOT_PINNED: 5,
  TOO_MANY_GPUS: 6,
  HOURS_MISMATCH: 7,
  PRIORITY_MISMATCH: 8,
  PRIVILEGED: 9,
  CLASS_UNAVAILABLE: 10,
  LAUNCH_FAILED: 11,
  COMMAND_NOT_ALLOWED: 12,
  SECRET_NOT_ALLOWED: 13,
  CREDENTIAL_IN_SPEC: 14,
} as const;

export type RejectReason = keyof typeof REJECT_REASONS;

export const REJECT_REASON_TEXT: Record<RejectReason, string> = {
  INVALID_SPEC: "the job spec does not match the schema",
  SPEC_TOO_LARGE: "the job spec is larger than allowed",
  NOT_UTF8: "the job spec is not valid UTF-8 JSON",
  IMAGE_NOT_ALLOWED: "the image's registry is not on the allow-list",
  IMAGE_NOT_PINNED: "the image is not pinned by @sha256 digest",
  TOO_MANY_GPUS: "more GPUs than the hardware class allows per job",
  HOURS_MISMATCH: "GPUs × hours × priority do not match the units reserved",
  PRIORITY_MISMATCH: "the spec's priority differs from the redemption's",
  PRIVILEGED: "the spec asks for privileged settings",
  CLASS_UNAVAILABLE: "no capacity is configured for this hardware class",
  LAUNCH_FAILED: "the executor could not launch the job",
  COMMAND_NOT_ALLOWED: "the executor does not run this command",
  SECRET_NOT_ALLOWED: "the spec names a secret the redeemer does not provide",
  CREDENTIAL_IN_SPEC: "an env value looks like a credential (a spec is public on-chain)",
};

export function reasonName(code: number): RejectReason | undefined {
  return (Object.keys(REJECT_REASONS) as RejectReason[]).find((k) => REJECT_REASONS[k] === code);
}

export function describeReason(code: number): string {
  const name = reasonName(code);
  return name ? `${name}: ${REJECT_REASON_TEXT[name]}` : `reason code ${code}`;
}
