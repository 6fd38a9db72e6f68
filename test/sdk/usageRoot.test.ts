/**
 * The usage root's definition (sdk/credits/usageRecord.ts), computed independently here with
 * viem's hex helpers: the same root from the JavaScript keccak and, once loaded, the WebAssembly one.
 */
import { expect } from "chai";
import { type Hex, concatHex, keccak256, toBytes } from "viem";
import { UsageRecordError, loadFastUsageHashing, usageLeaf, usageRoot } from "../../sdk/credits/usageRecord.js";

/** The module comment, word for word: leaves keccak256(utf-8 line), pairs keccak256(left ‖ right), an odd last node moves up. */
function reference(lines: readonly string[]): Hex {
  let level = lines.map((l) => keccak256(toBytes(l)));
  while (level.length > 1) {
    const next: Hex[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(i + 1 < level.length ? keccak256(concatHex([level[i], level[i + 1]])) : level[i]);
    level = next;
  }
  return level[0];
}

const lines = (n: number) => Array.from({ length: n }, (_, i) => JSON.stringify({ requestId: `r-${i}`, model: i % 3 ? "llama" : "modèle-ü ✓", charge: String(i * 1051) }));
const SIZES = [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 500, 1001];

describe("usage records: the Merkle root", () => {
  it("is the definition's root for every batch size, with the JavaScript keccak and then the WebAssembly one", async () => {
    const expected = SIZES.map((n) => reference(lines(n)));
    expect(
      SIZES.map((n) => usageRoot(lines(n))),
      "JavaScript keccak",
    ).to.deep.equal(expected);
    expect(await loadFastUsageHashing(), "hash-wasm loads").to.equal(true);
    expect(
      SIZES.map((n) => usageRoot(lines(n))),
      "WebAssembly keccak",
    ).to.deep.equal(expected);
    expect(usageLeaf("x")).to.equal(keccak256(toBytes("x")));
    // Two roots in a row share nothing (the hasher is reset for every hash).
    expect(usageRoot(["a", "b"])).to.equal(reference(["a", "b"]));
    expect(usageRoot(["a"])).to.equal(keccak256(toBytes("a")));
  });

  it("refuses an empty batch", () => {
    expect(() => usageRoot([])).to.throw(UsageRecordError, "at least one usage record");
  });
});
