/**
 * Settlement held back (PostgreSQL): a transaction left open anywhere in the server keeps every
 * charge committed after it began out of a batch (the batch takes only what no open transaction can
 * still commit below). Once due charges have waited a minute past their interval, the settler's log
 * says so, naming the transaction (its backend's pid, role and database), at most once a minute; the
 * charges go into a batch once it ends. A real PostgreSQL, a second connection holding a transaction
 * open, and a clock the test moves.
 */
import { Writable } from "node:stream";
import { expect } from "chai";
import { pino } from "pino";
import { HELD_BACK_WARN_MS, Settler, type SettlerDeps } from "../../gateway/settle/settler.js";
import { type TestDatabase, available, createTestDatabase } from "./support/databases.js";
import { QUOTE, addTestAccount, holdParams } from "./support/ledgerTerms.js";

const EACH = QUOTE.cost(20, 30);
const account = { holder: `0x${"4b".padStart(40, "0")}`, authId: "auth-held-back" };
const INTERVAL = 30_000;

describe("gateway settler on postgres: settlement held back by an open transaction", function () {
  this.timeout(30_000);
  let db: TestDatabase;

  before(function () {
    if (!available("postgres")) this.skip();
  });
  after(async () => db?.drop());

  it("says which transaction holds due charges back, once a minute while it lasts; they are batched once it ends", async () => {
    db = await createTestDatabase("postgres");
    const ledger = await db.open();
    const other = await db.open();
    // The wall clock: the open transaction's start (PostgreSQL's) is compared with the charges' times.
    let now = Date.now();
    await addTestAccount(ledger, { ...account, balance: EACH * 10n, cap: EACH * 10n, at: now });
    const logs: { msg: string; waiting?: number; openTransaction?: Record<string, unknown> }[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const line of String(chunk).split("\n").filter(Boolean)) logs.push(JSON.parse(line));
        done();
      },
    });
    // Batches found are recorded here, not sent (sending is tested end to end elsewhere).
    const made: string[] = [];
    const create = ledger.createBatch.bind(ledger);
    ledger.createBatch = async (max, _build, at) => {
      const b = await create(max, () => ({ batchId: `0xheld${made.length}`, usageRoot: "0x01" }), at);
      if (b) made.push(b.batchId);
      return undefined;
    };
    const settler = new Settler({
      ledger,
      intervalMs: INTERVAL,
      maxCharges: 100,
      replica: "r-held",
      log: pino({ level: "warn" }, sink),
      now: () => now,
    } as Partial<SettlerDeps> as SettlerDeps);
    const warnings = () => logs.filter((l) => l.msg.startsWith("settlement held back"));

    // Another session's transaction, with an id, open across the charge (in production: a session idle in a transaction).
    let pid = "";
    let end!: () => void;
    const gate = new Promise<void>((r) => {
      end = r;
    });
    let began!: () => void;
    const open = new Promise<void>((r) => {
      began = r;
    });
    const held = other.db.transaction(async (tx) => {
      pid = String((await tx.one("SELECT pg_backend_pid() AS pid, pg_current_xact_id() AS x"))!.pid);
      began();
      await gate;
    });
    await open;
    try {
      now = Date.now() + 1_000;
      await ledger.hold(holdParams(account, "held-1", { now }));
      await ledger.settleRequest("held-1", { tokensIn: 20, tokensOut: 30, amount: EACH, ending: "ok" }, now);
      const charged = now;
      // Due (the interval has passed), not taken: not yet worth a warning.
      now = charged + INTERVAL;
      await settler.settleDue();
      now = charged + INTERVAL + HELD_BACK_WARN_MS - 1;
      await settler.settleDue();
      expect(warnings(), "due for less than a minute").to.deep.equal([]);
      now = charged + INTERVAL + HELD_BACK_WARN_MS;
      await settler.settleDue();
      expect(warnings()).to.have.length(1);
      const [w] = warnings();
      expect(w.waiting).to.equal(1);
      expect(w.openTransaction).to.include({ kind: "session", id: pid });
      expect(w.msg).to.include(`session pid ${pid}`).and.include("90 s");
      // Not again within the minute; again after it.
      now += HELD_BACK_WARN_MS - 1;
      await settler.settleDue(true);
      expect(warnings()).to.have.length(1);
      now += 1;
      await settler.settleDue(true);
      expect(warnings()).to.have.length(2);
      expect(made, "nothing batched while the transaction is open").to.deep.equal([]);
    } finally {
      end();
      await held;
      await other.close();
    }
    expect((await ledger.oldestOpenTransaction())?.id, "ended").to.not.equal(pid);
    await settler.settleDue(true);
    expect(made).to.deep.equal(["0xheld0"]);
    await settler.stop();
  });
});
