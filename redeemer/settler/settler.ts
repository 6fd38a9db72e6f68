/**
 * The settler carries out the state machine's on-chain actions — markRunning, settle, reject —
 * idempotently: it reads the redemption's on-chain status before a settle or reject and sends
 * only if the call is still due (claims go in batches the contract skips moved ids in). If someone moved the redemption first (a previous run of the
 * redeemer, the holder's reclaim), it reports the status it found instead. It never settles
 * more than the chain says was reserved.
 *
 * Each method resolves to the `chainStatus` event the state machine should learn; a failure
 * worth retrying (RPC, a reverted or lost transaction) rejects, and the engine backs off.
 */
import type { Address } from "viem";
import { getRedemption, type Redemption, type RedemptionReadContext, RedemptionStatusConflict, SettleExceedsReserveError, UnknownRedemptionError } from "../../sdk/redemptions.js";
import type { Action, MachineEvent, Rejection } from "../state/types.js";
import { ClaimBatcher, type ClaimBatcherOptions } from "./claimBatcher.js";
import { buildReceipt } from "./receipt.js";
import type { ReceiptStore } from "./receiptStore.js";
import type { SentTx, TxSender } from "./txSender.js";

type ChainStatusEvent = Extract<MachineEvent, { type: "chainStatus" }>;

export interface SettlerOptions {
  chain: RedemptionReadContext;
  sender: Pick<TxSender, "send">;
  receipts: ReceiptStore;
  chainId: number;
  contract: Address;
  executorKind: "local" | "kubernetes";
  now?: () => number;
  /** Claims in one transaction, and such transactions at once (ClaimBatcher's defaults: 256, 2). */
  claimBatch?: Pick<ClaimBatcherOptions, "maxBatch" | "maxInFlight">;
  /**
   * Each transaction sent: which call, for which redemption (markRunningBatch: how many ids it
   * was sent for, how many it claimed, and the milliseconds from its send to its receipt), its hash.
   */
  onTransaction?: (...tx: ["settle" | "reject", id: bigint, hash: `0x${string}`] | ["markRunningBatch", asked: number, claimed: number, hash: `0x${string}`, ms: number]) => void;
}

export class Settler {
  private readonly now: () => number;
  private readonly claims: ClaimBatcher;

  constructor(private readonly opts: SettlerOptions) {
    this.now = opts.now ?? Date.now;
    this.claims = new ClaimBatcher({
      sender: opts.sender,
      lookup: (id) => this.lookup(id),
      contract: opts.contract,
      executorKind: opts.executorKind,
      now: this.now,
      ...opts.claimBatch,
      onBatch: (hash, asked, claimed, ms) => opts.onTransaction?.("markRunningBatch", asked, claimed, hash, ms),
    });
  }

  /** The chain status of a redemption, as an event. */
  async lookup(id: bigint): Promise<ChainStatusEvent> {
    const r = await getRedemption(this.opts.chain, id);
    return this.found(id, r);
  }

  /**
   * Claims the redemption for its job (markRunning). Claims asked for together go in one
   * markRunningBatch transaction (see ClaimBatcher); one no longer Requested comes back with the
   * status found.
   */
  markRunning(id: bigint, jobName: string): Promise<ChainStatusEvent> {
    return this.claims.claim(id, jobName);
  }

  async settle(action: Extract<Action, { type: "settle" }>): Promise<ChainStatusEvent> {
    const { id } = action;
    const r = await getRedemption(this.opts.chain, id);
    if (r?.status !== "Running") return this.found(id, r);
    // The receipt is on disk (fsync'd) before its hash can be on-chain; one already there is reused.
    const stored = await this.opts.receipts.writeOnce(
      id,
      buildReceipt({
        chainId: this.opts.chainId,
        contract: this.opts.contract,
        executorKind: this.opts.executorKind,
        request: action.request,
        job: action.job,
        used: action.used,
        now: new Date(this.now()),
      }),
    );
    const used = BigInt(stored.receipt.usedUnits);
    if (used > r.reserved) throw new SettleExceedsReserveError(id, used, r.reserved);
    const sent = await this.sendOrFound(id, () => this.opts.sender.send({ functionName: "settle", args: [id, used, stored.hash] }));
    if ("type" in sent) return sent;
    this.opts.onTransaction?.("settle", id, sent.hash);
    return {
      type: "chainStatus",
      id,
      status: "Settled",
      at: this.now(),
      source: "tx",
      txHash: sent.hash,
      used,
      refunded: r.reserved - used,
      receiptHash: stored.hash,
    };
  }

  async reject(id: bigint, rejection: Rejection): Promise<ChainStatusEvent> {
    const r = await getRedemption(this.opts.chain, id);
    if (r?.status !== "Requested" && r?.status !== "Running") return this.found(id, r);
    const sent = await this.sendOrFound(id, () => this.opts.sender.send({ functionName: "reject", args: [id, rejection.code] }));
    if ("type" in sent) return sent;
    this.opts.onTransaction?.("reject", id, sent.hash);
    return { type: "chainStatus", id, status: "Rejected", at: this.now(), source: "tx", txHash: sent.hash, reasonCode: rejection.code, refunded: r.reserved };
  }

  /** Sends; a status conflict found at estimation becomes the status event instead. */
  private async sendOrFound(id: bigint, send: () => Promise<SentTx>): Promise<SentTx | ChainStatusEvent> {
    try {
      return await send();
    } catch (err) {
      if (err instanceof RedemptionStatusConflict) return { type: "chainStatus", id, status: err.status, at: this.now(), source: "read" };
      if (err instanceof UnknownRedemptionError) return { type: "chainStatus", id, status: "None", at: this.now(), source: "read" };
      throw err;
    }
  }

  private found(id: bigint, r: Redemption | undefined): ChainStatusEvent {
    if (!r) return { type: "chainStatus", id, status: "None", at: this.now(), source: "read" };
    return {
      type: "chainStatus",
      id,
      status: r.status,
      at: this.now(),
      source: "read",
      ...(r.status === "Settled" && { used: r.used, refunded: r.reserved - r.used }),
    };
  }
}
