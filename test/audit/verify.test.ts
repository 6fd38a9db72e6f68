import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { encodeAbiParameters, keccak256, type Address, type Hex } from "viem";
import { describeCodeDifference } from "../../sdk/audit/checkBytecode.js";
import { compareBalances, compareRedemptions } from "../../sdk/audit/compareLive.js";
import { checkReceipts, loadReceipts } from "../../sdk/audit/receipts.js";
import { decodeAuditLog, type AuditEvent } from "../../sdk/audit/events.js";
import { groupByTransaction } from "../../sdk/logs/decodeLogs.js";
import type { RawLog } from "../../sdk/logs/fetchLogRanges.js";
import { Replay } from "../../sdk/audit/replay.js";
import { runCtk } from "../wallet/support/runCtk.js";
import { rpc } from "../../devkit/localChain.js";
import { buildHistory, type History } from "./support/history.js";

describe("ctk audit verify", function () {
  this.timeout(300_000);
  let h: History;
  let dir: string;
  let deploymentFile: string;
  let events: AuditEvent[];

  const verify = (...extra: string[]) => runCtk(["audit", "verify", "--rpc", h.chain.anvil.rpcUrl, "--deployment", deploymentFile, ...extra]);

  const replayOf = (list: AuditEvent[]) => {
    const r = new Replay({ token: h.chain.deployment.computeToken, manager: h.chain.deployment.accessManager });
    for (const tx of groupByTransaction(list)) r.applyTransaction(tx);
    return r;
  };
  const messages = (r: Replay) => r.findings.map((f) => f.message);

  before(async function () {
    h = await buildHistory();
    dir = mkdtempSync(path.join(tmpdir(), "ctk-audit-"));
    deploymentFile = path.join(dir, "deployment.json");
    writeFileSync(deploymentFile, JSON.stringify(h.chain.deployment));
    const logs = (await rpc(h.chain, "eth_getLogs", [
      { fromBlock: "0x0", toBlock: "latest", address: [h.chain.deployment.computeToken, h.chain.deployment.accessManager] },
    ])) as RawLog[];
    events = logs.map((l) => decodeAuditLog(l, h.chain.deployment.computeToken, h.chain.deployment.accessManager));
  });
  after(async function () {
    await h?.chain.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("reconciles a history of grants, transfers, settled/rejected/reclaimed redemptions, conversion, sweep, clawback and recovery: exit 0", async function () {
    const run = await verify();
    expect(run.code, run.stdout + run.stderr).to.equal(0);
    expect(run.stdout).to.match(/replayed \d+ events in \d+ transactions/);
    expect(run.stdout).to.include("redemptions: 6 (settled 1, rejected 2, reclaimed 1, running 1, requested 1)");
    expect(run.stdout).to.include("bytecode: ComputeToken at");
    expect(run.stdout).to.match(/granted HR to 0x70997970C51812dc3A010C7d01b50e0d17dc79C8/);
    expect(run.stdout).to.include("OK: every balance, supply, redemption and role reconciles with the events");
    expect(run.stdout).to.not.include("FINDING");
    // The progress bar goes to stderr, never to stdout.
    expect(run.stderr).to.match(/replaying \[#+\.*\] +100%/);
  });

  it("decodes every event of the history exactly as viem's decodeEventLog does", async function () {
    const logs = (await rpc(h.chain, "eth_getLogs", [
      { fromBlock: "0x0", toBlock: "latest", address: [h.chain.deployment.computeToken, h.chain.deployment.accessManager] },
    ])) as RawLog[];
    const names = new Set<string>();
    for (const log of logs) {
      const fast = decodeAuditLog(log, h.chain.deployment.computeToken, h.chain.deployment.accessManager);
      const slow = decodeAuditLog(log, h.chain.deployment.computeToken, h.chain.deployment.accessManager, { viem: true });
      expect(fast).to.deep.equal(slow);
      names.add(fast.eventName);
    }
    // Strings, bytes, arrays, enums, bytes4 and every lifecycle step are in there.
    expect([...names]).to.include.members([
      "ClassDefined",
      "RedemptionRequested",
      "TransferBatch",
      "TargetFunctionRoleUpdated",
      "RoleLabel",
      "Converted",
      "AccountRecovered",
      "PriorityMultiplierSet",
    ]);
  });

  it("replays every lifecycle: the settled one consumed 30,000 units and refunded 13,200 into the lots it drew from", function () {
    const moves: { kind: string; amount: bigint; lotId: bigint; redemptionId?: bigint }[] = [];
    const r = new Replay({ token: h.chain.deployment.computeToken, manager: h.chain.deployment.accessManager, onMovement: (m) => moves.push(m) });
    for (const tx of groupByTransaction(events)) r.applyTransaction(tx);
    expect(r.findings).to.deep.equal([]);
    const of1 = moves.filter((m) => m.redemptionId === 1n);
    expect(of1.filter((m) => m.kind === "redeem").map((m) => [m.lotId, m.amount])).to.deep.equal([
      [h.lots.h100Soulbound, 36_000n],
      [h.lots.h100, 7_200n],
    ]);
    // Refunds go back last-drawn first: 7,200 to the transferable lot, 6,000 to the soulbound one.
    expect(of1.filter((m) => m.kind === "refund").map((m) => [m.lotId, m.amount])).to.deep.equal([
      [h.lots.h100, 7_200n],
      [h.lots.h100Soulbound, 6_000n],
    ]);
    expect(of1.filter((m) => m.kind === "consume").map((m) => [m.lotId, m.amount])).to.deep.equal([[h.lots.h100Soulbound, 30_000n]]);
    expect(r.lifecycles.statusCounts).to.include({ settled: 1, rejected: 2, reclaimed: 1, running: 1, requested: 1 });
    expect(moves.filter((m) => m.kind === "expire").reduce((s, m) => s + m.amount, 0n)).to.equal(5n * 3600n + 3n * 3600n + 3600n);
    expect(moves.some((m) => m.kind === "clawback")).to.equal(true);
    expect(moves.some((m) => m.kind === "recover-in")).to.equal(true);
    expect(moves.some((m) => m.kind === "convert-in" && m.amount === 3600n)).to.equal(true);
  });

  it("passes a receipt whose hash matches the chain and fails, naming the redemption and both hashes, on one that does not", async function () {
    const good = path.join(dir, "receipt-1.json");
    writeFileSync(good, h.receipt.bytes);
    const ok = await verify("--receipts", good, "--no-progress");
    expect(ok.code, ok.stdout).to.equal(0);
    expect(ok.stdout).to.include("receipts: 1 checked against the on-chain hashes");

    const tampered = path.join(dir, "tampered", "receipt-1.json");
    rmSync(path.dirname(tampered), { recursive: true, force: true });
    await import("node:fs").then((fs) => fs.mkdirSync(path.dirname(tampered)));
    const text = Buffer.from(h.receipt.bytes).toString("utf8").replace('"gpuSeconds":30000', '"gpuSeconds":3000');
    writeFileSync(tampered, text);
    const bad = await verify("--receipts", path.dirname(tampered), "--no-progress");
    expect(bad.code).to.equal(1);
    const findings = bad.stdout.split("\n").filter((l) => l.startsWith("FINDING"));
    expect(findings).to.deep.equal([
      `FINDING [receipt] ${tampered}: redemption 1 receipt hashes to ${keccak256(Buffer.from(text))}; the chain recorded ${keccak256(h.receipt.bytes)} (tx ${findings[0]!.match(/\(tx (0x[0-9a-f]{64})\)/)![1]})`,
    ]);
    expect(bad.stdout).to.include("1 finding");
  });

  it("reports a receipt that does not match the redeemer's receipt schema as a finding, even when its hash is the one on chain", async function () {
    const file = path.join(dir, "schema", "7.json");
    await import("node:fs").then((fs) => fs.mkdirSync(path.dirname(file), { recursive: true }));
    const text = Buffer.from(h.receipt.bytes).toString("utf8").replace('"usedUnits":"30000"', '"usedUnits":"-1"');
    writeFileSync(file, text);
    const bad = await verify("--receipts", file, "--no-progress");
    expect(bad.code).to.equal(1);
    const findings = bad.stdout.split("\n").filter((l) => l.startsWith("FINDING"));
    expect(findings[0]).to.equal(`FINDING [receipt] ${file}: not a usage receipt of the redeemer's schema: usedUnits: must be a whole number of units, as a decimal string`);

    // The schema is checked on its own: a receipt whose bytes the chain recorded is still reported.
    const [loaded] = loadReceipts([file]);
    const onChain = new Map([[1n, { status: "settled", receiptHash: loaded!.hash }]]);
    expect(checkReceipts([loaded!], onChain).map((f) => f.message)).to.deep.equal([
      `${file}: not a usage receipt of the redeemer's schema: usedUnits: must be a whole number of units, as a decimal string`,
    ]);
    const valid = loadReceipts([path.join(dir, "receipt-1.json")]);
    expect(checkReceipts(valid, new Map([[1n, { status: "settled", receiptHash: valid[0]!.hash }]]))).to.deep.equal([]);
  });

  it("fails with a precise finding when the deployed bytecode differs from the compiled artifacts", async function () {
    const snapshot = await rpc(h.chain, "evm_snapshot");
    try {
      const code = (await rpc(h.chain, "eth_getCode", [h.chain.deployment.computeToken, "latest"])) as Hex;
      // Flip one byte inside the CBOR metadata trailer: the contract still works, but it is not our build.
      const at = code.length - 20;
      const flipped = `${code.slice(0, at)}${code.slice(at, at + 2) === "ff" ? "00" : "ff"}${code.slice(at + 2)}` as Hex;
      await rpc(h.chain, "anvil_setCode", [h.chain.deployment.computeToken, flipped]);
      const run = await verify("--no-progress");
      expect(run.code).to.equal(1);
      const byteIndex = (at - 2) / 2;
      const size = (code.length - 2) / 2;
      expect(run.stdout.split("\n").filter((l) => l.startsWith("FINDING"))).to.deep.equal([
        `FINDING [bytecode] ComputeToken at ${h.chain.deployment.computeToken}: runtime bytecode differs from artifacts/contracts/ComputeToken.sol/ComputeToken.json: ${size} bytes on chain, ${size} compiled, first difference at byte ${byteIndex} (in the metadata hash only: built from different sources or settings)`,
      ]);
      expect(run.stdout).to.include("bytecode: ComputeToken at");
      expect(run.stdout).to.include("DIFFERS");
    } finally {
      await rpc(h.chain, "evm_revert", [snapshot]);
    }
  });

  it("finds a balance the chain holds that the events do not explain", async function () {
    const snapshot = await rpc(h.chain, "evm_snapshot");
    try {
      // ERC1155._balances is slot 0: balances[id][account] lives at keccak(account, keccak(id, 0)).
      const holder = h.employees[1]!;
      const inner = keccak256(encodeAbiParameters([{ type: "uint256" }, { type: "uint256" }], [h.lots.h100, 0n]));
      const slot = keccak256(encodeAbiParameters([{ type: "address" }, { type: "bytes32" }], [holder, inner]));
      await rpc(h.chain, "anvil_setStorageAt", [h.chain.deployment.computeToken, slot, `0x${999_999n.toString(16).padStart(64, "0")}`]);
      const run = await verify("--no-progress");
      expect(run.code).to.equal(1);
      expect(run.stdout).to.match(new RegExp(`FINDING \\[balance\\] ${holder} holds 999,999 units of lot ${h.lots.h100} on chain; the events give [\\d,]+`));
    } finally {
      await rpc(h.chain, "evm_revert", [snapshot]);
    }
  });

  describe("tampered event streams (pure replay)", function () {
    const without = (pred: (e: AuditEvent) => boolean) => events.filter((e) => !pred(e));
    const mapped = (fn: (e: AuditEvent) => AuditEvent) => events.map(fn);

    it("an illegal lifecycle step: settled without ever running", function () {
      const r = replayOf(without((e) => e.eventName === "RedemptionRunning" && e.args.id === 1n));
      expect(messages(r).some((m) => m.startsWith("redemption 1 moved from requested to settled, which is not a legal step"))).to.equal(true);
    });

    it("settled more than reserved, and a refund that is not reserved − used", function () {
      const r = replayOf(mapped((e) => (e.eventName === "RedemptionSettled" ? ({ ...e, args: { ...e.args, used: 50_000n } } as AuditEvent) : e)));
      const m = messages(r);
      expect(m.some((x) => x.startsWith("redemption 1 settled 50,000 units used of 43,200 reserved"))).to.equal(true);
      expect(m.some((x) => x.startsWith("redemption 1: refunded 13,200 ≠ reserved 43,200 − used 50,000"))).to.equal(true);
    });

    it("a rejection that does not refund in full", function () {
      const r = replayOf(mapped((e) => (e.eventName === "RedemptionRejected" && e.args.id === 2n ? ({ ...e, args: { ...e.args, refunded: 1n } } as AuditEvent) : e)));
      expect(messages(r).some((x) => x.startsWith("redemption 2 rejected with a refund of 1, not the 7,200 reserved"))).to.equal(true);
    });

    it("mints that no grant announces", function () {
      const r = replayOf(without((e) => e.eventName === "BatchGranted"));
      expect(r.findings.filter((f) => f.code === "mint")).to.have.length(7);
      expect(r.findings[0]!.message).to.match(/^360,000 units of lot \d+ minted to 0x[0-9a-fA-F]{40} with no grant, refund or conversion to explain them \(block \d+, tx 0x/);
    });

    it("a transfer the events do not show is caught by the comparison with the chain", async function () {
      const r = replayOf(without((e) => e.eventName === "TransferSingle" && e.args.from === h.employees[0] && e.args.to === h.employees[1]));
      expect(r.findings).to.deep.equal([]);
      const head = BigInt((await rpc(h.chain, "eth_blockNumber")) as string);
      const findings = await compareBalances(r, {
        client: h.chain.reader.publicClient as never,
        token: h.chain.deployment.computeToken,
        manager: h.chain.deployment.accessManager,
        blockNumber: head,
      });
      const addr = (a: Address) => a;
      expect(findings.map((f) => f.message)).to.include.members([
        `${addr(h.employees[0]!)} holds ${(await liveBalance(h, h.employees[0]!, h.lots.h100, head)).toLocaleString("en-US")} units of lot ${h.lots.h100} on chain; the events give ${(
          (await liveBalance(h, h.employees[0]!, h.lots.h100, head)) + 7200n
        ).toLocaleString("en-US")}`,
      ]);
    });

    it("a redemption stored unlike its events, and one the contract does not know, are each named (many read in one call)", async function () {
      const r = replayOf(events);
      const byId = new Map([...r.takeTerminal(), ...r.redemptions.values()].map((l) => [l.id, l]));
      const lifecycles = [...byId.values()];
      expect(lifecycles).to.have.length(6);
      const o = {
        client: h.chain.reader.publicClient as never,
        token: h.chain.deployment.computeToken,
        manager: h.chain.deployment.accessManager,
        blockNumber: BigInt((await rpc(h.chain, "eth_blockNumber")) as string),
      };
      expect(await compareRedemptions(lifecycles, o)).to.deep.equal([]);
      const settled = lifecycles.find((l) => l.status === "settled")!;
      const fmt = (n: bigint) => n.toLocaleString("en-US");
      const findings = await compareRedemptions([...lifecycles, { ...settled, used: settled.used + 1n }, { ...settled, id: 999n }], o);
      expect(findings.map((f) => f.message)).to.deep.equal([
        `redemption ${settled.id} differs on chain: used ${fmt(settled.used)} (events: ${fmt(settled.used + 1n)})`,
        "redemption 999 is in the events but the contract does not know it",
      ]);
      // 72 views in one call would return ~43 KB, over the 24,576-byte limit on a call's returned code:
      // the call is refused and read again in halves, with the same result.
      const many = Array.from({ length: 12 }, () => lifecycles).flat();
      expect(await compareRedemptions([...many, { ...settled, id: 999n }], { ...o, readChunk: 73 })).to.deep.equal([
        { code: "redemption", message: "redemption 999 is in the events but the contract does not know it" },
      ]);
    });
  });
});

async function liveBalance(h: History, holder: Address, lotId: bigint, blockNumber: bigint): Promise<bigint> {
  const { computeTokenAbi } = await import("../../sdk/generated/abi.js");
  return h.chain.reader.publicClient.readContract({
    address: h.chain.deployment.computeToken,
    abi: computeTokenAbi,
    functionName: "balanceOf",
    args: [holder, lotId],
    blockNumber,
  });
}

describe("bytecode comparison (pure)", function () {
  it("says where two codes first differ, and whether only the metadata differs", function () {
    const body = `6080604052${"00".repeat(20)}`;
    // solc's trailer: 51 bytes of CBOR (ipfs hash, solc version), then its length 0x0033.
    const meta = `a2646970667358221220${"11".repeat(32)}64736f6c634300081e0033`;
    const size = (body.length + meta.length) / 2;
    expect(describeCodeDifference(`0x${body}${meta}`, `0x${body}${meta}`)).to.equal(undefined);
    expect(describeCodeDifference("0x", `0x${body}`)).to.equal("no code at the address");
    expect(describeCodeDifference(`0x6080604053${body.slice(10)}${meta}`, `0x${body}${meta}`)).to.equal(`${size} bytes on chain, ${size} compiled, first difference at byte 4`);
    const otherMeta = meta.replace("1220" + "11", "1220" + "22");
    expect(describeCodeDifference(`0x${body}${otherMeta}`, `0x${body}${meta}`)).to.equal(
      `${size} bytes on chain, ${size} compiled, first difference at byte ${body.length / 2 + 10} (in the metadata hash only: built from different sources or settings)`,
    );
    expect(describeCodeDifference(`0x${body}00${meta}`, `0x${body}${meta}`)).to.match(/^\d+ bytes on chain, \d+ compiled, first difference at byte \d+$/);
  });
});
