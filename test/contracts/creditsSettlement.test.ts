/**
 * InferenceCredit spending authorizations and usage settlement: EIP-712 signatures (wrong signer, other
 * chain, other contract), activation once, reused nonces, caps, expiry and revocation before and after
 * activation (usage served before an authorization's end charged within SETTLEMENT_GRACE after it),
 * offboarding, batch-once, price versions, pause, soonest-expiring-first burns, and the usage debt (what a
 * batch cannot burn because the credits moved out or expired in between, paid by the credits arriving next).
 */
import { expect } from "chai";
import { AuthStatus, CREDIT, DAY, createCreditFixture } from "../support/creditFixture.js";

const { ethers, networkHelpers, load } = await createCreditFixture();
const DAY_S = BigInt(DAY);

describe("InferenceCredit — authorizations", () => {
  it("hashes an authorization exactly as EIP-712 typed data (domain InferenceCredit v1, this chain and contract)", async () => {
    const f = await load();
    const auth = f.authorization(f.signers.alice, { models: ["stories260K", "llama-70b"], nonce: 42n });
    const { AUTHORIZATION_TYPES } = await import("../../sdk/credits/authorization.js");
    const types = { Authorization: AUTHORIZATION_TYPES.Authorization.map((x) => ({ ...x })) };
    expect(await f.credit.hashAuthorization(auth)).to.equal(ethers.TypedDataEncoder.hash(f.domain(), types, auth));
    const [, name, version, chainId, verifyingContract] = await f.credit.eip712Domain();
    expect([name, version, chainId, verifyingContract]).to.deep.equal(["InferenceCredit", "1", f.chainId, f.creditAddress]);
    expect(await f.credit.authorizationId(auth.holder, auth.gateway, 42n)).to.equal(
      ethers.keccak256(ethers.AbiCoder.defaultAbiCoder().encode(["address", "address", "uint64"], [auth.holder, auth.gateway, 42n])),
    );
  });

  it("activates a signed authorization once, then charges within its cap: AuthorizationActivated, UsageCharged, UsageBatchSettled", async () => {
    const f = await load();
    const { alice, gateway } = f.signers;
    await f.grantCredits(alice, 10n * CREDIT);
    const auth = f.authorization(alice, { cap: 5n * CREDIT, models: ["stories260K"] });
    const signed = await f.sign(alice, auth);
    const authId = await f.credit.authorizationId(alice.address, gateway.address, 1n);
    const batchId = f.nextBatchId();
    const root = ethers.id("records");
    const tx = f.settle([signed], [{ holder: alice.address, nonce: 1n, amount: 2n * CREDIT }], { batchId });
    await expect(tx)
      .to.emit(f.credit, "AuthorizationActivated")
      .withArgs(authId, alice.address, gateway.address, 5n * CREDIT, f.expiries.later, 1n, ["stories260K"]);
    await expect(tx)
      .to.emit(f.credit, "UsageCharged")
      .withArgs(batchId, authId, alice.address, 2n * CREDIT, 2n * CREDIT);
    await expect(tx)
      .to.emit(f.credit, "Transfer")
      .withArgs(alice.address, ethers.ZeroAddress, 2n * CREDIT);
    await expect(tx)
      .to.emit(f.credit, "UsageBatchSettled")
      .withArgs(batchId, gateway.address, 1n, root, 1n, 2n * CREDIT, 2n * CREDIT);
    expect(await f.credit.authorizationOf(authId)).to.deep.equal([5n * CREDIT, 2n * CREDIT, f.expiries.later, BigInt(AuthStatus.Active)]);
    expect(await f.credit.usageBatchSettled(batchId)).to.equal(true);

    // over the cap: the charge takes only what is left of it, and the shortfall shows
    const batch2 = f.nextBatchId();
    await expect(f.settle([], [{ holder: alice.address, nonce: 1n, amount: 4n * CREDIT }], { batchId: batch2 }))
      .to.emit(f.credit, "UsageCharged")
      .withArgs(batch2, authId, alice.address, 4n * CREDIT, 3n * CREDIT);
    const batch3 = f.nextBatchId();
    await expect(f.settle([], [{ holder: alice.address, nonce: 1n, amount: 1n }], { batchId: batch3 }))
      .to.emit(f.credit, "UsageCharged")
      .withArgs(batch3, authId, alice.address, 1n, 0n);
    expect(await f.credit.balanceOf(alice.address)).to.equal(5n * CREDIT);
    expect(await f.credit.totalSupply()).to.equal(5n * CREDIT);
  });

  it("refuses a signature by anyone but the holder: InvalidAuthorizationSignature(holder, nonce)", async () => {
    const f = await load();
    const auth = f.authorization(f.signers.alice, { nonce: 9n });
    const forged = await f.sign(f.signers.bob, auth);
    await expect(f.settle([forged], []))
      .to.be.revertedWithCustomError(f.credit, "InvalidAuthorizationSignature")
      .withArgs(f.signers.alice.address, 9n);
    await expect(f.settle([{ auth, signature: "0x1234" }], []))
      .to.be.revertedWithCustomError(f.credit, "InvalidAuthorizationSignature")
      .withArgs(f.signers.alice.address, 9n);
  });

  it("refuses a signature for another chain or another contract (EIP-712 domain)", async () => {
    const f = await load();
    const auth = f.authorization(f.signers.alice);
    const otherChain = await f.sign(f.signers.alice, auth, { chainId: 1n });
    const otherContract = await f.sign(f.signers.alice, auth, { verifyingContract: f.tokenAddress });
    for (const s of [otherChain, otherContract]) {
      await expect(f.settle([s], []))
        .to.be.revertedWithCustomError(f.credit, "InvalidAuthorizationSignature")
        .withArgs(f.signers.alice.address, 1n);
    }
  });

  it("refuses a changed field after signing (the cap raised by the gateway)", async () => {
    const f = await load();
    const signed = await f.sign(f.signers.alice, f.authorization(f.signers.alice, { cap: CREDIT }));
    const raised = { auth: { ...signed.auth, cap: 100n * CREDIT }, signature: signed.signature };
    await expect(f.settle([raised], []))
      .to.be.revertedWithCustomError(f.credit, "InvalidAuthorizationSignature")
      .withArgs(f.signers.alice.address, 1n);
  });

  it("lets only the named gateway activate: AuthorizationGatewayMismatch(holder, nonce, gateway)", async () => {
    const f = await load();
    const { alice, outsider } = f.signers;
    const signed = await f.sign(alice, f.authorization(alice, { gateway: outsider.address }));
    await expect(f.settle([signed], []))
      .to.be.revertedWithCustomError(f.credit, "AuthorizationGatewayMismatch")
      .withArgs(alice.address, 1n, outsider.address);
  });

  it("serves a nonce once: a second activation is AuthorizationNonceUsed(holder, gateway, nonce)", async () => {
    const f = await load();
    const { alice, gateway } = f.signers;
    await f.settle([await f.sign(alice, f.authorization(alice, { cap: CREDIT }))], []);
    const again = await f.sign(alice, f.authorization(alice, { cap: 50n * CREDIT }));
    await expect(f.settle([again], []))
      .to.be.revertedWithCustomError(f.credit, "AuthorizationNonceUsed")
      .withArgs(alice.address, gateway.address, 1n);
  });

  it("bounds the model list: TooManyModels(count, 16)", async () => {
    const f = await load();
    const models = Array.from({ length: 17 }, (_, i) => `m${i}`);
    const signed = await f.sign(f.signers.alice, f.authorization(f.signers.alice, { models }));
    await expect(f.settle([signed], []))
      .to.be.revertedWithCustomError(f.credit, "TooManyModels")
      .withArgs(17n, 16n);
  });

  it(`charges usage served before an authorization's expiry within SETTLEMENT_GRACE (${DAY} s) after it, and nothing later`, async () => {
    const f = await load();
    const { alice, gateway } = f.signers;
    expect(await f.credit.SETTLEMENT_GRACE()).to.equal(BigInt(DAY));
    await f.grantCredits(alice, 10n * CREDIT, f.expiries.latest);
    const auth = f.authorization(alice, { expiresAt: f.expiries.soon });
    await f.settle([await f.sign(alice, auth)], [{ holder: alice.address, nonce: 1n, amount: CREDIT }]);
    const authId = await f.credit.authorizationId(alice.address, gateway.address, 1n);
    // A batch landing after the expiry (the usage was served before it): charged, up to the last second of the grace.
    await networkHelpers.time.setNextBlockTimestamp(f.expiries.soon + BigInt(DAY) - 1n);
    const late = f.nextBatchId();
    await expect(f.settle([], [{ holder: alice.address, nonce: 1n, amount: CREDIT }], { batchId: late }))
      .to.emit(f.credit, "UsageCharged")
      .withArgs(late, authId, alice.address, CREDIT, CREDIT);
    const batchId = f.nextBatchId();
    await expect(f.settle([], [{ holder: alice.address, nonce: 1n, amount: CREDIT }], { batchId }))
      .to.emit(f.credit, "UsageCharged")
      .withArgs(batchId, authId, alice.address, CREDIT, 0n);
    expect(await f.credit.balanceOf(alice.address)).to.equal(8n * CREDIT);
    expect(await f.credit.authorizationOf(authId)).to.deep.equal([f.authorization(alice).cap, 2n * CREDIT, f.expiries.soon, BigInt(AuthStatus.Active)]);
  });

  it("lets the holder revoke after activation (it ends then: charged within the grace, nothing after) and not twice: AuthorizationRevoked, AuthorizationAlreadyRevoked", async () => {
    const f = await load();
    const { alice, gateway } = f.signers;
    await f.grantCredits(alice, 10n * CREDIT);
    await f.settle([await f.sign(alice, f.authorization(alice))], [{ holder: alice.address, nonce: 1n, amount: CREDIT }]);
    const authId = await f.credit.authorizationId(alice.address, gateway.address, 1n);
    const revoked = BigInt(await networkHelpers.time.latest()) + 100n;
    await networkHelpers.time.setNextBlockTimestamp(revoked);
    await expect(f.credit.connect(alice).revokeAuthorization(gateway.address, 1n)).to.emit(f.credit, "AuthorizationRevoked").withArgs(authId, alice.address, gateway.address, 1n);
    const cap = f.authorization(alice).cap;
    expect(await f.credit.authorizationOf(authId)).to.deep.equal([cap, CREDIT, revoked, BigInt(AuthStatus.Revoked)]);
    // Its batch lands after the revocation: the usage served before it is charged (revoking does not make it free).
    const pending = f.nextBatchId();
    await expect(f.settle([], [{ holder: alice.address, nonce: 1n, amount: CREDIT }], { batchId: pending }))
      .to.emit(f.credit, "UsageCharged")
      .withArgs(pending, authId, alice.address, CREDIT, CREDIT);
    await networkHelpers.time.setNextBlockTimestamp(revoked + BigInt(DAY));
    const batchId = f.nextBatchId();
    await expect(f.settle([], [{ holder: alice.address, nonce: 1n, amount: CREDIT }], { batchId }))
      .to.emit(f.credit, "UsageCharged")
      .withArgs(batchId, authId, alice.address, CREDIT, 0n);
    expect(await f.credit.balanceOf(alice.address)).to.equal(8n * CREDIT);
    await expect(f.credit.connect(alice).revokeAuthorization(gateway.address, 1n))
      .to.be.revertedWithCustomError(f.credit, "AuthorizationAlreadyRevoked")
      .withArgs(alice.address, gateway.address, 1n);
  });

  it("keeps an earlier expiry when revoked after it", async () => {
    const f = await load();
    const { alice, gateway } = f.signers;
    await f.grantCredits(alice, 10n * CREDIT, f.expiries.latest);
    await f.settle([await f.sign(alice, f.authorization(alice, { expiresAt: f.expiries.soon }))], []);
    await networkHelpers.time.increaseTo(f.expiries.soon + 10n);
    await f.credit.connect(alice).revokeAuthorization(gateway.address, 1n);
    const authId = await f.credit.authorizationId(alice.address, gateway.address, 1n);
    expect((await f.credit.authorizationOf(authId)).expiresAt).to.equal(f.expiries.soon);
  });

  it("activates an authorization revoked before its first batch, ending at the revocation: the usage served before it is charged, nothing a day after", async () => {
    const f = await load();
    const { alice, gateway, pauser } = f.signers;
    await f.grantCredits(alice, 10n * CREDIT);
    const auth = f.authorization(alice, { nonce: 5n, models: ["stories260K"] });
    const signed = await f.sign(alice, auth);
    const authId = await f.credit.authorizationId(alice.address, gateway.address, 5n);
    await f.credit.connect(pauser).pause(); // revoking works while paused
    const revoked = BigInt(await networkHelpers.time.latest()) + 100n;
    await networkHelpers.time.setNextBlockTimestamp(revoked);
    await f.credit.connect(alice).revokeAuthorization(gateway.address, 5n);
    await f.credit.connect(pauser).unpause();
    expect(await f.credit.authorizationOf(authId)).to.deep.equal([0n, 0n, revoked, BigInt(AuthStatus.Revoked)]);
    const batchId = f.nextBatchId();
    const tx = f.settle([signed], [{ holder: alice.address, nonce: 5n, amount: CREDIT }], { batchId });
    await expect(tx).to.emit(f.credit, "AuthorizationActivated").withArgs(authId, alice.address, gateway.address, auth.cap, revoked, 5n, ["stories260K"]);
    await expect(tx).to.emit(f.credit, "UsageCharged").withArgs(batchId, authId, alice.address, CREDIT, CREDIT);
    expect(await f.credit.authorizationOf(authId)).to.deep.equal([auth.cap, CREDIT, revoked, BigInt(AuthStatus.Revoked)]);
    // Activated once: a second activation of it is skipped (as of any revoked after its activation).
    const again = f.settle([signed], [], { batchId: f.nextBatchId() });
    await expect(again).not.to.emit(f.credit, "AuthorizationActivated");
    expect(await f.credit.authorizationOf(authId)).to.deep.equal([auth.cap, CREDIT, revoked, BigInt(AuthStatus.Revoked)]);
    await networkHelpers.time.setNextBlockTimestamp(revoked + BigInt(DAY));
    const late = f.nextBatchId();
    await expect(f.settle([], [{ holder: alice.address, nonce: 5n, amount: CREDIT }], { batchId: late }))
      .to.emit(f.credit, "UsageCharged")
      .withArgs(late, authId, alice.address, CREDIT, 0n);
    // Its own expiry, when sooner than the revocation, stays its end.
    const soon = f.authorization(alice, { nonce: 6n, expiresAt: revoked + 5n });
    const soonId = await f.credit.authorizationId(alice.address, gateway.address, 6n);
    await f.credit.connect(alice).revokeAuthorization(gateway.address, 6n);
    await f.settle([await f.sign(alice, soon)], []);
    expect((await f.credit.authorizationOf(soonId)).expiresAt).to.equal(revoked + 5n);
  });

  it("never activates an authorization of cap 0 (nothing can be charged under it), revoked or not: its nonce stays free of any activation", async () => {
    const f = await load();
    const { alice, gateway } = f.signers;
    await f.grantCredits(alice, 10n * CREDIT);
    const zero = await f.sign(alice, f.authorization(alice, { nonce: 7n, cap: 0n }));
    const id = await f.credit.authorizationId(alice.address, gateway.address, 7n);
    await expect(f.settle([zero], [{ holder: alice.address, nonce: 7n, amount: CREDIT }], { batchId: f.nextBatchId() })).not.to.emit(f.credit, "AuthorizationActivated");
    expect(await f.credit.authorizationOf(id)).to.deep.equal([0n, 0n, 0n, BigInt(AuthStatus.None)]);
    // Revoked, then signed again with a cap under the same nonce: activated once, ending at the revocation.
    await f.credit.connect(alice).revokeAuthorization(gateway.address, 7n);
    const revokedAt = (await f.credit.authorizationOf(id)).expiresAt;
    await expect(f.settle([zero], [], { batchId: f.nextBatchId() })).not.to.emit(f.credit, "AuthorizationActivated");
    const capped = await f.sign(alice, f.authorization(alice, { nonce: 7n, cap: 5n * CREDIT }));
    await expect(f.settle([capped], [], { batchId: f.nextBatchId() })).to.emit(f.credit, "AuthorizationActivated");
    await expect(f.settle([capped], [], { batchId: f.nextBatchId() })).not.to.emit(f.credit, "AuthorizationActivated");
    expect(await f.credit.authorizationOf(id)).to.deep.equal([5n * CREDIT, 0n, revokedAt, BigInt(AuthStatus.Revoked)]);
  });

  it("charges nothing to an offboarded holder, without blocking the others in the batch", async () => {
    const f = await load();
    const { alice, bob, gateway, hr } = f.signers;
    await f.grantCredits([alice, bob], 10n * CREDIT);
    await f.settle([await f.sign(alice, f.authorization(alice)), await f.sign(bob, f.authorization(bob))], []);
    await f.token.connect(hr).offboard(alice.address);
    const batchId = f.nextBatchId();
    const tx = f.settle(
      [],
      [
        { holder: alice.address, nonce: 1n, amount: CREDIT },
        { holder: bob.address, nonce: 1n, amount: CREDIT },
      ],
      { batchId },
    );
    await expect(tx)
      .to.emit(f.credit, "UsageCharged")
      .withArgs(batchId, await f.credit.authorizationId(alice.address, gateway.address, 1n), alice.address, CREDIT, 0n);
    await expect(tx)
      .to.emit(f.credit, "UsageCharged")
      .withArgs(batchId, await f.credit.authorizationId(bob.address, gateway.address, 1n), bob.address, CREDIT, CREDIT);
    await expect(tx)
      .to.emit(f.credit, "UsageBatchSettled")
      .withArgs(batchId, gateway.address, 1n, ethers.id("records"), 2n, 2n * CREDIT, CREDIT);
  });

  it("charges nothing under an unknown authorization and no more than the unexpired balance", async () => {
    const f = await load();
    const { alice, gateway } = f.signers;
    await f.grantCredits(alice, 2n * CREDIT, f.expiries.soon);
    await f.grantCredits(alice, 1n * CREDIT, f.expiries.later);
    await f.settle([await f.sign(alice, f.authorization(alice, { cap: 100n * CREDIT }))], []);
    await networkHelpers.time.increaseTo(f.expiries.soon);
    const batchId = f.nextBatchId();
    const tx = f.settle(
      [],
      [
        { holder: alice.address, nonce: 77n, amount: CREDIT },
        { holder: alice.address, nonce: 1n, amount: 5n * CREDIT },
      ],
      { batchId },
    );
    await expect(tx)
      .to.emit(f.credit, "UsageCharged")
      .withArgs(batchId, await f.credit.authorizationId(alice.address, gateway.address, 77n), alice.address, CREDIT, 0n);
    await expect(tx)
      .to.emit(f.credit, "UsageCharged")
      .withArgs(batchId, await f.credit.authorizationId(alice.address, gateway.address, 1n), alice.address, 5n * CREDIT, CREDIT);
    // the expired bucket was not spent: it is still there to be swept
    expect((await f.credit.bucketsOf(alice.address)).map((b) => [b.amount, b.expiresAt])).to.deep.equal([[2n * CREDIT, f.expiries.soon]]);
    // what the unexpired balance could not pay is owed, within the cap (the unknown authorization owes nothing)
    await expect(tx)
      .to.emit(f.credit, "UsageDebtIncurred")
      .withArgs(alice.address, await f.credit.authorizationId(alice.address, gateway.address, 1n), 4n * CREDIT, 4n * CREDIT);
    expect(await f.credit.usageDebtOf(alice.address)).to.equal(4n * CREDIT);
    expect((await f.credit.authorizationOf(await f.credit.authorizationId(alice.address, gateway.address, 1n))).charged).to.equal(5n * CREDIT);
  });

  it("owes what a batch cannot burn because the credits moved out in between, and pays it from the credits that arrive next: UsageDebtIncurred, UsageDebtPaid", async () => {
    const f = await load();
    const { alice, bob, gateway, hr } = f.signers;
    await f.grantCredits(alice, 3n * CREDIT, f.expiries.later, true);
    await f.settle([await f.sign(alice, f.authorization(alice, { cap: 10n * CREDIT }))], []);
    const authId = await f.credit.authorizationId(alice.address, gateway.address, 1n);
    // served 2 credits, then everything sent to a colleague before the batch lands
    await f.credit.connect(alice).transfer(bob.address, 3n * CREDIT);
    const batchId = f.nextBatchId();
    const tx = f.settle([], [{ holder: alice.address, nonce: 1n, amount: 2n * CREDIT }], { batchId });
    await expect(tx)
      .to.emit(f.credit, "UsageCharged")
      .withArgs(batchId, authId, alice.address, 2n * CREDIT, 0n);
    await expect(tx)
      .to.emit(f.credit, "UsageDebtIncurred")
      .withArgs(alice.address, authId, 2n * CREDIT, 2n * CREDIT);
    await expect(tx)
      .to.emit(f.credit, "UsageBatchSettled")
      .withArgs(batchId, gateway.address, 1n, ethers.id("records"), 1n, 2n * CREDIT, 0n);
    expect(await f.credit.usageDebtOf(alice.address)).to.equal(2n * CREDIT);
    expect((await f.credit.authorizationOf(authId)).charged).to.equal(2n * CREDIT);
    expect(await f.credit.balanceOf(alice.address)).to.equal(0n);
    expect(await f.credit.totalSupply()).to.equal(3n * CREDIT);

    // the colleague sends 1 back: it pays 1 of the debt, alice holds nothing yet
    const back = f.credit.connect(bob).transfer(alice.address, CREDIT);
    await expect(back).to.emit(f.credit, "UsageDebtPaid").withArgs(alice.address, f.expiries.later, true, CREDIT, CREDIT);
    const logs = (await (await back).wait())!.logs.map((l) => f.credit.interface.parseLog(l)!).map((e) => [e.name, ...e.args.slice(0, 3)]);
    // the credits arrive, then leave: the arrival's Transfer comes first
    expect(logs).to.deep.equal([
      ["BucketTransferred", bob.address, alice.address, f.expiries.later],
      ["Transfer", bob.address, alice.address, CREDIT],
      ["UsageDebtPaid", alice.address, f.expiries.later, true],
      ["Transfer", alice.address, ethers.ZeroAddress, CREDIT],
    ]);
    expect(await f.credit.usageDebtOf(alice.address)).to.equal(CREDIT);
    expect(await f.credit.balanceOf(alice.address)).to.equal(0n);
    expect(await f.credit.bucketsOf(alice.address)).to.deep.equal([]);
    expect(await f.credit.totalSupply()).to.equal(2n * CREDIT);

    // a grant pays the rest and the holder keeps what is left of it
    const ref = f.nextRef();
    const grant = f.credit.connect(hr).grantBatch(ref, f.expiries.soon, false, [alice.address, bob.address], [5n * CREDIT, CREDIT]);
    await expect(grant).to.emit(f.credit, "UsageDebtPaid").withArgs(alice.address, f.expiries.soon, false, CREDIT, 0n);
    await expect(grant).to.emit(f.credit, "Transfer").withArgs(alice.address, ethers.ZeroAddress, CREDIT);
    await expect(grant)
      .to.emit(f.credit, "CreditsGranted")
      .withArgs(ref, hr.address, f.expiries.soon, false, 2n, 6n * CREDIT);
    const grantLogs = (await (await grant).wait())!.logs.map((l) => f.credit.interface.parseLog(l)!.name);
    expect(grantLogs).to.deep.equal(["Transfer", "UsageDebtPaid", "Transfer", "Transfer", "CreditsGranted"]);
    expect(await f.credit.usageDebtOf(alice.address)).to.equal(0n);
    expect(await f.credit.balanceOf(alice.address)).to.equal(4n * CREDIT);
    expect(await f.credit.balanceOf(bob.address)).to.equal(3n * CREDIT);
    // 3 + 6 granted, 2 paid for the usage
    expect(await f.credit.totalSupply()).to.equal(7n * CREDIT);
  });

  it("pays a debt from a transfer of several buckets in order, and owes what expired between the serving and the batch", async () => {
    const f = await load();
    const { alice, bob, gateway } = f.signers;
    await f.grantCredits(alice, 2n * CREDIT, f.expiries.soon);
    await f.settle([await f.sign(alice, f.authorization(alice, { cap: 10n * CREDIT }))], []);
    const authId = await f.credit.authorizationId(alice.address, gateway.address, 1n);
    await networkHelpers.time.increaseTo(f.expiries.soon);
    // served 1.5 credits just before the expiry; the batch lands after it
    await expect(f.settle([], [{ holder: alice.address, nonce: 1n, amount: 1_500_000n }]))
      .to.emit(f.credit, "UsageDebtIncurred")
      .withArgs(alice.address, authId, 1_500_000n, 1_500_000n);
    await f.grantCredits(bob, CREDIT, f.expiries.later, true);
    await f.grantCredits(bob, CREDIT, f.expiries.latest, true);
    await f.grantCredits(bob, CREDIT, f.expiries.latest + DAY_S, true);
    // 3 credits from three buckets: the first pays 1, the second 0.5, the third nothing; the rest is alice's
    const tx = f.credit.connect(bob).transfer(alice.address, 3n * CREDIT);
    await expect(tx).to.emit(f.credit, "UsageDebtPaid").withArgs(alice.address, f.expiries.later, true, CREDIT, 500_000n);
    await expect(tx).to.emit(f.credit, "UsageDebtPaid").withArgs(alice.address, f.expiries.latest, true, 500_000n, 0n);
    await expect(tx).to.emit(f.credit, "Transfer").withArgs(alice.address, ethers.ZeroAddress, CREDIT);
    await expect(tx).to.emit(f.credit, "Transfer").withArgs(alice.address, ethers.ZeroAddress, 500_000n);
    const paid = (await (await tx).wait())!.logs.map((l) => f.credit.interface.parseLog(l)!).filter((e) => e.name === "UsageDebtPaid");
    expect(paid.length).to.equal(2);
    expect((await f.credit.bucketsOf(alice.address)).map((b) => [b.amount, b.expiresAt, b.transferable])).to.deep.equal([
      [2n * CREDIT, f.expiries.soon, false],
      [500_000n, f.expiries.latest, true],
      [CREDIT, f.expiries.latest + DAY_S, true],
    ]);
    expect(await f.credit.usageDebtOf(alice.address)).to.equal(0n);
  });

  it("moves nothing on a transfer of 0: no bucket planted (eight empty ones would refuse the holder's next grant), a debt untouched", async () => {
    const f = await load();
    const { alice, bob, carol } = f.signers;
    for (let i = 0; i < 8; i++) await f.grantCredits(alice, CREDIT, f.expiries.later + BigInt(i * DAY), true);
    for (let i = 0; i < 8; i++) await expect(f.credit.connect(alice).transfer(carol.address, 0n)).to.emit(f.credit, "Transfer").withArgs(alice.address, carol.address, 0n);
    expect(await f.credit.bucketsOf(carol.address)).to.deep.equal([]);
    await f.grantCredits([bob, carol], CREDIT);
    expect(await f.credit.balanceOf(carol.address)).to.equal(CREDIT);
    // a holder in debt: a transfer of 0 pays nothing and plants nothing
    await f.settle([await f.sign(bob, f.authorization(bob))], [{ holder: bob.address, nonce: 1n, amount: 2n * CREDIT }]);
    expect(await f.credit.usageDebtOf(bob.address)).to.equal(CREDIT);
    await expect(f.credit.connect(alice).transfer(bob.address, 0n)).not.to.emit(f.credit, "UsageDebtPaid");
    expect(await f.credit.bucketsOf(bob.address)).to.deep.equal([]);
    expect(await f.credit.usageDebtOf(bob.address)).to.equal(CREDIT);
  });

  it("saturates a debt at MAX_AMOUNT (2^96 - 1) rather than revert the batch", async () => {
    const f = await load();
    const { alice, gateway } = f.signers;
    const max = 2n ** 96n - 1n;
    await f.grantCredits(alice, 1n);
    const signed = [await f.sign(alice, f.authorization(alice, { cap: max, nonce: 1n })), await f.sign(alice, f.authorization(alice, { cap: max, nonce: 2n }))];
    const tx = f.settle(signed, [
      { holder: alice.address, nonce: 1n, amount: max },
      { holder: alice.address, nonce: 2n, amount: max },
    ]);
    await expect(tx)
      .to.emit(f.credit, "UsageDebtIncurred")
      .withArgs(alice.address, await f.credit.authorizationId(alice.address, gateway.address, 1n), max - 1n, max - 1n);
    await expect(tx)
      .to.emit(f.credit, "UsageDebtIncurred")
      .withArgs(alice.address, await f.credit.authorizationId(alice.address, gateway.address, 2n), max, max);
    expect(await f.credit.usageDebtOf(alice.address)).to.equal(max);
  });

  it("keeps a debt through a sweep and a clawback, owes nothing past the cap, and an offboarded holder incurs none", async () => {
    const f = await load();
    const { alice, bob, carol, gateway, hr } = f.signers;
    await f.grantCredits(alice, CREDIT, f.expiries.soon);
    await f.grantCredits(bob, CREDIT);
    await f.settle([await f.sign(alice, f.authorization(alice, { cap: 3n * CREDIT, expiresAt: f.expiries.latest })), await f.sign(bob, f.authorization(bob))], []);
    const authId = await f.credit.authorizationId(alice.address, gateway.address, 1n);
    await networkHelpers.time.increaseTo(f.expiries.soon);
    // 5 asked, the cap leaves 3, nothing unexpired: 3 owed
    await expect(f.settle([], [{ holder: alice.address, nonce: 1n, amount: 5n * CREDIT }]))
      .to.emit(f.credit, "UsageDebtIncurred")
      .withArgs(alice.address, authId, 3n * CREDIT, 3n * CREDIT);
    expect((await f.credit.authorizationOf(authId)).charged).to.equal(3n * CREDIT);
    await expect(f.settle([], [{ holder: alice.address, nonce: 1n, amount: CREDIT }])).not.to.emit(f.credit, "UsageDebtIncurred");
    // the sweep burns the expired bucket and keeps the debt
    await expect(f.credit.sweepExpired(alice.address)).to.emit(f.credit, "CreditsExpired").withArgs(alice.address, f.expiries.soon, CREDIT);
    expect(await f.credit.bucketsOf(alice.address)).to.deep.equal([]);
    expect(await f.credit.usageDebtOf(alice.address)).to.equal(3n * CREDIT);
    await f.grantCredits(alice, CREDIT, f.expiries.latest);
    expect(await f.credit.usageDebtOf(alice.address)).to.equal(2n * CREDIT);
    expect(await f.credit.bucketsOf(alice.address)).to.deep.equal([]);
    // offboarding: the clawback finds nothing unexpired, the debt stays owed; no new debt while offboarded
    await f.grantCredits(bob, CREDIT, f.expiries.latest, true);
    await f.token.connect(hr).offboard(alice.address);
    await f.credit.connect(hr).clawback(alice.address);
    expect(await f.credit.usageDebtOf(alice.address)).to.equal(2n * CREDIT);
    const bobAuth = await f.credit.authorizationId(bob.address, gateway.address, 1n);
    const tx = f.settle(
      [],
      [
        { holder: alice.address, nonce: 1n, amount: CREDIT },
        { holder: bob.address, nonce: 1n, amount: 3n * CREDIT },
      ],
    );
    await expect(tx).to.emit(f.credit, "UsageDebtIncurred").withArgs(bob.address, bobAuth, CREDIT, CREDIT);
    const owedBy = (await (await tx).wait())!.logs
      .map((l) => f.credit.interface.parseLog(l)!)
      .filter((e) => e.name === "UsageDebtIncurred")
      .map((e) => e.args[0]);
    expect(owedBy).to.deep.equal([bob.address]);
    expect(await f.credit.usageDebtOf(alice.address)).to.equal(2n * CREDIT);
    // A clawback that finds an expired bucket beside the debt (the slot cleared, the debt put back).
    await f.grantCredits(carol, CREDIT, f.expiries.later);
    await f.settle([await f.sign(carol, f.authorization(carol, { cap: 10n * CREDIT, expiresAt: f.expiries.latest }))], []);
    await networkHelpers.time.increaseTo(f.expiries.later);
    await f.settle([], [{ holder: carol.address, nonce: 1n, amount: 2n * CREDIT }]);
    expect(await f.credit.usageDebtOf(carol.address)).to.equal(2n * CREDIT);
    await f.token.connect(hr).offboard(carol.address);
    await expect(f.credit.connect(hr).clawback(carol.address)).to.emit(f.credit, "CreditsExpired").withArgs(carol.address, f.expiries.later, CREDIT);
    expect(await f.credit.bucketsOf(carol.address)).to.deep.equal([]);
    expect(await f.credit.usageDebtOf(carol.address)).to.equal(2n * CREDIT);
  });

  it("burns the soonest-expiring bucket first", async () => {
    const f = await load();
    const { alice } = f.signers;
    await f.grantCredits(alice, 3n * CREDIT, f.expiries.later);
    await f.grantCredits(alice, 2n * CREDIT, f.expiries.soon, true);
    await f.settle([await f.sign(alice, f.authorization(alice))], [{ holder: alice.address, nonce: 1n, amount: 3n * CREDIT }]);
    expect((await f.credit.bucketsOf(alice.address)).map((b) => [b.amount, b.expiresAt])).to.deep.equal([[2n * CREDIT, f.expiries.later]]);
  });

  it("lands a usage batch once: UsageBatchAlreadySettled(batchId); refuses a zero batch id: InvalidBatchId", async () => {
    const f = await load();
    const { alice } = f.signers;
    const batchId = f.nextBatchId();
    await f.settle([await f.sign(alice, f.authorization(alice))], [], { batchId });
    await expect(f.settle([], [{ holder: alice.address, nonce: 1n, amount: 1n }], { batchId }))
      .to.be.revertedWithCustomError(f.credit, "UsageBatchAlreadySettled")
      .withArgs(batchId);
    await expect(f.settle([], [{ holder: alice.address, nonce: 1n, amount: 1n }], { batchId: ethers.ZeroHash }))
      .to.be.revertedWithCustomError(f.credit, "InvalidBatchId")
      .withArgs(ethers.ZeroHash);
  });

  it("never needs more gas for a batch of charges than settleUsageGasBound gives it, at the costliest charge, up to the transaction gas cap", async function () {
    this.timeout(300_000);
    const { SETTLE_USAGE_BASE_GAS, SETTLE_USAGE_CHARGE_GAS, settleUsageGasBound } = await import("../../sdk/credits/write.js");
    const { TX_GAS_CAP } = await import("../../sdk/grantRows.js");
    const f = await load();
    const most = Number((TX_GAS_CAP - SETTLE_USAGE_BASE_GAS) / SETTLE_USAGE_CHARGE_GAS);
    expect(settleUsageGasBound({ activations: [], charges: Array(most) })).to.equal(SETTLE_USAGE_BASE_GAS + BigInt(most) * SETTLE_USAGE_CHARGE_GAS);
    // Past the cap, with an activation, or empty: estimated instead.
    expect(settleUsageGasBound({ activations: [], charges: Array(most + 1) })).to.equal(undefined);
    expect(settleUsageGasBound({ activations: [{}], charges: [{}] })).to.equal(undefined);
    expect(settleUsageGasBound({ activations: [], charges: [] })).to.equal(undefined);
    const g = f.credit.connect(f.signers.gateway);
    // The costliest charges: all eight of a holder's buckets read, and the first emptied (seven moved
    // down), all eight emptied, or seven emptied (the last moved down); all eight emptied and the rest
    // owed (the debt written into the slot the compaction cleared); the first expired, the seven
    // others emptied and the rest owed (the costliest of all, ~77,600 gas).
    const cases = [
      { name: "first emptied", amount: 1_000n, left: 7 },
      { name: "all emptied", amount: 8_000n, left: 0 },
      { name: "seven emptied", amount: 7_500n, left: 1 },
      { name: "all emptied, the rest owed", amount: 9_000n, left: 0, owed: 1_000n },
      { name: "first expired, seven emptied, the rest owed", amount: 7_500n, left: 1, owed: 500n, firstExpired: true },
    ];
    for (const n of [1, 16, most])
      for (const c of cases) {
        const holders = Array.from({ length: n }, (_, i) => new ethers.Wallet(ethers.id(`gas-bound-${n}-${c.name}-${i}`), ethers.provider));
        await f.token.connect(f.signers.hr).onboard(holders.map((w) => w.address));
        // Eight buckets each (the most a holder has), 1,000 base units in each, the soonest first; or the
        // first expiring before the charge.
        const soonest = c.firstExpired ? BigInt(await networkHelpers.time.latest()) + 3_600n : f.expiries.later;
        for (let b = 0; b < 8; b++) await f.grantCredits(holders, 1_000n, b === 0 ? soonest : f.expiries.later + BigInt(b * DAY));
        const signed = [];
        for (const w of holders) signed.push(await f.sign(w, f.authorization(w)));
        await (await f.settle(signed, [])).wait();
        if (c.firstExpired) await networkHelpers.time.increaseTo(soonest);
        const charges = holders.map((w) => ({ holder: w.address, nonce: 1n, amount: c.amount }));
        const bound = settleUsageGasBound({ activations: [], charges })!;
        const batchId = f.nextBatchId();
        const needed = await g.settleUsage.estimateGas(batchId, 1n, ethers.ZeroHash, [], charges);
        expect(needed < bound, `${n} charges, ${c.name}: need ${needed} gas, bound ${bound}`).to.equal(true);
        // The margin a state this test does not reach would have: above a tenth of the bound.
        expect(bound - needed > bound / 10n, `${n} charges, ${c.name}: ${needed} of ${bound}`).to.equal(true);
        const receipt = await (await g.settleUsage(batchId, 1n, ethers.ZeroHash, [], charges, { gasLimit: bound })).wait();
        expect(receipt!.status).to.equal(1);
        expect((await f.credit.bucketsOf(holders[0].address)).length, c.name).to.equal(c.left);
        expect(await f.credit.usageDebtOf(holders[n - 1].address), c.name).to.equal(c.owed ?? 0n);
      }
  });

  it("refuses a price version from the future: UnknownPriceVersion(given, current); empty and oversized batches", async () => {
    const f = await load();
    const { alice, gateway } = f.signers;
    const g = f.credit.connect(gateway);
    const charge = { holder: alice.address, nonce: 1n, amount: 1n };
    await expect(g.settleUsage(f.nextBatchId(), 2n, ethers.ZeroHash, [], [charge]))
      .to.be.revertedWithCustomError(f.credit, "UnknownPriceVersion")
      .withArgs(2n, 1n);
    await expect(g.settleUsage(f.nextBatchId(), 0n, ethers.ZeroHash, [], [charge])).to.emit(f.credit, "UsageBatchSettled");
    await expect(g.settleUsage(f.nextBatchId(), 1n, ethers.ZeroHash, [], []))
      .to.be.revertedWithCustomError(f.credit, "EmptyBatch")
      .withArgs();
    const many = Array.from({ length: 257 }, () => charge);
    await expect(g.settleUsage(f.nextBatchId(), 1n, ethers.ZeroHash, [], many))
      .to.be.revertedWithCustomError(f.credit, "BatchTooLarge")
      .withArgs(257n, 256n);
  });

  it("settles (and activates) while paused: usage already served is always paid", async () => {
    const f = await load();
    const { alice, pauser } = f.signers;
    await f.grantCredits(alice, 10n * CREDIT);
    await f.credit.connect(pauser).pause();
    await f.settle([await f.sign(alice, f.authorization(alice))], [{ holder: alice.address, nonce: 1n, amount: CREDIT }]);
    expect(await f.credit.balanceOf(alice.address)).to.equal(9n * CREDIT);
  });

  it("keeps each authorization's charges within its cap over many batches (the cap is the employee's word)", async () => {
    const f = await load();
    const { alice } = f.signers;
    await f.grantCredits(alice, 100n * CREDIT, f.expiries.later);
    await f.settle([await f.sign(alice, f.authorization(alice, { cap: 7n * CREDIT + 3n }))], []);
    for (let i = 0; i < 5; i++) await f.settle([], [{ holder: alice.address, nonce: 1n, amount: 2n * CREDIT }]);
    const authId = await f.credit.authorizationId(alice.address, f.signers.gateway.address, 1n);
    expect((await f.credit.authorizationOf(authId)).charged).to.equal(7n * CREDIT + 3n);
    expect(await f.credit.balanceOf(alice.address)).to.equal(93n * CREDIT - 3n);
    void DAY;
  });
});
