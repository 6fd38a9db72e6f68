/**
 * Follows the ComputeToken contract at a confirmed depth. It reads only blocks at least
 * `confirmations` below the head, so a burn reorganised away before then is never seen.
 *
 * `sync()` reads the whole history from the deployment block (the work list is rebuilt from the
 * chain on every start: no database, no cursor needed); `start()` then polls the head and reads
 * each newly confirmed range. Every range is handed over as one batch: the redemption requests
 * (with the class and multiplier in force at their log) and the lifecycle events.
 *
 * If the last block it read changes hash (a reorganisation deeper than `confirmations`), it
 * reports it and reads the history again.
 *
 * Reading the history (the first sync, or again after a deep reorganisation) goes in two passes,
 * so that acting on it can start long before the last log is read: first every lifecycle and
 * context event of the whole range (few: they are handed over at once, as one batch without
 * requests), then the redemption requests in growing chunks, each handed over as soon as it is
 * decoded. Every request therefore arrives after everything that happened to it up to the
 * confirmed head — the engine relies on this to launch while the history is still being read.
 */
import type { Address, Hex, PublicClient } from "viem";
import {
  compareChainOrder,
  type ComputeTokenEventOf,
  iterateComputeTokenEvents,
  REDEMPTION_CONTEXT_EVENT_NAMES,
  REDEMPTION_EVENT_NAMES,
  type RedemptionEvent,
} from "../../sdk/events.js";
import type { RedemptionRequest } from "../state/types.js";
import { RedemptionContext } from "./redemptionContext.js";

const WATCHED = [...REDEMPTION_EVENT_NAMES, ...REDEMPTION_CONTEXT_EVENT_NAMES] as const;
type Watched = ComputeTokenEventOf<(typeof WATCHED)[number]>;
/** Everything but the requests: what happened to redemptions, and what they are checked against. */
const NOT_REQUESTS = WATCHED.filter((n): n is Exclude<(typeof WATCHED)[number], "RedemptionRequested"> => n !== "RedemptionRequested");
type Context = ComputeTokenEventOf<(typeof REDEMPTION_CONTEXT_EVENT_NAMES)[number]>;
/** Blocks in the first chunk of requests read from the history; each next chunk doubles, up to maxBlockRange. */
const FIRST_REQUEST_CHUNK = 1n;

export interface WatchBatch {
  fromBlock: bigint;
  toBlock: bigint;
  /** True while reading history at start-up (or after a deep reorganisation). */
  backfill: boolean;
  requests: RedemptionRequest[];
  /** Running / Settled / Rejected / Reclaimed events, in chain order. */
  lifecycle: Exclude<RedemptionEvent, ComputeTokenEventOf<"RedemptionRequested">>[];
}

export interface ChainWatcherOptions {
  publicClient: Pick<PublicClient, "request" | "getBlockNumber" | "getBlock">;
  address: Address;
  deployBlock: bigint;
  confirmations: number;
  pollIntervalMs: number;
  maxBlockRange: bigint;
  onBatch: (batch: WatchBatch) => void | Promise<void>;
  /** A read failed (it is retried) or a deep reorganisation was seen. */
  onWarning?: (message: string, details?: Record<string, unknown>) => void;
  /** The head and the confirmed block after each poll. */
  onHead?: (head: bigint, safe: bigint) => void;
}

export class ChainWatcher {
  private readonly opts: ChainWatcherOptions;
  private context = new RedemptionContext();
  /** Last block read and its hash. */
  private processed: bigint;
  private processedHash: Hex | undefined;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private synced = false;

  constructor(options: ChainWatcherOptions) {
    this.opts = options;
    this.processed = options.deployBlock - 1n;
  }

  /** The last block read. */
  get cursor(): bigint {
    return this.processed;
  }

  get isSynced(): boolean {
    return this.synced;
  }

  /** Reads every confirmed block not read yet; resolves when caught up with the confirmed head. */
  async sync(): Promise<void> {
    const head = await this.opts.publicClient.getBlockNumber({ cacheTime: 0 });
    const safe = head - BigInt(this.opts.confirmations);
    this.opts.onHead?.(head, safe);
    if (this.processed >= this.opts.deployBlock && (await this.reorganised())) {
      this.opts.onWarning?.("the last block read was reorganised away (deeper than `confirmations`): reading the history again", {
        block: this.processed.toString(),
      });
      this.context = new RedemptionContext();
      this.processed = this.opts.deployBlock - 1n;
      this.synced = false;
    }
    if (safe <= this.processed) {
      this.synced = true;
      return;
    }
    const backfill = !this.synced;
    if (backfill) await this.readHistory(this.processed + 1n, safe);
    else for await (const range of iterateComputeTokenEvents({
      publicClient: this.opts.publicClient,
      address: this.opts.address,
      names: WATCHED,
      fromBlock: this.processed + 1n,
      toBlock: safe,
      maxBlockRange: this.opts.maxBlockRange,
      signal: this.abort.signal,
    })) {
      await this.opts.onBatch(this.batchOf(range.fromBlock, range.toBlock, range.events, backfill));
      this.processed = range.toBlock;
    }
    this.processedHash = (await this.opts.publicClient.getBlock({ blockNumber: this.processed })).hash ?? undefined;
    this.synced = true;
  }

  /**
   * The history from `from` to `to`, in two passes (see the top of this file). `processed`
   * moves only as requests are handed over; the context is applied in chain order as they are,
   * so a read that fails half-way resumes with the context as of the last block handed over.
   */
  private async readHistory(from: bigint, to: bigint): Promise<void> {
    const { publicClient, address, maxBlockRange } = this.opts;
    const signal = this.abort.signal;
    const lifecycle: WatchBatch["lifecycle"] = [];
    const context: Context[] = [];
    for await (const range of iterateComputeTokenEvents({ publicClient, address, names: NOT_REQUESTS, fromBlock: from, toBlock: to, maxBlockRange, signal })) {
      for (const e of range.events) {
        if (e.eventName === "RedemptionRunning" || e.eventName === "RedemptionSettled" || e.eventName === "RedemptionRejected" || e.eventName === "RedemptionReclaimed") {
          lifecycle.push(e);
        } else context.push(e);
      }
    }
    await this.opts.onBatch({ fromBlock: from, toBlock: to, backfill: true, requests: [], lifecycle });

    let next = 0; // the next context event to apply
    let span = FIRST_REQUEST_CHUNK < maxBlockRange ? FIRST_REQUEST_CHUNK : maxBlockRange;
    for (let start = from; start <= to; ) {
      const end = start + span - 1n < to ? start + span - 1n : to;
      for await (const range of iterateComputeTokenEvents({
        publicClient,
        address,
        names: ["RedemptionRequested"] as const,
        fromBlock: start,
        toBlock: end,
        maxBlockRange: span,
        signal,
      })) {
        const requests: RedemptionRequest[] = [];
        for (const e of range.events) {
          while (next < context.length && compareChainOrder(context[next]!, e) < 0) this.context.apply(context[next++]!);
          requests.push(this.context.requestOf(e));
        }
        while (next < context.length && context[next]!.blockNumber <= range.toBlock) this.context.apply(context[next++]!);
        await this.opts.onBatch({ fromBlock: range.fromBlock, toBlock: range.toBlock, backfill: true, requests, lifecycle: [] });
        this.processed = range.toBlock;
      }
      start = end + 1n;
      span = span * 2n < maxBlockRange ? span * 2n : maxBlockRange;
    }
  }

  /** Polls until stop(); a failed poll is retried at the next interval. */
  start(): void {
    if (this.loop) return;
    this.loop = (async () => {
      let failures = 0;
      while (!this.abort.signal.aborted) {
        try {
          await this.sync();
          failures = 0;
        } catch (err) {
          if (this.abort.signal.aborted) break;
          failures++;
          this.opts.onWarning?.("reading the chain failed; retrying", { error: (err as Error).message, failures });
        }
        const wait = failures === 0 ? this.opts.pollIntervalMs : Math.min(this.opts.pollIntervalMs * 2 ** Math.min(failures, 6), 10_000);
        await sleep(wait, this.abort.signal);
      }
    })();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop?.catch(() => {});
  }

  private async reorganised(): Promise<boolean> {
    if (this.processedHash === undefined) return false;
    const block = await this.opts.publicClient.getBlock({ blockNumber: this.processed });
    return block.hash !== this.processedHash;
  }

  private batchOf(fromBlock: bigint, toBlock: bigint, events: Watched[], backfill: boolean): WatchBatch {
    const batch: WatchBatch = { fromBlock, toBlock, backfill, requests: [], lifecycle: [] };
    for (const e of events) {
      switch (e.eventName) {
        case "RedemptionRequested":
          batch.requests.push(this.context.requestOf(e));
          break;
        case "RedemptionRunning":
        case "RedemptionSettled":
        case "RedemptionRejected":
        case "RedemptionReclaimed":
          batch.lifecycle.push(e);
          break;
        default:
          this.context.apply(e);
      }
    }
    return batch;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      resolve();
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
