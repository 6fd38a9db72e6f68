import { expect } from "chai";
import { InvalidLotIdError, TRANSFER_POLICIES, decodeLotId, encodeLotId, policyIndex } from "../../sdk/lotId.js";
import { A100, H100, createContractFixture } from "../support/contractFixture.js";

const { load } = await createContractFixture();

/** A seeded generator (xorshift128+ over BigInt) so a failing random case can be replayed. */
function rng(seed: bigint) {
  const M = (1n << 64n) - 1n;
  let s0 = seed & M || 1n;
  let s1 = (seed * 0x9e3779b97f4a7c15n) & M || 2n;
  const next64 = () => {
    let x = s0;
    const y = s1;
    s0 = y;
    x ^= (x << 23n) & M;
    s1 = x ^ y ^ (x >> 17n) ^ (y >> 26n);
    return (s1 + y) & M;
  };
  return {
    bits(n: number): bigint {
      let v = 0n;
      for (let i = 0; i < n; i += 64) v = (v << 64n) | next64();
      return v & ((1n << BigInt(n)) - 1n);
    },
    below(n: bigint): bigint {
      return next64() % n;
    },
  };
}

const MAX_ISO_SECONDS = 253_402_300_799n; // 9999-12-31T23:59:59Z
const isoOf = (seconds: bigint) => new Date(Number(seconds) * 1000).toISOString().replace(/\.000Z$/, "Z");

function decodeUri(uri: string) {
  const prefix = "data:application/json;base64,";
  expect(uri.startsWith(prefix)).to.equal(true);
  return JSON.parse(Buffer.from(uri.slice(prefix.length), "base64").toString("utf8"));
}

describe("ComputeToken — lot id codec (contract against sdk/lotId.ts)", () => {
  it("encodes random (class, expiry, policy) exactly as the SDK does, and decodes back", async () => {
    const { token } = await load();
    const r = rng(0xc0ffeen);
    const cases = Array.from({ length: 64 }, () => ({
      classId: Number(r.below((1n << 32n) - 1n) + 1n),
      expiresAt: r.bits(64),
      policy: TRANSFER_POLICIES[Number(r.below(2n))],
    }));
    cases.push({ classId: 1, expiresAt: 0n, policy: "soulbound" });
    cases.push({ classId: 2 ** 32 - 1, expiresAt: (1n << 64n) - 1n, policy: "transferable" });
    await Promise.all(
      cases.map(async (c) => {
        const sdkId = encodeLotId(c);
        expect(await token.encodeLotId(c.classId, c.expiresAt, policyIndex(c.policy))).to.equal(sdkId);
        const [classId, expiresAt, policy] = await token.decodeLotId(sdkId);
        expect({ classId: Number(classId), expiresAt, policy: TRANSFER_POLICIES[Number(policy)] }).to.deep.equal(c);
        expect(decodeLotId(sdkId)).to.deep.equal(c);
      }),
    );
  });

  it("agrees with the SDK on which random ids are well formed, and reverts InvalidLotId on the rest", async () => {
    const { token } = await load();
    const r = rng(0x1d5n);
    const candidates: bigint[] = [];
    for (let i = 0; i < 24; i++) {
      candidates.push(r.bits(256)); // almost always high bits set
      candidates.push(r.bits(104)); // policy byte mostly > 1
      candidates.push((r.bits(104) & ~0xffn) | r.below(2n)); // mostly valid
      candidates.push(r.bits(72)); // class 0
    }
    let valid = 0;
    let invalid = 0;
    for (const id of candidates) {
      let sdk: ReturnType<typeof decodeLotId> | undefined;
      try {
        sdk = decodeLotId(id);
      } catch (e) {
        expect(e).to.be.instanceOf(InvalidLotIdError);
        expect((e as InvalidLotIdError).lotId).to.equal(id);
      }
      if (sdk === undefined) {
        invalid++;
        await expect(token.decodeLotId(id)).to.be.revertedWithCustomError(token, "InvalidLotId").withArgs(id);
      } else {
        valid++;
        const [classId, expiresAt, policy] = await token.decodeLotId(id);
        expect({ classId: Number(classId), expiresAt, policy: TRANSFER_POLICIES[Number(policy)] }).to.deep.equal(sdk);
        expect(encodeLotId(sdk)).to.equal(id);
      }
    }
    expect(valid).to.be.greaterThan(10);
    expect(invalid).to.be.greaterThan(10);
  });

  it("reverts InvalidLotId on each kind of malformed id: high bits, class 0, unknown policy", async () => {
    const { token, lot, expiries } = await load();
    const good = lot(H100.id, expiries.later, "soulbound");
    const malformed = [
      good | (1n << 104n), // lowest bit above the layout
      good | (1n << 255n), // highest bit
      (1n << 256n) - 1n, // all ones
      expiries.later << 8n, // class 0
      0n, // class 0, everything zero
      good | 2n, // policy 2
      good | 0xffn, // policy 255
    ];
    for (const id of malformed) {
      await expect(token.decodeLotId(id)).to.be.revertedWithCustomError(token, "InvalidLotId").withArgs(id);
      expect(() => decodeLotId(id)).to.throw(InvalidLotIdError);
    }
  });

  it("refuses to encode class 0: InvalidLotId(0), like the SDK", async () => {
    const { token } = await load();
    await expect(token.encodeLotId(0, 1000n, 0))
      .to.be.revertedWithCustomError(token, "InvalidLotId")
      .withArgs(0n);
    expect(() => encodeLotId({ classId: 0, expiresAt: 1000n, policy: "soulbound" })).to.throw(InvalidLotIdError);
  });
});

describe("ComputeToken — uri metadata", () => {
  it("renders a base64 JSON a wallet can show: class, GPU product, expiry (ISO date), policy, units per hour", async () => {
    const { token, lot, expiries } = await load();
    for (const policy of TRANSFER_POLICIES) {
      const id = lot(H100.id, expiries.later, policy);
      const meta = decodeUri(await token.uri(id));
      const iso = isoOf(expiries.later);
      expect(meta.name).to.equal(`${H100.name} GPU-seconds, expires ${iso}`);
      expect(meta.description).to.equal(`Compute token: 1 unit = 1 GPU-second on ${H100.name}; 3600 units = 1 GPU-hour. Lot ${id}.`);
      expect(meta.decimals).to.equal(0);
      expect(meta.properties).to.deep.equal({
        class: H100.name,
        gpu_product: H100.productLabel,
        gpu_memory_gib: H100.memoryGiB,
        expires_at: Number(expiries.later),
        expires_at_iso: iso,
        transfer_policy: policy,
        units_per_hour: 3600,
      });
    }
  });

  it("formats expiry dates like Date.toISOString, on calendar edges and random instants", async () => {
    const { token, lot } = await load();
    const edges = [
      0n, // 1970-01-01T00:00:00Z
      951_782_400n, // 2000-02-29 (leap: divisible by 400)
      951_868_799n, // 2000-02-29T23:59:59Z
      4_107_542_400n, // 2100-03-01 (not a leap year)
      1_709_164_800n, // 2024-02-29
      1_735_689_599n, // 2024-12-31T23:59:59Z
      MAX_ISO_SECONDS,
    ];
    const r = rng(0xda7en);
    const randoms = Array.from({ length: 40 }, () => r.below(MAX_ISO_SECONDS + 1n));
    await Promise.all(
      [...edges, ...randoms].map(async (t) => {
        const meta = decodeUri(await token.uri(lot(A100.id, t, "transferable")));
        expect(meta.properties.expires_at_iso, `expiry ${t}`).to.equal(isoOf(t));
        expect(meta.properties.expires_at).to.equal(Number(t));
        expect(meta.properties.class).to.equal(A100.name);
      }),
    );
  });

  it("follows a class update in the metadata", async () => {
    const { token, signers, lot, expiries } = await load();
    await token.connect(signers.ops).updateClass(H100.id, "NVIDIA-H100-NVL", 94, 8);
    const meta = decodeUri(await token.uri(lot(H100.id, expiries.soon)));
    expect(meta.properties.gpu_product).to.equal("NVIDIA-H100-NVL");
    expect(meta.properties.gpu_memory_gib).to.equal(94);
  });

  it("refuses a lot of an unknown class (UnknownClass) or a malformed id (InvalidLotId)", async () => {
    const { token, lot, expiries } = await load();
    await expect(token.uri(lot(3, expiries.soon)))
      .to.be.revertedWithCustomError(token, "UnknownClass")
      .withArgs(3);
    const bad = lot(H100.id, expiries.soon) | 9n;
    await expect(token.uri(bad)).to.be.revertedWithCustomError(token, "InvalidLotId").withArgs(bad);
  });
});

describe("ComputeToken — supply and other views", () => {
  it("tracks totalSupply per lot and overall, and exists", async () => {
    const { token, signers, grant, lot, expiries } = await load();
    const h = lot(H100.id, expiries.soon);
    const a = lot(A100.id, expiries.soon);
    expect(await token["totalSupply()"]()).to.equal(0n);
    expect(await token.exists(h)).to.equal(false);
    await grant([signers.alice, signers.bob], h, 5);
    await grant(signers.carol, a, 11);
    expect(await token["totalSupply(uint256)"](h)).to.equal(10n);
    expect(await token["totalSupply(uint256)"](a)).to.equal(11n);
    expect(await token["totalSupply()"]()).to.equal(21n);
    expect(await token.exists(h)).to.equal(true);
  });

  it("exposes the limits a caller needs as constants", async () => {
    const { token } = await load();
    expect(await token.MAX_BATCH()).to.equal(256n);
    expect(await token.MAX_REDEMPTION_LOTS()).to.equal(16n);
    expect(await token.MAX_SPEC_BYTES()).to.equal(8192n);
  });

  it("is an ERC-1155 with metadata URIs, governed by the AccessManager", async () => {
    const { token, manager } = await load();
    expect(await token.supportsInterface("0xd9b67a26")).to.equal(true); // IERC1155
    expect(await token.supportsInterface("0x0e89341c")).to.equal(true); // IERC1155MetadataURI
    expect(await token.supportsInterface("0x01ffc9a7")).to.equal(true); // IERC165
    expect(await token.supportsInterface("0xffffffff")).to.equal(false);
    expect(await token.authority()).to.equal(await manager.getAddress());
    expect(await token.paused()).to.equal(false);
  });
});
