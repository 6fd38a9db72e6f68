/**
 * The redeemer's checkpoint: a speed-up for start-up, never a source of truth.
 *
 * It says: "every redemption requested up to confirmed block B is over, except these open ones",
 * with B's hash, the class and multiplier context as of B, and the final status of each
 * redemption over by then (a byte per id, deflated: a job of one seen in the executor is then known
 * as over without a read) with their counts (for metrics). A restart that trusts it reads the chain from B + 1 only; the open ones'
 * requests (as the chain's logs carried them, with the context of their own block) are taken from
 * it and handed over after the lifecycle events that follow B, like any request of the history.
 *
 * It is written atomically (temporary file, fsync, rename) after a sync that read everything up
 * to the confirmed head, and carries a SHA-256 of its body. On start it is used only if it parses,
 * its digest matches, it is for the same chain, contract and deployment block, B is not above
 * the confirmed head and block B still has the hash it had: otherwise it is ignored (with a
 * warning) and the history is read from the deployment block, which reaches the same decisions.
 * B is always at least `confirmations` below the head it was read at, so a reorganisation below it
 * is ruled out by the confirmation depth, as for every log the redeemer reads.
 *
 * Only confirmed facts go in: a redemption counts as over only once a confirmed log says so (a
 * settle whose own receipt came back but whose log is not yet confirmed is still open here), and
 * an open one's status is the one its confirmed logs give.
 */
import { createHash } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import { writeFileAtomic } from "../../sdk/atomicFile.js";
import { dirname } from "node:path";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import { type Address, type Hash, type Hex, getAddress } from "viem";
import { z } from "zod";
import type { DoneCounts } from "../state/redemptionBook.js";
import type { RedemptionRecord, RedemptionRequest } from "../state/types.js";
import type { WatchPosition } from "./chainWatcher.js";

const hex = z.string().regex(/^0x[0-9a-fA-F]*$/);
const hash32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/);
const uint = z.string().regex(/^\d{1,78}$/);
const count = z.number().int().min(0);

const openSchema = z
  .object({
    id: uint,
    holder: z.string().regex(/^0x[0-9a-fA-F]{40}$/),
    classId: count,
    priority: z.number().int().min(0).max(3),
    gpus: count,
    seconds: count,
    reserved: uint,
    specHash: hash32,
    spec: hex,
    blockNumber: uint,
    transactionHash: hash32,
    hardwareClass: z.object({ name: z.string(), productLabel: z.string(), maxGpusPerJob: count }).strict().optional(),
    multiplierBps: count,
    /** The status its confirmed logs give. */
    status: z.enum(["Requested", "Running"]),
    runningTx: hash32.optional(),
    jobRef: hash32.optional(),
  })
  .strict();

const checkpointSchema = z
  .object({
    version: z.literal(1),
    chainId: count,
    contract: z.string().regex(/^0x[0-9a-fA-F]{40}$/),
    deployBlock: uint,
    block: uint,
    blockHash: hash32,
    context: z
      .object({
        classes: z.array(z.tuple([count, z.object({ name: z.string(), productLabel: z.string(), maxGpusPerJob: count, active: z.boolean() }).strict()])),
        multipliers: z.array(count),
      })
      .strict(),
    done: z.object({ settled: count, rejected: count, reclaimed: count }).strict(),
    /** The final status of every redemption over, one byte per id, deflated, base64. */
    doneStatuses: z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/),
    open: z.array(openSchema),
    writtenAt: z.string(),
  })
  .strict();

type CheckpointJson = z.infer<typeof checkpointSchema>;
type OpenJson = z.infer<typeof openSchema>;

/** An open redemption as a checkpoint restores it. */
export interface OpenRedemption {
  request: RedemptionRequest;
  status: "Requested" | "Running";
  runningTx?: Hash;
  jobRef?: Hex;
}

export interface Checkpoint {
  chainId: number;
  contract: Address;
  deployBlock: bigint;
  position: WatchPosition;
  /** Redemptions over by then: counts, and the final status of each (one byte per id; see RedemptionBook). */
  done: DoneCounts;
  doneStatuses: Uint8Array;
  open: OpenRedemption[];
}

/** Why a checkpoint file was not used. */
export class CheckpointUnusable extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "CheckpointUnusable";
  }
}

const digest = (body: string): string => createHash("sha256").update(body).digest("hex");

/** What a record in memory contributes: open (with its confirmed status), done, or nothing. */
export function openRedemptionOf(r: RedemptionRecord): OpenRedemption | "done" | undefined {
  const logged = r.logged ?? "None";
  if (logged === "Settled" || logged === "Rejected" || logged === "Reclaimed") return "done";
  if (!r.request) return undefined; // known only from the executor: listed again on start
  return {
    request: r.request,
    status: logged === "Running" ? "Running" : "Requested",
    ...(logged === "Running" && r.txs.running && { runningTx: r.txs.running }),
    ...(logged === "Running" && r.jobRef && { jobRef: r.jobRef }),
  };
}

function toJson(c: Checkpoint): CheckpointJson {
  return {
    version: 1,
    chainId: c.chainId,
    contract: c.contract,
    deployBlock: c.deployBlock.toString(),
    block: c.position.block.toString(),
    blockHash: c.position.hash,
    context: c.position.context,
    done: c.done,
    doneStatuses: deflateRawSync(c.doneStatuses).toString("base64"),
    open: c.open.map(({ request: q, status, runningTx, jobRef }) => ({
      id: q.id.toString(),
      holder: q.holder,
      classId: q.classId,
      priority: q.priority,
      gpus: q.gpus,
      seconds: q.seconds,
      reserved: q.reserved.toString(),
      specHash: q.specHash,
      spec: `0x${Buffer.from(q.specBytes.buffer, q.specBytes.byteOffset, q.specBytes.byteLength).toString("hex")}`,
      blockNumber: q.blockNumber.toString(),
      transactionHash: q.transactionHash,
      ...(q.hardwareClass && { hardwareClass: q.hardwareClass }),
      multiplierBps: q.multiplierBps,
      status,
      ...(runningTx && { runningTx }),
      ...(jobRef && { jobRef }),
    })),
    writtenAt: new Date().toISOString(),
  };
}

function fromJson(j: CheckpointJson): Checkpoint {
  const open = j.open.map(
    (o: OpenJson): OpenRedemption => ({
      request: {
        id: BigInt(o.id),
        holder: getAddress(o.holder),
        classId: o.classId,
        priority: o.priority,
        gpus: o.gpus,
        seconds: o.seconds,
        reserved: BigInt(o.reserved),
        specHash: o.specHash as Hex,
        specBytes: new Uint8Array(Buffer.from(o.spec.slice(2), "hex")),
        blockNumber: BigInt(o.blockNumber),
        transactionHash: o.transactionHash as Hash,
        ...(o.hardwareClass && { hardwareClass: o.hardwareClass }),
        multiplierBps: o.multiplierBps,
      },
      status: o.status,
      ...(o.runningTx && { runningTx: o.runningTx as Hash }),
      ...(o.jobRef && { jobRef: o.jobRef as Hex }),
    }),
  );
  return {
    chainId: j.chainId,
    contract: getAddress(j.contract),
    deployBlock: BigInt(j.deployBlock),
    position: { block: BigInt(j.block), hash: j.blockHash as Hex, context: j.context },
    done: j.done,
    doneStatuses: new Uint8Array(inflateRawSync(Buffer.from(j.doneStatuses, "base64"))),
    open,
  };
}

/** Writes the checkpoint atomically: temporary file, fsync, rename. */
export async function writeCheckpoint(file: string, c: Checkpoint): Promise<void> {
  const body = JSON.stringify(toJson(c));
  const text = `{"sha256":"${digest(body)}","checkpoint":${body}}\n`;
  await mkdir(dirname(file), { recursive: true });
  await writeFileAtomic(file, text);
}

/**
 * Reads a checkpoint file: undefined if there is none; CheckpointUnusable if it cannot be
 * trusted as written (torn, edited, another format). Whether it fits the chain is checked by the
 * caller (`checkAgainstChain`).
 */
export async function readCheckpoint(file: string): Promise<Checkpoint | undefined> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new CheckpointUnusable(`cannot read it: ${(err as Error).message}`);
  }
  const m = /^\{"sha256":"([0-9a-f]{64})","checkpoint":(.*)\}\n?$/s.exec(text);
  if (!m) throw new CheckpointUnusable("it is not a checkpoint file (torn or edited)");
  const body = m[2]!;
  if (digest(body) !== m[1]) throw new CheckpointUnusable("its SHA-256 does not match its content (torn or edited)");
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    throw new CheckpointUnusable("it is not valid JSON");
  }
  const parsed = checkpointSchema.safeParse(raw);
  if (!parsed.success) throw new CheckpointUnusable(`unexpected content: ${parsed.error.issues[0]?.path.join(".")} ${parsed.error.issues[0]?.message}`);
  try {
    return fromJson(parsed.data);
  } catch (err) {
    throw new CheckpointUnusable(`unexpected content: ${(err as Error).message}`);
  }
}

/** Throws CheckpointUnusable unless the checkpoint is for this deployment and its block is still on the chain. */
export async function checkAgainstChain(
  c: Checkpoint,
  expected: { chainId: number; contract: Address; deployBlock: bigint; safeBlock: bigint; blockHash: (block: bigint) => Promise<Hex | undefined> },
): Promise<void> {
  if (c.chainId !== expected.chainId) throw new CheckpointUnusable(`it is for chain ${c.chainId}, not ${expected.chainId}`);
  if (c.contract.toLowerCase() !== expected.contract.toLowerCase()) throw new CheckpointUnusable(`it is for contract ${c.contract}, not ${expected.contract}`);
  if (c.deployBlock !== expected.deployBlock) throw new CheckpointUnusable(`it is for a deployment at block ${c.deployBlock}, not ${expected.deployBlock}`);
  if (c.position.block < expected.deployBlock) throw new CheckpointUnusable(`its block ${c.position.block} is before the deployment`);
  if (c.position.block > expected.safeBlock) throw new CheckpointUnusable(`its block ${c.position.block} is above the confirmed head ${expected.safeBlock}`);
  const hash = await expected.blockHash(c.position.block);
  if (hash !== c.position.hash) throw new CheckpointUnusable(`block ${c.position.block} no longer has the hash it had (another chain, or reorganised)`);
}
