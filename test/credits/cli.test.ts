/**
 * Inference credits on the command line, end to end on a local anvil, as the README walks them: HR grants
 * from examples/credits.csv (dry run, run, again, re-encoded, a file full of mistakes); an employee sees
 * the buckets in `ctk balance`, signs an authorization with their keystore, the gateway settles usage
 * against it, the employee transfers and revokes; the auditor verifies, reports and prints a statement.
 * Last, usage charged after an employee's credits had gone is owed: `ctk balance` shows the debt, and
 * the next credits granted pay it first.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { keccak256, toHex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { authorizationTypedData, parseSignedAuthorization, verifySignedAuthorization } from "../../sdk/credits/authorization.js";
import { chargeFor } from "../../sdk/credits/price.js";
import { readAuthorization, readCreditBalance, readModelPrice, readPriceVersion, readPriorityFees, readUsageDebt } from "../../sdk/credits/reads.js";
import { grantCredits, settleUsage } from "../../sdk/credits/write.js";
import { importKeystore, parseSecret } from "../../sdk/keystore.js";
import { LOCAL_ROLE_KEYS, localEmployeeKey } from "../../devkit/localAccounts.js";
import { type CtkRun, ROOT, jsonOf, runCtk } from "../support/cli.js";
import { type LocalChain, startLocalChain } from "../../devkit/localChain.js";

const E1001 = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc";
const E1002 = "0x976EA74026E726554dB657fA54763abd0C3a0aa9";
const E1003 = "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955";
const PASSWORD = "correct horse battery staple";

function ok(run: CtkRun): CtkRun {
  expect(run.code, `stdout: ${run.stdout}\nstderr: ${run.stderr}`).to.equal(0);
  return run;
}

/** The last line of stderr (signing commands first say which address signs). */
const lastLine = (text: string): string => text.trim().split("\n").at(-1) ?? "";

/** The UTC month this file's run started in (the credits report groups by month). */
const STARTED_MONTH = new Date().toISOString().slice(0, 7);
describe("ctk: inference credits for HR, an employee and an auditor (README)", function () {
  this.timeout(180_000);
  let chain: LocalChain;
  let dir: string;
  let env: Record<string, string>;
  let keystore: string;
  let nonce: bigint;
  const ctk = (args: string[], extra: Record<string, string> = {}) => runCtk(args, { env: { ...env, ...extra } });

  before(async () => {
    chain = await startLocalChain();
    dir = mkdtempSync(path.join(tmpdir(), "ctk-credits-"));
    const deploymentFile = path.join(dir, "deployment.json");
    writeFileSync(deploymentFile, JSON.stringify(chain.deployment));
    env = { CTK_RPC: chain.anvil.rpcUrl, CTK_DEPLOYMENT: deploymentFile };
    keystore = path.join(dir, "keystore");
    expect(privateKeyToAccount(localEmployeeKey(0)).address).to.equal(E1001);
    await importKeystore(parseSecret(localEmployeeKey(0)), PASSWORD, { dir: keystore, scrypt: { N: 1 << 12 } });
    ok(await ctk(["hr", "onboard", "--csv", "examples/employees.csv"], { CTK_PRIVATE_KEY: LOCAL_ROLE_KEYS.HR }));
  });
  after(async () => {
    await chain?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("HR: a dry run lists every row and the totals per expiry and policy, and sends nothing", async () => {
    const run = ok(await runCtk(["hr", "grant-credits", "--csv", "examples/credits.csv", "--dry-run"], { env, npx: true }));
    expect(run.stdout, run.stdout).to.match(/^\s*2\s+E1001\s+0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc\s+100\s+2030-12-31\s+soulbound$/m);
    expect(run.stdout).to.match(/^2030-06-30\s+transferable\s+1\s+1\s+20$/m);
    expect(run.stdout).to.match(/^total\s+3\s+2\s+170$/m);
    expect(run.stdout).to.include("dry run: nothing sent (run credits; a real run sends 3 rows in chunks of at most 256 rows of one expiry and policy");
    expect(await readCreditBalance(chain.reader, E1001)).to.equal(0n);
  });

  it("HR: grants the file once; running it again, or re-encoded, pays nothing twice", async () => {
    const hr = { CTK_PRIVATE_KEY: LOCAL_ROLE_KEYS.HR };
    let run = ok(await ctk(["hr", "grant-credits", "--csv", "examples/credits.csv"], hr));
    expect(run.stdout).to.include("run credits: granted 3 rows (170 credits) in 2 transactions");
    expect(await readCreditBalance(chain.reader, E1001)).to.equal(120_000_000n);
    run = ok(await ctk(["hr", "grant-credits", "--csv", "examples/credits.csv"], hr));
    expect(run.stdout).to.include("examples/credits.csv: every row of run credits was already granted (3 rows): nothing granted");
    // The README's third line: the same run, one row per transaction.
    const readmeLine = "npx ctk hr grant-credits --csv examples/credits.csv --run credits --batch-size 1";
    expect(readFileSync(path.join(ROOT, "README.md"), "utf8")).to.include(readmeLine);
    run = ok(await ctk(readmeLine.split(" ").slice(2), hr));
    expect(run.stdout).to.include("every row of run credits was already granted (3 rows): nothing granted");
    const reencoded = path.join(dir, "credits-crlf.csv");
    const lines = readFileSync("examples/credits.csv", "utf8").trimEnd().split("\n");
    writeFileSync(reencoded, `\ufeff${[lines[0], lines[3], lines[1], `"E1001",${lines[2].slice(6)}`].join("\r\n")}\r\n`);
    run = ok(await ctk(["--json", "hr", "grant-credits", "--csv", reencoded, "--run", "credits", "--batch-size", "1"], hr));
    expect(jsonOf<{ alreadyGranted: boolean }>(run).alreadyGranted).to.equal(true);
    expect(await readCreditBalance(chain.reader, E1001)).to.equal(120_000_000n);
  });

  it("HR: lists every mistake with its line and grants nothing", async () => {
    const bad = path.join(dir, "bad.csv");
    writeFileSync(
      bad,
      [
        "employee_id,wallet,credits,expires_at,transferable",
        `E1,0x123,5,2030-01-01,false`,
        `E2,${E1002},-3,2030-01-01,false`,
        `E3,${E1002},1.0000001,2020-01-01,false`,
        `E4,0x000000000000000000000000000000000000dEaD,5,2030-01-01,maybe`,
        `E5,0x000000000000000000000000000000000000bEEF,5,2030-01-01,true`,
      ].join("\n"),
    );
    const run = await ctk(["hr", "grant-credits", "--csv", bad], { CTK_PRIVATE_KEY: LOCAL_ROLE_KEYS.HR });
    expect(run.code).to.not.equal(0);
    expect(run.stderr).to.match(/^error: .*bad\.csv: \d+ problems, nothing granted$/m);
    expect(run.stderr).to.match(/line 2: wallet/);
    expect(run.stderr).to.include('line 3: credits "-3" is negative');
    expect(run.stderr).to.include('line 4: credits "1.0000001" has more than 6 decimals');
    expect(run.stderr).to.include('line 5: transferable "maybe" must be true or false');
    expect(run.stderr).to.not.match(/\n\s+at \S+ \(/);
    const notOnboarded = path.join(dir, "late.csv");
    writeFileSync(
      notOnboarded,
      "employee_id,wallet,credits,expires_at,transferable\nE5,0x000000000000000000000000000000000000bEEF,5,2030-01-01,true\nE1,0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc,1,2020-01-01,true\n",
    );
    const late = await ctk(["hr", "grant-credits", "--csv", notOnboarded, "--dry-run"]);
    expect(late.code).to.not.equal(0);
    expect(late.stderr).to.include("line 2: wallet 0x000000000000000000000000000000000000bEEF (employee E5) is not onboarded");
    expect(late.stderr).to.match(/line 3: expires_at 2020-01-01 is in the past/);
  });

  it("employee: ctk balance shows credits beside GPU-hours, per bucket with its countdown", async () => {
    const run = ok(await runCtk(["balance", "--wallet", E1001], { env, npx: true }));
    expect(run.stdout).to.include("inference credits: 120 spendable");
    expect(run.stdout).to.match(/^2030-06-30\s+expires in \d+ days\s+transferable\s+20\s+spendable$/m);
    expect(run.stdout).to.match(/^2030-12-31\s+expires in \d+ days\s+soulbound\s+100\s+spendable$/m);
  });

  it("employee: transfers transferable credits to a colleague", async () => {
    const run = ok(await ctk(["credits", "transfer", "--to", E1002, "--amount", "5", "--keystore", keystore], { CTK_PASSWORD: PASSWORD }));
    expect(run.stdout).to.include(`sent 5 credits to ${E1002}`);
    expect(await readCreditBalance(chain.reader, E1002)).to.equal(55_000_000n);
  });

  it("employee: signs an authorization with the keystore (no gas); the gateway charges within its cap", async () => {
    const out = path.join(dir, "auth.json");
    const before = await chain.reader.publicClient.getTransactionCount({ address: E1001 });
    const run = ok(
      await ctk(["credits", "authorize", "--cap", "25", "--expires", "2030-06-01", "--models", "stories260K", "--out", out, "--keystore", keystore], {
        CTK_PASSWORD: PASSWORD,
      }),
    );
    expect(run.stdout).to.match(/gateway 0x[0-9a-fA-F]{40} may spend up to 25 credits until 2030-06-01 on stories260K/);
    expect(await chain.reader.publicClient.getTransactionCount({ address: E1001 })).to.equal(before);
    const file = parseSignedAuthorization(JSON.parse(readFileSync(out, "utf8")));
    expect(file.authorization).to.deep.include({ holder: E1001, gateway: chain.gateway.account!.address, cap: 25_000_000n, models: ["stories260K"] });
    expect(await verifySignedAuthorization(file)).to.equal(true);
    nonce = file.authorization.nonce;
    expect(run.stdout).to.include(`ctk credits revoke ${nonce}`);

    // The gateway (issue 14) prices usage with the SDK formula and settles: 10 credits + one priced request, capped at 25.
    const price = await readModelPrice(chain.reader, "stories260K");
    const fees = await readPriorityFees(chain.reader);
    const request = chargeFor({ inputTokens: 1200, outputTokens: 800, tier: "high" }, price, fees);
    expect(request).to.equal(600n + 1200n + 1_000n + 2_000n);
    await settleUsage(chain.gateway, {
      batchId: keccak256(toHex("cli-usage-1")),
      priceVersion: await readPriceVersion(chain.reader),
      usageRoot: keccak256(toHex("records-1")),
      activations: [{ authorization: file.authorization, signature: file.signature }],
      charges: [
        { holder: E1001, nonce, amount: 10_000_000n },
        { holder: E1001, nonce, amount: request },
        { holder: E1001, nonce, amount: 30_000_000n },
      ],
    });
    const state = await readAuthorization(chain.reader, file.authorizationId);
    expect(state).to.deep.include({ cap: 25_000_000n, charged: 25_000_000n, status: "active" });
    // soonest-expiring first: the 15 transferable credits left (expiring 2030-06-30), then 10 soulbound
    expect(await readCreditBalance(chain.reader, E1001)).to.equal(90_000_000n);
    const refused = await ctk(["credits", "transfer", "--to", E1002, "--amount", "90", "--keystore", keystore], { CTK_PASSWORD: PASSWORD });
    expect(refused.code).to.not.equal(0);
    expect(lastLine(refused.stderr)).to.equal("error: cannot transfer 90 credits: you have 0 transferable, 90 soulbound (cannot be transferred)");
  });

  it("employee: revokes the authorization, once; a charge past its cap takes nothing", async () => {
    const run = ok(await ctk(["credits", "revoke", String(nonce), "--keystore", keystore], { CTK_PASSWORD: PASSWORD }));
    expect(run.stdout).to.include(`revoked authorization ${nonce} for gateway ${chain.gateway.account!.address} (charged 25 of 25 credits)`);
    const again = await ctk(["credits", "revoke", String(nonce), "--keystore", keystore], { CTK_PASSWORD: PASSWORD });
    expect(lastLine(again.stderr)).to.equal(`error: authorization ${nonce} for gateway ${chain.gateway.account!.address} is already revoked`);
    await settleUsage(chain.gateway, {
      batchId: keccak256(toHex("cli-usage-2")),
      priceVersion: 2n,
      usageRoot: keccak256(toHex("records-2")),
      activations: [],
      charges: [{ holder: E1001, nonce, amount: 1_000_000n }],
    });
    expect(await readCreditBalance(chain.reader, E1001)).to.equal(90_000_000n);
  });

  it("auditor: verify replays the credit events and reconciles them with the chain", async () => {
    const run = ok(await runCtk(["audit", "verify", "--no-progress"], { env, npx: true }));
    expect(run.stdout).to.include("credits: replayed");
    expect(run.stdout).to.match(/granted 170, spent 25, expired 0, clawed back 0, live 145/);
    expect(run.stdout).to.include("credits: 2 usage batches with 4 charges, 1 authorizations (signatures re-verified), price version 2");
    expect(run.stdout).to.include("OK: every credit bucket, charge, cap, batch and price version reconciles with the events");
  });

  it("auditor: the report and the statement include credits granted, spent, expired, clawed back", async () => {
    const report = path.join(dir, "report.json");
    ok(await ctk(["audit", "report", "--format", "json", "--out", report, "--no-progress"]));
    const r = JSON.parse(readFileSync(report, "utf8")) as { credits: { totals: Record<string, number>; holders: { holder: string; spent: number }[]; months: unknown[] } };
    expect(r.credits.totals).to.deep.include({ granted: 170000000, spent: 25000000, expired: 0, clawedBack: 0, transferredIn: 5000000 });
    expect(r.credits.holders.find((h) => h.holder === E1001)?.spent).to.equal(25000000);
    // One month, or two when the run crossed a month's end (the chain's blocks carry the wall-clock time).
    expect(r.credits.months).to.have.length(new Set([STARTED_MONTH, new Date().toISOString().slice(0, 7)]).size);
    const csv = path.join(dir, "report.csv");
    ok(await ctk(["audit", "report", "--format", "csv", "--out", csv, "--no-progress"]));
    expect(readFileSync(csv, "utf8")).to.match(new RegExp(`^${E1001},120,25,0,0,0,5,0$`, "m"));
    const st = ok(await runCtk(["audit", "statement", "--wallet", E1001, "--no-progress"], { env, npx: true }));
    expect(st.stdout).to.include("inference credits:");
    expect(st.stdout).to.match(/granted\s+\+100\s+2030-12-31/);
    expect(st.stdout).to.match(/spent\s+-10\s/);
    expect(st.stdout).to.match(/spent\s+-14\.9952\s/);
    expect(st.stdout).to.match(/sent\s+-5\s+2030-06-30\s+to 0x976EA74026E726554dB657fA54763abd0C3a0aa9/);
    expect(st.stdout).to.include("expiring 2030-12-31 00:00 UTC (soulbound): 90 credits");
    // Per model needs the gateway's records (test/gateway/readme.test.ts gives them): said, not guessed.
    expect(st.stdout).to.include("per-model totals need the gateway's usage records: add --usage <dir>");
    expect(r.credits).to.deep.include({ models: null, holderModels: null });
    expect(readFileSync(csv, "utf8")).to.include("# per-model totals need the gateway's usage records");
  });

  it("auditor: the statement as CSV has the credit rows the text shows: grants, charges, transfers, buckets", async () => {
    const st = ok(await ctk(["audit", "statement", "--wallet", E1001, "--format", "csv", "--no-progress"]));
    const lines = st.stdout.trimEnd().split("\n");
    expect(lines[0]).to.equal("date,block,event,class,lot_id,lot_expires,policy,gpu_hours,gpu_seconds,redemption_id,counterparty,note,tx_hash");
    const at = lines.indexOf("# inference credits");
    expect(at).to.be.greaterThan(0);
    expect(lines[at + 1]).to.equal("date,block,event,credits,base_units,bucket_expires,note,tx_hash");
    const rows = lines.slice(at + 2, lines.indexOf("# inference credit buckets at the close")).map((l) => l.split(","));
    // Chain order: the 2030-06-30 bucket's batch first (a run sends its rows bucket by bucket, soonest first).
    expect(rows.map((r) => [r[2], r[3]])).to.deep.equal([
      ["granted", "+20"],
      ["granted", "+100"],
      ["sent", "-5"],
      ["spent", "-10"],
      ["spent", "-0.0048"],
      ["spent", "-14.9952"],
    ]);
    expect(rows.every((r) => /^0x[0-9a-f]{64}$/.test(r[7]))).to.equal(true);
    expect(rows.reduce((s, r) => s + BigInt(r[4]), 0n)).to.equal(90_000_000n);
    expect(lines).to.include("2030-12-31 00:00 UTC,soulbound,90,90000000,false");
    expect(lines.at(-1)).to.match(/^# per-model totals need the gateway's usage records/);
  });

  it("HR: offboarding with --clawback burns a leaver's credits too; the audit still reconciles", async () => {
    const run = ok(await ctk(["hr", "offboard", "--wallet", E1002, "--clawback"], { CTK_PRIVATE_KEY: LOCAL_ROLE_KEYS.HR }));
    expect(run.stdout).to.include("clawed back 55 inference credits");
    expect(await readCreditBalance(chain.reader, E1002)).to.equal(0n);
    const verify = ok(await ctk(["audit", "verify", "--no-progress"]));
    expect(verify.stdout).to.match(/granted 170, spent 25, expired 0, clawed back 55, live 90/);
    expect(verify.stdout).to.include("OK: every credit bucket, charge, cap, batch and price version reconciles with the events");
  });

  it("employee: usage charged after the credits had gone is owed; ctk balance shows it, the next credits pay it first, the audit reconciles it", async () => {
    // E1003 holds no credits when the gateway's batch lands: all of the charge is owed.
    const employee = privateKeyToAccount(localEmployeeKey(2));
    expect(employee.address).to.equal(E1003);
    const now = (await chain.reader.publicClient.getBlock()).timestamp;
    const auth = { holder: E1003, gateway: chain.gateway.account!.address, cap: 1_000_000n, expiresAt: now + 86_400n, nonce: 1n, models: [] as string[] } as const;
    const signature = await employee.signTypedData(authorizationTypedData(chain.deployment.chainId, chain.deployment.inferenceCredit!, auth));
    await settleUsage(chain.gateway, {
      batchId: keccak256(toHex("cli-usage-3")),
      priceVersion: 2n,
      usageRoot: keccak256(toHex("records-3")),
      activations: [{ authorization: auth, signature }],
      charges: [{ holder: E1003, nonce: 1n, amount: 2_102n }],
    });
    expect(await readUsageDebt(chain.reader, E1003)).to.equal(2_102n);
    let run = ok(await ctk(["balance", "--wallet", E1003]));
    expect(run.stdout).to.include("inference credits: 0 spendable; owes 0.002102 for usage served before (paid from the next credits received)");

    // A grant of 0.001 pays 0.001 of it; nothing is left to spend.
    await grantCredits(chain.hr, { batchRef: keccak256(toHex("cli-debt-grant")), expiresAt: now + 30n * 86_400n, transferable: false, to: [E1003], amounts: [1_000n] });
    run = ok(await ctk(["--json", "balance", "--wallet", E1003]));
    expect(jsonOf<{ credits: Record<string, unknown> }>(run).credits).to.deep.equal({ balance: 0, debt: 1_102, debtCredits: "0.001102", buckets: [] });
    run = ok(await ctk(["balance", "--wallet", E1001]));
    expect(run.stdout).to.include("inference credits: 90 spendable\n");

    const verify = ok(await ctk(["audit", "verify", "--no-progress"]));
    expect(verify.stdout).to.match(/granted 170\.001, spent 25\.001, expired 0, clawed back 55, live 90, owed as usage debt 0\.001102\n/);
    expect(verify.stdout).to.include("compared with the chain: buckets and usage debt of");
    expect(verify.stdout).to.include("OK: every credit bucket, charge, cap, batch and price version reconciles with the events");
    const csv = path.join(dir, "report-debt.csv");
    ok(await ctk(["audit", "report", "--format", "csv", "--out", csv, "--no-progress"]));
    expect(readFileSync(csv, "utf8")).to.match(new RegExp(`^${E1003},0\\.001,0\\.001,0,0,0,0,0\\.001102$`, "m"));
    const st = ok(await ctk(["audit", "statement", "--wallet", E1003, "--no-progress"]));
    expect(st.stdout).to.include("owed at the close: 0.001102 credits of usage debt");
    const stCsv = ok(await ctk(["audit", "statement", "--wallet", E1003, "--format", "csv", "--no-progress"]));
    expect(stCsv.stdout).to.include("# usage debt owed at the close\ncredits,base_units\n0.001102,1102\n");
  });
});
