/**
 * The gateway's Node.js options (gateway/runtime.ts): given by `npm start` (checked in
 * test/devnet/demo.test.ts) and `npm run ctk`, and by the crash test and bench:gateway to
 * gateway/main.ts; what a process started with them, or with `NODE_OPTIONS`, or without, gets: the
 * young generation they allow, and the options the gateway would log as missing.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect } from "chai";
import { GATEWAY_NODE_OPTIONS, missingNodeOptions } from "../../gateway/runtime.js";
import { ROOT } from "../support/cli.js";

/**
 * Runs node with `args` (and `NODE_OPTIONS`) on a program that keeps about 60 MB of young objects
 * alive while it allocates: the largest the new space grew to (MB), and the options missing by
 * missingNodeOptions in that process.
 */
async function youngGeneration(args: string[], nodeOptions = ""): Promise<{ newSpaceMb: number; missing: string[] }> {
  const program = `
    import v8 from "node:v8";
    import { missingNodeOptions } from ${JSON.stringify(join(ROOT, "gateway/runtime.ts"))};
    const live = [];
    let max = 0;
    for (let i = 0; i < 3e6; i++) {
      live.push({ i, s: "x" + i });
      if (live.length > 400000) live.splice(0, 20000);
      if (i % 50000 === 0) max = Math.max(max, v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space").space_size);
    }
    process.stdout.write(JSON.stringify({ newSpaceMb: max / 2 ** 20, missing: missingNodeOptions() }));`;
  const { stdout } = await promisify(execFile)(process.execPath, [...args, "--import", "tsx", "--input-type=module", "-e", program], {
    cwd: ROOT,
    env: { ...process.env, NODE_OPTIONS: nodeOptions },
  });
  return JSON.parse(stdout) as { newSpaceMb: number; missing: string[] };
}

describe("gateway: Node.js options", function () {
  this.timeout(60_000);

  it("finds the options on the command line or in NODE_OPTIONS (either spelling, any value), and names those missing", () => {
    expect(GATEWAY_NODE_OPTIONS).to.deep.equal(["--max-semi-space-size=64"]);
    expect(missingNodeOptions(["--max-semi-space-size=64", "--import", "tsx"], "")).to.deep.equal([]);
    expect(missingNodeOptions([], "--max-semi-space-size=64")).to.deep.equal([]);
    expect(missingNodeOptions([], "  --enable-source-maps   --max_semi_space_size=32 ")).to.deep.equal([]);
    expect(missingNodeOptions(["--import", "tsx"], "")).to.deep.equal(["--max-semi-space-size=64"]);
    expect(missingNodeOptions(["--max-old-space-size=64"], "--max-semi-space")).to.deep.equal(["--max-semi-space-size=64"]);
  });

  it("let the young generation grow past V8's default, given on the command line or in NODE_OPTIONS; without them it stays there, and they are named missing", async () => {
    const given = await youngGeneration([...GATEWAY_NODE_OPTIONS]);
    const inEnv = await youngGeneration([], GATEWAY_NODE_OPTIONS.join(" "));
    const without = await youngGeneration([]);
    expect(without.missing).to.deep.equal([...GATEWAY_NODE_OPTIONS]);
    expect(without.newSpaceMb, "V8's default: two semi-spaces of at most 16 MB").to.be.at.most(32);
    for (const run of [given, inEnv]) {
      expect(run.missing).to.deep.equal([]);
      expect(run.newSpaceMb, "two semi-spaces of up to 64 MB").to.be.above(32).and.at.most(128);
    }
  });

  it("npm run ctk gives node them (npm start too: test/devnet/demo.test.ts)", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> };
    expect(pkg.scripts.ctk).to.equal(`node ${GATEWAY_NODE_OPTIONS.join(" ")} bin/ctk.js`);
  });
});
