/** The gateway's Prometheus metrics (prom-client), one registry per gateway. */
import { Counter, Gauge, Histogram, Registry } from "prom-client";

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
}
