/**
 * Follows the ComputeToken contract at a confirmed depth. It reads only blocks at least
 * `confirmations` below the head, so a burn reorganised away before then is never seen.
 *
 * `sync()` reads the whole history from the deployment block (the work list is rebuilt from the
 * chain on every start: no database needed), or only what came after a checkpoint's block when
 * one was restored (`restore()`, see checkpoint.ts); `start()` then polls the head and reads each
 * newly confirmed range. Every range is handed over as one batch: the redemption requests
 * (with the class and multiplier in force at their log) and the lifecycle events.
 *
 * If the last block it read changes hash (a reorganisation deeper than `confirmations`), it
 * reports it and reads the history again.
 *
 * Reading the history (the first sync, or again after a deep reorganisation) goes in two passes,
 * so that acting on it can start long before the last log is read: first every lifecycle and
 * context event of the whole range (handed over range by range, as batches without requests),
 * then the redemption requests in growing chunks, each handed over as soon as it is decoded.
 * Every request therefore arrives after everything that happened to it up to the confirmed
 * head — the engine relies on this to launch while the history is still being read. The
 * requests of a restored checkpoint (the redemptions open at its block) are handed over between
 * the two passes, for the same reason. The ranges are planned by the SDK's one RangePlan
 * (sdk/logs/fetchLogRanges.ts): they shrink where the logs are dense, so that no one answer holds
 * more than a few thousand logs, however long the history.
 */
import { backoffMs, sleep } from "../../sdk/retry.js";
import type { Address, Hex, PublicClient } from "viem";
import {
  type ComputeTokenEventOf,
  iterateComputeTokenEvents,
  REDEMPTION_CONTEXT_EVENT_NAMES,
  REDEMPTION_EVENT_NAMES,
  type RedemptionEvent,
  type RedemptionRequestedEvent,
} from "../../sdk/events.js";
import { compareChainOrder } from "../../sdk/logs/decodeLogs.js";
import type { RedemptionRequest } from "../state/types.js";
import { type ContextSnapshot, RedemptionContext } from "./redemptionContext.js";
import { type StreamedRange, streamEventRanges } from "../../sdk/logs/streamLogs.js";

const WATCHED = [...REDEMPTION_EVENT_NAMES, ...REDEMPTION_CONTEXT_EVENT_NAMES] as const;
type Watched = ComputeTokenEventOf<(typeof WATCHED)[number]>;
/** Everything but the requests: what happened to redemptions, and what they are checked against. */
const NOT_REQUESTS = WATCHED.filter((n): n is Exclude<(typeof WATCHED)[number], "RedemptionRequested"> => n !== "RedemptionRequested");
type Context = ComputeTokenEventOf<(typeof REDEMPTION_CONTEXT_EVENT_NAMES)[number]>;
/** Blocks in the first range read from the history (each next one sized from the last, at most twice it, up to maxBlockRange). */
const FIRST_CHUNK = 1n;
/** About this many logs per eth_getLogs answer at the density of the range before, while reading history (requests carry their spec): small answers keep the garbage of a long read young (measured: 2,000 and 10,000 made the peak RSS of a 100,000-redemption read 909 MiB, these 524 MiB, in the same time). */
const TARGET_REQUEST_LOGS = 500;
const TARGET_LIFECYCLE_LOGS = 2_000;

/** A block read in full, with the context as of its end: where a checkpoint can resume. */
export interface WatchPosition {
  block: bigint;
  hash: Hex;
  context: ContextSnapshot;
}

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
  /**
   * The node's HTTP JSON-RPC endpoint: when given, the history is read through it as a stream
   * (streamLogs.ts: each answer parsed log by log and handed over in groups, never held whole);
   * otherwise through `publicClient`, an answer at a time.
   */
  rpcUrl?: string;
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
  /** After each sync that read everything up to the confirmed head (`position` is then current). */
  onSynced?: (position: WatchPosition) => void;
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
  /** The requests of a restored checkpoint, handed over with the first history read. */
  private restored: RedemptionRequest[] = [];
  private lastPosition: WatchPosition | undefined;

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

  /** A request read now (the API's on-demand reads), with the context as of the last block read. */
  requestOf(e: RedemptionRequestedEvent): RedemptionRequest {
    return this.context.requestOf(e);
  }

  /** The last block read in full by a completed sync, with its hash and context. */
  get position(): WatchPosition | undefined {
    return this.lastPosition;
  }

  /**
   * Resume after a checkpoint's block instead of the deployment block. `requests` are the
   * redemptions that were open at that block; they are handed over after the lifecycle events
   * that follow it, like any request of the history. Call before the first sync.
   */
  restore(checkpoint: WatchPosition & { requests: RedemptionRequest[] }): void {
    if (this.synced || this.processed >= this.opts.deployBlock) throw new Error("restore() must come before the first sync");
    this.processed = checkpoint.block;
    this.processedHash = checkpoint.hash;
    this.context = RedemptionContext.from(checkpoint.context);
    this.restored = checkpoint.requests;
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
      this.processedHash = undefined;
      this.restored = [];
      this.synced = false;
    }
    if (safe <= this.processed) {
      await this.handOverRestored(this.processed);
      this.synced = true;
      this.positionReached();
      return;
    }
    const backfill = !this.synced;
    if (backfill) await this.readHistory(this.processed + 1n, safe);
    else
      for await (const range of iterateComputeTokenEvents({
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
    this.positionReached();
  }

  private positionReached(): void {
    if (this.processedHash === undefined || this.processed < this.opts.deployBlock) return;
    this.lastPosition = { block: this.processed, hash: this.processedHash, context: this.context.snapshot() };
    this.opts.onSynced?.(this.lastPosition);
  }

  private async handOverRestored(block: bigint): Promise<void> {
    if (this.restored.length === 0) return;
    const requests = this.restored;
    this.restored = [];
    await this.opts.onBatch({ fromBlock: block, toBlock: block, backfill: true, requests, lifecycle: [] });
  }

  /**
   * The events of `names` from `from` to `to`, in ranges planned by the SDK's RangePlan: from
   * FIRST_CHUNK blocks, growing or shrinking so that each holds about `targetLogs` logs. With
   * `rpcUrl`, each range's answer is streamed and handed over in groups (`done` on the range's
   * last one); otherwise a range is handed over whole.
   */
  private async *historyRanges<const N extends (typeof WATCHED)[number]>(names: readonly N[], from: bigint, to: bigint, targetLogs: number): AsyncGenerator<StreamedRange<N>> {
    const { publicClient, address, maxBlockRange, rpcUrl } = this.opts;
    const read = { address, names, fromBlock: from, toBlock: to, targetLogs, signal: this.abort.signal };
    if (rpcUrl) yield* streamEventRanges({ rpcUrl, ...read, chunkBlocks: maxBlockRange, firstChunkBlocks: FIRST_CHUNK });
    else for await (const range of iterateComputeTokenEvents({ publicClient, ...read, maxBlockRange, firstBlockRange: FIRST_CHUNK })) yield { ...range, done: true };
  }

  /**
   * The history from `from` to `to`, in two passes (see the top of this file). `processed`
   * moves only as requests are handed over; the context is applied in chain order as they are,
   * so a read that fails half-way resumes with the context as of the last block handed over.
   */
  private async readHistory(from: bigint, to: bigint): Promise<void> {
    const context: Context[] = [];
    for await (const range of this.historyRanges(NOT_REQUESTS, from, to, TARGET_LIFECYCLE_LOGS)) {
      const lifecycle: WatchBatch["lifecycle"] = [];
      for (const e of range.events) {
        if (e.eventName === "RedemptionRunning" || e.eventName === "RedemptionSettled" || e.eventName === "RedemptionRejected" || e.eventName === "RedemptionReclaimed") {
          lifecycle.push(e);
        } else context.push(e);
      }
      if (lifecycle.length) await this.opts.onBatch({ fromBlock: range.fromBlock, toBlock: range.toBlock, backfill: true, requests: [], lifecycle });
    }
    await this.handOverRestored(from - 1n);

    let next = 0; // the next context event to apply
    for await (const range of this.historyRanges(["RedemptionRequested"] as const, from, to, TARGET_REQUEST_LOGS)) {
      const requests: RedemptionRequest[] = [];
      for (const e of range.events) {
        while (next < context.length && compareChainOrder(context[next]!, e) < 0) this.context.apply(context[next++]!);
        requests.push(this.context.requestOf(e));
      }
      if (range.done) while (next < context.length && context[next]!.blockNumber <= range.toBlock) this.context.apply(context[next++]!);
      if (requests.length) await this.opts.onBatch({ fromBlock: range.fromBlock, toBlock: range.toBlock, backfill: true, requests, lifecycle: [] });
      // A range handed over in part is read again from its start if the read fails (handing over is idempotent).
      if (range.done) this.processed = range.toBlock;
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
        // After a failure: the interval doubled per failure, at most 64 times it and 10 s.
        const { pollIntervalMs } = this.opts;
        const wait = failures === 0 ? pollIntervalMs : backoffMs(failures + 1, { baseMs: pollIntervalMs, maxMs: Math.min(pollIntervalMs * 64, 10_000) });
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
