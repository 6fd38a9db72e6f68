/**
 * InferenceCredit: grants into expiry buckets, balances, expiry and sweeping, clawback, holder transfers,
 * prices, pause, views. (Authorizations and settlement: creditsSettlement.test.ts; roles:
 * creditsRoles.test.ts.)
 */
import { expect } from "chai";
import { CREDIT, DAY, MODEL, MODEL_PRICE, createCreditFixture } from "../support/creditFixture.js";

const { ethers, networkHelpers, load } = await createCreditFixture();
const MAX_AMOUNT = 2n ** 96n - 1n;

describe("InferenceCredit — deployment", () => {
  it("is an ERC-20 'Inference Credit' (CRED) with 6 decimals reading ComputeToken's allow-list", async () => {
    const { credit, tokenAddress } = await load();
    expect(await credit.name()).to.equal("Inference Credit");
    expect(await credit.symbol()).to.equal("CRED");
    expect(await credit.decimals()).to.equal(6n);
    expect(await credit.computeToken()).to.equal(tokenAddress);
    expect(await credit.totalSupply()).to.equal(0n);
    expect(await credit.MAX_BUCKETS()).to.equal(8n);
    expect(await credit.MAX_BATCH()).to.equal(256n);
    expect(await credit.MAX_MODELS()).to.equal(16n);
    expect(await credit.MAX_AMOUNT()).to.equal(MAX_AMOUNT);
  });

  it("refuses a ComputeToken address without code: InvalidComputeToken(address)", async () => {
    const { manager, signers, credit } = await load();
    const factory = await ethers.getContractFactory("InferenceCredit");
    await expect(factory.deploy(await manager.getAddress(), signers.outsider.address))
      .to.be.revertedWithCustomError(credit, "InvalidComputeToken")
      .withArgs(signers.outsider.address);
  });
});

describe("InferenceCredit — grants", () => {
  it("grants a batch: a Transfer per row, one CreditsGranted, a bucket per holder", async () => {
    const { credit, signers, expiries, nextRef } = await load();
    const { alice, bob, hr } = signers;
    const ref = nextRef();
    const tx = credit.connect(hr).grantBatch(ref, expiries.later, false, [alice.address, bob.address], [3n * CREDIT, 4n * CREDIT]);
    await expect(tx)
      .to.emit(credit, "Transfer")
      .withArgs(ethers.ZeroAddress, alice.address, 3n * CREDIT);
    await expect(tx)
      .to.emit(credit, "Transfer")
      .withArgs(ethers.ZeroAddress, bob.address, 4n * CREDIT);
    await expect(tx)
      .to.emit(credit, "CreditsGranted")
      .withArgs(ref, hr.address, expiries.later, false, 2n, 7n * CREDIT);
    expect(await credit.balanceOf(alice.address)).to.equal(3n * CREDIT);
    expect(await credit.totalSupply()).to.equal(7n * CREDIT);
    expect(await credit.batchGranted(ref)).to.equal(true);
    expect((await credit.bucketsOf(bob.address)).map((b) => [b.amount, b.expiresAt, b.transferable])).to.deep.equal([[4n * CREDIT, expiries.later, false]]);
  });

  it("keeps one bucket per expiry and policy, soonest expiry first, soulbound before transferable", async () => {
    const { credit, signers, expiries, grantCredits } = await load();
    const { alice } = signers;
    await grantCredits(alice, 1n * CREDIT, expiries.latest, false);
    await grantCredits(alice, 2n * CREDIT, expiries.soon, true);
    await grantCredits(alice, 3n * CREDIT, expiries.later, true);
    await grantCredits(alice, 4n * CREDIT, expiries.later, false);
    await grantCredits(alice, 5n * CREDIT, expiries.soon, true);
    expect((await credit.bucketsOf(alice.address)).map((b) => [b.amount, b.expiresAt, b.transferable])).to.deep.equal([
      [7n * CREDIT, expiries.soon, true],
      [4n * CREDIT, expiries.later, false],
      [3n * CREDIT, expiries.later, true],
      [1n * CREDIT, expiries.latest, false],
    ]);
    expect(await credit.balanceOf(alice.address)).to.equal(15n * CREDIT);
  });

  it("lands a batchRef once: BatchAlreadyGranted(batchRef)", async () => {
    const { credit, signers, expiries, nextRef } = await load();
    const ref = nextRef();
    await credit.connect(signers.hr).grantBatch(ref, expiries.later, false, [signers.alice.address], [CREDIT]);
    await expect(credit.connect(signers.hr).grantBatch(ref, expiries.later, false, [signers.alice.address], [CREDIT]))
      .to.be.revertedWithCustomError(credit, "BatchAlreadyGranted")
      .withArgs(ref);
  });

  it("refuses a zero batchRef: InvalidBatchRef(0)", async () => {
    const { credit, signers, expiries } = await load();
    await expect(credit.connect(signers.hr).grantBatch(ethers.ZeroHash, expiries.later, false, [signers.alice.address], [CREDIT]))
      .to.be.revertedWithCustomError(credit, "InvalidBatchRef")
      .withArgs(ethers.ZeroHash);
  });

  it("refuses empty, oversized and mismatched batches: EmptyBatch, BatchTooLarge, LengthMismatch", async () => {
    const { credit, signers, expiries, nextRef } = await load();
    const hr = credit.connect(signers.hr);
    await expect(hr.grantBatch(nextRef(), expiries.later, false, [], []))
      .to.be.revertedWithCustomError(credit, "EmptyBatch")
      .withArgs();
    const many = Array.from({ length: 257 }, () => signers.alice.address);
    await expect(
      hr.grantBatch(
        nextRef(),
        expiries.later,
        false,
        many,
        many.map(() => 1n),
      ),
    )
      .to.be.revertedWithCustomError(credit, "BatchTooLarge")
      .withArgs(257n, 256n);
    await expect(hr.grantBatch(nextRef(), expiries.later, false, [signers.alice.address], [1n, 2n]))
      .to.be.revertedWithCustomError(credit, "LengthMismatch")
      .withArgs(1n, 2n);
  });

  it("refuses a zero amount, an amount beyond a bucket and an expiry not in the future", async () => {
    const { credit, signers, expiries, nextRef } = await load();
    const hr = credit.connect(signers.hr);
    const { alice, bob } = signers;
    await expect(hr.grantBatch(nextRef(), expiries.later, false, [alice.address, bob.address], [1n, 0n]))
      .to.be.revertedWithCustomError(credit, "ZeroAmount")
      .withArgs(1n);
    await expect(hr.grantBatch(nextRef(), expiries.later, false, [alice.address], [MAX_AMOUNT + 1n]))
      .to.be.revertedWithCustomError(credit, "AmountTooLarge")
      .withArgs(MAX_AMOUNT + 1n, MAX_AMOUNT);
    await hr.grantBatch(nextRef(), expiries.later, false, [alice.address], [MAX_AMOUNT]);
    await expect(hr.grantBatch(nextRef(), expiries.later, false, [alice.address], [2n]))
      .to.be.revertedWithCustomError(credit, "AmountTooLarge")
      .withArgs(MAX_AMOUNT + 2n, MAX_AMOUNT);
    const now = BigInt(await networkHelpers.time.latest());
    await networkHelpers.time.setNextBlockTimestamp(now + 10n);
    await expect(hr.grantBatch(nextRef(), now + 10n, false, [alice.address], [1n]))
      .to.be.revertedWithCustomError(credit, "InvalidExpiry")
      .withArgs(now + 10n, now + 10n);
  });

  it("grants only to allow-listed holders (ComputeToken's isHolder): NotHolder(account)", async () => {
    const { credit, token, signers, grantCredits } = await load();
    await expect(grantCredits(signers.outsider, CREDIT)).to.be.revertedWithCustomError(credit, "NotHolder").withArgs(signers.outsider.address);
    await token.connect(signers.hr).offboard(signers.bob.address);
    await expect(grantCredits([signers.alice, signers.bob], CREDIT))
      .to.be.revertedWithCustomError(credit, "NotHolder")
      .withArgs(signers.bob.address);
    await token.connect(signers.hr).onboard([signers.outsider.address]);
    await expect(grantCredits(signers.outsider, CREDIT)).to.emit(credit, "CreditsGranted");
  });

  it("bounds live buckets per holder: the ninth expiry reverts TooManyBuckets unless an expired bucket can be swept", async () => {
    const { credit, signers, start, grantCredits } = await load();
    const { alice } = signers;
    const expiry = (i: number) => BigInt(start + (i + 1) * DAY);
    for (let i = 0; i < 8; i++) await grantCredits(alice, CREDIT, expiry(i));
    await expect(grantCredits(alice, CREDIT, expiry(8)))
      .to.be.revertedWithCustomError(credit, "TooManyBuckets")
      .withArgs(alice.address, 8n);
    // an existing bucket still takes more
    await grantCredits(alice, CREDIT, expiry(3));
    await networkHelpers.time.increaseTo(expiry(1));
    const tx = grantCredits(alice, CREDIT, expiry(8));
    await expect(tx).to.emit(credit, "CreditsExpired").withArgs(alice.address, expiry(0), CREDIT);
    await expect(tx).to.emit(credit, "CreditsExpired").withArgs(alice.address, expiry(1), CREDIT);
    const buckets = await credit.bucketsOf(alice.address);
    expect(buckets.map((b) => b.expiresAt)).to.deep.equal([2, 3, 4, 5, 6, 7, 8].map((i) => expiry(i)));
    expect(buckets[1].amount).to.equal(2n * CREDIT);
    expect(await credit.totalSupply()).to.equal(8n * CREDIT);
  });

  it("stops grants while paused: EnforcedPause", async () => {
    const { credit, signers, grantCredits } = await load();
    await credit.connect(signers.pauser).pause();
    await expect(grantCredits(signers.alice, CREDIT)).to.be.revertedWithCustomError(credit, "EnforcedPause").withArgs();
  });
});

describe("InferenceCredit — expiry, sweep and clawback", () => {
  it("counts only unexpired credits in balanceOf; sweepExpired burns the rest with CreditsExpired", async () => {
    const { credit, signers, expiries, grantCredits } = await load();
    const { alice, outsider } = signers;
    await grantCredits(alice, 2n * CREDIT, expiries.soon);
    await grantCredits(alice, 3n * CREDIT, expiries.later);
    expect(await credit.sweepExpired.staticCall(alice.address)).to.equal(0n);
    await networkHelpers.time.increaseTo(expiries.soon);
    expect(await credit.balanceOf(alice.address)).to.equal(3n * CREDIT);
    expect(await credit.totalSupply()).to.equal(5n * CREDIT);
    const tx = credit.connect(outsider).sweepExpired(alice.address);
    await expect(tx)
      .to.emit(credit, "CreditsExpired")
      .withArgs(alice.address, expiries.soon, 2n * CREDIT);
    await expect(tx)
      .to.emit(credit, "Transfer")
      .withArgs(alice.address, ethers.ZeroAddress, 2n * CREDIT);
    expect(await credit.totalSupply()).to.equal(3n * CREDIT);
    expect((await credit.bucketsOf(alice.address)).length).to.equal(1);
  });

  it("claws back all of a holder's credits (expired ones recorded as expired)", async () => {
    const { credit, signers, expiries, grantCredits } = await load();
    const { alice, hr } = signers;
    await grantCredits(alice, 2n * CREDIT, expiries.soon);
    await grantCredits(alice, 3n * CREDIT, expiries.later, true);
    await networkHelpers.time.increaseTo(expiries.soon);
    expect(await credit.connect(hr).clawback.staticCall(alice.address)).to.equal(3n * CREDIT);
    const tx = credit.connect(hr).clawback(alice.address);
    await expect(tx)
      .to.emit(credit, "CreditsClawedBack")
      .withArgs(alice.address, 3n * CREDIT);
    await expect(tx)
      .to.emit(credit, "CreditsExpired")
      .withArgs(alice.address, expiries.soon, 2n * CREDIT);
    await expect(tx)
      .to.emit(credit, "Transfer")
      .withArgs(alice.address, ethers.ZeroAddress, 5n * CREDIT);
    expect(await credit.bucketsOf(alice.address)).to.deep.equal([]);
    expect(await credit.totalSupply()).to.equal(0n);
    // nothing left: no event, returns 0
    await expect(credit.connect(hr).clawback(alice.address)).not.to.emit(credit, "CreditsClawedBack");
  });
});

describe("InferenceCredit — holder transfers", () => {
  it("moves transferable credits soonest-expiring first, keeping each bucket's expiry", async () => {
    const { credit, signers, expiries, grantCredits } = await load();
    const { alice, bob } = signers;
    await grantCredits(alice, 2n * CREDIT, expiries.later, true);
    await grantCredits(alice, 2n * CREDIT, expiries.soon, true);
    await grantCredits(alice, 5n * CREDIT, expiries.soon, false);
    const tx = credit.connect(alice).transfer(bob.address, 3n * CREDIT);
    await expect(tx)
      .to.emit(credit, "BucketTransferred")
      .withArgs(alice.address, bob.address, expiries.soon, 2n * CREDIT);
    await expect(tx)
      .to.emit(credit, "BucketTransferred")
      .withArgs(alice.address, bob.address, expiries.later, 1n * CREDIT);
    await expect(tx)
      .to.emit(credit, "Transfer")
      .withArgs(alice.address, bob.address, 3n * CREDIT);
    expect((await credit.bucketsOf(bob.address)).map((b) => [b.amount, b.expiresAt, b.transferable])).to.deep.equal([
      [2n * CREDIT, expiries.soon, true],
      [1n * CREDIT, expiries.later, true],
    ]);
    expect((await credit.bucketsOf(alice.address)).map((b) => [b.amount, b.expiresAt, b.transferable])).to.deep.equal([
      [5n * CREDIT, expiries.soon, false],
      [1n * CREDIT, expiries.later, true],
    ]);
  });

  it("never moves soulbound or expired credits: ERC20InsufficientBalance(from, transferable, value)", async () => {
    const { credit, signers, expiries, grantCredits } = await load();
    const { alice, bob } = signers;
    await grantCredits(alice, 5n * CREDIT, expiries.later, false);
    await grantCredits(alice, 1n * CREDIT, expiries.soon, true);
    await expect(credit.connect(alice).transfer(bob.address, 2n * CREDIT))
      .to.be.revertedWithCustomError(credit, "ERC20InsufficientBalance")
      .withArgs(alice.address, 1n * CREDIT, 2n * CREDIT);
    await networkHelpers.time.increaseTo(expiries.soon);
    await expect(credit.connect(alice).transfer(bob.address, 1n)).to.be.revertedWithCustomError(credit, "ERC20InsufficientBalance").withArgs(alice.address, 0n, 1n);
  });

  it("moves only between allow-listed holders: NotHolder(account); not to the zero address", async () => {
    const { credit, token, signers, expiries, grantCredits } = await load();
    const { alice, bob, outsider } = signers;
    await grantCredits(alice, 5n * CREDIT, expiries.later, true);
    await expect(credit.connect(alice).transfer(outsider.address, 1n)).to.be.revertedWithCustomError(credit, "NotHolder").withArgs(outsider.address);
    await expect(credit.connect(alice).transfer(ethers.ZeroAddress, 1n)).to.be.revertedWithCustomError(credit, "ERC20InvalidReceiver").withArgs(ethers.ZeroAddress);
    await token.connect(signers.hr).offboard(alice.address);
    await expect(credit.connect(alice).transfer(bob.address, 1n)).to.be.revertedWithCustomError(credit, "NotHolder").withArgs(alice.address);
  });

  it("lets an approved holder move credits with transferFrom, spending the allowance", async () => {
    const { credit, signers, expiries, grantCredits } = await load();
    const { alice, bob, carol } = signers;
    await grantCredits(alice, 5n * CREDIT, expiries.later, true);
    await expect(credit.connect(alice).approve(bob.address, 2n * CREDIT))
      .to.emit(credit, "Approval")
      .withArgs(alice.address, bob.address, 2n * CREDIT);
    await expect(credit.connect(bob).transferFrom(alice.address, carol.address, 3n * CREDIT))
      .to.be.revertedWithCustomError(credit, "ERC20InsufficientAllowance")
      .withArgs(bob.address, 2n * CREDIT, 3n * CREDIT);
    await expect(credit.connect(bob).transferFrom(alice.address, carol.address, 2n * CREDIT))
      .to.emit(credit, "Transfer")
      .withArgs(alice.address, carol.address, 2n * CREDIT);
    expect(await credit.allowance(alice.address, bob.address)).to.equal(0n);
    expect(await credit.balanceOf(carol.address)).to.equal(2n * CREDIT);
    await expect(credit.connect(alice).approve(ethers.ZeroAddress, 1n)).to.be.revertedWithCustomError(credit, "ERC20InvalidSpender").withArgs(ethers.ZeroAddress);
  });

  it("stops transfers while paused: EnforcedPause; unpause resumes them", async () => {
    const { credit, signers, expiries, grantCredits } = await load();
    const { alice, bob, pauser } = signers;
    await grantCredits(alice, 5n * CREDIT, expiries.later, true);
    await expect(credit.connect(pauser).pause()).to.emit(credit, "Paused").withArgs(pauser.address);
    await expect(credit.connect(alice).transfer(bob.address, 1n)).to.be.revertedWithCustomError(credit, "EnforcedPause").withArgs();
    await expect(credit.connect(pauser).pause()).to.be.revertedWithCustomError(credit, "EnforcedPause").withArgs();
    await expect(credit.connect(pauser).unpause()).to.emit(credit, "Unpaused").withArgs(pauser.address);
    await expect(credit.connect(pauser).unpause()).to.be.revertedWithCustomError(credit, "ExpectedPause").withArgs();
    await expect(credit.connect(alice).transfer(bob.address, 1n)).to.emit(credit, "Transfer").withArgs(alice.address, bob.address, 1n);
  });

  it("sweeps a full receiver's expired buckets to make room, else TooManyBuckets", async () => {
    const { credit, signers, start, grantCredits, expiries } = await load();
    const { alice, bob } = signers;
    const expiry = (i: number) => BigInt(start + (i + 1) * DAY);
    for (let i = 0; i < 8; i++) await grantCredits(bob, CREDIT, expiry(i));
    await grantCredits(alice, CREDIT, expiries.latest, true);
    await expect(credit.connect(alice).transfer(bob.address, 1n)).to.be.revertedWithCustomError(credit, "TooManyBuckets").withArgs(bob.address, 8n);
    await networkHelpers.time.increaseTo(expiry(0));
    await expect(credit.connect(alice).transfer(bob.address, 1n)).to.emit(credit, "CreditsExpired").withArgs(bob.address, expiry(0), CREDIT);
  });
});

describe("InferenceCredit — prices", () => {
  it("sets a model's prices, bumping the price version: ModelPriceSet", async () => {
    const { credit, signers } = await load();
    const v = await credit.priceVersion();
    await expect(credit.connect(signers.ops).setModelPrice("llama-70b", 3n, 4n, 5n))
      .to.emit(credit, "ModelPriceSet")
      .withArgs(v + 1n, "llama-70b", 3n, 4n, 5n);
    expect(await credit.modelPrice("llama-70b")).to.deep.equal([3n, 4n, 5n, true]);
    expect(await credit.modelPrice(MODEL)).to.deep.equal([MODEL_PRICE.inputPerMTok, MODEL_PRICE.outputPerMTok, MODEL_PRICE.requestCharge, true]);
    expect(await credit.priceVersion()).to.equal(v + 1n);
  });

  it("removes a model with all-zero prices; removing an unlisted one is UnknownModel(model)", async () => {
    const { credit, signers } = await load();
    await expect(credit.connect(signers.ops).setModelPrice(MODEL, 0n, 0n, 0n))
      .to.emit(credit, "ModelPriceSet")
      .withArgs(2n, MODEL, 0n, 0n, 0n);
    expect((await credit.modelPrice(MODEL)).listed).to.equal(false);
    await expect(credit.connect(signers.ops).setModelPrice(MODEL, 0n, 0n, 0n))
      .to.be.revertedWithCustomError(credit, "UnknownModel")
      .withArgs(MODEL);
  });

  it("refuses an empty or over-long model name: InvalidModelName(model)", async () => {
    const { credit, signers } = await load();
    await expect(credit.connect(signers.ops).setModelPrice("", 1n, 1n, 1n))
      .to.be.revertedWithCustomError(credit, "InvalidModelName")
      .withArgs("");
    const long = "m".repeat(65);
    await expect(credit.connect(signers.ops).setModelPrice(long, 1n, 1n, 1n))
      .to.be.revertedWithCustomError(credit, "InvalidModelName")
      .withArgs(long);
  });

  it("sets the priority fees, bumping the price version: PriorityFeesSet", async () => {
    const { credit, signers } = await load();
    expect(await credit.priorityFees()).to.deep.equal([0n, 0n, 0n, 0n]);
    await expect(credit.connect(signers.ops).setPriorityFees([0n, 1n, 20n, 300n]))
      .to.emit(credit, "PriorityFeesSet")
      .withArgs(2n, [0n, 1n, 20n, 300n]);
    expect(await credit.priorityFees()).to.deep.equal([0n, 1n, 20n, 300n]);
    expect(await credit.priceVersion()).to.equal(2n);
  });
});

describe("InferenceCredit — authority", () => {
  it("moves to a new authority only through the AccessManager: AuthorityUpdated; not to a non-contract", async () => {
    const { credit, creditAddress, manager, signers } = await load();
    await expect(credit.connect(signers.admin).setAuthority(signers.admin.address))
      .to.be.revertedWithCustomError(credit, "AccessManagedUnauthorized")
      .withArgs(signers.admin.address);
    await expect(manager.connect(signers.admin).updateAuthority(creditAddress, signers.outsider.address))
      .to.be.revertedWithCustomError(credit, "AccessManagedInvalidAuthority")
      .withArgs(signers.outsider.address);
    const other = await ethers.deployContract("AccessManager", [signers.admin.address]);
    await expect(manager.connect(signers.admin).updateAuthority(creditAddress, await other.getAddress()))
      .to.emit(credit, "AuthorityUpdated")
      .withArgs(await other.getAddress());
  });
});
