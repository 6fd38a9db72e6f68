/**
 * The gateway when what it depends on goes away: the chain (its RPC node unreachable) and the
 * ledger's PostgreSQL, each behind a TCP proxy that drops every connection and refuses new ones
 * (test/support/tcpProxy.ts), in front of the real anvil and the real PostgreSQL.
 *
 * - Chain: a gateway that cannot read the chain cannot see a revocation, so after
 *   `chain.failClosedAfterMs` it refuses metered requests (503 `chain_unreachable`, Retry-After),
 *   says so on /readyz, and issues no key; once it reads the chain again it applies what landed
 *   meanwhile (a revocation) before serving.
 * - Ledger: 503 `ledger_unavailable` with Retry-After instead of a 500, /readyz not ready, nothing
 *   charged or left held; served again once the database answers.
 */
import { expect } from "chai";
import { readCreditBalance } from "../../sdk/credits/reads.js";
import { revokeAuthorization } from "../../sdk/credits/write.js";
import type { Gateway } from "../../gateway/index.js";
import { startTcpProxy, type TcpProxy } from "../support/tcpProxy.js";
import { available, createTestDatabase, type TestDatabase } from "./support/databases.js";
import { MODEL, gatewayFixtureForSuite } from "./support/gatewayFixture.js";

const ask = (gw: Gateway, key: string) =>
  fetch(`${gw.url}/v1/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL, prompt: "Tom", max_tokens: 2 }),
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
    const cutAt = Date.now();
    const notReady = await readyz(gw, 503);
    const refusedAfterMs = Date.now() - cutAt;
    expect(notReady.reason).to.match(/the chain has not been read for \d+ s/);
    // Counted from the last read of the head, which came at most a poll (50 ms) and its round trip before the cut.
    expect(refusedAfterMs, "not before failClosedAfterMs").to.be.at.least(failClosedAfterMs - 250);

    const holder = cut.body.holder as string;
    const before = await gw.ledger.holderState(holder);
    const res = await ask(gw, cut.body.key);
    expect(res.status).to.equal(503);
    expect(res.headers.get("retry-after")).to.equal("5");
    const err = await errorOf(res);
    expect(err.code).to.equal("chain_unreachable");
    expect(err.message).to.match(/cannot see revocations.*nothing was charged/);
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

  it("answers 503 ledger_unavailable with Retry-After while PostgreSQL cannot be reached, charges nothing, and serves again once it answers", async function () {
    if (!available("postgres")) return this.skip();
    const f = fixture();
    const db = await createTestDatabase("postgres");
    databases.push(db);
    const config = db.config() as { kind: "postgres"; url: string };
    const pgUrl = new URL(config.url);
    const proxy = await startTcpProxy(pgUrl.hostname, Number(pgUrl.port || 5432));
    proxies.push(proxy);
    const gw = await f.start({ database: { kind: "postgres", url: proxy.url(config.url) }, replica: "outage-ledger" });
    await f.grant(1, "3");
    const cached = await f.createKey(gw, await f.authorize(1));
    const fresh = await f.createKey(gw, await f.authorize(1));
    const holder = cached.body.holder as `0x${string}`;
    expect((await ask(gw, cached.body.key)).status).to.equal(200);
    await readyz(gw, 200);
    const before = await gw.ledger.holderState(holder);

    await proxy.cut();
    // A key already used (its authorization cached): the hold is what fails.
    const held = await ask(gw, cached.body.key);
    expect(held.status).to.equal(503);
    expect(held.headers.get("retry-after")).to.equal("1");
    const e1 = await errorOf(held);
    expect(e1.code).to.equal("ledger_unavailable");
    expect(e1.message).to.include("placing the hold); nothing was charged");
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
});
