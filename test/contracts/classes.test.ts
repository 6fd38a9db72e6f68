import { expect } from "chai";
import { A100, H100, createContractFixture } from "../support/contractFixture.js";

const { load } = await createContractFixture();

describe("ComputeToken — hardware classes", () => {
  it("defines a class with the next sequential id and emits ClassDefined", async () => {
    const { token, signers } = await load();
    await expect(token.connect(signers.ops).defineClass("B200-192GB", "NVIDIA-B200", 192, 8))
      .to.emit(token, "ClassDefined")
      .withArgs(3, "B200-192GB", "NVIDIA-B200", 192, 8);
    expect(await token.classCount()).to.equal(3n);
    expect(await token.classIdOf("B200-192GB")).to.equal(3n);
    expect(await token.getClass(3)).to.deep.equal(["B200-192GB", "NVIDIA-B200", 192n, 8n, true]);
  });

  it("returns the fixture's classes through getClass and classIdOf", async () => {
    const { token } = await load();
    expect(await token.getClass(H100.id)).to.deep.equal([H100.name, H100.productLabel, BigInt(H100.memoryGiB), BigInt(H100.maxGpusPerJob), true]);
    expect(await token.classIdOf(H100.name)).to.equal(BigInt(H100.id));
    expect(await token.classIdOf(A100.name)).to.equal(BigInt(A100.id));
  });

  it("answers 0 from classIdOf for a name that was never defined", async () => {
    const { token } = await load();
    expect(await token.classIdOf("TPU-v5")).to.equal(0n);
    expect(await token.classIdOf("")).to.equal(0n);
  });

  it("accepts a name of exactly 32 bytes", async () => {
    const { token, signers } = await load();
    const name = "X".repeat(32);
    await expect(token.connect(signers.ops).defineClass(name, "L", 1, 1))
      .to.emit(token, "ClassDefined")
      .withArgs(3, name, "L", 1, 1);
  });

  it("rejects an empty class name with InvalidClassName", async () => {
    const { token, signers } = await load();
    await expect(token.connect(signers.ops).defineClass("", "L", 80, 8))
      .to.be.revertedWithCustomError(token, "InvalidClassName")
      .withArgs("");
  });

  it("rejects a class name longer than 32 bytes with InvalidClassName", async () => {
    const { token, signers } = await load();
    const name = "Y".repeat(33);
    await expect(token.connect(signers.ops).defineClass(name, "L", 80, 8))
      .to.be.revertedWithCustomError(token, "InvalidClassName")
      .withArgs(name);
  });

  for (const bad of ['H100"80GB', "H100\\80GB", "H100\n80GB", "H100-80GB\u00e9"]) {
    it(`rejects a class name that would break the metadata JSON (${JSON.stringify(bad)}) with InvalidClassName`, async () => {
      const { token, signers } = await load();
      await expect(token.connect(signers.ops).defineClass(bad, "L", 80, 8))
        .to.be.revertedWithCustomError(token, "InvalidClassName")
        .withArgs(bad);
    });
  }

  it("rejects a product label with a quote, a backslash or over 64 bytes with InvalidProductLabel", async () => {
    const { token, signers } = await load();
    for (const label of ['NVIDIA-"H100"', "NVIDIA\\H100", "L".repeat(65)]) {
      await expect(token.connect(signers.ops).defineClass("Z-1", label, 80, 8))
        .to.be.revertedWithCustomError(token, "InvalidProductLabel")
        .withArgs(label);
      await expect(token.connect(signers.ops).updateClass(H100.id, label, 80, 8))
        .to.be.revertedWithCustomError(token, "InvalidProductLabel")
        .withArgs(label);
    }
  });

  it("rejects a name already taken with ClassNameTaken and the existing id", async () => {
    const { token, signers } = await load();
    await expect(token.connect(signers.ops).defineClass(A100.name, "other", 40, 2))
      .to.be.revertedWithCustomError(token, "ClassNameTaken")
      .withArgs(A100.name, A100.id);
  });

  it("keeps a retired class's name taken", async () => {
    const { token, signers } = await load();
    await token.connect(signers.ops).retireClass(H100.id);
    await expect(token.connect(signers.ops).defineClass(H100.name, "new", 80, 8))
      .to.be.revertedWithCustomError(token, "ClassNameTaken")
      .withArgs(H100.name, H100.id);
  });

  it("rejects a zero per-job GPU limit with InvalidMaxGpus on define", async () => {
    const { token, signers } = await load();
    await expect(token.connect(signers.ops).defineClass("L4", "NVIDIA-L4", 24, 0))
      .to.be.revertedWithCustomError(token, "InvalidMaxGpus")
      .withArgs(0);
  });

  it("updates an active class's label, memory and GPU limit and emits ClassUpdated", async () => {
    const { token, signers } = await load();
    await expect(token.connect(signers.ops).updateClass(H100.id, "NVIDIA-H100-SXM5-80GB", 81, 16))
      .to.emit(token, "ClassUpdated")
      .withArgs(H100.id, "NVIDIA-H100-SXM5-80GB", 81, 16);
    expect(await token.getClass(H100.id)).to.deep.equal([H100.name, "NVIDIA-H100-SXM5-80GB", 81n, 16n, true]);
  });

  it("rejects a zero per-job GPU limit with InvalidMaxGpus on update", async () => {
    const { token, signers } = await load();
    await expect(token.connect(signers.ops).updateClass(H100.id, "x", 80, 0))
      .to.be.revertedWithCustomError(token, "InvalidMaxGpus")
      .withArgs(0);
  });

  it("rejects updating an unknown class with UnknownClass", async () => {
    const { token, signers } = await load();
    await expect(token.connect(signers.ops).updateClass(3, "x", 80, 8))
      .to.be.revertedWithCustomError(token, "UnknownClass")
      .withArgs(3);
    await expect(token.connect(signers.ops).updateClass(0, "x", 80, 8))
      .to.be.revertedWithCustomError(token, "UnknownClass")
      .withArgs(0);
  });

  it("retires a class, emits ClassRetired and reports it inactive", async () => {
    const { token, signers } = await load();
    await expect(token.connect(signers.ops).retireClass(A100.id)).to.emit(token, "ClassRetired").withArgs(A100.id);
    const [, , , , active] = await token.getClass(A100.id);
    expect(active).to.equal(false);
  });

  it("rejects updating or retiring a retired class with ClassNotActive", async () => {
    const { token, signers } = await load();
    await token.connect(signers.ops).retireClass(A100.id);
    await expect(token.connect(signers.ops).updateClass(A100.id, "x", 80, 8))
      .to.be.revertedWithCustomError(token, "ClassNotActive")
      .withArgs(A100.id);
    await expect(token.connect(signers.ops).retireClass(A100.id)).to.be.revertedWithCustomError(token, "ClassNotActive").withArgs(A100.id);
  });

  it("rejects retiring an unknown class with UnknownClass", async () => {
    const { token, signers } = await load();
    await expect(token.connect(signers.ops).retireClass(7)).to.be.revertedWithCustomError(token, "UnknownClass").withArgs(7);
  });

  it("rejects getClass of class 0 or past classCount with UnknownClass", async () => {
    const { token } = await load();
    await expect(token.getClass(0)).to.be.revertedWithCustomError(token, "UnknownClass").withArgs(0);
    await expect(token.getClass(3)).to.be.revertedWithCustomError(token, "UnknownClass").withArgs(3);
  });
});
