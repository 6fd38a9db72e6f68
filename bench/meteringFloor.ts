/**
 * The second floor of the gateway benchmark: the gateway's own request path (gateway/http: key
 * lookup, body checks, quote, priority queue, upstream client, stream re-framing and token
 * counting, cost headers, metrics) in its own process, over a ledger that keeps nothing: every key
 * is known, every hold is granted, every charge is accepted, in memory, with no database. Not a
 * gateway (it meters nothing); what the gateway costs before its ledger, measured in the same run
 * as the bare relay below it and the gateway above it.
 * `tsx bench/meteringFloor.ts <upstream url>`; prints `listening <port>`.
 */
import pino from "pino";
import type { Hold, HoldParams, KeyInfo, Ledger } from "../gateway/ledger/ledger.js";
import { MeteredProxy } from "../gateway/http/meteredProxy.js";
import { createGatewayServer, listen } from "../gateway/http/server.js";
import { GatewayMetrics } from "../gateway/metrics.js";
import type { PriceBook } from "../gateway/metering/quote.js";
import { PriorityLimiter } from "../gateway/upstream/priorityLimiter.js";
import { UpstreamClient } from "../gateway/upstream/upstreamClient.js";

const upstream = (process.argv[2] ?? "").replace(/\/+$/, "");
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
/** The ledger's three calls on a request's path, keeping nothing. */
const ledger = {
  findKey: async (): Promise<KeyInfo> => key,
  hold: async (p: HoldParams): Promise<Hold> => {
    const outputTokens = Math.min(p.maxTokens ?? p.modelMaxTokens, p.modelMaxTokens);
    return { requestId: p.requestId, holder: key.holder, amount: p.quote.cost(p.inputTokens, outputTokens), outputTokens };
  },
  settleRequest: async (_id: string, u: { amount: bigint }) => ({ charge: u.amount }),
} as unknown as Ledger;
// The bench's prices (any: the cost is computed, not checked).
const prices: PriceBook = { version: 1n, models: new Map([["bench", { inputPerMTok: 1_000n, outputPerMTok: 2_000n, requestCharge: 1n }]]), fees: [0n, 0n, 1n, 2n] };
const model = { name: "bench", upstream, maxOutputTokens: 16, concurrency: 256, timeoutMs: 120_000, sendPriority: false, continuousUsage: true };
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
  maxBodyBytes: 1 << 20,
  logContent: false,
  // The gateway's check before every hold (a chain read recently enough), as it runs there.
  refusal: () => undefined,
});
const server = createGatewayServer({ proxy, metrics, log, models: () => [], notReady: async () => undefined });
const port = await listen(server, 0, "127.0.0.1");
process.stdout.write(`listening ${port}\n`);
process.on("SIGTERM", () => server.close(() => process.exit(0)));
