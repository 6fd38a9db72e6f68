/**
 * Sending a named grant run, once per row, for any token that grants in batches under a `batchRef`
 * (ComputeToken's GPU-seconds in grants.ts, InferenceCredit's credits in credits/grants.ts). The pure
 * half — run tags, batchRefs, matching landed rows, cutting chunks — is grantRows.ts; this is the I/O:
 *
 * - {@link findRunMints} reads back what a run minted: the mints in the transactions of the token's
 *   grant batches whose batchRef carries the run's tag;
 * - {@link splitRunRows} says which rows of a run landed and which are still to send;
 * - {@link sendGrantRun} waits for the account's transactions in flight, reads the landed rows again,
 *   cuts the rest into chunks that fit a transaction by gas estimate (never mixing the token's groups),
 *   and sends them a few at a time. A run re-run mints nothing twice; an interrupted run resumes by
 *   running it again.
 *
 * A token says how through a {@link GrantRunToken}.
 */
import type { Address, Hex, TransactionReceipt } from "viem";
import { type CtkClient, requireWriter } from "./client.js";
import { CtkError } from "./ctkError.js";
import { ContractError, toCtkError } from "./errors.js";
import { CHUNK_GAS_BUDGET, GAS_MARGIN_PERCENT, type GrantRowKey, TX_GAS_CAP, chunkBatchRef, chunkByGas, isBatchOfRun, matchLandedRows, normalizeRunName } from "./grantRows.js";
import { MAX_BATCH } from "./holders.js";
import { type ContractHandle, submitWrite, waitForSuccess } from "./write.js";

/** How one token's grant runs are read back and sent. */
export interface GrantRunToken<R> {
  /** The run tag's domain (grantRows.ts `runTag`): two tokens' runs of one name are two runs. */
  domain: string;
  /** The contract whose `grantBatch` takes the chunks. */
  contract: ContractHandle;
  /** batchRef and transaction of each grant batch of the token, from its deployment to `toBlock`. */
  batches(client: CtkClient, toBlock: bigint): Promise<{ batchRef: Hex; transactionHash: Hex }[]>;
  /** The mints one grant transaction made, from its receipt (its logs of other contracts included). */
  mints(receipt: TransactionReceipt): GrantRowKey[];
  /** What lands on chain for a row. */
  keyOf(row: R): GrantRowKey;
  /** Rows of different groups never share a transaction (InferenceCredit: one expiry bucket per batch). */
  groupOf?(row: R): string;
  /** `grantBatch`'s arguments for a chunk sent under `batchRef`. */
  argsOf(batchRef: Hex, chunk: readonly R[]): readonly unknown[];
  /** The rows of a landed chunk that were not minted (ComputeToken's GrantRefused), from its receipt. */
  refusedOf?(receipt: TransactionReceipt): GrantRowKey[];
}

/** What the grant batches of a run minted so far, one entry per mint (up to the chain's head, never a cached one). */
export async function findRunMints<R>(client: CtkClient, token: GrantRunToken<R>, run: string): Promise<GrantRowKey[]> {
  normalizeRunName(run);
  try {
    const latest = await client.publicClient.getBlockNumber({ cacheTime: 0 }); // a batch may have just landed
    const batches = await token.batches(client, latest);
    const txs = [...new Set(batches.filter((e) => isBatchOfRun(e.batchRef, run, token.domain)).map((e) => e.transactionHash))];
    const receipts = await Promise.all(txs.map((hash) => client.publicClient.getTransactionReceipt({ hash })));
    return receipts.flatMap((rc) => token.mints(rc));
  } catch (e) {
    throw await toCtkError(client, e, { contractName: token.contract.contractName });
  }
}

/** The rows of a run already on chain, and those still to send (in their order). */
export async function splitRunRows<R>(client: CtkClient, token: GrantRunToken<R>, run: string, rows: readonly R[]): Promise<{ landed: R[]; pending: R[] }> {
  return matchLandedRows(rows, await findRunMints(client, token, run), (r) => token.keyOf(r));
}

export interface GrantProgress {
  rowsDone: number;
  rowsTotal: number;
}

export interface SendGrantRunOptions {
  onProgress?: (p: GrantProgress) => void;
  /** Transactions sent ahead of their receipts (default 4). 1 = one at a time. */
  inFlight?: number;
  /** Most rows per transaction (default MAX_BATCH); chunks are also cut to fit the gas cap. */
  batchSize?: number;
  /** How long to wait for the account's earlier transactions to be mined (default 60 s). */
  pendingWaitMs?: number;
}

export interface GrantRunResult {
  /** Transactions this run sent and that landed. */
  batchesSent: number;
  rowsMinted: number;
  /** Units minted (GPU-seconds, credit base units…). */
  amountMinted: bigint;
  /** Rows found already granted when sending started, or by a batch that landed meanwhile (another run got there first). */
  rowsSkipped: number;
  /** Rows the token refused in a landed chunk (not minted; a later run tries them again). */
  refused: GrantRowKey[];
  gasUsed: bigint;
  transactions: Hex[];
}

export class PendingTransactionsError extends CtkError {
  constructor(
    readonly account: Address,
    readonly pending: number,
  ) {
    super(`${pending} earlier transaction(s) from ${account} are still pending; wait for them to be mined, then run again`);
    this.name = "PendingTransactionsError";
  }
}

/** Waits until every transaction the account sent is mined (an interrupted run's may still land). */
async function waitForNoPending(client: CtkClient, account: Address, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [mined, pending] = await Promise.all([
      client.publicClient.getTransactionCount({ address: account, blockTag: "latest" }),
      client.publicClient.getTransactionCount({ address: account, blockTag: "pending" }),
    ]);
    if (pending <= mined) return mined;
    if (Date.now() >= deadline) throw new PendingTransactionsError(account, pending - mined);
    await new Promise((r) => setTimeout(r, 500));
  }
}

const isAlreadyGranted = (e: unknown) => e instanceof ContractError && e.errorName === "BatchAlreadyGranted";

/**
 * Sends the rows of run `run` that are not on chain yet (the HR role). Before sending it waits for
 * the account's transactions in flight and reads again which rows of the run landed, so a stale plan
 * or an interrupted run never pays a row twice. Chunks hold at most `batchSize` rows of one group and
 * fit the per-transaction gas cap (by estimate, with a 25 % margin). On the first failure it waits for
 * what is in flight and throws; running again resumes with the rows still missing.
 */
export async function sendGrantRun<R>(client: CtkClient, token: GrantRunToken<R>, run: string, pending: readonly R[], opts: SendGrantRunOptions = {}): Promise<GrantRunResult> {
  const w = requireWriter(client);
  const inFlight = Math.max(1, opts.inFlight ?? 4);
  const batchSize = opts.batchSize ?? MAX_BATCH;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH) throw new RangeError(`batch size must be 1..${MAX_BATCH}`);
  const result: GrantRunResult = { batchesSent: 0, rowsMinted: 0, amountMinted: 0n, rowsSkipped: 0, refused: [], gasUsed: 0n, transactions: [] };
  const ctx = { functionName: "grantBatch", contractName: token.contract.contractName };

  let nonce: number;
  let rows: R[];
  try {
    nonce = await waitForNoPending(client, w.account.address, opts.pendingWaitMs ?? 60_000);
    const fresh = await splitRunRows(client, token, run, pending);
    result.rowsSkipped = fresh.landed.length;
    rows = fresh.pending;
  } catch (e) {
    if (e instanceof PendingTransactionsError) throw e;
    throw await toCtkError(client, e, ctx);
  }
  const argsOf = (chunk: readonly R[]) =>
    token.argsOf(
      chunkBatchRef(
        run,
        chunk.map((r) => token.keyOf(r)),
        token.domain,
      ),
      chunk,
    );
  const estimates = new Map<readonly R[], bigint>();
  const gasOf = async (chunk: readonly R[]): Promise<bigint> => {
    try {
      const gas = await w.publicClient.estimateContractGas({
        address: token.contract.address,
        abi: token.contract.abi,
        functionName: "grantBatch",
        args: argsOf(chunk),
        account: w.account,
      } as never);
      estimates.set(chunk, gas);
      return gas;
    } catch (e) {
      // Over the node's own cap: certainly over budget.
      if (/gas (limit|cap)|exceeds|too high/i.test(String((e as Error)?.message))) return TX_GAS_CAP;
      throw await toCtkError(client, e, ctx);
    }
  };
  const chunks = await chunkByGas(rows, { maxRows: batchSize, gasBudget: CHUNK_GAS_BUDGET, gasOf, groupOf: token.groupOf?.bind(token) });

  const rowsTotal = rows.length;
  let rowsDone = 0;
  const report = () => opts.onProgress?.({ rowsDone, rowsTotal });
  const window: Promise<void>[] = [];
  let failure: unknown;
  const replayOf = (args: readonly unknown[]) => ({ contract: token.contract, functionName: "grantBatch", args }) as never;
  const settle = async (chunk: R[], hash: Hex, args: readonly unknown[]) => {
    try {
      const receipt = await waitForSuccess(client, hash, replayOf(args));
      const refused = token.refusedOf?.(receipt) ?? [];
      result.batchesSent++;
      result.rowsMinted += chunk.length - refused.length;
      result.amountMinted += chunk.reduce((s, r) => s + token.keyOf(r).amount, 0n) - refused.reduce((s, r) => s + r.amount, 0n);
      result.refused.push(...refused);
      result.gasUsed += receipt.gasUsed;
      result.transactions.push(hash);
    } catch (e) {
      if (isAlreadyGranted(e)) result.rowsSkipped += chunk.length;
      else failure ??= e;
    }
    rowsDone += chunk.length;
    report();
  };

  for (const chunk of chunks) {
    if (failure) break;
    const args = argsOf(chunk);
    const estimate = estimates.get(chunk) ?? (await gasOf(chunk));
    const margin = (estimate * GAS_MARGIN_PERCENT) / 100n;
    let hash: Hex;
    try {
      hash = await submitWrite(
        client,
        { contract: token.contract, functionName: "grantBatch" as never, args: args as never },
        { nonce, gas: margin < TX_GAS_CAP ? margin : TX_GAS_CAP },
      );
    } catch (e) {
      if (isAlreadyGranted(e)) {
        result.rowsSkipped += chunk.length;
        rowsDone += chunk.length;
        report();
        continue;
      }
      failure = e;
      break;
    }
    nonce++;
    const p = settle(chunk, hash, args);
    window.push(p);
    p.finally(() => window.splice(window.indexOf(p), 1));
    if (window.length >= inFlight) await Promise.race(window);
  }
  await Promise.all(window);
  if (failure) throw failure;
  return result;
}
