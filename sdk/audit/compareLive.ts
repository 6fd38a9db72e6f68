/**
 * Compares what the events say with what the contracts say now (at one block): every holder's
 * balance in every lot, lot supplies, classes and their lots, the allow-list, configuration,
 * redemptions, role memberships and the function → role wiring. Read-only calls only.
 */
import { concatHex, decodeAbiParameters, encodeAbiParameters, getAddress, type Address, type Hex, type PublicClient } from "viem";
import { REDEMPTIONS_READER_ARTIFACT, bytecodeOf } from "../deploy.js";
import { ROLES, RESTRICTED_FUNCTIONS, type RoleName, selectorsFor } from "../roles.js";
import { accessManagerAbi, computeTokenAbi } from "../generated/abi.js";
import { getRedemption, type Redemption, redemptionFromView } from "../redemptions.js";
import { getOrInsert } from "../getOrInsert.js";
import type { Finding, Lifecycle, Replay } from "./replay.js";
import { mapLimit } from "../limiter.js";

export interface LiveOptions {
  client: PublicClient;
  token: Address;
  manager: Address;
  /** The block every read is made at (the last block replayed). */
  blockNumber: bigint;
  /** Calls in flight at once (default 256; a batching transport sends them as few HTTP requests). */
  concurrency?: number;
  /** Where the compiled artifacts are (RedemptionsReader's creation code); default: this repository's. */
  artifactsDir?: string;
  /** Redemptions read per call (default READ_CHUNK). */
  readChunk?: number;
}

const fmt = (n: bigint | number) => n.toLocaleString("en-US");

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

const read =
  (o: LiveOptions) =>
  <const F extends string>(functionName: F, args: readonly unknown[] = []) =>
    // biome-ignore lint/suspicious/noExplicitAny: the result's type depends on the function name; each caller states it
    o.client.readContract({ address: o.token, abi: computeTokenAbi, functionName: functionName as never, args: args as never, blockNumber: o.blockNumber }) as Promise<any>;

const readManager =
  (o: LiveOptions) =>
  <const F extends string>(functionName: F, args: readonly unknown[] = []) =>
    // biome-ignore lint/suspicious/noExplicitAny: the result's type depends on the function name; each caller states it
    o.client.readContract({ address: o.manager, abi: accessManagerAbi, functionName: functionName as never, args: args as never, blockNumber: o.blockNumber }) as Promise<any>;

/** Every (holder, lot) pair the events touched: the chain's balance must equal the replayed one. */
export async function compareBalances(replay: Replay, o: LiveOptions): Promise<Finding[]> {
  const pairs: { holder: Address; lotId: bigint; expected: bigint }[] = [];
  for (const [holder, lots] of replay.balances) for (const [lotId, expected] of lots) pairs.push({ holder, lotId, expected });
  const findings: Finding[] = [];
  const call = read(o);
  await mapLimit(chunks(pairs, 250), Math.min(16, o.concurrency ?? 256), async (batch) => {
    const live = (await call("balanceOfBatch", [batch.map((p) => p.holder), batch.map((p) => p.lotId)])) as bigint[];
    batch.forEach((p, i) => {
      if (live[i] !== p.expected) {
        findings.push({ code: "balance", message: `${p.holder} holds ${fmt(live[i]!)} units of lot ${p.lotId} on chain; the events give ${fmt(p.expected)}` });
      }
    });
  });
  return findings;
}

/** getRedemption's result, as RedemptionsReader returns it for each id. */
const redemptionView = computeTokenAbi.find((f) => f.type === "function" && f.name === "getRedemption")!.outputs[0];
const readerResult = [{ type: "bool[]" }, { ...redemptionView, type: "tuple[]" }] as const;
/**
 * Redemptions read per call. The reader's result is returned as if it were deployed code, so it is
 * bound by the contract size limit (24,576 bytes, EIP-170): a view takes about 600 bytes with one lot.
 * A call refused (a redemption with many lots, or any node's error) is split in halves down to one id.
 */
const READ_CHUNK = 32;

/** RedemptionsReader's creation code, read from the artifacts once per directory. */
const readerCode = new Map<string | undefined, Hex>();

/**
 * Reads redemptions `ids` at the comparison's block, many per `eth_call`: the call runs
 * RedemptionsReader's creation code (never deployed), whose constructor returns every view.
 * `undefined` for an id the token does not know.
 */
async function readRedemptions(ids: readonly bigint[], o: LiveOptions): Promise<(Redemption | undefined)[]> {
  const code = getOrInsert(readerCode, o.artifactsDir, () => bytecodeOf(REDEMPTIONS_READER_ARTIFACT, o.artifactsDir));
  const readMany = async (part: readonly bigint[]): Promise<(Redemption | undefined)[]> => {
    if (part.length === 1) return [await getRedemption({ publicClient: o.client, address: o.token }, part[0]!, { blockNumber: o.blockNumber })];
    try {
      const { data } = await o.client.call({
        data: concatHex([code, encodeAbiParameters([{ type: "address" }, { type: "uint256[]" }], [o.token, part])]),
        blockNumber: o.blockNumber,
      });
      if (!data) throw new Error(`reading ${part.length} redemptions returned no data`);
      const [known, views] = decodeAbiParameters(readerResult, data);
      return views.map((v, i) => (known[i] ? redemptionFromView(part[i]!, v) : undefined));
    } catch {
      const half = Math.ceil(part.length / 2);
      return [...(await readMany(part.slice(0, half))), ...(await readMany(part.slice(half)))];
    }
  };
  const parts = await mapLimit(chunks(ids, o.readChunk ?? READ_CHUNK), o.concurrency ?? 256, readMany);
  return parts.flat();
}

/** A redemption as the chain stores it must equal its replayed lifecycle. */
export async function compareRedemptions(lifecycles: readonly Lifecycle[], o: LiveOptions): Promise<Finding[]> {
  const findings: Finding[] = [];
  const views = await readRedemptions(
    lifecycles.map((l) => l.id),
    o,
  );
  lifecycles.forEach((life, i) => {
    const v = views[i];
    if (!v) {
      findings.push({ code: "redemption", message: `redemption ${life.id} is in the events but the contract does not know it` });
      return;
    }
    const diffs: string[] = [];
    const status = v.status.toLowerCase();
    if (status !== life.status) diffs.push(`status ${status} (events: ${life.status})`);
    if (getAddress(v.holder) !== life.holder) diffs.push(`holder ${v.holder} (events: ${life.holder})`);
    if (v.classId !== life.classId) diffs.push(`class ${v.classId} (events: ${life.classId})`);
    if (v.gpus !== life.gpus) diffs.push(`gpus ${v.gpus} (events: ${life.gpus})`);
    if (v.reserved !== life.reserved) diffs.push(`reserved ${fmt(v.reserved)} (events: ${fmt(life.reserved)})`);
    if (v.used !== life.used) diffs.push(`used ${fmt(v.used)} (events: ${fmt(life.used)})`);
    if (v.specHash !== life.specHash) diffs.push(`specHash ${v.specHash} (events: ${life.specHash})`);
    if (BigInt(v.requestedAt) !== life.requestedAt) diffs.push(`requestedAt ${v.requestedAt} (events: ${life.requestedAt})`);
    const liveLots = v.lotIds.map((id, j) => `${id}:${v.amounts[j]}`).join(",");
    const replayLots = life.lots.map((s) => `${s.lotId}:${s.amount}`).join(",");
    if (liveLots !== replayLots) diffs.push(`lots [${liveLots}] (events: [${replayLots}])`);
    if (diffs.length) findings.push({ code: "redemption", message: `redemption ${life.id} differs on chain: ${diffs.join("; ")}` });
  });
  return findings;
}

/** Everything else: supplies, classes, lots, allow-list, configuration, roles. */
export async function compareState(replay: Replay, o: LiveOptions): Promise<Finding[]> {
  const findings: Finding[] = [];
  const push = (code: string, message: string) => findings.push({ code, message });
  const call = read(o);
  const manager = readManager(o);
  const limit = o.concurrency ?? 256;

  // Lot supplies and the total.
  const lotIds = [...replay.lotSupply.keys()];
  await mapLimit(lotIds, limit, async (lotId) => {
    const live = (await call("totalSupply", [lotId])) as bigint;
    const expected = replay.lotSupply.get(lotId)!;
    if (live !== expected) push("supply", `lot ${lotId} supply is ${fmt(live)} on chain; the events give ${fmt(expected)}`);
  });
  const total = [...replay.lotSupply.values()].reduce((s, v) => s + v, 0n);
  const liveTotal = (await call("totalSupply")) as bigint;
  if (liveTotal !== total) push("supply", `total supply is ${fmt(liveTotal)} on chain; the events give ${fmt(total)}`);

  // Classes and their lots.
  const classCount = Number(await call("classCount"));
  if (classCount !== replay.classes.size) push("class", `the contract has ${classCount} classes; the events define ${replay.classes.size}`);
  await mapLimit([...replay.classes.values()], limit, async (c) => {
    const [name, productLabel, memoryGiB, maxGpusPerJob, active] = (await call("getClass", [c.classId])) as [string, string, number, number, boolean];
    const diffs: string[] = [];
    if (name !== c.name) diffs.push(`name ${name} (events: ${c.name})`);
    if (productLabel !== c.productLabel) diffs.push(`product label ${productLabel} (events: ${c.productLabel})`);
    if (memoryGiB !== c.memoryGiB) diffs.push(`memory ${memoryGiB} GiB (events: ${c.memoryGiB})`);
    if (maxGpusPerJob !== c.maxGpusPerJob) diffs.push(`max GPUs ${maxGpusPerJob} (events: ${c.maxGpusPerJob})`);
    if (active !== c.active) diffs.push(`active ${active} (events: ${c.active})`);
    if (diffs.length) push("class", `class ${c.classId} differs on chain: ${diffs.join("; ")}`);
    const liveLots = ((await call("lotsOfClass", [c.classId])) as bigint[]).join(",");
    const lots = (replay.classLots.get(c.classId) ?? []).join(",");
    if (liveLots !== lots) push("lot", `class ${c.name} lots on chain [${liveLots}]; the events registered [${lots}]`);
  });

  // Allow-list.
  await mapLimit([...replay.holders.entries()], limit, async ([account, expected]) => {
    const live = (await call("isHolder", [account])) as boolean;
    if (live !== expected) push("allow-list", `${account} is ${live ? "" : "not "}on the allow-list on chain; the events say ${expected ? "it is" : "it is not"}`);
  });

  // Configuration.
  const multipliers = await mapLimit([0, 1, 2, 3], 4, (p) => call("priorityMultiplier", [p]) as Promise<number>);
  multipliers.forEach((bps, p) => {
    if (bps !== replay.multipliersBps[p]) push("config", `priority ${p} multiplier is ${bps} bps on chain; the events set ${replay.multipliersBps[p]}`);
  });
  const timeout = Number(await call("launchTimeout"));
  if (timeout !== replay.launchTimeout) push("config", `launch timeout is ${timeout} s on chain; the events set ${replay.launchTimeout}`);
  const { timestamp } = await o.client.getBlock({ blockNumber: o.blockNumber });
  await mapLimit([...replay.classValues.keys()], limit, async (classId) => {
    const [value] = (await call("classValue", [classId])) as [bigint, bigint, bigint];
    const expected = replay.classValueAt(classId, timestamp);
    if (value !== expected) push("config", `class ${classId}'s value is ${value} on chain; the events set ${expected}`);
  });
  await mapLimit([...replay.batchRefs], limit, async (ref) => {
    if (!((await call("batchGranted", [ref])) as boolean)) push("grant", `grant batch ${ref} is in the events but not marked granted on chain`);
  });
  const paused = (await call("paused")) as boolean;
  if (paused !== replay.paused) push("config", `the contract is ${paused ? "" : "not "}paused on chain; the events say ${replay.paused ? "paused" : "not paused"}`);
  const count = (await call("redemptionCount")) as bigint;
  if (count !== replay.lifecycles.redemptionCount) push("redemption", `the contract counts ${count} redemptions; the events request ${replay.lifecycles.redemptionCount}`);

  // Authority and roles.
  const authority = getAddress((await call("authority")) as Address);
  if (authority !== getAddress(o.manager)) push("roles", `ComputeToken's authority is ${authority}, not the deployment's AccessManager ${o.manager}`);
  if (replay.authority && getAddress(replay.authority) !== authority) push("roles", `authority is ${authority} on chain; the events set ${replay.authority}`);
  const memberChecks: { roleId: bigint; account: Address; expected: boolean }[] = [];
  const seen = new Set<string>();
  for (const [roleId, members] of replay.roles.roleMembers) {
    for (const [account, m] of members) {
      memberChecks.push({ roleId, account, expected: m.since <= replay.lastTimestamp });
      seen.add(`${roleId}:${account}`);
    }
  }
  for (const change of replay.roles.roleHistory) {
    if (change.action === "revoked" && !seen.has(`${change.roleId}:${change.account}`)) {
      memberChecks.push({ roleId: change.roleId, account: change.account, expected: false });
      seen.add(`${change.roleId}:${change.account}`);
    }
  }
  await mapLimit(memberChecks, limit, async (c) => {
    const [isMember] = (await manager("hasRole", [c.roleId, c.account])) as [boolean, number];
    if (isMember !== c.expected)
      push("roles", `${c.account} ${isMember ? "holds" : "does not hold"} role ${roleName(replay, c.roleId)} on chain; the events say it ${c.expected ? "does" : "does not"}`);
  });

  // Function → role wiring against sdk/roles.ts, from the events and on chain.
  const expected = new Map<Hex, { role: RoleName; fn: string }>();
  for (const role of Object.keys(RESTRICTED_FUNCTIONS) as RoleName[]) {
    const sels = selectorsFor(role);
    for (const [i, fn] of RESTRICTED_FUNCTIONS[role].entries()) expected.set(sels[i]!, { role, fn });
  }
  const selectors = new Set<Hex>([...expected.keys(), ...replay.roles.functionRoles.keys()]);
  await mapLimit([...selectors], limit, async (selector) => {
    const want = expected.get(selector);
    const wantRole = want ? ROLES[want.role] : ROLES.ADMIN;
    const fromEvents = replay.roles.functionRoles.get(selector) ?? ROLES.ADMIN;
    const live = (await manager("getTargetFunctionRole", [o.token, selector])) as bigint;
    const label = want ? `${want.fn} (${selector})` : selector;
    if (fromEvents !== wantRole) push("roles", `${label} is callable by role ${roleName(replay, fromEvents)}; sdk/roles.ts says ${roleName(replay, wantRole)}`);
    if (live !== fromEvents) push("roles", `${label} requires role ${roleName(replay, live)} on chain; the events set ${roleName(replay, fromEvents)}`);
  });
  const closed = (await manager("isTargetClosed", [o.token])) as boolean;
  if (closed !== replay.roles.targetClosed)
    push("roles", `ComputeToken is ${closed ? "closed" : "open"} on chain; the events say ${replay.roles.targetClosed ? "closed" : "open"}`);
  if (closed) push("roles", "ComputeToken is closed by its AccessManager: no restricted function can be called");
  return findings;
}

/** A role's label from the events, else its id. */
export function roleName(replay: Replay, roleId: bigint): string {
  const label = replay.roles.roleLabels.get(roleId);
  if (label) return label;
  if (roleId === ROLES.ADMIN) return "ADMIN";
  if (roleId === 2n ** 64n - 1n) return "PUBLIC";
  return `#${roleId}`;
}
