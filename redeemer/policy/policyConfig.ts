/** The redeemer's launch policy: which images it will run and how large a spec may be. */
import { z } from "zod";
import { SECRET_NAME_RE, SPEC_LIMITS } from "../../sdk/jobSpec.js";
import { parseConfig } from "../../sdk/ctkError.js";
import { isRegistryHost, normalizeRegistry } from "../../sdk/imageRef.js";

const PATH_PREFIX_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;

/** "host[:port]" or "host[:port]/path/prefix"; normalised to a lower-case host. */
const registryEntry = z
  .string()
  .trim()
  .transform((s) => s.replace(/\/+$/, ""))
  .superRefine((entry, ctx) => {
    const slash = entry.indexOf("/");
    const host = slash === -1 ? entry : entry.slice(0, slash);
    const prefix = slash === -1 ? "" : entry.slice(slash + 1);
    if (!isRegistryHost(host)) ctx.addIssue({ code: "custom", message: `${JSON.stringify(entry)} is not a registry host[:port]` });
    else if (prefix !== "" && !PATH_PREFIX_RE.test(prefix)) {
      ctx.addIssue({ code: "custom", message: `${JSON.stringify(entry)} has an invalid repository path` });
    }
  })
  .transform((entry) => {
    const slash = entry.indexOf("/");
    return slash === -1 ? normalizeRegistry(entry) : `${normalizeRegistry(entry.slice(0, slash))}${entry.slice(slash)}`;
  });

export const policyConfigSchema = z
  .object({
    /** Registries (optionally narrowed to a repository path) that images may come from. */
    allowedRegistries: z.array(registryEntry).min(1, "list at least one registry (host[:port][/path])"),
    /** Refuse images that are not pinned by `@sha256:<64 hex>`. */
    requireDigest: z.boolean().default(true),
    /** Largest spec, in bytes, the redeemer will read. */
    maxSpecBytes: z
      .number()
      .int()
      .positive()
      .max(1 << 20)
      .default(SPEC_LIMITS.maxSpecBytes),
    /**
     * Named secrets a spec may reference in `secrets` (the values stay in the cluster: a key of the
     * Kubernetes Secret, an entry of the local executor's secrets file).
     */
    allowedSecrets: z.array(z.string().regex(SECRET_NAME_RE, "must be a secret name: letters, digits, '-', '.', '_'")).default([]),
  })
  .strict();

/**
 * The policy as checked: the configured section, plus what the executor imposes (set by
 * startRedeemer from the executor's configuration; absent: no command rule).
 */
export type PolicyConfig = z.output<typeof policyConfigSchema> & {
  /** Commands (command[0]) the executor runs; null or absent: any. */
  allowedCommands?: readonly string[] | null;
  /** The executor cannot run an image's entrypoint: `command` must be set. */
  commandRequired?: boolean;
};
export type PolicyConfigInput = z.input<typeof policyConfigSchema>;

/** Validates a policy object. @throws ConfigError */
export function parsePolicyConfig(raw: unknown, source?: string): PolicyConfig {
  return parseConfig(policyConfigSchema, "policy config", raw, source);
}
