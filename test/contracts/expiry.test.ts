import { expect } from "chai";
import { ethers as ethersLib } from "ethers";
import { A100, H100, createContractFixture, eventsIn } from "../support/contractFixture.js";

const { networkHelpers, load } = await createContractFixture();

/** Alice holds H100 units in a soon- and a later-expiring lot, plus A100 units. */
async function holding() {
  const f = await load();
  const soon = f.lot(H100.id, f.expiries.soon, "soulbound");
  const later = f.lot(H100.id, f.expiries.later, "transferable");
  const a100 = f.lot(A100.id, f.expiries.later, "transferable");
  const { alice, bob } = f.signers;
  await f.token.connect(f.signers.hr).grantBatch(f.nextBatchRef(), [alice.address, alice.address, alice.address, bob.address], [soon, later, a100, soon], [100n, 200n, 7n, 50n]);
  return { ...f, soon, later, a100 };
}

describe("ComputeToken — expiry", () => {
  it("sums a holder's unexpired lots of one class in redeemableBalanceOf", async () => {
    const { token, signers } = await holding();
    expect(await token.redeemableBalanceOf(signers.alice.address, H100.id)).to.equal(300n);
    expect(await token.redeemableBalanceOf(signers.alice.address, A100.id)).to.equal(7n);
    expect(await token.redeemableBalanceOf(signers.carol.address, H100.id)).to.equal(0n);
    expect(await token.redeemableBalanceOf(signers.alice.address, 9)).to.equal(0n);
  });

  it("leaves expired lots out of redeemableBalanceOf while balanceOf still shows them", async () => {
    const { token, signers, soon, expiries } = await holding();
    await networkHelpers.time.increaseTo(expiries.soon);
    expect(await token.redeemableBalanceOf(signers.alice.address, H100.id)).to.equal(200n);
    expect(await token.balanceOf(signers.alice.address, soon)).to.equal(100n);
    await networkHelpers.time.increaseTo(expiries.later);
    expect(await token.redeemableBalanceOf(signers.alice.address, H100.id)).to.equal(0n);
  });

  it("lets anyone sweep expired balances: burns them, emits Expired and TransferSingle, lowers supply", async () => {
    const { token, signers, soon, expiries } = await holding();
    const { alice, outsider } = signers;
    await networkHelpers.time.increaseTo(expiries.soon);
    const tx = token.connect(outsider).sweepExpired(alice.address, [soon]);
    await expect(tx).to.emit(token, "Expired").withArgs(alice.address, soon, 100n);
    await expect(tx).to.emit(token, "TransferSingle").withArgs(outsider.address, alice.address, ethersLib.ZeroAddress, soon, 100n);
    expect(await token.balanceOf(alice.address, soon)).to.equal(0n);
    expect(await token["totalSupply(uint256)"](soon)).to.equal(50n); // bob's share is still there
  });

  it("skips expired lots the holder has no balance in, without an Expired event", async () => {
    const { token, signers, soon, expiries } = await holding();
    await networkHelpers.time.increaseTo(expiries.soon);
    const receipt = await (await token.sweepExpired(signers.carol.address, [soon])).wait();
    expect(eventsIn(receipt, token, "Expired")).to.have.length(0);
  });

  it("refuses to sweep a lot before its expiry: LotNotExpired", async () => {
    const { token, signers, soon, later, expiries } = await holding();
    await networkHelpers.time.setNextBlockTimestamp(expiries.soon);
    await expect(token.sweepExpired(signers.alice.address, [soon, later]))
      .to.be.revertedWithCustomError(token, "LotNotExpired")
      .withArgs(later, expiries.later);
    await networkHelpers.time.setNextBlockTimestamp(expiries.soon - 1n);
    await expect(token.sweepExpired(signers.alice.address, [soon]))
      .to.be.revertedWithCustomError(token, "LotNotExpired")
      .withArgs(soon, expiries.soon);
  });

  it("rejects an empty sweep with EmptyBatch and 257 lots with BatchTooLarge", async () => {
    const { token, signers, soon } = await holding();
    await expect(token.sweepExpired(signers.alice.address, [])).to.be.revertedWithCustomError(token, "EmptyBatch").withArgs();
    await expect(token.sweepExpired(signers.alice.address, Array(257).fill(soon)))
      .to.be.revertedWithCustomError(token, "BatchTooLarge")
      .withArgs(257, 256);
  });

  it("rejects a malformed lot id in a sweep with InvalidLotId", async () => {
    const { token, signers } = await holding();
    const bad = (1n << 72n) | 7n; // class 1, policy 7
    await expect(token.sweepExpired(signers.alice.address, [bad]))
      .to.be.revertedWithCustomError(token, "InvalidLotId")
      .withArgs(bad);
  });
});
