/**
 * A deployment file: where the contracts are and from which block their history starts.
 * Written by `ctk devnet up` / the deploy scripts, read by every `ctk` command (`--deployment`).
 */
import { readFileSync } from "node:fs";
import { getAddress, isAddress, type Address } from "viem";
import { z } from "zod";
import { CtkError } from "./ctkError.js";

const address = z
  .string()
  .refine((a) => isAddress(a), { message: "must be a 0x-prefixed 20-byte address" })
  .transform((a) => getAddress(a) as Address);

export const deploymentSchema = z.object({
  chainId: z.number().int().positive(),
  computeToken: address,
  accessManager: address,
  /** InferenceCredit, governed by the same AccessManager (absent in deployments made before it existed). */
  inferenceCredit: address.optional(),
  /** Block of the ComputeToken deployment: audits replay from here. */
  deployBlock: z.number().int().nonnegative(),
  /** Role holders at deploy time (informational; the chain is the source of truth). */
  roles: z.record(z.string(), z.array(address)).default({}),
});

export type Deployment = z.infer<typeof deploymentSchema>;

export class DeploymentFileError extends CtkError {
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`deployment file ${file}: ${detail}`);
    this.name = "DeploymentFileError";
  }
}

export function readDeployment(file: string): Deployment {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new DeploymentFileError(file, err.code === "ENOENT" ? "not found (is the devnet up? run `ctk devnet up`)" : err.message);
  }
  const parsed = deploymentSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new DeploymentFileError(file, `${issue.path.join(".") || "(root)"} ${issue.message}`);
  }
  return parsed.data;
}
