/**
 * The policy settings the environment overrides (the redeemer's configuration, redeemer/config.ts,
 * lays them over its file's `policy` section):
 *
 *   CTK_ALLOWED_REGISTRIES   comma- or space-separated allow-list (replaces the file's list)
 *   CTK_REQUIRE_DIGEST       true | false | 1 | 0 | yes | no
 *   CTK_MAX_SPEC_BYTES       integer
 *   CTK_ALLOWED_SECRETS      comma- or space-separated secret names a spec may reference
 */
import type { Env } from "../../sdk/configFile.js";
import { ConfigError } from "../../sdk/ctkError.js";

const BOOLEAN: Record<string, boolean> = { true: true, "1": true, yes: true, false: false, "0": false, no: false };

/** The settings the environment overrides, as a partial policy object. @throws ConfigError */
export function policyOverridesFromEnv(env: Env): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const issues: { path: string; message: string }[] = [];
  const registries = env.CTK_ALLOWED_REGISTRIES;
  if (registries !== undefined && registries.trim() !== "") {
    out.allowedRegistries = registries.split(/[\s,]+/).filter((s) => s !== "");
  }
  const secrets = env.CTK_ALLOWED_SECRETS;
  if (secrets !== undefined && secrets.trim() !== "") out.allowedSecrets = secrets.split(/[\s,]+/).filter((s) => s !== "");
  const digest = env.CTK_REQUIRE_DIGEST;
  if (digest !== undefined && digest.trim() !== "") {
    const value = BOOLEAN[digest.trim().toLowerCase()];
    if (value === undefined) issues.push({ path: "CTK_REQUIRE_DIGEST", message: `expected true or false, got ${JSON.stringify(digest)}` });
    else out.requireDigest = value;
  }
  const maxBytes = env.CTK_MAX_SPEC_BYTES;
  if (maxBytes !== undefined && maxBytes.trim() !== "") {
    if (!/^\d+$/.test(maxBytes.trim())) issues.push({ path: "CTK_MAX_SPEC_BYTES", message: `expected an integer, got ${JSON.stringify(maxBytes)}` });
    else out.maxSpecBytes = Number(maxBytes.trim());
  }
  if (issues.length > 0) {
    throw new ConfigError(`invalid policy environment: ${issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`, issues, "environment");
  }
  return out;
}
