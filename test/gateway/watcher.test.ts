/**
 * The chain watcher and this gateway's own settlements: the burns of a batch this ledger recorded
 * are left to the batch (its holders are not read again), but a settlement by another deployment
 * signing with the same account — a ledger of its own — moves the holder's balance, which is read.
 */
import { join } from "node:path";
import { expect } from "chai";
import { readCreditBalance } from "../../sdk/credits/reads.js";
import type { Gateway } from "../../gateway/index.js";
import { type GatewayFixture, startGatewayFixture } from "./support/gatewayFixture.js";

describe("gateway chain watcher: settlements of this ledger and of another one on the same account", function () {
  this.timeout(180_000);
  let f: GatewayFixture;
  let mine: Gateway;
  let other: Gateway;

  before(async () => {
    f = await startGatewayFixture();
    const settlement = { intervalMs: 3_600_000, maxCharges: 1000 };
    mine = await f.start({ settlement });
    other = await f.start({ settlement, database: { kind: "sqlite", file: join(f.dir, "other.sqlite") }, recordsDir: join(f.dir, "other-records") });
    await f.grant(0, "10");
  });
  after(async () => {
    await f?.stop();
  });

  it("reads the holder again after a settlement this ledger did not record (the confirmations test: one it did)", async () => {
    const holder = (await f.createKey(mine, await f.authorize(0))).body.holder as string;
    const otherKey = (await f.createKey(other, await f.authorize(0))).body.key as string;
    const charged = await f.chargedRequest(other, otherKey);
    const before = (await mine.ledger.holderState(holder))!.balance;
    // The other deployment settles its charge: a burn in a settlement naming the same gateway account.
    await other.settler.settleDue(true);
    const onChain = await readCreditBalance(f.chain.reader, holder as `0x${string}`);
    expect(onChain).to.equal(before - charged);
    // This ledger did not record that batch: its watcher reads the holder's balance again.
    for (let i = 0; i < 100 && (await mine.ledger.holderState(holder))!.balance !== onChain; i++) await new Promise((r) => setTimeout(r, 50));
    expect((await mine.ledger.holderState(holder))!.balance).to.equal(onChain);
    // The other ledger applied its own batch, once.
    expect((await other.ledger.holderState(holder))!.balance).to.equal(onChain);
    expect((await other.ledger.holderState(holder))!.unsettled).to.equal(0n);
  });
});
