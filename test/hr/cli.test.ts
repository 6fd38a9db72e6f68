/**
 * `ctk hr` as a user meets it: where the key comes from (.env, CTK_PRIVATE_KEY, --key-env, an
 * encrypted keystore), that the key never appears in any output, and that every mistake is one
 * line on stderr with a non-zero exit, never a stack trace.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { importKeystore, parseSecret } from "../../sdk/keystore.js";
import { LOCAL_ROLE_KEYS, localAddress } from "../../devkit/localAccounts.js";
import { freePort } from "../../devkit/startAnvil.js";
import { type CtkRun, ROOT, jsonOf, runCtk } from "../support/cli.js";
import { type LocalChain, startLocalChain } from "../../devkit/localChain.js";

const HR_KEY = LOCAL_ROLE_KEYS.HR;

/** Exactly one line on stderr, starting "error: ", and no stack frame anywhere. */
/** stderr without the "signing as 0x… (…)" note every signing command prints first. */
const withoutSigningNote = (stderr: string): string => stderr.replace(/^signing as 0x[0-9a-fA-F]{40} \([^)]*\)\n/m, "");

function expectOneLineError(run: CtkRun, message: string | RegExp): void {
  expect(run.code, run.stdout).to.not.equal(0);
  const lines = withoutSigningNote(run.stderr).trimEnd().split("\n");
  expect(lines, run.stderr).to.have.length(1);
  if (typeof message === "string") expect(lines[0]).to.equal(`error: ${message}`);
  else expect(lines[0]).to.match(message);
  expect(run.stderr + run.stdout).to.not.match(/\n\s+at \S+ \(/);
}

function expectNoKey(run: CtkRun, key: string = HR_KEY): void {
  const all = run.stdout + run.stderr;
  expect(all.toLowerCase()).to.not.include(key.slice(2).toLowerCase());
}

describe("ctk hr: keys, output and errors", function () {
  this.timeout(120_000);
  let chain: LocalChain;
  let dir: string;
  let env: Record<string, string>;
  let employees: string;

  before(async () => {
    chain = await startLocalChain();
    dir = mkdtempSync(path.join(tmpdir(), "ctk-hr-"));
    const deploymentFile = path.join(dir, "deployment.json");
    writeFileSync(deploymentFile, JSON.stringify(chain.deployment));
    env = { CTK_RPC: chain.anvil.rpcUrl, CTK_DEPLOYMENT: deploymentFile };
    employees = path.join(dir, "employees.csv");
    writeFileSync(employees, `employee_id,wallet\nE1,${chain.employeeAddress(0)}\nE2,${chain.employeeAddress(1)}\n`);
  });
  after(async () => {
    await chain?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("grants a payroll run's rows once: the dry run names the rows already granted, a CRLF + BOM copy pays nothing twice", async () => {
    const header = "employee_id,wallet,class,gpu_hours,expires_at,transferable";
    const rowA = `E3,${chain.employeeAddress(2)},A100-80GB,1,2031-02-01,true`;
    const rowB = `E4,${chain.employeeAddress(3)},A100-80GB,2,2031-02-01,true`;
    const rowC = `E3,${chain.employeeAddress(2)},H100-80GB,3,2031-02-01,false`;
    const first = path.join(dir, "payroll-a.csv");
    writeFileSync(first, [header, rowA, rowB].join("\n"));
    const hrEnv = { ...env, CTK_PRIVATE_KEY: HR_KEY };
    const payrollEmployees = path.join(dir, "payroll-employees.csv");
    writeFileSync(payrollEmployees, `employee_id,wallet\nE3,${chain.employeeAddress(2)}\nE4,${chain.employeeAddress(3)}\n`);
    expect((await runCtk(["hr", "onboard", "--csv", payrollEmployees], { env: hrEnv })).code).to.equal(0);
    let run = await runCtk(["hr", "grant", "--csv", first, "--run", "2026-11"], { env: hrEnv });
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.include("run 2026-11: granted 2 rows (3 GPU-hours) in 1 transaction");
    // The same rows, saved again with CRLF and a BOM, plus one more row.
    const again = path.join(dir, "payroll-b.csv");
    writeFileSync(again, `\ufeff${[header, rowB, rowC, rowA].join("\r\n")}\r\n`);
    run = await runCtk(["hr", "grant", "--csv", again, "--run", "2026-11", "--dry-run"], { env });
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.include("run 2026-11: 2 rows were already granted (lines 2, 4): not sent again");
    run = await runCtk(["--json", "hr", "grant", "--csv", again, "--run", "2026-11", "--dry-run"], { env });
    expect(jsonOf<{ alreadyGrantedRows: number[]; pendingRows: number }>(run)).to.include({ pendingRows: 1 });
    run = await runCtk(["hr", "grant", "--csv", again, "--run", "2026-11"], { env: hrEnv });
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.include("run 2026-11: granted 1 row (3 GPU-hours) in 1 transaction");
    run = await runCtk(["hr", "grant", "--csv", again, "--run", " "], { env: hrEnv });
    expectOneLineError(run, /^error: --run: run name " " must be 1 to 64 printable ASCII characters/);
  });

  it("refuses an employee list that would re-admit an offboarded wallet, unless --readmit", async () => {
    const leaverList = path.join(dir, "old-employees.csv");
    writeFileSync(leaverList, `employee_id,wallet\nE5,${chain.employeeAddress(4)}\n`);
    const hrEnv = { ...env, CTK_PRIVATE_KEY: HR_KEY };
    expect((await runCtk(["hr", "onboard", "--csv", leaverList], { env: hrEnv })).code).to.equal(0);
    expect((await runCtk(["hr", "offboard", "--wallet", chain.employeeAddress(4)], { env: hrEnv })).code).to.equal(0);
    let run = await runCtk(["hr", "onboard", "--csv", leaverList], { env: hrEnv });
    expectOneLineError(run, `${leaverList}: line 2: E5 ${chain.employeeAddress(4)} was offboarded. Nobody onboarded; re-admit them on purpose with --readmit`);
    run = await runCtk(["hr", "onboard", "--csv", leaverList, "--readmit"], { env: hrEnv });
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.include(`re-admitted 1 offboarded wallet: ${chain.employeeAddress(4)}`);
  });

  it("says which key is missing, without a stack", async () => {
    const run = await runCtk(["hr", "onboard", "--csv", employees], { env });
    expectOneLineError(run, "no HR key: set CTK_PRIVATE_KEY (or put it in .env), or pass --keystore <file> or --key-env <VAR>");
  });

  it("refuses a malformed key without echoing it", async () => {
    const secret = `0x${"ab".repeat(31)}zz`;
    const run = await runCtk(["hr", "onboard", "--csv", employees], { env: { ...env, CTK_PRIVATE_KEY: secret } });
    expectOneLineError(run, "CTK_PRIVATE_KEY does not hold a private key (0x + 64 hex digits)");
    expectNoKey(run, secret);
  });

  it("names the role a key lacks for the call", async () => {
    const run = await runCtk(["hr", "onboard", "--csv", employees], { env: { ...env, CTK_PRIVATE_KEY: LOCAL_ROLE_KEYS.OPERATIONS } });
    expectOneLineError(run, `you (${localAddress("OPERATIONS")}) lack the HR role for onboard`);
    // Which key signs is never a surprise: the address comes first.
    expect(run.stderr.split("\n")[0]).to.equal(`signing as ${localAddress("OPERATIONS")} (the key in CTK_PRIVATE_KEY)`);
  });

  it("reads the key from .env in the working directory and never prints it", async () => {
    const cwd = mkdtempSync(path.join(dir, "cwd-"));
    writeFileSync(path.join(cwd, ".env"), `CTK_PRIVATE_KEY=${HR_KEY}\n`);
    const run = await runCtk(["--json", "hr", "onboard", "--csv", employees], { env, cwd });
    expect(run.code, run.stderr).to.equal(0);
    expect(jsonOf<{ onboarded: string[] }>(run).onboarded).to.deep.equal([chain.employeeAddress(0), chain.employeeAddress(1)]);
    expectNoKey(run);
  });

  it("opens an encrypted keystore file with CTK_PASSWORD, and says so when the password is wrong", async () => {
    const keystoreDir = path.join(dir, "keystore");
    const entry = await importKeystore(parseSecret(HR_KEY), "correct horse", { dir: keystoreDir, scrypt: { N: 1 << 10 } });
    const grants = path.join(dir, "grants.csv");
    writeFileSync(grants, `employee_id,wallet,class,gpu_hours,expires_at,transferable\nE1,${chain.employeeAddress(0)},H100-80GB,2,2031-01-01,true\n`);
    const wrong = await runCtk(["hr", "grant", "--csv", grants, "--keystore", entry.file], { env: { ...env, CTK_PASSWORD: "wrong" } });
    expectOneLineError(wrong, `wrong password for keystore ${entry.file}`);
    const run = await runCtk(["hr", "grant", "--csv", grants, "--keystore", keystoreDir], { env: { ...env, CTK_PASSWORD: "correct horse" } });
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.include("run grants: granted 1 row (2 GPU-hours) in 1 transaction");
    expectNoKey(run);
  });

  it("takes the key from the variable named by --key-env", async () => {
    const run = await runCtk(["hr", "offboard", "--wallet", chain.employeeAddress(1), "--key-env", "MY_HR_KEY"], {
      env: { ...env, MY_HR_KEY: HR_KEY, CTK_PRIVATE_KEY: LOCAL_ROLE_KEYS.PAUSER },
    });
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout.trim()).to.equal(`offboarded ${chain.employeeAddress(1)}`);
    const unset = await runCtk(["hr", "offboard", "--wallet", chain.employeeAddress(1), "--key-env", "NOPE_KEY"], { env });
    expectOneLineError(unset, "--key-env NOPE_KEY: that environment variable is not set");
  });

  it("prints file problems as JSON with --json, and a one-line summary on stderr", async () => {
    const bad = path.join(dir, "bad-employees.csv");
    writeFileSync(bad, "employee_id,wallet\nE1,0x12\nE2,\n");
    const run = await runCtk(["--json", "hr", "onboard", "--csv", bad], { env: { ...env, CTK_PRIVATE_KEY: HR_KEY } });
    expect(run.code).to.equal(1);
    expect(jsonOf(run)).to.deep.equal({
      ok: false,
      file: bad,
      problems: [
        { line: 2, message: 'wallet "0x12" is not a 0x-prefixed 20-byte address' },
        { line: 3, message: 'wallet "" is not a 0x-prefixed 20-byte address' },
      ],
    });
    // Under --json the error itself is JSON too, on stderr.
    expect(JSON.parse(withoutSigningNote(run.stderr).split("\n")[0]!)).to.deep.equal({
      error: `${bad}: 2 problems, nobody onboarded`,
      details: ['line 2: wallet "0x12" is not a 0x-prefixed 20-byte address', 'line 3: wallet "" is not a 0x-prefixed 20-byte address'],
    });
  });

  it("says when the deployment file or the chain is missing", async () => {
    const noFile = await runCtk(["balance", "--wallet", chain.employeeAddress(0)], { env: { ...env, CTK_DEPLOYMENT: path.join(dir, "nope.json") } });
    expectOneLineError(noFile, `deployment file ${path.join(dir, "nope.json")}: not found (is the devnet up? run \`ctk devnet up\`)`);
    const port = await freePort();
    const noChain = await runCtk(["balance", "--wallet", chain.employeeAddress(0), "--rpc", `http://127.0.0.1:${port}`], { env });
    expectOneLineError(noChain, `cannot reach the chain at http://127.0.0.1:${port} (is the devnet up? run \`ctk devnet up\`)`);
    // A command whose reads do not translate it themselves (the audit's): the CLI does, not a stack trace.
    const records = mkdtempSync(path.join(tmpdir(), "ctk-records-"));
    try {
      const audit = await runCtk(["audit", "verify", "--usage", records, "--rpc", `http://127.0.0.1:${port}`], { env });
      expectOneLineError(audit, `cannot reach the chain at http://127.0.0.1:${port} (is the devnet up? run \`ctk devnet up\`)`);
    } finally {
      rmSync(records, { recursive: true, force: true });
    }
  });

  it("rejects unknown commands and bad options with usage on stderr and exit 1", async () => {
    const run = await runCtk(["hr", "grant"], { env, cwd: ROOT });
    expect(run.code).to.equal(1);
    expect(run.stderr).to.match(/^error: required option '--csv <file>' not specified/);
    const badWallet = await runCtk(["hr", "offboard", "--wallet", "0x123"], { env: { ...env, CTK_PRIVATE_KEY: HR_KEY } });
    expectOneLineError(badWallet, '--wallet "0x123" is not a 0x-prefixed 20-byte address');
  });
});
