/**
 * Checking usage receipts (the format: ../receipt.ts) against the chain: each file must be a
 * receipt of the schema the redeemer writes, and its keccak256 — over the file's exact bytes —
 * what the chain recorded in `RedemptionSettled.receiptHash`.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import type { Hex } from "viem";
import { receiptHashOf, receiptProblem } from "../receipt.js";
import type { Finding } from "./replay.js";
import { FileError } from "../ctkError.js";

export interface ReceiptFile {
  file: string;
  redemptionId: bigint;
  hash: Hex;
  /** Why the file is not a usage receipt of the schema (undefined when it is one). */
  problem?: string;
}

export class ReceiptFileError extends FileError {
  constructor(file: string, detail: string) {
    super("receipt", file, detail);
  }
}

/**
 * The redemption a receipt is for — its `redemptionId` field, else a number in its file name — and
 * what is wrong with it as a receipt, if anything.
 */
function readReceipt(file: string, bytes: Buffer): { redemptionId: bigint; problem?: string } {
  let json: Record<string, unknown> | undefined;
  let problem: string | undefined;
  try {
    json = JSON.parse(bytes.toString("utf8")) as Record<string, unknown>;
    problem = receiptProblem(json);
  } catch {
    problem = "not JSON";
  }
  const raw = json?.redemptionId ?? json?.id;
  if (typeof raw === "string" || typeof raw === "number" || typeof raw === "bigint") {
    try {
      return { redemptionId: BigInt(raw), problem };
    } catch {
      // not a number: fall back to the name
    }
  }
  const m = /(\d+)(?!.*\d)/.exec(path.basename(file));
  if (m) return { redemptionId: BigInt(m[1]!), problem };
  throw new ReceiptFileError(file, "names no redemption (no redemptionId field and no number in the file name)");
}

/** Reads receipt files; a directory contributes its *.json files. */
export function loadReceipts(paths: readonly string[]): ReceiptFile[] {
  const files: string[] = [];
  for (const p of paths) {
    let isDir = false;
    try {
      isDir = statSync(p).isDirectory();
    } catch {
      throw new ReceiptFileError(p, "not found");
    }
    if (!isDir) {
      files.push(p);
      continue;
    }
    for (const name of readdirSync(p).sort()) if (name.endsWith(".json")) files.push(path.join(p, name));
  }
  return files.map((file) => {
    const bytes = readFileSync(file);
    return { file, ...readReceipt(file, bytes), hash: receiptHashOf(bytes) };
  });
}

/** One finding per receipt that does not match what the chain recorded for its redemption. */
export function checkReceipts(receipts: readonly ReceiptFile[], recorded: ReadonlyMap<bigint, { status: string; receiptHash?: Hex; txHash?: Hex }>): Finding[] {
  const findings: Finding[] = [];
  for (const r of receipts) {
    if (r.problem) findings.push({ code: "receipt", message: `${r.file}: not a usage receipt of the redeemer's schema: ${r.problem}` });
    const onChain = recorded.get(r.redemptionId);
    if (!onChain) {
      findings.push({ code: "receipt", message: `${r.file}: redemption ${r.redemptionId} does not exist on chain` });
    } else if (!onChain.receiptHash) {
      findings.push({ code: "receipt", message: `${r.file}: redemption ${r.redemptionId} is ${onChain.status}, not settled: no receipt hash on chain` });
    } else if (onChain.receiptHash !== r.hash) {
      findings.push({
        code: "receipt",
        message: `${r.file}: redemption ${r.redemptionId} receipt hashes to ${r.hash}; the chain recorded ${onChain.receiptHash}${onChain.txHash ? ` (tx ${onChain.txHash})` : ""}`,
        txHash: onChain.txHash,
      });
    }
  }
  return findings;
}
