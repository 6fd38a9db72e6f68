/**
 * Holds and releases the database did not answer. A hold whose statement failed without an answer
 * — its commit done and the reply lost, or a server process still waiting to commit it — may stand
 * in the ledger while the request is refused: the ledger writes a released row in its place (a
 * later commit of the hold fails on its id) and releases any hold in the background once the
 * database answers again; so is a release the database did not answer. A charge the database did
 * not answer is looked up (and made if it was not), so its response can complete. A grouped statement that
 * failed after its commit leaves its holds and charges to the requests' runs alone. What the
 * retries miss, the sweep of holds no request of this process holds releases. On both databases
 * (the grouped statements: PostgreSQL), with a driver that loses replies around the real one.
 */
import { expect } from "chai";
import type { HoldParams, Ledger } from "../../gateway/ledger/ledger.js";
import { Ledger as LedgerClass } from "../../gateway/ledger/ledger.js";
import { quoteFor } from "../../gateway/metering/quote.js";
import { SETTLE_USAGE_MAX_CHARGES } from "../../sdk/credits/write.js";
import { DATABASE_KINDS, type TestDatabase, available, createTestDatabase } from "./support/databases.js";
import { BOOK, QUOTE as quote, T0, addTestAccount, holdParams } from "./support/ledgerTerms.js";
import { type Fault, unreliable } from "./support/unreliableDriver.js";

/** A full request's hold (20 tokens in, 30 out). */
const EACH = quote.cost(20, 30);
const holderOf = (i: number) => `0x${(0xc0 + i).toString(16).padStart(40, "0")}`;
const authOf = (i: number) => `auth-in-doubt-${i}`;

const params = (i: number, requestId: string, over: Partial<HoldParams> = {}): HoldParams => holdParams({ holder: holderOf(i), authId: authOf(i) }, requestId, over);

async function drained(ledger: Ledger): Promise<void> {
  for (let i = 0; ledger.releasingInBackground(); i++) {
    if (i > 200) throw new Error("releases still retrying after 10 s");
    await new Promise((r) => setTimeout(r, 50));
  }
}

const refused = (p: Promise<unknown>) =>
  p.then(
    () => expect.fail("expected a failure"),
    (e: Error & { status?: number }) => e,
  );

for (const kind of DATABASE_KINDS) {
  describe(`gateway ledger on ${kind}: holds and releases the database did not answer`, function () {
    let db: TestDatabase;
    let base: Ledger;
    let accounts = 0;
    /** A new holder with its authorization; its balance affords `holds` full requests. */
    async function account(holds: bigint): Promise<number> {
      const i = accounts++;
      await addTestAccount(base, { holder: holderOf(i), authId: authOf(i), balance: EACH * holds, cap: EACH * 100n });
      return i;
    }
    const openHolds = async (i: number) => (await base.holderState(holderOf(i)))!.openHolds;

    before(async function () {
      if (!available(kind)) return this.skip();
      db = await createTestDatabase(kind);
      base = await db.open();
    });
    after(async () => db?.drop());

    it("releases a hold whose reply was lost once the database answers again, and the holder's credits are whole again", async () => {
      const a = await account(3n);
      const { driver, f } = unreliable(base.db);
      const ledger = new LedgerClass(driver);
      // Committed, then the reply lost; the release's first two attempts find the database away.
      f.next = ["lost", "down", "down"];
      const calls = f.calls;
      expect((await refused(ledger.hold(params(a, "lost-reply")))).message).to.equal("Connection terminated unexpectedly");
      expect(ledger.releasingInBackground("lost-reply")).to.equal(true);
      await drained(ledger);
      expect(f.calls - calls, "the hold, two refused attempts, then the released row (not written: the hold's is there) and the release").to.equal(5);
      const row = await base.request("lost-reply");
      expect([row?.status, row?.ending, row?.charge]).to.deep.equal(["released", "ledger_error", 0n]);
      expect(await openHolds(a)).to.equal(0n);
      // Not locked out: the balance affords three such requests, and all three are held again in full.
      const again = [];
      for (const id of ["next-1", "next-2", "next-3"]) again.push(await ledger.hold(params(a, id)));
      expect(again.map((h) => h.amount)).to.deep.equal([EACH, EACH, EACH]);
      for (const h of again) await ledger.settleRequest(h.requestId, { tokensIn: 0, tokensOut: 0, amount: 0n, ending: "ok" }, T0 + 2);
      expect(await openHolds(a)).to.equal(0n);
    });

    it("writes a released row in place of a hold in doubt, so that its late commit fails on the request id", async () => {
      const a = await account(1n);
      const { driver, f } = unreliable(base.db);
      const ledger = new LedgerClass(driver);
      f.next = ["late"];
      await refused(ledger.hold(params(a, "late-hold")));
      await drained(ledger);
      const row = await base.request("late-hold");
      expect([row?.status, row?.ending, row?.charge]).to.deep.equal(["released", "ledger_error", 0n]);
      // The server process that kept the hold commits it after all: refused on the request id.
      const [late] = await Promise.allSettled(f.late);
      expect(late.status).to.equal("rejected");
      expect(await openHolds(a)).to.equal(0n);
      // The holder's one request's worth of credit is there to be held.
      const h = await ledger.hold(params(a, "after-late"));
      expect(h.amount).to.equal(EACH);
      await ledger.settleRequest("after-late", { tokensIn: 0, tokensOut: 0, amount: 0n, ending: "ok" }, T0 + 2);
    });

    it("tries a release the database did not answer again until it lands", async () => {
      const a = await account(1n);
      const { driver, f } = unreliable(base.db);
      const ledger = new LedgerClass(driver);
      await ledger.hold(params(a, "release-later"));
      expect(await openHolds(a)).to.equal(EACH);
      f.next = ["down", "down"];
      expect((await refused(ledger.settleRequest("release-later", { tokensIn: 0, tokensOut: 0, amount: 0n, ending: "disconnect" }, T0 + 2))).message).to.match(/ECONNREFUSED/);
      expect(ledger.releasingInBackground("release-later")).to.equal(true);
      await drained(ledger);
      const row = await base.request("release-later");
      expect([row?.status, row?.ending], "released, with the request's own ending").to.deep.equal(["released", "disconnect"]);
      expect(await openHolds(a)).to.equal(0n);
    });

    if (kind === "sqlite")
      it("refuses a charge that failed (SQLite's failures are its own process's: a rollback, or a commit not on disk), and the request's release follows", async () => {
        const a = await account(1n);
        const { driver, f } = unreliable(base.db);
        const ledger = new LedgerClass(driver);
        await ledger.hold(params(a, "charge-failed"));
        f.next = ["down"];
        await refused(ledger.settleRequest("charge-failed", { tokensIn: 20, tokensOut: 30, amount: EACH, ending: "ok" }, T0 + 2));
        expect((await base.request("charge-failed"))?.status).to.equal("held");
        await ledger.settleRequest("charge-failed", { tokensIn: 0, tokensOut: 0, amount: 0n, ending: "upstream_error" }, T0 + 3);
        const s = (await base.holderState(holderOf(a)))!;
        expect([s.openHolds, s.unsettled]).to.deep.equal([0n, 0n]);
      });

    if (kind === "postgres")
      it("looks up a charge the database did not answer: the one its lost reply made, or made now; given up only when the database is away", async () => {
        const a = await account(3n);
        const { driver, f } = unreliable(base.db);
        const ledger = new LedgerClass(driver);
        const charge = (id: string) => ledger.settleRequest(id, { tokensIn: 20, tokensOut: 30, amount: EACH, ending: "ok" }, T0 + 2);
        for (const id of ["charge-lost", "charge-down", "charge-away"]) await ledger.hold(params(a, id));
        // Committed, its reply lost: the charge it made, once.
        f.next = ["lost"];
        expect(await charge("charge-lost")).to.deep.equal({ charge: EACH });
        // Not run: made now.
        f.next = ["down"];
        expect(await charge("charge-down")).to.deep.equal({ charge: EACH });
        expect((await base.holderState(holderOf(a)))!.unsettled, "two charges, each once").to.equal(2n * EACH);
        // The database away for the look-up too: refused, still held, and the request's release follows.
        f.next = ["down", "down"];
        await refused(charge("charge-away"));
        expect(ledger.releasingInBackground()).to.equal(false);
        expect((await base.request("charge-away"))?.status).to.equal("held");
        await ledger.settleRequest("charge-away", { tokensIn: 0, tokensOut: 0, amount: 0n, ending: "upstream_error" }, T0 + 3);
        const s = (await base.holderState(holderOf(a)))!;
        expect([s.openHolds, s.unsettled]).to.deep.equal([0n, 2n * EACH]);
      });

    it("takes back a charge committed for an answer never delivered, or releases its hold if it was not; a batched charge stands", async () => {
      const a = await account(4n);
      const { driver, f } = unreliable(base.db);
      const ledger = new LedgerClass(driver);
      const day = async () => (await base.db.transaction((tx) => tx.one("SELECT day_credits FROM gw_holders WHERE holder = $1", [holderOf(a)])))!.day_credits;
      const charged = async () => (await base.authorizationState(authOf(a)))!.charged;
      for (const id of ["undelivered-charged", "undelivered-held", "undelivered-batched"]) await ledger.hold(params(a, id));
      const dayBefore = await day();
      // One charge is taken by a settlement batch (with every other charge waiting) before the take-back runs.
      await ledger.settleRequest("undelivered-batched", { tokensIn: 20, tokensOut: 30, amount: EACH, ending: "ok" }, T0 + 2);
      expect(await ledger.createBatch(10_000, () => ({ batchId: `0xundelivered-${kind}`, usageRoot: "0x01" }), T0 + 3)).to.not.equal(undefined);
      await ledger.settleRequest("undelivered-charged", { tokensIn: 20, tokensOut: 30, amount: EACH, ending: "ok" }, T0 + 2);
      const [open, batched] = ["undelivered-charged", "undelivered-batched"];
      expect((await base.request(batched))?.batchId).to.equal(`0xundelivered-${kind}`);
      const unsettledBefore = (await base.holderState(holderOf(a)))!.unsettled;
      expect([await charged(), unsettledBefore]).to.deep.equal([2n * EACH, 2n * EACH]);
      const outcomes: string[] = [];
      ledger.onTakeBack = (e) => outcomes.push(e.outcome);
      // The database away at first: meanwhile this ledger's next batch leaves the charge being taken back alone.
      f.next = ["down", "down", "down"];
      for (const id of [open, "undelivered-held", batched]) ledger.releaseUndelivered(id);
      await new Promise((r) => setTimeout(r, 20));
      const next = await ledger.createBatch(10_000, (rows) => ({ batchId: `0xundelivered-next-${kind}-${rows.length}`, usageRoot: "0x02" }), T0 + 4);
      expect(next, "nothing else waits for a batch").to.equal(undefined);
      expect((await base.request(open))?.batchId).to.equal(null);
      await drained(ledger);
      expect(outcomes.filter((o) => o === "taken_back").length).to.equal(1);
      const rows = await Promise.all([open, "undelivered-held", batched].map((id) => base.request(id)));
      expect(rows.map((r) => [r?.status, r?.charge, r?.ending])).to.deep.equal([
        ["released", 0n, "ledger_error"],
        ["released", 0n, "ledger_error"],
        ["charged", EACH, "ok"],
      ]);
      const s = (await base.holderState(holderOf(a)))!;
      expect([s.openHolds, s.unsettled, await charged()], "only the batched charge is owed").to.deep.equal([0n, EACH, EACH]);
      expect(BigInt((await day()) as bigint | string), "the day's credits count the batched charge alone").to.equal(BigInt(dayBefore as bigint | string) - 3n * EACH + EACH);
    });

    it("records no batch whose rows began to be taken back while it was built; the next one goes without them", async () => {
      const a = await account(2n);
      const ledger = new LedgerClass(base.db);
      const build = (rows: unknown[], v: bigint) => ({ batchId: `0xbuilt-${kind}-${v}-${rows.length}-${Math.random()}`, usageRoot: "0x04" });
      while (await ledger.createBatch(10_000, build, T0 + 5)); // what earlier cases left waiting
      for (const id of ["built-kept", "built-taken"]) {
        await ledger.hold(params(a, id));
        await ledger.settleRequest(id, { tokensIn: 20, tokensOut: 30, amount: EACH, ending: "ok" }, T0 + 6);
      }
      const during = await ledger.createBatch(
        10_000,
        (rows, v) => {
          ledger.releaseUndelivered("built-taken");
          return build(rows, v);
        },
        T0 + 7,
      );
      expect(during, "not recorded (and not an error)").to.equal(undefined);
      await drained(ledger);
      const next = (await ledger.createBatch(10_000, build, T0 + 8))!;
      expect(next.records).to.equal(1);
      expect([(await base.request("built-kept"))?.batchId, (await base.request("built-taken"))?.status]).to.deep.equal([next.batchId, "released"]);
    });

    it(`puts at most ${SETTLE_USAGE_MAX_CHARGES} authorizations in a batch (a charge each on-chain, under MAX_BATCH and one transaction's gas); the rest wait for the next`, async () => {
      const ledger = new LedgerClass(base.db);
      const build = (rows: unknown[], v: bigint) => ({ batchId: `0xcap-${kind}-${v}-${rows.length}-${Math.random()}`, usageRoot: "0x03" });
      while (await ledger.createBatch(10_000, build, T0 + 5)); // what earlier cases left waiting
      const many = [];
      for (let n = 0; n < SETTLE_USAGE_MAX_CHARGES + 5; n++) many.push(await account(1n));
      for (const a of many) {
        await ledger.hold(params(a, `cap-${a}`));
        await ledger.settleRequest(`cap-${a}`, { tokensIn: 20, tokensOut: 30, amount: EACH, ending: "ok" }, T0 + 6);
      }
      const first = (await ledger.createBatch(10_000, build, T0 + 7))!;
      const second = (await ledger.createBatch(10_000, build, T0 + 7))!;
      expect([first.charges.length, first.records, second.charges.length, second.records]).to.deep.equal([SETTLE_USAGE_MAX_CHARGES, SETTLE_USAGE_MAX_CHARGES, 5, 5]);
      expect(await ledger.createBatch(10_000, build, T0 + 8)).to.equal(undefined);
    });

    it("releases nothing in the background for a refusal, which is the ledger's answer (short of credit: 402)", async () => {
      const a = await account(1n);
      const { driver } = unreliable(base.db);
      const ledger = new LedgerClass(driver);
      const dear = quoteFor({ ...BOOK, models: new Map([["m", { inputPerMTok: 10n ** 15n, outputPerMTok: 10n ** 15n, requestCharge: 10n ** 12n }]]) }, "m", "normal")!;
      expect((await refused(ledger.hold(params(a, "refused", { quote: dear })))).status).to.equal(402);
      expect(ledger.releasingInBackground()).to.equal(false);
      expect(await base.request("refused")).to.equal(undefined);
    });

    it("releases this replica's old holds that no request of this process holds, and no other", async () => {
      const a = await account(2n);
      const other = new LedgerClass(base.db);
      await base.hold(params(a, "held-by-base"));
      // Another process (no request of it holds it), holds older than T0 + 1 minute: released.
      expect(await other.releaseOrphans("r1", T0 + 60_000, T0 + 60_000)).to.equal(1);
      expect((await base.request("held-by-base"))?.status).to.equal("released");
      // This process still runs its request: left alone; so are younger holds and other replicas'.
      await base.hold(params(a, "still-running"));
      expect(await base.releaseOrphans("r1", T0 + 60_000, T0 + 60_000)).to.equal(0);
      expect(await other.releaseOrphans("r1", T0, T0 + 60_000)).to.equal(0);
      expect(await other.releaseOrphans("r2", T0 + 60_000, T0 + 60_000)).to.equal(0);
      expect(await openHolds(a)).to.equal(EACH);
      await base.settleRequest("still-running", { tokensIn: 0, tokensOut: 0, amount: 0n, ending: "ok" }, T0 + 2);
      expect(await openHolds(a)).to.equal(0n);
    });

    it("stops the background retries at close", async () => {
      const a = await account(1n);
      const { driver, f } = unreliable(base.db);
      const ledger = new LedgerClass(driver);
      f.next = ["down", ...Array<Fault>(20).fill("down")];
      await refused(ledger.hold(params(a, "closed-meanwhile")));
      expect(ledger.releasingInBackground()).to.equal(true);
      const calls = f.calls;
      await ledger.close();
      expect(ledger.releasingInBackground()).to.equal(false);
      await new Promise((r) => setTimeout(r, 600));
      expect(f.calls, "no attempt after close").to.equal(calls);
    });

    // Grouped statements are PostgreSQL's (SQLite's transactions share one commit in its own process).
    if (kind === "postgres")
      it("takes a grouped statement's holds and charges that committed before their reply was lost, once each", async () => {
        // Three holders whose balances afford one request each: a phantom hold would refuse the second.
        const three = [await account(1n), await account(1n), await account(1n)];
        const { driver, f } = unreliable(base.db);
        const ledger = new LedgerClass(driver);
        const before = ledger.groupStats().holds;
        f.next = ["lost"];
        const held = await Promise.all(three.map((a) => ledger.hold(params(a, `grouped-${a}`))));
        const after = ledger.groupStats().holds;
        expect([after.batches - before.batches, after.items - before.items], "the three in one grouped statement").to.deep.equal([1, 3]);
        // Each the hold its group's statement committed.
        for (const h of held) {
          const row = (await base.request(h.requestId))!;
          expect([row.status, row.hold, row.outputTokens]).to.deep.equal(["held", h.amount, h.outputTokens]);
        }
        expect(held.map((h) => h.amount)).to.deep.equal([EACH, EACH, EACH]);
        for (const a of three) expect(await openHolds(a)).to.equal(EACH);
        f.next = ["lost"];
        const charged = await Promise.all(three.map((a) => ledger.settleRequest(`grouped-${a}`, { tokensIn: 20, tokensOut: 30, amount: EACH, ending: "ok" }, T0 + 2)));
        expect(charged, "each request's charge, as its grouped statement made it").to.deep.equal([{ charge: EACH }, { charge: EACH }, { charge: EACH }]);
        for (const a of three) {
          const s = (await base.holderState(holderOf(a)))!;
          expect([s.openHolds, s.unsettled]).to.deep.equal([0n, EACH]);
        }
        expect(ledger.releasingInBackground()).to.equal(false);
      });

    if (kind === "postgres")
      it("releases the hold of a grouped statement that commits after its requests were run again alone, when it makes one of them refused", async () => {
        const three = [await account(1n), await account(1n), await account(1n)];
        const { driver, f } = unreliable(base.db);
        const ledger = new LedgerClass(driver);
        // The group's statement fails at once and commits 300 ms later; the first request's look-up
        // finds nothing, its own statement waits (on the lock) until then and finds its credit held.
        f.next = ["late", "ok", "wait"];
        const results = await Promise.allSettled(three.map((a) => ledger.hold(params(a, `late-group-${a}`))));
        expect(results.map((r) => r.status)).to.deep.equal(["rejected", "fulfilled", "fulfilled"]);
        expect(((results[0] as PromiseRejectedResult).reason as { status?: number }).status, "short of credit: its own hold").to.equal(402);
        expect(
          (await Promise.allSettled(f.late)).map((r) => r.status),
          "the group's statement committed",
        ).to.deep.equal(["fulfilled"]);
        await drained(ledger);
        const row = await base.request(`late-group-${three[0]}`);
        expect([row?.status, row?.ending], "its hold released").to.deep.equal(["released", "ledger_error"]);
        expect(await Promise.all(three.map(openHolds))).to.deep.equal([0n, EACH, EACH]);
        for (const a of three.slice(1)) await ledger.settleRequest(`late-group-${a}`, { tokensIn: 0, tokensOut: 0, amount: 0n, ending: "ok" }, T0 + 2);
      });
  });
}
