/**
 * A hold whose statement failed without an answer — the commit done, its reply lost with the
 * connection — may stand in the ledger while the request is refused. The ledger releases it in the
 * background once the database answers again (a no-op when nothing was committed), so the holder's
 * credits are not held until a restart; so is a release the database did not answer. On both
 * databases, with a driver that loses replies around the real one.
 */
import { expect } from "chai";
import type { HoldParams, Ledger } from "../../gateway/ledger/ledger.js";
import { Ledger as LedgerClass } from "../../gateway/ledger/ledger.js";
import type { SqlDriver } from "../../gateway/ledger/sql.js";
import { quoteFor } from "../../gateway/metering/quote.js";
import { DATABASE_KINDS, type TestDatabase, available, createTestDatabase } from "./support/databases.js";
import { BOOK, LIMITS, T0 } from "./support/ledgerTerms.js";

const quote = quoteFor(BOOK, "m", "normal")!;
const HOLDER = `0x${"ab".repeat(20)}`;
const AUTH = "auth-in-doubt";

/**
 * The real driver, but its next calls fail as `f.next` says, in order: "lost" runs and then loses
 * the reply, "down" fails before running; the calls after them run.
 */
function unreliable(real: SqlDriver) {
  const f = { next: [] as ("lost" | "down")[], calls: 0 };
  const around = async <T>(run: () => Promise<T>): Promise<T> => {
    f.calls++;
    const fault = f.next.shift();
    if (fault === "down") throw new Error("connect ECONNREFUSED 127.0.0.1:5432");
    const r = await run();
    if (fault === "lost") throw new Error("Connection terminated unexpectedly");
    return r;
  };
  const driver: SqlDriver = {
    kind: real.kind,
    forUpdate: real.forUpdate,
    transaction: (fn, o) => around(() => real.transaction(fn, o)),
    statement: (sql, p, o) => around(() => real.statement(sql, p, o)),
    exec: (sql) => real.exec(sql),
    close: async () => undefined,
  };
  return { driver, f };
}

const params = (requestId: string, over: Partial<HoldParams> = {}): HoldParams => ({
  requestId,
  keyId: "k1",
  authId: AUTH,
  model: "m",
  tier: "normal",
  inputTokens: 20,
  maxTokens: 30,
  modelMaxTokens: 64,
  quote,
  limits: LIMITS,
  replica: "r1",
  now: T0 + 1,
  key: { holder: HOLDER, nonce: 1n, expiresAt: BigInt(T0 / 1000 + 86_400), models: [] },
  ...over,
});

async function drained(ledger: Ledger): Promise<void> {
  for (let i = 0; ledger.inDoubt.size > 0; i++) {
    if (i > 200) throw new Error(`holds still in doubt: ${[...ledger.inDoubt].join(", ")}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

for (const kind of DATABASE_KINDS) {
  describe(`gateway ledger on ${kind}: a hold whose statement lost its answer`, function () {
    let db: TestDatabase;
    let base: Ledger;
    before(async function () {
      if (!available(kind)) return this.skip();
      db = await createTestDatabase(kind);
      base = await db.open();
      const balance = quote.cost(20, 30) * 3n;
      await base.addAuthorization(
        {
          authId: AUTH,
          holder: HOLDER,
          nonce: 1n,
          cap: balance * 10n,
          expiresAt: BigInt(T0 / 1000 + 86_400),
          models: [],
          signature: "0x",
          document: "{}",
          charged: 0n,
          activated: false,
        },
        balance,
        T0,
      );
    });
    after(async () => db?.drop());

    it("is released once the database answers again, and the holder's credits are whole again", async () => {
      const { driver, f } = unreliable(base.db);
      const ledger = new LedgerClass(driver);
      const balance = (await base.holderState(HOLDER))!.balance;
      // Committed, then the reply lost; the release's first two attempts find the database away.
      f.next = ["lost", "down", "down"];
      const calls = f.calls;
      await ledger.hold(params("lost-reply")).then(
        () => expect.fail("the hold's reply was lost: the request is refused"),
        (e: Error) => expect(e.message).to.equal("Connection terminated unexpectedly"),
      );
      expect(ledger.inDoubt.has("lost-reply")).to.equal(true);
      await drained(ledger);
      expect(f.calls - calls, "the hold, two refused attempts, the release").to.equal(4);
      const row = await base.request("lost-reply");
      expect([row?.status, row?.ending, row?.charge]).to.deep.equal(["released", "ledger_error", 0n]);
      expect((await base.holderState(HOLDER))!.openHolds).to.equal(0n);
      // Not locked out: the balance affords three such requests, and all three are held again in full.
      const again = [];
      for (const id of ["next-1", "next-2", "next-3"]) again.push(await ledger.hold(params(id)));
      expect(again.map((h) => h.amount)).to.deep.equal([1, 2, 3].map(() => balance / 3n));
      for (const h of again) await base.settleRequest(h.requestId, { tokensIn: 0, tokensOut: 0, amount: 0n, ending: "ok" }, T0 + 2);
    });

    it("tries a release the database did not answer again until it lands", async () => {
      const { driver, f } = unreliable(base.db);
      const ledger = new LedgerClass(driver);
      await ledger.hold(params("release-later"));
      expect((await base.holderState(HOLDER))!.openHolds).to.equal(quote.cost(20, 30));
      f.next = ["down", "down"];
      await ledger.settleRequest("release-later", { tokensIn: 0, tokensOut: 0, amount: 0n, ending: "upstream_error" }, T0 + 2).then(
        () => expect.fail("the database was away"),
        (e: Error) => expect(e.message).to.match(/ECONNREFUSED/),
      );
      expect(ledger.inDoubt.has("release-later")).to.equal(true);
      await drained(ledger);
      const row = await base.request("release-later");
      expect([row?.status, row?.ending]).to.deep.equal(["released", "ledger_error"]);
      expect((await base.holderState(HOLDER))!.openHolds).to.equal(0n);
    });

    it("does not retry a charge the database did not answer (the request's own release follows it)", async () => {
      const { driver, f } = unreliable(base.db);
      const ledger = new LedgerClass(driver);
      await ledger.hold(params("charge-down"));
      f.next = ["down"];
      await ledger.settleRequest("charge-down", { tokensIn: 20, tokensOut: 30, amount: quote.cost(20, 30), ending: "ok" }, T0 + 2).then(
        () => expect.fail("the database was away"),
        (e: Error) => expect(e.message).to.match(/ECONNREFUSED/),
      );
      expect(ledger.inDoubt.size).to.equal(0);
      expect((await base.request("charge-down"))?.status).to.equal("held");
      await ledger.settleRequest("charge-down", { tokensIn: 0, tokensOut: 0, amount: 0n, ending: "upstream_error" }, T0 + 3);
      expect((await base.holderState(HOLDER))!.openHolds).to.equal(0n);
    });

    it("releases nothing when the statement failed before it ran (no hold was committed)", async () => {
      const { driver, f } = unreliable(base.db);
      const ledger = new LedgerClass(driver);
      f.next = ["down"];
      await ledger.hold(params("never-held")).then(
        () => expect.fail("the database was away"),
        (e: Error) => expect(e.message).to.match(/ECONNREFUSED/),
      );
      await drained(ledger);
      expect(await base.request("never-held")).to.equal(undefined);
      expect((await base.holderState(HOLDER))!.openHolds).to.equal(0n);
    });

    it("releases nothing for a refusal, which is the ledger's answer (short of credit: 402)", async () => {
      const { driver } = unreliable(base.db);
      const ledger = new LedgerClass(driver);
      const huge = quoteFor({ ...BOOK, models: new Map([["m", { inputPerMTok: 10n ** 15n, outputPerMTok: 10n ** 15n, requestCharge: 10n ** 12n }]]) }, "m", "normal")!;
      await ledger.hold(params("refused", { quote: huge })).then(
        () => expect.fail("short of credit"),
        (e: { status?: number }) => expect(e.status).to.equal(402),
      );
      expect(ledger.inDoubt.size).to.equal(0);
    });
  });
}
