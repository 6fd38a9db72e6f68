/**
 * `ctk hr grant-credits` pays each row of a named run once, exactly like `ctk hr grant`: end to end on
 * a local anvil, a run that landed in part is resumed from the whole file saved again (BOM + CRLF, other
 * order, another batch size) and pays only the rows still missing; a copy with a row removed pays
 * nothing; the dry run names the rows already granted; a stale plan sent again pays nothing; every
 * mistake is listed with its line; a paused InferenceCredit is named as such.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { ContractError } from "../../sdk/errors.js";
import { CREDIT_GRANT_COLUMNS, prepareCreditGrants, sendCreditGrants } from "../../sdk/credits/grants.js";
import { creditEventsOfReceipt } from "../../sdk/credits/events.js";
import { readCreditBalance } from "../../sdk/credits/reads.js";
import { writeInferenceCredit } from "../../sdk/credits/write.js";
import { onboardHolders } from "../../sdk/holders.js";
import { LOCAL_ROLE_KEYS } from "../../devkit/localAccounts.js";
import { type CtkRun, jsonOf, runCtk } from "../support/cli.js";
import { type LocalChain, startLocalChain } from "../../devkit/localChain.js";

const HEADER = CREDIT_GRANT_COLUMNS.join(",");

function ok(run: CtkRun): CtkRun {
  expect(run.code, `stdout: ${run.stdout}\nstderr: ${run.stderr}`).to.equal(0);
  return run;
}

describe("ctk hr grant-credits: each row of a named run lands once (sdk/grantRun.ts)", function () {
  this.timeout(180_000);
  let chain: LocalChain;
  let dir: string;
  let env: Record<string, string>;
  const hr = () => ({ ...env, CTK_PRIVATE_KEY: LOCAL_ROLE_KEYS.HR });
  const file = (name: string, text: string) => {
    const p = path.join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const credits = async (i: number) => Number(await readCreditBalance(chain.reader, chain.employeeAddress(i))) / 1e6;

  before(async () => {
    chain = await startLocalChain({ classes: [] });
    dir = mkdtempSync(path.join(tmpdir(), "ctk-credit-runs-"));
    const deploymentFile = path.join(dir, "deployment.json");
    writeFileSync(deploymentFile, JSON.stringify(chain.deployment));
    env = { CTK_RPC: chain.anvil.rpcUrl, CTK_DEPLOYMENT: deploymentFile };
    await onboardHolders(
      chain.hr,
      [0, 1, 2, 3, 4].map((i) => chain.employeeAddress(i)),
    );
  });
  after(async () => {
    await chain?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("resumes a run that landed in part: the whole file, re-encoded and in another batch size, pays only the rows still missing", async () => {
    const row = {
      A: `E0,${chain.employeeAddress(0)},10,2031-01-31,false`,
      B: `E1,${chain.employeeAddress(1)},20,2031-01-31,false`,
      C: `E0,${chain.employeeAddress(0)},5,2031-03-31,true`,
      D: `E2,${chain.employeeAddress(2)},7.5,2031-01-31,false`,
      E: `E3,${chain.employeeAddress(3)},1,2031-03-31,true`,
    };
    // The run was interrupted after two rows (here: a first file holding only them).
    let run = ok(await runCtk(["hr", "grant-credits", "--csv", file("part.csv", [HEADER, row.A, row.C].join("\n")), "--run", "2026-12"], { env: hr() }));
    expect(run.stdout).to.include("run 2026-12: granted 2 rows (15 credits) in 2 transactions");

    // The whole file, saved with a BOM and CRLF, its rows in another order: lines 3 (C) and 5 (A) landed.
    const whole = file("credits-2026-12.csv", `\ufeff${[HEADER, row.E, row.C, row.B, row.A, row.D].join("\r\n")}\r\n`);
    run = ok(await runCtk(["hr", "grant-credits", "--csv", whole, "--run", "2026-12", "--dry-run"], { env }));
    expect(run.stdout).to.include("run 2026-12: 2 rows were already granted (lines 3, 5): not sent again");
    expect(run.stdout).to.match(/^\s*2\s+E3\s+0x\S+\s+1\s+2031-03-31\s+transferable$/m);
    expect(run.stdout).to.not.match(/^\s*5\s+E0/m);
    expect(run.stdout).to.match(/^total\s+3\s+3\s+28\.5$/m);
    run = ok(await runCtk(["--json", "hr", "grant-credits", "--csv", whole, "--run", "2026-12", "--dry-run"], { env }));
    expect(jsonOf<{ alreadyGrantedRows: number[]; pendingRows: number }>(run)).to.deep.include({ alreadyGrantedRows: [3, 5], pendingRows: 3 });
    expect(await credits(1)).to.equal(0);

    run = ok(await runCtk(["hr", "grant-credits", "--csv", whole, "--run", "2026-12", "--batch-size", "1"], { env: hr() }));
    expect(run.stdout).to.include("run 2026-12: granted 3 rows (28.5 credits) in 3 transactions");
    expect(await Promise.all([0, 1, 2, 3].map(credits))).to.deep.equal([15, 20, 7.5, 1]);

    // Again, saved as LF with row B removed and two rows per transaction: nothing is paid twice.
    const less = file("credits-less.csv", [HEADER, row.A, row.C, row.D, row.E].join("\n"));
    run = ok(await runCtk(["hr", "grant-credits", "--csv", less, "--run", "2026-12", "--batch-size", "2"], { env: hr() }));
    expect(run.stdout.trim()).to.equal(`${less}: every row of run 2026-12 was already granted (4 rows): nothing granted`);
    run = ok(await runCtk(["hr", "grant-credits", "--csv", whole, "--run", "2026-12"], { env: hr() }));
    expect(run.stdout).to.include("every row of run 2026-12 was already granted (5 rows): nothing granted");
    expect(await Promise.all([0, 1, 2, 3].map(credits))).to.deep.equal([15, 20, 7.5, 1]);

    // The run defaults to the file's name: the same file is another run under another name.
    run = ok(await runCtk(["--json", "hr", "grant-credits", "--csv", whole, "--dry-run"], { env }));
    expect(jsonOf<{ run: string; pendingRows: number }>(run)).to.deep.include({ run: "credits-2026-12", pendingRows: 5 });
    run = await runCtk(["hr", "grant-credits", "--csv", whole, "--run", " "], { env: hr() });
    expect(run.code).to.not.equal(0);
    expect(run.stderr).to.match(/^error: --run: run name " " must be 1 to 64 printable ASCII characters/m);
  });

  it("never pays twice from a stale plan, and never mixes two buckets in one grantBatch", async () => {
    const csv = [HEADER, ...[0, 1, 2, 3, 4].flatMap((i) => [`E${i},${chain.employeeAddress(i)},1,2031-06-30,false`, `E${i},${chain.employeeAddress(i)},2,2031-07-31,true`])].join(
      "\n",
    );
    const before = await Promise.all([0, 1, 2, 3, 4].map(credits));
    const plan = await prepareCreditGrants(chain.reader, csv, { run: "stale" });
    expect(plan.problems).to.deep.equal([]);
    expect(plan.totals.map((t) => [t.transferable, t.rows, t.recipients, t.amount])).to.deep.equal([
      [false, 5, 5, 5_000_000n],
      [true, 5, 5, 10_000_000n],
    ]);
    // Interrupted: three rows landed.
    const first = await sendCreditGrants(chain.hr, { ...plan, pending: plan.pending.slice(0, 3) });
    expect(first).to.include({ rowsMinted: 3, batchesSent: 1, rowsSkipped: 0 });
    // The stale plan of all ten rows, sent again four rows per transaction: the three are skipped.
    const second = await sendCreditGrants(chain.hr, plan, { batchSize: 4, inFlight: 2 });
    expect(second).to.include({ rowsMinted: 7, rowsSkipped: 3 });
    expect(second.amountMinted).to.equal(12_000_000n);
    for (const hash of second.transactions) {
      const grants = creditEventsOfReceipt(await chain.reader.publicClient.getTransactionReceipt({ hash }), chain.deployment.inferenceCredit!).filter(
        (e) => e.eventName === "CreditsGranted",
      );
      expect(grants).to.have.length(1);
    }
    expect(second.transactions).to.have.length(3); // 2 soulbound rows left, then 5 transferable as 4 + 1
    const third = await sendCreditGrants(chain.hr, plan);
    expect(third).to.include({ rowsMinted: 0, batchesSent: 0, rowsSkipped: 10 });
    const after = await Promise.all([0, 1, 2, 3, 4].map(credits));
    expect(after.map((c, i) => c - before[i])).to.deep.equal([3, 3, 3, 3, 3]);
  });

  it("lists every mistake with its line: syntax, header, fields, duplicates, one wallet per employee", async () => {
    const [a, b] = [chain.employeeAddress(0), chain.employeeAddress(1)];
    const bad = file(
      "bad.csv",
      [
        HEADER,
        `E0,${a},1,2031-01-31,false`,
        `E0,${a},1,2031-01-31,false`,
        `E9,${a},2,2031-01-31,false`,
        `E0,${b},3,2031-01-31,false`,
        `E1,${b},4,2031-01-31`,
        `E1,${b},79228162514264337593544,2031-01-31,false`,
        `,${b},x,tomorrow,false`,
      ].join("\n"),
    );
    const run = await runCtk(["hr", "grant-credits", "--csv", bad, "--dry-run"], { env });
    expect(run.code).to.equal(1);
    expect(run.stderr).to.include("bad.csv: 9 problems, nothing granted");
    expect(run.stderr).to.include("line 3: duplicates line 2");
    expect(run.stderr).to.include(`line 4: wallet ${a} belongs to employee E0 on line 2`);
    expect(run.stderr).to.include(`line 5: employee E0 has wallet ${a} on line 2`);
    expect(run.stderr).to.include("line 6: has 4 fields, the header has 5");
    expect(run.stderr).to.include('line 7: credits "79228162514264337593544" is too large');
    expect(run.stderr).to.include("line 8: employee_id is empty");
    expect(run.stderr).to.match(/line 8: credits "x"/);
    expect(run.stderr).to.match(/line 8: expires_at "tomorrow"/);
    const header = await runCtk(["hr", "grant-credits", "--csv", file("header.csv", "employee_id,wallet,amount\n"), "--dry-run"], { env });
    expect(header.stderr).to.include("line 1: header must have columns employee_id,wallet,credits,expires_at,transferable (missing credits, expires_at, transferable)");
    const quote = await runCtk(["hr", "grant-credits", "--csv", file("quote.csv", `${HEADER}\nE0,"${a},1,2031-01-31,false\n`), "--dry-run"], { env });
    expect(quote.stderr).to.match(/line 2: /);
    expect(quote.stderr).to.not.match(/\n\s+at \S+ \(/);
  });

  it("names InferenceCredit, not ComputeToken, when it is paused", async () => {
    await writeInferenceCredit(chain.pauser, "pause", []);
    try {
      const csv = file("paused.csv", [HEADER, `E4,${chain.employeeAddress(4)},1,2031-01-31,false`].join("\n"));
      const run = await runCtk(["hr", "grant-credits", "--csv", csv], { env: hr() });
      expect(run.code).to.equal(1);
      expect(run.stderr.trim().split("\n").at(-1)).to.equal("error: InferenceCredit is paused: grantBatch is not possible until it is unpaused");
      try {
        await writeInferenceCredit(chain.pauser, "pause", []);
        expect.fail("pausing twice must fail");
      } catch (e) {
        expect(e).to.be.instanceOf(ContractError);
        expect((e as ContractError).message).to.equal("InferenceCredit is paused: pause is not possible until it is unpaused");
      }
    } finally {
      await writeInferenceCredit(chain.pauser, "unpause", []);
    }
    try {
      await writeInferenceCredit(chain.pauser, "unpause", []);
      expect.fail("unpausing twice must fail");
    } catch (e) {
      expect((e as ContractError).message).to.equal("InferenceCredit is not paused");
    }
  });
});
