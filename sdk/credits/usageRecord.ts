/**
 * Usage records: one JSON line per metered request, the evidence behind every on-chain
 * `settleUsage` batch. The gateway writes them, the holder reads theirs (`ctk credits usage`), the
 * auditor recomputes every charge from them and the on-chain prices and checks each batch's root
 * (`ctk audit verify --usage <dir>`).
 *
 * - A record's line is its fields in the fixed order of {@link USAGE_RECORD_FIELDS}, as compact JSON.
 * - leaf = keccak256(utf-8 bytes of the line)
 * - usageRoot = binary Merkle root over the leaves in the batch's order: each level hashes
 *   keccak256(left ‖ right) pairwise, an odd last node moves up unchanged; one leaf is its own root.
 * - batchId = keccak256(abi.encode("ctk.usage.v1", chainId, inferenceCredit, gateway, priceVersion, usageRoot)):
 *   deterministic, so a batch recorded before a crash is re-sent under the same id and lands once.
 * - A batch's file is `<batchId>.jsonl` (its records, in order).
 */
import { type Address, type Hex, bytesToHex, encodeAbiParameters, getAddress, keccak256 } from "viem";
import { z } from "zod";
import { CtkError, firstIssue } from "../ctkError.js";

export const USAGE_PRIORITIES = ["low", "normal", "high", "urgent"] as const;

const uint = z.string().regex(/^\d+$/, "must be a non-negative integer in decimal");

export const usageRecordSchema = z
  .object({
    requestId: z.string().min(1),
    keyId: z.string().min(1),
    holder: z.string().regex(/^0x[0-9a-fA-F]{40}$/),
    /** The authorization's nonce (the authorization is holder + gateway + nonce). */
    nonce: uint,
    model: z.string().min(1),
    tokensIn: z.number().int().min(0),
    tokensOut: z.number().int().min(0),
    priority: z.enum(USAGE_PRIORITIES),
    priceVersion: uint,
    /** Base units charged. */
    charge: uint,
    /** Base units held before the request (the charge never exceeds it). */
    hold: uint,
    /** How the request ended: ok | disconnect | upstream_error | timeout. */
    ending: z.string().min(1),
    startedAt: z.string().datetime(),
    finishedAt: z.string().datetime(),
  })
  .strict();

export type UsageRecord = z.infer<typeof usageRecordSchema>;

/** A record as the gateway's `GET /v1/usage` returns it: with its batch, and whether that batch has settled. */
export type UsageRecordView = UsageRecord & { batchId: string | null; settled: boolean };

/** One `GET /v1/usage` answer: a page of records, newest first; `nextBefore` asks for the next (older) page, null on the last. */
export type UsagePage = { holder: string; records: UsageRecordView[]; nextBefore: string | null };

/** `GET /v1/usage` pages: records per page when none is asked for, and the most one page holds. */
export const USAGE_DEFAULT_LIMIT = 500;
export const USAGE_MAX_LIMIT = 1000;

export const USAGE_RECORD_FIELDS = Object.keys(usageRecordSchema.shape) as (keyof UsageRecord)[];

/** The record's canonical line (fixed field order, no trailing newline). */
export function usageRecordLine(r: UsageRecord): string {
  const ordered: Record<string, unknown> = {};
  for (const k of USAGE_RECORD_FIELDS) ordered[k] = r[k];
  return JSON.stringify(ordered);
}

export class UsageRecordError extends CtkError {
  constructor(message: string) {
    super(message);
    this.name = "UsageRecordError";
  }
}

/** Parses one line; `where` names it in errors ("file.jsonl:3"). */
export function parseUsageRecord(line: string, where = "record"): UsageRecord {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch (err) {
    throw new UsageRecordError(`${where}: not JSON (${(err as Error).message})`);
  }
  const parsed = usageRecordSchema.safeParse(raw);
  if (!parsed.success) throw new UsageRecordError(`${where}: ${firstIssue(parsed.error, " ")}`);
  return parsed.data;
}

/** keccak256 of bytes, as bytes: viem's (noble's, in JavaScript) until {@link loadFastUsageHashing} swaps in WebAssembly's. */
let keccakBytes = (data: Uint8Array): Uint8Array => keccak256(data, "bytes");
let fastHashing: Promise<boolean> | undefined;

/**
 * Loads keccak256 in WebAssembly (`hash-wasm`) for {@link usageRoot}: a 500-record root in
 * about 1.4 ms instead of 20 (bench/RESULTS.md, session 10), the same root. Where it cannot load,
 * resolves false and the JavaScript keccak stays. The settler's hashing thread and the auditor call
 * it once before hashing.
 */
export function loadFastUsageHashing(): Promise<boolean> {
  fastHashing ??= import("hash-wasm")
    .then(async ({ createKeccak }) => {
      const hasher = await createKeccak(256);
      keccakBytes = (data) => hasher.init().update(data).digest("binary");
      return true;
    })
    .catch(() => false);
  return fastHashing;
}

const utf8 = new TextEncoder();

const leaf = (line: string): Uint8Array => keccakBytes(utf8.encode(line));

export const usageLeaf = (line: string): Hex => bytesToHex(leaf(line));

/** The Merkle root of a batch's lines (see the module comment). */
export function usageRoot(lines: readonly string[]): Hex {
  if (lines.length === 0) throw new UsageRecordError("a batch needs at least one usage record");
  // Bytes throughout (hex only for the root): the conversions cost as much as the hashing.
  let level: Uint8Array[] = lines.map(leaf);
  const pair = new Uint8Array(64);
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) {
      if (i + 1 < level.length) {
        pair.set(level[i], 0);
        pair.set(level[i + 1], 32);
        next.push(keccakBytes(pair));
      } else next.push(level[i]);
    }
    level = next;
  }
  return bytesToHex(level[0]);
}

export function usageBatchId(p: { chainId: number; inferenceCredit: Address; gateway: Address; priceVersion: bigint; usageRoot: Hex }): Hex {
  return keccak256(
    encodeAbiParameters(
      [{ type: "string" }, { type: "uint256" }, { type: "address" }, { type: "address" }, { type: "uint64" }, { type: "bytes32" }],
      ["ctk.usage.v1", BigInt(p.chainId), getAddress(p.inferenceCredit), getAddress(p.gateway), p.priceVersion, p.usageRoot],
    ),
  );
}
