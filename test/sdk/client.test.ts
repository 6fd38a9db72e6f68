import { expect } from "chai";
import { checkDeployment, createCtkClient, DeploymentMismatchError, MissingAccountError } from "../../sdk/client.js";
import { getBalances, redeemableBalanceOf } from "../../sdk/balances.js";
import { applyClassChanges, diffClasses, findClass, listClasses, lotsOfClass, type ClassSpec } from "../../sdk/classes.js";
import { formatExpiry } from "../../sdk/format.js";
import { type GrantPlan, GRANT_COLUMNS, prepareGrants, sendGrants } from "../../sdk/grants.js";
import { holderStatus, offboardHolder, onboardHolders } from "../../sdk/holders.js";
import { encodeLotId } from "../../sdk/lotId.js";
import { writeComputeToken } from "../../sdk/write.js";
import { type LocalChain, TEST_CLASSES, increaseTime, startLocalChain } from "../../devkit/localChain.js";

const HEADER = GRANT_COLUMNS.join(",");

describe("SDK client: reads and writes against a real chain (sdk/client.ts and friends)", function () {
  let chain: LocalChain;
  before(async () => {
    chain = await startLocalChain();
  });
  after(async () => chain?.stop());

  it("binds typed clients to the deployment and polls fast on loopback", async () => {
    expect(chain.reader.publicClient.pollingInterval).to.equal(20);
    expect(createCtkClient({ rpcUrl: chain.anvil.rpcUrl, deployment: chain.deployment }).publicClient.pollingInterval).to.equal(50);
    expect(createCtkClient({ rpcUrl: "https://rpc.example.com", deployment: chain.deployment }).publicClient.pollingInterval).to.equal(1000);
    expect(chain.reader.computeToken.address).to.equal(chain.deployment.computeToken);
    await checkDeployment(chain.reader);
    expect(chain.reader.walletClient).to.equal(undefined);
    try {
      await writeComputeToken(chain.reader, "onboard", [[chain.employeeAddress(0)]]);
      expect.fail("a read-only client cannot send");
    } catch (e) {
      expect(e).to.be.instanceOf(MissingAccountError);
    }
  });

  it("refuses a deployment file that does not match the chain", async () => {
    const wrongChain = createCtkClient({ rpcUrl: chain.anvil.rpcUrl, deployment: { ...chain.deployment, chainId: 1 } });
    const noCode = createCtkClient({ rpcUrl: chain.anvil.rpcUrl, deployment: { ...chain.deployment, computeToken: chain.employeeAddress(0) } });
    for (const [client, msg] of [
      [wrongChain, /is chain 31337, but the deployment file is for chain 1/],
      [noCode, /no ComputeToken at 0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc/],
    ] as const) {
      try {
        await checkDeployment(client);
        expect.fail("should not match");
      } catch (e) {
        expect(e).to.be.instanceOf(DeploymentMismatchError);
        expect((e as Error).message).to.match(msg);
      }
    }
  });

  it("lists classes with their names and finds one by name", async () => {
    const classes = await listClasses(chain.reader);
    expect(classes.map((c) => c.name)).to.deep.equal(TEST_CLASSES.map((c) => c.name));
    expect(classes[1]).to.deep.equal({ classId: 2, name: "H100-80GB", productLabel: "NVIDIA-H100-80GB-HBM3", memoryGiB: 80, maxGpusPerJob: 8, active: true });
    expect((await findClass(chain.reader, "H100-80GB"))?.classId).to.equal(2);
    expect(await findClass(chain.reader, "V100")).to.equal(undefined);
  });

  it("diffs a classes file against the chain and applies defines, updates and retirements", async () => {
    const file: { classes: ClassSpec[] } = {
      classes: [
        { ...TEST_CLASSES[0], maxGpusPerJob: 4 },
        TEST_CLASSES[1],
        { name: "B200", productLabel: "NVIDIA-B200", memoryGiB: 180, maxGpusPerJob: 8, retired: false },
        { name: "T4", productLabel: "Tesla-T4", memoryGiB: 16, maxGpusPerJob: 1, retired: true },
      ],
    };
    const diff = diffClasses(file, await listClasses(chain.reader));
    expect(diff.changes.map((c) => c.kind)).to.deep.equal(["update", "define"]);
    expect(diff.unchanged).to.deep.equal(["H100-80GB"]);
    await applyClassChanges(chain.ops, diff.changes);
    expect(diffClasses(file, await listClasses(chain.reader)).changes).to.deep.equal([]);
    expect((await findClass(chain.reader, "A100-80GB"))?.maxGpusPerJob).to.equal(4);

    const retire = diffClasses({ classes: [{ ...file.classes[2], retired: true }] }, await listClasses(chain.reader));
    expect(retire.changes).to.deep.equal([{ kind: "retire", classId: 3, name: "B200" }]);
    expect(retire.notInFile).to.deep.equal(["A100-80GB", "H100-80GB"]);
    await applyClassChanges(chain.ops, retire.changes);
    expect((await findClass(chain.reader, "B200"))?.active).to.equal(false);
    expect(diffClasses({ classes: [file.classes[2]] }, await listClasses(chain.reader)).cannotReactivate).to.deep.equal(["B200"]);
  });

  it("onboards only the wallets not yet on the allow-list, in batches", async () => {
    const first = await onboardHolders(chain.hr, [chain.employeeAddress(0), chain.employeeAddress(1)]);
    expect(first.onboarded).to.deep.equal([chain.employeeAddress(0), chain.employeeAddress(1)]);
    expect(first.transactions).to.have.length(1);
    const again = await onboardHolders(chain.hr, [chain.employeeAddress(1), chain.employeeAddress(2)]);
    expect(again.onboarded).to.deep.equal([chain.employeeAddress(2)]);
    expect(again.alreadyHolders).to.deep.equal([chain.employeeAddress(1)]);
    const status = await holderStatus(chain.reader, [chain.employeeAddress(2), chain.employeeAddress(4)]);
    expect([...status.values()]).to.deep.equal([true, false]);
  });

  it("grants each row of a payroll run once: a re-run saved as LF without its BOM, with a row removed or another batch size pays nothing twice", async () => {
    const [a, b] = [chain.employeeAddress(0), chain.employeeAddress(1)];
    const rows = [
      `E0,${a},H100-80GB,1,2031-01-01,false`,
      `E1,${b},H100-80GB,2,2031-01-01,false`,
      `E0,${a},A100-80GB,3,2031-01-01,true`,
      `E1,${b},A100-80GB,4.5,2031-01-01,true`,
      `E0,${a},H100-80GB,5,2031-06-30,false`,
    ];
    const bomCrlf = `\ufeff${[HEADER, ...rows].join("\r\n")}\r\n`;
    const plan = await prepareGrants(chain.reader, bomCrlf, { run: "2026-11" });
    expect(plan.problems).to.deep.equal([]);
    expect(plan.pending).to.have.length(5);
    expect(plan.granted).to.deep.equal([]);
    expect(plan.totals).to.deep.equal([
      { className: "A100-80GB", rows: 2, recipients: 2, units: 7n * 3600n + 1800n },
      { className: "H100-80GB", rows: 3, recipients: 2, units: 8n * 3600n },
    ]);

    // An interrupted run: two rows landed (one transaction of two).
    const interrupted: GrantPlan = { ...plan, pending: plan.pending.slice(0, 2) };
    const firstRun = await sendGrants(chain.hr, interrupted, { batchSize: 2 });
    expect(firstRun).to.include({ batchesSent: 1, rowsMinted: 2 });
    const landed = new Set(interrupted.pending.map((r) => `${r.employeeId} ${r.className} ${r.units}`));

    // Re-run from the file saved again as LF without the BOM, the row of line 5 removed, one row per transaction.
    const lf = [HEADER, ...rows.filter((_, i) => i !== 3)].join("\n");
    const resumed = await prepareGrants(chain.reader, lf, { run: "2026-11" });
    expect(new Set(resumed.granted.map((r) => `${r.employeeId} ${r.className} ${r.units}`))).to.deep.equal(new Set([...landed].filter((k) => k !== `E1 A100-80GB ${16_200n}`)));
    expect(resumed.granted.length + resumed.pending.length).to.equal(4);
    const secondRun = await sendGrants(chain.hr, resumed, { batchSize: 1, inFlight: 2 });
    expect(secondRun.rowsMinted).to.equal(resumed.pending.length);
    expect(firstRun.rowsMinted + secondRun.rowsMinted + (landed.has(`E1 A100-80GB ${16_200n}`) ? 0 : 1)).to.equal(5);

    // The whole file again (CRLF + BOM): at most the removed row is left.
    const done = await prepareGrants(chain.reader, bomCrlf, { run: "2026-11" });
    expect(done.granted.length + done.pending.length).to.equal(5);
    expect(done.pending.map((r) => r.line)).to.deep.equal(landed.has(`E1 A100-80GB ${16_200n}`) ? [] : [5]);
    // A stale plan sent again mints nothing: the landed rows are read again before sending.
    const stale = await sendGrants(chain.hr, resumed);
    expect(stale).to.include({ batchesSent: 0, rowsMinted: 0, rowsSkipped: resumed.pending.length });
    await sendGrants(chain.hr, done);

    expect(await redeemableBalanceOf(chain.reader, a, 2)).to.equal(6n * 3600n);
    expect(await redeemableBalanceOf(chain.reader, b, 1)).to.equal(4n * 3600n + 1800n);
    // Another run is another payroll: the same rows are due again there.
    expect((await prepareGrants(chain.reader, lf, { run: "2026-12" })).pending).to.have.length(4);
  });

  it("cuts rows that each open a lot and a balance into transactions under the 16,777,216 gas cap", async function () {
    this.timeout(180_000);
    const c = chain.employeeAddress(3);
    await onboardHolders(chain.hr, [c]);
    // 256 rows, each in a lot of its own (one expiry day each): one 256-row transaction would need ≈ 20 M gas.
    const day = (i: number) => new Date(Date.UTC(2032, 0, 1) + i * 86_400_000).toISOString().slice(0, 10);
    const csv = [HEADER, ...Array.from({ length: 256 }, (_, i) => `E3,${c},A100-80GB,1,${day(i)},true`)].join("\n");
    const plan = await prepareGrants(chain.reader, csv, { run: "gas-cap" });
    expect(plan.problems).to.deep.equal([]);
    const sent = await sendGrants(chain.hr, plan);
    expect(sent.rowsMinted).to.equal(256);
    expect(sent.batchesSent).to.be.greaterThan(1);
    for (const hash of sent.transactions) {
      const { gasUsed } = await chain.reader.publicClient.getTransactionReceipt({ hash });
      expect(gasUsed < 16_777_216n, `transaction used ${gasUsed} gas`).to.equal(true);
    }
  });

  it("checks rows against the chain: unknown and retired classes, holders, past expiry", async () => {
    const csv = [
      HEADER,
      `E0,${chain.employeeAddress(0)},V100,1,2031-01-01,false`,
      `E0,${chain.employeeAddress(0)},B200,1,2031-01-01,false`,
      `E4,${chain.employeeAddress(4)},H100-80GB,1,2031-01-01,false`,
      `E0,${chain.employeeAddress(0)},H100-80GB,1,2001-01-01,false`,
    ].join("\n");
    const plan = await prepareGrants(chain.reader, csv, { run: "checks" });
    expect(plan.problems).to.deep.equal([
      { line: 2, message: 'unknown class "V100" (classes: A100-80GB, H100-80GB, B200)' },
      { line: 3, message: "class B200 is retired" },
      { line: 4, message: `wallet ${chain.employeeAddress(4)} (employee E4) is not onboarded` },
      { line: 5, message: `expires_at 2001-01-01 is in the past (chain time ${formatExpiry(plan.checkedAt)})` },
    ]);
    expect(plan.pending).to.deep.equal([]);
  });

  it("reports balances per lot and class: raw, redeemable and expired at chain time", async () => {
    const c = chain.employeeAddress(2);
    const now = (await chain.reader.publicClient.getBlock()).timestamp;
    const soon = encodeLotId({ classId: 2, expiresAt: now + 1000n, policy: "soulbound" });
    const later = encodeLotId({ classId: 2, expiresAt: now + 100_000n, policy: "transferable" });
    await writeComputeToken(chain.hr, "grantBatch", [`0x${"ab".repeat(32)}`, [c, c], [soon, later], [3600n, 7200n]]);
    let bal = await getBalances(chain.reader, c);
    expect(bal.classes).to.have.length(1);
    expect(bal.classes[0]).to.deep.include({ name: "H100-80GB", raw: 10800n, redeemable: 10800n, expired: 0n });
    expect(bal.classes[0].lots.map((l) => l.lotId)).to.deep.equal([soon, later]);

    await increaseTime(chain, 2000);
    bal = await getBalances(chain.reader, c);
    expect(bal.classes[0]).to.deep.include({ raw: 10800n, redeemable: 7200n, expired: 3600n });
    expect(bal.classes[0].lots.map((l) => l.expired)).to.deep.equal([true, false]);
    expect(bal.totals).to.deep.equal({ raw: 10800n, redeemable: 7200n, expired: 3600n, inFlight: 0n });
    expect(await redeemableBalanceOf(chain.reader, c, 2)).to.equal(7200n);
    const lots = await lotsOfClass(chain.reader, { classId: 2, name: "H100-80GB" });
    expect(lots.find((l) => l.lotId === soon)).to.deep.include({ expired: true, totalSupply: 3600n, className: "H100-80GB" });
  });

  it("offboards a leaver and claws back every lot, expired ones included", async () => {
    const c = chain.employeeAddress(2);
    const result = await offboardHolder(chain.hr, c, { clawback: true });
    expect(result.offboarded).to.equal(true);
    expect(result.clawedBack.map((l) => l.amount)).to.deep.equal([3600n, 7200n]);
    const bal = await getBalances(chain.reader, c);
    expect(bal).to.deep.include({ onboarded: false, classes: [] });
    try {
      await offboardHolder(chain.hr, c);
      expect.fail("offboarding twice should say so");
    } catch (e) {
      expect((e as Error).message).to.equal(`${c} is not an onboarded holder: nothing to offboard`);
    }
  });
});
