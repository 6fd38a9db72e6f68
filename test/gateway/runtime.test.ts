/**
 * The gateway's Node.js options (gateway/runtime.ts): on the command line of every way it is started
 * (bin/ctk.js's first line; `npm start`, checked in test/devnet/demo.test.ts; the crash test and
 * bench:gateway start gateway/main.ts with them), and the options a process lacks, which the gateway logs when it starts.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { expect } from "chai";
import { GATEWAY_NODE_OPTIONS, missingNodeOptions } from "../../gateway/runtime.js";
import { CTK_BIN, ROOT } from "../support/cli.js";

describe("gateway: Node.js options", () => {
  it("finds the options on the command line or in NODE_OPTIONS (either spelling), and names those missing", () => {
    expect(GATEWAY_NODE_OPTIONS).to.deep.equal(["--max-semi-space-size=64"]);
    expect(missingNodeOptions(["--max-semi-space-size=64", "--import", "tsx"], "")).to.deep.equal([]);
    expect(missingNodeOptions([], "--max-semi-space-size=64")).to.deep.equal([]);
    expect(missingNodeOptions([], "--enable-source-maps --max_semi_space_size=32")).to.deep.equal([]);
    expect(missingNodeOptions(["--import", "tsx"], "")).to.deep.equal(["--max-semi-space-size=64"]);
    expect(missingNodeOptions(["--max-old-space-size=64"], "--max-semi-space")).to.deep.equal(["--max-semi-space-size=64"]);
  });

  it("bin/ctk.js starts node with them from its first line, and runs as a program through it", async () => {
    const first = readFileSync(CTK_BIN, "utf8").split("\n")[0];
    expect(first).to.equal(`#!/usr/bin/env -S node ${GATEWAY_NODE_OPTIONS.join(" ")}`);
    // Run as the program itself (as `npx ctk` does), not as node's argument: the first line must work.
    const { stdout } = await promisify(execFile)(CTK_BIN, ["--help"], { cwd: ROOT });
    expect(stdout).to.match(/^Usage: ctk /m);
  });
});
