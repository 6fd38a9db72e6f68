/** The Lorenz curve and Gini coefficient of consumption per month (sdk/audit/inequality.ts). */
import { expect } from "chai";
import { consumptionInequality, giniCoefficient, lorenzCurve } from "../../sdk/audit/inequality.js";

describe("consumption inequality: Lorenz curve and Gini coefficient", () => {
  it("is 0 when everyone used the same and (n − 1)/n when one person used everything", () => {
    expect(giniCoefficient([5n, 5n, 5n, 5n])).to.equal(0);
    expect(giniCoefficient([0n, 0n, 0n, 36n])).to.equal(0.75);
    expect(giniCoefficient([1n, 2n, 3n, 4n])).to.equal(0.25);
  });

  it("is undefined when nobody used anything, and the curve is then empty", () => {
    expect(giniCoefficient([])).to.equal(null);
    expect(giniCoefficient([0n, 0n])).to.equal(null);
    expect(lorenzCurve([0n, 0n])).to.deep.equal([]);
  });

  it("draws the curve from (0, 0) to (1, 1), least consumers first, whatever the input order", () => {
    expect(lorenzCurve([3n, 1n])).to.deep.equal([
      { population: 0, share: 0 },
      { population: 0.5, share: 0.25 },
      { population: 1, share: 1 },
    ]);
  });

  it("counts, each month, every holder granted or given hours by then, with zero for those who used none", () => {
    const z = { consumed: 0n, granted: 0n, received: 0n };
    const months = consumptionInequality(
      [
        { holder: "0xa", months: { "2026-01": { ...z, granted: 100n }, "2026-02": { ...z, consumed: 30n } } },
        { holder: "0xb", months: { "2026-01": { ...z, granted: 100n, consumed: 10n } } },
        { holder: "0xc", months: { "2026-02": { ...z, received: 5n } } },
      ],
      ["2026-02", "2026-01"],
    );
    expect(months.map((m) => [m.month, m.holders, m.consumption])).to.deep.equal([
      ["2026-01", 2, [0n, 10n]],
      ["2026-02", 3, [0n, 0n, 30n]],
    ]);
    expect(months[0]!.gini).to.equal(0.5);
    expect(months[1]!.gini).to.equal(0.666666); // 2/3, to six places (rounded down)
  });
});
