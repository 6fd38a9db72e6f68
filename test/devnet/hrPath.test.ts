/**
 * The path of a new user, end to end, against a real anvil started by `ctk devnet up` (a child
 * process, as `npm start` runs it): onboard, dry-run, grant a 250-row file, the same file again, a
 * file full of mistakes, offboard with clawback, then stop and restart the devnet and find every
 * balance still there. Finishes with the README's commands on the example files.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { type Address, getAddress, keccak256, toHex } from "viem";
import { createCtkClient, type CtkClient } from "../../sdk/client.js";
import { findClass } from "../../sdk/classes.js";
import { readDeployment } from "../../sdk/deployment.js";
import { parseExpiry, parseHours } from "../../sdk/format.js";
import { encodeLotId, type TransferPolicyName } from "../../sdk/lotId.js";
import { LOCAL_ROLE_KEYS, localEmployeeKey } from "../../devkit/localAccounts.js";
import { freePort } from "../../devkit/startAnvil.js";
import { type DevnetProcess, jsonOf, runCtk, startDevnetProcess } from "../support/cli.js";
import { privateKeyToAccount } from "viem/accounts";

const EMPLOYEES = 100;
const ROWS = 250;
const CLASSES = ["A100-80GB", "H100-80GB", "B200"] as const;
const EXPIRIES = ["2031-03-31", "2031-12-31T18:00:00Z"] as const;
const HOURS = ["1", "2.5", "0.0025", "40", "12.75", "8", "0.5", "100"] as const;

const walletOf = (i: number): Address => getAddress(keccak256(toHex(`ctk-test-employee-${i}`)).slice(0, 42));

interface Row {
  employeeId: string;
  wallet: Address;
  className: string;
  hours: string;
  expiresAt: string;
  policy: TransferPolicyName;
}

function grantRows(): Row[] {
  return Array.from({ length: ROWS }, (_, i) => ({
    employeeId: `E${String(i % EMPLOYEES).padStart(4, "0")}`,
    wallet: walletOf(i % EMPLOYEES),
    className: CLASSES[i % 3],
    hours: HOURS[i % HOURS.length],
    expiresAt: EXPIRIES[Math.floor(i / 7) % 2],
    policy: i % 5 === 0 ? "transferable" : "soulbound",
  }));
}

const toCsv = (rows: Row[]) =>
  `${["employee_id,wallet,class,gpu_hours,expires_at,transferable", ...rows.map((r) => [r.employeeId, r.wallet, r.className, r.hours, r.expiresAt, r.policy === "transferable"].join(","))].join("\n")}\n`;

describe("devnet + HR command line, end to end (ctk devnet up, ctk hr …, ctk balance)", function () {
  this.timeout(180_000);
  let dir: string;
  let port: number;
  let devnet: DevnetProcess | undefined;
  let env: Record<string, string>;
  let reader: CtkClient;
  let classIds: Map<string, number>;
  const rows = grantRows();
  const files: Record<string, string> = {};
  const expected = new Map<string, bigint>(); // `${wallet}:${lotId}` → units
  const ctk = (...args: string[]) => runCtk(args, { env });
  const lotOf = (r: Row) => encodeLotId({ classId: classIds.get(r.className)!, expiresAt: parseExpiry(r.expiresAt), policy: r.policy });

  async function balancesOnChain(keys: string[]): Promise<Map<string, bigint>> {
    const parts = keys.map((k) => k.split(":"));
    const balances = await reader.publicClient.readContract({
      ...reader.computeToken,
      functionName: "balanceOfBatch",
      args: [parts.map((p) => p[0] as Address), parts.map((p) => BigInt(p[1]))],
    });
    return new Map(keys.map((k, i) => [k, balances[i]]));
  }
  async function totalSupply(): Promise<bigint> {
    let total = 0n;
    for (const id of classIds.values()) {
      const lots = await reader.publicClient.readContract({ ...reader.computeToken, functionName: "lotsOfClass", args: [id] });
      for (const lot of lots) total += await reader.publicClient.readContract({ ...reader.computeToken, functionName: "totalSupply", args: [lot] });
    }
    return total;
  }

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "ctk-devnet-"));
    port = await freePort();
    env = {
      CTK_RPC: `http://127.0.0.1:${port}`,
      CTK_DEPLOYMENT: path.join(dir, "deployment.json"),
      CTK_PRIVATE_KEY: LOCAL_ROLE_KEYS.HR,
      CTK_OPERATIONS_KEY: LOCAL_ROLE_KEYS.OPERATIONS,
    };
    files.employees = path.join(dir, "employees.csv");
    writeFileSync(files.employees, ["employee_id,wallet", ...Array.from({ length: EMPLOYEES }, (_, i) => `E${String(i).padStart(4, "0")},${walletOf(i)}`)].join("\n"));
    files.grants = path.join(dir, "grants.csv");
    writeFileSync(files.grants, toCsv(rows));
  });
  after(async () => {
    await devnet?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("starts the devnet: anvil, a fresh deployment, the classes of config/classes.json and the redeemer", async () => {
    devnet = await startDevnetProcess(["--port", String(port), "--dir", dir, "--redeemer-port", "0", "--gateway-port", "0", "--no-demo"]);
    expect(devnet.info.reused).to.equal(false);
    expect(devnet.info.rpcUrl).to.equal(env.CTK_RPC);
    expect(devnet.info.classes.map((c) => c.name)).to.deep.equal([...CLASSES]);
    expect(devnet.info.redeemer.started, devnet.info.redeemer.note).to.equal(true);
    reader = createCtkClient({ rpcUrl: devnet.info.rpcUrl, deployment: readDeployment(env.CTK_DEPLOYMENT) });
    classIds = new Map();
    for (const name of CLASSES) classIds.set(name, (await findClass(reader, name))!.classId);
    for (const r of rows) {
      const key = `${r.wallet}:${lotOf(r)}`;
      expected.set(key, (expected.get(key) ?? 0n) + parseHours(r.hours));
    }
  });

  it("onboards every employee of employees.csv", async () => {
    const run = await ctk("--json", "hr", "onboard", "--csv", files.employees);
    expect(run.code, run.stderr).to.equal(0);
    const out = jsonOf<{ onboarded: string[]; alreadyHolders: string[] }>(run);
    expect(out.onboarded).to.have.length(EMPLOYEES);
    expect(out.alreadyHolders).to.deep.equal([]);
  });

  it("dry-runs the 250-row grant: prints the table and totals per class, mints nothing", async () => {
    const run = await ctk("hr", "grant", "--csv", files.grants, "--dry-run");
    expect(run.code, run.stderr).to.equal(0);
    const lines = run.stdout.split("\n");
    expect(lines.filter((l) => /^\s+\d+\s+E\d{4}\s+0x/.test(l))).to.have.length(ROWS);
    const totalHours = rows.reduce((s, r) => s + parseHours(r.hours), 0n);
    const totalLine = lines.find((l) => l.startsWith("total"))!;
    expect(totalLine.split(/\s+/)).to.include(String(ROWS)).and.to.include(totalHours.toString());
    for (const c of CLASSES) expect(lines.some((l) => l.startsWith(c))).to.equal(true);
    expect(run.stdout).to.match(/dry run: nothing sent \(run grants; a real run sends 250 rows in chunks of at most 256 rows that fit the gas cap\)/);
    expect(await totalSupply()).to.equal(0n);
  });

  it("grants the file in batches; every balance matches the file to the GPU-second", async () => {
    const run = await ctk("--json", "hr", "grant", "--csv", files.grants, "--batch-size", "100");
    expect(run.code, run.stderr).to.equal(0);
    const out = jsonOf<{ rowsMinted: number; batchesSent: number; unitsMinted: string }>(run);
    expect(out).to.include({ rowsMinted: ROWS, batchesSent: 3 });
    const onChain = await balancesOnChain([...expected.keys()]);
    expect(onChain).to.deep.equal(expected);
    expect(BigInt(out.unitsMinted)).to.equal([...expected.values()].reduce((a, b) => a + b, 0n));
  });

  it("grants nothing the second time the same file runs, and says so", async () => {
    const supply = await totalSupply();
    const run = await ctk("hr", "grant", "--csv", files.grants, "--batch-size", "100");
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout.trim()).to.equal(`${files.grants}: every row of run grants was already granted (250 rows): nothing minted`);
    expect(await totalSupply()).to.equal(supply);
  });

  it("applies a classes file: defines a class, then retires it (operations key)", async () => {
    const spec = { name: "V100-16GB", productLabel: "Tesla-V100-SXM2-16GB", memoryGiB: 16, maxGpusPerJob: 4 };
    files.classes = path.join(dir, "classes.json");
    writeFileSync(files.classes, JSON.stringify({ classes: [spec] }));
    let run = await ctk("hr", "classes", "--file", files.classes);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stderr).to.include("define V100-16GB (Tesla-V100-SXM2-16GB, 16 GiB, max 4 GPUs/job)");
    expect(run.stdout).to.include(`applied 1 change from ${files.classes}`);
    expect(run.stdout).to.include("on chain but not in");
    writeFileSync(files.classes, JSON.stringify({ classes: [{ ...spec, retired: true }] }));
    run = await ctk("--json", "hr", "classes", "--file", files.classes);
    expect(run.code, run.stderr).to.equal(0);
    expect(jsonOf<{ applied: boolean; changes: { kind: string }[] }>(run)).to.deep.include({ applied: true, changes: [{ kind: "retire", classId: 4, name: "V100-16GB" }] });
  });

  it("refuses a file with bad rows: lists every problem with its line and mints nothing", async () => {
    const good = rows[0];
    const stranger = walletOf(999);
    const bad = [
      "employee_id,wallet,class,gpu_hours,expires_at,transferable",
      `E0001,${walletOf(1)},H100-80GB,3,2031-03-31,false`, // 2 good
      `E0002,0xnot-an-address,H100-80GB,1,2031-03-31,false`, // 3
      `E9999,${stranger},H100-80GB,1,2031-03-31,false`, // 4 not onboarded
      `E0003,${walletOf(3)},TPU-v5,1,2031-03-31,false`, // 5 unknown class
      `E0004,${walletOf(4)},V100-16GB,1,2031-03-31,false`, // 6 retired class
      `E0005,${walletOf(5)},B200,1,2020-01-01,false`, // 7 past
      `E0006,${walletOf(6)},B200,1,next friday,false`, // 8 malformed expiry
      `E0007,${walletOf(7)},B200,0,2031-03-31,false`, // 9 zero hours
      `E0008,${walletOf(8)},B200,-3,2031-03-31,false`, // 10 negative
      `E0009,${walletOf(9)},B200,0.0001,2031-03-31,false`, // 11 fractional second
      `${good.employeeId},${good.wallet},${good.className},${good.hours},${good.expiresAt},false`, // 12 good
      `${good.employeeId},${good.wallet},${good.className},${good.hours},${good.expiresAt},false`, // 13 duplicate
    ].join("\n");
    files.bad = path.join(dir, "bad-grants.csv");
    writeFileSync(files.bad, bad);
    const supply = await totalSupply();
    const run = await ctk("hr", "grant", "--csv", files.bad);
    expect(run.code).to.equal(1);
    // First, which address signs (HR's); then the error.
    const [signing, ...lines] = run.stderr.trim().split("\n");
    expect(signing).to.match(/^signing as 0x[0-9a-fA-F]{40} \(the key in CTK_PRIVATE_KEY\)$/);
    const chainTime = lines.find((l) => l.startsWith("  line 7"))?.match(/chain time (\S+)\)/)?.[1];
    expect(lines[0]).to.equal(`error: ${files.bad}: 10 problems, nothing minted`);
    expect(lines.slice(1)).to.deep.equal([
      '  line 3: wallet "0xnot-an-address" is not a 0x-prefixed 20-byte address',
      `  line 4: wallet ${stranger} (employee E9999) is not onboarded`,
      '  line 5: unknown class "TPU-v5" (classes: A100-80GB, H100-80GB, B200, V100-16GB)',
      "  line 6: class V100-16GB is retired",
      `  line 7: expires_at 2020-01-01 is in the past (chain time ${chainTime})`,
      '  line 8: expires_at "next friday" is not an ISO-8601 date (e.g. 2027-03-31 or 2027-03-31T18:00:00Z)',
      '  line 9: gpu_hours "0" is not positive',
      '  line 10: gpu_hours "-3" is negative',
      '  line 11: gpu_hours "0.0001" is not a whole number of GPU-seconds (hours × 3600)',
      "  line 13: duplicates line 12",
    ]);
    expect(await totalSupply()).to.equal(supply);
  });

  it("offboards a leaver with --clawback: off the allow-list, every lot burned", async () => {
    const leaver = walletOf(0);
    const mine = [...expected.keys()].filter((k) => k.startsWith(`${leaver}:`));
    const held = [...(await balancesOnChain(mine)).values()].reduce((a, b) => a + b, 0n);
    expect(held > 0n).to.equal(true);
    const run = await ctk("--json", "hr", "offboard", "--wallet", leaver, "--clawback");
    expect(run.code, run.stderr).to.equal(0);
    const out = jsonOf<{ offboarded: boolean; clawedBack: { amount: string }[] }>(run);
    expect(out.offboarded).to.equal(true);
    expect(out.clawedBack.reduce((s, c) => s + BigInt(c.amount), 0n)).to.equal(held);
    for (const k of mine) expected.set(k, 0n);
    expect(await balancesOnChain([...expected.keys()])).to.deep.equal(expected);
    expect(await reader.publicClient.readContract({ ...reader.computeToken, functionName: "isHolder", args: [leaver] })).to.equal(false);
  });

  it("stops on SIGTERM and, started again with `npm start`, reuses the deployment with every balance still there", async () => {
    expect(await devnet!.stop()).to.equal(0);
    devnet = undefined;
    devnet = await startDevnetProcess(["--port", String(port), "--dir", dir, "--redeemer-port", "0", "--gateway-port", "0"], { npmStart: true });
    expect(devnet.info.reused).to.equal(true);
    expect(devnet.info.deployment.computeToken).to.equal(reader.computeToken.address);
    expect(await balancesOnChain([...expected.keys()])).to.deep.equal(expected);
  });

  it("runs the README path on the example files: onboard, grant, balance", async () => {
    let run = await runCtk(["hr", "onboard", "--csv", "examples/employees.csv"], { env, npx: true });
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.include("onboarded 3 wallets in 1 transaction");
    run = await ctk("hr", "grant", "--csv", "examples/grants.csv", "--dry-run");
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.match(/^total\s+4\s+3\s+160\.5\s+577800$/m);
    run = await ctk("hr", "grant", "--csv", "examples/grants.csv");
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.include("run grants: granted 4 rows (160.5 GPU-hours) in 1 transaction");
    const wallet = privateKeyToAccount(localEmployeeKey(0)).address;
    run = await ctk("balance", "--wallet", wallet);
    expect(run.code, run.stderr).to.equal(0);
    // class, redeemable, in flight, expired; then each lot with its countdown
    expect(run.stdout).to.match(/^A100-80GB\s+100\s+0\s+0$/m);
    expect(run.stdout).to.match(/^H100-80GB\s+40\s+0\s+0$/m);
    expect(run.stdout).to.match(/^H100-80GB\s+2030-12-31\s+expires in \d+ days\s+soulbound\s+40\s+144000\s+redeemable$/m);
    run = await ctk("hr", "classes", "--file", "config/classes.json");
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.include("the classes on chain match config/classes.json");
    run = await ctk("hr", "offboard", "--wallet", "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955", "--clawback");
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.include("clawed back 8 GPU-hours of B200 expiring 2030-12-31 (soulbound)");
  });

  it("stops with Ctrl-C (SIGINT to `npm start`'s process group): the devnet and its chain shut down", async () => {
    // npm itself may die of the SIGINT (128) or pass on the devnet's clean exit (0).
    expect(await devnet!.stop("SIGINT")).to.be.oneOf([0, 128, 130]);
    devnet = undefined;
    const res = await fetch(env.CTK_RPC, { method: "POST", body: "{}" }).then(
      () => "answered",
      () => "closed",
    );
    expect(res).to.equal("closed");
  });
});
