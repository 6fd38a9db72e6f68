import { expect } from "chai";
import { pickLots } from "../../sdk/pickLots.js";

describe("lot selection (sdk/pickLots.ts)", function () {
  const lot = (lotId: bigint, expiresAt: bigint, policy: "soulbound" | "transferable", balance: bigint) => ({ lotId, expiresAt, policy, balance, expired: false });
  const lots = [lot(1n, 300n, "transferable", 50n), lot(2n, 100n, "soulbound", 10n), lot(3n, 200n, "transferable", 20n), lot(4n, 50n, "transferable", 99n)];

  it("takes the soonest-expiring unexpired lots first", function () {
    expect(pickLots(lots, 40n, { now: 60n }).picks.map((p) => [p.lotId, p.amount])).to.deep.equal([
      [2n, 10n],
      [3n, 20n],
      [1n, 10n],
    ]);
  });

  it("skips soulbound lots for a transfer and says how much qualified when it is not enough", function () {
    expect(pickLots(lots, 30n, { now: 60n, transferableOnly: true }).picks.map((p) => p.lotId)).to.deep.equal([3n, 1n]);
    expect(pickLots(lots, 71n, { now: 60n, transferableOnly: true })).to.deep.equal({ picks: [], available: 70n });
  });

  it("respects the contract's limit on lots per redemption", function () {
    expect(pickLots(lots, 80n, { now: 60n, maxLots: 2 }).picks).to.deep.equal([]);
  });
});
