/**
 * Follows the chain head block by block and applies what concerns the gateway, before the next
 * request is held: a revoked authorization (InferenceCredit `AuthorizationRevoked` naming this
 * gateway) and an offboarded holder (ComputeToken `HolderOffboarded`) cut their keys; price
 * changes reload the price table; credit movements (grants, transfers, clawbacks, expiry sweeps,
 * usage debt incurred or paid) re-read the holders' balances. The last block applied is kept in the
 * ledger, so a restart misses nothing.
 */
import { type Address, type Hex, decodeEventLog, getAddress, toEventSelector, zeroAddress } from "viem";
import type { Logger } from "pino";
import type { CtkClient } from "../../sdk/client.js";
import { type AnyCreditEvent, decodeCreditLogs } from "../../sdk/credits/events.js";
import { computeTokenAbi } from "../../sdk/generated/abi.js";
import { fetchLogRanges, type RawLog, type RpcRequest } from "../../sdk/logs/fetchLogRanges.js";
import type { Ledger } from "../ledger/ledger.js";

const OFFBOARDED = computeTokenAbi.find((x) => x.type === "event" && x.name === "HolderOffboarded")!;
const OFFBOARDED_TOPIC = toEventSelector(OFFBOARDED as never);
/**
 * Events after which the holders they name are read again. A usage debt paid from credits arriving
 * comes with Transfers (in, then to zero) and needs nothing more. A debt incurred, in one of this
 * gateway's own settlements, says the holder's credits were gone before the batch (moved out, or
 * expired: no event says so when it happens), which the ledger may not know yet: read again at once,
 * rather than serving the holder against credits it no longer has until the next periodic refresh.
 */
const BALANCE_EVENTS = new Set(["Transfer", "CreditsExpired", "CreditsClawedBack", "CreditsGranted", "BucketTransferred", "UsageDebtIncurred"]);
const WATCHED_BLOCK = "watched_block";

export interface ChainWatcherDeps {
  client: CtkClient;
  ledger: Ledger;
  gateway: Address;
  pollIntervalMs: number;
  log: Logger;
  onPricesChanged: () => Promise<void>;
  onBalancesChanged: (holders: Set<string>) => Promise<void>;
  /** True while some balance reads wait to be applied: onBalancesChanged is called every poll then. */
  pendingBalances?: () => boolean;
  /** A head block older than this (ms, by its timestamp) does not count as read (see the config's chain.maxHeadAgeMs). */
  maxHeadAgeMs?: number;
}

export class ChainWatcher {
  private stopped = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  /** The last block applied. */
  lastBlock = -1n;
  /**
   * When the head was read by the last poll that applied everything up to it, on the monotonic
   * clock (`performance.now()`: a wall clock stepped back must not make it look recent): what the
   * gateway knows of revocations and offboardings is at least that recent.
   */
  syncedAt = Number.NEGATIVE_INFINITY;
  /** The head's number, timestamp (s) and age (ms) when it was last found older than maxHeadAgeMs (undefined: not stale). */
  staleHead: { block: bigint; timestamp: bigint; ageMs: number } | undefined;
  /** The last head's timestamp, by its number (one read per block, not per poll). */
  private headTime: { block: bigint; timestamp: bigint } | undefined;

  constructor(private readonly d: ChainWatcherDeps) {}

  async start(): Promise<void> {
    const saved = await this.d.ledger.getMeta(WATCHED_BLOCK);
    this.lastBlock = saved ?? (await this.d.client.publicClient.getBlockNumber());
    if (saved === undefined) await this.d.ledger.setMeta(WATCHED_BLOCK, this.lastBlock, true);
    await this.poll();
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, this.d.pollIntervalMs);
      });
      if (this.stopped) break;
      try {
        await this.poll();
      } catch (err) {
        this.d.log.warn({ err: (err as Error).message }, "chain watch failed; retrying");
      }
    }
  }

  /** Applies every block up to the head. */
  async poll(): Promise<void> {
    const { client, ledger } = this.d;
    const readAt = performance.now();
    const head = await client.publicClient.getBlockNumber();
    const fresh = await this.headFresh(head);
    if (head <= this.lastBlock) {
      if (this.d.pendingBalances?.()) await this.d.onBalancesChanged(new Set());
      if (fresh) this.syncedAt = readAt;
      return;
    }
    const fromBlock = this.lastBlock + 1n;
    const inferenceCredit = client.deployment.inferenceCredit!;
    // After a pause (a restart, a node down) this may be many blocks: read in bounded ranges, as every reader does.
    const logs: RawLog[] = [];
    for await (const range of fetchLogRanges({
      request: client.publicClient.request.bind(client.publicClient) as RpcRequest,
      addresses: [inferenceCredit, client.computeToken.address],
      fromBlock,
      toBlock: head,
      prefetch: 0,
      timestamps: false,
    }))
      logs.push(...range.logs);
    let prices = false;
    const holders = new Set<string>();
    const creditLogs = logs.filter((l) => getAddress(l.address) === inferenceCredit);
    const events = decodeCreditLogs(creditLogs);
    const ownSettlements = await this.ownSettlements(events);
    for (const e of events) {
      if (e.eventName === "AuthorizationRevoked") {
        const args = e.args as { authId: Hex; gateway: Address; holder: Address };
        if (getAddress(args.gateway) === getAddress(this.d.gateway) && (await ledger.revokeAuthorization(args.authId))) {
          this.d.log.info({ authId: args.authId, holder: args.holder, block: e.blockNumber.toString() }, "authorization revoked: its keys are cut");
        }
      } else if (e.eventName === "ModelPriceSet" || e.eventName === "PriorityFeesSet") {
        prices = true;
      } else if (e.eventName === "Transfer" && ownSettlements.has(e.transactionHash) && (e.args as { to: string }).to === zeroAddress) {
        // This gateway's own charges: the ledger takes them off when it applies the batch (and the
        // settler reads the holders again then if a refresh meanwhile took them off already).
      } else if (BALANCE_EVENTS.has(e.eventName)) {
        const a = e.args as Record<string, unknown>;
        for (const k of ["from", "to", "holder"]) if (typeof a[k] === "string") holders.add(getAddress(a[k] as string));
      }
    }
    for (const l of logs) {
      if (getAddress(l.address) !== client.computeToken.address || l.topics[0] !== OFFBOARDED_TOPIC) continue;
      const { args } = decodeEventLog({ abi: [OFFBOARDED], data: l.data, topics: l.topics as [Hex, ...Hex[]] }) as unknown as { args: Record<string, Address> };
      const account = getAddress(Object.values(args)[0]);
      if (await ledger.offboardHolder(account)) this.d.log.info({ holder: account, block: BigInt(l.blockNumber).toString() }, "holder offboarded: their keys are cut");
    }
    if (prices) await this.d.onPricesChanged();
    if (holders.size || this.d.pendingBalances?.()) await this.d.onBalancesChanged(holders);
    this.lastBlock = head;
    await ledger.setMeta(WATCHED_BLOCK, head, true);
    if (fresh) this.syncedAt = readAt;
  }

  /**
   * Whether the head is recent enough to count as following the chain (always, without
   * maxHeadAgeMs): a node stuck on an old block answers every poll, and would otherwise look
   * followed while a revocation landed elsewhere went unseen. Said in the log once per stale spell.
   */
  private async headFresh(head: bigint): Promise<boolean> {
    const max = this.d.maxHeadAgeMs;
    if (max === undefined) return true;
    if (this.headTime?.block !== head) this.headTime = { block: head, timestamp: (await this.d.client.publicClient.getBlock({ blockNumber: head })).timestamp };
    const ageMs = Date.now() - Number(this.headTime.timestamp) * 1000;
    if (ageMs <= max) {
      if (this.staleHead) this.d.log.info({ block: head.toString() }, "the chain's head is recent again: the chain is followed");
      this.staleHead = undefined;
      return true;
    }
    if (!this.staleHead)
      this.d.log.warn(
        { block: head.toString(), ageS: Math.round(ageMs / 1000), maxHeadAgeMs: max },
        `the chain's head (block ${head}) is ${Math.round(ageMs / 1000)} s old, more than chain.maxHeadAgeMs: its node may have stopped following the chain; metered requests are refused once it has lasted chain.failClosedAfterMs`,
      );
    this.staleHead = { block: head, timestamp: this.headTime.timestamp, ageMs };
    return false;
  }

  /**
   * The transactions that settled one of this ledger's batches (by batch id: another deployment
   * signing with the same account has a ledger of its own, and its burns must be read). Their burns
   * (`Transfer` to the zero address, one per charge) are the batch's charges, which the ledger
   * applies with the batch: reading every holder of the batch again here (a hundred balance reads
   * per batch) would only find what the ledger is about to know, or, read before the batch is
   * applied, take the charges off twice until the settler reads them again.
   */
  private async ownSettlements(events: readonly AnyCreditEvent[]): Promise<Set<Hex>> {
    const settled = new Map<string, Hex>();
    for (const e of events)
      if (e.eventName === "UsageBatchSettled" && getAddress((e.args as { gateway: Address }).gateway) === getAddress(this.d.gateway))
        settled.set((e.args as { batchId: Hex }).batchId.toLowerCase(), e.transactionHash);
    if (settled.size === 0) return new Set();
    const known = await this.d.ledger.knownBatchIds([...settled.keys()]);
    return new Set([...settled].filter(([id]) => known.has(id)).map(([, tx]) => tx));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
  }
}
