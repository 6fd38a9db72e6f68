/**
 * Usage receipts: the redeemer's JSON account of a settled job, whose keccak256 the chain records
 * in `RedemptionSettled.receiptHash`. The hash is over the file's exact bytes.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { keccak256, type Hex } from "viem";
import type { Finding } from "./replay.js";
import { CtkError } from "../ctkError.js";

export interface ReceiptFile {
  file: string;
  redemptionId: bigint;
  hash: Hex;
}

export class ReceiptFileError extends CtkError {
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`receipt ${file}: ${detail}`);
    this.name = "ReceiptFileError";
  }
}

/** The redemption a receipt is for: its `redemptionId` (or `id`) field, else a number in its file name. */
function redemptionIdOf(file: string, bytes: Buffer): bigint {
  try {
    const json = JSON.parse(bytes.toString("utf8")) as Record<string, unknown>;
    const raw = json.redemptionId ?? json.id;
    if (typeof raw === "string" || typeof raw === "number" || typeof raw === "bigint") return BigInt(raw);
  } catch {
    // not JSON: fall back to the name
  }
  const m = /(\d+)(?!.*\d)/.exec(path.basename(file));
  if (m) return BigInt(m[1]!);
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
    return { file, redemptionId: redemptionIdOf(file, bytes), hash: keccak256(bytes) };
  });
}

/** One finding per receipt that does not match what the chain recorded for its redemption. */
export function checkReceipts(
  receipts: readonly ReceiptFile[],
  recorded: ReadonlyMap<bigint, { status: string; receiptHash?: Hex; txHash?: Hex }>,
): Finding[] {
  const findings: Finding[] = [];
  for (const r of receipts) {
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
