/**
 * Usage served under an authorization is charged when its batch lands after the authorization ended:
 * revoked by its holder, or expired, between the serving and the settlement (InferenceCredit charges
 * within SETTLEMENT_GRACE of an authorization's end). Before, either made the usage free, again and
 * again: serve, revoke, sign a new authorization, serve again. The auditor's check of the usage
 * records finds a request started after its authorization's end. The real gateway, its settler,
 * anvil and the llama.cpp upstream.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import type { Address } from "viem";
import { rpc } from "../../devkit/localChain.js";
import type { Gateway } from "../../gateway/index.js";
import { readAuthorization, readCreditBalance } from "../../sdk/credits/reads.js";
import { START_TOLERANCE_S, verifyUsageRecords } from "../../sdk/credits/verifyUsage.js";
import { revokeAuthorization } from "../../sdk/credits/write.js";
import { type GatewayFixture, startGatewayFixture } from "./support/gatewayFixture.js";

describe("gateway: usage served before an authorization's end is charged after it", function () {
  this.timeout(180_000);
  let f: GatewayFixture;
  let gw: Gateway;
  before(async () => {
    f = await startGatewayFixture();
    gw = await f.start({}, []);
  });
  after(async () => {
    await f?.stop();
  });
  const keyFor = async (i: number, o: Parameters<GatewayFixture["authorize"]>[1] = {}) => {
    const { status, body } = await f.createKey(gw, await f.authorize(i, o));
    expect(status, JSON.stringify(body)).to.equal(201);
    return body as { key: string; holder: Address; authorizationId: `0x${string}` };
  };
  /** The holder's balance on-chain, its authorization's charged counter, and the ledger's view after settling. */
  const settled = async (holder: Address, authId: `0x${string}`) => {
    await gw.settler.settleDue(true);
    const state = (await gw.ledger.holderState(holder))!;
    return {
      balance: await readCreditBalance(f.chain.reader, holder),
      charged: (await readAuthorization(f.chain.reader, authId)).charged,
      ledger: { unsettled: state.unsettled, available: state.available },
    };
  };

  it("charges what was served before the holder revoked the authorization; a new one spends only what is left", async () => {
    await f.grant(0, "10");
    const k = await keyFor(0, { cap: "100" });
    const before = await readCreditBalance(f.chain.reader, k.holder);
    let served = 0n;
    for (let i = 0; i < 3; i++) served += await f.chargedRequest(gw, k.key);
    expect(served).to.be.greaterThan(0n);
    const auth = await readAuthorization(f.chain.reader, k.authorizationId);
    expect(auth.status, "not settled yet: activated by the batch").to.equal("none");
    const nonce = BigInt((await gw.ledger.db.transaction((tx) => tx.one("SELECT nonce FROM gw_authorizations WHERE auth_id = $1", [k.authorizationId])))!.nonce as string | bigint);
    const receipt = await revokeAuthorization(f.chain.employee(0), gw.address, nonce);
    while (gw.watcher.lastBlock < receipt.blockNumber) await new Promise((r) => setTimeout(r, 10));
    expect(await settled(k.holder, k.authorizationId)).to.deep.equal({
      balance: before - served,
      charged: served,
      ledger: { unsettled: 0n, available: before - served },
    });
    // The auditor finds every record started before the revocation; one made to start after it is a finding.
    const records = join(f.dir, "records");
    const verify = (dir: string) => verifyUsageRecords({ publicClient: f.chain.reader.publicClient, inferenceCredit: f.chain.deployment.inferenceCredit!, fromBlock: 0n, dir });
    const clean = await verify(records);
    expect([clean.ok, clean.records, clean.findings]).to.deep.equal([true, 3, []]);
    const revokedAt = (await f.chain.reader.publicClient.getBlock({ blockNumber: receipt.blockNumber })).timestamp;
    const late = mkdtempSync(join(tmpdir(), "ctk-after-end-"));
    try {
      for (const file of readdirSync(records)) {
        const later = new Date(Number(revokedAt + BigInt(START_TOLERANCE_S)) * 1000).toISOString();
        writeFileSync(join(late, file), readFileSync(join(records, file), "utf8").replace(/"startedAt":"[^"]*"/, `"startedAt":"${later}"`));
      }
      const found = await verify(late);
      expect(found.findings.map((x) => x.code)).to.include("AFTER_END");
      expect(found.findings.find((x) => x.code === "AFTER_END")!.message).to.match(
        new RegExp(`started at \\S+, ${START_TOLERANCE_S} s after its authorization ${k.authorizationId.toLowerCase()} ended \\(revoked or expired at `),
      );
    } finally {
      rmSync(late, { recursive: true, force: true });
    }
    // The next authorization spends the rest, not the same credits again.
    const k2 = await keyFor(0, { cap: "100" });
    const more = await f.chargedRequest(gw, k2.key);
    expect(await settled(k2.holder, k2.authorizationId)).to.deep.equal({
      balance: before - served - more,
      charged: more,
      ledger: { unsettled: 0n, available: before - served - more },
    });
  });

  it("charges what was served before the authorization expired, in a batch that lands after", async () => {
    await f.grant(1, "10");
    const expiresAt = (await f.chainTime()) + 60n;
    const k = await keyFor(1, { cap: "100", expiresAt });
    const before = await readCreditBalance(f.chain.reader, k.holder);
    let served = 0n;
    for (let i = 0; i < 3; i++) served += await f.chargedRequest(gw, k.key);
    // The batch goes out after the expiry (the chain's clock moved past it).
    await rpc(f.chain, "evm_increaseTime", [120]);
    await rpc(f.chain, "evm_mine");
    expect(await f.chainTime()).to.be.greaterThan(expiresAt);
    expect(await settled(k.holder, k.authorizationId)).to.deep.equal({
      balance: before - served,
      charged: served,
      ledger: { unsettled: 0n, available: before - served },
    });
  });
});
