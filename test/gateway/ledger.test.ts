/**
 * The ledger on SQLite and on PostgreSQL (the same cases on both): holds are atomic with every
 * check, so concurrent requests — from one process or from two replicas on one database — can
 * never hold more than a holder has; every ending converts the hold; batches are recorded once.
 */
import { expect } from "chai";
import type { GatewayError } from "../../gateway/errors.js";
import { LEASE_UNCONVERTED_PG } from "../../gateway/ledger/leases.js";
import type { HoldParams, Ledger, UsageCursor } from "../../gateway/ledger/ledger.js";
import { SQLITE_NEXT_SEQ, waitingCharge } from "../../gateway/ledger/watermark.js";
import { quoteFor } from "../../gateway/metering/quote.js";
import { chargeFor } from "../../sdk/credits/price.js";
import { DATABASE_KINDS, type TestDatabase, available, createTestDatabase, lockHolderRow } from "./support/databases.js";
import { BOOK, LIMITS, T0, refusal } from "./support/ledgerTerms.js";

const HOLDER = "0x00000000000000000000000000000000000000a1";
const OTHER = "0x00000000000000000000000000000000000000b2";

function authRecord(authId: string, holder: string, cap: bigint, nonce = 1n) {
  return { authId, holder, nonce, cap, expiresAt: BigInt(T0 / 1000 + 86_400), models: [] as string[], signature: "0x", document: "{}", charged: 0n, activated: false };
}

function holdParams(over: Partial<HoldParams> = {}): HoldParams {
  return {
    requestId: `r-${Math.random().toString(36).slice(2)}`,
    keyId: "k1",
    authId: "0xa1",
    model: "m",
    tier: "normal",
    inputTokens: 20,
    maxTokens: 30,
    modelMaxTokens: 64,
    quote: quoteFor(BOOK, "m", "normal")!,
    limits: LIMITS,
    replica: "r1",
    now: T0,
    ...over,
  };
}

describe("gateway quote: the most output tokens a budget affords", () => {
  it("is the largest count whose SDK charge fits, for every budget around the boundaries", () => {
    for (const tier of ["low", "normal", "high", "urgent"] as const) {
      const q = quoteFor(BOOK, "m", tier)!;
      for (let budget = 0n; budget < 20_000n; budget += 37n) {
        const out = q.maxOutputFor(13, budget);
        const cost = (o: number) => chargeFor({ inputTokens: 13, outputTokens: o, tier }, BOOK.models.get("m")!, BOOK.fees);
        if (out < 0) expect(cost(0) > budget, `budget ${budget}`).to.equal(true);
        else {
          expect(cost(out) <= budget, `budget ${budget}`).to.equal(true);
          expect(cost(out + 1) > budget, `budget ${budget}`).to.equal(true);
        }
      }
    }
  });
});

/**
 * The ledger as the gateway calls it: every hold with what the key says of its authorization
 * (holder, nonce, expiry, models), which lets PostgreSQL try the one-statement hold first.
 */
function withKeys(l: Ledger): Ledger {
  const known = new Map<string, NonNullable<HoldParams["key"]>>();
  const add = l.addAuthorization.bind(l);
  const hold = l.hold.bind(l);
  l.addAuthorization = async (a, balance, now) => {
    known.set(a.authId, { holder: a.holder, nonce: a.nonce, expiresAt: a.expiresAt, models: [...a.models] });
    return add(a, balance, now);
  };
  l.hold = (p) => hold({ ...p, key: p.key ?? known.get(p.authId) });
  return l;
}

// Every case on SQLite, on PostgreSQL, and on PostgreSQL with the key passed (its one-statement hold first).
for (const [kind, keyed] of [...DATABASE_KINDS.map((k) => [k, false] as const), ["postgres", true] as const]) {
  describe(`gateway ledger on ${kind}${keyed ? ", holds with the key (one statement first)" : ""}`, function () {
    this.timeout(60_000);
    let db: TestDatabase;
    let ledger: Ledger;

    before(function () {
      if (!available(kind)) this.skip();
    });
    beforeEach(async () => {
      db = await createTestDatabase(kind);
      if (keyed) {
        const open = db.open.bind(db);
        db.open = async () => withKeys(await open());
      }
      ledger = await db.open();
    });

    if (keyed)
      it("holds in one statement when every check passes as is, and falls back to the full transaction otherwise", async () => {
        await ledger.addAuthorization(authRecord("0xa1", HOLDER, 1_000_000n), 500_000n, T0);
        const calls = { statement: 0, transaction: 0 };
        const d = ledger.db;
        const statement = d.statement.bind(d);
        const transaction = d.transaction.bind(d);
        d.statement = (...a) => {
          calls.statement++;
          return statement(...a);
        };
        d.transaction = ((...a: Parameters<typeof transaction>) => {
          calls.transaction++;
          return transaction(...a);
        }) as typeof d.transaction;
        const q = quoteFor(BOOK, "m", "normal")!;
        const hold = await ledger.hold(holdParams({ requestId: "fast" }));
        expect([hold.outputTokens, hold.amount]).to.deep.equal([30, q.cost(20, 30)]);
        expect(calls).to.deep.equal({ statement: 1, transaction: 0 });
        // Not enough for the full request: the transaction cuts the output tokens to what is left.
        const left = 500_000n - hold.amount;
        const cut = await ledger.hold(holdParams({ requestId: "cut", maxTokens: 64, inputTokens: Number((left - 1_000n - 15n) * 2n) - 2 }));
        expect(calls).to.deep.equal({ statement: 2, transaction: 1 });
        expect(cut.outputTokens).to.be.lessThan(64);
        expect(cut.amount <= left).to.equal(true);
        expect((await ledger.request("fast"))!.status).to.equal("held");
      });
    afterEach(async () => {
      await db?.drop();
    });

    it("holds the worst case, charges the actual usage and releases the rest", async () => {
      await ledger.addAuthorization(authRecord("0xa1", HOLDER, 1_000_000n), 500_000n, T0);
      const q = quoteFor(BOOK, "m", "normal")!;
      const hold = await ledger.hold(holdParams({ requestId: "r1" }));
      expect(hold.outputTokens).to.equal(30);
      expect(hold.amount).to.equal(q.cost(20, 30));
      expect((await ledger.holderState(HOLDER))!.available).to.equal(500_000n - hold.amount);
      const done = await ledger.settleRequest("r1", { tokensIn: 7, tokensOut: 11, amount: q.cost(7, 11), ending: "ok" }, T0 + 5);
      expect(done!.charge).to.equal(q.cost(7, 11));
      const s = (await ledger.holderState(HOLDER))!;
      expect(s.openHolds).to.equal(0n);
      expect(s.unsettled).to.equal(q.cost(7, 11));
      expect(s.available).to.equal(500_000n - q.cost(7, 11));
      const a = (await ledger.authorizationState("0xa1"))!;
      expect(a.charged).to.equal(q.cost(7, 11));
      expect(a.openHolds).to.equal(0n);
      // A second ending of the same request changes nothing.
      expect(await ledger.settleRequest("r1", { tokensIn: 1, tokensOut: 1, amount: 5n, ending: "ok" }, T0 + 6)).to.equal(undefined);
    });

    it("never charges more than the hold and charges nothing for a release", async () => {
      await ledger.addAuthorization(authRecord("0xa1", HOLDER, 1_000_000n), 500_000n, T0);
      const hold = await ledger.hold(holdParams({ requestId: "r1" }));
      expect((await ledger.settleRequest("r1", { tokensIn: 1, tokensOut: 1, amount: hold.amount + 999n, ending: "ok" }, T0))!.charge).to.equal(hold.amount);
      await ledger.hold(holdParams({ requestId: "r2" }));
      expect((await ledger.settleRequest("r2", { tokensIn: 0, tokensOut: 0, amount: 0n, ending: "upstream_error" }, T0))!.charge).to.equal(0n);
      expect((await ledger.request("r2"))!.status).to.equal("released");
      expect((await ledger.holderState(HOLDER))!.openHolds).to.equal(0n);
    });

    it("cuts max_tokens to what the balance affords, and refuses with 402 when not even one token fits", async () => {
      const q = quoteFor(BOOK, "m", "normal")!;
      const balance = q.cost(20, 5);
      await ledger.addAuthorization(authRecord("0xa1", HOLDER, 10n ** 12n), balance, T0);
      const hold = await ledger.hold(holdParams({ requestId: "r1", maxTokens: 1000 }));
      expect(hold.outputTokens).to.equal(5);
      expect(hold.amount).to.equal(balance);
      const e = await refusal(ledger.hold(holdParams({ requestId: "r2" })));
      expect(e.status).to.equal(402);
      expect(e.code).to.equal("insufficient_credits");
      expect(e.retryAfterS, "waiting for the open hold helps").to.equal(1);
      await ledger.settleRequest("r1", { tokensIn: 20, tokensOut: 5, amount: balance, ending: "ok" }, T0);
      const e2 = await refusal(ledger.hold(holdParams({ requestId: "r3" })));
      expect(e2.status).to.equal(402);
      expect(e2.retryAfterS, "no hold to wait for").to.equal(undefined);
      expect(e2.message).to.match(/insufficient credits/);
    });

    it("holds against the authorization's cap as well as the balance", async () => {
      const q = quoteFor(BOOK, "m", "normal")!;
      await ledger.addAuthorization(authRecord("0xa1", HOLDER, q.cost(20, 3)), 10n ** 12n, T0);
      expect((await ledger.hold(holdParams({ requestId: "r1" }))).outputTokens).to.equal(3);
      const e = await refusal(ledger.hold(holdParams({ requestId: "r2" })));
      expect([e.status, e.code]).to.deep.equal([402, "authorization_cap_reached"]);
    });

    it("answers 429 with Retry-After past the requests-per-minute and credits-per-day limits", async () => {
      await ledger.addAuthorization(authRecord("0xa1", HOLDER, 10n ** 12n), 10n ** 12n, T0);
      const limits = { ...LIMITS, requestsPerMinute: 2 };
      await ledger.hold(holdParams({ limits, now: T0 + 1_000 }));
      await ledger.hold(holdParams({ limits, now: T0 + 2_000 }));
      const e = await refusal(ledger.hold(holdParams({ limits, now: T0 + 3_000 })));
      expect([e.status, e.code, e.retryAfterS]).to.deep.equal([429, "requests_per_minute", 57]);
      await ledger.hold(holdParams({ limits, now: T0 + 60_000 }));
      const q = quoteFor(BOOK, "m", "normal")!;
      const day = { ...LIMITS, creditsPerDay: q.cost(20, 30) * 5n };
      const holds = [];
      for (let i = 0; i < 2; i++) holds.push(await ledger.hold(holdParams({ limits: day, now: T0 + 61_000 })));
      const d = await refusal(ledger.hold(holdParams({ limits: day, now: T0 + 62_000, maxTokens: 64 })));
      expect([d.status, d.code]).to.deep.equal([429, "credits_per_day"]);
      expect(d.retryAfterS).to.be.greaterThan(3600);
    });

    it("refuses a revoked authorization, an offboarded holder, an expired authorization and a model not allowed", async () => {
      await ledger.addAuthorization(authRecord("0xa1", HOLDER, 10n ** 12n), 10n ** 12n, T0);
      await ledger.addAuthorization({ ...authRecord("0xb2", OTHER, 10n ** 12n), models: ["other"] }, 10n ** 12n, T0);
      const m = await refusal(ledger.hold(holdParams({ authId: "0xb2" })));
      expect([m.status, m.code]).to.deep.equal([403, "model_not_authorized"]);
      const x = await refusal(ledger.hold(holdParams({ now: T0 + 86_400_000 })));
      expect([x.status, x.code]).to.deep.equal([403, "authorization_expired"]);
      expect(await ledger.revokeAuthorization("0xa1")).to.equal(true);
      const r = await refusal(ledger.hold(holdParams()));
      expect([r.status, r.code]).to.deep.equal([403, "authorization_revoked"]);
      expect(await ledger.offboardHolder(OTHER)).to.equal(true);
      const o = await refusal(
        ledger.hold(holdParams({ authId: "0xb2", model: "other", quote: quoteFor({ ...BOOK, models: new Map([["other", BOOK.models.get("m")!]]) }, "other", "normal")! })),
      );
      expect([o.status, o.code]).to.deep.equal([403, "holder_offboarded"]);
    });

    it("lets at most what the credits afford through 200 concurrent holds, from two connections (replicas)", async () => {
      const q = quoteFor(BOOK, "m", "normal")!;
      const each = q.cost(20, 30);
      await ledger.addAuthorization(authRecord("0xa1", HOLDER, 10n ** 12n), each * 10n + each / 2n, T0);
      const second = await db.open();
      const results = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => (i % 2 ? second : ledger).hold(holdParams({ requestId: `c${i}`, maxTokens: 30 }))));
      const ok = results.filter((r) => r.status === "fulfilled") as PromiseFulfilledResult<{ amount: bigint; outputTokens: number }>[];
      const refused = results.filter((r) => r.status === "rejected") as PromiseRejectedResult[];
      const full = ok.filter((r) => r.value.outputTokens === 30);
      expect(full.length).to.equal(10);
      // The 11th may get what is left (a shorter completion); everyone else is refused with 402.
      expect(ok.length).to.be.at.most(11);
      for (const r of refused) expect((r.reason as GatewayError).status).to.equal(402);
      const held = ok.reduce((s, r) => s + r.value.amount, 0n);
      const state = (await ledger.holderState(HOLDER))!;
      expect(state.openHolds).to.equal(held);
      expect(state.available >= 0n).to.equal(true);
    });

    it("upgrades a ledger of the previous version: its full indexes of request rows dropped, the partial ones built", async () => {
      const indexes = async () =>
        (
          await ledger.db.transaction((tx) =>
            tx.all(
              kind === "postgres"
                ? "SELECT indexname AS name FROM pg_indexes WHERE tablename = 'gw_requests' AND schemaname = current_schema() AND indexname <> 'gw_requests_pkey' ORDER BY 1"
                : "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'gw_requests' AND sql IS NOT NULL ORDER BY 1",
            ),
          )
        ).map((r) => String(r.name));
      const built = ["gw_requests_batched", "gw_requests_held", "gw_requests_holder_seq", "gw_requests_seq"];
      expect((await indexes()).filter((n) => n.startsWith("gw_requests_"))).to.deep.equal(built);
      // The previous version's ledger: a batch that marked its row (old1), a charge waiting (old2),
      // no commit order, no batch ranges, no watermark.
      await ledger.addAuthorization(authRecord("0xa1", HOLDER, 1_000_000n), 500_000n, T0);
      for (const id of ["old1", "old2"]) {
        await ledger.hold(holdParams({ requestId: id }));
        await ledger.settleRequest(id, { tokensIn: 20, tokensOut: 10, amount: 1_000n, ending: "ok" }, T0 + 1);
      }
      for (const ddl of [
        "UPDATE gw_requests SET batch_id = '0xold' WHERE request_id = 'old1'",
        `INSERT INTO gw_batches (batch_id, price_version, usage_root, status, records, requested, charges, activations, created_at)
           VALUES ('0xold', 3, '0x00', 'pending', 1, 1000, '[]', '[]', ${T0 + 1})`,
        "DELETE FROM gw_meta WHERE name = 'batch_watermark'",
        "DROP INDEX gw_requests_seq",
        "DROP INDEX gw_requests_holder_seq",
        "DROP INDEX gw_batches_range",
        "ALTER TABLE gw_requests DROP COLUMN seq",
        ...["seq_lo", "id_lo", "seq_hi", "id_hi"].map((c) => `ALTER TABLE gw_batches DROP COLUMN ${c}`),
        "CREATE INDEX gw_requests_waiting ON gw_requests (price_version, finished_at, request_id) WHERE status = 'charged' AND batch_id IS NULL",
        "CREATE INDEX gw_requests_holder_batched ON gw_requests (holder, finished_at, request_id) WHERE batch_id IS NOT NULL",
      ])
        await ledger.db.transaction((tx) => tx.run(ddl));
      // The indexes of versions before it, as they built them, then a restart of this version.
      for (const ddl of [
        "CREATE INDEX gw_requests_unbatched ON gw_requests (status, batch_id, price_version)",
        "CREATE INDEX gw_requests_batch ON gw_requests (batch_id)",
        "CREATE INDEX gw_requests_usage ON gw_requests (holder, status, finished_at, request_id)",
        "CREATE INDEX gw_requests_replica ON gw_requests (replica, status)",
        "CREATE INDEX gw_requests_holder ON gw_requests (holder)",
        "CREATE INDEX gw_requests_charged ON gw_requests (holder, finished_at, request_id) WHERE status = 'charged'",
      ])
        await ledger.db.transaction((tx) => tx.run(ddl));
      // Nor had they leases' column.
      await ledger.db.transaction((tx) => tx.run("ALTER TABLE gw_requests DROP COLUMN lease_id"));
      expect(await indexes()).to.include("gw_requests_usage");
      await ledger.init();
      const leaseColumn = await ledger.db.transaction((tx) =>
        tx.one(
          kind === "postgres"
            ? "SELECT column_name AS name FROM information_schema.columns WHERE table_name = 'gw_requests' AND table_schema = current_schema() AND column_name = 'lease_id'"
            : "SELECT name FROM pragma_table_info('gw_requests') WHERE name = 'lease_id'",
        ),
      );
      expect(leaseColumn?.name).to.equal("lease_id");
      expect((await indexes()).filter((n) => n.startsWith("gw_requests_"))).to.deep.equal(built);
      // And they serve: a held request, then charged, then batched, each found through its state's
      // index (SQLite's plans name them; PostgreSQL's planner may scan so small a table instead).
      if (kind === "sqlite") {
        const plan = async (q: string) => (await ledger.db.transaction((tx) => tx.all(`EXPLAIN QUERY PLAN ${q}`, ["x"]))).map((r) => String(r.detail)).join(" ");
        expect(await plan("SELECT request_id FROM gw_requests WHERE status = 'held' AND (replica = $1 OR created_at < 0)")).to.include("gw_requests_held");
        expect(await plan(`SELECT * FROM gw_requests WHERE ${waitingCharge()} ORDER BY seq, request_id LIMIT 10`)).to.include("gw_requests_seq");
        expect(await plan("SELECT * FROM gw_requests WHERE status = 'charged' AND holder = $1 ORDER BY seq DESC, request_id DESC")).to.include("gw_requests_holder_seq");
        expect(await plan(SQLITE_NEXT_SEQ.slice(1, -1))).to.include("SEARCH gw_requests USING COVERING INDEX gw_requests_seq");
        expect(await plan("SELECT * FROM gw_requests WHERE status = 'charged' AND batch_id = $1")).to.include("gw_requests_batched");
      } else {
        // A lease's return finds its charges through their index (a sequential scan ruled out: the table is small).
        const plan = await ledger.db.transaction(async (tx) => {
          await tx.run("SET LOCAL enable_seqscan = off");
          return (await tx.all(`EXPLAIN ${LEASE_UNCONVERTED_PG.replaceAll("$1", "'x'").replaceAll("$2", "'h'")}`)).map((r) => String(r["QUERY PLAN"])).join(" ");
        });
        expect(plan).to.include("gw_requests_holder_seq");
        expect(plan, "the watermark bounds the index range").to.match(/Index Cond: .*seq/);
      }
      // The earlier version's waiting charge joins the next batch; its batched one stays in its batch,
      // below the first watermark (0), and every charge since goes above both.
      expect(await ledger.unbatched()).to.deep.equal({ count: 1, oldest: T0 + 1 });
      const seqOf = async (id: string) => (await ledger.request(id))!.seq!;
      expect(await seqOf("old1")).to.be.below(0n);
      expect(await seqOf("old2")).to.be.above(0n);
      expect((await ledger.usage({ batchId: "0xold" })).map((r) => [r.requestId, r.batchId])).to.deep.equal([["old1", "0xold"]]);
      await ledger.hold(holdParams({ requestId: "r1", replica: "gone" }));
      expect(await ledger.releaseAbandoned("gone", 60_000, T0 + 1)).to.equal(1);
      await ledger.hold(holdParams({ requestId: "r2" }));
      await ledger.settleRequest("r2", { tokensIn: 20, tokensOut: 10, amount: 5_000n, ending: "ok" }, T0 + 2);
      expect(await ledger.unbatched()).to.deep.equal({ count: 2, oldest: T0 + 1 });
      expect(await seqOf("r2")).to.be.above(await seqOf("old2"));
      expect((await ledger.usagePage({ holder: HOLDER, limit: 5 })).rows.map((r) => [r.requestId, r.batchId])).to.deep.equal([
        ["r2", null],
        ["old2", null],
        ["old1", "0xold"],
      ]);
      const batch = (await ledger.createBatch(10, () => ({ batchId: "0xb1", usageRoot: "0x01" }), T0 + 3))!;
      expect((await ledger.usage({ batchId: batch.batchId })).map((r) => r.requestId)).to.deep.equal(["old2", "r2"]);
      expect(await ledger.unbatched()).to.deep.equal({ count: 0, oldest: undefined });
      expect((await ledger.usagePage({ holder: HOLDER, limit: 5 })).rows.map((r) => [r.requestId, r.batchId])).to.deep.equal([
        ["r2", "0xb1"],
        ["old2", "0xb1"],
        ["old1", "0xold"],
      ]);
    });

    it("pages a holder's usage newest first across batched and waiting charges, each once, with its batch", async () => {
      await ledger.addAuthorization(authRecord("0xa1", HOLDER, 10n ** 12n), 10n ** 9n, T0);
      await ledger.addAuthorization(authRecord("0xb2", OTHER, 10n ** 12n, 7n), 10n ** 9n, T0);
      const q3 = quoteFor(BOOK, "m", "normal")!;
      const q4 = quoteFor({ ...BOOK, version: 4n }, "m", "normal")!;
      const charge = async (id: string, at: number, authId = "0xa1", quote = q3) => {
        await ledger.hold(holdParams({ requestId: id, authId, quote }));
        await ledger.settleRequest(id, { tokensIn: 10, tokensOut: 10, amount: quote.cost(10, 10), ending: "ok" }, at);
      };
      // Committed in this order: h4a (price version 4), then h1 … h6 (version 3, but h3 and h5 at version 4), the other
      // holder's between. Pages follow commit order, not finish times (h4a finished with h4, h1 before it).
      await charge("h4a", T0 + 4, "0xa1", q4);
      await charge("h1", T0 + 1);
      await charge("h2", T0 + 2);
      await charge("h3", T0 + 3, "0xa1", q4);
      await charge("o1", T0 + 3, "0xb2");
      await charge("h4", T0 + 4);
      await charge("h5", T0 + 5, "0xa1", q4);
      await charge("h6", T0 + 6);
      // The other holder's charge that waits (version 4), finished with h5.
      await charge("o2", T0 + 5, "0xb2", q4);
      // Batches take charges in commit order, each of one price version: the first, h4a alone (version 4), then settled;
      // the next two (h1, h2) in a second batch; the rest wait.
      const b1 = (await ledger.createBatch(3, () => ({ batchId: "0xb1", usageRoot: "0x01" }), T0 + 10))!;
      expect(b1.records).to.equal(1);
      expect(await ledger.finishBatch(b1.batchId, new Map(b1.charges.map((c) => [c.authId, BigInt(c.amount)])), "0x1234", T0 + 11)).to.equal(true);
      await ledger.createBatch(2, () => ({ batchId: "0xb2", usageRoot: "0x02" }), T0 + 12);
      const all: string[] = [];
      const batches: (string | null)[] = [];
      const settled: boolean[] = [];
      let before: UsageCursor | undefined;
      for (let page = 0; page < 10; page++) {
        const { rows, more } = await ledger.usagePage({ holder: HOLDER, limit: 2, before });
        expect(rows.length).to.be.at.most(2);
        for (const r of rows) {
          all.push(r.requestId);
          batches.push(r.batchId ?? null);
          settled.push(r.settled);
        }
        if (!more) break;
        const last = rows[rows.length - 1];
        before = { seq: last.seq!, requestId: last.requestId };
      }
      expect(all).to.deep.equal(["h6", "h5", "h4", "h3", "h2", "h1", "h4a"]);
      expect(batches).to.deep.equal([null, null, null, null, "0xb2", "0xb2", "0xb1"]);
      expect(settled).to.deep.equal([false, false, false, false, false, false, true]);
      // The holder's usage, oldest first, in the same order.
      expect((await ledger.usage({ holder: HOLDER })).map((r) => r.requestId)).to.deep.equal(all.slice().reverse());
      expect((await ledger.usagePage({ holder: OTHER, limit: 10 })).rows.map((r) => r.requestId)).to.deep.equal(["o2", "o1"]);
    });

    it("keeps an authorization's signed document apart from its row, and finds one an earlier version kept in the row", async () => {
      await ledger.addAuthorization({ ...authRecord("0xa1", HOLDER, 10n ** 12n), signature: "0x5151", document: '{"doc":"new"}' }, 10n ** 9n, T0);
      const row = await ledger.db.transaction((tx) => tx.one("SELECT signature, document FROM gw_authorizations WHERE auth_id = $1", ["0xa1"]));
      expect([row?.signature, row?.document], "the row stays narrow").to.deep.equal(["", ""]);
      // As the previous version wrote it: the document in the row, none apart.
      await ledger.db.transaction((tx) =>
        tx.run(
          `INSERT INTO gw_authorizations (auth_id, holder, nonce, cap, expires_at, models, signature, document, status, activated, charged, open_holds, created_at)
           VALUES ('0xb2', $1, 7, 1000, $2, '[]', '0x5252', '{"doc":"old"}', 'active', 0, 0, 0, $3)`,
          [OTHER, T0 / 1000 + 86_400, T0],
        ),
      );
      const docs = await ledger.authorizationDocuments(["0xa1", "0xb2", "0xc3"]);
      expect([...docs]).to.deep.equal([
        ["0xa1", '{"doc":"new"}'],
        ["0xb2", '{"doc":"old"}'],
      ]);
      // In the order asked, not the table's.
      expect([...(await ledger.authorizationDocuments(["0xc3", "0xb2", "0xa1"])).keys()]).to.deep.equal(["0xb2", "0xa1"]);
      expect((await ledger.authorizationDocuments([])).size).to.equal(0);
    });

    it("releases this replica's abandoned holds on restart, and any replica's once stale", async () => {
      await ledger.addAuthorization(authRecord("0xa1", HOLDER, 10n ** 12n), 10n ** 12n, T0);
      await ledger.hold(holdParams({ requestId: "mine", replica: "r1" }));
      await ledger.hold(holdParams({ requestId: "theirs", replica: "r2" }));
      expect(await ledger.releaseAbandoned("r1", 60_000, T0 + 1_000)).to.equal(1);
      expect((await ledger.request("theirs"))!.status).to.equal("held");
      expect(await ledger.releaseAbandoned("r1", 60_000, T0 + 120_000)).to.equal(1);
      expect((await ledger.holderState(HOLDER))!.openHolds).to.equal(0n);
    });

    it("records a batch once per price version, aggregates per authorization, and applies what the chain charged", async () => {
      await ledger.addAuthorization(authRecord("0xa1", HOLDER, 10n ** 12n), 10n ** 9n, T0);
      await ledger.addAuthorization(authRecord("0xb2", OTHER, 10n ** 12n, 7n), 10n ** 9n, T0);
      const q3 = quoteFor(BOOK, "m", "normal")!;
      const q4 = quoteFor({ ...BOOK, version: 4n }, "m", "normal")!;
      const charge = async (id: string, authId: string, quote = q3) => {
        await ledger.hold(holdParams({ requestId: id, authId, quote }));
        await ledger.settleRequest(id, { tokensIn: 10, tokensOut: 10, amount: quote.cost(10, 10), ending: "ok" }, T0 + 10);
      };
      await charge("a", "0xa1");
      await charge("b", "0xa1");
      await charge("c", "0xb2");
      await charge("d", "0xb2", q4);
      const builds: number[] = [];
      const b1 = (await ledger.createBatch(
        100,
        (rows, v) => {
          builds.push(rows.length);
          return { batchId: `batch-${v}`, usageRoot: `root-${rows.length}` };
        },
        T0 + 20,
      ))!;
      expect(b1.priceVersion).to.equal(3n);
      expect(b1.records).to.equal(3);
      expect(b1.charges.map((c) => [c.authId, c.amount])).to.deep.equal([
        ["0xa1", (q3.cost(10, 10) * 2n).toString()],
        ["0xb2", q3.cost(10, 10).toString()],
      ]);
      expect(b1.activations).to.deep.equal(["0xa1", "0xb2"]);
      const b2 = (await ledger.createBatch(100, (rows, v) => ({ batchId: `batch-${v}`, usageRoot: `root-${rows.length}` }), T0 + 21))!;
      expect(b2.priceVersion).to.equal(4n);
      expect(b2.activations, "0xb2's activation is already in a batch").to.deep.equal([]);
      expect(await ledger.createBatch(100, () => ({ batchId: "x", usageRoot: "y" }), T0 + 22)).to.equal(undefined);
      expect((await ledger.batches("pending")).map((b) => b.batchId)).to.deep.equal(["batch-3", "batch-4"]);
      // The chain charged 0xb2 less than asked (say, revoked meanwhile).
      const epoch = await ledger.settledEpoch();
      expect(
        await ledger.finishBatch(
          "batch-3",
          new Map([
            ["0xa1", q3.cost(10, 10) * 2n],
            ["0xb2", 1n],
          ]),
          "0xtx",
          T0 + 30,
        ),
      ).to.equal(true);
      expect(await ledger.finishBatch("batch-3", new Map(), "0xtx", T0 + 31), "once").to.equal(false);
      const a = (await ledger.holderState(HOLDER))!;
      expect(a.balance).to.equal(10n ** 9n - q3.cost(10, 10) * 2n);
      expect(a.unsettled).to.equal(0n);
      const b = (await ledger.holderState(OTHER))!;
      expect(b.balance).to.equal(10n ** 9n - 1n);
      expect(b.unsettled, "batch-4 still pending").to.equal(q4.cost(10, 10));
      // A higher balance read from before the settlement must not overwrite the ledger's view.
      const settled = 10n ** 9n - q3.cost(10, 10) * 2n;
      expect(await ledger.setBalances(new Map([[HOLDER, 10n ** 9n]]), epoch, T0 + 40)).to.equal(false);
      expect(await ledger.setBalances(new Map([[HOLDER, 10n ** 9n]]), await ledger.settledEpoch(), T0 + 40), "a batch is pending").to.equal(false);
      expect((await ledger.holderState(HOLDER))!.balance).to.equal(settled);
      // A lower one (a clawback seen meanwhile) is applied at once, pending batch or not; the higher
      // one beside it is not (false: read again later).
      expect(await ledger.holdersRefreshedSince([HOLDER, OTHER], T0 + 41)).to.deep.equal([]);
      expect(
        await ledger.setBalances(
          new Map([
            [HOLDER, settled - 5n],
            [OTHER, 10n ** 9n],
          ]),
          epoch,
          T0 + 41,
        ),
      ).to.equal(false);
      expect((await ledger.holderState(HOLDER))!.balance).to.equal(settled - 5n);
      // The holders a refresh changed since a time: those a batch applied after it reads again.
      expect(await ledger.holdersRefreshedSince([HOLDER, OTHER], T0 + 41)).to.deep.equal([HOLDER]);
      expect(await ledger.holdersRefreshedSince([HOLDER, OTHER], T0 + 42)).to.deep.equal([]);
      await ledger.finishBatch("batch-4", new Map([["0xb2", q4.cost(10, 10)]]), null, T0 + 50);
      expect(await ledger.setBalances(new Map([[HOLDER, 123n]]), await ledger.settledEpoch(), T0 + 60)).to.equal(true);
      expect((await ledger.holderState(HOLDER))!.balance).to.equal(123n);
      expect(builds).to.deep.equal([3]);
    });

    /** HOLDER's authorization (0xa1), and a charge of 10 + 10 tokens for each id; the quote. */
    const chargeHolder = async (ids: string[]) => {
      if (!(await ledger.authorizationState("0xa1"))) await ledger.addAuthorization(authRecord("0xa1", HOLDER, 10n ** 12n), 10n ** 9n, T0);
      const q = quoteFor(BOOK, "m", "normal")!;
      for (const id of ids) {
        await ledger.hold(holdParams({ requestId: id }));
        await ledger.settleRequest(id, { tokensIn: 10, tokensOut: 10, amount: q.cost(10, 10), ending: "ok" }, T0 + 10);
      }
      return q;
    };

    it("hashes a batch outside any transaction, and records nothing if another settler took its rows meanwhile", async () => {
      const q = await chargeHolder(["a", "b"]);
      // While this batch is being hashed, holds and charges go on (the builder holds no transaction).
      const during = await ledger.createBatch(
        100,
        async (rows, v) => {
          await ledger.hold(holdParams({ requestId: "c" }));
          await ledger.settleRequest("c", { tokensIn: 10, tokensOut: 10, amount: q.cost(10, 10), ending: "ok" }, T0 + 11);
          return { batchId: `batch-${v}-${rows.length}`, usageRoot: "root" };
        },
        T0 + 20,
      );
      expect(during!.records, "the rows picked before hashing, not the charge made meanwhile").to.equal(2);
      // A settler whose rows another one batched while it hashed (its lease lapsed) records nothing.
      const lost = ledger.createBatch(
        100,
        async (rows) => {
          await ledger.createBatch(100, () => ({ batchId: "the-other", usageRoot: "r" }), T0 + 30);
          return { batchId: `late-${rows.length}`, usageRoot: "root" };
        },
        T0 + 30,
      );
      let refused: Error | undefined;
      await lost.catch((err: Error) => {
        refused = err;
      });
      expect(refused?.message).to.match(/another settler moved the batch watermark meanwhile: batch late-1 not recorded/);
      expect((await ledger.batches("pending")).map((b) => [b.batchId, b.records])).to.deep.equal([
        ["batch-3-2", 2],
        ["the-other", 1],
      ]);
      expect((await ledger.request("c"))!.batchId).to.equal("the-other");
    });

    it("records nothing if a charge of its range was taken back while it was hashed, or another charged into it", async () => {
      const q = await chargeHolder(["a", "b"]);
      const outcomes: string[] = [];
      ledger.onTakeBack = (e) => outcomes.push(`${e.requestId}:${e.outcome}`);
      let refused: Error | undefined;
      await ledger
        .createBatch(
          100,
          async (rows) => {
            // b's answer was not delivered: its charge is taken back while the batch is hashed.
            ledger.releaseUndelivered("b");
            while (!outcomes.length || ledger.pendingTakeBacks().length) await new Promise((r) => setTimeout(r, 5));
            // Then a charge whose id sorts before b's: on SQLite its counter is b's again (inside the range picked).
            await ledger.hold(holdParams({ requestId: "a2" }));
            await ledger.settleRequest("a2", { tokensIn: 10, tokensOut: 10, amount: q.cost(10, 10), ending: "ok" }, T0 + 11);
            return { batchId: `batch-${rows.length}`, usageRoot: "root" };
          },
          T0 + 20,
        )
        .catch((err: Error) => {
          refused = err;
        });
      expect(outcomes).to.deep.equal(["b:taken_back"]);
      expect(refused?.message).to.match(/its range's charges changed meanwhile \(one taken back, or charged into it\): batch batch-2 not recorded/);
      expect(await ledger.batches()).to.deep.equal([]);
      // The next batch takes what is left.
      const next = (await ledger.createBatch(100, (rows) => ({ batchId: `batch-${rows.length}`, usageRoot: "root" }), T0 + 21))!;
      expect((await ledger.usage({ batchId: next.batchId })).map((r) => r.requestId)).to.deep.equal(["a", "a2"]);
      expect((await ledger.holderState(HOLDER))!.unsettled).to.equal(2n * q.cost(10, 10));
      expect(await ledger.unbatched()).to.deep.equal({ count: 0, oldest: undefined });
    });

    if (kind === "postgres")
      it("takes no charge while a transaction that began before it is open (it might commit one below the watermark)", async () => {
        await ledger.addAuthorization(authRecord("0xa1", HOLDER, 10n ** 12n), 10n ** 9n, T0);
        const q = quoteFor(BOOK, "m", "normal")!;
        const other = await db.open();
        let began!: () => void;
        let end!: () => void;
        const open = new Promise<void>((r) => {
          began = r;
        });
        const gate = new Promise<void>((r) => {
          end = r;
        });
        // A transaction with an id, open across the charge below (a charge of another replica, slow to commit).
        const t = other.db.transaction(async (tx) => {
          await tx.one("SELECT pg_current_xact_id() AS x");
          began();
          await gate;
        });
        await open;
        try {
          await ledger.hold(holdParams({ requestId: "a" }));
          await ledger.settleRequest("a", { tokensIn: 10, tokensOut: 10, amount: q.cost(10, 10), ending: "ok" }, T0 + 10);
          expect(await ledger.unbatched()).to.deep.equal({ count: 1, oldest: T0 + 10 });
          expect(await ledger.createBatch(100, () => ({ batchId: "early", usageRoot: "root" }), T0 + 20)).to.equal(undefined);
        } finally {
          end();
          await t;
          await other.close();
        }
        expect((await ledger.createBatch(100, () => ({ batchId: "after", usageRoot: "root" }), T0 + 21))!.records).to.equal(1);
      });

    if (kind === "postgres")
      it("keeps new charges above the watermark when transaction ids go back (a ledger restored into another cluster)", async () => {
        const charge = (id: string) => chargeHolder([id]);
        await charge("a");
        const b1 = (await ledger.createBatch(100, () => ({ batchId: "b1", usageRoot: "root" }), T0 + 20))!;
        // The charges' ids as another cluster numbered them: far above this one's.
        for (const sql of [
          "UPDATE gw_requests SET seq = seq + 1000000000000 WHERE seq IS NOT NULL",
          "UPDATE gw_meta SET value = value + 1000000000000 WHERE name = 'batch_watermark'",
          "UPDATE gw_batches SET seq_lo = seq_lo + 1000000000000, seq_hi = seq_hi + 1000000000000",
        ])
          await ledger.db.transaction((tx) => tx.run(sql));
        await ledger.init();
        await charge("b");
        expect(await ledger.unbatched()).to.deep.equal({ count: 1, oldest: T0 + 10 });
        expect((await ledger.request("b"))!.batchId).to.equal(null);
        const b2 = (await ledger.createBatch(100, () => ({ batchId: "b2", usageRoot: "root" }), T0 + 21))!;
        expect((await ledger.usage({ batchId: b2.batchId })).map((r) => r.requestId)).to.deep.equal(["b"]);
        expect((await ledger.usage({ batchId: b1.batchId })).map((r) => r.requestId)).to.deep.equal(["a"]);
      });

    /** Two charges of HOLDER recorded in one batch ("batch-3"), its authorization not yet activated. */
    const pendingBatch = async () => {
      const q = await chargeHolder(["a", "b"]);
      await ledger.createBatch(100, (rows, v) => ({ batchId: `batch-${v}`, usageRoot: `root-${rows.length}` }), T0 + 20);
      return q.cost(10, 10) * 2n;
    };

    it("applies a landed batch once when two replicas finish it at the same time", async () => {
      const amount = await pendingBatch();
      const second = await db.open();
      const epoch = await ledger.settledEpoch();
      const byAuth = new Map([["0xa1", amount]]);
      const done = await Promise.all([ledger.finishBatch("batch-3", byAuth, "0xtx", T0 + 30), second.finishBatch("batch-3", byAuth, "0xtx", T0 + 30)]);
      expect(done.filter(Boolean).length).to.equal(1);
      expect(await ledger.settledEpoch()).to.equal(epoch + 1n);
      const h = (await ledger.holderState(HOLDER))!;
      expect([h.balance, h.unsettled]).to.deep.equal([10n ** 9n - amount, 0n]);
      expect((await ledger.authorizationState("0xa1"))!.activated).to.equal(2);
      const [b] = await ledger.batches("settled");
      expect([b.batchId, b.charged, b.txHash]).to.deep.equal(["batch-3", amount, "0xtx"]);
    });

    if (kind === "postgres") {
      it("applies a landed batch in one statement that does not wait for the disk (the chain has it: a lost commit leaves it pending)", async () => {
        const amount = await pendingBatch();
        const calls: string[] = [];
        const d = ledger.db;
        const statement = d.statement.bind(d);
        const transaction = d.transaction.bind(d);
        d.statement = (sql, params, options) => {
          calls.push(/FOR UPDATE/.test(sql) ? `locking, durable ${options?.durable !== false}` : "read");
          return statement(sql, params, options);
        };
        d.transaction = ((...a: Parameters<typeof transaction>) => {
          calls.push("transaction");
          return transaction(...a);
        }) as typeof d.transaction;
        expect(await ledger.finishBatch("batch-3", new Map([["0xa1", amount]]), "0xtx", T0 + 30)).to.equal(true);
        expect(calls).to.deep.equal(["read", "locking, durable false"]);
        expect(await ledger.finishBatch("batch-3", new Map([["0xa1", amount]]), "0xtx", T0 + 31), "once").to.equal(false);
      });

      it("writes (and locks) only the holders whose balance a refresh changes", async () => {
        await ledger.addAuthorization(authRecord("0xa1", HOLDER, 10n ** 12n), 10n ** 9n, T0);
        await ledger.addAuthorization(authRecord("0xb2", OTHER, 10n ** 12n, 7n), 10n ** 9n, T0);
        // Another connection holds HOLDER's row (as a hold in progress does).
        const { release } = await lockHolderRow(db, HOLDER);
        const within = <T>(p: Promise<T>, ms: number) => Promise.race([p.then(() => "done"), new Promise((r) => setTimeout(() => r("waiting"), ms))]);
        // HOLDER's balance agrees with the chain, OTHER's moved: the refresh does not wait for HOLDER's row.
        const refresh = ledger.setBalances(
          new Map([
            [HOLDER, 10n ** 9n],
            [OTHER, 10n ** 9n + 5n],
          ]),
          await ledger.settledEpoch(),
          T0 + 40,
        );
        try {
          expect(await within(refresh, 2_000)).to.equal("done");
        } catch (err) {
          await release();
          throw err;
        }
        expect((await ledger.holderState(OTHER))!.balance).to.equal(10n ** 9n + 5n);
        // A change of HOLDER's balance does wait for it.
        const change = ledger.setBalances(new Map([[HOLDER, 10n ** 9n - 7n]]), await ledger.settledEpoch(), T0 + 41);
        try {
          expect(await within(change, 500)).to.equal("waiting");
        } finally {
          await release();
        }
        expect(await change).to.equal(true);
        expect((await ledger.holderState(HOLDER))!.balance).to.equal(10n ** 9n - 7n);
      });
    }

    it("finds the pending batches through their own index, however many batches were settled", async () => {
      const columns = "batch_id, price_version, usage_root, status, records, requested, charges, activations, created_at";
      await ledger.db.transaction((tx) =>
        tx.run(
          kind === "postgres"
            ? `INSERT INTO gw_batches (${columns}) SELECT '0xs' || g, 1, '0x00', 'settled', 1, 1, '[]', '[]', g FROM generate_series(1, 5000) g`
            : `WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < 5000) INSERT INTO gw_batches (${columns}) SELECT '0xs' || x, 1, '0x00', 'settled', 1, 1, '[]', '[]', x FROM g`,
        ),
      );
      await ledger.db.transaction((tx) => tx.run(`INSERT INTO gw_batches (${columns}) VALUES ('0xp', 1, '0x00', 'pending', 1, 1, '[]', '[]', 7)`));
      await ledger.db.transaction((tx) => tx.run("ANALYZE gw_batches"));
      expect((await ledger.batches("pending")).map((b) => b.batchId)).to.deep.equal(["0xp"]);
      const sql = "SELECT * FROM gw_batches WHERE status = 'pending' ORDER BY created_at, batch_id";
      const plan = (await ledger.db.transaction((tx) => tx.all(`${kind === "postgres" ? "EXPLAIN" : "EXPLAIN QUERY PLAN"} ${sql}`)))
        .map((r) => String(r["QUERY PLAN"] ?? r.detail))
        .join(" ");
      expect(plan).to.include("gw_batches_pending");
    });

    it("lets one replica at a time hold the settler lease", async () => {
      const second = await db.open();
      expect(await ledger.takeSettlerLease("r1", 10_000, T0)).to.equal(true);
      expect(await second.takeSettlerLease("r2", 10_000, T0 + 1)).to.equal(false);
      expect(await ledger.takeSettlerLease("r1", 10_000, T0 + 2)).to.equal(true);
      expect(await second.takeSettlerLease("r2", 10_000, T0 + 20_000), "expired").to.equal(true);
    });
  });
}
