/**
 * A deployment file: where the contracts are and from which block their history starts.
 * Written by `ctk devnet up` / the deploy scripts, read by every `ctk` command (`--deployment`).
 */
import { getAddress, isAddress, type Address } from "viem";
import { z } from "zod";
import { FileError, firstIssue } from "./ctkError.js";
import { readJsonFile } from "./jsonFile.js";

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

export class DeploymentFileError extends FileError {
  constructor(file: string, detail: string) {
    super("deployment file", file, detail);
  }
}

export function readDeployment(file: string): Deployment {
  const raw = readJsonFile(file, (detail) => new DeploymentFileError(file, detail), "not found (is the devnet up? run `ctk devnet up`)");
  const parsed = deploymentSchema.safeParse(raw);
  if (!parsed.success) throw new DeploymentFileError(file, firstIssue(parsed.error, " "));
  return parsed.data;
}
