/**
 * Reads the policy once at start-up: a JSON file, then environment overrides on top
 * (the process environment wins over a `.env` file, which dotenv reads without touching
 * `process.env`).
 *
 *   CTK_POLICY_FILE          the JSON file, when no `file` option is given
 *   CTK_ALLOWED_REGISTRIES   comma- or space-separated allow-list (replaces the file's list)
 *   CTK_REQUIRE_DIGEST       true | false | 1 | 0 | yes | no
 *   CTK_MAX_SPEC_BYTES       integer
 *   CTK_ALLOWED_SECRETS      comma- or space-separated secret names a spec may reference
 */
import { type Env, readEnvFile, readJsonObject } from "../../sdk/configFile.js";
import { ConfigError } from "../../sdk/ctkError.js";
import { type PolicyConfig, parsePolicyConfig } from "./policyConfig.js";

export type { Env };

export interface LoadPolicyConfigOptions {
  /** JSON file holding the policy object; default `CTK_POLICY_FILE`, else none (env only). */
  file?: string;
  /** Default `process.env`. */
  env?: Env;
  /** dotenv file; default `.env` in the working directory if it exists; `false` for none. */
  envFile?: string | false;
}

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
    if (!/^\d+$/.test(maxBytes.trim()))
      issues.push({ path: "CTK_MAX_SPEC_BYTES", message: `expected an integer, got ${JSON.stringify(maxBytes)}` });
    else out.maxSpecBytes = Number(maxBytes.trim());
  }
  if (issues.length > 0) {
    throw new ConfigError(`invalid policy environment: ${issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`, issues, "environment");
  }
  return out;
}

/** @throws ConfigError */
export function loadPolicyConfig(options: LoadPolicyConfigOptions = {}): PolicyConfig {
  const env: Env = { ...readEnvFile(options.envFile), ...(options.env ?? process.env) };
  const file = options.file ?? (env.CTK_POLICY_FILE || undefined);
  const fromFile = file === undefined ? {} : readJsonObject(file, "policy config");
  const overrides = policyOverridesFromEnv(env);
  const source = [file, Object.keys(overrides).length > 0 ? "environment" : undefined].filter(Boolean).join(" + ");
  return parsePolicyConfig({ ...fromFile, ...overrides }, source || undefined);
}


