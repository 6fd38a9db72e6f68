/**
 * Claims redemptions on-chain in batches: every launch waits for its redemption's claim
 * (markRunning) before its Job is created, and one transaction per claim left the backlog at the
 * pace the chain mines the redeemer's transactions (a block each on anvil). The claims asked for
 * while a batch is being sent wait and go together in the next one — one `markRunningBatch`
 * transaction for up to `maxBatch` of them, `maxInFlight` such transactions at once (nonces in
 * sequence, receipts awaited concurrently) — so the batches grow with the backlog by themselves.
 *
 * Each claim resolves to the `chainStatus` event the state machine should learn: Running (from
 * this transaction's `RedemptionRunning` log) for the ids the transaction claimed; for an id it
 * skipped (reclaimed, rejected or claimed already), the status read from the chain afterwards. A
 * batch whose transaction failed rejects every claim in it, and each is retried on its own
 * schedule; a retry of a claim that did land (a lost receipt) is skipped by the contract and
 * reads back Running, so nothing is claimed or launched twice.
 */
import type { Address, Hex } from "viem";
import { mapLimit } from "../../sdk/limiter.js";
import { claimedIn, jobRefFor } from "../../sdk/redemptions.js";
import type { MachineEvent } from "../state/types.js";
import type { TxSender } from "./txSender.js";

type ChainStatusEvent = Extract<MachineEvent, { type: "chainStatus" }>;

/** The contract's MAX_BATCH: the most ids one markRunningBatch takes. */
export const MAX_CLAIM_BATCH = 256;

export interface ClaimBatcherOptions {
  sender: Pick<TxSender, "send">;
  /** Reads one redemption's status (for the ids a batch skipped). */
  lookup: (id: bigint) => Promise<ChainStatusEvent>;
  contract: Address;
  executorKind: "local" | "kubernetes";
  /** Claims in one transaction (1..MAX_CLAIM_BATCH). */
  maxBatch?: number;
  /** Batch transactions in flight at once. */
  maxInFlight?: number;
  now?: () => number;
  /** Each transaction sent, with the ids it claimed and the milliseconds from its send (the run before it included) to its receipt. */
  onBatch?: (hash: Hex, asked: number, claimed: number, ms: number) => void;
}

interface Waiting {
  id: bigint;
  jobRef: Hex;
  resolve: (event: ChainStatusEvent) => void;
  reject: (err: unknown) => void;
}

/**
 * The gas a batch of `n` claims may use, instead of estimating it (an estimate runs the batch a dozen
 * times or more, most of the node's work for a large one): a claim costs 8,300 gas in a batch of 256
 * (bench:gas), the call's overhead and access check under 60,000; this bound is about 1.8 × that.
 */
export const claimBatchGas = (n: number): bigint => 100_000n + 15_000n * BigInt(n);

/** Reads of skipped ids at once (they are rare: a restart, a reclaim racing the claim). */
const LOOKUP_CONCURRENCY = 16;

export class ClaimBatcher {
  private readonly maxBatch: number;
  private readonly maxInFlight: number;
  private readonly now: () => number;
  private waiting: Waiting[] = [];
  private inFlight = 0;
  private scheduled = false;
  /** A batch went through since the last failure. */
  private proven = false;

  constructor(private readonly opts: ClaimBatcherOptions) {
    this.maxBatch = opts.maxBatch ?? MAX_CLAIM_BATCH;
    this.maxInFlight = opts.maxInFlight ?? 2;
    this.now = opts.now ?? Date.now;
    if (!(this.maxBatch >= 1 && this.maxBatch <= MAX_CLAIM_BATCH)) throw new RangeError(`a claim batch takes 1..${MAX_CLAIM_BATCH} ids, got ${this.maxBatch}`);
    if (!(this.maxInFlight >= 1)) throw new RangeError(`claim batches in flight must be 1 or more, got ${this.maxInFlight}`);
  }

  /** Claims redemption `id` for the job `jobName`; resolves to the status the chain ends up with. */
  claim(id: bigint, jobName: string): Promise<ChainStatusEvent> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ id, jobRef: jobRefFor(this.opts.executorKind, jobName), resolve, reject });
      // Everything asked for in this turn of the event loop goes together.
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          this.flush();
        });
      }
    });
  }

  /** Claims waiting for a transaction. */
  get queued(): number {
    return this.waiting.length;
  }

  private flush(): void {
    while (this.inFlight < this.maxInFlight && this.waiting.length > 0) {
      const batch = this.waiting.splice(0, this.maxBatch);
      this.inFlight += 1;
      void this.send(batch).finally(() => {
        this.inFlight -= 1;
        this.flush();
      });
    }
  }

  private async send(batch: Waiting[]): Promise<void> {
    let sent;
    const sentAt = this.now();
    try {
      // Run once before sending only until a batch has gone through, and again after any failure:
      // a refusal (a revoked role) then costs at most one reverted transaction.
      const call = { functionName: "markRunningBatch", args: [batch.map((w) => w.id), batch.map((w) => w.jobRef)] } as const;
      sent = await this.opts.sender.send(call, { gas: claimBatchGas(batch.length), simulate: !this.proven });
    } catch (err) {
      this.proven = false;
      for (const w of batch) w.reject(err);
      return;
    }
    this.proven = true;
    const claimed = claimedIn(sent.receipt, this.opts.contract);
    const at = this.now();
    this.opts.onBatch?.(sent.hash, batch.length, claimed.size, at - sentAt);
    const skipped: Waiting[] = [];
    for (const w of batch) {
      const jobRef = claimed.get(w.id);
      if (jobRef === undefined) skipped.push(w);
      else w.resolve({ type: "chainStatus", id: w.id, status: "Running", at, source: "tx", txHash: sent.hash, jobRef });
    }
    await mapLimit(skipped, LOOKUP_CONCURRENCY, async (w) => {
      try {
        w.resolve(await this.opts.lookup(w.id));
      } catch (err) {
        w.reject(err);
      }
    });
  }
}
