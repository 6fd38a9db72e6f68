/**
 * The engine runs the state machine: it feeds every event into the book, takes the actions the
 * book decides, carries each out (executor or settler) with bounded concurrency, and feeds the
 * result back as an event. It holds no state of its own that matters after a crash.
 */
import type { Logger } from "pino";
import { Limiter } from "../../sdk/limiter.js";
import { type Executor, jobNameFor } from "../executor/types.js";
import type { RedeemerMetrics } from "./metrics.js";
import type { Settler } from "../settler/settler.js";
import type { RedemptionBook } from "../state/redemptionBook.js";
import type { Action, ActionType, MachineEvent, RedemptionRecord } from "../state/types.js";
import { isFinishedPhase, verdictFor } from "../state/reduce.js";
import { usedUnits } from "../state/usage.js";
import { classifyLaunchError } from "./classifyLaunchError.js";

const RANK: Record<string, number> = { None: 0, Requested: 1, Running: 2, Settled: 3, Rejected: 3, Reclaimed: 3 };

export interface EngineOptions {
  book: RedemptionBook;
  executor: Executor;
  settler: Settler;
  log: Logger;
  metrics?: RedeemerMetrics;
  /** Launches (executor calls) at once. */
  launchConcurrency: number;
  /** Chain actions (status reads + transactions) at once. */
  txConcurrency: number;
  now?: () => number;
}

/** While the history is read: only records whose request has been read are decided about. */
const requestRead = (r: RedemptionRecord): boolean => r.request !== undefined;

const errorMessage = (err: unknown): string => {
  const e = err as { shortMessage?: unknown; message?: unknown };
  return typeof e?.shortMessage === "string" ? e.shortMessage : typeof e?.message === "string" ? e.message : String(err);
};

export class RedemptionEngine {
  private readonly o: EngineOptions;
  private readonly now: () => number;
  private readonly launches: Limiter;
  private readonly chainOps: Limiter;
  private paused = true;
  private stopped = false;
  private pumpScheduled = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly inflight = new Set<Promise<void>>();
  private idleWaiters: (() => void)[] = [];

  constructor(options: EngineOptions) {
    this.o = options;
    this.now = options.now ?? Date.now;
    this.launches = new Limiter(options.launchConcurrency);
    this.chainOps = new Limiter(options.txConcurrency);
  }

  /** Learn something; decisions follow (unless paused). */
  dispatch(event: MachineEvent): RedemptionRecord {
    const before = event.type === "chainStatus" ? this.o.book.get(event.id) : undefined;
    const after = this.o.book.apply(event);
    if (event.type === "chainStatus") this.observeStatus(before, after, event);
    this.schedule();
    return after;
  }

  /**
   * Decide about everything (after the start-up rebuild has fed the history in). Until then only
   * redemptions whose request has been read are decided about: the watcher hands the history
   * over lifecycle first (every Running / Settled / Rejected / Reclaimed up to the confirmed
   * head before any request), and the executor's jobs were listed before that, so such a record
   * already knows all it will know — launching it need not wait for the rest of the history.
   * A job known only from the executor waits (its request may be further on).
   */
  resume(): void {
    this.paused = false;
    this.o.book.touchAll();
    this.schedule();
  }

  /** Resolves once nothing is in flight and nothing is due now (tests, benchmarks). */
  idle(): Promise<void> {
    if (this.inflight.size === 0 && !this.pumpScheduled) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  get inflightCount(): number {
    return this.inflight.size;
  }

  /** Stops taking actions and waits for those in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    await Promise.allSettled([...this.inflight]);
  }

  private schedule(): void {
    if (this.stopped || this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => this.pump());
  }

  private pump(): void {
    this.pumpScheduled = false;
    if (this.stopped) return;
    const now = this.now();
    for (const action of this.o.book.takeActions(now, this.paused ? requestRead : undefined)) this.start(action, now);
    clearTimeout(this.retryTimer);
    const next = this.o.book.nextRetryAt();
    if (next !== undefined) {
      this.retryTimer = setTimeout(() => this.schedule(), Math.max(0, next - this.now()) + 5);
      this.retryTimer.unref();
    }
    this.checkIdle();
  }

  private checkIdle(): void {
    if (this.inflight.size === 0 && !this.pumpScheduled) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private start(action: Action, at: number): void {
    this.o.book.apply({ type: "actionStarted", id: action.id, action: action.type, at });
    const run = this.execute(action)
      .then((events) => {
        if (this.stopped) return;
        for (const e of events) this.dispatch(e);
      })
      .catch((err: unknown) => {
        this.o.log.error({ err, redemptionId: action.id.toString(), action: action.type }, "action crashed");
      })
      .finally(() => {
        this.inflight.delete(run);
        this.checkIdle();
      });
    this.inflight.add(run);
  }

  private async execute(action: Action): Promise<MachineEvent[]> {
    const { id } = action;
    // The action's bindings, merged only when a line is written (a child logger per action costs
    // more than the action's own bookkeeping when thousands are launched at once).
    const log = {
      info: (obj: Record<string, unknown> | string, msg?: string) => {
        if (!this.o.log.isLevelEnabled("info")) return;
        const bindings = { redemptionId: id.toString(), action: action.type };
        if (typeof obj === "string") this.o.log.info(bindings, obj);
        else this.o.log.info({ ...bindings, ...obj }, msg);
      },
      warn: (obj: Record<string, unknown>, msg: string) => {
        if (this.o.log.isLevelEnabled("warn")) this.o.log.warn({ redemptionId: id.toString(), action: action.type, ...obj }, msg);
      },
    };
    const failed = (operation: ActionType, err: unknown, chain: boolean): MachineEvent[] => {
      const message = errorMessage(err);
      (chain ? this.o.metrics?.chainErrors : this.o.metrics?.executorErrors)?.inc({ operation });
      log.warn({ err: message }, `${operation} failed; will retry`);
      return [{ type: "actionFailed", id, action: operation, error: message, at: this.now() }];
    };
    // Queued behind the concurrency limits when stop() came: give up (nothing was done yet).
    const gated = (sem: Limiter, fn: () => Promise<MachineEvent[]>): Promise<MachineEvent[]> => sem.run(() => (this.stopped ? Promise.resolve([]) : fn()));
    switch (action.type) {
      case "launch": {
        // No free jobs: the redemption is claimed on-chain (markRunning) before its job exists, so a
        // holder cannot reclaim it while it runs, and one reclaimed or rejected meanwhile is never
        // launched. The job's name derives from the id, so a relaunch (after a crash or a failed
        // create) finds the job a first attempt created. The claim is asked for before a launch slot
        // is taken: every claim waiting at once goes in one transaction (the settler's ClaimBatcher).
        if (this.stopped) return [];
        let claim: Extract<MachineEvent, { type: "chainStatus" }>;
        try {
          claim = await this.o.settler.markRunning(id, jobNameFor(id));
        } catch (err) {
          return failed("markRunning", err, true);
        }
        if (claim.status !== "Running") {
          log.info({ status: claim.status }, "not launched: the redemption is no longer waiting");
          return [claim];
        }
        return gated(this.launches, async () => {
          try {
            const result = await this.o.executor.launch(action.request);
            log.info({ job: result.name, alreadyExisted: result.alreadyExisted }, "job launched");
            const seen = this.o.book.get(id)?.times.seen;
            if (seen !== undefined && !result.alreadyExisted) this.o.metrics?.launchLatency.observe(Math.max(0, this.now() - seen) / 1000);
            return [claim, { type: "launched", id, result, at: this.now() }];
          } catch (err) {
            const permanent = classifyLaunchError(err);
            this.o.metrics?.executorErrors.inc({ operation: "launch" });
            log.warn({ err: errorMessage(err), permanent: permanent?.reason }, "launch failed");
            const failedLaunch: MachineEvent = { type: "launchFailed", id, error: errorMessage(err), at: this.now(), ...(permanent && { permanent }) };
            if (!permanent) return [claim, failedLaunch];
            // Refused for good after the claim: reject now with the executor's reason (full refund).
            try {
              return [claim, failedLaunch, await this.chainOps.run(() => this.o.settler.reject(id, permanent))];
            } catch (rejectErr) {
              return [claim, failedLaunch, ...failed("reject", rejectErr, true)];
            }
          }
        });
      }
      case "probe":
        return gated(this.launches, async () => {
          let state;
          try {
            state = await this.o.executor.get(id);
          } catch (err) {
            return failed("probe", err, false);
          }
          if (state) return [{ type: "jobObserved", state, at: this.now() }];
          // Claimed on-chain but its job never created (the launch failed or the redeemer stopped
          // between the claim and the create): create it now — the name from the id keeps it single.
          const record = this.o.book.get(id);
          // (The book computes verdicts only for requests still waiting: one read back as Running has none yet.)
          const verdict = record?.verdict ?? (record?.request ? verdictFor(record.request, this.o.book.config) : undefined);
          if (record?.chain === "Running" && verdict?.ok) {
            try {
              const result = await this.o.executor.launch(verdict.launch);
              log.info({ job: result.name, alreadyExisted: result.alreadyExisted }, "job launched after its claim");
              return [{ type: "launched", id, result, at: this.now() }];
            } catch (err) {
              const permanent = classifyLaunchError(err);
              this.o.metrics?.executorErrors.inc({ operation: "launch" });
              if (!permanent) return failed("probe", err, false);
              log.warn({ err: errorMessage(err), permanent: permanent.reason }, "launch refused");
              try {
                return [await this.chainOps.run(() => this.o.settler.reject(id, permanent))];
              } catch (rejectErr) {
                return failed("reject", rejectErr, true);
              }
            }
          }
          return [{ type: "jobMissing", id, at: this.now() }];
        });
      case "remove":
        return gated(this.launches, async () => {
          try {
            await this.o.executor.remove(id);
            log.info("job removed: its redemption is over");
            return [{ type: "removed", id, at: this.now() }];
          } catch (err) {
            return failed("remove", err, false);
          }
        });
      case "lookup":
        return this.chainOp(action.type, () => this.o.settler.lookup(id), failed);
      case "markRunning":
        return this.chainOp(action.type, () => this.o.settler.markRunning(id, action.jobName), failed);
      case "settle":
        return this.chainOp(action.type, async () => this.o.settler.settle(await this.freshUsage(action)), failed);
      case "reject":
        log.info({ reason: action.rejection.reason, code: action.rejection.code, detail: action.rejection.detail }, "rejecting");
        return this.chainOp(action.type, () => this.o.settler.reject(id, action.rejection), failed);
    }
  }

  /**
   * The usage to settle, from a fresh read of the job rather than the last watch event: a watch
   * can deliver "finished" before the last run segment's pod. The receipt is written from this.
   */
  private async freshUsage(action: Extract<Action, { type: "settle" }>): Promise<Extract<Action, { type: "settle" }>> {
    let job;
    try {
      job = await this.o.executor.get(action.id);
    } catch (err) {
      this.o.metrics?.executorErrors.inc({ operation: "get" });
      throw err;
    }
    if (!job || !isFinishedPhase(job.phase)) return action;
    return { ...action, job, used: usedUnits(job.gpuSeconds, action.request.multiplierBps, action.request.reserved) };
  }

  private chainOp(
    operation: ActionType,
    fn: () => Promise<Extract<MachineEvent, { type: "chainStatus" }>>,
    failed: (operation: ActionType, err: unknown, chain: boolean) => MachineEvent[],
  ): Promise<MachineEvent[]> {
    // Launches go first: with a backlog (a start-up over many redemptions), every Job is created
    // before the chain is asked to record it. Nothing depends on the order; it only saves time.
    return this.launches.drained().then(() =>
      this.chainOps.run(async (): Promise<MachineEvent[]> => {
        if (this.stopped) return [];
        try {
          const event = await fn();
          // Counted where it is mined, not when the book changes: the watcher may bring its log first.
          if (event.source === "tx") this.o.metrics?.transactions.inc({ call: event.status === "Running" ? "markRunning" : event.status === "Settled" ? "settle" : "reject" });
          const record = this.o.book.get(event.id);
          // The chain says less than we believed (a lagging node): back off instead of spinning.
          if (record && event.status !== "None" && RANK[event.status]! < RANK[record.chain]!) {
            return [event, { type: "actionFailed", id: event.id, action: operation, error: `chain reports ${event.status}, expected ${record.chain}`, at: this.now() }];
          }
          return [event];
        } catch (err) {
          return failed(operation, err, true);
        }
      }),
    );
  }

  private observeStatus(before: RedemptionRecord | undefined, after: RedemptionRecord, event: Extract<MachineEvent, { type: "chainStatus" }>): void {
    if (before?.chain === after.chain) return;
    if (after.chain === "Settled" && after.times.finished !== undefined) {
      this.o.metrics?.settleLatency.observe(Math.max(0, event.at - after.times.finished) / 1000);
    }
    // While the history is rebuilt (paused), what the logs say happened is not news: the
    // "redeemer ready" line sums it up, instead of a line per past redemption on every restart.
    if (this.paused && event.source === "log") return;
    if ((after.chain === "Settled" || after.chain === "Rejected" || after.chain === "Reclaimed" || after.chain === "Running") && this.o.log.isLevelEnabled("info")) {
      this.o.log.info(
        {
          redemptionId: after.id.toString(),
          status: after.chain,
          source: event.source,
          ...(event.txHash && { tx: event.txHash }),
          ...(event.used !== undefined && { used: event.used.toString() }),
          ...(event.refunded !== undefined && { refunded: event.refunded.toString() }),
          ...(after.rejection && { reason: after.rejection.reason ?? after.rejection.code }),
        },
        `redemption ${after.chain.toLowerCase()}`,
      );
    }
  }
}
