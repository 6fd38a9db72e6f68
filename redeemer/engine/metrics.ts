/**
 * The redeemer's Prometheus metrics (prom-client), on a registry of its own so that several
 * redeemers can live in one process (tests).
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { RedemptionBook } from "../state/redemptionBook.js";

export class RedeemerMetrics {
  readonly registry = new Registry();
  readonly launchLatency: Histogram;
  readonly settleLatency: Histogram;
  readonly claimBatchSeconds: Histogram;
  readonly executorErrors: Counter<"operation">;
  readonly chainErrors: Counter<"operation">;
  readonly transactions: Counter<"call">;
  readonly headBlock: Gauge;
  readonly confirmedBlock: Gauge;

  constructor(book: () => RedemptionBook | undefined, options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    new Gauge({
      name: "ctk_redeemer_redemptions",
      help: "Redemptions known to the redeemer, by state",
      labelNames: ["state"],
      registers,
      collect() {
        const b = book();
        if (!b) return;
        for (const [state, n] of Object.entries(b.countByPhase())) this.set({ state }, n);
      },
    });
    this.launchLatency = new Histogram({
      name: "ctk_redeemer_launch_latency_seconds",
      help: "From the confirmed burn being read to the job being created",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.settleLatency = new Histogram({
      name: "ctk_redeemer_settle_latency_seconds",
      help: "From the job being seen finished to the settle transaction being mined",
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    });
    this.claimBatchSeconds = new Histogram({
      name: "ctk_redeemer_claim_batch_seconds",
      help: "From sending a markRunningBatch transaction (a claim of up to 256 redemptions) to its receipt",
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.executorErrors = new Counter({ name: "ctk_redeemer_executor_errors_total", help: "Executor calls that failed", labelNames: ["operation"], registers });
    this.chainErrors = new Counter({ name: "ctk_redeemer_chain_errors_total", help: "Chain reads and transactions that failed", labelNames: ["operation"], registers });
    this.transactions = new Counter({
      name: "ctk_redeemer_transactions_total",
      help: "Redemption calls mined, by call (each claim in a markRunningBatch counts as one markRunning)",
      labelNames: ["call"],
      registers,
    });
    this.headBlock = new Gauge({ name: "ctk_redeemer_head_block", help: "Latest block seen", registers });
    this.confirmedBlock = new Gauge({ name: "ctk_redeemer_confirmed_block", help: "Latest block at the confirmation depth", registers });
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: "ctk_redeemer_" });
  }
}
