import { expect } from "chai";
import { ethers as ethersLib } from "ethers";
import { MAX_CLAIM_BATCH, claimBatchGas } from "../../redeemer/settler/claimBatcher.js";
import { A100, DAY, DEFAULT_BPS, H100, HOUR, LAUNCH_TIMEOUT, Priority, Status, createContractFixture, eventsIn, specBytes } from "../support/contractFixture.js";

const { ethers, networkHelpers, load } = await createContractFixture();

const TEN_HOURS = 36_000n;
const receipt = ethersLib.id("usage-receipt.json");
const jobRef = ethersLib.id("k8s-job-uid");

/** Alice holds 10 GPU-hours in each of two H100 lots (A: transferable, soon; B: soulbound, later) and some A100. */
async function holding() {
  const f = await load();
  const A = f.lot(H100.id, f.expiries.soon, "transferable");
  const B = f.lot(H100.id, f.expiries.later, "soulbound");
  const a100 = f.lot(A100.id, f.expiries.later, "transferable");
  const { alice } = f.signers;
  await f.token.connect(f.signers.hr).grantBatch(f.nextBatchRef(), [alice.address, alice.address, alice.address], [A, B, a100], [TEN_HOURS, TEN_HOURS, 7200n]);
  return { ...f, A, B, a100 };
}

/** `holding()` plus one redemption of 40000 units drawn from [B, A] (B: 36000, A: 4000). */
async function redeemedFromTwoLots() {
  const f = await holding();
  // 40000 units = 1 GPU × 40000 s at normal priority.
  await f.redeem(f.signers.alice, [f.B, f.A], { gpus: 1, seconds: 40_000 });
  return { ...f, id: 1n, reserved: 40_000n };
}

const timestampOf = async (tx: { wait(): Promise<{ blockNumber: number } | null> }) => {
  const r = await tx.wait();
  return (await ethers.provider.getBlock(r!.blockNumber))!.timestamp;
};

describe("ComputeToken — redeem", () => {
  it("burns gpus × seconds from one lot, records the redemption and emits RedemptionRequested with the spec and its hash", async () => {
    const { token, signers, A, redeem } = await holding();
    const { alice } = signers;
    const spec = specBytes({ gpus: 2, hours: 0.5 });
    const tx = redeem(alice, [A], { gpus: 2, seconds: 1800, spec });
    await expect(tx)
      .to.emit(token, "RedemptionRequested")
      .withArgs(1n, alice.address, H100.id, Priority.Normal, 2, 1800, 3600n, ethersLib.keccak256(spec), ethersLib.hexlify(spec));
    await expect(tx).to.emit(token, "TransferSingle").withArgs(alice.address, alice.address, ethersLib.ZeroAddress, A, 3600n);
    const requestedAt = await timestampOf(await tx);
    expect(await token.balanceOf(alice.address, A)).to.equal(TEN_HOURS - 3600n);
    expect(await token["totalSupply(uint256)"](A)).to.equal(TEN_HOURS - 3600n);
    expect(await token.redemptionCount()).to.equal(1n);
    const r = await token.getRedemption(1n);
    expect(r.holder).to.equal(alice.address);
    expect(r.classId).to.equal(BigInt(H100.id));
    expect(r.priority).to.equal(BigInt(Priority.Normal));
    expect(r.gpus).to.equal(2n);
    expect(r.status).to.equal(BigInt(Status.Requested));
    expect(r.requestedAt).to.equal(BigInt(requestedAt));
    expect(r.reserved).to.equal(3600n);
    expect(r.used).to.equal(0n);
    expect(r.specHash).to.equal(ethersLib.keccak256(spec));
    expect(r.lotIds).to.deep.equal([A]);
    expect(r.amounts).to.deep.equal([3600n]);
  });

  it("numbers redemptions sequentially from 1", async () => {
    const { token, signers, A, redeem } = await holding();
    const { alice } = signers;
    expect(await token.redemptionCount()).to.equal(0n);
    expect(await token.connect(alice).redeem.staticCall(H100.id, [A], 1, 60, Priority.Normal, "0x")).to.equal(1n);
    await redeem(alice, [A]);
    expect(await token.connect(alice).redeem.staticCall(H100.id, [A], 1, 60, Priority.Normal, "0x")).to.equal(2n);
    await redeem(alice, [A]);
    expect(await token.redemptionCount()).to.equal(2n);
    expect((await token.getRedemption(2n)).holder).to.equal(alice.address);
  });

  it("draws from several lots in the order given and emits one TransferBatch burn", async () => {
    const { token, signers, A, B, redeem } = await holding();
    const { alice } = signers;
    const tx = redeem(alice, [B, A], { gpus: 1, seconds: 40_000 });
    await expect(tx).to.emit(token, "TransferBatch").withArgs(alice.address, alice.address, ethersLib.ZeroAddress, [B, A], [TEN_HOURS, 4000n]);
    const r = await token.getRedemption(1n);
    expect(r.lotIds).to.deep.equal([B, A]);
    expect(r.amounts).to.deep.equal([TEN_HOURS, 4000n]);
    expect(await token.balanceOf(alice.address, B)).to.equal(0n);
    expect(await token.balanceOf(alice.address, A)).to.equal(TEN_HOURS - 4000n);
  });

  it("skips lots with no balance and stops drawing once the charge is covered", async () => {
    const { token, signers, lot, expiries, grant, A, B, redeem } = await holding();
    const { alice, bob } = signers;
    const bobs = lot(H100.id, expiries.latest, "transferable");
    await grant(bob, bobs, 100);
    await redeem(alice, [bobs, A, B], { gpus: 1, seconds: 100 });
    const r = await token.getRedemption(1n);
    expect(r.lotIds).to.deep.equal([A]);
    expect(r.amounts).to.deep.equal([100n]);
    expect(await token.balanceOf(alice.address, B)).to.equal(TEN_HOURS);
  });

  it("charges each priority's multiplier", async () => {
    const { token, signers, B, redeem } = await holding();
    const { alice } = signers;
    let id = 0n;
    for (const [name, p] of Object.entries(Priority)) {
      const bps = BigInt(DEFAULT_BPS[name as keyof typeof DEFAULT_BPS]);
      const expected = (2n * 1800n * bps) / 10_000n;
      const before = await token.balanceOf(alice.address, B);
      await expect(redeem(alice, [B], { gpus: 2, seconds: 1800, priority: p }))
        .to.emit(token, "RedemptionRequested")
        .withArgs(++id, alice.address, H100.id, p, 2, 1800, expected, ethersLib.keccak256(specBytes()), ethersLib.hexlify(specBytes()));
      expect(before - (await token.balanceOf(alice.address, B))).to.equal(expected);
      expect((await token.getRedemption(id)).priority).to.equal(BigInt(p));
    }
  });

  it("rounds the charge up to a whole unit", async () => {
    const { token, signers, A, redeem } = await holding();
    const { alice, ops } = signers;
    const cases: [number, number, number, bigint][] = [
      [Priority.Low, 1, 1, 1n], // 0.8 → 1
      [Priority.Low, 1, 3, 3n], // 2.4 → 3
      [Priority.High, 1, 3, 4n], // 3.75 → 4
      [Priority.Low, 5, 1, 4n], // 4.0 exactly
    ];
    let id = 0n;
    for (const [priority, gpus, seconds, charged] of cases) {
      await redeem(alice, [A], { gpus, seconds, priority });
      expect((await token.getRedemption(++id)).reserved).to.equal(charged);
    }
    await token.connect(ops).setPriorityMultiplier(Priority.Urgent, 10_001);
    await redeem(alice, [A], { gpus: 1, seconds: 1, priority: Priority.Urgent });
    expect((await token.getRedemption(++id)).reserved).to.equal(2n); // 1.0001 → 2
  });

  it("accepts a spec of exactly 8192 bytes and rejects 8193 with SpecTooLarge", async () => {
    const { token, signers, A, redeem } = await holding();
    await redeem(signers.alice, [A], { spec: new Uint8Array(8192).fill(0x20) });
    await expect(redeem(signers.alice, [A], { spec: new Uint8Array(8193).fill(0x20) }))
      .to.be.revertedWithCustomError(token, "SpecTooLarge")
      .withArgs(8193, 8192);
  });

  it("refuses an account not on the allow-list: NotHolder", async () => {
    const { token, signers, A, redeem } = await holding();
    await expect(redeem(signers.outsider, [A]))
      .to.be.revertedWithCustomError(token, "NotHolder")
      .withArgs(signers.outsider.address);
    await token.connect(signers.hr).offboard(signers.alice.address);
    await expect(redeem(signers.alice, [A]))
      .to.be.revertedWithCustomError(token, "NotHolder")
      .withArgs(signers.alice.address);
  });

  it("refuses an unknown class with UnknownClass and a retired class with ClassNotActive", async () => {
    const { token, signers, A, a100, redeem } = await holding();
    await expect(redeem(signers.alice, [A], { classId: 3 }))
      .to.be.revertedWithCustomError(token, "UnknownClass")
      .withArgs(3);
    await expect(redeem(signers.alice, [A], { classId: 0 }))
      .to.be.revertedWithCustomError(token, "UnknownClass")
      .withArgs(0);
    await token.connect(signers.ops).retireClass(A100.id);
    await expect(redeem(signers.alice, [a100], { classId: A100.id }))
      .to.be.revertedWithCustomError(token, "ClassNotActive")
      .withArgs(A100.id);
  });

  it("refuses zero GPUs or zero seconds with InvalidJobShape", async () => {
    const { token, signers, A, redeem } = await holding();
    await expect(redeem(signers.alice, [A], { gpus: 0, seconds: HOUR }))
      .to.be.revertedWithCustomError(token, "InvalidJobShape")
      .withArgs(0, HOUR);
    await expect(redeem(signers.alice, [A], { gpus: 2, seconds: 0 }))
      .to.be.revertedWithCustomError(token, "InvalidJobShape")
      .withArgs(2, 0);
  });

  it("refuses more GPUs than the class allows per job with GpuCountOutOfRange", async () => {
    const { token, signers, A, a100, redeem } = await holding();
    await redeem(signers.alice, [A], { gpus: 8, seconds: 60 });
    await expect(redeem(signers.alice, [A], { gpus: 9, seconds: 60 }))
      .to.be.revertedWithCustomError(token, "GpuCountOutOfRange")
      .withArgs(H100.id, 9, 8);
    await expect(redeem(signers.alice, [a100], { classId: A100.id, gpus: 5, seconds: 60 }))
      .to.be.revertedWithCustomError(token, "GpuCountOutOfRange")
      .withArgs(A100.id, 5, 4);
  });

  it("refuses no lots or more than 16 with LotCountOutOfRange", async () => {
    const { token, signers, A, B, redeem, lot, start } = await holding();
    await expect(redeem(signers.alice, [])).to.be.revertedWithCustomError(token, "LotCountOutOfRange").withArgs(0, 16);
    const seventeen = [A, B, ...Array.from({ length: 15 }, (_, i) => lot(H100.id, start + 1000 * 86400 + i))];
    await expect(redeem(signers.alice, seventeen)).to.be.revertedWithCustomError(token, "LotCountOutOfRange").withArgs(17, 16);
  });

  it("refuses a lot of another class with LotClassMismatch", async () => {
    const { token, signers, a100, A, redeem } = await holding();
    await expect(redeem(signers.alice, [a100, A]))
      .to.be.revertedWithCustomError(token, "LotClassMismatch")
      .withArgs(a100, H100.id);
  });

  it("refuses an expired lot with LotExpired", async () => {
    const { token, signers, A, B, expiries, redeem } = await holding();
    await networkHelpers.time.setNextBlockTimestamp(expiries.soon);
    await expect(redeem(signers.alice, [A, B]))
      .to.be.revertedWithCustomError(token, "LotExpired")
      .withArgs(A, expiries.soon);
    // The unexpired lot alone still redeems.
    await redeem(signers.alice, [B]);
  });

  it("refuses a lot listed twice with DuplicateLot", async () => {
    const { token, signers, A, redeem } = await holding();
    await expect(redeem(signers.alice, [A, A], { gpus: 1, seconds: 40_000 }))
      .to.be.revertedWithCustomError(token, "DuplicateLot")
      .withArgs(A);
  });

  it("refuses a charge above the listed lots' balance with InsufficientBalance(class, required, available)", async () => {
    const { token, signers, A, B, redeem } = await holding();
    await expect(redeem(signers.alice, [A, B], { gpus: 4, seconds: 20_000 }))
      .to.be.revertedWithCustomError(token, "InsufficientBalance")
      .withArgs(H100.id, 80_000n, 2n * TEN_HOURS);
    await expect(redeem(signers.bob, [A]))
      .to.be.revertedWithCustomError(token, "InsufficientBalance")
      .withArgs(H100.id, 3600n, 0n);
  });

  it("refuses a malformed lot id with InvalidLotId", async () => {
    const { token, signers, A, redeem } = await holding();
    const bad = A + 5n; // policy byte 5 (A is transferable: policy 1 → 6)
    await expect(redeem(signers.alice, [bad]))
      .to.be.revertedWithCustomError(token, "InvalidLotId")
      .withArgs(bad);
  });
});

describe("ComputeToken — markRunning", () => {
  it("moves a requested redemption to Running and emits RedemptionRunning", async () => {
    const { token, signers, id } = await redeemedFromTwoLots();
    await expect(token.connect(signers.redeemer).markRunning(id, jobRef)).to.emit(token, "RedemptionRunning").withArgs(id, jobRef);
    expect((await token.getRedemption(id)).status).to.equal(BigInt(Status.Running));
  });

  it("refuses an unknown redemption with UnknownRedemption", async () => {
    const { token, signers } = await redeemedFromTwoLots();
    for (const id of [0n, 2n]) {
      await expect(token.connect(signers.redeemer).markRunning(id, jobRef)).to.be.revertedWithCustomError(token, "UnknownRedemption").withArgs(id);
    }
  });

  it("moves only forward: a running or finished redemption gives InvalidRedemptionStatus", async () => {
    const { token, signers, id } = await redeemedFromTwoLots();
    const { redeemer } = signers;
    await token.connect(redeemer).markRunning(id, jobRef);
    await expect(token.connect(redeemer).markRunning(id, jobRef)).to.be.revertedWithCustomError(token, "InvalidRedemptionStatus").withArgs(id, Status.Running);
    await token.connect(redeemer).reject(id, 7);
    await expect(token.connect(redeemer).markRunning(id, jobRef)).to.be.revertedWithCustomError(token, "InvalidRedemptionStatus").withArgs(id, Status.Rejected);
  });
});

describe("ComputeToken — markRunningBatch", () => {
  /** Alice's redemptions 1..n of one GPU-hour each, from lot A. */
  async function redeemedMany(n: number) {
    const f = await holding();
    for (let i = 0; i < n; i++) await f.redeem(f.signers.alice, [f.A], { gpus: 1, seconds: 3600 });
    return f;
  }
  const refOf = (id: bigint) => ethersLib.id(`job-${id}`);

  it("claims every requested redemption in one transaction, each with its own RedemptionRunning and jobRef", async () => {
    const { token, signers } = await redeemedMany(3);
    const ids = [1n, 2n, 3n];
    const batch = token.connect(signers.redeemer);
    expect(await batch.markRunningBatch.staticCall(ids, ids.map(refOf))).to.equal(3n);
    const tx = batch.markRunningBatch(ids, ids.map(refOf));
    for (const id of ids) await expect(tx).to.emit(token, "RedemptionRunning").withArgs(id, refOf(id));
    const at = await timestampOf(await tx);
    for (const id of ids) {
      const r = await token.getRedemption(id);
      expect(r.status).to.equal(BigInt(Status.Running));
      // The same deadline as markRunning's: the allotted time plus the settle grace, from the claim.
      expect(r.reclaimableAt).to.equal(BigInt(at + HOUR + DAY));
    }
  });

  it("skips, without reverting, ids no longer requested (rejected, running, unknown) and claims the rest", async () => {
    const { token, signers } = await redeemedMany(4);
    const { redeemer } = signers;
    await token.connect(redeemer).reject(2n, 7);
    await token.connect(redeemer).markRunning(3n, jobRef);
    const ids = [1n, 2n, 3n, 4n, 99n];
    expect(await token.connect(redeemer).markRunningBatch.staticCall(ids, ids.map(refOf))).to.equal(2n);
    const receipt = await (await token.connect(redeemer).markRunningBatch(ids, ids.map(refOf))).wait();
    expect(eventsIn(receipt, token, "RedemptionRunning").map((e) => [e.id, e.jobRef])).to.deep.equal([
      [1n, refOf(1n)],
      [4n, refOf(4n)],
    ]);
    expect((await token.getRedemption(2n)).status).to.equal(BigInt(Status.Rejected));
    expect((await token.getRedemption(3n)).status).to.equal(BigInt(Status.Running));
  });

  it("claims a full batch of MAX_BATCH within the gas the redeemer gives it (it sends batches unestimated)", async () => {
    const f = await holding();
    const max = Number(await f.token.MAX_BATCH());
    expect(max, "the redeemer's MAX_CLAIM_BATCH").to.equal(MAX_CLAIM_BATCH);
    for (let i = 0; i < max; i++) await f.redeem(f.signers.alice, [f.A], { gpus: 1, seconds: 60 });
    const ids = Array.from({ length: max }, (_, i) => BigInt(i + 1));
    const receipt = await (await f.token.connect(f.signers.redeemer).markRunningBatch(ids, ids.map(refOf), { gasLimit: claimBatchGas(max) })).wait();
    expect(eventsIn(receipt, f.token, "RedemptionRunning")).to.have.length(max);
    expect(receipt!.gasUsed * 3n).to.be.lessThan(claimBatchGas(max) * 2n); // a third to spare
  });

  it("refuses an empty batch with EmptyBatch", async () => {
    const { token, signers } = await redeemedMany(1);
    await expect(token.connect(signers.redeemer).markRunningBatch([], [])).to.be.revertedWithCustomError(token, "EmptyBatch").withArgs();
  });

  it("refuses more than MAX_BATCH ids with BatchTooLarge(length, max)", async () => {
    const { token, signers } = await redeemedMany(1);
    const max = await token.MAX_BATCH();
    const ids = Array.from({ length: Number(max) + 1 }, (_, i) => BigInt(i + 1));
    await expect(token.connect(signers.redeemer).markRunningBatch(ids, ids.map(refOf)))
      .to.be.revertedWithCustomError(token, "BatchTooLarge")
      .withArgs(max + 1n, max);
  });

  it("refuses ids and jobRefs of different lengths with LengthMismatch(ids, jobRefs)", async () => {
    const { token, signers } = await redeemedMany(2);
    await expect(token.connect(signers.redeemer).markRunningBatch([1n, 2n], [refOf(1n)]))
      .to.be.revertedWithCustomError(token, "LengthMismatch")
      .withArgs(2n, 1n);
    expect((await token.getRedemption(1n)).status).to.equal(BigInt(Status.Requested));
  });
});

describe("ComputeToken — settle", () => {
  it("consumes the used units and refunds the rest into the lots it came from, last-drawn first", async () => {
    const { token, signers, A, B, id } = await redeemedFromTwoLots();
    const { alice, redeemer } = signers;
    await token.connect(redeemer).markRunning(id, jobRef);
    // Drawn: B 36000 then A 4000. Refund 10000: A's 4000 back first, then 6000 into B.
    const tx = token.connect(redeemer).settle(id, 30_000n, receipt);
    await expect(tx).to.emit(token, "RedemptionSettled").withArgs(id, alice.address, 30_000n, 10_000n, receipt);
    await expect(tx).to.emit(token, "TransferBatch").withArgs(redeemer.address, ethersLib.ZeroAddress, alice.address, [A, B], [4000n, 6000n]);
    expect(await token.balanceOf(alice.address, A)).to.equal(TEN_HOURS);
    expect(await token.balanceOf(alice.address, B)).to.equal(6000n);
    const r = await token.getRedemption(id);
    expect(r.status).to.equal(BigInt(Status.Settled));
    expect(r.used).to.equal(30_000n);
    expect(r.reserved).to.equal(40_000n);
  });

  it("refunds a small remainder only into the last-drawn lot", async () => {
    const { token, signers, A, B, id } = await redeemedFromTwoLots();
    const { alice, redeemer } = signers;
    await token.connect(redeemer).markRunning(id, jobRef);
    const tx = token.connect(redeemer).settle(id, 37_000n, receipt);
    await expect(tx).to.emit(token, "TransferSingle").withArgs(redeemer.address, ethersLib.ZeroAddress, alice.address, A, 3000n);
    expect(await token.balanceOf(alice.address, A)).to.equal(TEN_HOURS - 1000n);
    expect(await token.balanceOf(alice.address, B)).to.equal(0n);
  });

  it("refunds nothing when the job used everything reserved", async () => {
    const { token, signers, id, reserved } = await redeemedFromTwoLots();
    const { alice, redeemer } = signers;
    await token.connect(redeemer).markRunning(id, jobRef);
    const supplyBefore = await token["totalSupply()"]();
    const tx = await token.connect(redeemer).settle(id, reserved, receipt);
    await expect(tx).to.emit(token, "RedemptionSettled").withArgs(id, alice.address, reserved, 0n, receipt);
    const rc = await tx.wait();
    expect(eventsIn(rc, token, "TransferSingle")).to.have.length(0);
    expect(eventsIn(rc, token, "TransferBatch")).to.have.length(0);
    expect(await token["totalSupply()"]()).to.equal(supplyBefore);
  });

  it("refunds everything when the job used nothing", async () => {
    const { token, signers, A, B, id, reserved } = await redeemedFromTwoLots();
    const { alice, redeemer } = signers;
    await token.connect(redeemer).markRunning(id, jobRef);
    await expect(token.connect(redeemer).settle(id, 0n, receipt))
      .to.emit(token, "RedemptionSettled")
      .withArgs(id, alice.address, 0n, reserved, receipt);
    expect(await token.balanceOf(alice.address, A)).to.equal(TEN_HOURS);
    expect(await token.balanceOf(alice.address, B)).to.equal(TEN_HOURS);
  });

  it("never settles more than reserved: SettleExceedsReserve", async () => {
    const { token, signers, id, reserved } = await redeemedFromTwoLots();
    await token.connect(signers.redeemer).markRunning(id, jobRef);
    await expect(token.connect(signers.redeemer).settle(id, reserved + 1n, receipt))
      .to.be.revertedWithCustomError(token, "SettleExceedsReserve")
      .withArgs(id, reserved + 1n, reserved);
  });

  it("settles only a running redemption, once: InvalidRedemptionStatus otherwise", async () => {
    const { token, signers, id } = await redeemedFromTwoLots();
    const { redeemer } = signers;
    await expect(token.connect(redeemer).settle(id, 1n, receipt))
      .to.be.revertedWithCustomError(token, "InvalidRedemptionStatus")
      .withArgs(id, Status.Requested);
    await token.connect(redeemer).markRunning(id, jobRef);
    await token.connect(redeemer).settle(id, 1n, receipt);
    await expect(token.connect(redeemer).settle(id, 1n, receipt))
      .to.be.revertedWithCustomError(token, "InvalidRedemptionStatus")
      .withArgs(id, Status.Settled);
  });

  it("refuses an unknown redemption with UnknownRedemption", async () => {
    const { token, signers } = await redeemedFromTwoLots();
    await expect(token.connect(signers.redeemer).settle(9n, 0n, receipt))
      .to.be.revertedWithCustomError(token, "UnknownRedemption")
      .withArgs(9n);
  });

  it("still settles for a holder offboarded mid-job, and claws the refund back", async () => {
    const { token, signers, A, id } = await redeemedFromTwoLots();
    const { alice, redeemer, hr } = signers;
    await token.connect(redeemer).markRunning(id, jobRef);
    await token.connect(hr).offboard(alice.address);
    await expect(token.connect(redeemer).settle(id, 39_000n, receipt))
      .to.emit(token, "ClawedBack")
      .withArgs(alice.address, A, 1000n);
    expect(await token.balanceOf(alice.address, A)).to.equal(TEN_HOURS - 4000n);
  });

  it("conserves supply: after grant → redeem → settle, totalSupply(lot) == granted − used", async () => {
    const { token, signers, grant, lot, expiries, redeem } = await load();
    const { alice, bob, redeemer } = signers;
    const L = lot(H100.id, expiries.later, "transferable");
    await grant([alice, bob], L, 50_000n);
    const granted = 100_000n;
    await redeem(alice, [L], { gpus: 4, seconds: 3000 }); // 12000 reserved
    await redeem(bob, [L], { gpus: 2, seconds: 1000, priority: Priority.Urgent }); // 3000 reserved
    expect(await token["totalSupply(uint256)"](L)).to.equal(granted - 15_000n);
    await token.connect(redeemer).markRunning(1n, jobRef);
    await token.connect(redeemer).markRunning(2n, jobRef);
    await token.connect(redeemer).settle(1n, 7_777n, receipt);
    await token.connect(redeemer).settle(2n, 3_000n, receipt);
    const used = 7_777n + 3_000n;
    expect(await token["totalSupply(uint256)"](L)).to.equal(granted - used);
    expect(await token["totalSupply()"]()).to.equal(granted - used);
    expect((await token.balanceOf(alice.address, L)) + (await token.balanceOf(bob.address, L))).to.equal(granted - used);
  });
});

describe("ComputeToken — reject", () => {
  it("rejects a requested redemption with a full refund and emits RedemptionRejected", async () => {
    const { token, signers, A, B, id, reserved } = await redeemedFromTwoLots();
    const { alice, redeemer } = signers;
    const tx = token.connect(redeemer).reject(id, 3);
    await expect(tx).to.emit(token, "RedemptionRejected").withArgs(id, alice.address, 3, reserved);
    await expect(tx).to.emit(token, "TransferBatch").withArgs(redeemer.address, ethersLib.ZeroAddress, alice.address, [A, B], [4000n, TEN_HOURS]);
    expect(await token.balanceOf(alice.address, A)).to.equal(TEN_HOURS);
    expect(await token.balanceOf(alice.address, B)).to.equal(TEN_HOURS);
    expect((await token.getRedemption(id)).status).to.equal(BigInt(Status.Rejected));
  });

  it("rejects a running redemption with a full refund", async () => {
    const { token, signers, A, redeem } = await holding();
    const { alice, redeemer } = signers;
    await redeem(alice, [A], { gpus: 2, seconds: 600 });
    const id = 1n;
    await token.connect(redeemer).markRunning(id, jobRef);
    const tx = token.connect(redeemer).reject(id, 65535);
    await expect(tx).to.emit(token, "RedemptionRejected").withArgs(id, alice.address, 65535, 1200n);
    await expect(tx).to.emit(token, "TransferSingle").withArgs(redeemer.address, ethersLib.ZeroAddress, alice.address, A, 1200n);
    expect(await token.balanceOf(alice.address, A)).to.equal(TEN_HOURS);
  });

  it("cannot reject a finished redemption: InvalidRedemptionStatus", async () => {
    const { token, signers, id, redeem, A } = await redeemedFromTwoLots();
    const { redeemer, alice } = signers;
    await token.connect(redeemer).markRunning(id, jobRef);
    await token.connect(redeemer).settle(id, 5n, receipt);
    await expect(token.connect(redeemer).reject(id, 1)).to.be.revertedWithCustomError(token, "InvalidRedemptionStatus").withArgs(id, Status.Settled);
    await redeem(alice, [A], { seconds: 60 });
    await token.connect(redeemer).reject(2n, 1);
    await expect(token.connect(redeemer).reject(2n, 1)).to.be.revertedWithCustomError(token, "InvalidRedemptionStatus").withArgs(2n, Status.Rejected);
  });

  it("cannot reject a reclaimed redemption: InvalidRedemptionStatus", async () => {
    const { token, signers, id } = await redeemedFromTwoLots();
    await networkHelpers.time.increase(LAUNCH_TIMEOUT);
    await token.connect(signers.alice).reclaim(id);
    await expect(token.connect(signers.redeemer).reject(id, 1)).to.be.revertedWithCustomError(token, "InvalidRedemptionStatus").withArgs(id, Status.Reclaimed);
  });

  it("refuses an unknown redemption with UnknownRedemption", async () => {
    const { token, signers } = await redeemedFromTwoLots();
    await expect(token.connect(signers.redeemer).reject(2n, 1)).to.be.revertedWithCustomError(token, "UnknownRedemption").withArgs(2n);
  });
});

describe("ComputeToken — reclaim", () => {
  it("gives the holder a full refund once the launch timeout has passed and emits RedemptionReclaimed", async () => {
    const { token, signers, A, B, id, reserved } = await redeemedFromTwoLots();
    const { alice } = signers;
    const { requestedAt } = await token.getRedemption(id);
    await networkHelpers.time.setNextBlockTimestamp(requestedAt + BigInt(LAUNCH_TIMEOUT));
    const tx = token.connect(alice).reclaim(id);
    await expect(tx).to.emit(token, "RedemptionReclaimed").withArgs(id, alice.address, reserved);
    await expect(tx).to.emit(token, "TransferBatch").withArgs(alice.address, ethersLib.ZeroAddress, alice.address, [A, B], [4000n, TEN_HOURS]);
    expect(await token.balanceOf(alice.address, A)).to.equal(TEN_HOURS);
    expect(await token.balanceOf(alice.address, B)).to.equal(TEN_HOURS);
    expect((await token.getRedemption(id)).status).to.equal(BigInt(Status.Reclaimed));
  });

  it("refuses a reclaim before the launch timeout: ReclaimTooEarly with the time it becomes available", async () => {
    const { token, signers, id } = await redeemedFromTwoLots();
    const { requestedAt } = await token.getRedemption(id);
    const availableAt = requestedAt + BigInt(LAUNCH_TIMEOUT);
    await networkHelpers.time.setNextBlockTimestamp(availableAt - 1n);
    await expect(token.connect(signers.alice).reclaim(id)).to.be.revertedWithCustomError(token, "ReclaimTooEarly").withArgs(id, availableAt);
  });

  it("lets only the redemption's holder reclaim: NotRedemptionHolder", async () => {
    const { token, signers, id } = await redeemedFromTwoLots();
    await networkHelpers.time.increase(LAUNCH_TIMEOUT);
    for (const other of [signers.bob, signers.redeemer, signers.admin]) {
      await expect(token.connect(other).reclaim(id)).to.be.revertedWithCustomError(token, "NotRedemptionHolder").withArgs(id, other.address);
    }
  });

  it("cannot reclaim a launched redemption before its time plus the settle grace: ReclaimTooEarly", async () => {
    const { token, signers, id } = await redeemedFromTwoLots();
    await token.connect(signers.redeemer).markRunning(id, jobRef);
    await networkHelpers.time.increase(LAUNCH_TIMEOUT);
    const { reclaimableAt } = await token.getRedemption(id);
    await expect(token.connect(signers.alice).reclaim(id)).to.be.revertedWithCustomError(token, "ReclaimTooEarly").withArgs(id, reclaimableAt);
  });

  it("cannot reclaim twice: InvalidRedemptionStatus", async () => {
    const { token, signers, id } = await redeemedFromTwoLots();
    await networkHelpers.time.increase(LAUNCH_TIMEOUT);
    await token.connect(signers.alice).reclaim(id);
    await expect(token.connect(signers.alice).reclaim(id)).to.be.revertedWithCustomError(token, "InvalidRedemptionStatus").withArgs(id, Status.Reclaimed);
  });

  it("refuses an unknown redemption with UnknownRedemption", async () => {
    const { token, signers } = await redeemedFromTwoLots();
    await expect(token.connect(signers.alice).reclaim(5n)).to.be.revertedWithCustomError(token, "UnknownRedemption").withArgs(5n);
  });

  it("lets an offboarded holder reclaim: a holder is never left without recourse", async () => {
    const { token, signers, id, reserved } = await redeemedFromTwoLots();
    await token.connect(signers.hr).offboard(signers.alice.address);
    await networkHelpers.time.increase(LAUNCH_TIMEOUT);
    await expect(token.connect(signers.alice).reclaim(id)).to.emit(token, "RedemptionReclaimed").withArgs(id, signers.alice.address, reserved);
  });

  it("applies a new launch timeout to redemptions made after the change", async () => {
    const { token, signers, A } = await redeemedFromTwoLots();
    await token.connect(signers.ops).setLaunchTimeout(7200);
    await token.connect(signers.alice).redeem(H100.id, [A], 1, 60, Priority.Normal, specBytes());
    const id = await token.redemptionCount();
    const { requestedAt } = await token.getRedemption(id);
    await networkHelpers.time.setNextBlockTimestamp(requestedAt + BigInt(LAUNCH_TIMEOUT));
    await expect(token.connect(signers.alice).reclaim(id))
      .to.be.revertedWithCustomError(token, "ReclaimTooEarly")
      .withArgs(id, requestedAt + 7200n);
    await networkHelpers.time.setNextBlockTimestamp(requestedAt + 7200n);
    await token.connect(signers.alice).reclaim(id);
  });
});

describe("ComputeToken — priorities and launch timeout", () => {
  it("starts with multipliers 0.8 / 1.0 / 1.25 / 1.5 and the deployed launch timeout, emitting their events", async () => {
    const { token } = await load();
    for (const [name, p] of Object.entries(Priority)) {
      expect(await token.priorityMultiplier(p)).to.equal(BigInt(DEFAULT_BPS[name as keyof typeof DEFAULT_BPS]));
    }
    expect(await token.launchTimeout()).to.equal(BigInt(LAUNCH_TIMEOUT));
    const deployTx = token.deploymentTransaction()!;
    await expect(deployTx).to.emit(token, "LaunchTimeoutSet").withArgs(LAUNCH_TIMEOUT);
    for (const [name, p] of Object.entries(Priority)) {
      await expect(deployTx)
        .to.emit(token, "PriorityMultiplierSet")
        .withArgs(p, DEFAULT_BPS[name as keyof typeof DEFAULT_BPS]);
    }
  });

  it("sets each priority's multiplier and emits PriorityMultiplierSet", async () => {
    const { token, signers } = await load();
    const values = [1000, 9000, 20000, 50000];
    for (const p of Object.values(Priority)) {
      await expect(token.connect(signers.ops).setPriorityMultiplier(p, values[p])).to.emit(token, "PriorityMultiplierSet").withArgs(p, values[p]);
    }
    for (const p of Object.values(Priority)) expect(await token.priorityMultiplier(p)).to.equal(BigInt(values[p]));
  });

  it("refuses a multiplier below 0.1x or above 5x with InvalidMultiplier", async () => {
    const { token, signers } = await load();
    await expect(token.connect(signers.ops).setPriorityMultiplier(Priority.Low, 999)).to.be.revertedWithCustomError(token, "InvalidMultiplier").withArgs(999);
    await expect(token.connect(signers.ops).setPriorityMultiplier(Priority.Urgent, 50001)).to.be.revertedWithCustomError(token, "InvalidMultiplier").withArgs(50001);
  });

  it("sets the launch timeout and emits LaunchTimeoutSet", async () => {
    const { token, signers } = await load();
    await expect(token.connect(signers.ops).setLaunchTimeout(600)).to.emit(token, "LaunchTimeoutSet").withArgs(600);
    expect(await token.launchTimeout()).to.equal(600n);
  });

  it("refuses a zero launch timeout with InvalidLaunchTimeout, in the setter and the constructor", async () => {
    const { token, signers, manager } = await load();
    await expect(token.connect(signers.ops).setLaunchTimeout(0)).to.be.revertedWithCustomError(token, "InvalidLaunchTimeout").withArgs(0);
    const factory = await ethers.getContractFactory("ComputeToken");
    await expect(factory.deploy(await manager.getAddress(), 0))
      .to.be.revertedWithCustomError(factory, "InvalidLaunchTimeout")
      .withArgs(0);
  });
});

describe("ComputeToken — getRedemption", () => {
  it("refuses an id never issued with UnknownRedemption", async () => {
    const { token } = await load();
    await expect(token.getRedemption(0n)).to.be.revertedWithCustomError(token, "UnknownRedemption").withArgs(0n);
    await expect(token.getRedemption(1n)).to.be.revertedWithCustomError(token, "UnknownRedemption").withArgs(1n);
  });

  it("keeps the drawn lots and amounts of a redemption with many lots", async () => {
    const { token, signers, nextBatchRef, lot, start, redeem } = await load();
    const ids = Array.from({ length: 16 }, (_, i) => lot(H100.id, start + 100 * 86400 + i, i % 2 ? "soulbound" : "transferable"));
    const amounts = ids.map((_, i) => BigInt(100 + i));
    await token.connect(signers.hr).grantBatch(
      nextBatchRef(),
      ids.map(() => signers.alice.address),
      ids,
      amounts,
    );
    const total = amounts.reduce((a, b) => a + b, 0n);
    await redeem(signers.alice, ids, { gpus: 1, seconds: Number(total) });
    const r = await token.getRedemption(1n);
    expect(r.lotIds).to.deep.equal(ids);
    expect(r.amounts).to.deep.equal(amounts);
    await token.connect(signers.redeemer).reject(1n, 1);
    for (let i = 0; i < ids.length; i++) expect(await token.balanceOf(signers.alice.address, ids[i])).to.equal(amounts[i]);
  });
});
