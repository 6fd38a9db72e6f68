/**
 * When the settler looks at the charges waiting for a batch. The look counts them, and its cost
 * grows with how many wait, so it is made only when a batch may be due: the oldest charge seen has
 * waited the interval, this ledger alone has made enough charges since to fill a batch, a charge
 * came after a look that found none, or two seconds have passed (the charges of other replicas).
 * A real ledger (SQLite and PostgreSQL) and a clock the test moves; a due batch is asked for but
 * not built (building and sending batches is tested end to end elsewhere).
 */
import { expect } from "chai";
import { pino } from "pino";
import type { Ledger } from "../../gateway/ledger/ledger.js";
import { Settler, type SettlerDeps } from "../../gateway/settle/settler.js";
import { DATABASE_KINDS, type TestDatabase, available, createTestDatabase } from "./support/databases.js";
import { QUOTE, T0, addTestAccount, holdParams } from "./support/ledgerTerms.js";

const EACH = QUOTE.cost(20, 30);
const account = { holder: `0x${"5e".padStart(40, "0")}`, authId: "auth-looks" };

for (const kind of DATABASE_KINDS) {
  describe(`gateway settler on ${kind}: when it looks at the charges waiting`, () => {
    const dbs: TestDatabase[] = [];
    let now = T0;
    let seq = 0;

    /**
     * A fresh database with the account, this replica's ledger and another's, and a settler of this
     * one at the test's clock. `looks` counts its looks; `asked` the batches it found due.
     */
    async function setup(settlement: { intervalMs: number; maxCharges: number }) {
      const db = await createTestDatabase(kind);
      dbs.push(db);
      const ledger = await db.open();
      const other = await db.open();
      await addTestAccount(ledger, { ...account, balance: EACH * 100n, cap: EACH * 100n });
      const s = { looks: 0, asked: 0 };
      const unbatched = ledger.unbatched.bind(ledger);
      ledger.unbatched = () => {
        s.looks++;
        return unbatched();
      };
      ledger.createBatch = async () => {
        s.asked++;
        return undefined;
      };
      const settler = new Settler({ ledger, ...settlement, replica: `r-${dbs.length}`, log: pino({ level: "silent" }), now: () => now } as Partial<SettlerDeps> as SettlerDeps);
      /** The settler's round, as its loop runs it: how many looks it made. */
      const round = async () => {
        const before = s.looks;
        await settler.settleDue();
        return s.looks - before;
      };
      /** One charged request, by this replica's ledger or the other's. */
      const charge = async (by: Ledger = ledger) => {
        const id = `looks-${kind}-${seq++}`;
        await by.hold(holdParams(account, id, { now }));
        expect(await by.settleRequest(id, { tokensIn: 20, tokensOut: 30, amount: EACH, ending: "ok" }, now)).to.deep.equal({ charge: EACH });
      };
      return { s, round, charge, other };
    }

    before(function () {
      if (!available(kind)) this.skip();
    });
    after(async () => {
      for (const db of dbs) await db.drop();
    });

    it("looks when nothing was seen, then only after a charge; sees another replica's charges at the look 2 s on", async () => {
      const { s, round, charge, other } = await setup({ intervalMs: 60_000, maxCharges: 3 });
      expect(await round(), "nothing seen yet").to.equal(1);
      now += 250;
      expect(await round(), "none waited, no charge since").to.equal(0);
      await charge();
      now += 250;
      expect(await round(), "a charge after a look that found none").to.equal(1);
      const lookedAt = now;
      // One waits; a second makes two of three: no look, round after round.
      await charge();
      for (let i = 0; i < 7; i++) {
        now += 250;
        expect(await round()).to.equal(0);
      }
      // Another replica's charge makes three, unseen here until the look 2 s after the last.
      await charge(other);
      now = lookedAt + 2_000;
      expect(await round(), "2 s after the last look").to.equal(1);
      expect(s.asked, "three waiting: a batch is due").to.equal(1);
    });

    it("looks as soon as this ledger's charges since would fill a batch", async () => {
      const { s, round, charge } = await setup({ intervalMs: 60_000, maxCharges: 5 });
      expect(await round()).to.equal(1);
      await charge();
      expect(await round()).to.equal(1);
      now += 600;
      expect(await round(), "one of five waits").to.equal(0);
      for (let i = 0; i < 3; i++) await charge();
      expect(await round(), "four of five").to.equal(0);
      expect(s.asked).to.equal(0);
      await charge();
      expect(await round(), "five: a batch's worth").to.equal(1);
      expect(s.asked).to.equal(1);
    });

    it("looks once the oldest charge seen has waited the interval, 2 s after the last look, and after the clock was set back", async () => {
      const { s, round, charge } = await setup({ intervalMs: 3_000, maxCharges: 100 });
      expect(await round()).to.equal(1);
      const oldest = now;
      await charge();
      now += 250;
      expect(await round(), "a charge after a look that found none").to.equal(1);
      const lookedAt = now;
      now = lookedAt + 1_750;
      expect(await round()).to.equal(0);
      now = lookedAt + 2_000;
      expect(await round(), "2 s after the last look").to.equal(1);
      expect(s.asked, "one charge, 2.25 s old: not due").to.equal(0);
      now = oldest + 2_750;
      expect(await round()).to.equal(0);
      now = oldest + 3_000;
      expect(await round(), "the oldest has waited the interval, 750 ms after the last look").to.equal(1);
      expect(s.asked).to.equal(1);
      // No batch was built (asked only). The clock set back 10 s: looked at again, not left for 10 s.
      now -= 10_000;
      expect(await round(), "the clock set back").to.equal(1);
    });
  });
}
