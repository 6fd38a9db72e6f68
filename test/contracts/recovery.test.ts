import { expect } from "chai";
import { ethers as ethersLib } from "ethers";
import { A100, H100, createContractFixture, eventsIn } from "../support/contractFixture.js";

const { load } = await createContractFixture();

/** Alice holds a soulbound H100 lot (1000), a transferable H100 lot (2000) and an A100 lot (300). */
async function holding() {
  const f = await load();
  const soulbound = f.lot(H100.id, f.expiries.later, "soulbound");
  const transferable = f.lot(H100.id, f.expiries.soon, "transferable");
  const a100 = f.lot(A100.id, f.expiries.latest, "transferable");
  const { alice, bob } = f.signers;
  await f.token
    .connect(f.signers.hr)
    .grantBatch(f.nextBatchRef(), [alice.address, alice.address, alice.address, bob.address], [soulbound, transferable, a100, soulbound], [1000n, 2000n, 300n, 10n]);
  return { ...f, soulbound, transferable, a100 };
}

describe("ComputeToken — clawback", () => {
  it("burns a holder's whole balance in each listed lot and emits ClawedBack and TransferSingle", async () => {
    const { token, signers, soulbound, transferable } = await holding();
    const { alice, hr } = signers;
    const tx = token.connect(hr).clawback(alice.address, [soulbound, transferable]);
    await expect(tx).to.emit(token, "ClawedBack").withArgs(alice.address, soulbound, 1000n);
    await expect(tx).to.emit(token, "ClawedBack").withArgs(alice.address, transferable, 2000n);
    await expect(tx).to.emit(token, "TransferSingle").withArgs(hr.address, alice.address, ethersLib.ZeroAddress, soulbound, 1000n);
    expect(await token.balanceOf(alice.address, soulbound)).to.equal(0n);
    expect(await token.balanceOf(alice.address, transferable)).to.equal(0n);
    expect(await token["totalSupply(uint256)"](soulbound)).to.equal(10n); // bob's units untouched
  });

  it("skips lots the holder has no balance in, without a ClawedBack event", async () => {
    const { token, signers, a100 } = await holding();
    const receipt = await (await token.connect(signers.hr).clawback(signers.carol.address, [a100])).wait();
    expect(eventsIn(receipt, token, "ClawedBack")).to.have.length(0);
  });

  it("claws back from an offboarded holder", async () => {
    const { token, signers, a100 } = await holding();
    await token.connect(signers.hr).offboard(signers.alice.address);
    await expect(token.connect(signers.hr).clawback(signers.alice.address, [a100]))
      .to.emit(token, "ClawedBack")
      .withArgs(signers.alice.address, a100, 300n);
  });

  it("rejects an empty lot list with EmptyBatch and 257 lots with BatchTooLarge", async () => {
    const { token, signers, a100 } = await holding();
    await expect(token.connect(signers.hr).clawback(signers.alice.address, [])).to.be.revertedWithCustomError(token, "EmptyBatch").withArgs();
    await expect(token.connect(signers.hr).clawback(signers.alice.address, Array(257).fill(a100)))
      .to.be.revertedWithCustomError(token, "BatchTooLarge")
      .withArgs(257, 256);
  });
});

describe("ComputeToken — recover", () => {
  it("moves every listed balance of a lost key, soulbound lots too, and offboards the lost account", async () => {
    const { token, signers, soulbound, transferable, a100 } = await holding();
    const { alice, admin, hr } = signers;
    const replacement = signers.spare[0];
    await token.connect(hr).onboard([replacement.address]);
    const tx = token.connect(admin).recover(alice.address, replacement.address, [soulbound, transferable, a100]);
    await expect(tx).to.emit(token, "AccountRecovered").withArgs(alice.address, replacement.address, 3);
    await expect(tx).to.emit(token, "HolderOffboarded").withArgs(alice.address);
    await expect(tx).to.emit(token, "TransferBatch").withArgs(admin.address, alice.address, replacement.address, [soulbound, transferable, a100], [1000n, 2000n, 300n]);
    expect(await token.balanceOfBatch(Array(3).fill(replacement.address), [soulbound, transferable, a100])).to.deep.equal([1000n, 2000n, 300n]);
    expect(await token.balanceOfBatch(Array(3).fill(alice.address), [soulbound, transferable, a100])).to.deep.equal([0n, 0n, 0n]);
    expect(await token.isHolder(alice.address)).to.equal(false);
    expect(await token["totalSupply(uint256)"](soulbound)).to.equal(1010n);
  });

  it("counts only lots with a balance and skips the offboarding event for an account already off the list", async () => {
    const { token, signers, soulbound, a100 } = await holding();
    const { alice, bob, hr, admin } = signers;
    await token.connect(hr).offboard(alice.address);
    const tx = await token.connect(admin).recover(alice.address, bob.address, [soulbound, a100, a100 + 256n]);
    await expect(tx).to.emit(token, "AccountRecovered").withArgs(alice.address, bob.address, 2);
    const receipt = await tx.wait();
    expect(eventsIn(receipt, token, "HolderOffboarded")).to.have.length(0);
    expect(await token.balanceOf(bob.address, soulbound)).to.equal(1010n);
  });

  it("emits AccountRecovered with zero lots and moves nothing when the lost key holds none of the lots", async () => {
    const { token, signers, a100 } = await holding();
    const { carol, bob, admin } = signers;
    const tx = await token.connect(admin).recover(carol.address, bob.address, [a100]);
    await expect(tx).to.emit(token, "AccountRecovered").withArgs(carol.address, bob.address, 0);
    const receipt = await tx.wait();
    expect(eventsIn(receipt, token, "TransferBatch")).to.have.length(0);
    expect(eventsIn(receipt, token, "TransferSingle")).to.have.length(0);
  });

  it("refuses a replacement not on the allow-list, or the lost account itself: NotHolder(replacement)", async () => {
    const { token, signers, a100 } = await holding();
    const { alice, admin, outsider } = signers;
    await expect(token.connect(admin).recover(alice.address, outsider.address, [a100]))
      .to.be.revertedWithCustomError(token, "NotHolder")
      .withArgs(outsider.address);
    await expect(token.connect(admin).recover(alice.address, alice.address, [a100]))
      .to.be.revertedWithCustomError(token, "NotHolder")
      .withArgs(alice.address);
  });

  it("rejects an empty lot list with EmptyBatch and 257 lots with BatchTooLarge", async () => {
    const { token, signers, a100 } = await holding();
    const { alice, bob, admin } = signers;
    await expect(token.connect(admin).recover(alice.address, bob.address, []))
      .to.be.revertedWithCustomError(token, "EmptyBatch")
      .withArgs();
    await expect(token.connect(admin).recover(alice.address, bob.address, Array(257).fill(a100)))
      .to.be.revertedWithCustomError(token, "BatchTooLarge")
      .withArgs(257, 256);
  });
});
