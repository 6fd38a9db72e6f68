/**
 * The second floor of the gateway benchmark: the gateway's own request path (gateway/http: key
 * lookup, body checks, quote, priority queue, upstream client, stream re-framing and token
 * counting, cost headers, metrics) in its own process, over a ledger that keeps nothing: every key
 * is known, every hold is granted, every charge is accepted, in memory, with no database. Not a
 * gateway (it meters nothing); what the gateway costs before its ledger, measured in the same run
 * as the bare relay below it and the gateway above it.
 *
 * With a PostgreSQL URL (and a schema of its own), the third floor: the same, but each request's
 * charge is written to PostgreSQL, durable, before its response completes — one row of (request
 * id, holder, charge, when) with its primary key, grouped with the charges of the requests ending
 * meanwhile as the gateway groups its own ({@link GroupCommit}, one statement per group). No
 * hold, no limits, no holder's or authorization's row: the least a ledger on PostgreSQL must write
 * for the gateway's promise that a charge is durable before the response completes.
 * `tsx bench/meteringFloor.ts <upstream url> [<postgres url> <schema>]`; prints `listening <port>`.
 */
import pino from "pino";
import { GroupCommit } from "../gateway/ledger/groupCommit.js";
import { type Hold, type HoldParams, type KeyInfo, type Ledger, PG_GROUPING, pgArray } from "../gateway/ledger/ledger.js";
import { PostgresDriver } from "../gateway/ledger/postgresDriver.js";
import { MeteredProxy } from "../gateway/http/meteredProxy.js";
import { createGatewayServer, listen } from "../gateway/http/server.js";
import { GatewayMetrics } from "../gateway/metrics.js";
import type { PriceBook } from "../gateway/metering/quote.js";
import { PriorityLimiter } from "../gateway/upstream/priorityLimiter.js";
import { UpstreamClient } from "../gateway/upstream/upstreamClient.js";

const upstream = (process.argv[2] ?? "").replace(/\/+$/, "");
const [pgUrl, pgSchema] = process.argv.slice(3);
const key: KeyInfo = {
  keyId: "floor",
  authId: "floor",
  holder: "0x0000000000000000000000000000000000000001",
  nonce: 0n,
  expiresAt: 2n ** 40n,
  models: [],
  status: "active",
  offboarded: false,
};
/** The third floor's durable charges, grouped (the gateway's own group commit, its sizes). */
let charges: GroupCommit<{ id: string; amount: bigint }, undefined> | undefined;
if (pgUrl) {
  const db = new PostgresDriver(pgUrl, 16, pgSchema);
  await db.exec("CREATE TABLE IF NOT EXISTS floor_charges (request_id TEXT PRIMARY KEY, holder TEXT NOT NULL, charge BIGINT NOT NULL, finished_at BIGINT NOT NULL)");
  const sql = "INSERT INTO floor_charges SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[])";
  charges = new GroupCommit({
    ...PG_GROUPING,
    key: (c) => c.id,
    run: async (items) => {
      const now = Date.now();
      await db.statement(sql, [pgArray(items.map((c) => c.id)), pgArray(items.map(() => key.holder)), pgArray(items.map((c) => c.amount)), pgArray(items.map(() => now))]);
      return items.map(() => undefined);
    },
  });
}
/** The ledger's three calls on a request's path, keeping nothing (or only the charge: the third floor). */
const ledger = {
  findKey: async (): Promise<KeyInfo> => key,
  hold: async (p: HoldParams): Promise<Hold> => {
    const outputTokens = Math.min(p.maxTokens ?? p.modelMaxTokens, p.modelMaxTokens);
    return { requestId: p.requestId, holder: key.holder, amount: p.quote.cost(p.inputTokens, outputTokens), outputTokens };
  },
  settleRequest: async (id: string, u: { amount: bigint }) => {
    await charges?.submit({ id, amount: u.amount });
    return { charge: u.amount };
  },
} as unknown as Ledger;
// The bench's prices (any: the cost is computed, not checked).
const prices: PriceBook = { version: 1n, models: new Map([["bench", { inputPerMTok: 1_000n, outputPerMTok: 2_000n, requestCharge: 1n }]]), fees: [0n, 0n, 1n, 2n] };
const model = {
  name: "bench",
  upstream,
  maxOutputTokens: 16,
  concurrency: 256,
  queueTimeoutMs: 30_000,
  timeoutMs: 120_000,
  sendPriority: false,
  continuousUsage: true,
  prefixCache: "shared" as const,
};
const log = pino({ level: "warn" });
const metrics = new GatewayMetrics();
const proxy = new MeteredProxy({
  ledger,
  metrics,
  log,
  upstreams: new Map([["bench", { model, url: upstream, limiter: new PriorityLimiter(model.concurrency) }]]),
  upstreamClient: new UpstreamClient(),
  prices: () => prices,
  limitsFor: () => ({ requestsPerMinute: 1e9, tokensPerMinute: 1e9, creditsPerDay: 10n ** 30n }),
  replica: "floor",
  cacheSalt: () => {
    throw new Error("the bench model's prefix cache is shared: no salt");
  },
  maxBodyBytes: 1 << 20,
  logContent: false,
  // The gateway's check before every hold (a chain read recently enough), as it runs there.
  refusal: () => undefined,
});
const server = createGatewayServer({ proxy, metrics, log, models: () => [], notReady: async () => undefined });
const port = await listen(server, 0, "127.0.0.1");
process.stdout.write(`listening ${port}\n`);
process.on("SIGTERM", () => server.close(() => process.exit(0)));
