/**
 * Settlement: every `intervalMs` or `maxCharges` charges, one `settleUsage` batch per price
 * version — activations of authorizations not yet on-chain, then the charges aggregated per
 * authorization — with the Merkle root of its usage records.
 *
 * Crash-safe by construction: a batch is recorded in the ledger (its range of charges, its id derived
 * from its content: sdk/credits/usageRecord.ts) and its records file written BEFORE the
 * transaction is sent. After a restart every pending batch is looked up on-chain by id: if it
 * landed, the ledger takes the chain's UsageCharged events; if not, the same batch is sent again
 * (a batch id lands once, so a transaction that was in flight cannot make it count twice).
 * One replica at a time settles (a lease in the ledger): they share one account.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { type Address, encodeEventTopics, getAddress, type Hex, type TransactionReceipt } from "viem";
import type { Logger } from "pino";
import { writeFileAtomic } from "../../sdk/atomicFile.js";
import type { CtkClient } from "../../sdk/client.js";
import { ContractError } from "../../sdk/errors.js";
import { parseSignedAuthorization } from "../../sdk/credits/authorization.js";
import { type AnyCreditEvent, creditEventsOfReceipt, fetchCreditEvents } from "../../sdk/credits/events.js";
import { formatCredits } from "../../sdk/credits/units.js";
import type { TopicFilter } from "../../sdk/logs/fetchLogRanges.js";
import { inferenceCreditAbi } from "../../sdk/generated/abi.js";
import { readUsageBatchSettled } from "../../sdk/credits/reads.js";
import { type UsageRecord, loadFastUsageHashing, usageBatchId, usageRecordLine, usageRoot } from "../../sdk/credits/usageRecord.js";
import { settleUsage, settleUsageGasBound } from "../../sdk/credits/write.js";
import type { BatchRow, Ledger, OpenTransaction, UsageRow } from "../ledger/ledger.js";
import type { GatewayMetrics } from "../metrics.js";

const USAGE_CHARGED = inferenceCreditAbi.find((x) => x.type === "event" && x.name === "UsageCharged") as Extract<
  (typeof inferenceCreditAbi)[number],
  { type: "event"; name: "UsageCharged" }
>;

/**
 * The longest between two looks at the charges waiting for a batch, or the interval if shorter (to
 * the next round of the settler's loop): a batch the other replicas' charges fill starts this much
 * later at most (see Settler.lookDue).
 */
const LOOK_EVERY_MS = 2_000;

/**
 * A batch due this long (past its interval) that could not be made is held back — on PostgreSQL,
 * by a transaction left open (see Ledger.createBatch) — and said so in the log, once per this long.
 */
export const HELD_BACK_WARN_MS = 60_000;

export interface SettlerDeps {
  client: CtkClient;
  ledger: Ledger;
  gateway: Address;
  recordsDir: string;
  intervalMs: number;
  maxCharges: number;
  replica: string;
  log: Logger;
  metrics: GatewayMetrics;
  /** Blocks a settlement must be buried under before it counts (1: its own block). */
  confirmations?: number;
  /** After a batch lands (balances changed on-chain). */
  onSettled?: (batch: BatchRow) => Promise<void> | void;
  now?: () => number;
  /** The gas limit a batch is sent with (undefined: estimated by the node); default {@link settleUsageGasBound}. */
  gasLimit?: typeof settleUsageGasBound;
}

/** An open transaction, for the log: which session (or prepared transaction), whose, where, since when. */
function describe(t: OpenTransaction): string {
  const who = [t.role && `role ${t.role}`, t.database && `database ${t.database}`, t.application && `application ${t.application}`].filter(Boolean).join(", ");
  const what = t.kind === "prepared" ? `prepared transaction ${t.id}` : `session pid ${t.id}`;
  const how = [t.state, t.since !== undefined && `since ${new Date(t.since).toISOString()}`].filter(Boolean).join(", ");
  return `${what}, transaction ${t.xid}${who && `, ${who}`}${how && `, ${how}`}`;
}

export function toUsageRecord(r: UsageRow): UsageRecord {
  return {
    requestId: r.requestId,
    keyId: r.keyId,
    holder: r.holder,
    nonce: r.nonce.toString(),
    model: r.model,
    tokensIn: r.tokensIn,
    tokensOut: r.tokensOut,
    priority: r.tier,
    priceVersion: r.priceVersion.toString(),
    charge: r.charge.toString(),
    hold: r.hold.toString(),
    ending: r.ending,
    startedAt: new Date(r.createdAt).toISOString(),
    finishedAt: new Date(r.finishedAt).toISOString(),
  };
}

/**
 * Writes a batch's records file durably (temporary file, fsync, rename), off the event loop: its
 * fsyncs run on libuv's threads, so requests are not held up behind the disk meanwhile.
 */
async function writeRecordsFile(dir: string, batchId: string, lines: readonly string[]): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${batchId}.jsonl`);
  await writeFileAtomic(file, lines.map((l) => `${l}\n`).join(""));
  return file;
}

/** A root hashed on this thread (a re-sent batch's check, or every root when the worker cannot run): keccak in WebAssembly once loaded. */
const rootHere = (lines: readonly string[]): Promise<string> => loadFastUsageHashing().then(() => usageRoot(lines));

/**
 * The worker's entry: tsx registered in the thread (an evaluated worker gets neither a loader
 * given to the process with --import nor one a test runner registered in-process), then its
 * TypeScript module.
 */
const WORKER_BOOT = `
const { workerData } = require("node:worker_threads");
(async () => {
  if (workerData.tsx) (await import(workerData.tsx)).register();
  await import(workerData.script);
})();
`;

function tsxLoader(): string | undefined {
  try {
    return import.meta.resolve("tsx/esm/api");
  } catch {
    return undefined;
  }
}

/**
 * Merkle roots on a worker thread (gateway/settle/usageRootWorker.ts), so hashing a batch never
 * stalls the event loop that serves requests. Where the worker cannot start (a host without the
 * TypeScript loader in its threads), the root is computed in this thread instead: same result.
 */
export class RootHasher {
  /** `script`: the worker's module (tests point it at one that cannot load). */
  constructor(private readonly script: URL = new URL("./usageRootWorker.ts", import.meta.url)) {}

  private worker: Worker | undefined;
  private failed = false;
  private next = 0;
  private readonly waiting = new Map<number, { resolve: (root: string) => void; reject: (err: Error) => void; lines: readonly string[] }>();

  /** Whether roots are computed on the worker thread (false: in this thread). */
  get threaded(): boolean {
    return this.worker !== undefined && !this.failed;
  }

  /** Starts the thread ahead of the first batch (loading it takes a moment). */
  warm(): void {
    if (!this.failed && !this.worker) this.start();
  }

  root(lines: readonly string[]): Promise<string> {
    if (this.failed) return rootHere(lines);
    if (!this.worker) this.start();
    if (this.failed || !this.worker) return rootHere(lines);
    const id = this.next++;
    // Referenced while a root is awaited (a graceful stop's last batch must not see the process exit).
    if (this.waiting.size === 0) this.worker.ref();
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject, lines });
      this.worker!.postMessage({ id, lines });
    });
  }

  private start(): void {
    try {
      this.worker = new Worker(WORKER_BOOT, { eval: true, workerData: { script: this.script.href, tsx: tsxLoader() } });
    } catch {
      this.failed = true;
      return;
    }
    this.worker.unref();
    this.worker.on("message", (m: { id: number; root?: string; error?: string }) => {
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (this.waiting.size === 0) this.worker?.unref();
      if (m.root !== undefined) w?.resolve(m.root);
      else w?.reject(new Error(m.error ?? "usage root: no answer"));
    });
    // Could not load (or died): every batch waiting, and every later one, is hashed here.
    this.worker.on("error", () => this.fallBack());
    this.worker.on("exit", () => this.fallBack());
  }

  private fallBack(): void {
    this.failed = true;
    this.worker = undefined;
    for (const [id, w] of this.waiting) {
      this.waiting.delete(id);
      rootHere(w.lines).then(w.resolve, w.reject);
    }
  }

  async stop(): Promise<void> {
    const w = this.worker;
    this.failed = true;
    this.worker = undefined;
    if (w) {
      w.removeAllListeners("exit");
      await w.terminate();
    }
    this.fallBack();
  }
}

/** What a landed batch's charges came short by (see {@link batchShortfall}). */
export interface BatchShortfall {
  /** Charges the holder's unexpired credits did not cover: the rest is owed as usage debt (UsageDebtIncurred). */
  owed: { charges: number; amount: bigint; holders: Address[] };
  /**
   * Charges taken in part or not at all, and not owed either: the authorization ended more than
   * SETTLEMENT_GRACE ago, the holder was offboarded, or the authorization's cap was reached.
   */
  notCharged: { charges: number; amount: bigint };
}

/**
 * What a batch's charges came short by, from the events of its settlement: per charge, the
 * requested amount less what was burnt (UsageCharged) is either owed (the UsageDebtIncurred the
 * contract emits just before that charge's UsageCharged) or not charged.
 */
export function batchShortfall(events: readonly AnyCreditEvent[], batchId: string): BatchShortfall {
  const out: BatchShortfall = { owed: { charges: 0, amount: 0n, holders: [] }, notCharged: { charges: 0, amount: 0n } };
  const debtors = new Set<Address>();
  /** Debt incurred by the charge whose UsageCharged comes next, by authorization. */
  const incurred = new Map<string, bigint>();
  for (const e of events) {
    if (e.eventName === "UsageDebtIncurred") {
      const a = e.args as { authId: Hex; amount: bigint };
      incurred.set(a.authId.toLowerCase(), (incurred.get(a.authId.toLowerCase()) ?? 0n) + a.amount);
      continue;
    }
    if (e.eventName !== "UsageCharged") continue;
    const a = e.args as { batchId: Hex; authId: Hex; holder: Address; requested: bigint; charged: bigint };
    const owed = incurred.get(a.authId.toLowerCase()) ?? 0n;
    incurred.delete(a.authId.toLowerCase());
    if (a.batchId.toLowerCase() !== batchId.toLowerCase()) continue;
    if (owed > 0n) {
      out.owed.charges++;
      out.owed.amount += owed;
      debtors.add(getAddress(a.holder));
    }
    const missing = a.requested - a.charged - owed;
    if (missing > 0n) {
      out.notCharged.charges++;
      out.notCharged.amount += missing;
    }
  }
  out.owed.holders = [...debtors];
  return out;
}

export class Settler {
  private readonly hasher = new RootHasher();
  private stopped = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private busy: Promise<void> = Promise.resolve();
  private readonly now: () => number;
  /** The chain's block gas limit, read once: a batch's gas bound above it is not sent. */
  private blockGasLimit: bigint | undefined;
  /** Batches whose send with a gas bound failed: sent again with the node's estimate. */
  private readonly estimate = new Set<string>();

  constructor(private readonly d: SettlerDeps) {
    this.now = d.now ?? Date.now;
  }

  start(): void {
    this.hasher.warm();
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    const tick = Math.max(20, Math.min(this.d.intervalMs, 250));
    while (!this.stopped) {
      try {
        await this.settleDue();
      } catch (err) {
        this.d.log.warn({ err: (err as Error).message }, "settlement failed; retrying");
      }
      if (this.stopped) break;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, tick);
      });
    }
  }

  /** Settles what is due (pending batches first); `force` settles every charge waiting now. */
  settleDue(force = false): Promise<void> {
    const next = this.busy.then(() => this.settleOnce(force));
    this.busy = next.catch(() => undefined);
    return next;
  }

  private async settleOnce(force: boolean): Promise<void> {
    const { ledger } = this.d;
    if (!(await ledger.takeSettlerLease(this.d.replica, Math.max(10_000, this.d.intervalMs * 4), this.now()))) return;
    for (const b of await ledger.batches("pending")) await this.send(b);
    if (!force && !this.lookDue()) return;
    for (;;) {
      const at = this.now();
      const made = ledger.chargesMade;
      const waiting = await ledger.unbatched();
      this.lastLook = { at, made, ...waiting };
      if (waiting.count === 0) {
        this.warnedAt = undefined;
        return;
      }
      if (!force && !this.due(waiting.count, waiting.oldest, this.now())) return;
      const batch = await ledger.createBatch(this.d.maxCharges, (rows, priceVersion) => this.buildBatch(rows, priceVersion), this.now());
      if (!batch) return this.heldBack(waiting.count, waiting.oldest);
      this.warnedAt = undefined;
      await this.send(batch);
    }
  }

  /** When the log last said that batches are held back (undefined: they are not). */
  private warnedAt: number | undefined;

  /**
   * Due charges that no batch could take: once they have waited HELD_BACK_WARN_MS past their
   * interval, the log says so (and again every HELD_BACK_WARN_MS while it lasts), with the oldest
   * transaction open on PostgreSQL — the usual cause: a session idle in a transaction, a long
   * write in another database of the server, a prepared transaction never committed.
   */
  private async heldBack(count: number, oldest: number | undefined): Promise<void> {
    const now = this.now();
    if (oldest === undefined || now - oldest < this.d.intervalMs + HELD_BACK_WARN_MS) return;
    if (this.warnedAt !== undefined && now - this.warnedAt < HELD_BACK_WARN_MS && now >= this.warnedAt) return;
    this.warnedAt = now;
    // Named only if it began before the oldest charge waiting (where its start can be seen): one that
    // began after cannot hold that charge back, and the one that did may have ended since.
    const found = await this.d.ledger.oldestOpenTransaction().catch(() => undefined);
    const open = found && (found.since === undefined || found.since < oldest) ? found : undefined;
    const waited = Math.round((now - oldest) / 1000);
    const charges = count === 1 ? "1 charge waits" : `${count} charges wait`;
    this.d.log.warn(
      { waiting: count, oldestWaitedS: waited, ...(open && { openTransaction: open }) },
      open
        ? `settlement held back: ${charges} for a batch, the oldest for ${waited} s, behind a transaction still open (${describe(open)}); they go in a batch once it ends`
        : `settlement held back: ${charges} for a batch, the oldest for ${waited} s (a charge being taken back, or a transaction that ended since)`,
    );
  }

  /** What the last look at the charges waiting for a batch saw, and this ledger's charges made by then. */
  private lastLook: { at: number; made: number; count: number; oldest: number | undefined } | undefined;

  /** Whether a batch is due with `count` charges waiting, the oldest made at `oldest`. */
  private due(count: number, oldest: number | undefined, now: number): boolean {
    return count >= this.d.maxCharges || (oldest !== undefined && now - oldest >= this.d.intervalMs);
  }

  /**
   * Whether to look at the charges waiting for a batch now. The look counts them, and the count reads
   * every waiting row: made every round, it read up to a batch's worth of rows four times a second.
   * So it is made when a batch may be due: as the last look saw them, with this ledger's charges
   * since added, they would be due; or none waited and a charge was made since; or
   * {@link LOOK_EVERY_MS} has passed (the charges of the other replicas, which this one does not
   * count; or a clock set back).
   */
  private lookDue(): boolean {
    const l = this.lastLook;
    if (!l) return true;
    const now = this.now();
    const made = this.d.ledger.chargesMade - l.made;
    if (now < l.at || now - l.at >= Math.min(LOOK_EVERY_MS, this.d.intervalMs)) return true;
    return (l.count === 0 && made > 0) || this.due(l.count + made, l.oldest, now);
  }

  /** The lines of the batch this process just built (its send need not read and hash them again). */
  private built: { batchId: string; lines: string[] } | undefined;

  private async buildBatch(rows: UsageRow[], priceVersion: bigint): Promise<{ batchId: string; usageRoot: string }> {
    const lines = rows.map((r) => usageRecordLine(toUsageRecord(r)));
    const root = (await this.hasher.root(lines)) as Hex;
    const { deployment } = this.d.client;
    const batchId = usageBatchId({ chainId: deployment.chainId, inferenceCredit: deployment.inferenceCredit!, gateway: this.d.gateway, priceVersion, usageRoot: root });
    this.built = { batchId, lines };
    return { usageRoot: root, batchId };
  }

  /** Sends (or re-sends) a recorded batch and applies what the chain charged. */
  private async send(batch: BatchRow): Promise<void> {
    const { ledger, client } = this.d;
    let lines: string[];
    if (this.built?.batchId === batch.batchId) lines = this.built.lines;
    else {
      // Recorded by an earlier run (or another replica): its rows must still hash to its root.
      lines = (await ledger.usage({ batchId: batch.batchId })).map((r) => usageRecordLine(toUsageRecord(r)));
      if ((await rootHere(lines)) !== batch.usageRoot) throw new Error(`batch ${batch.batchId}: its records no longer hash to its root`);
    }
    this.built = undefined;
    await writeRecordsFile(this.d.recordsDir, batch.batchId, lines);

    let receipt: TransactionReceipt | undefined;
    if (!(await readUsageBatchSettled(client, batch.batchId as Hex))) {
      const docs = await ledger.authorizationDocuments(batch.activations);
      const activations = batch.activations.map((id) => {
        const f = parseSignedAuthorization(JSON.parse(docs.get(id)!));
        return { authorization: f.authorization, signature: f.signature };
      });
      const usage = {
        batchId: batch.batchId as Hex,
        priceVersion: batch.priceVersion,
        usageRoot: batch.usageRoot as Hex,
        activations,
        charges: batch.charges.map((c) => ({ holder: c.holder as Address, nonce: BigInt(c.nonce), amount: BigInt(c.amount) })),
      };
      // A bound instead of an estimate: the node runs the batch once, not twice.
      let gas = this.estimate.has(batch.batchId) ? undefined : (this.d.gasLimit ?? settleUsageGasBound)(usage);
      if (gas !== undefined) {
        this.blockGasLimit ??= (await client.publicClient.getBlock()).gasLimit;
        if (gas > this.blockGasLimit) gas = undefined;
      }
      try {
        receipt = await settleUsage(client, usage, gas === undefined ? {} : { gas });
      } catch (err) {
        // Landed meanwhile (a transaction sent before a crash): take the chain's record of it.
        if (!(err instanceof ContractError && err.errorName === "UsageBatchAlreadySettled")) {
          if (gas !== undefined) {
            // Out of gas, or anything else: the next attempt asks the node (an error it finds shows there).
            this.estimate.add(batch.batchId);
            this.d.log.warn(
              { batchId: batch.batchId, gas: gas.toString(), err: (err as Error).message },
              "settlement sent with a gas bound failed; sending it again with an estimate",
            );
          }
          throw err;
        }
      }
    }
    const charged = new Map<string, bigint>();
    let txHash: string | null = receipt?.transactionHash ?? null;
    const events = receipt
      ? creditEventsOfReceipt(receipt, client.deployment.inferenceCredit!)
      : await fetchCreditEvents({
          publicClient: client.publicClient,
          address: client.deployment.inferenceCredit!,
          topics: encodeEventTopics({ abi: [USAGE_CHARGED], args: { batchId: batch.batchId as Hex } }) as TopicFilter[],
          fromBlock: BigInt(client.deployment.deployBlock),
          // Not viem's cached head (up to its polling interval old): a batch that landed moments
          // ago (its receipt lost) would be looked for below its block and applied as charging nothing.
          toBlock: await client.publicClient.getBlockNumber({ cacheTime: 0 }),
        });
    let seen = 0;
    for (const e of events) {
      if (e.eventName !== "UsageCharged") continue;
      const a = e.args as { batchId: Hex; authId: Hex; charged: bigint };
      if (a.batchId.toLowerCase() !== batch.batchId.toLowerCase()) continue;
      charged.set(a.authId.toLowerCase(), (charged.get(a.authId.toLowerCase()) ?? 0n) + a.charged);
      txHash ??= e.transactionHash;
      seen++;
    }
    // The contract emits one UsageCharged per charge, whatever it took. Fewer (a node whose logs lag
    // its state, or reads served by different nodes): applying them would take the missing charges
    // as nothing charged — off "not yet settled" without coming off the balance. Left pending.
    if (seen !== batch.charges.length)
      throw new Error(`batch ${batch.batchId} is settled on-chain but ${seen} of its ${batch.charges.length} UsageCharged events were found: left pending for the next round`);
    if (txHash) await this.confirmed(txHash as Hex);
    // The ledger keys authorizations as the SDK computes them (lower-case hex from viem).
    const byAuth = new Map<string, bigint>();
    for (const c of batch.charges) byAuth.set(c.authId, charged.get(c.authId.toLowerCase()) ?? 0n);
    const finished = await ledger.finishBatch(batch.batchId, byAuth, txHash, this.now());
    // Applied (here or by another replica): never sent again.
    this.estimate.delete(batch.batchId);
    if (finished) {
      this.d.metrics.batches.inc();
      const total = [...byAuth.values()].reduce((s, v) => s + v, 0n);
      this.d.log.info({ batchId: batch.batchId, records: batch.records, requested: batch.requested.toString(), charged: total.toString(), tx: txHash }, "usage batch settled");
      if (total !== batch.requested) await this.warnShort(batch, total, receipt ? events : undefined, txHash as Hex | null);
      await this.d.onSettled?.(batch);
    }
  }

  /**
   * Says in the log what a landed batch's charges came short by, in two parts: what the holders now
   * owe as usage debt (their credits moved out or expired between the serving and the batch; paid
   * from the next credits they receive), and what was really not charged. `events`: the settlement's
   * receipt's; undefined when it was found by its UsageCharged events alone (a batch that landed
   * before a restart), whose receipt is read here for its UsageDebtIncurred events. The batch is
   * applied already: a failed read leaves the warning undivided, it does not hold anything up.
   */
  private async warnShort(batch: BatchRow, charged: bigint, events: readonly AnyCreditEvent[] | undefined, txHash: Hex | null): Promise<void> {
    const { log, client } = this.d;
    const fields = { batchId: batch.batchId, requested: batch.requested.toString(), charged: charged.toString(), tx: txHash };
    let all = events;
    if (!all && txHash) {
      try {
        all = creditEventsOfReceipt(await client.publicClient.getTransactionReceipt({ hash: txHash }), client.deployment.inferenceCredit!);
      } catch (err) {
        log.warn({ ...fields, err: (err as Error).message }, "the chain charged less than requested (its receipt, which says how much is owed as debt, could not be read)");
        return;
      }
    }
    const s = batchShortfall(all ?? [], batch.batchId);
    if (!s.owed.charges && !s.notCharged.charges) {
      log.warn(fields, "the chain charged less than requested (its events do not say which charges)");
      return;
    }
    const charges = (n: number) => (n === 1 ? "1 charge was" : `${n} charges were`);
    if (s.owed.charges)
      log.warn(
        { ...fields, owed: s.owed.amount.toString(), owedCharges: s.owed.charges, debtors: s.owed.holders },
        `${charges(s.owed.charges)} short of credit: ${formatCredits(s.owed.amount)} credits owed as debt by ${s.owed.holders.length === 1 ? "the holder" : `${s.owed.holders.length} holders`} (paid from the next credits they receive)`,
      );
    if (s.notCharged.charges)
      log.warn(
        { ...fields, notCharged: s.notCharged.amount.toString(), notChargedCharges: s.notCharged.charges },
        `${charges(s.notCharged.charges)} not charged in full: ${formatCredits(s.notCharged.amount)} credits not charged (authorization revoked or expired more than a day ago, holder offboarded, or over the authorization's cap)`,
      );
  }

  /**
   * Waits until the settlement's block is `confirmations` deep and still the chain's block at its
   * height; throws when it was reorganised away (the batch stays pending: the next round looks it
   * up by id and sends it again if it is not on-chain).
   */
  private async confirmed(hash: Hex): Promise<void> {
    const need = BigInt(this.d.confirmations ?? 1);
    if (need <= 1n) return;
    const { publicClient } = this.d.client;
    const receipt = await publicClient.waitForTransactionReceipt({ hash, confirmations: Number(need), pollingInterval: 250 });
    const again = await publicClient.getTransactionReceipt({ hash }).catch(() => undefined);
    const block = await publicClient.getBlock({ blockNumber: receipt.blockNumber });
    if (!again || again.blockHash !== receipt.blockHash || block.hash !== receipt.blockHash) {
      throw new Error(`the settlement ${hash} was in block ${receipt.blockNumber}, which a reorganisation replaced; its batch stays pending`);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
    await this.busy;
    await this.hasher.stop();
    await this.d.ledger.releaseSettlerLease(this.d.replica);
  }
}
