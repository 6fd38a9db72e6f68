/**
 * A landed batch whose ledger update was lost (a crash after the settlement landed and before its
 * ledger commit reached the disk) is pending again; the settler finds it on-chain by id and applies
 * the chain's UsageCharged events, once — it never sends it again — and the ledger ends where it
 * would have. Until every one of its UsageCharged events can be read (a node whose logs lag its
 * state), it stays pending rather than being applied as charging nothing. On both ledger databases.
 */
import { expect } from "chai";
import type { Gateway } from "../../gateway/index.js";
import { inferenceCreditAbi } from "../../sdk/generated/abi.js";
import { DATABASE_KINDS, type TestDatabase, available, createTestDatabase } from "./support/databases.js";
import { type GatewayFixture, startGatewayFixture } from "./support/gatewayFixture.js";

describe("gateway settlement: a landed batch whose ledger update was lost", function () {
  this.timeout(180_000);
  let f: GatewayFixture;
  before(async () => {
    f = await startGatewayFixture();
  });
  after(async () => {
    await f?.stop();
  });

  for (const [i, kind] of DATABASE_KINDS.entries()) {
    describe(`on ${kind}`, () => {
      let db: TestDatabase;
      let gw: Gateway | undefined;
      before(async function () {
        if (!available(kind)) this.skip();
        db = await createTestDatabase(kind);
      });
      after(async () => {
        await gw?.stop({ settle: false });
        await db?.drop();
      });

      it("is applied again from the chain, once, and never sent twice", async () => {
        gw = await f.start({ replica: `replay-${kind}`, database: db.config(), settlement: { intervalMs: 3_600_000, maxCharges: 1000 } });
        await f.grant(i, "10");
        const { key, holder, authorizationId } = (await f.createKey(gw, await f.authorize(i))).body;
        const charged = await f.chargedRequest(gw, key);
        const ledger = gw.ledger;
        const before = (await ledger.holderState(holder))!;
        expect(before.unsettled).to.equal(charged);
        const client = f.chain.reader.publicClient;
        const from = await client.getBlockNumber();
        await gw.settler.settleDue(true);
        // The chain watcher's refresh after the settlement may race it (a lower balance read while the
        // batch is still pending is applied at once): stop the watcher and take the balances read after.
        await gw.watcher.stop();
        expect(await gw.refreshBalances()).to.equal(true);
        const [batch] = await ledger.batches("settled");
        const after = { holder: await ledger.holderState(holder), epoch: await ledger.settledEpoch(), auth: await ledger.authorizationState(authorizationId) };
        expect(after.holder!.unsettled).to.equal(0n);
        expect(after.holder!.balance).to.equal(before.balance - charged);
        // A node whose logs lag its state: the batch's events cannot be read yet (they are looked
        // for from the deployment's block on, here set past the settlement's).
        const deployment = gw.client.deployment;
        const deployBlock = deployment.deployBlock;
        deployment.deployBlock = Number(await client.getBlockNumber()) + 1;
        // The update lost: the batch pending again, the holder, the authorization and the counter as it left them.
        await ledger.db.transaction(async (tx) => {
          await tx.run("UPDATE gw_batches SET status = 'pending', charged = NULL, settled_at = NULL WHERE batch_id = $1", [batch.batchId]);
          await tx.run("UPDATE gw_holders SET balance = $2, unsettled = $3 WHERE holder = $1", [holder, before.balance, before.unsettled]);
          await tx.run("UPDATE gw_authorizations SET activated = 1 WHERE auth_id = $1", [authorizationId]);
          await tx.run("UPDATE gw_meta SET value = value - 1 WHERE name = 'settled_batches'");
        });
        expect((await ledger.batches("pending")).map((b) => b.batchId)).to.deep.equal([batch.batchId]);
        const lagging = await gw.settler.settleDue().then(
          () => undefined,
          (err: Error) => err.message,
        );
        expect(lagging).to.match(/settled on-chain but 0 of its 1 UsageCharged events were found: left pending/);
        expect((await ledger.batches("pending")).map((b) => b.batchId)).to.deep.equal([batch.batchId]);
        expect((await ledger.holderState(holder))!.unsettled, "not applied as charging nothing").to.equal(before.unsettled);
        deployment.deployBlock = deployBlock;
        await gw.settler.settleDue();
        expect(await ledger.batches("pending")).to.deep.equal([]);
        const [again] = await ledger.batches("settled");
        expect([again.batchId, again.charged, again.txHash]).to.deep.equal([batch.batchId, charged, batch.txHash]);
        expect(await ledger.holderState(holder)).to.deep.equal(after.holder);
        expect(await ledger.settledEpoch()).to.equal(after.epoch);
        expect(await ledger.authorizationState(authorizationId)).to.deep.equal(after.auth);
        const settled = await client.getContractEvents({
          address: f.chain.deployment.inferenceCredit!,
          abi: inferenceCreditAbi,
          eventName: "UsageBatchSettled",
          fromBlock: from + 1n,
        });
        expect(settled.length, "sent once").to.equal(1);
      });
    });
  }
});
