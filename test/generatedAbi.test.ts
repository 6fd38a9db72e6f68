import { readFileSync } from "node:fs";
import { expect } from "chai";
import { renderAbiModule } from "../scripts/gen-abi.js";

describe("sdk/generated/abi.ts", () => {
  it("matches the ABI of the contracts as compiled (run `npm run gen:abi` after changing them)", () => {
    const committed = readFileSync(new URL("../sdk/generated/abi.ts", import.meta.url), "utf8");
    expect(committed === renderAbiModule(), "sdk/generated/abi.ts is stale: run `npm run gen:abi`").to.equal(true);
  });
});
