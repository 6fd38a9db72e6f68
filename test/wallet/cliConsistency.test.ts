/**
 * `ctk` says the same things the same way: errors as JSON on stderr under --json, required options
 * marked and the global options shown in every command's help, one spelling for a missing file,
 * and expected errors (no gas, receipts not found) never called "unexpected".
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { keccak256, stringToBytes } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { encodeLotId } from "../../sdk/lotId.js";
import { writeComputeToken } from "../../sdk/write.js";
import { runCtk } from "../support/cli.js";
import { startLocalChain, type LocalChain } from "../../devkit/localChain.js";

const UNEXPECTED = "(an unexpected error";

describe("ctk output and errors are consistent", function () {
  this.timeout(300_000);
  let chain: LocalChain;
  let dir: string;
  let env: Record<string, string>;

  before(async () => {
    chain = await startLocalChain();
    dir = mkdtempSync(path.join(tmpdir(), "ctk-consistency-"));
    const deployment = path.join(dir, "deployment.json");
    writeFileSync(deployment, JSON.stringify(chain.deployment));
    env = { CTK_RPC: chain.anvil.rpcUrl, CTK_DEPLOYMENT: deployment };
  });
  after(async () => {
    await chain?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("under --json, an error is one JSON line on stderr", async () => {
    const run = await runCtk(["--json", "balance", "--wallet", "0x12"], { env });
    expect(run.code).to.equal(1);
    expect(run.stdout).to.equal("");
    expect(JSON.parse(run.stderr)).to.deep.equal({ error: '--wallet "0x12" is not a 0x-prefixed 20-byte address' });
  });

  it("every command's help marks its required options and shows the global ones", async () => {
    for (const args of [["audit", "report"], ["redeem"], ["hr", "grant"], ["audit", "statement"]]) {
      const help = await runCtk([...args, "--help"]);
      expect(help.code, args.join(" ")).to.equal(0);
      expect(help.stdout, args.join(" ")).to.match(/--(out|class|csv|wallet) <[^>]+>\s+.*\(required\)/);
      expect(help.stdout, args.join(" ")).to.include("Global Options:");
      for (const g of ["--rpc <url>", "--deployment <file>", "--json"]) expect(help.stdout, args.join(" ")).to.include(g);
    }
  });

  it("says a missing file one way: '<what> <file>: not found'", async () => {
    const nope = path.join(dir, "nope");
    const cases: [string[], string][] = [
      [["redeem", "--class", "H100-80GB", "--spec", `${nope}.json`, "--yes"], `error: job spec ${nope}.json: not found`],
      [["balance", "--keystore", nope], `error: keystore ${nope}: not found`],
      [["hr", "onboard", "--csv", `${nope}.csv`], `error: ${nope}.csv: not found`],
      [["audit", "verify", "--receipts", nope, "--no-progress"], `error: receipt ${nope}: not found`],
      [
        ["balance", "--wallet", chain.employeeAddress(0), "--deployment", `${nope}.json`],
        `error: deployment file ${nope}.json: not found (is the devnet up? run \`ctk devnet up\`)`,
      ],
    ];
    for (const [args, line] of cases) {
      const run = await runCtk(args, { env: { ...env, CTK_PRIVATE_KEY: undefined } });
      expect(run.code, args.join(" ")).to.equal(1);
      expect(run.stderr, args.join(" ")).to.equal(`${line}\n`);
    }
  });

  it("on a chain that charges for gas, a wallet without ETH is told why and what to do, not 'an unexpected error'", async () => {
    const key = generatePrivateKey();
    const poor = privateKeyToAccount(key).address;
    const lot = encodeLotId({ classId: 2, expiresAt: BigInt(Math.floor(Date.now() / 1000) + 30 * 86_400), policy: "transferable" });
    await writeComputeToken(chain.hr, "onboard", [[poor, chain.employeeAddress(1)]]);
    await writeComputeToken(chain.hr, "grantBatch", [keccak256(stringToBytes("poor")), [poor], [lot], [3600n]]);
    const run = await runCtk(["transfer", "--to", chain.employeeAddress(1), "--class", "H100-80GB", "--hours", "1", "--key-env", "POOR_KEY"], { env: { ...env, POOR_KEY: key } });
    expect(run.code).to.equal(1);
    expect(run.stderr).to.include(
      `error: ${poor} has too little ETH to pay for gas: this chain charges for gas; ask its operators to run it with a zero gas price (Besu --min-gas-price=0), as the devnet does\n`,
    );
    expect(run.stderr).not.to.include(UNEXPECTED);
  });
});
