/** The dry-run totals of a credit-grant file (totalsByBucket, sdk/credits/grants.ts): per expiry bucket, and overall. Pure. */
import { readFileSync } from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { parseCreditGrantsCsv, totalsByBucket } from "../../sdk/credits/grants.js";
import { parseCredits } from "../../sdk/credits/units.js";
import { parseExpiry } from "../../sdk/format.js";
import { ROOT } from "../support/cli.js";

describe("credit grant totals (totalsByBucket, sdk/credits/grants.ts)", () => {
  it("totals examples/credits.csv per expiry and policy, soonest first, counting each recipient once", () => {
    const { rows, problems } = parseCreditGrantsCsv(readFileSync(path.join(ROOT, "examples", "credits.csv"), "utf8"));
    expect(problems).to.deep.equal([]);
    const buckets = totalsByBucket(rows);
    expect(buckets).to.deep.equal([
      { expiresAt: parseExpiry("2030-06-30"), transferable: true, rows: 1, recipients: 1, amount: parseCredits("20") },
      { expiresAt: parseExpiry("2030-12-31"), transferable: false, rows: 2, recipients: 2, amount: parseCredits("150") },
    ]);
  });

  it("keeps two policies of one expiry apart (soulbound first) and counts a wallet once whatever its case", () => {
    const csv = [
      "employee_id,wallet,credits,expires_at,transferable",
      "E1,0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc,1.5,2031-01-01,true",
      "E1,0x9965507d1a55bcc2695c58ba16fb37d819b0a4dc,2,2031-01-01,false",
      "E2,0x976EA74026E726554dB657fA54763abd0C3a0aa9,0.25,2031-01-01,false",
    ].join("\n");
    const { rows, problems } = parseCreditGrantsCsv(csv);
    expect(problems).to.deep.equal([]);
    const buckets = totalsByBucket(rows);
    expect(buckets.map((b) => [b.transferable, b.rows, b.recipients, b.amount])).to.deep.equal([
      [false, 2, 2, parseCredits("2.25")],
      [true, 1, 1, parseCredits("1.5")],
    ]);
    expect(totalsByBucket([])).to.deep.equal([]);
  });
});
