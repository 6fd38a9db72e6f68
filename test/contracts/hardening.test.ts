/**
 * Issue 11: no employee loses hours to a recovery, a slow redeemer or an operator's typo, and one
 * recipient cannot block a grant batch. One describe per item of the issue; each test failed on the
 * contract before the issue (see the report for how that was checked).
 */
import { anyValue } from "@nomicfoundation/hardhat-ethers-chai-matchers/withArgs";
import { expect } from "chai";
import { ethers as ethersLib } from "ethers";
import { A100, DAY, H100, HOUR, LAUNCH_TIMEOUT, Status, createContractFixture } from "../support/contractFixture.js";

const { ethers, networkHelpers, load } = await createContractFixture();
const jobRef = ethersLib.id("job");
const REFUND_GRACE = 7n * 86_400n;
const SETTLE_GRACE = 86_400n;

/** The lot a refund landing at `now` goes to when its own lot expires within the grace. */
const gracedExpiry = (now: bigint, grace = REFUND_GRACE) => ((now + grace) / 86_400n + 1n) * 86_400n;

/** Alice holds 10 h of H100 (expires in 30 days) and has three 1-GPU-hour redemptions: 1 running, 2 and 3 requested. */
async function aliceWithWorkInFlight() {
  const f = await load();
  const lotId = f.lot(H100.id, f.expiries.later);
  await f.grant(f.signers.alice, lotId, 10n * 3600n);
  for (let i = 0; i < 3; i++) await f.redeem(f.signers.alice, [lotId]);
  await f.token.connect(f.signers.redeemer).markRunning(1n, jobRef);
  return { ...f, lotId };
}

describe("issue 11 · 1 — refunds and reclaims of a recovered account's redemptions go to the replacement", () => {
  it("refunds a lost key's settled, rejected and reclaimed redemptions to the replacement, who may reclaim", async () => {
    const { token, signers, lotId } = await aliceWithWorkInFlight();
    const { admin, alice, bob, redeemer } = signers;
    await expect(token.connect(admin).recover(alice.address, bob.address, [lotId]))
      .to.emit(token, "AccountRecovered")
      .withArgs(alice.address, bob.address, 1);
    const bobBefore = await token.balanceOf(bob.address, lotId);

    await expect(token.connect(redeemer).settle(1n, 600n, ethersLib.ZeroHash))
      .to.emit(token, "TransferSingle")
      .withArgs(redeemer.address, ethersLib.ZeroAddress, bob.address, lotId, 3000n);
    await expect(token.connect(redeemer).reject(2n, 1)).to.emit(token, "TransferSingle").withArgs(redeemer.address, ethersLib.ZeroAddress, bob.address, lotId, 3600n);
    await networkHelpers.time.increase(LAUNCH_TIMEOUT);
    await expect(token.connect(bob).reclaim(3n)).to.emit(token, "RedemptionReclaimed").withArgs(3n, alice.address, 3600n);

    expect(await token.balanceOf(bob.address, lotId)).to.equal(bobBefore + 3000n + 3600n + 3600n);
    expect(await token.balanceOf(alice.address, lotId)).to.equal(0n);
    // Anyone else still may not reclaim it.
    await expect(token.connect(signers.carol).reclaim(3n)).to.be.revertedWithCustomError(token, "InvalidRedemptionStatus").withArgs(3n, Status.Reclaimed);
  });

  it("follows a second recovery: the refund reaches the latest replacement", async () => {
    const { token, signers, lotId } = await aliceWithWorkInFlight();
    const { admin, alice, bob, carol, redeemer } = signers;
    await token.connect(admin).recover(alice.address, bob.address, [lotId]);
    await token.connect(admin).recover(bob.address, carol.address, [lotId]);
    await expect(token.connect(redeemer).reject(2n, 1)).to.emit(token, "TransferSingle").withArgs(redeemer.address, ethersLib.ZeroAddress, carol.address, lotId, 3600n);
  });
});

describe("issue 11 · 2 — a refund to someone no longer a holder is clawed back", () => {
  it("claws back the refund of an offboarded leaver's redemption, with ClawedBack", async () => {
    const { token, signers, lotId } = await aliceWithWorkInFlight();
    const { hr, alice, redeemer } = signers;
    await token.connect(hr).offboard(alice.address);
    await token.connect(hr).clawback(alice.address, [lotId]);
    const supply = await token["totalSupply(uint256)"](lotId);
    const tx = token.connect(redeemer).settle(1n, 600n, ethersLib.ZeroHash);
    await expect(tx).to.emit(token, "RedemptionSettled").withArgs(1n, alice.address, 600n, 3000n, ethersLib.ZeroHash);
    await expect(tx).to.emit(token, "ClawedBack").withArgs(alice.address, lotId, 3000n);
    await expect(token.connect(redeemer).reject(2n, 1)).to.emit(token, "ClawedBack").withArgs(alice.address, lotId, 3600n);
    expect(await token.balanceOf(alice.address, lotId)).to.equal(0n);
    expect(await token["totalSupply(uint256)"](lotId)).to.equal(supply);
  });
});

describe("issue 11 · 3 — a refund stays redeemable for the refund grace", () => {
  it("refunds into a lot that outlasts the grace when the drawn lot expired meanwhile, and nobody can sweep it", async () => {
    const f = await load();
    const { token, signers } = f;
    const now = BigInt(await networkHelpers.time.latest());
    const shortLot = f.lot(H100.id, now + 2n * 86_400n);
    await f.grant(signers.alice, shortLot, 3600n);
    await f.redeem(signers.alice, [shortLot]);
    await networkHelpers.time.increase(3 * DAY); // the redeemer was slow: the lot expired meanwhile
    const at = BigInt(await networkHelpers.time.latest()) + 1n;
    await networkHelpers.time.setNextBlockTimestamp(at);
    const graced = f.lot(H100.id, gracedExpiry(at));
    const tx = token.connect(signers.redeemer).reject(1n, 1);
    await expect(tx).to.emit(token, "LotRegistered").withArgs(graced, H100.id, gracedExpiry(at), 1);
    await expect(tx).to.emit(token, "TransferSingle").withArgs(signers.redeemer.address, ethersLib.ZeroAddress, signers.alice.address, graced, 3600n);
    expect(await token.redeemableBalanceOf(signers.alice.address, H100.id)).to.equal(3600n);
    await expect(token.sweepExpired(signers.alice.address, [graced]))
      .to.be.revertedWithCustomError(token, "LotNotExpired")
      .withArgs(graced, gracedExpiry(at));
    await f.redeem(signers.alice, [graced]); // still spendable
  });

  it("lets operations set the grace within 1..30 days: RefundGraceSet, InvalidRefundGrace", async () => {
    const { token, signers } = await load();
    await expect(token.deploymentTransaction()).to.emit(token, "RefundGraceSet").withArgs(REFUND_GRACE);
    await expect(token.connect(signers.ops).setRefundGrace(2 * DAY))
      .to.emit(token, "RefundGraceSet")
      .withArgs(2 * DAY);
    for (const bad of [0, DAY - 1, 30 * DAY + 1]) {
      await expect(token.connect(signers.ops).setRefundGrace(bad)).to.be.revertedWithCustomError(token, "InvalidRefundGrace").withArgs(bad);
    }
  });
});

describe("issue 11 · 4 — recourse that cannot be taken away", () => {
  it("keeps the launch timeout in force when the redemption was requested", async () => {
    const { token, signers } = await aliceWithWorkInFlight();
    const { requestedAt, reclaimableAt } = await token.getRedemption(2n);
    expect(reclaimableAt).to.equal(requestedAt + BigInt(LAUNCH_TIMEOUT));
    await token.connect(signers.ops).setLaunchTimeout(7 * DAY);
    await networkHelpers.time.setNextBlockTimestamp(requestedAt + BigInt(LAUNCH_TIMEOUT));
    await expect(token.connect(signers.alice).reclaim(2n)).to.emit(token, "RedemptionReclaimed").withArgs(2n, signers.alice.address, 3600n);
  });

  it("bounds the launch timeout to 7 days: InvalidLaunchTimeout", async () => {
    const { token, signers } = await load();
    await expect(token.connect(signers.ops).setLaunchTimeout(7 * DAY + 1))
      .to.be.revertedWithCustomError(token, "InvalidLaunchTimeout")
      .withArgs(7 * DAY + 1);
  });

  it("lets the holder close a launched redemption nobody settled within its time plus the settle grace, with a full refund", async () => {
    const { token, signers } = await aliceWithWorkInFlight();
    const runningAt = BigInt((await ethers.provider.getBlock("latest"))!.timestamp);
    // Redemption 1 was marked running in the fixture's last block.
    const deadline = runningAt + BigInt(HOUR) + SETTLE_GRACE;
    expect((await token.getRedemption(1n)).reclaimableAt).to.equal(deadline);
    await networkHelpers.time.setNextBlockTimestamp(deadline - 1n);
    await expect(token.connect(signers.alice).reclaim(1n)).to.be.revertedWithCustomError(token, "ReclaimTooEarly").withArgs(1n, deadline);
    await networkHelpers.time.setNextBlockTimestamp(deadline);
    await expect(token.connect(signers.alice).reclaim(1n)).to.emit(token, "RedemptionReclaimed").withArgs(1n, signers.alice.address, 3600n);
    await expect(token.connect(signers.redeemer).settle(1n, 10n, ethersLib.ZeroHash))
      .to.be.revertedWithCustomError(token, "InvalidRedemptionStatus")
      .withArgs(1n, Status.Reclaimed);
  });
});

describe("issue 11 · 6 — an old employee list does not re-admit a leaver", () => {
  it("refuses to onboard an offboarded or recovered-away account (HolderWasOffboarded); readmit does it on purpose", async () => {
    const { token, signers } = await load();
    const { hr, admin, alice, bob, carol } = signers;
    await token.connect(hr).offboard(alice.address);
    await token.connect(admin).recover(bob.address, carol.address, [1n << 72n]);
    expect(await token.standingOf(alice.address)).to.equal(2n);
    for (const who of [alice, bob]) {
      await expect(token.connect(hr).onboard([carol.address, who.address]))
        .to.be.revertedWithCustomError(token, "HolderWasOffboarded")
        .withArgs(who.address);
    }
    await expect(token.connect(hr).readmit([alice.address]))
      .to.emit(token, "HolderOnboarded")
      .withArgs(alice.address);
    expect(await token.isHolder(alice.address)).to.equal(true);
    await expect(token.connect(signers.outsider).readmit([bob.address]))
      .to.be.revertedWithCustomError(token, "AccessManagedUnauthorized")
      .withArgs(signers.outsider.address);
  });
});

describe("issue 11 · 8 — a recipient contract that refuses cannot block a grant batch", () => {
  async function withReceivers() {
    const f = await load();
    const reverting = await ethers.deployContract("RevertingReceiver");
    const burning = await ethers.deployContract("GasBurningReceiver");
    const accepting = await ethers.deployContract("AcceptingReceiver");
    const [r, b, a] = await Promise.all([reverting.getAddress(), burning.getAddress(), accepting.getAddress()]);
    await f.token.connect(f.signers.hr).onboard([r, b, a]);
    return { ...f, r, b, a, lotId: f.lot(H100.id, f.expiries.later) };
  }

  it("pays everyone else and reports the refusing rows with GrantRefused", async () => {
    const { token, signers, r, b, a, lotId } = await withReceivers();
    const { hr, alice, bob } = signers;
    const ref = ethersLib.id("payroll-with-a-vault");
    const tx = token.connect(hr).grantBatch(ref, [alice.address, r, b, a, bob.address], [lotId, lotId, lotId, lotId, lotId], [1n, 2n, 3n, 4n, 5n]);
    await expect(tx).to.emit(token, "GrantRefused").withArgs(ref, r, lotId, 2n);
    await expect(tx).to.emit(token, "GrantRefused").withArgs(ref, b, lotId, 3n);
    await expect(tx).to.emit(token, "BatchGranted").withArgs(ref, hr.address, 3, 10n);
    const balances = await token.balanceOfBatch([alice.address, r, b, a, bob.address], Array(5).fill(lotId));
    expect(balances).to.deep.equal([1n, 0n, 0n, 4n, 5n]);
  });

  it("refuses to run a receiver hook short of its gas (ReceiverGasTooLow), so a low gas limit cannot pass as a refusal", async () => {
    const { token, signers, a, lotId } = await withReceivers();
    await expect(token.connect(signers.hr).grantBatch(ethersLib.id("short"), [a], [lotId], [1n], { gasLimit: 150_000 }))
      .to.be.revertedWithCustomError(token, "ReceiverGasTooLow")
      .withArgs(a, anyValue);
  });
});

describe("issue 11 · 9 — a class never fills up for good", () => {
  /** HR grants alice 1 unit in each of `n` fresh lots of a class, 128 per batch (256 fresh lots would not fit a transaction). */
  async function fillLots(f: Awaited<ReturnType<typeof load>>, classId: number, n: number, expiresFrom: bigint) {
    const lots = Array.from({ length: n }, (_, i) => f.lot(classId, expiresFrom + BigInt(i)));
    for (let i = 0; i < n; i += 128) {
      const part = lots.slice(i, i + 128);
      await f.token.connect(f.signers.hr).grantBatch(
        f.nextBatchRef(),
        part.map(() => f.signers.alice.address),
        part,
        part.map(() => 1n),
      );
    }
    return lots;
  }

  it("unlists expired, empty lots when the class is full, so it can be granted again (LotUnlisted)", async () => {
    const f = await load();
    const { token, signers } = f;
    const now = BigInt(await networkHelpers.time.latest());
    const lots = await fillLots(f, A100.id, 1024, now + DAY_N);
    const fresh = f.lot(A100.id, now + 60n * DAY_N);
    await expect(f.grant(signers.alice, fresh, 1n))
      .to.be.revertedWithCustomError(token, "TooManyLots")
      .withArgs(A100.id, 1024);
    await networkHelpers.time.increase(2 * DAY);
    for (let i = 0; i < lots.length; i += 256) await token.sweepExpired(signers.alice.address, lots.slice(i, i + 256));
    const tx = f.grant(signers.alice, fresh, 1n);
    await expect(tx).to.emit(token, "LotUnlisted").withArgs(lots[0], A100.id);
    await expect(tx)
      .to.emit(token, "LotRegistered")
      .withArgs(fresh, A100.id, now + 60n * DAY_N, 1);
    expect(await token.lotsOfClass(A100.id)).to.deep.equal([fresh]);
  });

  it("keeps a class's last 256 lots for grants: a holder's conversions cannot register them (TooManyLots)", async () => {
    const f = await load();
    const { token, signers } = f;
    const now = BigInt(await networkHelpers.time.latest());
    await fillLots(f, H100.id, 768, now + 10n * DAY_N);
    const a100 = f.lot(A100.id, now + 20n * DAY_N);
    await f.grant(signers.alice, a100, 10n);
    await token.connect(signers.ops).setClassValue(A100.id, 1);
    await token.connect(signers.ops).setClassValue(H100.id, 1);
    await networkHelpers.time.increase(3 * DAY);
    await expect(token.connect(signers.alice).convert(a100, 1n, H100.id))
      .to.be.revertedWithCustomError(token, "TooManyLots")
      .withArgs(H100.id, 768);
    await f.grant(signers.bob, f.lot(H100.id, now + 40n * DAY_N), 1n); // HR still can
  });
});

const DAY_N = BigInt(DAY);

describe("issue 11 · 11 — recover names a repeated lot", () => {
  it("refuses a lot listed twice with DuplicateLot", async () => {
    const { token, signers, lotId } = await aliceWithWorkInFlight();
    await expect(token.connect(signers.admin).recover(signers.alice.address, signers.bob.address, [lotId, lotId]))
      .to.be.revertedWithCustomError(token, "DuplicateLot")
      .withArgs(lotId);
  });
});
