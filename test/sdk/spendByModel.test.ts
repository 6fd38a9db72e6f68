import { expect } from "chai";
import type { Hex } from "viem";
import type { CreditCharge } from "../../sdk/credits/audit.js";
import { spendByModel } from "../../sdk/credits/spendByModel.js";
import type { BatchedUsage } from "../../sdk/credits/verifyUsage.js";

const A = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc";
const B = "0x976EA74026E726554dB657fA54763abd0C3a0aa9";
const id = (n: number) => `0x${n.toString(16).padStart(64, "0")}` as Hex;
const record = (batch: number, auth: number, holder: string, model: string, charge: bigint): BatchedUsage => ({
  batchId: id(batch),
  authId: id(auth),
  holder: holder as BatchedUsage["holder"],
  model,
  tokensIn: 10,
  tokensOut: 5,
  charge,
});
const charge = (batch: number, auth: number, holder: string, requested: bigint, charged: bigint, day: string): CreditCharge => ({
  batchId: id(batch),
  authId: id(auth),
  holder: holder as CreditCharge["holder"],
  requested,
  charged,
  timestamp: BigInt(Date.parse(day) / 1000),
});

describe("credits spent per model (sdk/credits/spendByModel.ts)", () => {
  it("shares each on-chain charge over its records, in their order, in the settlement's month", () => {
    const usage = [
      record(1, 10, A, "llama", 300n),
      record(1, 10, A, "mistral", 200n),
      record(1, 20, B, "llama", 50n),
      record(2, 10, A, "llama", 400n),
      record(2, 10, A, "mistral", 100n),
    ];
    const charges = [
      charge(1, 10, A, 500n, 500n, "2026-11-30T23:00:00Z"),
      charge(1, 20, B, 50n, 50n, "2026-11-30T23:00:00Z"),
      // cut short by the cap: 450 of 500 taken; the batch's last record is paid 50 of 100
      charge(2, 10, A, 500n, 450n, "2026-12-01T01:00:00Z"),
    ];
    const s = spendByModel(usage, charges);
    expect(s.models.map((m) => [m.model, m.requests, m.requested, m.spent])).to.deep.equal([
      ["llama", 3, 750n, 750n],
      ["mistral", 2, 300n, 250n],
    ]);
    expect(s.models.reduce((t, m) => t + m.spent, 0n)).to.equal(charges.reduce((t, c) => t + c.charged, 0n));
    expect(s.holders.map((h) => [h.holder, h.month, h.model, h.requests, h.spent])).to.deep.equal([
      [B, "2026-11", "llama", 1, 50n],
      [A, "2026-11", "llama", 1, 300n],
      [A, "2026-11", "mistral", 1, 200n],
      [A, "2026-12", "llama", 1, 400n],
      [A, "2026-12", "mistral", 1, 50n],
    ]);
  });
});
