/**
 * The redeemer: watcher → redemption state machine → executor → settler, plus its HTTP API.
 *
 * `startRedeemer(config)` needs no database: on every start it rebuilds its work list from the
 * chain (every redemption's history, read from the deployment block at the confirmed depth, or
 * from a checkpoint's block on: redeemer/watcher/checkpoint.ts) and from the executor (the jobs
 * that exist), then carries on from there. Launching is idempotent
 * (job names derive from the redemption id) and every transaction is preceded by a read of the
 * redemption's on-chain status, so a crash at any moment leaves nothing done twice.
 */
import type { Chain, Transport } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { join } from "node:path";
import { type DestinationStream, pino, type Logger } from "pino";
import type { RedemptionEvent } from "../sdk/events.js";
import { listClasses } from "../sdk/classes.js";
import { chainTransport, createChainClient, createChainWalletClient, ctkChain, type CtkClient } from "../sdk/client.js";
import { accessManagerAbi, computeTokenAbi } from "../sdk/generated/abi.js";
import { CtkError } from "../sdk/ctkError.js";
import { ChainUnreachableError, isUnreachable } from "../sdk/errors.js";
import { backoffMs, sleep } from "../sdk/retry.js";
import { RedeemerMetrics } from "./engine/metrics.js";
import { publishedPolicy } from "./api/policyView.js";
import { createApi, listen } from "./api/server.js";
import type { RedeemerConfig } from "./config.js";
import { RedemptionEngine } from "./engine/redemptionEngine.js";
import type { Executor } from "./executor/types.js";
import { ReceiptStore } from "./settler/receiptStore.js";
import { Settler } from "./settler/settler.js";
import { TxSender, type TxSenderContext } from "./settler/txSender.js";
import { RedemptionBook } from "./state/redemptionBook.js";
import { ChainWatcher, type WatchPosition } from "./watcher/chainWatcher.js";
import { type Checkpoint, CheckpointUnusable, checkAgainstChain, openRedemptionOf, readCheckpoint, writeCheckpoint } from "./watcher/checkpoint.js";
import { lifecycleEvent, RedemptionArchive } from "./watcher/redemptionArchive.js";

export { loadRedeemerConfig, parseRedeemerConfig, type RedeemerConfig, type RedeemerConfigInput } from "./config.js";

export interface RedeemerDeps {
  /** Use this executor instead of building one from the configuration (it is not closed on stop). */
  executor?: Executor;
  /** JSON-RPC transport (tests inject faults); default the "service" preset (sdk/client.ts). */
  transport?: Transport;
  logger?: Logger;
  /** Where the JSON log lines go (default stdout); ignored when `logger` is given. */
  logStream?: DestinationStream;
  now?: () => number;
}

export interface Redeemer {
  /** The API's port. */
  port: number;
  /** Resolves once the history has been read and the redeemer acts on it. */
  ready: Promise<void>;
  book: RedemptionBook;
  engine: RedemptionEngine;
  metrics: RedeemerMetrics;
  executor: Executor;
  /** Whether this start resumed from a checkpoint (known once `ready`). */
  readonly fromCheckpoint: boolean;
  /** Graceful: stop watching, finish the actions in flight, close the API and the executor. */
  stop(): Promise<void>;
}

async function createExecutor(config: RedeemerConfig, log: Logger): Promise<Executor> {
  const warn = (message: string, details?: Record<string, unknown>) => log.warn({ executor: config.executor.kind, ...details }, message);
  if (config.executor.kind === "local") {
    const { LocalExecutor } = await import("./executor/local/index.js");
    return LocalExecutor.create(config.executor.local, { onWarning: (m) => warn(m) });
  }
  const [{ KubeConfig }, { createKubernetesExecutor }] = await Promise.all([import("@kubernetes/client-node"), import("./executor/kubernetes/index.js")]);
  const kubeConfig = new KubeConfig();
  if (config.executor.kubeconfig) kubeConfig.loadFromFile(config.executor.kubeconfig);
  else kubeConfig.loadFromDefault();
  return createKubernetesExecutor({ kubeConfig, config: config.executor.kubernetes, onWarning: warn });
}

/**
 * What the executor adds to the policy: the local executor runs only `allowedCommands` and needs a
 * command; Kubernetes runs any image's entrypoint. An injected executor may declare its own list.
 */
function executorPolicy(config: RedeemerConfig, injected?: Executor): { allowedCommands: readonly string[] | null; commandRequired: boolean } {
  if (injected) {
    const declared = (injected as { allowedCommands?: readonly string[] }).allowedCommands;
    return { allowedCommands: declared ?? null, commandRequired: declared !== undefined };
  }
  if (config.executor.kind === "kubernetes") return { allowedCommands: null, commandRequired: false };
  return { allowedCommands: config.executor.local.allowedCommands, commandRequired: true };
}

/** Where a job's output can be read: the local executor's log file, or the kubectl command. */
function jobLogLocator(config: RedeemerConfig, injected?: Executor): ((name: string) => string | undefined) | undefined {
  if (injected) return undefined;
  if (config.executor.kind === "local") {
    const dataDir = config.executor.local.dataDir;
    return (name) => join(dataDir, "logs", `${name}.log`);
  }
  const namespace = config.executor.kubernetes.namespace;
  return (name) => `kubectl logs -n ${namespace} job/${name}`;
}

export type { RedemptionEvent };

export async function startRedeemer(config: RedeemerConfig, deps: RedeemerDeps = {}): Promise<Redeemer> {
  const log = deps.logger ?? pino({ level: config.logLevel, base: { service: "ctk-redeemer" } }, deps.logStream ?? pino.destination(1));
  const now = deps.now ?? Date.now;
  const { deployment } = config;
  const chain: Chain = ctkChain(deployment.chainId, config.rpcUrl);
  const transport = deps.transport ?? chainTransport(config.rpcUrl, "service");
  const pollingInterval = Math.min(config.pollIntervalMs, 500);
  const publicClient = createChainClient(config.rpcUrl, "service", { chain, transport, pollingInterval });
  const account = privateKeyToAccount(config.privateKey);
  const walletClient = createChainWalletClient(config.rpcUrl, "service", account, { chain, transport, pollingInterval });

  const chainId = await publicClient.getChainId().catch((err: unknown) => {
    throw isUnreachable(err) ? new ChainUnreachableError(config.rpcUrl) : err;
  });
  if (chainId !== deployment.chainId) throw new CtkError(`the RPC endpoint is chain ${chainId}; the deployment is on chain ${deployment.chainId}`);
  // The hash of the deployment's block, published with the policy (sdk/policy.ts otherRedeemer): read once it is read.
  let deployHash: string | undefined;
  const deployBlockHash = async () => {
    deployHash ??= await publicClient
      .getBlock({ blockNumber: BigInt(deployment.deployBlock) })
      .then((b) => b.hash ?? undefined)
      .catch(() => undefined);
    return deployHash;
  };

  const ownsExecutor = !deps.executor;
  const executor = deps.executor ?? (await createExecutor(config, log));
  const receipts = new ReceiptStore(config.receiptsDir);
  await receipts.init();

  const policy = { ...config.policy, ...executorPolicy(config, deps.executor) };
  const classReader = {
    rpcUrl: config.rpcUrl,
    deployment,
    chain,
    publicClient,
    computeToken: { address: deployment.computeToken, abi: computeTokenAbi },
    accessManager: { address: deployment.accessManager, abi: accessManagerAbi },
  } as unknown as CtkClient;
  const machineConfig = {
    policy,
    executorKind: executor.kind,
    maxLaunchAttempts: config.launch.maxAttempts,
    backoff: { baseMs: config.retry.baseMs, maxMs: config.retry.maxMs },
  };
  const book = new RedemptionBook(machineConfig, { keepDone: config.keepDone });
  const metrics = new RedeemerMetrics(() => book);
  const address = deployment.computeToken;
  const sender = new TxSender({ publicClient, walletClient, address } as TxSenderContext, {
    receiptTimeoutMs: config.tx.receiptTimeoutMs,
    // Receipts are polled less eagerly than the head: many may be awaited at once.
    pollingIntervalMs: Math.max(100, Math.min(config.pollIntervalMs * 2, 1_000)),
  });
  const settler = new Settler({
    chain: { publicClient, address },
    sender,
    receipts,
    chainId,
    contract: address,
    executorKind: executor.kind,
    claimBatch: { maxBatch: config.tx.claimBatch, maxInFlight: config.tx.claimBatchesInFlight },
    now,
    onTransaction: (...tx) => {
      if (tx[0] === "markRunningBatch") metrics.claimBatchSeconds.observe(tx[4] / 1000);
    },
  });
  const engine = new RedemptionEngine({
    book,
    executor,
    settler,
    log,
    metrics,
    launchConcurrency: config.launch.concurrency,
    txConcurrency: config.tx.concurrency,
    now,
  });

  const deployBlock = BigInt(deployment.deployBlock);
  let checkpointUsed = false;
  let checkpointWrite: Promise<void> | undefined;
  let lastCheckpointAt = 0;
  const checkpointOf = (position: WatchPosition): Checkpoint => {
    const { statuses, counts } = book.doneStatuses();
    const open: Checkpoint["open"] = [];
    for (const r of book.all()) {
      const o = openRedemptionOf(r);
      if (o && o !== "done") open.push(o);
    }
    return { chainId, contract: address, deployBlock, position, done: counts, doneStatuses: statuses, open };
  };
  const saveCheckpoint = (position: WatchPosition): Promise<void> => {
    lastCheckpointAt = Date.now();
    const write: Promise<void> = writeCheckpoint(config.checkpoint.file, checkpointOf(position))
      .catch((err: unknown) => {
        log.warn({ err: (err as Error).message, file: config.checkpoint.file }, "writing the checkpoint failed");
      })
      .finally(() => {
        if (checkpointWrite === write) checkpointWrite = undefined;
      });
    checkpointWrite = write;
    return write;
  };

  const watcher = new ChainWatcher({
    publicClient,
    // The history streamed from the node (unless a transport was given: tests, other clients).
    ...(!deps.transport && { rpcUrl: config.rpcUrl }),
    address,
    deployBlock,
    confirmations: config.confirmations,
    pollIntervalMs: config.pollIntervalMs,
    maxBlockRange: BigInt(config.maxBlockRange),
    onBatch: (batch) => {
      const at = now();
      // Lifecycle first: a redemption already over is never checked or launched.
      for (const e of batch.lifecycle) engine.dispatch(lifecycleEvent(e, at));
      for (const request of batch.requests) engine.dispatch({ type: "requested", request, at });
    },
    onWarning: (message, details) => {
      metrics.chainErrors.inc({ operation: "watch" });
      log.warn(details ?? {}, message);
    },
    onHead: (head, safe) => {
      metrics.headBlock.set(Number(head));
      metrics.confirmedBlock.set(Number(safe < 0n ? 0n : safe));
    },
    onSynced: (position) => {
      if (config.checkpoint.enabled && !checkpointWrite && Date.now() - lastCheckpointAt >= config.checkpoint.intervalMs) void saveCheckpoint(position);
    },
  });

  const archive = new RedemptionArchive({
    publicClient,
    address,
    deployBlock,
    maxBlockRange: BigInt(config.maxBlockRange),
    confirmedBlock: () => watcher.cursor,
    requestOf: (e) => watcher.requestOf(e),
    config: machineConfig,
    job: (id) => executor.get(id),
  });
  // Memory holds every confirmed redemption unless some were dropped or came before a checkpoint.
  const partial = () => {
    const d = book.droppedCount;
    return checkpointUsed || d.settled + d.rejected + d.reclaimed > 0;
  };

  const unwatch = executor.watch((state) => engine.dispatch({ type: "jobObserved", state, at: now() }));

  let stopping = false;
  const api = await listen(
    createApi({
      book,
      receipts,
      metrics,
      contract: address,
      log,
      jobLog: jobLogLocator(config, deps.executor),
      policy: async () => publishedPolicy(policy, executor.kind, await listClasses(classReader), { computeToken: address, chainId, deployBlockHash: await deployBlockHash() }),
      archive: {
        get: async (id) => (partial() ? archive.get(id) : undefined),
        ofHolder: async (holder) => (partial() ? archive.ofHolder(holder, (id) => book.get(id) !== undefined) : []),
      },
      readiness: [
        { name: "chain", check: async () => (await publicClient.getBlockNumber({ cacheTime: 0 })) >= 0n },
        { name: "executor", check: () => executor.ping() },
        { name: "history", check: async () => watcher.isSynced },
      ],
    }),
    config.api.host,
    config.api.port,
  ).catch(async (err) => {
    unwatch();
    if (ownsExecutor) await executor.close();
    throw err;
  });

  const reconcile = async () => {
    try {
      for (const state of await executor.list()) engine.dispatch({ type: "jobObserved", state, at: now() });
    } catch (err) {
      metrics.executorErrors.inc({ operation: "list" });
      log.warn({ err: (err as Error).message }, "listing the executor's jobs failed");
      throw err;
    }
  };

  /** Resume after the checkpoint's block if it can be trusted; otherwise say why and read everything. */
  const restoreCheckpoint = async (): Promise<void> => {
    const file = config.checkpoint.file;
    try {
      const checkpoint = await readCheckpoint(file);
      if (!checkpoint) return;
      const safe = (await publicClient.getBlockNumber({ cacheTime: 0 })) - BigInt(config.confirmations);
      await checkAgainstChain(checkpoint, {
        chainId,
        contract: address,
        deployBlock,
        safeBlock: safe,
        blockHash: async (blockNumber) => (await publicClient.getBlock({ blockNumber }).catch(() => undefined))?.hash ?? undefined,
      });
      const at = now();
      book.restoreDone(checkpoint.doneStatuses, at);
      for (const o of checkpoint.open) {
        if (o.status === "Running") {
          engine.dispatch({
            type: "chainStatus",
            id: o.request.id,
            status: "Running",
            at,
            source: "log",
            ...(o.runningTx && { txHash: o.runningTx }),
            ...(o.jobRef && { jobRef: o.jobRef }),
          });
        }
      }
      watcher.restore({ ...checkpoint.position, requests: checkpoint.open.map((o) => o.request) });
      checkpointUsed = true;
      log.info({ file, block: checkpoint.position.block.toString(), open: checkpoint.open.length }, "starting from the checkpoint");
    } catch (err) {
      const reason = err instanceof CheckpointUnusable ? err.message : `checking it failed: ${(err as Error).message}`;
      log.warn({ file, reason }, "checkpoint not used: reading the history from the deployment block");
    }
  };

  let reconcileTimer: NodeJS.Timeout | undefined;
  const ready = (async () => {
    if (config.checkpoint.enabled) await restoreCheckpoint();
    // Rebuild: the executor's jobs, then the chain's history; only then decide anything.
    book.historyRead = true;
    for (let attempt = 1; !stopping; attempt++) {
      try {
        await reconcile();
        await watcher.sync();
        break;
      } catch (err) {
        log.warn({ err: (err as Error).message, attempt }, "start-up rebuild failed; retrying");
        await sleep(backoffMs(attempt, { baseMs: 400, maxMs: 5_000 }));
      }
    }
    book.historyRead = false;
    if (stopping) return;
    engine.resume();
    watcher.start();
    reconcileTimer = setInterval(() => void reconcile().catch(() => {}), config.reconcileIntervalMs);
    reconcileTimer.unref();
    const d = book.droppedCount;
    log.info(
      {
        redemptions: book.size + d.settled + d.rejected + d.reclaimed,
        inMemory: book.size,
        open: book.open().length,
        confirmedBlock: watcher.cursor.toString(),
        fromCheckpoint: checkpointUsed,
      },
      "redeemer ready",
    );
  })();
  ready.catch(() => {});

  log.info({ port: api.port, chainId, contract: address, redeemer: account.address, executor: executor.kind, confirmations: config.confirmations }, "redeemer started");

  return {
    port: api.port,
    ready,
    book,
    engine,
    metrics,
    executor,
    get fromCheckpoint() {
      return checkpointUsed;
    },
    async stop() {
      if (stopping) return;
      stopping = true;
      clearInterval(reconcileTimer);
      await watcher.stop();
      await ready.catch(() => {});
      unwatch();
      await engine.stop();
      // A last checkpoint, if the last read of the chain was complete (a read cut short leaves the previous one).
      const position = watcher.position;
      if (config.checkpoint.enabled && watcher.isSynced && position && position.block === watcher.cursor) {
        await checkpointWrite;
        await saveCheckpoint(position);
      }
      await api.close();
      if (ownsExecutor) await executor.close();
      log.info("redeemer stopped");
    },
  };
}
