import { expect } from "chai";
import { decodeLotId, encodeLotId, InvalidLotIdError, TRANSFER_POLICIES, type LotParts } from "../../sdk/lotId.js";
import { revertOf } from "../../sdk/errors.js";
import { type LocalChain, startLocalChain } from "../../devkit/localChain.js";

/** A small deterministic PRNG (mulberry32) so a failure can be replayed from its seed. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const bits = (n: number): bigint => {
    let v = 0n;
    for (let i = 0; i < n; i += 16) v = (v << 16n) | BigInt(Math.floor(next() * 65536));
    return v & ((1n << BigInt(n)) - 1n);
  };
  return { next, bits };
}

const SEED = 20261122;
const CASES = 200;

describe("lot id codec (sdk/lotId.ts against ComputeToken.encodeLotId/decodeLotId)", function () {
  let chain: LocalChain;
  before(async () => {
    chain = await startLocalChain({ classes: [] });
  });
  after(async () => chain?.stop());

  const onChainEncode = (p: LotParts) =>
    chain.reader.publicClient.readContract({
      ...chain.reader.computeToken,
      functionName: "encodeLotId",
      args: [p.classId, p.expiresAt, TRANSFER_POLICIES.indexOf(p.policy)],
    });
  const onChainDecode = (id: bigint) => chain.reader.publicClient.readContract({ ...chain.reader.computeToken, functionName: "decodeLotId", args: [id] });

  it("encodes random (class, expiry, policy) to the same id as the contract, and both decode it back", async () => {
    const r = rng(SEED);
    const edge: LotParts[] = [
      { classId: 1, expiresAt: 0n, policy: "soulbound" },
      { classId: 0xffffffff, expiresAt: (1n << 64n) - 1n, policy: "transferable" },
      { classId: 2, expiresAt: 1_806_451_200n, policy: "transferable" },
    ];
    const cases: LotParts[] = [...edge];
    for (let i = 0; i < CASES; i++) {
      cases.push({
        classId: Number(r.bits(32)) || 1,
        expiresAt: r.next() < 0.5 ? r.bits(64) : r.bits(34),
        policy: r.next() < 0.5 ? "soulbound" : "transferable",
      });
    }
    await Promise.all(
      cases.map(async (p) => {
        const id = encodeLotId(p);
        expect(await onChainEncode(p), `encode ${JSON.stringify({ ...p, expiresAt: String(p.expiresAt) })}`).to.equal(id);
        const [classId, expiresAt, policy] = await onChainDecode(id);
        expect({ classId, expiresAt, policy: TRANSFER_POLICIES[policy] }).to.deep.equal(p);
        expect(decodeLotId(id)).to.deep.equal(p);
      }),
    );
  });

  it("rejects the same malformed ids as the contract (high bits, class 0, unknown policy)", async () => {
    const r = rng(SEED + 1);
    const malformed: bigint[] = [0n, 1n, 0xffn, 1n << 104n, (1n << 256n) - 1n];
    for (let i = 0; i < 60; i++) {
      const valid = encodeLotId({ classId: Number(r.bits(32)) || 1, expiresAt: r.bits(64), policy: "soulbound" });
      const kind = i % 3;
      if (kind === 0) malformed.push(valid | (r.bits(152) << 104n) | (1n << 104n)); // bits above 103
      if (kind === 1) malformed.push(valid & ((1n << 72n) - 1n)); // class 0
      if (kind === 2) malformed.push((valid & ~0xffn) | (2n + (r.bits(8) % 254n))); // policy 2..255
    }
    await Promise.all(
      malformed.map(async (id) => {
        expect(() => decodeLotId(id), `sdk decode ${id}`).to.throw(InvalidLotIdError);
        let reverted: ReturnType<typeof revertOf>;
        try {
          await onChainDecode(id);
        } catch (e) {
          reverted = revertOf(e);
        }
        expect(reverted, `contract decode ${id}`).to.deep.equal({ errorName: "InvalidLotId", args: [id] });
      }),
    );
  });

  it("refuses to encode class 0, like the contract", async () => {
    expect(() => encodeLotId({ classId: 0, expiresAt: 1n, policy: "soulbound" })).to.throw(InvalidLotIdError);
    let reverted: ReturnType<typeof revertOf>;
    try {
      await onChainEncode({ classId: 0, expiresAt: 1n, policy: "soulbound" });
    } catch (e) {
      reverted = revertOf(e);
    }
    expect(reverted).to.deep.equal({ errorName: "InvalidLotId", args: [0n] });
  });
});
