/**
 * `audit verify` end to end: fetch the deployment's logs from its deploy block in bounded ranges,
 * replay them, compare with the live state at the last block replayed, check the bytecode and any
 * receipts given. Only read calls; works against any RPC URL.
 */
import type { Address, Hex, PublicClient } from "viem";
import type { Deployment } from "../deployment.js";
import { checkBytecode, type BytecodeCheck } from "./checkBytecode.js";
import { compareBalances, compareRedemptions, compareState, roleName, type LiveOptions } from "./compareLive.js";
import { groupByTransaction, UndecodableLogError } from "../logs/decodeLogs.js";
import { fetchLogRanges, type Progress, type RpcRequest } from "../logs/fetchLogRanges.js";
import { decodeAuditLog, type AuditEvent } from "./events.js";
import { loadReceipts, checkReceipts, type ReceiptFile } from "./receipts.js";
import { Replay, type Finding, type Lifecycle, type Movement, type RedemptionStatusWord, type RoleChange } from "./replay.js";

export interface ReplayRunOptions {
  client: PublicClient;
  deployment: Deployment;
  /** Last block to replay (default: the latest). */
  toBlock?: bigint;
  chunkBlocks?: bigint;
  /** How `eth_getLogs` is sent (default: `client.request`). Use an unbatched transport: log responses are large. */
  logRequest?: RpcRequest;
  onProgress?: (p: Progress) => void;
  onMovement?: (m: Movement) => void;
  /** Called with lifecycles as they reach a final state (they are then dropped from memory). */
  onTerminal?: (lifecycles: Lifecycle[]) => Promise<void> | void;
}

export interface ReplayRun {
  replay: Replay;
  head: { blockNumber: bigint; timestamp: bigint };
  decodeFindings: Finding[];
}

/** Fetches and replays the whole history (no live comparison): what report and statement use. */
export async function replayDeployment(opts: ReplayRunOptions): Promise<ReplayRun> {
  const { client, deployment } = opts;
  const head = opts.toBlock ?? (await client.getBlockNumber());
  const headBlock = await client.getBlock({ blockNumber: head });
  const replay = new Replay({ token: deployment.computeToken, manager: deployment.accessManager, onMovement: opts.onMovement });
  const decodeFindings: Finding[] = [];
  const request = opts.logRequest ?? (client.request.bind(client) as unknown as RpcRequest);
  for await (const range of fetchLogRanges({
    request,
    addresses: [deployment.accessManager, deployment.computeToken],
    fromBlock: BigInt(deployment.deployBlock),
    toBlock: head,
    chunkBlocks: opts.chunkBlocks,
    onProgress: opts.onProgress,
  })) {
    const events: AuditEvent[] = [];
    for (const log of range.logs) {
      if (log.removed) continue;
      try {
        events.push(decodeAuditLog(log, deployment.computeToken, deployment.accessManager));
      } catch (e) {
        if (!(e instanceof UndecodableLogError)) throw e;
        decodeFindings.push({ code: "event", message: e.message, blockNumber: BigInt(log.blockNumber), txHash: log.transactionHash });
      }
    }
    for (const tx of groupByTransaction(events)) replay.applyTransaction(tx);
    const done = replay.takeTerminal();
    if (done.length && opts.onTerminal) await opts.onTerminal(done);
  }
  // Time-dependent state (role grants with a delay, expiries) is judged at the last block replayed.
  if (headBlock.timestamp > replay.lastTimestamp) replay.lastTimestamp = headBlock.timestamp;
  return { replay, head: { blockNumber: head, timestamp: headBlock.timestamp }, decodeFindings };
}

export interface VerifyOptions extends Omit<ReplayRunOptions, "onTerminal"> {
  /** Where the compiled artifacts are (default: this repository's artifacts/). */
  artifactsDir?: string;
  /** Receipt files or directories to check against the on-chain receipt hashes. */
  receipts?: string[];
}

export interface VerifySummary {
  fromBlock: bigint;
  toBlock: bigint;
  headTimestamp: bigint;
  events: number;
  transactions: number;
  holders: number;
  lots: number;
  classes: { classId: number; name: string; active: boolean; supply: bigint }[];
  redemptions: Record<RedemptionStatusWord, number> & { total: bigint };
  balancesCompared: number;
  redemptionsCompared: number;
  receiptsChecked: number;
  bytecode: BytecodeCheck[];
}

export interface VerifyResult {
  ok: boolean;
  findings: Finding[];
  summary: VerifySummary;
  roleHistory: (RoleChange & { role: string })[];
  roleMembers: { role: string; roleId: bigint; members: Address[] }[];
  notes: string[];
}

export async function verifyDeployment(opts: VerifyOptions): Promise<VerifyResult> {
  const { client, deployment } = opts;
  const chainId = await client.getChainId();
  const findings: Finding[] = [];
  if (chainId !== deployment.chainId) {
    findings.push({ code: "deployment", message: `the RPC serves chain ${chainId}; the deployment file is for chain ${deployment.chainId}` });
  }
  const receipts: ReceiptFile[] = opts.receipts?.length ? loadReceipts(opts.receipts) : [];
  const wanted = new Set(receipts.map((r) => r.redemptionId));
  const recorded = new Map<bigint, { status: string; receiptHash?: Hex; txHash?: Hex }>();
  const remember = (l: Lifecycle) => {
    if (wanted.has(l.id)) recorded.set(l.id, { status: l.status, receiptHash: l.receiptHash, txHash: l.history.at(-1)?.txHash });
  };

  let live: LiveOptions | undefined;
  const head = opts.toBlock ?? (await client.getBlockNumber());
  const liveOpts = (): LiveOptions => (live ??= { client, token: deployment.computeToken, manager: deployment.accessManager, blockNumber: head, artifactsDir: opts.artifactsDir });
  const liveFindings: Finding[] = [];
  let redemptionsCompared = 0;
  let pending: Lifecycle[] = [];
  const flush = async (force: boolean) => {
    if (!pending.length || (!force && pending.length < 512)) return;
    const batch = pending;
    pending = [];
    redemptionsCompared += batch.length;
    liveFindings.push(...(await compareRedemptions(batch, liveOpts())));
  };

  const run = await replayDeployment({
    ...opts,
    toBlock: head,
    onTerminal: async (done) => {
      for (const l of done) remember(l);
      pending.push(...done);
      await flush(false);
    },
  });
  const { replay } = run;
  findings.push(...run.decodeFindings, ...replay.findings);

  // Redemptions still in flight are compared too.
  for (const l of replay.redemptions.values()) remember(l);
  pending.push(...replay.redemptions.values());
  await flush(true);
  const balanceFindings = await compareBalances(replay, liveOpts());
  const stateFindings = await compareState(replay, liveOpts());
  findings.push(...balanceFindings, ...liveFindings, ...stateFindings);

  const bytecode = await checkBytecode({
    client,
    token: deployment.computeToken,
    manager: deployment.accessManager,
    blockNumber: head,
    artifactsDir: opts.artifactsDir,
  });
  findings.push(...bytecode.findings);
  findings.push(...checkReceipts(receipts, recorded));

  let pairs = 0;
  for (const lots of replay.balances.values()) pairs += lots.size;
  const summary: VerifySummary = {
    fromBlock: BigInt(deployment.deployBlock),
    toBlock: head,
    headTimestamp: run.head.timestamp,
    events: replay.events,
    transactions: replay.transactions,
    holders: replay.holders.size,
    lots: replay.lots.size,
    classes: [...replay.classes.values()].map((c) => ({ classId: c.classId, name: c.name, active: c.active, supply: replay.classSupply(c.classId) })),
    redemptions: { ...replay.lifecycles.statusCounts, total: replay.lifecycles.redemptionCount },
    balancesCompared: pairs,
    redemptionsCompared,
    receiptsChecked: receipts.length,
    bytecode: bytecode.checks,
  };
  const roleIds = new Set<bigint>([...replay.roles.roleMembers.keys(), ...replay.roles.roleHistory.map((r) => r.roleId)]);
  return {
    ok: findings.length === 0,
    findings,
    summary,
    roleHistory: replay.roles.roleHistory.map((r) => ({ ...r, role: roleName(replay, r.roleId) })),
    roleMembers: [...roleIds]
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
      .map((roleId) => ({ role: roleName(replay, roleId), roleId, members: replay.membersOf(roleId, run.head.timestamp) })),
    notes: replay.roles.managerNotes,
  };
}
