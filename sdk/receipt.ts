/**
 * The usage receipt: what the redeemer measured for one job, written as JSON to its receipts
 * directory before `settle`. keccak256 of the file's exact bytes is the `receiptHash` recorded
 * on-chain (`RedemptionSettled.receiptHash`), so anyone holding the file can check it against the
 * chain. The redeemer builds receipts of this schema (redeemer/settler/receipt.ts); the audit
 * reads them against it (sdk/audit/receipts.ts) and reports one that does not match as a finding.
 */
import { type Address, type Hex, keccak256 } from "viem";
import { z } from "zod";

export const RECEIPT_VERSION = 1;

const address = z.custom<Address>((v) => typeof v === "string" && /^0x[0-9a-fA-F]{40}$/.test(v), { message: "must be a 0x address" });
const units = z.string().regex(/^\d+$/, "must be a whole number of units, as a decimal string");

export const usageReceiptSchema = z
  .object({
    version: z.literal(RECEIPT_VERSION),
    chainId: z.number().int().positive(),
    /** The ComputeToken contract. */
    contract: address,
    redemptionId: units,
    holder: address,
    className: z.string().nullable(),
    gpuProduct: z.string().nullable(),
    priority: z.string(),
    executor: z.enum(["local", "kubernetes"]),
    jobName: z.string().min(1),
    node: z.string().nullable(),
    phase: z.enum(["pending", "running", "succeeded", "failed"]),
    exitCode: z.number().int().nullable(),
    reason: z.string().nullable(),
    /** Unix seconds; a preempted and resumed job has several. */
    segments: z.array(z.object({ start: z.number(), end: z.number().nullable(), node: z.string().nullable(), gpuProduct: z.string().nullable() })),
    gpus: z.number().int().positive(),
    allottedSeconds: z.number().int().nonnegative(),
    /** As measured by the executor. */
    gpuSeconds: z.number().nonnegative(),
    multiplierBps: z.number().int().nonnegative(),
    reservedUnits: units,
    usedUnits: units,
    refundedUnits: units,
    /** ISO-8601, when the receipt was written. */
    issuedAt: z.string().datetime(),
  })
  .refine((r) => ![r.usedUnits, r.refundedUnits, r.reservedUnits].every((u) => /^\d+$/.test(u)) || BigInt(r.usedUnits) + BigInt(r.refundedUnits) === BigInt(r.reservedUnits), {
    message: "usedUnits + refundedUnits must equal reservedUnits",
    path: ["refundedUnits"],
  });

export type UsageReceipt = z.infer<typeof usageReceiptSchema>;

/** The exact bytes written to disk and hashed. */
export function encodeReceipt(receipt: UsageReceipt): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(receipt, null, 2)}\n`);
}

/** The on-chain receiptHash of a receipt's bytes. */
export function receiptHashOf(bytes: Uint8Array): Hex {
  return keccak256(bytes);
}

/** What is wrong with a parsed JSON value as a receipt, in one line, or undefined when it is a receipt. */
export function receiptProblem(value: unknown): string | undefined {
  const result = usageReceiptSchema.safeParse(value);
  if (result.success) return undefined;
  return result.error.issues.map((i) => (i.path.length ? `${i.path.join(".")}: ${i.message}` : i.message)).join("; ");
}
