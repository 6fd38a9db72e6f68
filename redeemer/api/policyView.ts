/**
 * The policy the redeemer publishes at `GET /v1/policy` (sdk/policy.ts `RedeemerPolicy`): what it
 * checks every spec against, so `ctk redeem` and the web app can run the same check before burning.
 */
import type { ClassInfo } from "../../sdk/classes.js";
import type { RedeemerPolicy } from "../../sdk/policy.js";
import type { PolicyConfig } from "../policy/policyConfig.js";

export function publishedPolicy(
  policy: PolicyConfig,
  executor: "local" | "kubernetes",
  classes: readonly ClassInfo[],
  chain: { computeToken?: string; chainId?: number; deployBlockHash?: string } = {},
): RedeemerPolicy {
  const { computeToken, chainId, deployBlockHash } = chain;
  return {
    ...(computeToken !== undefined && { computeToken }),
    ...(chainId !== undefined && { chainId }),
    ...(deployBlockHash !== undefined && { deployBlockHash }),
    allowedRegistries: [...policy.allowedRegistries],
    requireDigest: policy.requireDigest,
    maxSpecBytes: policy.maxSpecBytes,
    executor,
    allowedCommands: policy.allowedCommands ? [...policy.allowedCommands] : null,
    commandRequired: policy.commandRequired ?? false,
    allowedSecrets: [...policy.allowedSecrets],
    classes: classes.map((c) => ({ classId: c.classId, name: c.name, maxGpusPerJob: c.maxGpusPerJob, active: c.active })),
  };
}
