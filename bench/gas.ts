/**
 * Gas benchmark (`npm run bench:gas`): ComputeToken beside a plain OpenZeppelin ERC-1155 compiled with
 * the same settings, measured in one run on a fresh in-process chain. Prints a Markdown table and writes
 * it into bench/RESULTS.md, replacing only its generated blocks ("gas", "gas credits"): the notes around them are hand-written.
 *
 * Every figure is one transaction's receipt `gasUsed`, and its execution gas: gasUsed minus the intrinsic
 * cost (21000 + 4 per zero and 16 per non-zero calldata byte). Targets come from issue 2, "Performance".
 *
 * BENCH_TRACE=1 also prints, for every measured transaction, where its gas went by call depth and opcode.
 */
import { RESULTS_FILE, writeGenerated } from "./results.js";
import hre, { network } from "hardhat";
import type { BaseContract, ContractTransactionResponse, Interface, Signer } from "ethers";
import { CREDIT_RESTRICTED_FUNCTIONS, RESTRICTED_FUNCTIONS, ROLES, type RoleName } from "../sdk/roles.js";
import { AUTHORIZATION_TYPES } from "../sdk/credits/authorization.js";
import { SOLC_SETTINGS } from "../hardhat.config.js";
import { exampleJobSpec } from "../devkit/exampleJobSpec.js";

const HOLDERS = 100;
const SECTION = "## Gas (npm run bench:gas)";
const CREDIT_SECTION = "## Gas — inference credits (npm run bench:gas)";
const LAUNCH_TIMEOUT = 3600;
const HOUR = 3600n;
const TRANSFERABLE = 1;

const { ethers, networkConfig } = await network.create();

// ─────────────────────────────── measuring ───────────────────────────────

interface Gas {
  gasUsed: bigint;
  intrinsic: bigint;
  execution: bigint;
}

function intrinsicGas(data: string): bigint {
  const bytes = ethers.getBytes(data);
  let cost = 21_000n;
  for (const b of bytes) cost += b === 0 ? 4n : 16n;
  return cost;
}

/** EIP-7623 (Prague on): a transaction pays at least 21000 + 10 per calldata token (zero byte 1, other 4). */
function calldataFloor(data: string): bigint {
  let tokens = 0n;
  for (const b of ethers.getBytes(data)) tokens += b === 0 ? 1n : 4n;
  return 21_000n + 10n * tokens;
}

async function measure(tx: Promise<ContractTransactionResponse>): Promise<Gas> {
  const sent = await tx;
  const receipt = await sent.wait();
  if (receipt === null || receipt.status !== 1) throw new Error(`transaction ${sent.hash} failed`);
  const intrinsic = intrinsicGas(sent.data);
  if (receipt.gasUsed <= calldataFloor(sent.data)) {
    console.warn(`warning: ${sent.hash} paid the EIP-7623 calldata floor; its execution gas is not meaningful`);
  }
  if (process.env.BENCH_TRACE) await traceBreakdown(sent.hash);
  return { gasUsed: receipt.gasUsed, intrinsic, execution: receipt.gasUsed - intrinsic };
}

/**
 * BENCH_TRACE=1: prints where a transaction's execution gas went, by call depth and opcode
 * (debug_traceTransaction). A call's own cost excludes the gas its callee used (listed at the next depth).
 */
async function traceBreakdown(hash: string): Promise<void> {
  type Step = { op: string; gas: number; gasCost: number; depth: number };
  const { structLogs: steps } = (await ethers.provider.send("debug_traceTransaction", [hash, { disableStorage: true, disableMemory: true, disableStack: true }])) as {
    structLogs: Step[];
  };
  const byOp = new Map<string, { n: number; gas: number }>();
  steps.forEach((step, i) => {
    let cost = step.gasCost;
    if (/^(CALL|CALLCODE|DELEGATECALL|STATICCALL)$/.test(step.op)) {
      let j = i + 1;
      while (j < steps.length && steps[j].depth > step.depth) j++;
      const child = j === i + 1 ? 0 : steps[i + 1].gas - (steps[j - 1].gas - steps[j - 1].gasCost);
      cost = j < steps.length ? step.gas - steps[j].gas - child : step.gasCost;
    }
    const key = `depth ${step.depth} ${step.op}`;
    const entry = byOp.get(key) ?? { n: 0, gas: 0 };
    entry.n += 1;
    entry.gas += cost;
    byOp.set(key, entry);
  });
  console.log(`trace ${hash}: ${steps.length} steps`);
  for (const [op, { n, gas }] of [...byOp.entries()].sort((a, b) => b[1].gas - a[1].gas).slice(0, 20)) {
    console.log(`  ${op.padEnd(22)} ×${String(n).padStart(5)} ${String(gas).padStart(9)}`);
  }
}

/** One transaction's gas divided over `n` entries (a batch, per holder). */
function perEntry(g: Gas, n: number): Gas {
  const d = BigInt(n);
  return { gasUsed: g.gasUsed / d, intrinsic: g.intrinsic / d, execution: g.execution / d };
}

// ─────────────────────────────── deployment ──────────────────────────────

const signers = await ethers.getSigners();
const [admin, hr, ops, redeemer, pauser, alice, bob, carol, dave] = signers;
const gatewaySigner = signers[19];
const roleHolder: Record<RoleName, Signer> = { ADMIN: admin, HR: hr, OPERATIONS: ops, REDEEMER: redeemer, PAUSER: pauser, GATEWAY: gatewaySigner };

const manager = await ethers.deployContract("@openzeppelin/contracts/access/manager/AccessManager.sol:AccessManager", [await admin.getAddress()]);
const token = await ethers.deployContract("ComputeToken", [await manager.getAddress(), LAUNCH_TIMEOUT]);
const plain = await ethers.deployContract("PlainERC1155");
const tokenAddress = await token.getAddress();
const plainAddress = await plain.getAddress();

// Wire AccessManager per sdk/roles.ts (ADMIN is the built-in role 0, already held by `admin`).
for (const [role, functions] of Object.entries(RESTRICTED_FUNCTIONS) as [RoleName, readonly string[]][]) {
  const roleId = ROLES[role];
  if (roleId !== ROLES.ADMIN) {
    await (await manager.getFunction("grantRole")(roleId, await roleHolder[role].getAddress(), 0)).wait();
  }
  const tokenInterface: Interface = token.interface;
  const selectors = functions.map((name) => tokenInterface.getFunction(name)!.selector);
  await (await manager.getFunction("setTargetFunctionRole")(tokenAddress, selectors, roleId)).wait();
}

const as = (contract: BaseContract, signer: Signer) => contract.connect(signer) as BaseContract;
const call = (contract: BaseContract, signer: Signer, fn: string, ...args: unknown[]) => as(contract, signer).getFunction(fn)(...args) as Promise<ContractTransactionResponse>;

// A class and a transferable lot a year out.
await (await call(token, ops, "defineClass", "H100-80GB", "NVIDIA-H100-80GB-HBM3", 80, 8)).wait();
const now = BigInt((await ethers.provider.getBlock("latest"))!.timestamp);
const expiresAt = now + 365n * 24n * HOUR;
const lotId: bigint = await token.getFunction("encodeLotId")(1, expiresAt, TRANSFERABLE);
const lotIdB: bigint = await token.getFunction("encodeLotId")(1, expiresAt + 30n * 24n * HOUR, TRANSFERABLE);

// Holders that act (signers), and 2 × 100 fresh addresses that only receive.
const actors = [alice, bob, carol, dave];
const actorAddresses = await Promise.all(actors.map((s) => s.getAddress()));
// Deterministic addresses, so calldata (and so gasUsed) is the same on every run.
const fresh = (label: string, n: number) => Array.from({ length: n }, (_, i) => ethers.getAddress(ethers.dataSlice(ethers.id(`bench:${label}:${i}`), 12)));
const grantees = fresh("grantees-new-lot", HOLDERS);
const grantees2 = fresh("grantees-known-lot", HOLDERS);
const freshRecipient = fresh("fresh-recipient", 1)[0];
await (await call(token, hr, "onboard", [...actorAddresses, freshRecipient])).wait();
await (await call(token, hr, "onboard", grantees)).wait();
await (await call(token, hr, "onboard", grantees2)).wait();

const units = 100n * HOUR; // 100 GPU-hours per grant
const batchRef = (label: string) => ethers.id(`bench:${label}`);
const amounts = (n: number) => Array<bigint>(n).fill(units);

// Actors hold both lots in both contracts, so transfers and redemptions move non-zero balances.
await (await call(token, hr, "grantBatch", batchRef("actors"), actorAddresses, Array(4).fill(lotId), amounts(4))).wait();
await (await call(plain, admin, "mintMany", actorAddresses, Array(4).fill(lotId), amounts(4))).wait();

// ─────────────────────────────── measurements ────────────────────────────

interface Row {
  operation: string;
  ct: Gas;
  base?: { label: string; gas: Gas };
  /** Ratio target against the baseline (gasUsed), or an absolute ceiling. */
  ratioTarget?: number;
  absTarget?: number;
}
const rows: Row[] = [];

// (a) Grants: 100 fresh holders in one batch. First into a lot never granted before (the batch also
// registers the lot), then into an existing lot. Plain: mintMany to 100 fresh holders.
const grantNewLot = await measure(call(token, hr, "grantBatch", batchRef("new-lot"), grantees, Array(HOLDERS).fill(lotIdB), amounts(HOLDERS)));
const grantKnownLot = await measure(call(token, hr, "grantBatch", batchRef("known-lot"), grantees2, Array(HOLDERS).fill(lotId), amounts(HOLDERS)));
const plainMint = await measure(call(plain, admin, "mintMany", grantees2, Array(HOLDERS).fill(lotId), amounts(HOLDERS)));
const plainMintPer = perEntry(plainMint, HOLDERS);
rows.push(
  {
    operation: `grantBatch, per holder (${HOLDERS} fresh holders, lot already registered)`,
    ct: perEntry(grantKnownLot, HOLDERS),
    base: { label: `mintMany, per holder (${HOLDERS} fresh)`, gas: plainMintPer },
    ratioTarget: 1.15,
  },
  {
    operation: `grantBatch, per holder (${HOLDERS} fresh holders, first grant of the lot)`,
    ct: perEntry(grantNewLot, HOLDERS),
    base: { label: `mintMany, per holder (${HOLDERS} fresh)`, gas: plainMintPer },
    ratioTarget: 1.15,
  },
);

// (b) Holder-to-holder transfers of part of a balance: to a holder already in the lot, and to a fresh one.
const amount = 2n * HOUR;
const xferHolding = await measure(call(token, alice, "safeTransferFrom", actorAddresses[0], actorAddresses[1], lotId, amount, "0x"));
const plainXferHolding = await measure(call(plain, alice, "safeTransferFrom", actorAddresses[0], actorAddresses[1], lotId, amount, "0x"));
const xferFresh = await measure(call(token, alice, "safeTransferFrom", actorAddresses[0], freshRecipient, lotId, amount, "0x"));
const plainXferFresh = await measure(call(plain, alice, "safeTransferFrom", actorAddresses[0], freshRecipient, lotId, amount, "0x"));
rows.push(
  {
    operation: "safeTransferFrom, recipient already holds the lot",
    ct: xferHolding,
    base: { label: "safeTransferFrom, same", gas: plainXferHolding },
    ratioTarget: 1.3,
  },
  {
    operation: "safeTransferFrom, recipient fresh",
    ct: xferFresh,
    base: { label: "safeTransferFrom, same", gas: plainXferFresh },
    ratioTarget: 1.3,
  },
);

// (c) Redeem from one lot with a 256-byte spec (4 GPUs × 1 h, normal priority: 14400 units).
function spec256(tag: number): string {
  const base = exampleJobSpec({ gpus: 4, project: `bench-${tag}`, pad: "" });
  const length = () => Buffer.byteLength(JSON.stringify(base));
  base.pad = "x".repeat(256 - length());
  const text = JSON.stringify(base);
  if (Buffer.byteLength(text) !== 256) throw new Error(`spec is ${Buffer.byteLength(text)} bytes, not 256`);
  return ethers.hexlify(ethers.toUtf8Bytes(text));
}
const NORMAL = 1;
let specTag = 0;
async function redeem(holder: Signer): Promise<{ id: bigint; gas: Gas }> {
  const tx = call(token, holder, "redeem", 1, [lotId], 4, 3600, NORMAL, spec256(specTag++));
  const sent = await tx;
  const receipt = (await sent.wait())!;
  const event = receipt.logs.map((log) => token.interface.parseLog(log)).find((parsed) => parsed?.name === "RedemptionRequested");
  const gas = await measure(Promise.resolve(sent));
  return { id: event!.args.id as bigint, gas };
}
const r1 = await redeem(alice);
rows.push({ operation: "redeem, 256-byte spec, one lot", ct: r1.gas, absTarget: 140_000 });

// (c′) Claims: one markRunning, and markRunningBatch of MAX_BATCH (256) ids, per claim.
const markRunningGas = await measure(call(token, redeemer, "markRunning", r1.id, ethers.id("job-1")));
const CLAIMS = 256;
const claimIds: bigint[] = [];
for (let i = 0; i < CLAIMS; i++) {
  const receipt = (await (await call(token, actors[i % actors.length]!, "redeem", 1, [lotId], 1, 60, NORMAL, spec256(specTag++))).wait())!;
  const event = receipt.logs.map((log) => token.interface.parseLog(log)).find((parsed) => parsed?.name === "RedemptionRequested");
  claimIds.push(event!.args.id as bigint);
}
const markRunningBatchGas = await measure(
  call(
    token,
    redeemer,
    "markRunningBatch",
    claimIds,
    claimIds.map((id) => ethers.id(`job-${id}`)),
  ),
);
rows.push({
  operation: `markRunningBatch, per claim (${CLAIMS} ids in one transaction)`,
  ct: perEntry(markRunningBatchGas, CLAIMS),
  base: { label: "markRunning, one claim per transaction", gas: markRunningGas },
});

// (d) Settle: partial use (refund into the lot) and full use (nothing refunded).
const settlePartial = await measure(call(token, redeemer, "settle", r1.id, 3600n, ethers.id("receipt-1")));
const r2 = await redeem(bob);
await (await call(token, redeemer, "markRunning", r2.id, ethers.id("job-2"))).wait();
const settleFull = await measure(call(token, redeemer, "settle", r2.id, 14_400n, ethers.id("receipt-2")));
rows.push(
  { operation: "settle, partial use (refund > 0)", ct: settlePartial, absTarget: 67_000 },
  { operation: "settle, used == reserved (no refund)", ct: settleFull, absTarget: 67_000 },
);

// (e) Reject a requested redemption (full refund).
const r3 = await redeem(carol);
const rejectGas = await measure(call(token, redeemer, "reject", r3.id, 3));
rows.push({ operation: "reject (full refund)", ct: rejectGas, absTarget: 67_000 });

// (f) Reclaim after the launch timeout (full refund).
const r4 = await redeem(dave);
await ethers.provider.send("evm_increaseTime", [LAUNCH_TIMEOUT + 1]);
await ethers.provider.send("evm_mine", []);
const reclaimGas = await measure(call(token, dave, "reclaim", r4.id));
rows.push({ operation: "reclaim (full refund)", ct: reclaimGas, absTarget: 60_000 });

// Plain burn, for reference beside redeem's burn.
const plainBurn = await measure(call(plain, alice, "burn", lotId, 14_400n));
rows.push({ operation: "(baseline only) plain burn, partial balance", ct: plainBurn });

// ───────────────────────── inference credits ─────────────────────────────
// InferenceCredit beside a plain OpenZeppelin ERC-20 (contracts/bench/PlainERC20.sol), same AccessManager.

const credit = await ethers.deployContract("InferenceCredit", [await manager.getAddress(), tokenAddress]);
const plain20 = await ethers.deployContract("PlainERC20");
const creditAddress = await credit.getAddress();
for (const [role, functions] of Object.entries(CREDIT_RESTRICTED_FUNCTIONS) as [RoleName, readonly string[]][]) {
  if (functions.length === 0) continue;
  const creditInterface: Interface = credit.interface;
  const selectors = functions.map((name) => creditInterface.getFunction(name)!.selector);
  await (await manager.getFunction("setTargetFunctionRole")(creditAddress, selectors, ROLES[role])).wait();
}
await (await manager.getFunction("grantRole")(ROLES.GATEWAY, await gatewaySigner.getAddress(), 0)).wait();

// 100 employees with keys (they sign authorizations), fresh in both contracts.
const creditHolders = Array.from({ length: HOLDERS }, (_, i) => new ethers.Wallet(ethers.id(`bench:credit-holder:${i}`)));
const creditHolderAddresses = creditHolders.map((w) => w.address);
await (await call(token, hr, "onboard", creditHolderAddresses)).wait();
const CREDIT = 1_000_000n;
const creditExpiry = now + 365n * 24n * HOUR;
const creditAmounts = Array<bigint>(HOLDERS).fill(100n * CREDIT);

// (g) Grants: one batch to 100 fresh holders; plain mintMany to the same 100 (fresh there too).
const creditGrant = await measure(call(credit, hr, "grantBatch", batchRef("credit-grant"), creditExpiry, false, creditHolderAddresses, creditAmounts));
const plain20Mint = await measure(call(plain20, admin, "mintMany", creditHolderAddresses, creditAmounts));
const creditRows: Row[] = [
  {
    operation: `grantBatch, per holder (${HOLDERS} fresh holders)`,
    ct: perEntry(creditGrant, HOLDERS),
    base: { label: `mintMany, per holder (${HOLDERS} fresh)`, gas: perEntry(plain20Mint, HOLDERS) },
    ratioTarget: 1.25,
  },
];

// (h) Settlement: 100 holders each sign an authorization; the first batch activates them and charges
// once each; the second charges the same authorizations again (the steady state).
const { chainId } = await ethers.provider.getNetwork();
const domain = { name: "InferenceCredit", version: "1", chainId, verifyingContract: creditAddress };
const authTypes = { Authorization: AUTHORIZATION_TYPES.Authorization.map((x) => ({ ...x })) };
const gatewayAddress = await gatewaySigner.getAddress();
const activations = await Promise.all(
  creditHolders.map(async (w) => {
    const auth = { holder: w.address, gateway: gatewayAddress, cap: 50n * CREDIT, expiresAt: creditExpiry, nonce: 1n, models: [] as string[] };
    return { auth, signature: await w.signTypedData(domain, authTypes, auth) };
  }),
);
const charges = creditHolderAddresses.map((holder) => ({ holder, nonce: 1n, amount: 12_345n }));
const firstSettle = await measure(call(credit, gatewaySigner, "settleUsage", batchRef("usage-1"), 0n, ethers.id("root-1"), activations, charges));
const steadySettle = await measure(call(credit, gatewaySigner, "settleUsage", batchRef("usage-2"), 0n, ethers.id("root-2"), [], charges));
const plain20Burn = await measure(call(plain20, admin, "burnMany", creditHolderAddresses, Array<bigint>(HOLDERS).fill(12_345n)));
const plainBurnPer = perEntry(plain20Burn, HOLDERS);
creditRows.push(
  {
    operation: `settleUsage, per charge (${HOLDERS} charges, ${HOLDERS} holders, authorizations charged before)`,
    ct: perEntry(steadySettle, HOLDERS),
    base: { label: `burnMany, per holder (${HOLDERS})`, gas: plainBurnPer },
    absTarget: 25_000,
  },
  {
    operation: `settleUsage, per charge, first charge of a new authorization (activation: signature check, first write)`,
    ct: perEntry(firstSettle, HOLDERS),
    base: { label: `burnMany, per holder (${HOLDERS})`, gas: plainBurnPer },
  },
);

// (i) Holder transfers of transferable credits: to a holder with the same bucket, and to a fresh holder.
await (await call(credit, hr, "grantBatch", batchRef("credit-actors"), creditExpiry, true, actorAddresses, Array(4).fill(100n * CREDIT))).wait();
await (await call(plain20, admin, "mintMany", actorAddresses, Array(4).fill(100n * CREDIT))).wait();
const creditFreshRecipient = fresh("credit-fresh-recipient", 1)[0];
await (await call(token, hr, "onboard", [creditFreshRecipient])).wait();
const cXfer = await measure(call(credit, alice, "transfer", actorAddresses[1], 2n * CREDIT));
const pXfer = await measure(call(plain20, alice, "transfer", actorAddresses[1], 2n * CREDIT));
const cXferFresh = await measure(call(credit, alice, "transfer", creditFreshRecipient, 2n * CREDIT));
const pXferFresh = await measure(call(plain20, alice, "transfer", creditFreshRecipient, 2n * CREDIT));
creditRows.push(
  { operation: "transfer, recipient holds the same bucket", ct: cXfer, base: { label: "transfer, same", gas: pXfer }, ratioTarget: 1.5 },
  { operation: "transfer, recipient fresh", ct: cXferFresh, base: { label: "transfer, same", gas: pXferFresh }, ratioTarget: 1.5 },
);

// ─────────────────────────────── report ──────────────────────────────────

const fmt = (n: bigint) => n.toLocaleString("en-US");
const ratio = (a: bigint, b: bigint) => Number(a) / Number(b);

function verdict(row: Row): string {
  if (row.ratioTarget !== undefined && row.base) {
    const r = ratio(row.ct.gasUsed, row.base.gas.gasUsed);
    const rExec = ratio(row.ct.execution, row.base.gas.execution);
    const pass = r <= row.ratioTarget;
    const execNote = rExec <= row.ratioTarget ? "" : ` (execution ratio ${rExec.toFixed(4)} is over)`;
    return `≤ ${row.ratioTarget} × baseline: **${pass ? "PASS" : "FAIL"}** on gasUsed${execNote}`;
  }
  if (row.absTarget !== undefined) {
    const t = BigInt(row.absTarget);
    if (row.ct.gasUsed <= t) return `≤ ${fmt(t)}: **PASS** on gasUsed`;
    if (row.ct.execution <= t) return `≤ ${fmt(t)}: **FAIL** on gasUsed (holds on execution gas)`;
    return `≤ ${fmt(t)}: **FAIL**`;
  }
  return "—";
}

function renderTable(list: Row[], contract: string, baseline: string): string {
  const header = `| operation | ${contract} gasUsed | ${contract} execution | baseline (${baseline}) gasUsed / execution | ratio gasUsed (exec) | target |\n|---|--:|--:|---|--:|---|`;
  const lines = list.map((row) => {
    const base = row.base ? `${row.base.label}: ${fmt(row.base.gas.gasUsed)} / ${fmt(row.base.gas.execution)}` : "—";
    const r = row.base ? `${ratio(row.ct.gasUsed, row.base.gas.gasUsed).toFixed(4)} (${ratio(row.ct.execution, row.base.gas.execution).toFixed(4)})` : "—";
    return `| ${row.operation} | ${fmt(row.ct.gasUsed)} | ${fmt(row.ct.execution)} | ${base} | ${r} | ${verdict(row)} |`;
  });
  return [header, ...lines].join("\n");
}
const table = renderTable(rows, "ComputeToken", "plain ERC-1155");
const creditTable = renderTable(creditRows, "InferenceCredit", "plain ERC-20");

const runtimeSize = (await ethers.provider.getCode(tokenAddress)).length / 2 - 1;
const plainSize = (await ethers.provider.getCode(plainAddress)).length / 2 - 1;
const solc = hre.config.solidity.profiles.default.compilers[0]?.version ?? "?";
const date = new Date().toISOString().slice(0, 10);

const section = `Measured ${date} on Hardhat ${networkConfig.type === "edr-simulated" ? "EDR (in-process)" : networkConfig.type}, hardfork \`${"hardfork" in networkConfig ? networkConfig.hardfork : "?"}\`.
solc ${solc}, optimizer ${SOLC_SETTINGS.optimizer.enabled ? "on" : "off"}, runs ${SOLC_SETTINGS.optimizer.runs}, viaIR ${SOLC_SETTINGS.viaIR}, evmVersion \`${SOLC_SETTINGS.evmVersion}\` (both contracts).
Deployed runtime size: ComputeToken ${fmt(BigInt(runtimeSize))} bytes (limit 24,576), PlainERC1155 ${fmt(BigInt(plainSize))} bytes.
Per-holder rows are one ${HOLDERS}-holder transaction divided by ${HOLDERS}.

${table}
`;

const creditSize = (await ethers.provider.getCode(creditAddress)).length / 2 - 1;
const creditSection = `Measured ${date} in the same run and chain as the ComputeToken gas section (same compiler settings). Deployed runtime size:
InferenceCredit ${fmt(BigInt(creditSize))} bytes. Per-holder and per-charge rows are one ${HOLDERS}-entry transaction divided by ${HOLDERS}.

${creditTable}
`;

console.log(`\n${SECTION}\n\n${section}\n${CREDIT_SECTION}\n\n${creditSection}`);

// Only the figures: the hand-written notes around them in RESULTS.md stay as they are.
writeGenerated(SECTION, "gas", section);
writeGenerated(CREDIT_SECTION, "gas credits", creditSection);
console.log(`written to ${RESULTS_FILE}`);
