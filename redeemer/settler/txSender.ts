/**
 * Sends the redeemer's transactions from its one key, keeping nonces in order.
 *
 * Gas is estimated first, or the call run once when the caller bounds its gas (a call the contract
 * would refuse fails there, with its mapped error, and consumes no nonce). Then, one at a time, a
 * nonce is taken and the transaction handed to the node; receipts are awaited concurrently. Any
 * failure to hand a transaction over forgets the nonce, and the next send reads the account's
 * pending count again — so a send whose answer was lost (but which the node accepted) does not
 * leave a gap or a duplicate nonce.
 */
import type { Hash, TransactionReceipt } from "viem";
import {
  estimateRedemptionCall,
  type RedemptionCall,
  type RedemptionWriteContext,
  sendRedemptionCall,
  simulateRedemptionCall,
  waitForRedemptionCall,
} from "../../sdk/redemptions.js";
import { gasWithMargin } from "../../sdk/write.js";

export interface TxSenderContext extends RedemptionWriteContext {
  publicClient: RedemptionWriteContext["publicClient"] & {
    getTransactionCount: (args: { address: `0x${string}`; blockTag: "pending" }) => Promise<number>;
  };
}

export interface SentTx {
  hash: Hash;
  receipt: TransactionReceipt;
}

export class TxSender {
  private nonce: number | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly ctx: TxSenderContext,
    private readonly options: { receiptTimeoutMs: number; pollingIntervalMs?: number },
  ) {}

  /**
   * Sends `call` and waits for its receipt. With `gas` (a bound the caller knows), the call is not
   * estimated (a large batch's estimate runs it many times) but run once to surface a refusal —
   * unless `simulate` is false: the caller has just seen the same call succeed.
   */
  async send(call: RedemptionCall, options: { gas?: bigint; simulate?: boolean } = {}): Promise<SentTx> {
    let gas: bigint;
    if (options.gas !== undefined) {
      if (options.simulate !== false) await simulateRedemptionCall(this.ctx, call);
      gas = options.gas;
    } else {
      const estimate = await estimateRedemptionCall(this.ctx, call);
      gas = gasWithMargin(estimate);
    }
    const hash = await this.exclusive(async () => {
      this.nonce ??= await this.ctx.publicClient.getTransactionCount({ address: this.ctx.walletClient.account.address, blockTag: "pending" });
      const nonce = this.nonce;
      try {
        const h = await sendRedemptionCall(this.ctx, call, { nonce, gas });
        this.nonce = nonce + 1;
        return h;
      } catch (err) {
        this.nonce = undefined;
        throw err;
      }
    });
    const receipt = await waitForRedemptionCall(this.ctx, hash, {
      timeoutMs: this.options.receiptTimeoutMs,
      ...(this.options.pollingIntervalMs !== undefined && { pollingIntervalMs: this.options.pollingIntervalMs }),
    });
    return { hash, receipt };
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }
}
