/**
 * Redemptions that are no longer in memory, answered from the chain on demand: a redemption's
 * request and lifecycle logs (by its id, an indexed topic), or a holder's requests (the holder is
 * indexed too), folded through the same `reduce` as live events, up to the confirmed block the
 * watcher has read. The API uses it for redemptions the book has dropped (see RedemptionBook) or
 * that came before a checkpoint; the receipt, if any, is on disk as always.
 *
 * The job is not kept for such a redemption; for a single one it is asked of the executor, which
 * may still have it.
 */
import { type Address, type Hex, type PublicClient, pad } from "viem";
import { iterateComputeTokenEvents, REDEMPTION_EVENT_NAMES, type RedemptionEvent, type RedemptionRequestedEvent } from "../../sdk/events.js";
import type { JobState } from "../executor/types.js";
import { reduce, verdictFor } from "../state/reduce.js";
import type { MachineConfig, MachineEvent, RedemptionRecord, RedemptionRequest } from "../state/types.js";

export interface RedemptionArchiveOptions {
  publicClient: Pick<PublicClient, "request">;
  address: Address;
  deployBlock: bigint;
  maxBlockRange: bigint;
  /** The last confirmed block read (nothing above it is shown). */
  confirmedBlock: () => bigint;
  /** The request as the watcher builds it (class from the context). */
  requestOf: (e: RedemptionRequestedEvent) => RedemptionRequest;
  config: MachineConfig;
  /** The executor's job of a redemption, if it still has one. */
  job?: (id: bigint) => Promise<JobState | undefined>;
}

type Lifecycle = Exclude<RedemptionEvent, RedemptionRequestedEvent>;

/** Ids per eth_getLogs call when asking by id. */
const IDS_PER_CALL = 200;

export class RedemptionArchive {
  constructor(private readonly o: RedemptionArchiveOptions) {}

  /** One redemption as the chain tells it, or undefined if there is none (up to the confirmed block). */
  async get(id: bigint): Promise<RedemptionRecord | undefined> {
    const [record] = await this.byIds([id]);
    if (!record) return undefined;
    if (this.o.job) {
      const job = await this.o.job(id).catch(() => undefined);
      if (job) return reduce(record, { type: "jobObserved", state: job, at: 0 }, this.o.config);
    }
    return record;
  }

  /** A holder's redemptions (oldest first), except the ids in `skip` (those the caller has in memory). */
  async ofHolder(holder: Address, skip: (id: bigint) => boolean): Promise<RedemptionRecord[]> {
    const to = this.o.confirmedBlock();
    const requests: RedemptionRequestedEvent[] = [];
    const { publicClient, address, deployBlock, maxBlockRange } = this.o;
    const indexed = [null, pad(holder.toLowerCase() as Hex)];
    for await (const range of iterateComputeTokenEvents({ publicClient, address, names: ["RedemptionRequested"], indexed, fromBlock: deployBlock, toBlock: to, maxBlockRange })) {
      for (const e of range.events) if (!skip(e.args.id)) requests.push(e);
    }
    return this.fold(requests, await this.lifecycleOf(requests.map((e) => e.args.id)));
  }

  private async byIds(ids: bigint[]): Promise<RedemptionRecord[]> {
    const requests: RedemptionRequestedEvent[] = [];
    for (let i = 0; i < ids.length; i += IDS_PER_CALL) {
      for await (const range of this.iterate(["RedemptionRequested"] as const, ids.slice(i, i + IDS_PER_CALL))) requests.push(...range.events);
    }
    return this.fold(requests, await this.lifecycleOf(requests.map((e) => e.args.id)));
  }

  private async lifecycleOf(ids: bigint[]): Promise<Lifecycle[]> {
    const events: Lifecycle[] = [];
    for (let i = 0; i < ids.length; i += IDS_PER_CALL) {
      const names = REDEMPTION_EVENT_NAMES.filter((n) => n !== "RedemptionRequested");
      for await (const range of this.iterate(names, ids.slice(i, i + IDS_PER_CALL))) events.push(...(range.events as Lifecycle[]));
    }
    return events;
  }

  private iterate<const N extends (typeof REDEMPTION_EVENT_NAMES)[number]>(names: readonly N[], ids: bigint[]) {
    const { publicClient, address, deployBlock, maxBlockRange } = this.o;
    return iterateComputeTokenEvents({ publicClient, address, names, ids, fromBlock: deployBlock, toBlock: this.o.confirmedBlock(), maxBlockRange });
  }

  private fold(requests: RedemptionRequestedEvent[], lifecycle: Lifecycle[]): RedemptionRecord[] {
    const byId = new Map<bigint, RedemptionRecord>();
    const { config } = this.o;
    for (const e of requests) {
      const request = this.o.requestOf(e);
      byId.set(request.id, reduce(undefined, { type: "requested", request, at: 0 }, config));
    }
    for (const e of lifecycle) {
      const r = byId.get(e.args.id);
      if (r) byId.set(r.id, reduce(r, lifecycleEvent(e), config));
    }
    const out = [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
    // The redeemer's own words for a rejection it decided on policy grounds: the same check again.
    return out.map((r) => (r.chain === "Rejected" && r.request && !r.verdict ? { ...r, verdict: verdictFor(r.request, config) } : r));
  }
}

/** A confirmed lifecycle log as the state machine takes it. */
export function lifecycleEvent(e: Lifecycle, at = 0): MachineEvent {
  const base = { type: "chainStatus" as const, id: e.args.id, at, source: "log" as const, txHash: e.transactionHash };
  switch (e.eventName) {
    case "RedemptionRunning":
      return { ...base, status: "Running", jobRef: e.args.jobRef };
    case "RedemptionSettled":
      return { ...base, status: "Settled", used: e.args.used, refunded: e.args.refunded, receiptHash: e.args.receiptHash };
    case "RedemptionRejected":
      return { ...base, status: "Rejected", reasonCode: e.args.reasonCode, refunded: e.args.refunded };
    case "RedemptionReclaimed":
      return { ...base, status: "Reclaimed", refunded: e.args.refunded };
  }
}
