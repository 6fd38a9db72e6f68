import { expect } from "chai";
import { ethers as ethersLib } from "ethers";
import { A100, H100, LAUNCH_TIMEOUT, createContractFixture } from "../support/contractFixture.js";

const { networkHelpers, load } = await createContractFixture();

/** Alice holds transferable H100 and A100 units and has three redemptions (1, 2, 3) in flight; then the pauser pauses. */
async function pausedWithWorkInFlight() {
  const f = await load();
  const h100 = f.lot(H100.id, f.expiries.later, "transferable");
  const a100 = f.lot(A100.id, f.expiries.later, "transferable");
  const { alice, hr, ops, redeemer, pauser } = f.signers;
  await f.token.connect(hr).grantBatch(f.nextBatchRef(), [alice.address, alice.address], [h100, a100], [36_000n, 3600n]);
  await f.token.connect(ops).setClassValue(A100.id, 1);
  await f.token.connect(ops).setClassValue(H100.id, 1);
  for (let i = 0; i < 3; i++) await f.redeem(alice, [h100], { seconds: 600 });
  await f.token.connect(redeemer).markRunning(1n, ethersLib.id("job-1"));
  await f.token.connect(pauser).pause();
  return { ...f, h100, a100 };
}

describe("ComputeToken — pause", () => {
  it("pauses and unpauses through the pauser role, emitting Paused and Unpaused", async () => {
    const { token, signers } = await load();
    await expect(token.connect(signers.pauser).pause()).to.emit(token, "Paused").withArgs(signers.pauser.address);
    expect(await token.paused()).to.equal(true);
    await expect(token.connect(signers.pauser).unpause()).to.emit(token, "Unpaused").withArgs(signers.pauser.address);
    expect(await token.paused()).to.equal(false);
  });

  it("refuses to pause twice (EnforcedPause) or unpause when running (ExpectedPause)", async () => {
    const { token, signers } = await load();
    await expect(token.connect(signers.pauser).unpause()).to.be.revertedWithCustomError(token, "ExpectedPause").withArgs();
    await token.connect(signers.pauser).pause();
    await expect(token.connect(signers.pauser).pause()).to.be.revertedWithCustomError(token, "EnforcedPause").withArgs();
  });

  it("stops grants: EnforcedPause", async () => {
    const { token, signers, grant, h100 } = await pausedWithWorkInFlight();
    await expect(grant(signers.bob, h100, 1))
      .to.be.revertedWithCustomError(token, "EnforcedPause")
      .withArgs();
  });

  it("stops transfers, single and batch: EnforcedPause", async () => {
    const { token, signers, h100, a100 } = await pausedWithWorkInFlight();
    const { alice, bob } = signers;
    await expect(token.connect(alice).safeTransferFrom(alice.address, bob.address, h100, 1n, "0x"))
      .to.be.revertedWithCustomError(token, "EnforcedPause")
      .withArgs();
    await expect(token.connect(alice).safeBatchTransferFrom(alice.address, bob.address, [h100, a100], [1n, 1n], "0x"))
      .to.be.revertedWithCustomError(token, "EnforcedPause")
      .withArgs();
  });

  it("stops redemptions: EnforcedPause", async () => {
    const { token, signers, h100, redeem } = await pausedWithWorkInFlight();
    await expect(redeem(signers.alice, [h100]))
      .to.be.revertedWithCustomError(token, "EnforcedPause")
      .withArgs();
  });

  it("stops conversions: EnforcedPause", async () => {
    const { token, signers, a100 } = await pausedWithWorkInFlight();
    await expect(token.connect(signers.alice).convert(a100, 1n, H100.id))
      .to.be.revertedWithCustomError(token, "EnforcedPause")
      .withArgs();
  });

  it("never stops settle: work in flight finishes and refunds flow", async () => {
    const { token, signers, h100 } = await pausedWithWorkInFlight();
    const before = await token.balanceOf(signers.alice.address, h100);
    await expect(token.connect(signers.redeemer).settle(1n, 100n, ethersLib.ZeroHash))
      .to.emit(token, "RedemptionSettled")
      .withArgs(1n, signers.alice.address, 100n, 500n, ethersLib.ZeroHash);
    expect(await token.balanceOf(signers.alice.address, h100)).to.equal(before + 500n);
  });

  it("never stops reject, from Requested or Running", async () => {
    const { token, signers } = await pausedWithWorkInFlight();
    await expect(token.connect(signers.redeemer).reject(1n, 2)).to.emit(token, "RedemptionRejected").withArgs(1n, signers.alice.address, 2, 600n);
    await expect(token.connect(signers.redeemer).reject(2n, 2)).to.emit(token, "RedemptionRejected").withArgs(2n, signers.alice.address, 2, 600n);
  });

  it("never stops reclaim", async () => {
    const { token, signers } = await pausedWithWorkInFlight();
    await networkHelpers.time.increase(LAUNCH_TIMEOUT);
    await expect(token.connect(signers.alice).reclaim(3n)).to.emit(token, "RedemptionReclaimed").withArgs(3n, signers.alice.address, 600n);
  });

  it("lets the redeemer still launch, and anyone sweep expired units, while paused", async () => {
    const { token, signers, h100, expiries } = await pausedWithWorkInFlight();
    await expect(token.connect(signers.redeemer).markRunning(2n, ethersLib.id("job-2")))
      .to.emit(token, "RedemptionRunning")
      .withArgs(2n, ethersLib.id("job-2"));
    await networkHelpers.time.increaseTo(expiries.later);
    const balance = await token.balanceOf(signers.alice.address, h100);
    await expect(token.sweepExpired(signers.alice.address, [h100]))
      .to.emit(token, "Expired")
      .withArgs(signers.alice.address, h100, balance);
  });

  it("resumes grants, transfers, redemptions and conversions after unpause", async () => {
    const { token, signers, grant, h100, a100, redeem } = await pausedWithWorkInFlight();
    const { alice, bob, pauser } = signers;
    await token.connect(pauser).unpause();
    await grant(bob, h100, 1);
    await token.connect(alice).safeTransferFrom(alice.address, bob.address, h100, 1n, "0x");
    await redeem(alice, [h100]);
    await networkHelpers.time.increase(3 * 86_400); // the class values apply after their delay
    await token.connect(alice).convert(a100, 1n, H100.id);
  });
});
