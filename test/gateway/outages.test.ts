/**
 * The gateway when what it depends on goes away: the chain (its RPC node unreachable) and the
 * ledger's PostgreSQL, each behind a TCP proxy that drops every connection and refuses new ones
 * (test/support/tcpProxy.ts), in front of the real anvil and the real PostgreSQL.
 *
 * - Chain: a gateway that cannot read the chain cannot see a revocation, so after
 *   `chain.failClosedAfterMs` it refuses metered requests (503 `chain_unreachable`, Retry-After),
 *   says so on /readyz, and issues no key; once it reads the chain again it applies what landed
 *   meanwhile (a revocation) before serving. So with a node that answers but whose head has grown
 *   older than `chain.maxHeadAgeMs` (stuck).
 * - Ledger: 503 `ledger_unavailable` with Retry-After instead of a 500, /readyz not ready, nothing
 *   charged or left held; served again once the database answers.
 */
import { expect } from "chai";
import { readCreditBalance } from "../../sdk/credits/reads.js";
import { parseCredits } from "../../sdk/credits/units.js";
import { revokeAuthorization } from "../../sdk/credits/write.js";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Gateway, TAKE_BACKS_FILE } from "../../gateway/index.js";
import { batchOf, waitingCharge } from "../../gateway/ledger/watermark.js";
import { rpc } from "../../devkit/localChain.js";
import { startTcpProxy, type TcpProxy } from "../support/tcpProxy.js";
import { available, createTestDatabase, type TestDatabase } from "./support/databases.js";
import { MODEL, gatewayFixtureForSuite } from "./support/gatewayFixture.js";

const ask = (gw: Gateway, key: string) =>
  fetch(`${gw.url}/v1/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL, prompt: "Tom", max_tokens: 2 }),
  });

const askStream = (gw: Gateway, key: string) =>
  fetch(`${gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "Tom" }], max_tokens: 3, stream: true, stream_options: { include_usage: true } }),
  });

const errorOf = async (res: Response) => ((await res.json()) as { error: { code: string; message: string; type: string } }).error;

/** Polls /readyz until its status is `status`; returns its body. */
async function readyz(gw: Gateway, status: number, withinMs = 15_000): Promise<{ ready: boolean; reason?: string }> {
  const end = Date.now() + withinMs;
  for (;;) {
    const res = await fetch(`${gw.url}/readyz`);
    const body = (await res.json()) as { ready: boolean; reason?: string };
    if (res.status === status) return body;
    if (Date.now() > end) throw new Error(`/readyz stayed ${res.status} (${JSON.stringify(body)}), not ${status}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("gateway outages: the chain and the ledger unreachable", function () {
  this.timeout(180_000);
  const fixture = gatewayFixtureForSuite();
  const proxies: TcpProxy[] = [];
  const databases: TestDatabase[] = [];
  after(async () => {
    for (const p of proxies) await p.close();
    for (const d of databases) await d.drop();
  });

  /** A fresh PostgreSQL test database, reached through a proxy that can cut it: the gateway's `database` section for it. */
  async function postgresBehindProxy(): Promise<{ proxy: TcpProxy; database: { kind: "postgres"; url: string } }> {
    const db = await createTestDatabase("postgres");
    databases.push(db);
    const config = db.config() as { kind: "postgres"; url: string };
    const pgUrl = new URL(config.url);
    const proxy = await startTcpProxy(pgUrl.hostname, Number(pgUrl.port || 5432));
    proxies.push(proxy);
    return { proxy, database: { kind: "postgres", url: proxy.url(config.url) } };
  }

  it("refuses metered requests and new keys while it cannot read the chain, and applies a revocation made meanwhile before it serves again", async () => {
    const f = fixture();
    const anvil = new URL(f.chain.anvil.rpcUrl);
    const proxy = await startTcpProxy(anvil.hostname, Number(anvil.port));
    proxies.push(proxy);
    const failClosedAfterMs = 1_000;
    const base = f.config();
    const gw = await f.start({ chain: { ...base.chain, rpcUrl: proxy.url(f.chain.anvil.rpcUrl), failClosedAfterMs }, replica: "outage-chain" });
    await f.grant(0, "3");
    const cut = await f.createKey(gw, await f.authorize(0));
    const kept = await f.createKey(gw, await f.authorize(0));
    expect(cut.status).to.equal(201);
    expect(kept.status).to.equal(201);
    expect((await ask(gw, cut.body.key)).status).to.equal(200);
    await readyz(gw, 200);
    const metricsText = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metricsText).to.match(/ctk_gateway_chain_read_age_seconds \d/);

    await proxy.cut();
    const cutAt = performance.now();
    const notReady = await readyz(gw, 503);
    const refusedAfterMs = Math.round(performance.now() - cutAt);
    expect(notReady.reason).to.match(/the chain has not been followed for \d+ s/);
    // Counted from the last poll that read the head and applied it (monotonic clock).
    expect(performance.now() - gw.watcher.syncedAt, "not before failClosedAfterMs").to.be.at.least(failClosedAfterMs);

    const holder = cut.body.holder as string;
    const before = await gw.ledger.holderState(holder);
    const res = await ask(gw, cut.body.key);
    expect(res.status).to.equal(503);
    expect(res.headers.get("retry-after")).to.equal("5");
    const err = await errorOf(res);
    expect(err.code).to.equal("chain_unreachable");
    expect(err.message).to.match(/has not been able to follow the chain for \d+ s, so it cannot see revocations.*nothing was charged/);
    expect(await gw.ledger.holderState(holder), "no hold, no charge").to.deep.equal(before);

    const key = await f.createKey(gw, await f.authorize(0));
    expect(key.status).to.equal(503);
    expect(key.body.error.code).to.equal("key_service_unavailable");

    // Meanwhile the holder revokes the first authorization: the gateway cannot see it.
    const nonce = BigInt(
      (await gw.ledger.db.transaction((tx) => tx.one("SELECT nonce FROM gw_authorizations WHERE auth_id = $1", [cut.body.authorizationId])))!.nonce as string | bigint,
    );
    const receipt = await revokeAuthorization(f.chain.employee(0), gw.address, nonce);
    expect((await ask(gw, cut.body.key)).status, "still refused: not served with the revocation unseen").to.equal(503);

    await proxy.restore();
    await readyz(gw, 200);
    expect(gw.watcher.lastBlock >= receipt.blockNumber, "the revocation's block applied before ready").to.equal(true);
    const revoked = await ask(gw, cut.body.key);
    expect(revoked.status).to.equal(403);
    expect((await errorOf(revoked)).code).to.equal("authorization_revoked");
    expect((await ask(gw, kept.body.key)).status).to.equal(200);
    expect((await f.createKey(gw, await f.authorize(0))).status).to.equal(201);
    console.log(`      chain cut: refused ${refusedAfterMs} ms after the cut (failClosedAfterMs ${failClosedAfterMs})`);
    await gw.stop({ settle: false });
  });

  it("refuses metered requests while the chain's node answers with a head older than chain.maxHeadAgeMs (stuck), and serves again once a new block comes", async () => {
    const f = fixture();
    const base = f.config();
    const maxHeadAgeMs = 2_000;
    const failClosedAfterMs = 1_000;
    const logs: Record<string, unknown>[] = [];
    const gw = await f.start({ chain: { ...base.chain, failClosedAfterMs, maxHeadAgeMs }, replica: "outage-stuck-head" }, logs);
    await f.grant(1, "3");
    const key = await f.createKey(gw, await f.authorize(1));
    expect(key.status).to.equal(201);
    await rpc(f.chain, "evm_mine");
    expect((await ask(gw, key.body.key)).status).to.equal(200);
    // No block comes (the devnet's anvil mines only for transactions, as a stuck node would look): the head grows old.
    const notReady = await readyz(gw, 503);
    expect(notReady.reason).to.match(
      /^the chain has not been followed for \d+ s: its node answers, but its head \(block \d+\) is \d+ s old \(chain.maxHeadAgeMs 2000\); metered requests are refused$/,
    );
    expect(gw.watcher.staleHead!.ageMs).to.be.greaterThan(maxHeadAgeMs);
    const holder = key.body.holder as string;
    const before = await gw.ledger.holderState(holder);
    const refused = await ask(gw, key.body.key);
    expect(refused.status).to.equal(503);
    expect((await errorOf(refused)).code).to.equal("chain_unreachable");
    expect(await gw.ledger.holderState(holder), "no hold, no charge").to.deep.equal(before);
    expect(logs.some((l) => String(l.msg).startsWith(`the chain's head (block ${gw.watcher.staleHead!.block}) is`))).to.equal(true);
    // A new block: followed again.
    await rpc(f.chain, "evm_mine");
    await readyz(gw, 200);
    expect(gw.watcher.staleHead).to.equal(undefined);
    expect((await ask(gw, key.body.key)).status).to.equal(200);
    await gw.stop({ settle: false });
  });

  for (const leases of [true, false])
    it(`answers 503 ledger_unavailable with Retry-After while PostgreSQL cannot be reached, charges nothing, and serves again once it answers (leases ${leases ? "on" : "off"})`, async function () {
      if (!available("postgres")) return this.skip();
      const f = fixture();
      const { proxy, database } = await postgresBehindProxy();
      const gw = await f.start({ database: { ...database, leases }, replica: `outage-ledger-${leases}` });
      await f.grant(1, "3");
      const cached = await f.createKey(gw, await f.authorize(1));
      const fresh = await f.createKey(gw, await f.authorize(1));
      const holder = cached.body.holder as `0x${string}`;
      expect((await ask(gw, cached.body.key)).status).to.equal(200);
      await readyz(gw, 200);
      const before = await gw.ledger.holderState(holder);

      await proxy.cut();
      // A key already used (its authorization cached): the hold is what fails, or, held under the
      // replica's lease in memory, the charge (the answer is then not delivered, and not charged).
      const held = await ask(gw, cached.body.key);
      expect(held.status).to.equal(503);
      expect(held.headers.get("retry-after")).to.equal("1");
      const e1 = await errorOf(held);
      expect(e1.code).to.equal("ledger_unavailable");
      expect(e1.message).to.match(
        leases
          ? /placing the hold\); nothing was charged|recording this request's usage\), so the response is not delivered and not charged/
          : /placing the hold\); nothing was charged/,
      );
      // A key not seen before: its lookup is what fails.
      const lookedUp = await ask(gw, fresh.body.key);
      expect(lookedUp.status).to.equal(503);
      expect((await errorOf(lookedUp)).message).to.include("looking up the API key");
      const notReady = await readyz(gw, 503);
      expect(notReady.reason).to.match(/the ledger does not answer|did not answer within/);

      await proxy.restore();
      await readyz(gw, 200);
      expect((await ask(gw, fresh.body.key)).status).to.equal(200);
      // Nothing of the refused requests stays held; only the two served requests are charged.
      const end = Date.now() + 30_000;
      let state = await gw.ledger.holderState(holder);
      while (state!.openHolds !== 0n && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 200));
        state = await gw.ledger.holderState(holder);
      }
      expect(state!.openHolds).to.equal(0n);
      const charged = await gw.ledger.db.transaction((tx) => tx.all("SELECT status, charge FROM gw_requests WHERE holder = $1 ORDER BY created_at", [holder]));
      expect(charged.filter((r) => r.status === "charged").length).to.equal(2);
      expect(state!.unsettled - before!.unsettled).to.equal(BigInt(charged.filter((r) => r.status === "charged")[1].charge as string | bigint));
      expect(await readCreditBalance(f.chain.reader, holder)).to.equal(state!.balance);
      await gw.stop({ settle: false });
    });

  it("under load, plain and streamed, with PostgreSQL cut three times: stays up, answers 200 or 503, leaves nothing held, and charges each answer delivered once and nothing else", async function () {
    if (!available("postgres")) return this.skip();
    const f = fixture();
    const { proxy, database } = await postgresBehindProxy();
    // Small batches: settlement runs into the cuts too.
    const logs: Record<string, unknown>[] = [];
    const gw = await f.start({ database, replica: "outage-load", settlement: { intervalMs: 200, maxCharges: 10 } }, logs);
    const keys: { key: string; holder: `0x${string}` }[] = [];
    for (const i of [2, 3, 4]) {
      await f.grant(i, "50");
      const k = await f.createKey(gw, await f.authorize(i));
      expect(k.status).to.equal(201);
      keys.push(k.body as { key: string; holder: `0x${string}` });
    }
    const served = new Map<string, bigint>();
    const statuses = new Map<number, number>();
    const codes = new Set<string>();
    let stop = false;
    let cutStreams = 0;
    const clients = Array.from({ length: 12 }, async (_, c) => {
      // Half the clients stream: a stream whose last charge the ledger does not answer is cut before its end.
      const streaming = c % 2 === 1;
      for (let n = 0; !stop; n++) {
        const res = await (streaming ? askStream : ask)(gw, keys[(c + n) % keys.length].key);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status === 200 && streaming) {
          const text = await res.text().catch(() => "");
          if (!text.endsWith("data: [DONE]\n\n")) {
            cutStreams++;
            continue;
          }
          const last = text.split("\n\n").filter((e) => e.includes('"cost_base_units"'));
          expect(last.length, text).to.equal(1);
          served.set(res.headers.get("x-request-id")!, BigInt(JSON.parse(last[0].slice(6)).usage.cost_base_units));
        } else if (res.status === 200) {
          await res.text();
          served.set(res.headers.get("x-request-id")!, BigInt(res.headers.get("x-ctk-cost-base-units")!));
        } else {
          codes.add((await errorOf(res)).code);
          if (res.status === 503) await new Promise((r) => setTimeout(r, 50));
        }
      }
    });
    for (let cut = 0; cut < 3; cut++) {
      await new Promise((r) => setTimeout(r, 1_000));
      await proxy.cut();
      await new Promise((r) => setTimeout(r, 700));
      await proxy.restore();
    }
    await new Promise((r) => setTimeout(r, 1_000));
    stop = true;
    await Promise.all(clients);
    expect([...statuses.keys()].sort(), JSON.stringify([...statuses])).to.deep.equal([200, 503]);
    expect([...codes]).to.deep.equal(["ledger_unavailable"]);
    await readyz(gw, 200);
    // Holds whose answer was lost, and charges committed for answers never delivered, are released
    // and taken back in the background once the database answers.
    const end = Date.now() + 60_000;
    const held = async () => (await gw.ledger.db.transaction((tx) => tx.all("SELECT request_id FROM gw_requests WHERE status = 'held'"))).length;
    while (((await held()) > 0 || gw.ledger.releasingInBackground()) && Date.now() < end) await new Promise((r) => setTimeout(r, 250));
    expect(await held(), "holds left").to.equal(0);
    const rows = await gw.ledger.db.transaction((tx) => tx.all("SELECT request_id, charge FROM gw_requests WHERE status = 'charged'"));
    const charged = new Map(rows.map((r) => [String(r.request_id), BigInt(r.charge as string | bigint)]));
    for (const [id, cost] of served) expect(charged.get(id), id).to.equal(cost);
    const takenBack = logs.filter((l) => l.msg === "took back the charge of an answer not delivered (its commit's reply was lost)").length;
    expect(
      [...charged.keys()].filter((id) => !served.has(id)),
      "charged but not served",
    ).to.deep.equal([]);
    for (const k of keys) expect((await gw.ledger.holderState(k.holder))!.openHolds).to.equal(0n);
    // Each holder's unsettled charges are the charges not in a settled batch, those made under a
    // lease and not in a batch yet counted in the holds of their returned leases instead; and its
    // open holds are those leases' holds (one statement: one snapshot).
    const sum = (col: "charge" | "hold", where: string) =>
      `COALESCE((SELECT SUM(r.${col}) FROM gw_requests r LEFT JOIN gw_batches b ON b.batch_id = ${batchOf("r")} WHERE r.holder = h.holder AND ${where}), 0)`;
    const owed = await gw.ledger.db.transaction((tx) =>
      tx.all(`SELECT h.holder, h.unsettled, h.open_holds,
        ${sum("charge", "r.status = 'charged' AND (b.batch_id IS NULL OR b.status <> 'settled')")} AS owed,
        ${sum("charge", `r.lease_id IS NOT NULL AND ${waitingCharge("r")}`)} AS leased,
        ${sum("hold", "r.status IN ('held', 'returned')")} AS held FROM gw_holders h`),
    );
    const n = (v: unknown) => BigInt(v as string | bigint);
    for (const o of owed) {
      expect(n(o.unsettled) + n(o.leased), String(o.holder)).to.equal(n(o.owed));
      expect(n(o.open_holds), String(o.holder)).to.equal(n(o.held));
      expect(n(o.held), String(o.holder)).to.equal(n(o.leased));
    }
    await gw.stop({ settle: true });
    let onChain = 0n;
    for (const k of keys) onChain += parseCredits("50") - (await readCreditBalance(f.chain.reader, k.holder));
    const ledgerSum = [...charged.values()].reduce((a, b) => a + b, 0n);
    expect(onChain, "the chain charged what the ledger did").to.equal(ledgerSum);
    console.log(
      `      PostgreSQL cut 3 × 700 ms under load: ${[...statuses].map(([s, n]) => `${n} × ${s}`).join(", ")}; ${served.size} served and charged once (${cutStreams} streams cut before their end), none of the others charged (${takenBack} charges committed without an answer taken back); on-chain Σ ${onChain} = ledger Σ`,
    );
  });

  it("keeps the take-backs the database did not answer across a restart, and takes them up at the next start", async function () {
    if (!available("postgres")) return this.skip();
    const f = fixture();
    const { proxy, database } = await postgresBehindProxy();
    const records = join(f.dir, "records-take-backs");
    const over = { database, replica: "outage-take-backs", recordsDir: records };
    const logs: Record<string, unknown>[] = [];
    let gw = await f.start(over, logs);
    await f.grant(0, "3");
    const { body } = await f.createKey(gw, await f.authorize(0));
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const res = await ask(gw, body.key);
      expect(res.status).to.equal(200);
      ids.push(res.headers.get("x-request-id")!);
    }
    const holder = body.holder as string;
    const unsettled = async () => (await gw.ledger.holderState(holder))!.unsettled;
    const owedBefore = await unsettled();
    // As if both answers had not been delivered, with the database away: nothing can be taken back yet.
    await proxy.cut();
    for (const id of ids) gw.ledger.releaseUndelivered(id);
    // Kept in their file at once (a crash now would not lose them), and at the stop.
    const file = join(records, TAKE_BACKS_FILE);
    const kept = () => (existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as string[]).sort() : []);
    for (let i = 0; kept().length < ids.length && i < 100; i++) await new Promise((r) => setTimeout(r, 20));
    expect(kept()).to.deep.equal([...ids].sort());
    await gw.stop({ settle: false });
    expect(kept()).to.deep.equal([...ids].sort());
    expect(logs.some((l) => String(l.msg).startsWith("stopping with charges of undelivered answers not yet taken back"))).to.equal(true);

    await proxy.restore();
    gw = await f.start(over, logs);
    const end = Date.now() + 20_000;
    while (gw.ledger.releasingInBackground() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    for (const id of ids) expect((await gw.ledger.request(id))?.status, id).to.equal("released");
    expect(await unsettled(), "both charges taken back").to.equal(0n);
    expect(owedBefore > 0n).to.equal(true);
    for (let i = 0; existsSync(file) && i < 100; i++) await new Promise((r) => setTimeout(r, 20));
    expect(existsSync(file), "the file is removed once none is left").to.equal(false);
    expect(logs.filter((l) => l.msg === "took back the charge of an answer not delivered (its commit's reply was lost)").map((l) => l.requestId)).to.have.members(ids);
    await gw.stop({ settle: false });
    // A file that does not say which requests: the gateway does not start (it would forget them), and says why.
    writeFileSync(file, "[1, 2");
    const failed = await f.start(over).then(
      () => undefined,
      (err: Error) => err,
    );
    expect(failed?.message).to.match(/^take-backs file .*take-backs-pending\.json: .* \(the take-backs a previous run left pending\): repair or remove it$/);
    expect(readFileSync(file, "utf8"), "left as it was, for whoever repairs it").to.equal("[1, 2");
    rmSync(file);
  });
});
