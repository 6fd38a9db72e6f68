/**
 * The metering gateway:
 *
 *   client (openai SDK, curl) → key → limits → HOLD worst case → priority queue → upstream
 *     → usage → CHARGE actual (durable) → usage record → batch → settleUsage on-chain
 *
 * `startGateway(config)` opens the ledger (SQLite or PostgreSQL), releases the holds a previous
 * run of this replica left, reads the price table and follows the chain, starts the embedded
 * llama.cpp upstream when a model uses it, the settler, and the HTTP server.
 */
import { createHash, createHmac } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import type { Server } from "node:http";
import { join } from "node:path";
import { type DestinationStream, pino, type Logger } from "pino";
import type { Address } from "viem";
import { writeFileAtomic } from "../sdk/atomicFile.js";
import { type CtkClient, createCtkClient } from "../sdk/client.js";
import { FileError } from "../sdk/ctkError.js";
import { readJsonFile } from "../sdk/jsonFile.js";
import { readPriceBook, readSpendable } from "./chain/creditChain.js";
import { ChainWatcher } from "./chain/chainWatcher.js";
import { type GatewayConfig, limitsFor } from "./config.js";
import { GatewayError } from "./errors.js";
import { createKey, keyRoute } from "./keys/keyService.js";
import { Ledger } from "./ledger/ledger.js";
import { PostgresDriver } from "./ledger/postgresDriver.js";
import { SqliteDriver } from "./ledger/sqliteDriver.js";
import type { SqlDriver } from "./ledger/sql.js";
import { GatewayMetrics } from "./metrics.js";
import type { PriceBook } from "./metering/quote.js";
import { MeteredProxy, type Upstream } from "./http/meteredProxy.js";
import { close, createGatewayServer, listen } from "./http/server.js";
import { usageRoute } from "./http/usageRoute.js";
import { Settler, type SettlerDeps } from "./settle/settler.js";
import { type LlamaUpstream, startLlamaUpstream } from "./upstream/llamaUpstream.js";
import { missingNodeOptions } from "./runtime.js";
import { PriorityLimiter } from "./upstream/priorityLimiter.js";
import { UpstreamClient } from "./upstream/upstreamClient.js";

export { parseGatewayConfig, type GatewayConfig, type GatewayConfigInput } from "./config.js";
export { createKey };

export interface GatewayDeps {
  logger?: Logger;
  logStream?: DestinationStream;
  now?: () => number;
  /** The gas limit of each settlement (tests: a bound too low); default the settler's. */
  settleGasLimit?: SettlerDeps["gasLimit"];
}

export interface Gateway {
  port: number;
  url: string;
  /** The gateway's account: authorizations must name it. */
  address: Address;
  ledger: Ledger;
  settler: Settler;
  watcher: ChainWatcher;
  metrics: GatewayMetrics;
  client: CtkClient;
  embedded?: LlamaUpstream;
  prices(): PriceBook | undefined;
  /** Re-reads holders' balances from the chain (all known holders by default). */
  refreshBalances(holders?: Iterable<string>): Promise<boolean>;
  /** Graceful: stop taking requests, finish those in flight, settle what is waiting, stop. */
  stop(options?: { settle?: boolean }): Promise<void>;
}

/** In the records directory: the take-backs a stop left pending (not a records file: the auditor reads `0x….jsonl` only). */
export const TAKE_BACKS_FILE = "take-backs-pending.json";

/** The request ids a take-backs file holds; one that does not parse stops the start (they would be forgotten). */
function readTakeBacks(file: string): string[] {
  const fail = (detail: string) => new FileError("take-backs file", file, `${detail} (the take-backs a previous run left pending): repair or remove it`);
  const ids = readJsonFile(file, fail);
  if (!Array.isArray(ids) || !ids.every((id) => typeof id === "string")) throw fail("not a JSON array of request ids");
  return ids;
}

export function openLedgerDriver(db: GatewayConfig["database"]): SqlDriver {
  return db.kind === "sqlite" ? new SqliteDriver(db.file, db.synchronous) : new PostgresDriver(db.url, db.poolSize);
}

export async function startGateway(config: GatewayConfig, deps: GatewayDeps = {}): Promise<Gateway> {
  const log = deps.logger ?? pino({ level: config.logLevel, base: { service: "ctk-gateway", replica: config.replica } }, deps.logStream ?? pino.destination(1));
  const now = deps.now ?? Date.now;
  const missing = missingNodeOptions();
  if (missing.length) log.info({ missing }, 'node was started without the gateway\'s options: it runs, with more CPU per request (see gateway/README.md, "Running it")');
  const client = createCtkClient({
    rpcUrl: config.chain.rpcUrl,
    deployment: config.chain.deployment,
    account: config.chain.privateKey,
    pollingInterval: Math.min(config.chain.pollIntervalMs, 100),
  });
  if (!config.chain.deployment.inferenceCredit) throw new Error("the deployment has no InferenceCredit: the gateway settles on it (redeploy the devnet)");
  const address = client.account!.address;
  const metrics = new GatewayMetrics();
  const ledger = new Ledger(openLedgerDriver(config.database), { leases: config.database.kind === "postgres" && config.database.leases, now });
  /**
   * Take-backs of charges for answers not delivered that the database has not answered yet (see
   * Ledger.releaseUndelivered): kept in a file whenever they change — a crash, a stop, a pod killed
   * do not lose them — and taken up again at the next start. The file is removed once none is left.
   */
  const takeBacksFile = join(config.recordsDir, TAKE_BACKS_FILE);
  let takeBacksWritten: Promise<void> = Promise.resolve();
  /** Whether this run changed them (else the file, whatever it holds, is left as it is). */
  let takeBacksTouched = false;
  const keepTakeBacks = (): Promise<void> => {
    if (!takeBacksTouched) return takeBacksWritten;
    takeBacksWritten = takeBacksWritten
      .then(async () => {
        const pending = ledger.pendingTakeBacks();
        if (pending.length === 0) return rm(takeBacksFile, { force: true });
        await mkdir(config.recordsDir, { recursive: true });
        await writeFileAtomic(takeBacksFile, `${JSON.stringify(pending)}\n`);
      })
      .catch((err: Error) => log.error({ err: err.message, file: takeBacksFile }, "could not keep the pending take-backs in their file"));
    return takeBacksWritten;
  };
  const stopTakeBacks = async () => {
    await keepTakeBacks();
    const pending = ledger.pendingTakeBacks();
    if (pending.length)
      log.error(
        { requestIds: pending, file: takeBacksFile },
        "stopping with charges of undelivered answers not yet taken back (the database did not answer): the next start takes them up",
      );
  };
  const cleanup: (() => Promise<void>)[] = [stopTakeBacks, () => ledger.close()];
  try {
    await ledger.init();
    ledger.onTakeBacksChanged = () => {
      takeBacksTouched = true;
      void keepTakeBacks();
    };
    ledger.onTakeBack = (e) =>
      e.outcome === "taken_back"
        ? log.warn({ requestId: e.requestId, charge: e.charge.toString() }, "took back the charge of an answer not delivered (its commit's reply was lost)")
        : log.error(
            { requestId: e.requestId, charge: e.charge.toString() },
            "the charge of an answer not delivered was in a settlement batch before it could be taken back: it stands, refund it by hand",
          );
    ledger.onLeaseShortfall = (e) =>
      log.error(
        { leaseId: e.leaseId, charged: e.charged.toString(), held: e.held.toString() },
        "charges made under a lease exceed its hold (the lease was lost in a crash of the database?): charged all the same",
      );
    const released = await ledger.releaseAbandoned(config.replica, config.staleHoldMs, now());
    if (released) log.warn({ released }, "released the holds of requests a previous run left unfinished (not charged)");
    const carried = existsSync(takeBacksFile) ? readTakeBacks(takeBacksFile) : [];
    if (carried.length) {
      // The file stays until they are done (rewritten as each one is).
      for (const id of carried) ledger.releaseUndelivered(id);
      log.warn({ requestIds: carried }, "taking back the charges of undelivered answers a previous run left pending");
    }
    // Every minute, this replica's holds older than five minutes that no request of this process
    // holds: left behind when the database did not answer a hold or a release for that long; and
    // the leases of replicas that stopped renewing them (see Ledger.recoverLeases).
    const orphanTimer = setInterval(
      () =>
        void ledger
          .releaseOrphans(config.replica, now() - 5 * 60_000, now())
          .then(async (n) => {
            if (n > 0) log.warn({ released: n }, "released holds no request of this gateway holds any more (not charged)");
            const recovered = await ledger.recoverLeases(config.replica, config.staleHoldMs, now());
            if (recovered > 0) log.warn({ recovered }, "recovered the credit leases of replicas that stopped renewing them");
          })
          .catch((err) => log.warn({ err: (err as Error).message }, "could not look for orphaned holds")),
      60_000,
    );
    orphanTimer.unref();
    cleanup.unshift(async () => clearInterval(orphanTimer));

    let embedded: LlamaUpstream | undefined;
    if (config.models.some((m) => m.upstream === "embedded") && config.embedded) {
      embedded = await startLlamaUpstream({
        modelPath: config.embedded.modelPath,
        sha256: config.embedded.sha256,
        sequences: config.embedded.sequences,
        contextSize: config.embedded.contextSize,
        modelName: config.models.find((m) => m.upstream === "embedded")!.upstreamModel ?? config.models.find((m) => m.upstream === "embedded")!.name,
      });
      cleanup.unshift(() => embedded!.stop());
      log.info({ url: embedded.url, model: embedded.modelName }, "embedded llama.cpp upstream started");
    }
    const upstreams = new Map<string, Upstream>(
      config.models.map((m) => [
        m.name,
        { model: m, url: (m.upstream === "embedded" ? embedded!.url : m.upstream).replace(/\/+$/, ""), limiter: new PriorityLimiter(m.concurrency) },
      ]),
    );

    let prices: PriceBook | undefined = await readPriceBook(
      client,
      config.models.map((m) => m.name),
    );
    const reloadPrices = async () => {
      prices = await readPriceBook(
        client,
        config.models.map((m) => m.name),
      );
      log.info({ priceVersion: prices.version.toString(), models: [...prices.models.keys()] }, "price table loaded");
    };
    /**
     * Holders whose balance moved on-chain but whose higher read could not be applied yet (a batch
     * was pending or landed meanwhile): read again after every poll until it is.
     */
    const behind = new Set<string>();
    /**
     * Per holder, when the soonest of its credits expires (s): its balance is read again then (an
     * expiry emits no event), so that it is not served against credits gone before its batch lands.
     */
    const expiries = new Map<string, bigint>();
    let expiryTimer: NodeJS.Timeout | undefined;
    let expiriesStopped = false;
    const scheduleExpiries = () => {
      clearTimeout(expiryTimer);
      if (expiriesStopped) return;
      let soonest: bigint | undefined;
      for (const e of expiries.values()) if (soonest === undefined || e < soonest) soonest = e;
      if (soonest === undefined) return;
      const ms = Math.min(Math.max(Number(soonest) * 1000 - now(), 0), 2 ** 31 - 1);
      expiryTimer = setTimeout(() => {
        const nowS = BigInt(Math.floor(now() / 1000));
        const due = [...expiries].filter(([, e]) => e <= nowS).map(([h]) => h);
        for (const h of due) expiries.delete(h);
        if (due.length === 0) return scheduleExpiries();
        void refreshBalances(due)
          .catch((err) => {
            // Read again at the next periodic refresh; until then the expiry stays due.
            for (const h of due) if (!expiries.has(h)) expiries.set(h, nowS);
            log.warn({ err: (err as Error).message, holders: due.length }, "balance refresh at a credit expiry failed");
          })
          .finally(scheduleExpiries);
      }, ms);
      expiryTimer.unref();
    };
    const refreshBalances = async (holders?: Iterable<string>) => {
      const list = holders ? [...holders] : await ledger.holders();
      if (list.length === 0) return true;
      const epoch = await ledger.settledEpoch();
      const read = await readSpendable(client, list, now());
      const applied = await ledger.setBalances(new Map([...read].map(([h, s]) => [h, s.balance])), epoch, now());
      if (holders) for (const h of list) applied ? behind.delete(h) : behind.add(h);
      for (const [h, s] of read) s.nextExpiry === undefined ? expiries.delete(h) : expiries.set(h, s.nextExpiry);
      scheduleExpiries();
      return applied;
    };

    const watcher = new ChainWatcher({
      client,
      ledger,
      gateway: address,
      pollIntervalMs: config.chain.pollIntervalMs,
      log,
      onPricesChanged: reloadPrices,
      onBalancesChanged: async (holders) => {
        const known = new Set((await ledger.holders()).map((h) => h.toLowerCase()));
        const mine = new Set([...holders].filter((h) => known.has(h.toLowerCase())));
        for (const h of behind) mine.add(h);
        if (mine.size) await refreshBalances(mine);
      },
      pendingBalances: () => behind.size > 0,
      maxHeadAgeMs: config.chain.maxHeadAgeMs,
    });
    await watcher.start();
    cleanup.unshift(() => watcher.stop());
    const balanceTimer = setInterval(
      () => void refreshBalances().catch((err) => log.warn({ err: (err as Error).message }, "balance refresh failed")),
      config.chain.balanceRefreshMs,
    );
    balanceTimer.unref();
    cleanup.unshift(async () => {
      clearInterval(balanceTimer);
      expiriesStopped = true;
      clearTimeout(expiryTimer);
      expiries.clear();
    });

    const settler = new Settler({
      client,
      ledger,
      gateway: address,
      recordsDir: config.recordsDir,
      intervalMs: config.settlement.intervalMs,
      maxCharges: config.settlement.maxCharges,
      confirmations: config.chain.confirmations,
      replica: config.replica,
      log,
      metrics,
      now,
      gasLimit: deps.settleGasLimit,
      // The batch's holders whose balance a refresh (of any replica) changed since it was built are
      // read again once it is applied: if it had landed, the lower on-chain balance had its charges
      // off already, and applying the batch took them off a second time (cautious, but short by the
      // batch until the next refresh). The others' balances are the chain's: the batch's charges are
      // all that moved them (the watcher leaves this gateway's own settlements to the batch). A
      // minute's margin for replicas' clocks.
      onSettled: (batch) =>
        ledger
          .holdersRefreshedSince([...new Set(batch.charges.map((c) => c.holder))], batch.createdAt - 60_000)
          .then((again) => refreshBalances(again))
          .then(
            () => undefined,
            (err) => log.warn({ err: (err as Error).message, batchId: batch.batchId }, "balance refresh after a batch failed"),
          ),
    });
    settler.start();
    cleanup.unshift(() => settler.stop());

    /**
     * Fail closed: once the chain head has not been read for `failClosedAfterMs`, a revocation or an
     * offboarding could be missed, so metered requests are refused until the watcher has caught up.
     */
    const failClosedAfterMs = config.chain.failClosedAfterMs;
    const chainAgeMs = () => performance.now() - watcher.syncedAt;
    const chainBlind = (): number | undefined => {
      const age = chainAgeMs();
      return failClosedAfterMs > 0 && age > failClosedAfterMs ? age : undefined;
    };
    /** How long the chain has not been followed, for a message ("since the gateway started": never followed yet, its head stale from the start). */
    const blindFor = (age: number) => (Number.isFinite(age) ? `for ${Math.round(age / 1000)} s` : "since the gateway started");
    // Never followed yet: counted from the start (not +Inf).
    const startedAt = performance.now();
    metrics.chainReadAge = () => Math.max(0, Math.min(chainAgeMs(), performance.now() - startedAt) / 1000);
    metrics.unbatchedCharges = () => ledger.unbatched();
    if (ledger.leasing) metrics.leaseStats = () => ledger.leaseStats();

    const holderLimits = new Map<string, ReturnType<typeof limitsFor>>();
    const upstreamClient = new UpstreamClient();
    cleanup.unshift(() => upstreamClient.close());
    // The prefix-cache salts' key: from the gateway's own (every replica has it, so a holder's
    // requests share their prefixes on any replica), one-way (a salt reveals nothing of the key).
    const saltKey = createHash("sha256").update(`ctk gateway prefix-cache salt\n${config.chain.privateKey.toLowerCase()}`).digest();
    const proxy = new MeteredProxy({
      ledger,
      metrics,
      log,
      upstreams,
      upstreamClient,
      prices: () => prices,
      limitsFor: (holder) => {
        // The configuration does not change while the gateway runs: one lookup per holder.
        let limits = holderLimits.get(holder);
        if (!limits) {
          limits = limitsFor(config, holder);
          if (holderLimits.size >= 100_000) holderLimits.clear();
          holderLimits.set(holder, limits);
        }
        return limits;
      },
      replica: config.replica,
      cacheSalt: (holder, clientSalt) =>
        createHmac("sha256", saltKey)
          .update(`${holder.toLowerCase()}\n${clientSalt ?? ""}`)
          .digest("base64url"),
      maxBodyBytes: config.maxBodyBytes,
      logContent: config.logContent,
      refusal: () => {
        const age = chainBlind();
        if (age === undefined) return undefined;
        return new GatewayError(
          503,
          "server_error",
          "chain_unreachable",
          `the gateway has not been able to follow the chain ${blindFor(age)}, so it cannot see revocations: it serves no metered request until it can; nothing was charged`,
          { retryAfterS: 5 },
        );
      },
      now,
    });
    const server: Server = createGatewayServer({
      proxy,
      metrics,
      log,
      models: () => config.models.filter((m) => prices?.models.has(m.name)).map((m) => ({ id: m.name, maxOutputTokens: m.maxOutputTokens })),
      notReady: async () => {
        if (!prices) return "the price table is not loaded";
        const age = chainBlind();
        if (age !== undefined) {
          const stale = watcher.staleHead;
          return stale
            ? `the chain has not been followed ${blindFor(age)}: its node answers, but its head (block ${stale.block}) is ${Math.round(stale.ageMs / 1000)} s old (chain.maxHeadAgeMs ${config.chain.maxHeadAgeMs}); metered requests are refused`
            : `the chain has not been followed ${blindFor(age)} (read, and applied to the ledger; chain.failClosedAfterMs ${failClosedAfterMs}): metered requests are refused`;
        }
        let timer: NodeJS.Timeout | undefined;
        const answered = await Promise.race([
          // The cause is in the request path's logs, not in an answer anyone reaching /readyz reads.
          ledger.ping().then(
            () => undefined,
            () => "the ledger does not answer",
          ),
          new Promise<string>((resolve) => {
            timer = setTimeout(() => resolve("the ledger did not answer within 2 s"), 2_000);
          }),
        ]);
        clearTimeout(timer);
        return answered;
      },
      routes: {
        "/v1/keys": keyRoute({ client, ledger, gateway: address, maxBodyBytes: config.maxBodyBytes, now, log }),
      },
      getRoutes: { "/v1/usage": usageRoute({ proxy, ledger }) },
    });
    const port = await listen(server, config.port, config.host);
    cleanup.unshift(() => close(server));
    const url = `http://${config.host}:${port}`;
    log.info({ url, gateway: address, database: config.database.kind, models: config.models.map((m) => m.name) }, "gateway listening");

    let stopping: Promise<void> | undefined;
    return {
      port,
      url,
      address,
      ledger,
      settler,
      watcher,
      metrics,
      client,
      embedded,
      prices: () => prices,
      refreshBalances,
      stop(options = {}) {
        stopping ??= (async () => {
          await close(server);
          if (options.settle !== false) await settler.settleDue(true).catch((err) => log.warn({ err: (err as Error).message }, "final settlement failed"));
          for (const fn of cleanup.slice(1)) await fn().catch((err) => log.warn({ err: (err as Error).message }, "stop step failed"));
        })();
        return stopping;
      },
    };
  } catch (err) {
    for (const fn of cleanup) await fn().catch(() => undefined);
    throw err;
  }
}
