/**
 * The README's gateway path, as a user runs it: `ctk gateway serve --model …`, `ctk credits key
 * create`, the README's curl command, the `openai` example (examples/gateway-openai.mjs) and
 * `ctk credits usage`; Ctrl-C settles what was charged on-chain; `ctk audit verify --usage` checks
 * the records. The authorization comes from `ctk credits authorize`.
 */
import { type ChildProcess, exec, spawn } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect } from "chai";
import { readCreditBalance } from "../../sdk/credits/reads.js";
import { parseCredits } from "../../sdk/credits/units.js";
import { localEmployeeKey } from "../../devkit/localAccounts.js";
import { freePort } from "../../devkit/startAnvil.js";
import { CTK_BIN, ROOT, runCtk } from "../support/cli.js";
import { type GatewayFixture, startGatewayFixture } from "./support/gatewayFixture.js";

const sh = promisify(exec);
const README = readFileSync(join(ROOT, "README.md"), "utf8");
const line = (re: RegExp) => {
  const m = README.split("\n").find((l) => re.test(l));
  if (!m) throw new Error(`README has no line matching ${re}`);
  return m;
};

describe("README: an employee gets a key and calls the gateway with curl and the openai client", function () {
  this.timeout(300_000);
  let f: GatewayFixture;
  let serve: ChildProcess | undefined;
  let url: string;
  let env: Record<string, string>;

  before(async () => {
    f = await startGatewayFixture();
    const deploymentFile = join(f.dir, "deployment.json");
    writeFileSync(deploymentFile, JSON.stringify(f.chain.deployment));
    env = { CTK_RPC: f.chain.anvil.rpcUrl, CTK_DEPLOYMENT: deploymentFile };
  });
  after(async () => {
    serve?.kill("SIGKILL");
    await f?.stop();
  });

  it("serves, makes a key, answers curl and the openai example, lists the usage and settles on Ctrl-C", async () => {
    const port = await freePort();
    const serveLine = line(/^npx ctk gateway serve /);
    const args = serveLine
      .replace(/^npx ctk /, "")
      .replace("--port 8788", `--port ${port}`)
      .split(" ");
    serve = spawn(process.execPath, [CTK_BIN, ...args, "--database", join(f.dir, "readme.sqlite"), "--records", join(f.dir, "records")], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    serve.stdout!.on("data", (d) => (out += d));
    serve.stderr!.on("data", (d) => (out += d));
    const exited = new Promise<number>((resolve) => serve!.once("exit", (c) => resolve(c ?? -1)));
    const deadline = Date.now() + 60_000;
    while (!/gateway listening on (\S+)/.test(out)) {
      if (Date.now() > deadline || serve.exitCode !== null) throw new Error(`ctk gateway serve did not start:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    url = /gateway listening on (\S+)/.exec(out)![1];
    expect(out).to.include("models: stories260K");
    expect(out).to.include("curl:");

    await f.grant(0, "2");
    const holder = f.chain.employeeAddress(0);
    const authLine = line(/^npx ctk credits authorize /);
    const authArgs = authLine
      .replace(/^npx ctk /, "")
      .replace("auth.json", join(f.dir, "auth.json"))
      .split(" ");
    const signed = await runCtk([...authArgs, "--key-env", "CTK_EMPLOYEE_KEY"], { env: { ...env, CTK_EMPLOYEE_KEY: localEmployeeKey(0) } });
    expect(signed.code, signed.stderr).to.equal(0);
    const keyLine = line(/^npx ctk credits key create /);
    const keyArgs = keyLine
      .replace(/^npx ctk /, "")
      .replace("auth.json", join(f.dir, "auth.json"))
      .replace("http://127.0.0.1:8788", url)
      .split(" ");
    const made = await runCtk(keyArgs, { env });
    expect(made.code, made.stderr).to.equal(0);
    const key = made.stdout.trim();
    expect(key).to.match(/^ctk-\S+$/);
    // stdout is the key alone (the banner's `export CTK_API_KEY=$(…)`); stderr says what it is, without repeating it.
    expect(made.stdout).to.equal(`${key}\n`);
    expect(made.stderr).to.match(new RegExp(`^API key key_\\S+ for ${holder}: up to \\S+ credits until 2030-06-01T\\S+, [^,]+, at ${url}/v1\\.$`, "m"));
    expect(made.stderr).to.include("The key (on stdout) is shown only this once: the gateway cannot show it again.");
    expect(made.stderr).to.not.include(key);
    // --json: the whole answer on stdout, no notes.
    const signedAgain = await runCtk([...authArgs.map((a) => a.replace("auth.json", "auth2.json")), "--key-env", "CTK_EMPLOYEE_KEY"], {
      env: { ...env, CTK_EMPLOYEE_KEY: localEmployeeKey(0) },
    });
    expect(signedAgain.code, signedAgain.stderr).to.equal(0);
    const madeJson = await runCtk([...keyArgs.map((a) => a.replace("auth.json", "auth2.json")), "--json"], { env });
    expect(madeJson.code, madeJson.stderr).to.equal(0);
    expect(madeJson.stderr).to.equal("");
    expect(JSON.parse(madeJson.stdout))
      .to.include({ holder })
      .and.to.have.property("key")
      .that.matches(/^ctk-\S+$/);

    const curl = line(/^curl http:\/\/127\.0\.0\.1:8788\/v1\/chat\/completions/).replace("http://127.0.0.1:8788", url);
    const { stdout: curlOut } = await sh(curl, { env: { ...process.env, CTK_API_KEY: key } });
    const answer = JSON.parse(curlOut) as { choices: { message: { content: string } }[]; usage: { completion_tokens: number; cost: string } };
    expect(answer.choices[0].message.content).to.be.a("string").and.not.equal("");
    expect(answer.usage.completion_tokens).to.equal(32);
    expect(Number(answer.usage.cost)).to.be.greaterThan(0);

    expect(README).to.include("node examples/gateway-openai.mjs");
    const { stdout: sdkOut } = await sh("node examples/gateway-openai.mjs", { cwd: ROOT, env: { ...process.env, CTK_API_KEY: key, CTK_GATEWAY_URL: `${url}/v1` } });
    expect(sdkOut).to.match(/\d+ \+ 32 tokens, 0\.\d+ credits/);

    const usageArgs = line(/^npx ctk credits usage /)
      .replace(/^npx ctk /, "")
      .replace("http://127.0.0.1:8788", url)
      .split(" ");
    const usage = await runCtk(usageArgs, { env: { ...env, CTK_API_KEY: key } });
    expect(usage.code, usage.stderr).to.equal(0);
    expect(usage.stdout).to.match(/^2 requests, 0\.\d+ credits \(0 settled on-chain, 0\.\d+ not yet\)$/m);
    const total = parseCredits(/^2 requests, (\S+) credits/m.exec(usage.stdout)![1]);

    serve.kill("SIGINT");
    expect(await exited).to.equal(0);
    serve = undefined;
    expect(await readCreditBalance(f.chain.reader, holder)).to.equal(parseCredits("2") - total);

    // The auditor: every charge recomputed from the records and the on-chain prices, every root checked.
    const records = join(f.dir, "records");
    const auditArgs = line(/^npx ctk audit verify --usage /)
      .replace(/^npx ctk /, "")
      .replace(".devnet/gateway/records", records)
      .split(" ");
    const audit = await runCtk([...auditArgs, "--no-progress"], { env });
    expect(audit.stdout).to.match(/usage records in .*: 2 records in 1 files, 1 batches settled on-chain/);
    expect(audit.stdout).to.include("OK: every usage record's charge matches the on-chain prices and every batch's root matches its records");
    // The same records give the report and the statement credits spent per model, per holder and month.
    const reportArgs = line(/^npx ctk audit report .*--usage /)
      .replace(/^npx ctk /, "")
      .replace("report.csv", join(f.dir, "report.csv"))
      .replace(".devnet/gateway/records", records)
      .split(" ");
    const report = await runCtk([...reportArgs, "--no-progress"], { env });
    expect(report.code, report.stderr).to.equal(0);
    const csv = readFileSync(join(f.dir, "report.csv"), "utf8").split("\n");
    const byModel = csv.indexOf("model,requests,tokens_in,tokens_out,credits_requested,credits_spent");
    expect(byModel, csv.join("\n")).to.be.greaterThan(0);
    const [model, requests, , tokensOut, requested, spent] = csv[byModel + 1].split(",");
    expect([model, requests, tokensOut]).to.deep.equal(["stories260K", "2", "64"]);
    expect([parseCredits(requested), parseCredits(spent)]).to.deep.equal([total, total]);
    const holderRow = csv.find((l) => l.startsWith(`${holder},`) && l.includes(",stories260K,"));
    const month = holderRow?.split(",")[1] ?? "";
    expect(month).to.match(/^\d{4}-\d{2}$/);
    expect(holderRow).to.equal(`${holder},${month},${csv[byModel + 1]}`);
    const statementArgs = line(/^npx ctk audit statement .*--usage /)
      .replace(/^npx ctk /, "")
      .replace(".devnet/gateway/records", records)
      .split(" ");
    expect(statementArgs).to.include(holder);
    const statement = await runCtk([...statementArgs, "--no-progress"], { env });
    expect(statement.code, statement.stderr).to.equal(0);
    expect(statement.stdout).to.include("credits spent per month and model (from the gateway's usage records, verified against the chain):");
    expect(statement.stdout).to.match(new RegExp(`^${month}\\s+stories260K\\s+2\\s+\\d+\\s+64\\s+${spent.replace(".", "\\.")}\\s+${spent.replace(".", "\\.")}$`, "m"));
    const statementCsv = await runCtk([...statementArgs, "--format", "csv", "--no-progress"], { env });
    expect(statementCsv.stdout.trimEnd().split("\n").at(-1)).to.equal(`${month},${csv[byModel + 1]}`);
    // A record changed after the fact is found.
    const [file] = readdirSync(records);
    writeFileSync(join(records, file), readFileSync(join(records, file), "utf8").replace(/"tokensOut":32/, '"tokensOut":31'));
    const tampered = await runCtk([...auditArgs, "--no-progress"], { env });
    expect(tampered.code).to.equal(1);
    expect(tampered.stdout).to.match(/FINDING \[ROOT_MISMATCH\]/);
    expect(tampered.stdout).to.match(/FINDING \[CHARGE_MISMATCH\] .* charged \d+, the on-chain prices give \d+/);
    // Records that do not match the chain give no per-model totals.
    const refused = await runCtk([...reportArgs, "--no-progress"], { env });
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.match(/^error: --usage \S+: the usage records do not match the chain \(\d+ findings\); no per-model totals from them$/m);
    expect(refused.stderr).to.include("[ROOT_MISMATCH]");
  });
});
