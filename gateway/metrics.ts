/** The gateway's Prometheus metrics (prom-client), one registry per gateway. */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { LeaseStats } from "./ledger/leases.js";

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: "ctk_gateway_requests_total",
    help: "Requests by HTTP status, model and tier",
    labelNames: ["status", "model", "tier"],
    registers: [this.registry],
  });
  readonly tokens = new Counter({
    name: "ctk_gateway_tokens_total",
    help: "Tokens charged, by model and direction (input|output)",
    labelNames: ["model", "direction"],
    registers: [this.registry],
  });
  readonly credits = new Counter({
    name: "ctk_gateway_credits_charged_total",
    help: "Credits charged (base units / 1e6), by model",
    labelNames: ["model"],
    registers: [this.registry],
  });
  readonly holdSeconds = new Histogram({
    name: "ctk_gateway_hold_seconds",
    help: "Time to place a hold (ledger transaction)",
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
    registers: [this.registry],
  });
  readonly queueSeconds = new Histogram({
    name: "ctk_gateway_queue_seconds",
    help: "Time waiting for an upstream slot, by model and tier",
    labelNames: ["model", "tier"],
    buckets: [0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
    registers: [this.registry],
  });
  readonly upstreamSeconds = new Histogram({
    name: "ctk_gateway_upstream_seconds",
    help: "Upstream time, by model",
    labelNames: ["model"],
    buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({ name: "ctk_gateway_queue_depth", help: "Requests waiting for an upstream slot, by model", labelNames: ["model"], registers: [this.registry] });
  readonly batches = new Counter({ name: "ctk_gateway_settlement_batches_total", help: "Settlement batches landed on-chain", registers: [this.registry] });
  /** Seconds since the chain head was last read and applied (the gateway sets how). */
  chainReadAge: () => number = () => 0;
  readonly chainAge = new Gauge({
    name: "ctk_gateway_chain_read_age_seconds",
    help: "Seconds since the gateway last read the chain head and applied every block up to it (revocations, offboardings)",
    registers: [this.registry],
    collect: () => {
      this.chainAge.set(this.chainReadAge());
    },
  });

  /** Charges waiting for a settlement batch: how many, and when the oldest was made (the gateway sets how; undefined: not known). */
  unbatchedCharges: () => Promise<{ count: number; oldest: number | undefined } | undefined> = async () => undefined;
  /** One read of the charges waiting per scrape, for both gauges (a registry collects its metrics at once). */
  private unbatchedRead: Promise<{ count: number; oldest: number | undefined } | undefined> | undefined;
  private readUnbatched() {
    // A ledger that does not answer leaves the last values (the scrape still answers).
    this.unbatchedRead ??= this.unbatchedCharges()
      .catch(() => undefined)
      .finally(() => {
        this.unbatchedRead = undefined;
      });
    return this.unbatchedRead;
  }
  readonly unbatched = new Gauge({
    name: "ctk_gateway_unbatched_charges",
    help: "Charges recorded and not yet in a settlement batch (normally at most a batch's worth; growing: batches are not being sent)",
    registers: [this.registry],
    collect: async () => {
      const u = await this.readUnbatched();
      if (u) this.unbatched.set(u.count);
    },
  });
  readonly unbatchedAge = new Gauge({
    name: "ctk_gateway_unbatched_oldest_seconds",
    help: "Seconds the oldest charge not yet in a settlement batch has waited (0: none waits). Above the settlement interval for long: batches are held back (the log says by what)",
    registers: [this.registry],
    collect: async () => {
      const u = await this.readUnbatched();
      if (u) this.unbatchedAge.set(u.oldest === undefined ? 0 : Math.max(0, (Date.now() - u.oldest) / 1000));
    },
  });

  /** The ledger's leases (PostgreSQL; the gateway sets how): what they did since the start. */
  leaseStats: () => LeaseStats | undefined = () => undefined;
  readonly leases = new Gauge({
    name: "ctk_gateway_leases",
    help: "Credit leases of this replica (PostgreSQL): taken (recalled: of them, taken at the size of the authorization's lease returned idle within a minute), topped up, refused (too little left: the exact path), returned and requests held under them since the start; open now",
    labelNames: ["what"],
    registers: [this.registry],
    collect: () => {
      const s = this.leaseStats();
      if (s) for (const [what, n] of Object.entries(s)) this.leases.labels(what).set(n);
    },
  });

  private readonly bound = new Map<string, ModelMetrics>();

  /**
   * The per-request metrics of one model and tier, bound to their labels once: prom-client hashes
   * a label object on every call otherwise, several times per request.
   */
  forModel(model: string, tier: string): ModelMetrics {
    const key = `${model}\u0000${tier}`;
    let m = this.bound.get(key);
    if (!m) {
      m = {
        tokensIn: this.tokens.labels(model, "input"),
        tokensOut: this.tokens.labels(model, "output"),
        credits: this.credits.labels(model),
        queueDepth: this.queueDepth.labels(model),
        queueSeconds: this.queueSeconds.labels(model, tier),
        upstreamSeconds: this.upstreamSeconds.labels(model),
        ok: this.requests.labels("200", model, tier),
      };
      this.bound.set(key, m);
    }
    return m;
  }
}

export interface ModelMetrics {
  tokensIn: { inc(v: number): void };
  tokensOut: { inc(v: number): void };
  credits: { inc(v: number): void };
  queueDepth: { set(v: number): void };
  queueSeconds: { observe(v: number): void };
  upstreamSeconds: { observe(v: number): void };
  /** requests{status="200"}: the common case. */
  ok: { inc(): void };
}
