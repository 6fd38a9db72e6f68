/**
 * The gateway's configuration, validated once at start-up (zod) and passed down as one typed object.
 * See config/gateway.example.json for a documented example.
 */
import { hostname } from "node:os";
import { dirname, isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { readJsonObject } from "../sdk/configFile.js";
import { ConfigError, firstIssue } from "../sdk/ctkError.js";
import { type Deployment, deploymentSchema, readDeployment } from "../sdk/deployment.js";
import { LEASE_RECOVER_MS, LEASE_RENEW_MS } from "./ledger/leases.js";

const credits = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const s = String(v).trim();
  const m = /^(\d+)(?:\.(\d{1,6}))?$/.exec(s);
  if (!m) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `expected credits with at most 6 decimals, got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return BigInt(m[1]) * 1_000_000n + BigInt((m[2] ?? "").padEnd(6, "0"));
});

const limitsSchema = z
  .object({
    requestsPerMinute: z.number().int().min(1).default(600),
    tokensPerMinute: z.number().int().min(1).default(1_000_000),
    /** Credits (not base units). */
    creditsPerDay: credits.default("1000"),
  })
  .strict();

const modelSchema = z
  .object({
    /** The model's name: the one priced on-chain and asked for by clients. */
    name: z.string().min(1),
    /** OpenAI-compatible base URL of the upstream, e.g. http://vllm:8000/v1. "embedded": the --model file. */
    upstream: z.string().min(1),
    /** The model's name at the upstream, when it differs. */
    upstreamModel: z.string().min(1).optional(),
    /** The most output tokens a request may ask for. */
    maxOutputTokens: z.number().int().min(1).default(256),
    /** Requests at the upstream at once; the rest wait in the priority queue. */
    concurrency: z.number().int().min(1).max(4096).default(8),
    /**
     * The longest a request waits in the priority queue: then `503 queue_timeout` with
     * `Retry-After`, nothing charged. With `timeoutMs`, it bounds a request's life (see
     * {@link REQUEST_LIFE_MARGIN_MS}).
     */
    queueTimeoutMs: z.number().int().min(1).default(30_000),
    /** The longest the upstream's answer may take, streamed or not: then `504 upstream_timeout` (what was delivered charged). */
    timeoutMs: z.number().int().min(100).default(120_000),
    /** Pass the tier on as vLLM's `priority` (needs vLLM's --scheduling-policy priority). */
    sendPriority: z.boolean().default(false),
    /** Ask for cumulative usage on every chunk (vLLM's continuous_usage_stats). */
    continuousUsage: z.boolean().default(true),
    /**
     * vLLM's prefix cache (its V1 engine): "shared", the server's default, a prompt's prefix
     * computed once for everyone (a client's own `cache_salt` passed on); "per-holder", salted per
     * holder (`cache_salt`, from the gateway's key and the holder: a colleague cannot time whether
     * your prompt's prefix is in the cache, at the price of no prefix shared between holders).
     */
    prefixCache: z.enum(["shared", "per-holder"]).default("shared"),
  })
  .strict();

const privateKey = z
  .string()
  .regex(/^0x[0-9a-fA-F]{64}$/, "must be 0x followed by 64 hex digits")
  .transform((k) => k as `0x${string}`);

export const gatewayConfigSchema = z
  .object({
    /** A comment in the JSON file (ignored). */
    $comment: z.string().optional(),
    chain: z
      .object({
        rpcUrl: z.string().url(),
        /** The deployment: a file path, or the object itself. */
        deployment: z.union([z.string().min(1), deploymentSchema]),
        /** The gateway's account: holds the GATEWAY role, signs settleUsage; authorizations name it. */
        privateKey,
        /** How often the head is polled for revocations, offboardings, prices and grants. */
        pollIntervalMs: z.number().int().min(10).max(60_000).default(250),
        /** Balances are re-read this often (expiring buckets). */
        balanceRefreshMs: z.number().int().min(100).default(10_000),
        /**
         * Blocks a settlement must be buried under before the ledger takes it as settled (1: the
         * block it landed in; on a chain that can reorganise, more). Until then its batch stays
         * pending; a batch whose block was reorganised away is looked up and sent again.
         */
        confirmations: z.number().int().min(1).max(1_000).default(1),
        /**
         * How long the gateway goes on serving after its last read of the chain head (the RPC node
         * down, the network cut) before it refuses metered requests (503 `chain_unreachable`): it
         * cannot see a revocation or an offboarding meanwhile, so a cut key would go on spending.
         * At least twice `pollIntervalMs`; by default 30 s, or three polls if longer; 0 never
         * refuses (not recommended).
         */
        failClosedAfterMs: z.number().int().min(0).optional(),
        /**
         * On a chain that makes blocks at a steady pace: a head block older than this (by its
         * timestamp) is taken as a node that answers but has stopped following the chain, and
         * counts as not read (so `failClosedAfterMs` later, metered requests are refused). A few
         * block times; unset (the default) on a chain that makes blocks only for transactions, as
         * the devnet's anvil does, whose head may rightly be old.
         */
        maxHeadAgeMs: z.number().int().min(1_000).optional(),
      })
      .strict()
      .refine((c) => c.failClosedAfterMs === undefined || c.failClosedAfterMs === 0 || c.failClosedAfterMs >= 2 * c.pollIntervalMs, {
        message: "chain.failClosedAfterMs must be 0 or at least twice chain.pollIntervalMs",
        path: ["failClosedAfterMs"],
      })
      .refine((c) => c.maxHeadAgeMs === undefined || c.failClosedAfterMs !== 0, {
        message: "chain.maxHeadAgeMs has no effect with chain.failClosedAfterMs 0 (never refuse): set one, or neither",
        path: ["maxHeadAgeMs"],
      })
      .transform((c) => ({ ...c, failClosedAfterMs: c.failClosedAfterMs ?? Math.max(30_000, 3 * c.pollIntervalMs) })),
    host: z.string().min(1).default("127.0.0.1"),
    /** 0: any free port. */
    port: z.number().int().min(0).max(65_535).default(8788),
    /**
     * This replica's name in the ledger (its in-flight holds are released when it restarts, and its
     * old holds no request holds by a sweep): one per gateway process sharing a ledger.
     */
    replica: z.string().min(1).default(`${hostname()}`),
    database: z
      .discriminatedUnion("kind", [
        z
          .object({
            kind: z.literal("sqlite"),
            file: z.string().min(1),
            /** FULL: a charge survives a power loss once committed; NORMAL (WAL): survives a process crash. */
            synchronous: z.enum(["full", "normal"]).default("full"),
          })
          .strict(),
        z
          .object({
            kind: z.literal("postgres"),
            url: z.string().min(1),
            poolSize: z.number().int().min(1).max(200).default(16),
            /**
             * Hold requests against credit leases in memory where enough is left (gateway/README.md,
             * "Leases"): a request writes one row. false: every request takes the exact path.
             */
            leases: z.boolean().default(true),
          })
          .strict(),
      ])
      .default({ kind: "sqlite", file: "data/gateway/ledger.sqlite" }),
    models: z.array(modelSchema).default([]),
    /** The embedded llama.cpp upstream (`upstream: "embedded"` models use it). */
    embedded: z
      .object({
        modelPath: z.string().min(1),
        sha256: z
          .string()
          .regex(/^[0-9a-fA-F]{64}$/)
          .optional(),
        sequences: z.number().int().min(1).max(64).default(4),
        contextSize: z.number().int().min(64).default(512),
      })
      .strict()
      .optional(),
    limits: z
      .object({
        defaults: limitsSchema.default({}),
        /** Per holder address: any of the defaults' fields. */
        holders: z.record(z.string(), limitsSchema.partial()).default({}),
      })
      .strict()
      .default({}),
    maxBodyBytes: z.number().int().min(1_024).default(1_048_576),
    /**
     * Holds older than this are abandoned (a replica that never came back) and released by a replica
     * that starts; another replica's credit leases, once not renewed for this long (5 min at least).
     * A model's requests must end well within it (see {@link REQUEST_LIFE_MARGIN_MS}); replicas
     * that share a ledger should all have the same.
     */
    staleHoldMs: z
      .number()
      .int()
      .min(1_000)
      .default(15 * 60_000),
    settlement: z
      .object({
        intervalMs: z.number().int().min(50).default(30_000),
        /**
         * Records (charged requests) that make a batch due before `intervalMs`. A batch costs a
         * transaction plus a charge per authorization in it, whatever its records: the more records
         * per batch, the less gas per request and the fewer transactions for the chain to carry
         * (at 2,000 requests/s, 200 would be ten settlements a second).
         */
        maxCharges: z.number().int().min(1).max(10_000).default(2_000),
      })
      .strict()
      .default({}),
    /** Where usage records (one JSON line per request, a file per batch) are kept. */
    recordsDir: z.string().min(1).default("data/gateway/records"),
    logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    /** Log prompts and completions (off: logs never contain them). */
    logContent: z.boolean().default(false),
  })
  .strict();

export type GatewayConfigInput = z.input<typeof gatewayConfigSchema>;
type Parsed = z.output<typeof gatewayConfigSchema>;
/** The validated configuration, with the deployment file read. */
export type GatewayConfig = Omit<Parsed, "chain"> & { chain: Omit<Parsed["chain"], "deployment"> & { deployment: Deployment } };
export type ModelConfig = GatewayConfig["models"][number];
export type LimitsConfig = z.output<typeof limitsSchema>;

/** The gateway's configuration errors: a {@link ConfigError} (exit 2), one problem at a time. */
export class GatewayConfigError extends ConfigError {}

/**
 * A request's life once held — its wait in the queue (`queueTimeoutMs`), then its upstream call
 * (`timeoutMs`) — must end at least this long (ms) before any replica may take its hold from it,
 * for what neither bounds (the statements of its hold and its charge, replicas' clocks apart).
 * Taken, its charge finds nothing to convert and the answer goes out free. A replica releases any
 * replica's hold older than `staleHoldMs` when it starts; on PostgreSQL with leases, every replica
 * recovers, every minute, another's lease not renewed for `max(staleHoldMs, LEASE_RECOVER_MS)`, and
 * a request may be held under it up to LEASE_RENEW_MS after its renewal (its owner also keeps a
 * lease renewed while requests are in flight under it: this bound is the first of two).
 */
export const REQUEST_LIFE_MARGIN_MS = 60_000;

/** Refuses a model whose requests could outlive their hold (see {@link REQUEST_LIFE_MARGIN_MS}). */
function checkRequestLife(m: Parsed["models"][number], c: Parsed): void {
  const life = m.queueTimeoutMs + m.timeoutMs;
  const stale = `gateway config: model "${m.name}": queueTimeoutMs + timeoutMs (${life} ms, the longest a request runs once held) must stay at least ${REQUEST_LIFE_MARGIN_MS} ms under`;
  if (life + REQUEST_LIFE_MARGIN_MS > c.staleHoldMs)
    throw new GatewayConfigError(`${stale} staleHoldMs (${c.staleHoldMs} ms), after which a starting replica releases the hold: lower them, or raise staleHoldMs`);
  if (c.database.kind !== "postgres" || !c.database.leases) return;
  const leaseWindow = Math.max(c.staleHoldMs, LEASE_RECOVER_MS) - LEASE_RENEW_MS;
  if (life + REQUEST_LIFE_MARGIN_MS > leaseWindow)
    throw new GatewayConfigError(
      `${stale} ${leaseWindow} ms: another replica recovers a credit lease not renewed for max(staleHoldMs, ${LEASE_RECOVER_MS} ms), and a request may be held under it up to ${LEASE_RENEW_MS} ms after its renewal: lower them, raise staleHoldMs, or set database.leases to false`,
    );
}

/** Reads and validates a JSON configuration file; relative paths resolve against its directory. @throws ConfigError */
export function readGatewayConfig(file: string): GatewayConfig {
  return parseGatewayConfig(readJsonObject(file, "gateway config"), dirname(resolve(file)));
}

/** Validates the configuration; relative paths resolve against `baseDir`. @throws GatewayConfigError */
export function parseGatewayConfig(raw: unknown, baseDir = process.cwd()): GatewayConfig {
  const parsed = gatewayConfigSchema.safeParse(raw);
  if (!parsed.success) throw new GatewayConfigError(`gateway config: ${firstIssue(parsed.error)}`);
  const c = parsed.data;
  const at = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  const names = new Set<string>();
  for (const m of c.models) {
    if (names.has(m.name)) throw new GatewayConfigError(`gateway config: model "${m.name}" is listed twice`);
    names.add(m.name);
    if (m.upstream === "embedded" && !c.embedded) throw new GatewayConfigError(`gateway config: model "${m.name}" uses the embedded upstream, but no embedded.modelPath is set`);
    if (m.upstream !== "embedded" && !/^https?:\/\//.test(m.upstream))
      throw new GatewayConfigError(`gateway config: model "${m.name}": upstream must be an http(s) URL or "embedded"`);
    checkRequestLife(m, c);
  }
  let deployment: Deployment;
  try {
    deployment = typeof c.chain.deployment === "string" ? readDeployment(at(c.chain.deployment)) : c.chain.deployment;
  } catch (err) {
    throw new GatewayConfigError(`gateway config: ${(err as Error).message}`);
  }
  return {
    ...c,
    chain: { ...c.chain, deployment },
    database: c.database.kind === "sqlite" ? { ...c.database, file: c.database.file === ":memory:" ? c.database.file : at(c.database.file) } : c.database,
    recordsDir: at(c.recordsDir),
    ...(c.embedded && { embedded: { ...c.embedded, modelPath: at(c.embedded.modelPath) } }),
  };
}

/** A holder's limits: the defaults with its overrides. */
export function limitsFor(config: GatewayConfig, holder: string): LimitsConfig {
  const key = Object.keys(config.limits.holders).find((k) => k.toLowerCase() === holder.toLowerCase());
  return { ...config.limits.defaults, ...(key ? config.limits.holders[key] : {}) };
}
