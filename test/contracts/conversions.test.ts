import { expect } from "chai";
import { ethers as ethersLib } from "ethers";
import { A100, H100, createContractFixture } from "../support/contractFixture.js";

const { networkHelpers, load } = await createContractFixture();

const VALUE_DELAY = 3 * 86_400;

/** Schedules class values (conversion rates derive from them) and waits until they apply. */
async function setValues(f: Awaited<ReturnType<typeof load>>, values: [number, number][]) {
  for (const [classId, value] of values) await f.token.connect(f.signers.ops).setClassValue(classId, value);
  await networkHelpers.time.increase(VALUE_DELAY);
}

/** Alice holds 3600 A100 units (soulbound) and 7200 H100 units (transferable); A100 → H100 at 1:2 (values 1 and 2). */
async function withRate() {
  const f = await load();
  const a100 = f.lot(A100.id, f.expiries.later, "soulbound");
  const h100 = f.lot(H100.id, f.expiries.soon, "transferable");
  const { alice } = f.signers;
  await f.token.connect(f.signers.hr).grantBatch(f.nextBatchRef(), [alice.address, alice.address], [a100, h100], [3600n, 7200n]);
  await setValues(f, [
    [A100.id, 1],
    [H100.id, 2],
  ]);
  return { ...f, a100, h100 };
}

describe("ComputeToken — class values (conversion rates)", () => {
  it("schedules a value that applies only after the delay, visible to holders beforehand", async () => {
    const f = await load();
    const { token, signers } = f;
    const tx = token.connect(signers.ops).setClassValue(H100.id, 5);
    const effectiveAt = BigInt((await networkHelpers.time.latest()) + 1 + VALUE_DELAY);
    await expect(tx).to.emit(token, "ClassValueScheduled").withArgs(H100.id, 5, effectiveAt);
    await token.connect(signers.ops).setClassValue(A100.id, 2);
    expect(await token.classValue(H100.id)).to.deep.equal([0n, 5n, effectiveAt]);
    expect(await token.conversionRate(H100.id, A100.id)).to.deep.equal([0n, 0n]);
    await networkHelpers.time.increaseTo(effectiveAt + 1n); // A100's value was scheduled a block later
    expect(await token.classValue(H100.id)).to.deep.equal([5n, 0n, 0n]);
    expect(await token.conversionRate(H100.id, A100.id)).to.deep.equal([5n, 2n]);
    expect(await token.conversionRate(A100.id, H100.id)).to.deep.equal([2n, 5n]);
  });

  it("derives both directions from one value per class: there and back never gains a unit", async () => {
    const f = await withRate();
    const { token, signers, a100, expiries, lot } = f;
    const { alice } = signers;
    const before = (await token.balanceOf(alice.address, a100)) + (await token.balanceOf(alice.address, lot(H100.id, expiries.later, "soulbound")));
    await token.connect(alice).convert(a100, 1000n, H100.id);
    await token.connect(alice).convert(lot(H100.id, expiries.later, "soulbound"), 500n, A100.id);
    expect(await token.balanceOf(alice.address, a100)).to.equal(before);
    // H100 → A100 is 2:1, the inverse of A100 → H100: no separate rate can make a cycle pay.
    expect(await token.conversionRate(H100.id, A100.id)).to.deep.equal([2n, 1n]);
  });

  it("bounds a change to at most double or half the value in force, and any value to 1,000,000: InvalidClassValue", async () => {
    const f = await withRate();
    const { token, signers } = f;
    await expect(token.connect(signers.ops).setClassValue(H100.id, 5)).to.be.revertedWithCustomError(token, "InvalidClassValue").withArgs(H100.id, 5, 2);
    await expect(token.connect(signers.ops).setClassValue(H100.id, 4)).to.emit(token, "ClassValueScheduled");
    await expect(token.connect(signers.ops).setClassValue(A100.id, 1_000_001)).to.be.revertedWithCustomError(token, "InvalidClassValue").withArgs(A100.id, 1_000_001, 1);
    // 10^12 H200 units for one H100 unit cannot even be asked for.
    await expect(token.connect(signers.ops).setClassValue(A100.id, 10n ** 12n))
      .to.be.revertedWithCustomError(token, "InvalidClassValue")
      .withArgs(A100.id, 10n ** 12n, 1);
  });

  it("takes a class out of conversions with a zero value, after the same delay", async () => {
    const { token, signers, a100 } = await withRate();
    await token.connect(signers.ops).setClassValue(A100.id, 0);
    await token.connect(signers.alice).convert(a100, 2n, H100.id); // still in force until the delay passes
    await networkHelpers.time.increase(VALUE_DELAY);
    await expect(token.connect(signers.alice).convert(a100, 2n, H100.id))
      .to.be.revertedWithCustomError(token, "ConversionNotAvailable")
      .withArgs(A100.id, H100.id);
  });

  it("refuses a value for an unknown class with UnknownClass", async () => {
    const { token, signers } = await load();
    await expect(token.connect(signers.ops).setClassValue(3, 1)).to.be.revertedWithCustomError(token, "UnknownClass").withArgs(3);
  });
});

describe("ComputeToken — convert", () => {
  it("converts units into the other class at the rate, keeping expiry and policy, and emits Converted", async () => {
    const { token, signers, a100, expiries, lot } = await withRate();
    const { alice } = signers;
    const toLot = lot(H100.id, expiries.later, "soulbound");
    expect(await token.connect(alice).convert.staticCall(a100, 1000n, H100.id)).to.deep.equal([toLot, 500n]);
    const tx = token.connect(alice).convert(a100, 1000n, H100.id);
    await expect(tx).to.emit(token, "Converted").withArgs(alice.address, a100, toLot, 1000n, 500n);
    await expect(tx).to.emit(token, "LotRegistered").withArgs(toLot, H100.id, expiries.later, 0);
    await expect(tx).to.emit(token, "TransferSingle").withArgs(alice.address, alice.address, ethersLib.ZeroAddress, a100, 1000n);
    await expect(tx).to.emit(token, "TransferSingle").withArgs(alice.address, ethersLib.ZeroAddress, alice.address, toLot, 500n);
    expect(await token.balanceOf(alice.address, a100)).to.equal(2600n);
    expect(await token.balanceOf(alice.address, toLot)).to.equal(500n);
    expect(await token.lotsOfClass(H100.id)).to.include(toLot);
    expect(await token.redeemableBalanceOf(alice.address, H100.id)).to.equal(7200n + 500n);
  });

  it("converts out of a retired class where a rate is set", async () => {
    const { token, signers, a100, expiries, lot } = await withRate();
    await token.connect(signers.ops).retireClass(A100.id);
    await token.connect(signers.alice).convert(a100, 2n, H100.id);
    expect(await token.balanceOf(signers.alice.address, lot(H100.id, expiries.later, "soulbound"))).to.equal(1n);
  });

  it("refuses an amount that does not convert exactly: InexactConversion", async () => {
    const { token, signers, a100 } = await withRate();
    await expect(token.connect(signers.alice).convert(a100, 3n, H100.id))
      .to.be.revertedWithCustomError(token, "InexactConversion")
      .withArgs(3n, 1, 2);
  });

  it("refuses a pair without values: ConversionNotAvailable; and a class into itself: SameClass", async () => {
    const f = await load();
    const h100 = f.lot(H100.id, f.expiries.later, "transferable");
    await f.grant(f.signers.alice, h100, 10n);
    await expect(f.token.connect(f.signers.alice).convert(h100, 2n, A100.id))
      .to.be.revertedWithCustomError(f.token, "ConversionNotAvailable")
      .withArgs(H100.id, A100.id);
    await expect(f.token.connect(f.signers.alice).convert(h100, 2n, H100.id))
      .to.be.revertedWithCustomError(f.token, "SameClass")
      .withArgs(H100.id);
  });

  it("refuses conversion into a retired class with ClassNotActive and an unknown one with UnknownClass", async () => {
    const { token, signers, a100 } = await withRate();
    await expect(token.connect(signers.alice).convert(a100, 2n, 3))
      .to.be.revertedWithCustomError(token, "UnknownClass")
      .withArgs(3);
    await token.connect(signers.ops).retireClass(H100.id);
    await expect(token.connect(signers.alice).convert(a100, 2n, H100.id))
      .to.be.revertedWithCustomError(token, "ClassNotActive")
      .withArgs(H100.id);
  });

  it("refuses expired units: LotExpired", async () => {
    const { token, signers, a100, expiries } = await withRate();
    await networkHelpers.time.setNextBlockTimestamp(expiries.later);
    await expect(token.connect(signers.alice).convert(a100, 2n, H100.id))
      .to.be.revertedWithCustomError(token, "LotExpired")
      .withArgs(a100, expiries.later);
  });

  it("refuses a zero amount with ZeroAmount(0)", async () => {
    const { token, signers, a100 } = await withRate();
    await expect(token.connect(signers.alice).convert(a100, 0n, H100.id))
      .to.be.revertedWithCustomError(token, "ZeroAmount")
      .withArgs(0);
  });

  it("refuses an account not on the allow-list: NotHolder", async () => {
    const { token, signers, a100 } = await withRate();
    await token.connect(signers.hr).offboard(signers.alice.address);
    await expect(token.connect(signers.alice).convert(a100, 2n, H100.id))
      .to.be.revertedWithCustomError(token, "NotHolder")
      .withArgs(signers.alice.address);
  });

  it("refuses more than the holder's balance: ERC1155InsufficientBalance", async () => {
    const { token, signers, a100 } = await withRate();
    await expect(token.connect(signers.bob).convert(a100, 2n, H100.id))
      .to.be.revertedWithCustomError(token, "ERC1155InsufficientBalance")
      .withArgs(signers.bob.address, 0n, 2n, a100);
  });

  it("refuses a malformed lot id with InvalidLotId", async () => {
    const { token, signers, a100 } = await withRate();
    const bad = a100 | (1n << 255n);
    await expect(token.connect(signers.alice).convert(bad, 2n, H100.id))
      .to.be.revertedWithCustomError(token, "InvalidLotId")
      .withArgs(bad);
  });
});
