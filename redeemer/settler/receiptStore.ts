/**
 * Receipts on disk: `<dir>/<redemption id>.json`, written atomically (temporary file, fsync,
 * rename), never rewritten once a settle may have carried its hash: a receipt already on disk
 * for the same contract and redemption is reused byte for byte.
 */
import { mkdir, readFile } from "node:fs/promises";
import { writeFileAtomic } from "../../sdk/atomicFile.js";
import { join } from "node:path";
import type { Address, Hex } from "viem";
import { encodeReceipt, receiptHashOf, type UsageReceipt, usageReceiptSchema } from "../../sdk/receipt.js";

export interface StoredReceipt {
  receipt: UsageReceipt;
  bytes: Uint8Array;
  hash: Hex;
  path: string;
}

export class ReceiptStore {
  constructor(readonly dir: string) {}

  pathOf(id: bigint): string {
    return join(this.dir, `${id.toString()}.json`);
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  /** The stored receipt of a redemption of this contract, or undefined. */
  async read(id: bigint, contract?: Address): Promise<StoredReceipt | undefined> {
    const path = this.pathOf(id);
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await readFile(path));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      return undefined; // torn: it will be replaced
    }
    // Every receipt this redeemer writes passes the schema; one that does not is foreign or damaged
    // and was never carried by a settle (the hash is taken of what writeOnce wrote): replace it.
    const checked = usageReceiptSchema.safeParse(parsed);
    if (!checked.success) return undefined;
    const receipt = checked.data;
    if (receipt.redemptionId !== id.toString()) return undefined;
    if (contract && receipt.contract?.toLowerCase() !== contract.toLowerCase()) return undefined;
    return { receipt, bytes, hash: receiptHashOf(bytes), path };
  }

  /** Writes the receipt unless one for this redemption is already there; returns what is on disk. */
  async writeOnce(id: bigint, receipt: UsageReceipt): Promise<StoredReceipt> {
    const existing = await this.read(id, receipt.contract);
    if (existing) return existing;
    const bytes = encodeReceipt(receipt);
    const path = this.pathOf(id);
    await writeFileAtomic(path, bytes);
    return { receipt, bytes, hash: receiptHashOf(bytes), path };
  }
}
