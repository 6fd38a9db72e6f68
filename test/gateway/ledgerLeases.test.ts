/**
 * PostgreSQL's credit leases (gateway/ledger/leases.ts): requests held in memory against a share
 * a replica reserved, each charge one row; batches convert those charges; a lease returned, cut
 * (revocation, offboarding, a lower balance), recovered after a crash or by another replica gives
 * back exactly what its charges did not use; and two replicas with leases never spend more than
 * the balance, every credit ending charged or given back.
 */
import { expect } from "chai";
import { GatewayError } from "../../gateway/errors.js";
import { type HoldParams, Ledger } from "../../gateway/ledger/ledger.js";
import { LEASE_HEADROOM, LEASE_IDLE_MS, LEASE_RECOVER_MS, LEASE_RENEW_MS, LEASE_REQUESTS, LEASED_CHARGES_AGAIN_PG, LEASED_CHARGES_PG } from "../../gateway/ledger/leases.js";
import type { SqlDriver } from "../../gateway/ledger/sql.js";
import { type TestDatabase, available, createTestDatabase } from "./support/databases.js";
import { QUOTE, T0, addTestAccount, holdParams, refusal } from "./support/ledgerTerms.js";
import { unreliable } from "./support/unreliableDriver.js";
import { MINUTE } from "../../gateway/ledger/windows.js";

const A = { holder: "0x00000000000000000000000000000000000000a1", authId: "0xa1" };
const B = { holder: "0x00000000000000000000000000000000000000b2", authId: "0xb2" };
const C = { holder: "0x00000000000000000000000000000000000000c3", authId: "0xc3" };
/** A request's worst case (20 tokens in, 30 out) and a lease of them. */
const WORST = QUOTE.cost(20, 30);
const LEASE = WORST * BigInt(LEASE_REQUESTS);
const RICH = LEASE * BigInt(LEASE_HEADROOM) * 10n;

let seq = 0;
/** A full request (20 tokens in, 30 out) of `who`'s key, at T0 unless `over` says. */
const params = (who: { holder: string; authId: string }, over: Partial<HoldParams> = {}): HoldParams => holdParams(who, `q-${++seq}`, { now: T0, ...over });

const charge = (tokensOut: number) => ({ tokensIn: 20, tokensOut, amount: QUOTE.cost(20, tokensOut), ending: "ok" as const });
const release = { tokensIn: 0, tokensOut: 0, amount: 0n, ending: "disconnect" as const };
let batchSeq = 0;
const build = () => ({ batchId: `0xbatch${++batchSeq}`, usageRoot: "0x01" });

async function rows(ledger: Ledger, sql: string, values: unknown[] = []) {
  return ledger.db.statement(sql, values as never[], { durable: false });
}
async function leaseRows(ledger: Ledger, holder: string) {
  return (await rows(ledger, "SELECT status, hold, replica FROM gw_requests WHERE holder = $1 AND lease_id = request_id ORDER BY created_at, request_id", [holder])).map((r) => ({
    status: String(r.status),
    hold: BigInt(r.hold as string),
    replica: String(r.replica),
  }));
}
async function minute(ledger: Ledger, holder: string) {
  const [r] = await rows(ledger, "SELECT minute_requests, minute_tokens, day_credits FROM gw_holders WHERE holder = $1", [holder]);
  return { requests: Number(r.minute_requests), tokens: Number(r.minute_tokens), day: BigInt(r.day_credits as string) };
}

describe("gateway ledger leases (PostgreSQL)", function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let ledger: Ledger;

  before(function () {
    if (!available("postgres")) this.skip();
  });
  beforeEach(async () => {
    db = await createTestDatabase("postgres");
    ledger = await db.open({ leases: true });
  });
  afterEach(async () => {
    await db?.drop();
  });

  it("holds in memory under one lease, charges with one row each, and a batch then a return settle every credit", async () => {
    await addTestAccount(ledger, { ...A, balance: RICH, cap: RICH });
    const held = await Promise.all([1, 2, 3].map(() => ledger.hold(params(A))));
    expect(held.map((h) => h.amount)).to.deep.equal([WORST, WORST, WORST]);
    expect(ledger.leaseStats()).to.include({ taken: 1, held: 3, open: 1 });
    // The lease is counted as held; the requests have no row until they charge.
    expect((await ledger.holderState(A.holder))!.openHolds).to.equal(LEASE);
    expect(await leaseRows(ledger, A.holder)).to.deep.equal([{ status: "held", hold: LEASE, replica: "r1" }]);
    expect(await ledger.request(held[0].requestId)).to.equal(undefined);

    const c1 = await ledger.settleRequest(held[0].requestId, charge(11), T0 + 1);
    const c2 = await ledger.settleRequest(held[1].requestId, charge(30), T0 + 2);
    expect(await ledger.settleRequest(held[2].requestId, release, T0 + 3)).to.deep.equal({ charge: 0n });
    expect([c1!.charge, c2!.charge]).to.deep.equal([QUOTE.cost(20, 11), QUOTE.cost(20, 30)]);
    const charged = c1!.charge + c2!.charge;
    const r1 = (await ledger.request(held[0].requestId))!;
    expect([r1.status, r1.charge, r1.hold, r1.tokensOut]).to.deep.equal(["charged", c1!.charge, WORST, 11]);
    expect(await ledger.request(held[2].requestId)).to.equal(undefined);
    // The lease's row still counts the charges; the holder's state shows them as not settled.
    expect(await ledger.holderState(A.holder)).to.deep.include({ openHolds: LEASE - charged, unsettled: charged, available: RICH - LEASE });
    expect(await ledger.authorizationState(A.authId)).to.deep.include({ charged, openHolds: LEASE - charged });
    const [row] = await rows(ledger, "SELECT unsettled, open_holds FROM gw_holders WHERE holder = $1", [A.holder]);
    expect([BigInt(row.unsettled as string), BigInt(row.open_holds as string)]).to.deep.equal([0n, LEASE]);

    // The batch converts the two charges: from the lease's hold into unsettled and charged.
    const batch = (await ledger.createBatch(100, build, T0 + 4))!;
    expect([batch.records, batch.requested]).to.deep.equal([2, charged]);
    expect(await ledger.holderState(A.holder)).to.deep.include({ openHolds: LEASE - charged, unsettled: charged, available: RICH - LEASE });
    expect(await ledger.authorizationState(A.authId)).to.deep.include({ charged, openHolds: LEASE - charged });
    expect(await leaseRows(ledger, A.holder)).to.deep.equal([{ status: "held", hold: LEASE - charged, replica: "r1" }]);

    // Returned: the rest back, with the 5 requests and their tokens the lease did not use.
    expect(await minute(ledger, A.holder)).to.deep.equal({ requests: LEASE_REQUESTS, tokens: 50 * LEASE_REQUESTS, day: LEASE });
    await ledger.returnLeases();
    expect(ledger.leaseStats()).to.include({ returned: 1, open: 0 });
    expect(await ledger.holderState(A.holder)).to.deep.include({ openHolds: 0n, unsettled: charged, available: RICH - charged });
    expect(await ledger.authorizationState(A.authId)).to.deep.include({ charged, openHolds: 0n });
    expect(await leaseRows(ledger, A.holder)).to.deep.equal([{ status: "released", hold: 0n, replica: "r1" }]);
    expect(await minute(ledger, A.holder)).to.deep.equal({ requests: 3, tokens: 150, day: charged });

    expect(await ledger.finishBatch(batch.batchId, new Map([[A.authId, charged]]), "0x12", T0 + 5)).to.equal(true);
    expect(await ledger.holderState(A.holder)).to.deep.include({ balance: RICH - charged, unsettled: 0n, openHolds: 0n });
  });

  it("a lease returned before its charges are batched keeps them; the batch converts them and releases it", async () => {
    await addTestAccount(ledger, { ...A, balance: RICH, cap: RICH });
    const [h1, h2] = await Promise.all([ledger.hold(params(A)), ledger.hold(params(A))]);
    await ledger.settleRequest(h1.requestId, charge(5), T0 + 1);
    await ledger.settleRequest(h2.requestId, charge(7), T0 + 1);
    const charged = QUOTE.cost(20, 5) + QUOTE.cost(20, 7);
    await ledger.returnLeases();
    expect(await leaseRows(ledger, A.holder)).to.deep.equal([{ status: "returned", hold: charged, replica: "r1" }]);
    expect(await ledger.holderState(A.holder)).to.deep.include({ openHolds: 0n, unsettled: charged, available: RICH - charged });
    await ledger.createBatch(100, build, T0 + 2);
    expect(await leaseRows(ledger, A.holder)).to.deep.equal([{ status: "released", hold: 0n, replica: "r1" }]);
    expect(await ledger.holderState(A.holder)).to.deep.include({ openHolds: 0n, unsettled: charged });
  });

  it("takes the exact path where less than four leases' worth is left, and when the lease would not hold the request", async () => {
    await addTestAccount(ledger, { ...A, balance: LEASE * BigInt(LEASE_HEADROOM) - 1n, cap: RICH });
    const h = await ledger.hold(params(A));
    expect(ledger.leaseStats()).to.include({ taken: 0, refused: 1 });
    expect((await ledger.request(h.requestId))!.status).to.equal("held");
    // Refused lately: the next request goes straight to the exact path (no second try within a second).
    await ledger.hold(params(A));
    expect(ledger.leaseStats()).to.include({ refused: 1 });
    // A cap too small for four leases, on a rich holder: the same.
    await addTestAccount(ledger, { ...B, balance: RICH, cap: LEASE * BigInt(LEASE_HEADROOM) - 1n });
    await ledger.hold(params(B));
    expect(ledger.leaseStats()).to.include({ taken: 0, refused: 2 });
    // A lease used up is topped up, by twice as much: one statement per 8, then 16, then 32 requests.
    await addTestAccount(ledger, { ...C, balance: RICH, cap: RICH });
    for (let i = 0; i < LEASE_REQUESTS * 7 + 1; i++) await ledger.hold(params(C));
    expect(ledger.leaseStats()).to.include({ taken: 1, toppedUp: 3, open: 1 });
    expect(await leaseRows(ledger, C.holder)).to.deep.equal([{ status: "held", hold: WORST * BigInt(LEASE_REQUESTS * 15), replica: "r1" }]);
    expect(await minute(ledger, C.holder)).to.include({ requests: LEASE_REQUESTS * 15 });
    // Where twice as much is not left, the first size again; where not even that is, the lease is
    // returned and the exact path taken. 48 worst cases: a lease of 8 leaves 40 (four of 16 do not
    // fit, four of 8 do), then 32, then 24 (not even four of 8).
    const D = { holder: "0x00000000000000000000000000000000000000d4", authId: "0xd4" };
    await addTestAccount(ledger, { ...D, balance: WORST * 48n, cap: RICH });
    const before = ledger.leaseStats();
    for (let i = 0; i < LEASE_REQUESTS * 3; i++) await ledger.hold(params(D));
    expect(ledger.leaseStats()).to.include({ taken: before.taken + 1, toppedUp: before.toppedUp + 2, refused: before.refused });
    expect(await leaseRows(ledger, D.holder)).to.deep.equal([{ status: "held", hold: WORST * 24n, replica: "r1" }]);
    const exact = await ledger.hold(params(D));
    expect(ledger.leaseStats()).to.include({ refused: before.refused + 1, open: 1 });
    expect((await ledger.request(exact.requestId))!.status).to.equal("held");
  });

  it("a restarted replica recovers its leases, keeping the charges committed; another replica's only once its owner no longer uses it", async () => {
    await addTestAccount(ledger, { ...A, balance: RICH, cap: RICH });
    await addTestAccount(ledger, { ...B, balance: RICH, cap: RICH });
    const [h1, , h3] = await Promise.all([ledger.hold(params(A)), ledger.hold(params(A)), ledger.hold(params(A))]);
    await ledger.settleRequest(h1.requestId, charge(9), T0 + 1);
    await ledger.settleRequest(h3.requestId, charge(3), T0 + 1);
    const charged = QUOTE.cost(20, 9) + QUOTE.cost(20, 3);
    const other = await db.open({ leases: true });
    await other.hold(params(B, { replica: "r2" }));
    // A crash: the process is gone, its connections with it (no return, one request still in flight).
    // r2's too (alive, it would keep its lease renewed while its request is in flight).
    await ledger.db.close();
    await other.db.close();

    const restarted = await db.open({ leases: true });
    expect(await restarted.releaseAbandoned("r1", 1_000, T0 + 2)).to.equal(1);
    expect(await leaseRows(restarted, A.holder)).to.deep.equal([{ status: "returned", hold: charged, replica: "r1" }]);
    expect(await restarted.holderState(A.holder)).to.deep.include({ openHolds: 0n, unsettled: charged, available: RICH - charged });
    // r2's lease is not recovered before LEASE_RECOVER_MS, however short the stale time of holds.
    expect((await leaseRows(restarted, B.holder))[0].status).to.equal("held");
    expect(await restarted.releaseAbandoned("r1", 1_000, T0 + LEASE_RECOVER_MS - 1)).to.equal(0);
    expect(await restarted.releaseAbandoned("r1", 1_000, T0 + LEASE_RECOVER_MS + 1)).to.equal(1);
    expect(await restarted.holderState(B.holder)).to.deep.include({ openHolds: 0n, available: RICH });

    await restarted.createBatch(100, build, T0 + 3);
    expect(await restarted.holderState(A.holder)).to.deep.include({ openHolds: 0n, unsettled: charged });
    expect(await leaseRows(restarted, A.holder)).to.deep.equal([{ status: "released", hold: 0n, replica: "r1" }]);
  });

  it("keeps a lease renewed while a request runs under it, so another replica's minute sweep does not recover it and the request is charged", async function () {
    this.timeout(20_000);
    await addTestAccount(ledger, { ...A, balance: RICH, cap: RICH });
    let clock = T0 + 1;
    const owner = await db.open({ leases: true, now: () => clock });
    const h = await owner.hold(params(A, { now: clock }));
    const renewal = async () => Number((await rows(owner, "SELECT finished_at FROM gw_requests WHERE lease_id = request_id"))[0].finished_at);
    const sweeps = () => new Promise((r) => setTimeout(r, LEASE_IDLE_MS + 200));
    // Written at most every LEASE_RENEW_MS / 2: not yet.
    clock = T0 + LEASE_RENEW_MS / 2 - 1_000;
    await sweeps();
    expect(await renewal()).to.equal(T0 + 1);
    // The request waits in the priority queue, then runs: its lease is not topped up meanwhile, the owner's sweep renews it.
    clock = T0 + 15 * 60_000;
    for (let i = 0; (await renewal()) !== clock && i < 40; i++) await new Promise((r) => setTimeout(r, 100));
    // Another replica's every-minute sweep (gateway/index.ts), a little over max(staleHoldMs = 15 min, LEASE_RECOVER_MS) after the lease was taken.
    const other = await db.open({ leases: true });
    expect(await other.recoverLeases("r2", 15 * 60_000, clock + 2), "leases recovered").to.equal(0);
    expect(await owner.settleRequest(h.requestId, charge(30), clock + 3), "the request served").to.deep.equal({ charge: WORST });
    expect(await renewal()).to.equal(clock);
    expect(await owner.holderState(A.holder)).to.deep.include({ unsettled: WORST, openHolds: LEASE - WORST });
    // Only the row's renewal: the owner tops its lease up before it holds another request under it (a new minute's requests).
    const toppedUp = owner.leaseStats().toppedUp;
    await owner.settleRequest((await owner.hold(params(A, { now: clock + 4 }))).requestId, release, clock + 5);
    expect(owner.leaseStats().toppedUp).to.equal(toppedUp + 1);
    // An owner gone stops renewing: its lease is recovered LEASE_RECOVER_MS after the last renewal.
    await owner.hold(params(A, { now: clock + 6 }));
    await owner.db.close();
    expect(await other.recoverLeases("r2", 60_000, clock + 4 + LEASE_RECOVER_MS - 1)).to.equal(0);
    expect(await other.recoverLeases("r2", 60_000, clock + 4 + LEASE_RECOVER_MS + 1)).to.equal(1);
    // What its charge used stays; the rest is given back.
    expect(await other.holderState(A.holder)).to.deep.include({ openHolds: 0n, unsettled: WORST, available: RICH - WORST });
  });

  it("revocation and offboarding cut the lease at once: the next request is refused, the one in flight still ends", async () => {
    await addTestAccount(ledger, { ...A, balance: RICH, cap: RICH });
    await addTestAccount(ledger, { ...B, balance: RICH, cap: RICH });
    const a = await ledger.hold(params(A));
    const b = await ledger.hold(params(B));
    expect(await ledger.revokeAuthorization(A.authId)).to.equal(true);
    expect(await ledger.offboardHolder(B.holder)).to.equal(true);
    expect((await refusal(ledger.hold(params(A)))).code).to.equal("authorization_revoked");
    expect((await refusal(ledger.hold(params(B)))).code).to.equal("holder_offboarded");
    expect(ledger.leaseStats()).to.include({ open: 0, taken: 2 });
    // Closed, not yet returned: their requests are in flight.
    expect((await leaseRows(ledger, A.holder))[0].status).to.equal("held");
    await ledger.settleRequest(a.requestId, charge(4), T0 + 1);
    await ledger.settleRequest(b.requestId, release, T0 + 1);
    await ledger.returnLeases();
    expect(await ledger.holderState(A.holder)).to.deep.include({ openHolds: 0n, unsettled: QUOTE.cost(20, 4) });
    expect(await ledger.holderState(B.holder)).to.deep.include({ openHolds: 0n });
    expect(await leaseRows(ledger, B.holder)).to.deep.equal([{ status: "released", hold: 0n, replica: "r1" }]);
  });

  it("a lower balance cuts the holder's lease; the next lease is taken against it", async () => {
    await addTestAccount(ledger, { ...A, balance: RICH, cap: RICH });
    await ledger.settleRequest((await ledger.hold(params(A))).requestId, release, T0);
    expect(ledger.leaseStats()).to.include({ open: 1 });
    // Higher: nothing cut.
    expect(await ledger.setBalances(new Map([[A.holder, RICH + 1n]]), await ledger.settledEpoch(), T0 + 1)).to.equal(true);
    expect(ledger.leaseStats()).to.include({ open: 1 });
    expect(await ledger.setBalances(new Map([[A.holder, LEASE * 2n]]), await ledger.settledEpoch(), T0 + 2)).to.equal(true);
    expect(ledger.leaseStats()).to.include({ open: 0 });
    await ledger.returnLeases();
    expect(await ledger.holderState(A.holder)).to.deep.include({ openHolds: 0n, available: LEASE * 2n });
    // Too little left now: the exact path.
    const h = await ledger.hold(params(A));
    expect((await ledger.request(h.requestId))!.status).to.equal("held");
    expect(ledger.leaseStats()).to.include({ taken: 1, refused: 1 });
  });

  it("takes back a leased charge whose answer was not delivered, before and after its lease is returned", async () => {
    await addTestAccount(ledger, { ...A, balance: RICH, cap: RICH });
    const [h1, h2] = await Promise.all([ledger.hold(params(A)), ledger.hold(params(A))]);
    await ledger.settleRequest(h1.requestId, charge(6), T0 + 1);
    await ledger.settleRequest(h2.requestId, charge(8), T0 + 1);
    const taken: string[] = [];
    ledger.onTakeBack = (e) => taken.push(`${e.requestId}:${e.outcome}:${e.charge}`);
    // Open lease: the row is released; the return gives its credits back.
    ledger.releaseUndelivered(h1.requestId);
    while (ledger.releasingInBackground()) await new Promise((r) => setTimeout(r, 10));
    expect((await ledger.request(h1.requestId))!.status).to.equal("released");
    await ledger.returnLeases();
    const c2 = QUOTE.cost(20, 8);
    expect(await leaseRows(ledger, A.holder)).to.deep.equal([{ status: "returned", hold: c2, replica: "r1" }]);
    // Returned lease (keeping the charge): the take-back gives it back and releases the lease.
    ledger.releaseUndelivered(h2.requestId);
    while (ledger.releasingInBackground()) await new Promise((r) => setTimeout(r, 10));
    expect(await leaseRows(ledger, A.holder)).to.deep.equal([{ status: "released", hold: 0n, replica: "r1" }]);
    expect(await ledger.holderState(A.holder)).to.deep.include({ openHolds: 0n, unsettled: 0n, available: RICH });
    expect(await minute(ledger, A.holder)).to.deep.include({ day: 0n });
    expect(taken).to.deep.equal([`${h1.requestId}:taken_back:${QUOTE.cost(20, 6)}`, `${h2.requestId}:taken_back:${c2}`]);
    expect(await ledger.createBatch(100, build, T0 + 2)).to.equal(undefined);
  });

  /**
   * A replica over the real driver that records the leased charges' statements ("insert ×n",
   * "again ×n", and how each failed); the first `lose` of them lose their reply after their commit.
   */
  function recordingReplica(lose: number): { replica: Ledger; sent: string[] } {
    const sent: string[] = [];
    const real = ledger.db;
    const driver: SqlDriver = {
      kind: real.kind,
      forUpdate: real.forUpdate,
      transaction: (fn, o) => real.transaction(fn, o),
      statement: async (sql, p, o) => {
        const name = sql === LEASED_CHARGES_PG ? "insert" : sql === LEASED_CHARGES_AGAIN_PG ? "again" : undefined;
        if (!name) return real.statement(sql, p, o);
        sent.push(`${name} ×${JSON.parse(`[${String(p![0]).slice(1, -1)}]`).length}`);
        try {
          const r = await real.statement(sql, p, o);
          if (lose-- > 0) throw new Error("Connection terminated unexpectedly");
          return r;
        } catch (err) {
          sent.push(`${name} failed: ${(err as { code?: string }).code ?? (err as Error).message}`);
          throw err;
        }
      },
      exec: (sql) => real.exec(sql),
      close: async () => undefined,
    };
    return { replica: new Ledger(driver, { leases: true }), sent };
  }
  const chargedRows = async (ids: string[]) =>
    (await rows(ledger, "SELECT request_id, status, charge FROM gw_requests WHERE request_id = ANY ($1::text[])", [`{${ids.join(",")}}`]))
      .map((r) => [String(r.request_id), r.status, BigInt(r.charge as string)])
      .sort();

  it("a group of leased charges whose reply was lost is charged once: sent again, the insert fails on the ids and the idempotent one leaves the rows as they are", async () => {
    for (const who of [A, B, C]) await addTestAccount(ledger, { ...who, balance: RICH, cap: RICH });
    const { replica, sent } = recordingReplica(1);
    try {
      const held = await Promise.all([A, B, C].map((who) => replica.hold(params(who))));
      const got = await Promise.all(held.map((h) => replica.settleRequest(h.requestId, charge(10), T0 + 1)));
      const each = QUOTE.cost(20, 10);
      expect(got).to.deep.equal([{ charge: each }, { charge: each }, { charge: each }]);
      expect(sent, "one statement for the three, then each alone: the plain insert refused, the idempotent one").to.deep.equal([
        "insert ×3",
        "insert failed: Connection terminated unexpectedly",
        ...[1, 2, 3].flatMap(() => ["insert ×1", "insert failed: 23505", "again ×1"]),
      ]);
      const ids = held.map((h) => h.requestId);
      expect(await chargedRows(ids)).to.deep.equal([...ids].sort().map((id) => [id, "charged", each]));
      // A charge with nothing in its place: the plain insert alone.
      sent.length = 0;
      const next = await replica.hold(params(A));
      expect(await replica.settleRequest(next.requestId, charge(10), T0 + 2)).to.deep.equal({ charge: each });
      expect(sent).to.deep.equal(["insert ×1"]);
      await replica.returnLeases();
      for (const who of [A, B, C]) expect(await ledger.holderState(who.holder)).to.deep.include({ openHolds: 0n });
    } finally {
      await replica.close();
    }
  });

  it("a group of leased charges with a row in one request's place: the insert is refused, the idempotent one charges the others and leaves that row", async () => {
    for (const who of [A, B, C]) await addTestAccount(ledger, { ...who, balance: RICH, cap: RICH });
    const { replica, sent } = recordingReplica(0);
    try {
      const held = await Promise.all([A, B, C].map((who) => replica.hold(params(who))));
      // C's request has a released row in its place already (as a take-back writes one).
      await rows(
        ledger,
        `INSERT INTO gw_requests (request_id, key_id, auth_id, holder, nonce, model, tier, price_version, status, hold, input_bound, max_output, replica, created_at, ending)
         VALUES ($1, 'k', $2, $3, 0, 'm', 'normal', 1, 'released', 0, 0, 0, 'r1', 0, 'ledger_error')`,
        [held[2].requestId, C.authId, C.holder],
      );
      const got = await Promise.all(held.map((h) => replica.settleRequest(h.requestId, charge(10), T0 + 1)));
      const each = QUOTE.cost(20, 10);
      expect(got, "the third not charged: its row stands").to.deep.equal([{ charge: each }, { charge: each }, undefined]);
      expect(sent).to.deep.equal(["insert ×3", "insert failed: 23505", "again ×3"]);
      const ids = held.map((h) => h.requestId);
      expect(await chargedRows(ids)).to.deep.equal(
        [
          [ids[0], "charged", each],
          [ids[1], "charged", each],
          [ids[2], "released", 0n],
        ].sort(),
      );
    } finally {
      await replica.close();
    }
  });

  it("a charge under a lease no longer open is not recorded, and the lease is closed; one a process does not know is returned by its orphan sweep", async () => {
    await addTestAccount(ledger, { ...A, balance: RICH, cap: RICH });
    const h = await ledger.hold(params(A));
    const h2 = await ledger.hold(params(A));
    // Another process under the same name (as after a take whose reply was lost) does not know the lease: its sweep returns it.
    const stranger = await db.open({ leases: true });
    expect(await stranger.releaseOrphans("r1", T0 + 3_600_000, T0 + 3_600_000)).to.equal(1);
    expect(await leaseRows(ledger, A.holder)).to.deep.equal([{ status: "released", hold: 0n, replica: "r1" }]);
    // The charge finds its lease returned: nothing inserted (it could no longer be converted), nothing held.
    expect(await ledger.settleRequest(h.requestId, charge(5), T0 + 1)).to.equal(undefined);
    expect(await ledger.request(h.requestId)).to.equal(undefined);
    expect(ledger.leaseStats()).to.include({ open: 0 });
    await ledger.settleRequest(h2.requestId, release, T0 + 1);
    expect(await ledger.holderState(A.holder)).to.deep.include({ openHolds: 0n, unsettled: 0n, available: RICH });
    // The next request takes a new lease; the owner's own sweep leaves it alone, in use or idle.
    const h3 = await ledger.hold(params(A, { now: T0 + 10 }));
    expect(ledger.leaseStats()).to.include({ taken: 2, open: 1 });
    expect(await ledger.releaseOrphans("r1", T0 + 3_600_000, T0 + 3_600_000)).to.equal(0);
    await ledger.returnLeases();
    expect(await ledger.releaseOrphans("r1", T0 + 3_600_000, T0 + 3_600_000)).to.equal(0);
    expect((await leaseRows(ledger, A.holder))[1].status).to.equal("held");
    await ledger.settleRequest(h3.requestId, charge(5), T0 + 2);
    await ledger.returnLeases();
    expect((await leaseRows(ledger, A.holder))[1]).to.deep.equal({ status: "returned", hold: QUOTE.cost(20, 5), replica: "r1" });
  });

  it("a lease whose taking's reply was lost gives back its credits, and its requests and tokens while their minute is the holder's", async () => {
    await addTestAccount(ledger, { ...A, balance: RICH, cap: RICH });
    await addTestAccount(ledger, { ...B, balance: RICH, cap: RICH });
    const failure = (p: Promise<unknown>) =>
      p.then(
        () => expect.fail("expected a failure"),
        (e: Error) => e.message,
      );
    const settled = async (l: Ledger) => {
      await l.returnLeases();
      for (let i = 0; l.releasingInBackground(); i++) {
        if (i > 100) throw new Error("still releasing after 5 s");
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const { driver, f } = unreliable(ledger.db);
    const lossy = new Ledger(driver, { leases: true });
    // A: the take commits, its reply is lost; the return finds it in the same minute and gives everything back.
    f.next = ["lost"];
    expect(await failure(lossy.hold(params(A)))).to.equal("Connection terminated unexpectedly");
    await settled(lossy);
    expect(await leaseRows(ledger, A.holder)).to.deep.equal([{ status: "released", hold: 0n, replica: "r1" }]);
    expect(await minute(ledger, A.holder)).to.deep.equal({ requests: 0, tokens: 0, day: 0n });
    expect((await ledger.holderState(A.holder))!.openHolds).to.equal(0n);
    expect((await ledger.authorizationState(A.authId))!.openHolds).to.equal(0n);
    expect(lossy.leaseStats()).to.include({ taken: 0, returned: 1, open: 0 });
    // B: its return waits (the database away twice) while B's next minute begins with a lease of
    // another request: that minute's requests and tokens are not given back; the credits are.
    f.next = ["lost", "down", "down"];
    expect(await failure(lossy.hold(params(B)))).to.equal("Connection terminated unexpectedly");
    const next = await ledger.hold(params(B, { now: T0 + MINUTE }));
    const counted = await minute(ledger, B.holder);
    expect(counted.requests, "the new minute's lease").to.equal(LEASE_REQUESTS);
    await settled(lossy);
    expect(await minute(ledger, B.holder)).to.deep.equal({ ...counted, day: counted.day - LEASE });
    expect((await ledger.holderState(B.holder))!.openHolds).to.equal(LEASE);
    await ledger.settleRequest(next.requestId, release, T0 + MINUTE + 1);
    await ledger.returnLeases();
    expect((await ledger.holderState(B.holder))!.openHolds).to.equal(0n);
  });

  it("a batch charges what a lease did not hold (a lease lost in a crash of the database) instead of stopping, and says so", async () => {
    await addTestAccount(ledger, { ...A, balance: RICH, cap: RICH });
    const h = await ledger.hold(params(A));
    await ledger.settleRequest(h.requestId, charge(10), T0 + 1);
    const [{ lease_id: leaseId }] = await rows(ledger, "SELECT lease_id FROM gw_requests WHERE request_id = $1", [h.requestId]);
    // As if the lease's take had been lost: its row gone, its counts with it.
    await rows(ledger, "DELETE FROM gw_requests WHERE request_id = $1", [leaseId]);
    await rows(ledger, "UPDATE gw_holders SET open_holds = 0 WHERE holder = $1", [A.holder]);
    await rows(ledger, "UPDATE gw_authorizations SET open_holds = 0 WHERE auth_id = $1", [A.authId]);
    const told: unknown[] = [];
    ledger.onLeaseShortfall = (e) => told.push(e);
    const c = QUOTE.cost(20, 10);
    expect((await ledger.createBatch(100, build, T0 + 2))!.requested).to.equal(c);
    expect(told).to.deep.equal([{ leaseId, charged: c, held: 0n }]);
    expect(await ledger.holderState(A.holder)).to.deep.include({ openHolds: 0n, unsettled: c });
    expect(await ledger.authorizationState(A.authId)).to.deep.include({ openHolds: 0n, charged: c });
  });

  it("a lower balance cuts the leases of every replica that reads it, whichever one writes it", async () => {
    await addTestAccount(ledger, { ...A, balance: RICH, cap: RICH });
    const second = await db.open({ leases: true });
    await ledger.settleRequest((await ledger.hold(params(A))).requestId, release, T0);
    await second.settleRequest((await second.hold(params(A, { replica: "r2" }))).requestId, release, T0);
    const lower = new Map([[A.holder, RICH - 1n]]);
    await ledger.setBalances(lower, await ledger.settledEpoch(), T0 + 1);
    // Written by the first: the second finds it written already, and cuts its own lease all the same.
    await second.setBalances(lower, await second.settledEpoch(), T0 + 1);
    expect([ledger.leaseStats().open, second.leaseStats().open]).to.deep.equal([0, 0]);
  });

  it("a settlement lowers the balance without cutting a lease: what is available is as it was", async () => {
    await addTestAccount(ledger, { ...A, balance: RICH, cap: RICH });
    const second = await db.open({ leases: true });
    await ledger.settleRequest((await ledger.hold(params(A))).requestId, charge(10), T0);
    await second.settleRequest((await second.hold(params(A, { replica: "r2" }))).requestId, release, T0);
    const batch = (await ledger.createBatch(100, build, T0 + 1))!;
    expect(await ledger.finishBatch(batch.batchId, new Map([[A.authId, batch.requested]]), null, T0 + 2)).to.equal(true);
    // The chain's balance is now the ledger's: read by both, nothing written, nothing cut.
    const settled = new Map([[A.holder, RICH - batch.requested]]);
    expect(await ledger.setBalances(settled, await ledger.settledEpoch(), T0 + 3)).to.equal(true);
    expect(await second.setBalances(settled, await second.settledEpoch(), T0 + 3)).to.equal(true);
    expect([ledger.leaseStats().open, second.leaseStats().open]).to.deep.equal([1, 1]);
    // A clawback after it does.
    const lower = new Map([[A.holder, RICH - batch.requested - 1n]]);
    await second.setBalances(lower, await second.settledEpoch(), T0 + 4);
    await ledger.setBalances(lower, await ledger.settledEpoch(), T0 + 4);
    expect([ledger.leaseStats().open, second.leaseStats().open]).to.deep.equal([0, 0]);
  });

  it("renews a lease a minute after its last renewal, with the new minute's requests; a new day takes a new lease", async () => {
    await addTestAccount(ledger, { ...A, balance: RICH, cap: RICH });
    await ledger.settleRequest((await ledger.hold(params(A))).requestId, release, T0);
    await ledger.settleRequest((await ledger.hold(params(A, { now: T0 + 61_000 }))).requestId, release, T0 + 61_000);
    expect(ledger.leaseStats()).to.include({ taken: 1, toppedUp: 1 });
    // The new minute counts the top-up's 16 requests; the first minute's 8 stay counted in their own window.
    expect(await minute(ledger, A.holder)).to.include({ requests: 2 * LEASE_REQUESTS });
    const [renewed] = await rows(ledger, "SELECT finished_at FROM gw_requests WHERE lease_id = request_id");
    expect(Number(renewed.finished_at)).to.equal(T0 + 61_000);
    // T0 is noon (UTC): the next day starts 12 hours later.
    await ledger.hold(params(A, { now: T0 + 13 * 3_600_000 }));
    for (let i = 0; ledger.leaseStats().returned === 0 && i < 100; i++) await new Promise((r) => setTimeout(r, 20));
    expect(ledger.leaseStats()).to.include({ taken: 2, returned: 1, open: 1 });
  });

  it("the idle sweep returns a lease only once none of its requests is in flight", async function () {
    this.timeout(20_000);
    await addTestAccount(ledger, { ...A, balance: RICH, cap: RICH });
    const h = await ledger.hold(params(A));
    await new Promise((r) => setTimeout(r, LEASE_IDLE_MS + 1_200));
    expect(ledger.leaseStats()).to.include({ open: 1, returned: 0 });
    await ledger.settleRequest(h.requestId, charge(3), T0 + 1);
    await new Promise((r) => setTimeout(r, LEASE_IDLE_MS + 1_200));
    expect(ledger.leaseStats()).to.include({ open: 0, returned: 1 });
    expect(await ledger.holderState(A.holder)).to.deep.include({ openHolds: 0n, unsettled: QUOTE.cost(20, 3) });
  });

  it("a lease returned idle is taken again at its last size, or at the first size where four times that much is not left", async function () {
    this.timeout(20_000);
    const D = { holder: "0x00000000000000000000000000000000000000d4", authId: "0xd4" };
    for (const who of [A, B, D]) await addTestAccount(ledger, { ...who, balance: RICH, cap: RICH });
    // A's lease grows to 64 requests (8, then 16, 32, 64); B's and D's to 16.
    const holds = [];
    for (let i = 0; i < LEASE_REQUESTS * 7 + 1; i++) holds.push(await ledger.hold(params(A)));
    for (const who of [B, D]) for (let i = 0; i < LEASE_REQUESTS + 1; i++) holds.push(await ledger.hold(params(who)));
    expect(ledger.leaseStats()).to.include({ taken: 3, recalled: 0, toppedUp: 5 });
    for (const h of holds) await ledger.settleRequest(h.requestId, release, T0 + 1);
    await new Promise((r) => setTimeout(r, LEASE_IDLE_MS + 1_200));
    expect(ledger.leaseStats()).to.include({ open: 0, returned: 3 });
    // B now has 40 worst cases: four leases of 8 fit, four of 16 do not. D has 64: four of 16 fit.
    await rows(ledger, "UPDATE gw_holders SET balance = $2 WHERE holder = $1", [B.holder, (WORST * 40n).toString()]);
    await rows(ledger, "UPDATE gw_holders SET balance = $2 WHERE holder = $1", [D.holder, (WORST * 64n).toString()]);
    for (const who of [A, B, D]) await ledger.hold(params(who));
    expect(ledger.leaseStats()).to.include({ taken: 6, recalled: 2, toppedUp: 5, refused: 0, open: 3 });
    const open = async (who: typeof A) => (await leaseRows(ledger, who.holder)).filter((l) => l.status === "held");
    expect(await open(A)).to.deep.equal([{ status: "held", hold: WORST * BigInt(LEASE_REQUESTS * 8), replica: "r1" }]);
    expect(await open(B)).to.deep.equal([{ status: "held", hold: WORST * BigInt(LEASE_REQUESTS), replica: "r1" }]);
    expect(await open(D)).to.deep.equal([{ status: "held", hold: WORST * BigInt(LEASE_REQUESTS * 2), replica: "r1" }]);
    // The minute's requests: those held under the first leases, and the new leases' (B's refused
    // attempt at 16 counted nothing). The day's credits: what each new lease holds.
    expect(await minute(ledger, A.holder)).to.deep.equal({
      requests: LEASE_REQUESTS * 7 + 1 + LEASE_REQUESTS * 8,
      tokens: 50 * (LEASE_REQUESTS * 7 + 1 + LEASE_REQUESTS * 8),
      day: WORST * BigInt(LEASE_REQUESTS * 8),
    });
    expect(await minute(ledger, B.holder)).to.deep.equal({
      requests: LEASE_REQUESTS + 1 + LEASE_REQUESTS,
      tokens: 50 * (LEASE_REQUESTS + 1 + LEASE_REQUESTS),
      day: WORST * BigInt(LEASE_REQUESTS),
    });
    expect(await minute(ledger, D.holder)).to.include({ requests: LEASE_REQUESTS + 1 + LEASE_REQUESTS * 2 });
  });

  it("two replicas with leases and the exact path never spend more than the balance; every credit ends charged or given back", async () => {
    const balances = [LEASE * 12n, LEASE * 6n, LEASE * 3n];
    const who = [A, B, C];
    for (const [i, w] of who.entries()) await addTestAccount(ledger, { ...w, balance: balances[i], cap: RICH });
    const replicas = [ledger, await db.open({ leases: true })];
    let served = 0;
    let refused = 0;
    let random = 7;
    const next = (n: number) => {
      // xorshift32: a fixed sequence, so a failure can be replayed.
      random ^= random << 13;
      random ^= random >>> 17;
      random ^= random << 5;
      return (random >>> 0) % n;
    };
    for (let wave = 0; wave < 12; wave++) {
      const jobs = Array.from({ length: 40 }, async (_, j) => {
        const r = replicas[j % 2];
        const w = who[next(3)];
        let h: Awaited<ReturnType<Ledger["hold"]>>;
        try {
          h = await r.hold(params(w, { replica: `r${(j % 2) + 1}`, now: T0 + wave * 1_000 }));
        } catch (err) {
          if (!(err instanceof GatewayError) || err.status !== 402) throw err;
          refused++;
          return;
        }
        served++;
        const out = next(4) === 0 ? 0 : next(31);
        await r.settleRequest(h.requestId, out === 0 ? release : charge(out), T0 + wave * 1_000 + 500);
      });
      await Promise.all(jobs);
      if (wave % 3 === 1) await replicas[wave % 2].createBatch(50, build, T0 + wave * 1_000 + 900);
      if (wave === 6) await replicas[1].returnLeases();
    }
    expect(served).to.be.greaterThan(100);
    expect(refused).to.be.greaterThan(0);
    const stats = replicas.map((r) => r.leaseStats());
    expect(stats[0].taken + stats[1].taken).to.be.greaterThan(2);
    expect(stats[0].toppedUp + stats[1].toppedUp).to.be.greaterThan(5);
    expect(stats[0].refused + stats[1].refused).to.be.greaterThan(5);
    for (const r of replicas) await r.returnLeases();
    while (await ledger.createBatch(100, build, T0 + 20_000));
    for (const [i, w] of who.entries()) {
      const [sum] = await rows(ledger, "SELECT COALESCE(SUM(charge), 0) AS s FROM gw_requests WHERE holder = $1 AND status = 'charged'", [w.holder]);
      const charged = BigInt(sum.s as string);
      expect(charged <= balances[i], `${w.holder} charged ${charged} of ${balances[i]}`).to.equal(true);
      expect(await ledger.holderState(w.holder)).to.deep.include({ openHolds: 0n, unsettled: charged, available: balances[i] - charged });
      expect(await ledger.authorizationState(w.authId)).to.deep.include({ openHolds: 0n, charged });
      for (const l of await leaseRows(ledger, w.holder)) expect(l).to.include({ status: "released", hold: 0n });
    }
  });
});
