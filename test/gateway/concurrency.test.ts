/**
 * The consumption race, end to end: 200 concurrent requests from one holder whose credits afford
 * 10 — through one gateway on SQLite, and through two gateway replicas on one PostgreSQL. At most
 * 10 are served, the rest get 402; after settlement the on-chain balance is grants − Σ charges,
 * never below zero.
 */
import { expect } from "chai";
import { chargeFor } from "../../sdk/credits/price.js";
import { readCreditBalance, readModelPrice, readPriorityFees } from "../../sdk/credits/reads.js";
import { formatCredits } from "../../sdk/credits/units.js";
import type { Gateway } from "../../gateway/index.js";
import { inputTokenBound } from "../../gateway/http/meteredProxy.js";
import { type TestDatabase, available, createTestDatabase } from "./support/databases.js";
import { type GatewayFixture, MODEL, startGatewayFixture } from "./support/gatewayFixture.js";

const BODY = { model: MODEL, messages: [{ role: "user", content: "Once" }], max_tokens: 16 };

describe("gateway under a consumption race", function () {
  this.timeout(300_000);
  let f: GatewayFixture;

  before(async () => {
    f = await startGatewayFixture();
  });
  after(async () => {
    await f?.stop();
  });

  /** Grants employee i exactly `n` worst-case holds of BODY; returns the grant in base units. */
  async function grantAffording(i: number, n: bigint): Promise<bigint> {
    const price = await readModelPrice(f.chain.reader, MODEL);
    const fees = await readPriorityFees(f.chain.reader);
    const worst = chargeFor({ inputTokens: inputTokenBound(BODY, true), outputTokens: BODY.max_tokens, tier: "normal" }, price, fees);
    await f.grant(i, formatCredits(worst * n));
    return worst * n;
  }

  async function race(gateways: Gateway[], key: string, n: number) {
    const results = await Promise.all(
      Array.from({ length: n }, async (_, j) => {
        const gw = gateways[j % gateways.length];
        const res = await fetch(`${gw.url}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
          body: JSON.stringify(BODY),
        });
        const body = (await res.json()) as { error?: { code: string } };
        return { status: res.status, cost: BigInt(res.headers.get("x-ctk-cost-base-units") ?? "0"), code: body.error?.code };
      }),
    );
    const served = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status !== 200);
    return { served, refused, charged: served.reduce((s, r) => s + r.cost, 0n) };
  }

  async function check(gateways: Gateway[], employee: number, label: string) {
    const granted = await grantAffording(employee, 10n);
    const { status, body } = await f.createKey(gateways[0], await f.authorize(employee, { cap: "1000" }));
    expect(status).to.equal(201);
    const t0 = Date.now();
    const { served, refused, charged } = await race(gateways, body.key, 200);
    const ms = Date.now() - t0;
    expect(served.length).to.be.at.least(1);
    expect(served.length).to.be.at.most(10);
    for (const r of refused) expect([r.status, r.code]).to.deep.equal([402, "insufficient_credits"]);
    for (const gw of gateways) expect((await gw.ledger.holderState(body.holder))!.openHolds).to.equal(0n);
    await gateways[0].settler.settleDue(true);
    const balance = await readCreditBalance(f.chain.reader, body.holder);
    expect(balance).to.equal(granted - charged);
    expect(balance >= 0n).to.equal(true);
    console.log(
      `      ${label}: 200 concurrent requests, credits for 10: ${served.length} served, ${refused.length} × 402 in ${ms} ms; granted ${granted}, charged ${charged}, on-chain balance after settlement ${balance} (base units)`,
    );
  }

  it("serves at most what the credits afford through one gateway on SQLite", async () => {
    const gw = await f.start({ replica: "sqlite-1" });
    try {
      await check([gw], 1, "SQLite, one gateway");
    } finally {
      await gw.stop({ settle: false });
    }
  });

  describe("two replicas on one PostgreSQL", () => {
    let db: TestDatabase;
    before(async function () {
      if (!available("postgres")) this.skip();
      db = await createTestDatabase("postgres");
    });
    after(async () => {
      await db?.drop();
    });

    it("serves at most what the credits afford across both replicas", async () => {
      const a = await f.start({ replica: "pg-a", database: db.config() });
      const b = await f.start({ replica: "pg-b", database: db.config() });
      try {
        await check([a, b], 2, "PostgreSQL, two replicas");
      } finally {
        await a.stop({ settle: false });
        await b.stop({ settle: false });
      }
    });
  });
});
