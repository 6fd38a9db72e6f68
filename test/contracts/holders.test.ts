import { expect } from "chai";
import { ethers as ethersLib } from "ethers";
import { createContractFixture, eventsIn } from "../support/contractFixture.js";

const { load } = await createContractFixture();

const addresses = (n: number, salt: string) => Array.from({ length: n }, (_, i) => ethersLib.getAddress(ethersLib.dataSlice(ethersLib.id(`${salt}${i}`), 12)));

describe("ComputeToken — holder allow-list", () => {
  it("onboards new accounts and emits HolderOnboarded for each", async () => {
    const { token, signers } = await load();
    const [a, b] = addresses(2, "new");
    const tx = token.connect(signers.hr).onboard([a, b]);
    await expect(tx).to.emit(token, "HolderOnboarded").withArgs(a);
    await expect(tx).to.emit(token, "HolderOnboarded").withArgs(b);
    expect(await token.isHolder(a)).to.equal(true);
    expect(await token.isHolder(b)).to.equal(true);
  });

  it("skips accounts already on the list without a second HolderOnboarded", async () => {
    const { token, signers } = await load();
    const [a] = addresses(1, "skip");
    const receipt = await (await token.connect(signers.hr).onboard([signers.alice.address, a, a])).wait();
    const onboarded = eventsIn(receipt, token, "HolderOnboarded").map((e) => e.account);
    expect(onboarded).to.deep.equal([a]);
  });

  it("shows the fixture's employees on the list and the outsider off it", async () => {
    const { token, signers } = await load();
    for (const s of [signers.alice, signers.bob, signers.carol]) expect(await token.isHolder(s.address)).to.equal(true);
    expect(await token.isHolder(signers.outsider.address)).to.equal(false);
  });

  it("rejects the zero address with InvalidHolder", async () => {
    const { token, signers } = await load();
    await expect(token.connect(signers.hr).onboard([signers.outsider.address, ethersLib.ZeroAddress]))
      .to.be.revertedWithCustomError(token, "InvalidHolder")
      .withArgs(ethersLib.ZeroAddress);
  });

  it("rejects an empty onboarding list with EmptyBatch", async () => {
    const { token, signers } = await load();
    await expect(token.connect(signers.hr).onboard([])).to.be.revertedWithCustomError(token, "EmptyBatch").withArgs();
  });

  it("accepts 256 accounts in one call and rejects 257 with BatchTooLarge", async () => {
    const { token, signers } = await load();
    const many = addresses(257, "bulk");
    await expect(token.connect(signers.hr).onboard(many)).to.be.revertedWithCustomError(token, "BatchTooLarge").withArgs(257, 256);
    await token.connect(signers.hr).onboard(many.slice(0, 256));
    expect(await token.isHolder(many[255])).to.equal(true);
  });

  it("offboards a holder and emits HolderOffboarded", async () => {
    const { token, signers } = await load();
    await expect(token.connect(signers.hr).offboard(signers.carol.address)).to.emit(token, "HolderOffboarded").withArgs(signers.carol.address);
    expect(await token.isHolder(signers.carol.address)).to.equal(false);
  });

  it("rejects offboarding an account not on the list with NotHolder", async () => {
    const { token, signers } = await load();
    await expect(token.connect(signers.hr).offboard(signers.outsider.address)).to.be.revertedWithCustomError(token, "NotHolder").withArgs(signers.outsider.address);
  });

  it("leaves an offboarded holder's balance in place until clawback", async () => {
    const { token, signers, grant, lot, expiries } = await load();
    const id = lot(1, expiries.later);
    await grant(signers.bob, id, 500);
    await token.connect(signers.hr).offboard(signers.bob.address);
    expect(await token.balanceOf(signers.bob.address, id)).to.equal(500n);
  });

  it("lets an offboarded account back only through readmit", async () => {
    const { token, signers } = await load();
    await token.connect(signers.hr).offboard(signers.bob.address);
    await expect(token.connect(signers.hr).readmit([signers.bob.address]))
      .to.emit(token, "HolderOnboarded")
      .withArgs(signers.bob.address);
    expect(await token.isHolder(signers.bob.address)).to.equal(true);
  });
});
