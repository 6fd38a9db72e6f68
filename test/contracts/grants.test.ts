import { expect } from "chai";
import { ethers as ethersLib } from "ethers";
import { A100, DAY, H100, createContractFixture, eventsIn } from "../support/contractFixture.js";

const { networkHelpers, load } = await createContractFixture();

describe("ComputeToken — grants", () => {
  it("mints a batch to several holders, emitting TransferSingle per grant and BatchGranted once", async () => {
    const { token, signers, lot, expiries } = await load();
    const { hr, alice, bob } = signers;
    const h100 = lot(H100.id, expiries.later, "soulbound");
    const a100 = lot(A100.id, expiries.latest, "transferable");
    const ref = ethersLib.id("payroll-2026-05.csv#0");
    const tx = token.connect(hr).grantBatch(ref, [alice.address, bob.address, alice.address], [h100, h100, a100], [3600n, 7200n, 100n]);
    await expect(tx)
      .to.emit(token, "BatchGranted")
      .withArgs(ref, hr.address, 3, 3600n + 7200n + 100n);
    await expect(tx).to.emit(token, "TransferSingle").withArgs(hr.address, ethersLib.ZeroAddress, alice.address, h100, 3600n);
    await expect(tx).to.emit(token, "TransferSingle").withArgs(hr.address, ethersLib.ZeroAddress, bob.address, h100, 7200n);
    await expect(tx).to.emit(token, "TransferSingle").withArgs(hr.address, ethersLib.ZeroAddress, alice.address, a100, 100n);
    expect(await token.balanceOf(alice.address, h100)).to.equal(3600n);
    expect(await token.balanceOf(bob.address, h100)).to.equal(7200n);
    expect(await token.balanceOf(alice.address, a100)).to.equal(100n);
    expect(await token["totalSupply(uint256)"](h100)).to.equal(10800n);
    expect(await token["totalSupply()"]()).to.equal(10900n);
    expect(await token.batchGranted(ref)).to.equal(true);
  });

  it("registers a lot on its first grant only, emitting LotRegistered once", async () => {
    const { token, signers, lot, expiries, grant } = await load();
    const id = lot(H100.id, expiries.later, "transferable");
    expect(await token.lotsOfClass(H100.id)).to.not.include(id);
    await expect(grant(signers.alice, id, 10))
      .to.emit(token, "LotRegistered")
      .withArgs(id, H100.id, expiries.later, 1);
    expect(await token.lotsOfClass(H100.id)).to.include(id);
    const receipt = await (await grant(signers.bob, id, 10)).wait();
    expect(eventsIn(receipt, token, "LotRegistered")).to.have.length(0);
    expect(await token.lotsOfClass(H100.id)).to.deep.equal([id]);
  });

  it("lists every lot of a class in lotsOfClass, in registration order", async () => {
    const { token, signers, lot, expiries, nextBatchRef } = await load();
    const { hr } = signers;
    const ids = [lot(H100.id, expiries.latest), lot(H100.id, expiries.soon, "soulbound"), lot(H100.id, expiries.soon)];
    await token.connect(hr).grantBatch(
      nextBatchRef(),
      ids.map(() => signers.alice.address),
      ids,
      [1n, 2n, 3n],
    );
    await token.connect(hr).grantBatch(nextBatchRef(), [signers.bob.address], [lot(A100.id, expiries.soon)], [4n]);
    expect(await token.lotsOfClass(H100.id)).to.deep.equal(ids);
    expect(await token.lotsOfClass(A100.id)).to.deep.equal([lot(A100.id, expiries.soon)]);
    expect(await token.lotsOfClass(9)).to.deep.equal([]);
  });

  it("lands a batchRef once: the same file run twice mints nothing and reverts BatchAlreadyGranted", async () => {
    const { token, signers, lot, expiries } = await load();
    const id = lot(H100.id, expiries.later);
    const ref = ethersLib.id("grants.csv");
    await token.connect(signers.hr).grantBatch(ref, [signers.alice.address], [id], [3600n]);
    await expect(token.connect(signers.hr).grantBatch(ref, [signers.alice.address], [id], [3600n]))
      .to.be.revertedWithCustomError(token, "BatchAlreadyGranted")
      .withArgs(ref);
    expect(await token.balanceOf(signers.alice.address, id)).to.equal(3600n);
  });

  it("rejects the zero batchRef with InvalidBatchRef", async () => {
    const { token, signers, lot, expiries } = await load();
    await expect(token.connect(signers.hr).grantBatch(ethersLib.ZeroHash, [signers.alice.address], [lot(1, expiries.later)], [1n]))
      .to.be.revertedWithCustomError(token, "InvalidBatchRef")
      .withArgs(ethersLib.ZeroHash);
  });

  it("rejects an empty batch with EmptyBatch", async () => {
    const { token, signers, nextBatchRef } = await load();
    await expect(token.connect(signers.hr).grantBatch(nextBatchRef(), [], [], []))
      .to.be.revertedWithCustomError(token, "EmptyBatch")
      .withArgs();
  });

  it("rejects a batch of 257 grants with BatchTooLarge", async () => {
    const { token, signers, lot, expiries, nextBatchRef } = await load();
    const n = 257;
    await expect(token.connect(signers.hr).grantBatch(nextBatchRef(), Array(n).fill(signers.alice.address), Array(n).fill(lot(1, expiries.later)), Array(n).fill(1n)))
      .to.be.revertedWithCustomError(token, "BatchTooLarge")
      .withArgs(n, 256);
  });

  it("rejects lot ids and amounts whose lengths differ from recipients with LengthMismatch", async () => {
    const { token, signers, lot, expiries, nextBatchRef } = await load();
    const id = lot(1, expiries.later);
    const two = [signers.alice.address, signers.bob.address];
    await expect(token.connect(signers.hr).grantBatch(nextBatchRef(), two, [id], [1n, 1n]))
      .to.be.revertedWithCustomError(token, "LengthMismatch")
      .withArgs(2, 1);
    await expect(token.connect(signers.hr).grantBatch(nextBatchRef(), two, [id, id], [1n, 1n, 1n]))
      .to.be.revertedWithCustomError(token, "LengthMismatch")
      .withArgs(2, 3);
  });

  it("rejects a zero amount with ZeroAmount and its index", async () => {
    const { token, signers, lot, expiries, nextBatchRef } = await load();
    const id = lot(1, expiries.later);
    await expect(token.connect(signers.hr).grantBatch(nextBatchRef(), [signers.alice.address, signers.bob.address], [id, id], [5n, 0n]))
      .to.be.revertedWithCustomError(token, "ZeroAmount")
      .withArgs(1);
  });

  it("rejects a recipient not on the allow-list with NotHolder", async () => {
    const { token, signers, lot, expiries, nextBatchRef } = await load();
    const id = lot(1, expiries.later);
    await expect(token.connect(signers.hr).grantBatch(nextBatchRef(), [signers.alice.address, signers.outsider.address], [id, id], [1n, 1n]))
      .to.be.revertedWithCustomError(token, "NotHolder")
      .withArgs(signers.outsider.address);
  });

  it("rejects a lot of a retired class with ClassNotActive", async () => {
    const { token, signers, lot, expiries, grant } = await load();
    await token.connect(signers.ops).retireClass(A100.id);
    await expect(grant(signers.alice, lot(A100.id, expiries.later), 1))
      .to.be.revertedWithCustomError(token, "ClassNotActive")
      .withArgs(A100.id);
  });

  it("rejects a lot of an unknown class with UnknownClass", async () => {
    const { token, signers, lot, expiries, grant } = await load();
    await expect(grant(signers.alice, lot(3, expiries.later), 1))
      .to.be.revertedWithCustomError(token, "UnknownClass")
      .withArgs(3);
  });

  it("rejects a lot whose expiry has come with LotExpired", async () => {
    const { token, signers, lot, grant } = await load();
    const now = await networkHelpers.time.latest();
    const past = lot(H100.id, now - DAY);
    await expect(grant(signers.alice, past, 1))
      .to.be.revertedWithCustomError(token, "LotExpired")
      .withArgs(past, now - DAY);
    // Expiring exactly at the block's timestamp is already expired.
    const at = now + 100;
    await networkHelpers.time.setNextBlockTimestamp(at);
    await expect(grant(signers.alice, lot(H100.id, at), 1))
      .to.be.revertedWithCustomError(token, "LotExpired")
      .withArgs(lot(H100.id, at), at);
  });

  it("rejects malformed lot ids with LotIds.InvalidLotId", async () => {
    const { token, signers, lot, expiries, grant } = await load();
    const good = lot(H100.id, expiries.later);
    for (const bad of [good | 2n, good | (1n << 104n), expiries.later << 8n /* class 0 */]) {
      await expect(grant(signers.alice, bad, 1))
        .to.be.revertedWithCustomError(token, "InvalidLotId")
        .withArgs(bad);
    }
  });

  it("rejects lot id 0 with InvalidLotId, also as the first entry of a batch", async () => {
    const { token, signers, lot, expiries, nextBatchRef } = await load();
    await expect(token.connect(signers.hr).grantBatch(nextBatchRef(), [signers.alice.address], [0n], [1n]))
      .to.be.revertedWithCustomError(token, "InvalidLotId")
      .withArgs(0n);
    await expect(token.connect(signers.hr).grantBatch(nextBatchRef(), [signers.alice.address, signers.bob.address], [lot(1, expiries.later), 0n], [1n, 1n]))
      .to.be.revertedWithCustomError(token, "InvalidLotId")
      .withArgs(0n);
    expect(await token["totalSupply(uint256)"](0n)).to.equal(0n);
  });

  it("caps a class at 1024 lots with TooManyLots", async () => {
    const { token, signers, nextBatchRef, lot, start } = await load();
    const base = BigInt(start) + 365n * BigInt(DAY);
    const chunk = 128;
    for (let b = 0; b < 1024 / chunk; b++) {
      const ids = Array.from({ length: chunk }, (_, i) => lot(A100.id, base + BigInt(b * chunk + i)));
      await token.connect(signers.hr).grantBatch(
        nextBatchRef(),
        ids.map(() => signers.alice.address),
        ids,
        ids.map(() => 1n),
      );
    }
    expect(await token.lotsOfClass(A100.id)).to.have.length(1024);
    await expect(token.connect(signers.hr).grantBatch(nextBatchRef(), [signers.alice.address], [lot(A100.id, base + 5000n)], [1n]))
      .to.be.revertedWithCustomError(token, "TooManyLots")
      .withArgs(A100.id, 1024);
    // An already-registered lot can still be granted, and other classes are unaffected.
    await token.connect(signers.hr).grantBatch(nextBatchRef(), [signers.bob.address], [lot(A100.id, base)], [1n]);
    await token.connect(signers.hr).grantBatch(nextBatchRef(), [signers.bob.address], [lot(H100.id, base)], [1n]);
  });
});
