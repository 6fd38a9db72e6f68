/**
 * Per-row idempotency of grant runs, for any token that grants in batches under a `batchRef`
 * (ComputeToken's GPU-seconds, InferenceCredit's credits…).
 *
 * A payroll run has a name (`--run 2026-11`). A row of the run is identified by what lands on chain
 * for it: (recipient, token id, amount). Within one run that triple is unique (the file parsers
 * refuse a row that duplicates another), so it does not depend on the file's bytes (BOM, CRLF), on
 * how the rows are cut into chunks or on the other rows.
 *
 * A chunk's `batchRef` is `runTag(run) ‖ rowsDigest(rows)` (16 bytes each): the high half names the
 * run, so the batches of a run can be picked out of the token's batch events; the low half hashes
 * the chunk's rows, so the very same chunk can never land twice (the contract refuses a batchRef
 * twice, even from two runs racing). Which rows of a run already landed is read back from the chain:
 * the mints in the transactions of the run's batches ({@link matchLandedRows}). Nothing per row is
 * stored on chain: a storage slot per row would cost ≈ 22,000 gas per recipient, two thirds of a grant.
 *
 * This module is the pure half; grantRun.ts reads the landed rows back and sends the rest, for any token.
 */
import { type Address, type Hex, concatHex, getAddress, keccak256, sliceHex, stringToBytes } from "viem";
import { CtkError } from "./ctkError.js";

/** What one row of a grant run puts on chain. */
export interface GrantRowKey {
  recipient: Address;
  tokenId: bigint;
  amount: bigint;
}

/** A run name: 1..64 printable ASCII characters (e.g. `2026-11`, `payroll-2026-11-bonus`). */
export const RUN_NAME_RE = /^[\x21-\x7e][\x20-\x7e]{0,62}[\x21-\x7e]?$/;

export class InvalidRunName extends CtkError {
  constructor(readonly run: string) {
    super(`run name "${run}" must be 1 to 64 printable ASCII characters, not starting or ending with a space`);
    this.name = "InvalidRunName";
  }
}

/** The run name as used in keys; throws {@link InvalidRunName}. */
export function normalizeRunName(run: string): string {
  if (!RUN_NAME_RE.test(run) || run.length > 64) throw new InvalidRunName(run);
  return run;
}

/** 16 bytes naming a run: the first half of keccak256("grant-run:" + run). `domain` separates tokens. */
export function runTag(run: string, domain = "grant-run"): Hex {
  return sliceHex(keccak256(stringToBytes(`${domain}:${normalizeRunName(run)}`)), 0, 16);
}

/** A row's key as text: lower-case recipient, token id and amount. Equal keys are the same row of a run. */
export const grantRowKey = (row: GrantRowKey): string => `${row.recipient.toLowerCase()}:${row.tokenId}:${row.amount}`;

/** The batchRef of a chunk of a run: runTag ‖ first 16 bytes of keccak256 of its sorted row keys. */
export function chunkBatchRef(run: string, rows: readonly GrantRowKey[], domain?: string): Hex {
  const keys = rows.map(grantRowKey).sort().join("\n");
  return concatHex([runTag(run, domain), sliceHex(keccak256(stringToBytes(keys)), 0, 16)]);
}

/** Whether a batchRef belongs to the run. */
export const isBatchOfRun = (batchRef: Hex, run: string, domain?: string): boolean => batchRef.toLowerCase().startsWith(runTag(run, domain).toLowerCase());

/**
 * Splits a run's rows into those already on chain and those still to send. `landed` are the mints
 * of the run's batches (one entry per mint); matching is a multiset match on the row key, so a row
 * counts as landed only as many times as it was minted. `keyOf` gives a row's key (default: the row is one).
 */
export function matchLandedRows<R>(
  rows: readonly R[],
  landed: readonly GrantRowKey[],
  keyOf: (row: R) => GrantRowKey = (row) => row as GrantRowKey,
): { landed: R[]; pending: R[] } {
  const minted = new Map<string, number>();
  for (const m of landed) {
    const k = grantRowKey({ ...m, recipient: getAddress(m.recipient) });
    minted.set(k, (minted.get(k) ?? 0) + 1);
  }
  const out = { landed: [] as R[], pending: [] as R[] };
  for (const r of rows) {
    const k = grantRowKey(keyOf(r));
    const left = minted.get(k) ?? 0;
    if (left > 0) {
      minted.set(k, left - 1);
      out.landed.push(r);
    } else out.pending.push(r);
  }
  return out;
}

/**
 * Cuts rows into chunks that each fit a transaction: at most `maxRows` rows, and (when `gasOf`
 * estimates a chunk) at most `gasBudget` gas. A chunk over budget is halved until it fits; a single
 * row over budget is returned alone (sending it reports the node's error). With `groupOf`, rows of
 * different groups never share a chunk (InferenceCredit's grantBatch takes one expiry bucket): each
 * run of consecutive rows of one group is cut on its own. Rows keep their order.
 */
export async function chunkByGas<R>(
  rows: readonly R[],
  opts: { maxRows: number; gasBudget: bigint; gasOf?: (chunk: readonly R[]) => Promise<bigint>; groupOf?: (row: R) => string },
): Promise<R[][]> {
  const out: R[][] = [];
  const place = async (chunk: R[]): Promise<void> => {
    if (chunk.length > 1 && opts.gasOf && (await opts.gasOf(chunk)) > opts.gasBudget) {
      const half = Math.ceil(chunk.length / 2);
      await place(chunk.slice(0, half));
      await place(chunk.slice(half));
      return;
    }
    out.push(chunk);
  };
  const groups: R[][] = [];
  for (const r of rows) {
    const last = groups.at(-1);
    if (last && (!opts.groupOf || opts.groupOf(last[0]) === opts.groupOf(r))) last.push(r);
    else groups.push([r]);
  }
  for (const group of groups) for (let i = 0; i < group.length; i += opts.maxRows) await place(group.slice(i, i + opts.maxRows));
  return out;
}

/** EIP-7825's per-transaction gas cap, enforced by current clients (and Hardhat). */
export const TX_GAS_CAP = 16_777_216n;
/** Estimates are taken with this margin: a chunk is sent only if estimate × 1.25 fits the cap. */
export const GAS_MARGIN_PERCENT = 125n;
/** The most gas a chunk's estimate may show. */
export const CHUNK_GAS_BUDGET = (TX_GAS_CAP * 100n) / GAS_MARGIN_PERCENT;
