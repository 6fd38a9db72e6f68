import { expect } from "chai";
import type { Hex } from "viem";
import { createCtkClient } from "../../sdk/client.js";
import { ChainUnreachableError, ContractError, describeContractError } from "../../sdk/errors.js";
import { listClasses } from "../../sdk/classes.js";
import { onboardHolders } from "../../sdk/holders.js";
import { encodeLotId, type TransferPolicyName } from "../../sdk/lotId.js";
import { gasWithMargin, submitWrite, TransactionRevertedError, waitForSuccess, writeComputeToken } from "../../sdk/write.js";
import { freePort } from "../../devkit/startAnvil.js";
import { type LocalChain, rpc, startLocalChain } from "../../devkit/localChain.js";

const FUTURE = 1_924_992_000n; // 2031-01-01
const ref = (n: number) => `0x${n.toString(16).padStart(64, "0")}` as Hex;

async function failure(p: Promise<unknown>): Promise<ContractError> {
  try {
    await p;
  } catch (e) {
    expect(e).to.be.instanceOf(ContractError);
    return e as ContractError;
  }
  throw new Error("expected the call to fail");
}

describe("contract errors as one sentence (sdk/errors.ts)", function () {
  let chain: LocalChain;

  let h100: number;
  const lot = (policy: TransferPolicyName, expiresAt = FUTURE) => encodeLotId({ classId: h100, expiresAt, policy });

  before(async () => {
    chain = await startLocalChain();
    h100 = (await listClasses(chain.reader)).find((c) => c.name === "H100-80GB")!.classId;
    await onboardHolders(chain.hr, [chain.employeeAddress(0), chain.employeeAddress(1)]);
    await writeComputeToken(chain.hr, "grantBatch", [ref(1), [chain.employeeAddress(0), chain.employeeAddress(0)], [lot("soulbound"), lot("transferable")], [7200n, 3600n]]);
  });
  after(async () => chain?.stop());

  it("names an expired lot by class, expiry and policy", async () => {
    const expired = lot("soulbound", 1_577_836_800n); // 2020-01-01
    const e = await failure(writeComputeToken(chain.hr, "grantBatch", [ref(2), [chain.employeeAddress(0)], [expired], [1n]]));
    expect(e.message).to.equal("lot H100-80GB expiring 2020-01-01 (soulbound) has expired");
    expect(e.errorName).to.equal("LotExpired");
    expect(e.args).to.deep.equal([expired, 1_577_836_800n]);
    expect(e.functionName).to.equal("grantBatch");
  });

  it("says a wallet is not an onboarded holder", async () => {
    const stranger = chain.employeeAddress(3);
    const e = await failure(writeComputeToken(chain.hr, "grantBatch", [ref(3), [stranger], [lot("soulbound")], [1n]]));
    expect(e.message).to.equal(`${stranger} is not an onboarded holder`);
    expect(e.args).to.deep.equal([stranger]);
  });

  it("tells the sender which role it lacks for the function", async () => {
    const e = await failure(writeComputeToken(chain.ops, "grantBatch", [ref(4), [chain.employeeAddress(0)], [lot("soulbound")], [1n]]));
    expect(e.message).to.equal(`you (${chain.ops.account!.address}) lack the HR role for grantBatch`);
    expect(e.errorName).to.equal("AccessManagedUnauthorized");
  });

  it("says a class is retired", async () => {
    await writeComputeToken(chain.ops, "defineClass", ["OLD-GPU", "NVIDIA-OLD", 16, 4]);
    const old = (await listClasses(chain.reader)).find((c) => c.name === "OLD-GPU")!.classId;
    await writeComputeToken(chain.ops, "retireClass", [old]);
    const e = await failure(
      writeComputeToken(chain.hr, "grantBatch", [ref(5), [chain.employeeAddress(0)], [encodeLotId({ classId: old, expiresAt: FUTURE, policy: "soulbound" })], [1n]]),
    );
    expect(e.message).to.equal("class OLD-GPU is retired");
  });

  it("says the contract is paused, naming the call", async () => {
    await writeComputeToken(chain.pauser, "pause", []);
    try {
      const e = await failure(writeComputeToken(chain.hr, "grantBatch", [ref(6), [chain.employeeAddress(0)], [lot("soulbound")], [1n]]));
      expect(e.message).to.equal("ComputeToken is paused: grantBatch is not possible until it is unpaused");
      expect(e.errorName).to.equal("EnforcedPause");
    } finally {
      await writeComputeToken(chain.pauser, "unpause", []);
    }
  });

  it("refuses to move a soulbound lot, and names an ERC-1155 shortfall in hours", async () => {
    const me = chain.employee(0);
    const from = chain.employeeAddress(0);
    const to = chain.employeeAddress(1);
    const soul = await failure(writeComputeToken(me, "safeTransferFrom", [from, to, lot("soulbound"), 1n, "0x"]));
    expect(soul.message).to.equal("lot H100-80GB expiring 2031-01-01 (soulbound) is soulbound and cannot be transferred");
    const short = await failure(writeComputeToken(me, "safeTransferFrom", [from, to, lot("transferable"), 5400n, "0x"]));
    expect(short.message).to.equal(`you (${from}) hold 1 GPU-hours of lot H100-80GB expiring 2031-01-01 (transferable), 1.5 needed`);
  });

  it("says a batch already landed, and that a redemption does not exist", async () => {
    const e = await failure(writeComputeToken(chain.hr, "grantBatch", [ref(1), [chain.employeeAddress(0)], [lot("soulbound")], [1n]]));
    expect(e.message).to.equal(`batch ${ref(1)} was already granted`);
    const r = await failure(writeComputeToken(chain.employee(0), "reclaim", [99n]));
    expect(r.message).to.equal("redemption #99 does not exist");
  });

  it("names the custom error of a mined transaction that reverted only in its own block (its trace, not a replay)", async () => {
    // Two grants of one batchRef in one block: the second reverts, though at the parent block it would land.
    const hr = chain.hr;
    const call = { contract: hr.computeToken, functionName: "grantBatch", args: [ref(50), [chain.employeeAddress(0)], [lot("soulbound")], [1n]] } as const;
    const nonce = await hr.publicClient.getTransactionCount({ address: hr.account!.address, blockTag: "pending" });
    await rpc(chain, "evm_setAutomine", [false]);
    let first: Hex;
    let second: Hex;
    try {
      first = await submitWrite(hr, call, { nonce, gas: 500_000n });
      second = await submitWrite(hr, call, { nonce: nonce + 1, gas: 500_000n });
      await rpc(chain, "evm_mine");
    } finally {
      await rpc(chain, "evm_setAutomine", [true]);
    }
    expect((await waitForSuccess(hr, first, call)).status).to.equal("success");
    const e = await failure(waitForSuccess(hr, second, call));
    expect(e.errorName).to.equal("BatchAlreadyGranted");
    expect(e.args).to.deep.equal([ref(50)]);
    expect(e.message).to.equal(`batch ${ref(50)} was already granted`);
  });

  it("says a mined transaction ran out of gas, with its gas limit", async () => {
    const hr = chain.hr;
    const call = { contract: hr.computeToken, functionName: "onboard", args: [[chain.employeeAddress(4)]] } as const;
    const hash = await submitWrite(hr, call, { gas: 30_000n });
    try {
      await waitForSuccess(hr, hash, call);
      expect.fail("30,000 gas cannot onboard a wallet");
    } catch (e) {
      expect(e).to.be.instanceOf(TransactionRevertedError);
      expect((e as Error).message).to.match(new RegExp(`^transaction ${hash} \\(onboard\\) reverted: out of gas.* \\(block \\d+, used 30000 of its 30000 gas limit\\)$`));
    }
  });

  it("sends the estimate with a margin, so a cost that grows before the block (a refund crossing its grace) still fits", async () => {
    const hr = chain.hr;
    const call = { contract: hr.computeToken, functionName: "onboard", args: [["0x00000000000000000000000000000000c0ffee01"]] } as const;
    const estimate = await hr.publicClient.estimateContractGas({
      address: call.contract.address,
      abi: call.contract.abi,
      functionName: "onboard",
      args: call.args,
      account: hr.account,
    });
    const hash = await submitWrite(hr, call);
    await waitForSuccess(hr, hash, call);
    expect((await hr.publicClient.getTransaction({ hash })).gas).to.equal(gasWithMargin(estimate));
    expect(gasWithMargin(100_000n)).to.equal(140_000n);
  });

  it("says the chain cannot be reached instead of a transport stack", async () => {
    const port = await freePort();
    const client = createCtkClient({ rpcUrl: `http://127.0.0.1:${port}`, deployment: chain.deployment, account: chain.hr.account });
    try {
      await writeComputeToken(client, "onboard", [[chain.employeeAddress(2)]]);
      expect.fail("should not reach a closed port");
    } catch (e) {
      expect(e).to.be.instanceOf(ChainUnreachableError);
      expect((e as Error).message).to.equal(`cannot reach the chain at http://127.0.0.1:${port} (is the devnet up? run \`ctk devnet up\`)`);
    }
  });

  it("describes errors without chain lookups, falling back to the raw name", () => {
    expect(describeContractError("InsufficientBalance", [2, 21600n, 3600n], { classNames: new Map([[2, "H100-80GB"]]) })).to.equal(
      "not enough H100-80GB: the job needs 6 GPU-hours, the lots given hold 1",
    );
    expect(describeContractError("GpuCountOutOfRange", [2, 16, 8])).to.equal("class #2 allows at most 8 GPUs per job (asked for 16)");
    expect(describeContractError("InvalidRedemptionStatus", [4n, 3])).to.equal("redemption #4 is settled");
    expect(describeContractError("AccessManagedUnauthorized", ["0x70997970C51812dc3A010C7d01b50e0d17dc79C8"], { functionName: "settle" })).to.equal(
      "0x70997970C51812dc3A010C7d01b50e0d17dc79C8 lacks the REDEEMER role for settle",
    );
    expect(describeContractError("SomethingNew", [1n, "x"], { functionName: "redeem" })).to.equal("the contract rejected redeem with SomethingNew(1, x)");
  });
});
