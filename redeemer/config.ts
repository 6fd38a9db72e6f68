/**
 * The redeemer's configuration, read once at start-up: a JSON file, then the environment on top
 * (the process environment wins over a `.env` file, which dotenv reads without touching
 * `process.env`), validated with zod and passed down as one typed object.
 *
 *   CTK_REDEEMER_CONFIG    the JSON file (when no `file` option is given)
 *   CTK_RPC                JSON-RPC endpoint (the name `ctk` reads too; CTK_RPC_URL still works, deprecated)
 *   CTK_DEPLOYMENT         deployment file (sdk/deployment.ts format)
 *   CTK_REDEEMER_KEY       the redeemer's private key (0x + 64 hex); holds the REDEEMER role
 *   CTK_CONFIRMATIONS      blocks a burn must be buried under before it is acted on
 *   CTK_POLL_INTERVAL_MS   how often the head is polled
 *   CTK_EXECUTOR           local | kubernetes
 *   CTK_RECEIPTS_DIR       where usage receipts are written
 *   CTK_API_HOST, CTK_API_PORT, CTK_LOG_LEVEL
 *   CTK_ALLOWED_REGISTRIES, CTK_REQUIRE_DIGEST, CTK_MAX_SPEC_BYTES   (policy; see redeemer/policy)
 *
 * Relative paths in the file are resolved against the file's directory.
 */
import { dirname, isAbsolute, join, resolve } from "node:path";
import { z } from "zod";
import { type Deployment, deploymentSchema, readDeployment } from "../sdk/deployment.js";
import { kubernetesExecutorConfigSchema } from "./executor/kubernetes/config.js";
import { localExecutorConfigSchema } from "./executor/local/localExecutorConfig.js";
import { type Env, readEnvFile, readJsonObject } from "../sdk/configFile.js";
import { ConfigError, parseConfig } from "../sdk/ctkError.js";
import { policyConfigSchema, policyOverridesFromEnv } from "./policy/index.js";
import { MAX_CLAIM_BATCH } from "./settler/claimBatcher.js";

export type { Env };

const privateKey = z
  .string()
  .regex(/^0x[0-9a-fA-F]{64}$/, "must be 0x followed by 64 hex digits")
  .transform((k) => k as `0x${string}`);

// The executors' own schemas: a mistake in their sections is reported with the rest, before any I/O.
const localExecutorSection = z.object({ kind: z.literal("local"), local: localExecutorConfigSchema }).strict();
const kubernetesExecutorSection = z
  .object({
    kind: z.literal("kubernetes"),
    kubernetes: kubernetesExecutorConfigSchema,
    /** kubeconfig file; absent: the default loading rules (KUBECONFIG, ~/.kube/config, in-cluster). */
    kubeconfig: z.string().min(1).optional(),
  })
  .strict();

export const redeemerConfigSchema = z
  .object({
    rpcUrl: z.string().url(),
    /** The deployment: a file path, or the object itself. */
    deployment: z.union([z.string().min(1), deploymentSchema]),
    privateKey,
    confirmations: z.number().int().min(0).max(1_000).default(2),
    pollIntervalMs: z.number().int().min(10).max(600_000).default(1_000),
    /** Most blocks in one eth_getLogs call. */
    maxBlockRange: z.number().int().min(1).max(1_000_000).default(5_000),
    receiptsDir: z.string().min(1).default("data/receipts"),
    api: z
      .object({
        host: z.string().min(1).default("127.0.0.1"),
        /** 0: any free port (reported by startRedeemer). */
        port: z.number().int().min(0).max(65_535).default(8787),
      })
      .strict()
      .default({}),
    logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    policy: policyConfigSchema,
    executor: z.discriminatedUnion("kind", [localExecutorSection, kubernetesExecutorSection]),
    launch: z
      .object({
        /** Launch attempts that fail for a passing reason before the redemption is rejected LAUNCH_FAILED. */
        maxAttempts: z.number().int().min(1).max(100).default(5),
        concurrency: z.number().int().min(1).max(1_024).default(64),
      })
      .strict()
      .default({}),
    retry: z
      .object({
        baseMs: z.number().int().min(1).default(500),
        maxMs: z.number().int().min(1).default(30_000),
      })
      .strict()
      .default({}),
    tx: z
      .object({
        /** Chain actions (status read + transaction) at once. */
        concurrency: z.number().int().min(1).max(256).default(16),
        receiptTimeoutMs: z.number().int().min(100).default(120_000),
        /** Claims (markRunning) sent together in one markRunningBatch transaction, at most the contract's MAX_BATCH. */
        claimBatch: z.number().int().min(1).max(MAX_CLAIM_BATCH).default(MAX_CLAIM_BATCH),
        /** Claim batches in flight at once. */
        claimBatchesInFlight: z.number().int().min(1).max(64).default(2),
      })
      .strict()
      .default({}),
    /** A full re-list of the executor's jobs this often (watches can miss things). */
    reconcileIntervalMs: z.number().int().min(100).default(30_000),
    /** Redemptions over (settled, rejected, reclaimed) kept in memory in full, the most recent ones; older ones are read from the chain when asked for. */
    keepDone: z.number().int().min(0).max(10_000_000).default(1_000),
    checkpoint: z
      .object({
        /** Start from a checkpoint (a speed-up only: without one, the history is read from the deployment block). */
        enabled: z.boolean().default(true),
        /** Default: redeemer-checkpoint.json beside the receipts directory. */
        file: z.string().min(1).optional(),
        /** Written at most this often, after a poll that read up to the confirmed head, and on a graceful stop. */
        intervalMs: z.number().int().min(100).default(10_000),
      })
      .strict()
      .default({}),
  })
  .strict();

export type RedeemerConfigInput = z.input<typeof redeemerConfigSchema>;
type Parsed = z.output<typeof redeemerConfigSchema>;
/** The validated configuration, with the deployment file read. */
export type RedeemerConfig = Omit<Parsed, "deployment" | "checkpoint"> & { deployment: Deployment; checkpoint: Parsed["checkpoint"] & { file: string } };

/** Validates a configuration object; `baseDir` resolves relative paths. @throws ConfigError */
export function parseRedeemerConfig(raw: unknown, options: { baseDir?: string; source?: string } = {}): RedeemerConfig {
  const c = parseConfig(redeemerConfigSchema, "redeemer config", raw, options.source);
  const base = options.baseDir ?? process.cwd();
  const at = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  let deployment: Deployment;
  try {
    deployment = typeof c.deployment === "string" ? readDeployment(at(c.deployment)) : c.deployment;
  } catch (err) {
    throw new ConfigError(`redeemer config: ${(err as Error).message}`, [{ path: "deployment", message: (err as Error).message }], options.source);
  }
  const executor =
    c.executor.kind === "local"
      ? { ...c.executor, local: { ...c.executor.local, dataDir: at(c.executor.local.dataDir) } }
      : { ...c.executor, ...(c.executor.kubeconfig && { kubeconfig: at(c.executor.kubeconfig) }) };
  const receiptsDir = at(c.receiptsDir);
  const checkpoint = { ...c.checkpoint, file: c.checkpoint.file ? at(c.checkpoint.file) : join(dirname(receiptsDir), "redeemer-checkpoint.json") };
  return { ...c, deployment, receiptsDir, executor, checkpoint };
}

export interface LoadRedeemerConfigOptions {
  /** The JSON file; default CTK_REDEEMER_CONFIG, else none (environment only). */
  file?: string;
  /** Default process.env. */
  env?: Env;
  /** dotenv file; default `.env` in the working directory if it exists; false for none. */
  envFile?: string | false;
  /** Told about deprecated settings (default: a Node DeprecationWarning on stderr). */
  onDeprecated?: (message: string) => void;
}

/** The RPC URL's variable: the one name `ctk` and both services read. */
export const RPC_ENV = "CTK_RPC";
/** Its former name in the redeemer, still read (CTK_RPC wins) with a deprecation warning. */
const DEPRECATED_RPC_ENV = "CTK_RPC_URL";

/** Reads file + .env + environment. @throws ConfigError */
export function loadRedeemerConfig(options: LoadRedeemerConfigOptions = {}): RedeemerConfig {
  const env: Env = { ...readEnvFile(options.envFile), ...(options.env ?? process.env) };
  const file = options.file ?? (env.CTK_REDEEMER_CONFIG || undefined);
  const fromFile = file === undefined ? {} : readJsonObject(file, "redeemer config");
  const merged: Record<string, unknown> = { ...fromFile };
  const issues: { path: string; message: string }[] = [];
  const str = (name: string, key: string) => {
    const v = env[name]?.trim();
    if (v) merged[key] = v;
  };
  const int = (name: string, set: (n: number) => void) => {
    const v = env[name]?.trim();
    if (!v) return;
    if (!/^\d+$/.test(v)) issues.push({ path: name, message: `expected a non-negative integer, got ${JSON.stringify(v)}` });
    else set(Number(v));
  };
  if (env[DEPRECATED_RPC_ENV]?.trim()) {
    const deprecated = options.onDeprecated ?? ((m: string) => process.emitWarning(m, "DeprecationWarning"));
    deprecated(`${DEPRECATED_RPC_ENV} is deprecated: set ${RPC_ENV} instead${env[RPC_ENV]?.trim() ? ` (${RPC_ENV} is set and wins)` : ""}`);
    str(DEPRECATED_RPC_ENV, "rpcUrl");
  }
  str(RPC_ENV, "rpcUrl");
  str("CTK_DEPLOYMENT", "deployment");
  str("CTK_REDEEMER_KEY", "privateKey");
  str("CTK_RECEIPTS_DIR", "receiptsDir");
  str("CTK_LOG_LEVEL", "logLevel");
  int("CTK_CONFIRMATIONS", (n) => (merged.confirmations = n));
  int("CTK_POLL_INTERVAL_MS", (n) => (merged.pollIntervalMs = n));
  const api = { ...((merged.api as object) ?? {}) } as Record<string, unknown>;
  if (env.CTK_API_HOST?.trim()) api.host = env.CTK_API_HOST.trim();
  int("CTK_API_PORT", (n) => (api.port = n));
  if (Object.keys(api).length) merged.api = api;
  const kind = env.CTK_EXECUTOR?.trim();
  if (kind) {
    const current = (merged.executor as Record<string, unknown> | undefined) ?? {};
    if (kind === "local") merged.executor = { kind, local: current.local ?? { dataDir: "data/local-executor" } };
    else if (kind === "kubernetes") merged.executor = { kind, kubernetes: current.kubernetes ?? {}, ...(current.kubeconfig !== undefined && { kubeconfig: current.kubeconfig }) };
    else issues.push({ path: "CTK_EXECUTOR", message: `expected local or kubernetes, got ${JSON.stringify(kind)}` });
  }
  merged.policy = { ...((merged.policy as object) ?? {}), ...policyOverridesFromEnv(env) };
  if (issues.length) throw new ConfigError(`invalid redeemer environment: ${issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`, issues, "environment");
  const source = [file, "environment"].filter(Boolean).join(" + ");
  return parseRedeemerConfig(merged, { baseDir: file ? dirname(resolve(file)) : process.cwd(), source });
}
