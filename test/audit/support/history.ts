/**
 * A small but complete history on a real anvil, for the audit tests: grants, a transfer,
 * redemptions that settle (drawing from two lots), are rejected (from requested and from running),
 * are reclaimed after the launch timeout, and stay in flight; a conversion, an expiry sweep, an
 * offboarding with clawback, and an account recovery.
 */
import { keccak256, stringToBytes, toHex, type Address, type Hex } from "viem";
import { createCtkClient, type CtkClient } from "../../../sdk/client.js";
import { encodeSpec, jobSpecSchema, priorityIndex } from "../../../sdk/jobSpec.js";
import { encodeLotId } from "../../../sdk/lotId.js";
import { REJECT_REASONS } from "../../../sdk/reasons.js";
import { usageReceiptSchema } from "../../../sdk/receipt.js";
import { writeComputeToken } from "../../../sdk/write.js";
import { LOCAL_LAUNCH_TIMEOUT, LOCAL_ROLE_KEYS } from "../../../devkit/localAccounts.js";
import { increaseTime, startLocalChain, type LocalChain } from "../../../devkit/localChain.js";

export const H100 = 2; // TEST_CLASSES: A100-80GB = 1, H100-80GB = 2
export const A100 = 1;
const DAY = 86_400n;
const H = 3600n;

export interface History {
  chain: LocalChain;
  admin: CtkClient;
  employees: Address[];
  lots: { h100: bigint; h100Soulbound: bigint; a100Short: bigint; h100Short: bigint };
  /** The receipt JSON the redeemer hashed for redemption 1 (the settled one). */
  receipt: { redemptionId: bigint; bytes: Uint8Array };
  ids: { settled: bigint; rejected: bigint; rejectedRunning: bigint; reclaimed: bigint; requested: bigint; running: bigint };
}

export function specFor(gpus: number, hours: number, name = "train"): Hex {
  const spec = jobSpecSchema.parse({
    name,
    image: `registry.example.com/team/${name}@sha256:${"a".repeat(64)}`,
    command: ["python", "train.py"],
    gpus,
    hours,
    priority: "normal",
  });
  return toHex(encodeSpec(spec));
}

export async function buildHistory(): Promise<History> {
  const chain = await startLocalChain();
  try {
    const admin = createCtkClient({ rpcUrl: chain.anvil.rpcUrl, deployment: chain.deployment, account: LOCAL_ROLE_KEYS.ADMIN, pollingInterval: 20 });
    const e = [0, 1, 2, 3, 4].map((i) => chain.employee(i));
    const who = [0, 1, 2, 3, 4].map((i) => chain.employeeAddress(i));
    const now = (await chain.reader.publicClient.getBlock()).timestamp;
    // Move the clock past `now` before the first transaction. The h100 lot expires MAX_REFUND_GRACE
    // (30 days) after `now`, so a refund into it (settle 1, reject 2 and 3) reads the refund grace
    // once block.timestamp > now, and costs more gas. Anvil stamps blocks with the wall clock,
    // several in one second: were that second to end between a refund's gas estimate and its
    // block, the transaction would run out of gas (seen in CI as a reverted `reject`).
    await increaseTime(chain, 1);
    const lots = {
      h100: encodeLotId({ classId: H100, expiresAt: now + 30n * DAY, policy: "transferable" }),
      h100Soulbound: encodeLotId({ classId: H100, expiresAt: now + 20n * DAY, policy: "soulbound" }),
      a100Short: encodeLotId({ classId: A100, expiresAt: now + 5n * DAY, policy: "transferable" }),
      h100Short: encodeLotId({ classId: H100, expiresAt: now + 5n * DAY, policy: "transferable" }),
    };
    await writeComputeToken(chain.hr, "onboard", [who]);
    await writeComputeToken(chain.hr, "grantBatch", [
      keccak256(stringToBytes("payroll-2025-01")),
      [who[0]!, who[1]!, who[2]!, who[0]!, who[3]!],
      [lots.h100, lots.h100, lots.h100, lots.h100Soulbound, lots.h100],
      [100n * H, 50n * H, 20n * H, 10n * H, 8n * H],
    ]);
    await writeComputeToken(chain.hr, "grantBatch", [keccak256(stringToBytes("payroll-2025-01-a100")), [who[0]!, who[1]!], [lots.a100Short, lots.a100Short], [5n * H, 5n * H]]);
    // Employee 0 gives employee 1 two hours.
    await writeComputeToken(e[0]!, "safeTransferFrom", [who[0]!, who[1]!, lots.h100, 2n * H, "0x"]);

    const normal = priorityIndex("normal");
    const redeem = (c: CtkClient, lotIds: bigint[], gpus: number, hours: number, name: string) =>
      writeComputeToken(c, "redeem", [H100, lotIds, gpus, hours * 3600, normal, specFor(gpus, hours, name)]);
    // 1: 4 GPUs × 3 h = 43,200 units from the soulbound lot (36,000) and the transferable one (7,200); settles.
    await redeem(e[0]!, [lots.h100Soulbound, lots.h100], 4, 3, "settled");
    await writeComputeToken(chain.redeemer, "markRunning", [1n, keccak256(stringToBytes("local:ctk-redemption-1"))]);
    // A receipt of the redeemer's schema (written compact: the tests edit its text).
    const receipt = usageReceiptSchema.parse({
      version: 1,
      chainId: chain.deployment.chainId,
      contract: chain.deployment.computeToken,
      redemptionId: "1",
      holder: who[0]!,
      className: "H100-80GB",
      gpuProduct: "NVIDIA-H100-80GB-HBM3",
      priority: "normal",
      executor: "local",
      jobName: "ctk-redemption-1",
      node: null,
      phase: "succeeded",
      exitCode: 0,
      reason: null,
      segments: [{ start: 1, end: 7501, node: null, gpuProduct: null }],
      gpus: 4,
      allottedSeconds: 10_800,
      gpuSeconds: 30000,
      multiplierBps: 10_000,
      reservedUnits: "43200",
      usedUnits: "30000",
      refundedUnits: "13200",
      issuedAt: "2026-01-01T00:00:00.000Z",
    });
    const receiptBytes = stringToBytes(JSON.stringify(receipt));
    await writeComputeToken(chain.redeemer, "settle", [1n, 30_000n, keccak256(receiptBytes)]);
    // 2: rejected before launch (bad spec); 3: rejected after launch (launch failed).
    await redeem(e[1]!, [lots.h100], 1, 2, "rejected");
    await writeComputeToken(chain.redeemer, "reject", [2n, REJECT_REASONS.INVALID_SPEC]);
    await redeem(e[2]!, [lots.h100], 1, 1, "failed");
    await writeComputeToken(chain.redeemer, "markRunning", [3n, keccak256(stringToBytes("local:ctk-redemption-3"))]);
    await writeComputeToken(chain.redeemer, "reject", [3n, REJECT_REASONS.LAUNCH_FAILED]);
    // 4: nobody launches it; reclaimed after the launch timeout.
    await redeem(e[1]!, [lots.h100], 2, 1, "reclaimed");
    await increaseTime(chain, LOCAL_LAUNCH_TIMEOUT + 1);
    await writeComputeToken(e[1]!, "reclaim", [4n]);
    // A conversion: 1 A100 unit → 1/2 H100 unit (class values 1 and 2, in force after the 3-day delay),
    // into a new lot with the same expiry and policy.
    await writeComputeToken(chain.ops, "setClassValue", [A100, 1n]);
    await writeComputeToken(chain.ops, "setClassValue", [H100, 2n]);
    await increaseTime(chain, Number(3n * DAY));
    await writeComputeToken(e[0]!, "convert", [lots.a100Short, 2n * H, H100]);
    // After five days the short lots expire; anyone sweeps.
    await increaseTime(chain, Number(2n * DAY));
    await writeComputeToken(e[4]!, "sweepExpired", [who[1]!, [lots.a100Short]]);
    await writeComputeToken(e[4]!, "sweepExpired", [who[0]!, [lots.a100Short, lots.h100Short]]);
    // Employee 2 leaves: offboarded, balance clawed back. Employee 3 lost a key: recovered to employee 4.
    await writeComputeToken(chain.hr, "offboard", [who[2]!]);
    await writeComputeToken(chain.hr, "clawback", [who[2]!, [lots.h100]]);
    await writeComputeToken(admin, "recover", [who[3]!, who[4]!, [lots.h100]]);
    // In flight at the end: 5 requested, 6 running.
    await redeem(e[0]!, [lots.h100], 1, 1, "requested");
    await redeem(e[1]!, [lots.h100], 1, 2, "running");
    // Claimed in a batch, as the redeemer claims: 4 (reclaimed) is skipped, 6 claimed.
    await writeComputeToken(chain.redeemer, "markRunningBatch", [
      [4n, 6n],
      [keccak256(stringToBytes("local:ctk-redemption-4")), keccak256(stringToBytes("local:ctk-redemption-6"))],
    ]);
    return {
      chain,
      admin,
      employees: who,
      lots,
      receipt: { redemptionId: 1n, bytes: receiptBytes },
      ids: { settled: 1n, rejected: 2n, rejectedRunning: 3n, reclaimed: 4n, requested: 5n, running: 6n },
    };
  } catch (err) {
    await chain.stop();
    throw err;
  }
}
