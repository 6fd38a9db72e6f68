import { expect } from "chai";
import { ethers as ethersLib } from "ethers";
import { H100, createContractFixture } from "../support/contractFixture.js";

const { networkHelpers, load } = await createContractFixture();

/** Alice holds 1000 units of a transferable and 1000 of a soulbound H100 lot. */
async function holding() {
  const f = await load();
  const transferable = f.lot(H100.id, f.expiries.soon, "transferable");
  const soulbound = f.lot(H100.id, f.expiries.soon, "soulbound");
  await f.token.connect(f.signers.hr).grantBatch(f.nextBatchRef(), [f.signers.alice.address, f.signers.alice.address], [transferable, soulbound], [1000n, 1000n]);
  return { ...f, transferable, soulbound };
}

describe("ComputeToken — transfers between holders", () => {
  it("moves a transferable lot between allow-listed holders with safeTransferFrom and emits TransferSingle", async () => {
    const { token, signers, transferable } = await holding();
    const { alice, bob } = signers;
    await expect(token.connect(alice).safeTransferFrom(alice.address, bob.address, transferable, 250n, "0x"))
      .to.emit(token, "TransferSingle")
      .withArgs(alice.address, alice.address, bob.address, transferable, 250n);
    expect(await token.balanceOf(alice.address, transferable)).to.equal(750n);
    expect(await token.balanceOf(bob.address, transferable)).to.equal(250n);
    expect(await token["totalSupply(uint256)"](transferable)).to.equal(1000n);
  });

  it("moves several transferable lots with safeBatchTransferFrom and emits TransferBatch", async () => {
    const { token, signers, lot, expiries, grant, transferable } = await holding();
    const { alice, carol } = signers;
    const other = lot(H100.id, expiries.later, "transferable");
    await grant(alice, other, 40);
    await expect(token.connect(alice).safeBatchTransferFrom(alice.address, carol.address, [transferable, other], [10n, 40n], "0x"))
      .to.emit(token, "TransferBatch")
      .withArgs(alice.address, alice.address, carol.address, [transferable, other], [10n, 40n]);
    expect(await token.balanceOfBatch([carol.address, carol.address], [transferable, other])).to.deep.equal([10n, 40n]);
  });

  it("never moves a soulbound lot: LotSoulbound", async () => {
    const { token, signers, soulbound, transferable } = await holding();
    const { alice, bob } = signers;
    await expect(token.connect(alice).safeTransferFrom(alice.address, bob.address, soulbound, 1n, "0x"))
      .to.be.revertedWithCustomError(token, "LotSoulbound")
      .withArgs(soulbound);
    await expect(token.connect(alice).safeBatchTransferFrom(alice.address, bob.address, [transferable, soulbound], [1n, 1n], "0x"))
      .to.be.revertedWithCustomError(token, "LotSoulbound")
      .withArgs(soulbound);
  });

  it("moves a transferable lot up to the second before expiry and never after: LotExpired", async () => {
    const { token, signers, transferable, expiries } = await holding();
    const { alice, bob } = signers;
    await networkHelpers.time.setNextBlockTimestamp(expiries.soon - 1n);
    await token.connect(alice).safeTransferFrom(alice.address, bob.address, transferable, 1n, "0x");
    await networkHelpers.time.setNextBlockTimestamp(expiries.soon);
    await expect(token.connect(alice).safeTransferFrom(alice.address, bob.address, transferable, 1n, "0x"))
      .to.be.revertedWithCustomError(token, "LotExpired")
      .withArgs(transferable, expiries.soon);
    await expect(token.connect(alice).safeBatchTransferFrom(alice.address, bob.address, [transferable], [1n], "0x"))
      .to.be.revertedWithCustomError(token, "LotExpired")
      .withArgs(transferable, expiries.soon);
  });

  it("refuses a recipient not on the allow-list: NotHolder(to)", async () => {
    const { token, signers, transferable } = await holding();
    const { alice, outsider } = signers;
    await expect(token.connect(alice).safeTransferFrom(alice.address, outsider.address, transferable, 1n, "0x"))
      .to.be.revertedWithCustomError(token, "NotHolder")
      .withArgs(outsider.address);
  });

  it("freezes an offboarded holder's units: NotHolder(from)", async () => {
    const { token, signers, transferable } = await holding();
    const { alice, bob, hr } = signers;
    await token.connect(hr).offboard(alice.address);
    await expect(token.connect(alice).safeTransferFrom(alice.address, bob.address, transferable, 1n, "0x"))
      .to.be.revertedWithCustomError(token, "NotHolder")
      .withArgs(alice.address);
  });

  it("refuses the zero address as recipient: ERC1155InvalidReceiver", async () => {
    const { token, signers, transferable } = await holding();
    const { alice } = signers;
    await expect(token.connect(alice).safeTransferFrom(alice.address, ethersLib.ZeroAddress, transferable, 1n, "0x"))
      .to.be.revertedWithCustomError(token, "ERC1155InvalidReceiver")
      .withArgs(ethersLib.ZeroAddress);
  });

  it("refuses to move more than the balance: ERC1155InsufficientBalance", async () => {
    const { token, signers, transferable } = await holding();
    const { alice, bob } = signers;
    await expect(token.connect(alice).safeTransferFrom(alice.address, bob.address, transferable, 1001n, "0x"))
      .to.be.revertedWithCustomError(token, "ERC1155InsufficientBalance")
      .withArgs(alice.address, 1000n, 1001n, transferable);
  });

  it("refuses batch arrays of different lengths: ERC1155InvalidArrayLength", async () => {
    const { token, signers, transferable } = await holding();
    const { alice, bob } = signers;
    await expect(token.connect(alice).safeBatchTransferFrom(alice.address, bob.address, [transferable], [1n, 2n], "0x"))
      .to.be.revertedWithCustomError(token, "ERC1155InvalidArrayLength")
      .withArgs(1, 2);
  });

  it("refuses a malformed lot id in a transfer: InvalidLotId", async () => {
    const { token, signers, transferable } = await holding();
    const { alice, bob } = signers;
    const bad = transferable | (1n << 200n);
    await expect(token.connect(alice).safeTransferFrom(alice.address, bob.address, bad, 0n, "0x"))
      .to.be.revertedWithCustomError(token, "InvalidLotId")
      .withArgs(bad);
  });

  it("lets no one move another holder's units: ERC1155MissingApprovalForAll", async () => {
    const { token, signers, transferable } = await holding();
    const { alice, bob, hr, admin } = signers;
    for (const thief of [bob, hr, admin]) {
      await expect(token.connect(thief).safeTransferFrom(alice.address, thief.address, transferable, 1n, "0x"))
        .to.be.revertedWithCustomError(token, "ERC1155MissingApprovalForAll")
        .withArgs(thief.address, alice.address);
      await expect(token.connect(thief).safeBatchTransferFrom(alice.address, bob.address, [transferable], [1n], "0x"))
        .to.be.revertedWithCustomError(token, "ERC1155MissingApprovalForAll")
        .withArgs(thief.address, alice.address);
    }
  });

  it("disables operator approvals: setApprovalForAll reverts ApprovalsDisabled", async () => {
    const { token, signers } = await holding();
    const { alice, bob } = signers;
    await expect(token.connect(alice).setApprovalForAll(bob.address, true)).to.be.revertedWithCustomError(token, "ApprovalsDisabled").withArgs();
    await expect(token.connect(alice).setApprovalForAll(bob.address, false)).to.be.revertedWithCustomError(token, "ApprovalsDisabled").withArgs();
    expect(await token.isApprovedForAll(alice.address, bob.address)).to.equal(false);
  });
});
