/**
 * Dependencies point one way: every import in the repository follows the layers of
 * test/structure/importGraph.ts (contracts → sdk → services, devkit → cli → test/bench).
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { type Violation, checkLayers, importsOf, layerOf, repositorySources } from "./importGraph.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

const show = (violations: Violation[]) => violations.map((v) => `${v.file}: import "${v.specifier}" — ${v.rule}`).join("\n");

describe("layering", () => {
  it("finds every kind of import: static, type-only, re-exports and dynamic import()", () => {
    const source = [
      `import { a } from "./a.js";`,
      `import type { B } from "../sdk/b.js";`,
      `export { c } from "./c.js";`,
      `export * from "./d.js";`,
      `const e = await import("../redeemer/e.js");`,
      `import "./side.js";`,
    ].join("\n");
    expect(importsOf("sdk/x.ts", source).map((i) => i.target)).to.deep.equal(["sdk/a.js", "sdk/b.js", "sdk/c.js", "sdk/d.js", "redeemer/e.js", "sdk/side.js"]);
  });

  it("names the file and the import that runs upward", () => {
    const files = new Map([
      ["sdk/roles.ts", `export const ROLES = {};`],
      ["sdk/upward.ts", `import { startGateway } from "../gateway/index.js";\nexport const x = await import("../scripts/ctk.js");`],
      ["redeemer/engine.ts", `import { ROLES } from "../sdk/roles.js";\nimport { settle } from "../gateway/settle/settler.js";`],
      ["bench/run.ts", `import { startFakeKube } from "../test/support/fakeKube.js";`],
      ["devkit/anvil.ts", `import { ROLES } from "../sdk/roles.js";`],
      ["test/a.test.ts", `import { startAnvil } from "../devkit/anvil.js";`],
    ]);
    expect(checkLayers(files).map((v) => `${v.file} → ${v.specifier}`)).to.deep.equal([
      "sdk/upward.ts → ../gateway/index.js",
      "sdk/upward.ts → ../scripts/ctk.js",
      "redeemer/engine.ts → ../gateway/settle/settler.js",
      "bench/run.ts → ../test/support/fakeKube.js",
    ]);
  });

  it("keeps Node built-ins out of what the web app's bundle reaches", () => {
    const files = new Map([
      ["web/src/main.tsx", `import { read } from "../../sdk/read.js";`],
      ["sdk/read.ts", `import { readFileSync } from "node:fs";\nimport { spawn } from "node:child_process";\nimport { b } from "./b.js";`],
      ["sdk/b.ts", `import os from "os";`],
      ["sdk/unreached.ts", `import net from "node:net";`],
    ]);
    expect(checkLayers(files).map((v) => `${v.file} → ${v.specifier}`)).to.deep.equal(["sdk/read.ts → node:child_process", "sdk/b.ts → os"]);
  });

  it("places every source directory of the repository in a layer", () => {
    const list = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard"], { cwd: ROOT, encoding: "utf8" }).split("\n");
    const unplaced = [...repositorySources(ROOT, list).keys()].filter((f) => layerOf(f) === undefined);
    expect(unplaced, `files in no layer: add their directory to layerOf`).to.deep.equal([]);
  });

  it("has no import that runs upward, across services, or into the browser from Node", () => {
    const list = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard"], { cwd: ROOT, encoding: "utf8" }).split("\n");
    const violations = checkLayers(repositorySources(ROOT, list));
    expect(violations.length, show(violations)).to.equal(0);
  });
});
