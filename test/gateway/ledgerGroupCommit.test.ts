/**
 * The PostgreSQL ledger's grouped statements: concurrent holds go in one statement (one request
 * per holder each), concurrent endings in another (summed per holder and per authorization). The
 * ledger's totals must equal the sums of its request rows exactly, whatever went in which
 * statement; every statement locks holders in ascending order, then authorizations; a statement
 * that fails applies nothing, and each of its requests is tried again alone.
 */
import { expect } from "chai";
import { GatewayError } from "../../gateway/errors.js";
import type { Ledger } from "../../gateway/ledger/ledger.js";
import { type TestDatabase, available, createTestDatabase, lockHolderRow } from "./support/databases.js";
import { QUOTE as quote, T0, type TestAccount, addTestAccount, holdParams } from "./support/ledgerTerms.js";

/** A full request's hold (20 tokens in, 30 out). */
const EACH = quote.cost(20, 30);

const holderOf = (i: number) => `0x${(0xa0 + i).toString(16).padStart(40, "0")}`;

type Account = TestAccount;
const addAccount = addTestAccount;

/** Every holder's and authorization's totals, and the sums of the request rows they must equal. */
async function totals(ledger: Ledger) {
  return ledger.db.transaction(async (tx) => {
    const holders = await tx.all(
      `SELECT g.holder, g.open_holds, g.unsettled, g.minute_requests, g.minute_tokens, g.day_credits,
         COALESCE(SUM(r.hold) FILTER (WHERE r.status = 'held'), 0) AS held,
         COALESCE(SUM(r.charge) FILTER (WHERE r.status = 'charged'), 0) AS charged,
         COUNT(r.request_id) AS requests,
         COALESCE(SUM(r.input_bound + r.max_output), 0) AS tokens,
         COALESCE(SUM(CASE WHEN r.status = 'held' THEN r.hold ELSE r.charge END), 0) AS day
       FROM gw_holders g LEFT JOIN gw_requests r ON r.holder = g.holder GROUP BY g.holder ORDER BY g.holder`,
    );
    const auths = await tx.all(
      `SELECT a.auth_id, a.open_holds, a.charged,
         COALESCE(SUM(r.hold) FILTER (WHERE r.status = 'held'), 0) AS held,
         COALESCE(SUM(r.charge) FILTER (WHERE r.status = 'charged'), 0) AS charged_rows
       FROM gw_authorizations a LEFT JOIN gw_requests r ON r.auth_id = a.auth_id GROUP BY a.auth_id ORDER BY a.auth_id`,
    );
    return {
      holders: holders.map((h) => ({
        holder: String(h.holder),
        ledger: [h.open_holds, h.unsettled, h.minute_requests, h.minute_tokens, h.day_credits].map(String),
        rows: [h.held, h.charged, h.requests, h.tokens, h.day].map(String),
      })),
      auths: auths.map((a) => ({ authId: String(a.auth_id), ledger: [a.open_holds, a.charged].map(String), rows: [a.held, a.charged_rows].map(String) })),
    };
  });
}

async function expectTotalsAgree(ledger: Ledger): Promise<void> {
  const t = await totals(ledger);
  for (const h of t.holders) expect(h.ledger, `holder ${h.holder}: open holds, unsettled, minute requests, minute tokens, day credits`).to.deep.equal(h.rows);
  for (const a of t.auths) expect(a.ledger, `authorization ${a.authId}: open holds, charged`).to.deep.equal(a.rows);
}

describe("gateway ledger on postgres: holds and charges grouped across concurrent requests", function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let ledger: Ledger;

  before(function () {
    if (!available("postgres")) this.skip();
  });
  beforeEach(async () => {
    db = await createTestDatabase("postgres");
    ledger = await db.open();
  });
  afterEach(async () => {
    await db?.drop();
  });

  it("keeps every holder's and authorization's totals equal to the sums of its request rows, and refuses the ones short of credit with the reason", async () => {
    const second = await db.open();
    // Rich holders (several requests each), holders whose balance affords 2 full requests and a
    // shorter third, and holders whose authorization's cap does.
    const accounts: (Account & { requests: number; short?: "balance" | "cap" })[] = [];
    for (let i = 0; i < 12; i++) {
      const short = i % 3 === 1 ? "balance" : i % 3 === 2 ? "cap" : undefined;
      accounts.push({
        holder: holderOf(i),
        authId: `0xa${i.toString().padStart(2, "0")}`,
        balance: short === "balance" ? EACH * 3n - 10n : 10n ** 12n,
        cap: short === "cap" ? EACH * 3n - 10n : 10n ** 12n,
        requests: 3 + (i % 4),
        short,
      });
    }
    for (const a of accounts) await addAccount(ledger, a);
    // Every request at once, alternating between two replicas, interleaved across holders.
    const requests: { a: (typeof accounts)[number]; id: string }[] = [];
    for (let k = 0; k < 6; k++) for (const a of accounts) if (k < a.requests) requests.push({ a, id: `r-${a.authId}-${k}` });
    const held = await Promise.allSettled(requests.map(({ a, id }, i) => (i % 2 ? second : ledger).hold(holdParams(a, id))));
    for (const a of accounts) {
      const mine = requests.map((r, i) => ({ ...r, result: held[i] })).filter((r) => r.a === a);
      const ok = mine.filter((r) => r.result.status === "fulfilled").map((r) => (r.result as PromiseFulfilledResult<{ outputTokens: number }>).value);
      const refused = mine.filter((r) => r.result.status === "rejected").map((r) => (r.result as PromiseRejectedResult).reason as GatewayError);
      if (!a.short) {
        expect(
          ok.map((h) => h.outputTokens),
          a.holder,
        ).to.deep.equal(mine.map(() => 30));
        continue;
      }
      // Two full holds, one cut to the third that is left (the full transaction's fallback), the rest refused.
      expect(ok.filter((h) => h.outputTokens === 30).length, a.holder).to.equal(2);
      expect(ok.filter((h) => h.outputTokens < 30).length, a.holder).to.equal(1);
      expect(refused.length, a.holder).to.equal(a.requests - 3);
      for (const e of refused) {
        expect(e).to.be.instanceOf(GatewayError);
        expect([e.status, e.code]).to.deep.equal([402, a.short === "balance" ? "insufficient_credits" : "authorization_cap_reached"]);
      }
    }
    await expectTotalsAgree(ledger);
    const holdStats = [ledger.groupStats().holds, second.groupStats().holds];
    // Grouped: fewer statements than holds, and each holder's requests in different statements.
    const statements = holdStats.reduce((s, x) => s + x.batches, 0);
    expect(statements).to.be.lessThan(requests.length);
    expect(statements).to.be.at.least(3);

    // Every ending at once: charges (some above the hold: clamped), releases, several of one holder in a statement.
    const ids = requests.filter((_, i) => held[i].status === "fulfilled");
    const settled = await Promise.all(
      ids.map(({ id }, i) =>
        (i % 2 ? second : ledger).settleRequest(
          id,
          i % 5 === 0
            ? { tokensIn: 0, tokensOut: 0, amount: 0n, ending: "upstream_error" }
            : { tokensIn: 20, tokensOut: i % 30, amount: i % 7 === 0 ? EACH * 5n : quote.cost(20, i % 30), ending: "ok" },
          T0 + 100 + i,
        ),
      ),
    );
    expect(settled.every((s) => s !== undefined)).to.equal(true);
    const settleStats = [ledger.groupStats().settles, second.groupStats().settles];
    expect(
      settleStats.reduce((s, x) => s + x.batches, 0),
      "endings grouped",
    ).to.be.lessThan(ids.length / 4);
    await expectTotalsAgree(ledger);
    const t = await totals(ledger);
    expect(t.holders.every((h) => h.ledger[0] === "0")).to.equal(true);
    expect(t.holders.some((h) => h.ledger[1] !== "0")).to.equal(true);
    // Ending them again changes nothing (none is held any more).
    expect(await Promise.all(ids.slice(0, 5).map(({ id }) => ledger.settleRequest(id, { tokensIn: 1, tokensOut: 1, amount: 1n, ending: "ok" }, T0 + 999)))).to.deep.equal([
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    expect(await totals(ledger)).to.deep.equal(t);
  });

  it("keeps a holder's next holds out of the grouped statement while its full transaction holds its row", async () => {
    const short: Account = { holder: holderOf(1), authId: "0xa1", balance: EACH * 2n - 10n, cap: 10n ** 12n };
    const rich: Account = { holder: holderOf(2), authId: "0xa2", balance: 10n ** 12n, cap: 10n ** 12n };
    await addAccount(ledger, short);
    await addAccount(ledger, rich);
    await ledger.hold(holdParams(short, "s0"));
    // The full transaction (the fallback of a hold that does not fit) holds the row 400 ms after reading it.
    const d = ledger.db;
    const transaction = d.transaction.bind(d);
    d.transaction = ((fn, options) =>
      transaction(async (tx) => {
        const one = tx.one;
        tx.one = async (sql, params) => {
          const row = await one(sql, params);
          if (/FOR UPDATE/.test(sql)) await new Promise((r) => setTimeout(r, 400));
          return row;
        };
        return fn(tx);
      }, options)) as typeof d.transaction;
    const started = performance.now();
    const cut = ledger.hold(holdParams(short, "s1"));
    // Once the fallback holds the short holder's row: its next request, and another holder's.
    await new Promise((r) => setTimeout(r, 100));
    const next = ledger.hold(holdParams(short, "s2")).catch((e: GatewayError) => e);
    const other = await ledger.hold(holdParams(rich, "r1"));
    const otherMs = performance.now() - started;
    expect(other.outputTokens).to.equal(30);
    expect(otherMs, "the other holder's hold does not wait for the fallback").to.be.lessThan(350);
    expect((await cut).outputTokens).to.be.lessThan(30);
    const refused = await next;
    expect([(refused as GatewayError).status, (refused as GatewayError).code]).to.deep.equal([402, "insufficient_credits"]);
    expect(performance.now() - started).to.be.at.least(400);
    d.transaction = transaction;
    await expectTotalsAgree(ledger);
  });

  /** The backend of the connection holding the middle holder's row. */
  let blocker = 0;

  /** Three holders whose rows lie in the table out of their address order, the middle one locked by another connection. */
  async function lockedMiddle() {
    const accounts = [2, 0, 1].map((i) => ({ holder: holderOf(i), authId: `0xa${i}`, balance: 10n ** 12n, cap: 10n ** 12n }));
    for (const a of accounts) await addAccount(ledger, a);
    const [c, a, b] = accounts;
    const lock = await lockHolderRow(db, b.holder);
    blocker = lock.pid;
    const probe = await db.open();
    /** Whether another transaction holds this row's lock (NOWAIT: fails at once if so). */
    const isRowLocked = async (table: string, column: string, id: string) => {
      try {
        await probe.db.transaction((tx) => tx.one(`SELECT 1 FROM ${table} WHERE ${column} = $1 FOR UPDATE NOWAIT`, [id]));
        return false;
      } catch (err) {
        if ((err as { code?: string }).code === "55P03") return true;
        throw err;
      }
    };
    /** Which rows the statement waiting on the middle holder has locked: [holders a, c], [auths a, b, c]. */
    const lockedRows = async () => {
      // Wait until a statement of the ledger waits on the middle holder's lock.
      for (let i = 0; i < 100; i++) {
        const w = await probe.db.transaction((tx) => tx.one("SELECT COUNT(*) AS n FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))", [blocker]));
        if (Number(w?.n) > 0) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      return {
        holders: [await isRowLocked("gw_holders", "holder", a.holder), await isRowLocked("gw_holders", "holder", c.holder)],
        auths: [
          await isRowLocked("gw_authorizations", "auth_id", a.authId),
          await isRowLocked("gw_authorizations", "auth_id", b.authId),
          await isRowLocked("gw_authorizations", "auth_id", c.authId),
        ],
      };
    };
    return { accounts, a, b, c, release: lock.release, lockedRows, probe };
  }

  it("locks holders in ascending order, then authorizations, in every statement that locks several", async () => {
    const { accounts, a, b, c, release, lockedRows } = await lockedMiddle();
    const ascending = { holders: [true, false], auths: [false, false, false] };
    /** Runs `op` while the middle holder's row is locked (`release` unlocks it): the rows it locked meanwhile are the ascending ones. */
    const inOrder = async <T>(label: string, release: () => Promise<void>, op: () => Promise<T>): Promise<T> => {
      const running = op();
      try {
        expect(await lockedRows(), label).to.deep.equal(ascending);
      } finally {
        await release();
      }
      return running;
    };
    // Grouped holds (asked in the rows' order, c a b).
    await inOrder("grouped holds", release, () => Promise.all(accounts.map((x) => ledger.hold(holdParams(x, `h-${x.authId}`)))));
    expect(ledger.groupStats().holds).to.deep.equal({ batches: 1, items: 3, overlapped: 0 });

    // Grouped endings.
    await inOrder("grouped endings", await lockedMiddleAgain(b.holder), () =>
      Promise.all(accounts.map((x) => ledger.settleRequest(`h-${x.authId}`, { tokensIn: 20, tokensOut: 10, amount: quote.cost(20, 10), ending: "ok" }, T0 + 50))),
    );
    expect(ledger.groupStats().settles).to.deep.equal({ batches: 1, items: 3, overlapped: 0 });
    await expectTotalsAgree(ledger);

    // A landed batch applied.
    const batch = (await ledger.createBatch(100, (rows, v) => ({ batchId: `batch-${v}`, usageRoot: `root-${rows.length}` }), T0 + 60))!;
    const finished = await inOrder("a landed batch", await lockedMiddleAgain(b.holder), () =>
      ledger.finishBatch(batch.batchId, new Map(batch.charges.map((x) => [x.authId, BigInt(x.amount)])), "0xtx", T0 + 70),
    );
    expect(finished).to.equal(true);

    // A balance refresh that changes all three.
    const epoch = await ledger.settledEpoch();
    const refreshed = await inOrder("a balance refresh", await lockedMiddleAgain(b.holder), () =>
      ledger.setBalances(new Map(accounts.map((x) => [x.holder, 10n ** 12n + 1n])), epoch, T0 + 80),
    );
    expect(refreshed).to.equal(true);
    expect((await ledger.holderState(c.holder))!.balance).to.equal(10n ** 12n + 1n);
    expect((await ledger.holderState(a.holder))!.balance).to.equal(10n ** 12n + 1n);
  });

  /** Locks the holder's row from another connection again; resolves to its release. */
  async function lockedMiddleAgain(holder: string): Promise<() => Promise<void>> {
    const lock = await lockHolderRow(db, holder);
    blocker = lock.pid;
    return lock.release;
  }

  it("starts the next grouped holds beside a statement that waits on a lock, without the holders it has", async () => {
    const { accounts, a, release, lockedRows } = await lockedMiddle();
    const d: Account = { holder: holderOf(3), authId: "0xa3", balance: 10n ** 12n, cap: 10n ** 12n };
    await addAccount(ledger, d);
    const stalled = Promise.all(accounts.map((x) => ledger.hold(holdParams(x, `h-${x.authId}`))));
    let again: Promise<unknown> | undefined;
    try {
      await lockedRows();
      // Another holder's hold goes through while the statement waits; a holder of that statement waits with it.
      let aDone = false;
      again = ledger.hold(holdParams(a, "a-again")).then(() => {
        aDone = true;
      });
      const other = await Promise.race([ledger.hold(holdParams(d, "d-1")), new Promise<"waiting">((r) => setTimeout(() => r("waiting"), 2_000))]);
      expect(other === "waiting" ? other : other.outputTokens, "another holder's hold does not wait").to.equal(30);
      expect(aDone, "a holder of the waiting statement waits with it").to.equal(false);
    } finally {
      await release();
    }
    await stalled;
    await again;
    const stats = ledger.groupStats().holds;
    expect([stats.batches, stats.items, stats.overlapped]).to.deep.equal([3, 5, 1]);
    await expectTotalsAgree(ledger);
  });

  it("applies nothing of a statement that fails, and tries each of its requests again alone", async () => {
    const { accounts, release, lockedRows, probe } = await lockedMiddle();
    const holds = Promise.allSettled(accounts.map((x) => ledger.hold(holdParams(x, `h-${x.authId}`))));
    try {
      await lockedRows();
      // The connection of the statement waiting on the lock is cut.
      const cut = await probe.db.transaction((tx) => tx.all("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))", [blocker]));
      expect(cut.length).to.equal(1);
    } finally {
      await release();
    }
    const results = await holds;
    expect(results.map((r) => r.status)).to.deep.equal(["fulfilled", "fulfilled", "fulfilled"]);
    const t = await totals(ledger);
    expect(
      t.holders.map((h) => h.ledger[0]),
      "one hold each",
    ).to.deep.equal([EACH, EACH, EACH].map(String));
    expect(
      t.holders.map((h) => h.rows[2]),
      "one request row each",
    ).to.deep.equal(["1", "1", "1"]);
    await expectTotalsAgree(ledger);
    // The next requests go on.
    const again = await Promise.all(accounts.map((x) => ledger.hold(holdParams(x, `again-${x.authId}`))));
    expect(again.map((h) => h.outputTokens)).to.deep.equal([30, 30, 30]);
    await expectTotalsAgree(ledger);
  });
});
