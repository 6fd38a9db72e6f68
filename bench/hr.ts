/**
 * HR grant benchmark (`npm run bench:hr`): a 10,000-row grants.csv on the local chain (a fresh
 * anvil, automine), end to end through `ctk hr grant` (validation against the chain, 40 batches of
 * ≤ 256 rows, receipts), and the same work through the SDK with its phases timed separately.
 * Reports rows per second and gas per row, and writes them into the "hr" generated block of the
 * "## HR grant (npm run bench:hr)" section of bench/RESULTS.md (the prose around it is left as it is).
 *
 * Every row is a fresh (holder, lot) balance: 5,000 onboarded wallets × 2 classes, per file.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { RESULTS_FILE, writeGenerated } from "./results.js";
import { cpus, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type Address, getAddress, keccak256, toHex } from "viem";
import { createCtkClient } from "../sdk/client.js";
import { applyClassChanges, diffClasses, listClasses, readClassesFile } from "../sdk/classes.js";
import { prepareGrants, sendGrants } from "../sdk/grants.js";
import { onboardHolders } from "../sdk/holders.js";
import { LOCAL_ROLE_KEYS, deployLocal } from "../devkit/localAccounts.js";
import { startAnvil } from "../devkit/startAnvil.js";

const ROWS = Number(process.env.BENCH_HR_ROWS ?? 10_000);
const WALLETS = ROWS / 2;
const SECTION = "## HR grant (npm run bench:hr)";
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

const fmt = (n: number | bigint, digits = 0) =>
  typeof n === "bigint" ? n.toLocaleString("en-US") : n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const walletOf = (i: number): Address => getAddress(keccak256(toHex(`bench-employee-${i}`)).slice(0, 42));

function grantsCsv(expiresAt: string): string {
  const lines = ["employee_id,wallet,class,gpu_hours,expires_at,transferable"];
  for (let i = 0; i < ROWS; i++) {
    const w = i % WALLETS;
    lines.push(`E${w},${walletOf(w)},${i < WALLETS ? "H100-80GB" : "A100-80GB"},${(i % 40) + 0.5},${expiresAt},${i % 3 === 0}`);
  }
  return `${lines.join("\n")}\n`;
}

function runCli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string; seconds: number }> {
  const started = performance.now();
  const child = spawn(process.execPath, [path.join(ROOT, "bin", "ctk.js"), ...args], { cwd: ROOT, env: { ...process.env, ...env } });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr, seconds: (performance.now() - started) / 1000 })));
}

const dir = mkdtempSync(path.join(tmpdir(), "ctk-bench-hr-"));
const anvil = await startAnvil();
try {
  const deployment = await deployLocal(anvil.rpcUrl);
  const deploymentFile = path.join(dir, "deployment.json");
  writeFileSync(deploymentFile, JSON.stringify(deployment));
  const client = (key?: `0x${string}`) => createCtkClient({ rpcUrl: anvil.rpcUrl, deployment, account: key, pollingInterval: 20 });
  const ops = client(LOCAL_ROLE_KEYS.OPERATIONS);
  const hr = client(LOCAL_ROLE_KEYS.HR);
  await applyClassChanges(ops, diffClasses(readClassesFile(path.join(ROOT, "config", "classes.json")), await listClasses(ops)).changes);
  process.stderr.write(`onboarding ${fmt(WALLETS)} wallets…\n`);
  await onboardHolders(
    hr,
    Array.from({ length: WALLETS }, (_, i) => walletOf(i)),
  );

  // 1. End to end through the command line, as HR runs it.
  const cliFile = path.join(dir, "grants-cli.csv");
  writeFileSync(cliFile, grantsCsv("2031-06-30"));
  process.stderr.write(`ctk hr grant: ${fmt(ROWS)} rows…\n`);
  const cli = await runCli(["--json", "--rpc", anvil.rpcUrl, "--deployment", deploymentFile, "hr", "grant", "--csv", cliFile], {
    CTK_PRIVATE_KEY: LOCAL_ROLE_KEYS.HR,
  });
  if (cli.code !== 0) throw new Error(`ctk hr grant failed: ${cli.stderr}`);
  const cliOut = JSON.parse(cli.stdout) as { rowsMinted: number; batchesSent: number; gasUsed: string };
  if (cliOut.rowsMinted !== ROWS) throw new Error(`ctk minted ${cliOut.rowsMinted} rows, expected ${ROWS}`);
  const rerun = await runCli(["--json", "--rpc", anvil.rpcUrl, "--deployment", deploymentFile, "hr", "grant", "--csv", cliFile], {
    CTK_PRIVATE_KEY: LOCAL_ROLE_KEYS.HR,
  });
  const rerunOut = JSON.parse(rerun.stdout) as { alreadyGranted?: boolean; rowsMinted: number };
  if (!rerunOut.alreadyGranted || rerunOut.rowsMinted !== 0) throw new Error("the second run of the same file minted");

  // 2. The same work through the SDK, phases timed (a second file: fresh lots, fresh balances).
  const sdkText = grantsCsv("2031-12-31");
  process.stderr.write("SDK: prepare + send…\n");
  let t = performance.now();
  const plan = await prepareGrants(hr, sdkText, { run: "bench-sdk" });
  const prepareSeconds = (performance.now() - t) / 1000;
  if (plan.problems.length) throw new Error(`unexpected problems: ${JSON.stringify(plan.problems.slice(0, 3))}`);
  t = performance.now();
  const sent = await sendGrants(hr, plan);
  const sendSeconds = (performance.now() - t) / 1000;

  const cliGas = BigInt(cliOut.gasUsed);
  const sdkGas = sent.gasUsed;
  const gasPerRow = Number(cliGas) / ROWS;
  const perBatch = Number(sdkGas) / sent.batchesSent;
  const date = new Date().toISOString().slice(0, 10);
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  const gasTable = readFileSync(RESULTS_FILE, "utf8").match(/\| grantBatch, per holder \(100 fresh holders, lot already registered\) \| ([\d,]+) \|/)?.[1];

  const section = `Measured ${date} on a fresh local anvil (automine, chain 31337), ${cpus().length} × ${cpu}.
${fmt(ROWS)} rows = ${fmt(WALLETS)} onboarded wallets × 2 classes (H100-80GB, A100-80GB), one expiry, soulbound and
transferable mixed (2 lots per class): every row mints a fresh (holder, lot) balance. Batches of ≤ 256 rows, grouped by lot.

| run | rows | batches | wall time | rows/s | gas per row | gas per batch |
|---|--:|--:|--:|--:|--:|--:|
| \`ctk hr grant --csv\` (child process: start-up, validation against the chain, sending, receipts) | ${fmt(ROWS)} | ${cliOut.batchesSent} | ${fmt(cli.seconds, 1)} s | ${fmt(ROWS / cli.seconds)} | ${fmt(gasPerRow)} | ${fmt(Number(cliGas) / cliOut.batchesSent)} |
| SDK \`prepareGrants\` (parse, class + holder + batch checks) | ${fmt(ROWS)} | — | ${fmt(prepareSeconds, 2)} s | ${fmt(ROWS / prepareSeconds)} | — | — |
| SDK \`sendGrants\` (4 transactions in flight) | ${fmt(sent.rowsMinted)} | ${sent.batchesSent} | ${fmt(sendSeconds, 2)} s | ${fmt(sent.rowsMinted / sendSeconds)} | ${fmt(Number(sdkGas) / sent.rowsMinted)} | ${fmt(perBatch)} |
| the same file again (\`ctk hr grant\`, nothing minted) | 0 | 0 | ${fmt(rerun.seconds, 1)} s | — | — | — |

The gas table's grantBatch per fresh holder (100-holder batches, lot registered) when this ran: ${gasTable ?? "not in RESULTS.md"} gas.
`;
  // Only the figures: the hand-written notes around them in RESULTS.md stay as they are.
  writeGenerated(SECTION, "hr", section);
  process.stdout.write(`${section}\nwritten to ${RESULTS_FILE}\n`);
} finally {
  await anvil.stop();
  rmSync(dir, { recursive: true, force: true });
}
