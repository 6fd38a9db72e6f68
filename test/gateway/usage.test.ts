/**
 * `GET /v1/usage` a page at a time, and `ctk credits usage` following the pages — through a real
 * gateway (anvil, the embedded model) on SQLite and on PostgreSQL. A holder with more records
 * than the largest page: every record comes back exactly once, newest first, in a stable order
 * (ties on the finish time broken by the request id, rows charged while paging never repeat one);
 * the limit is honored; bad parameters get a 400 in the OpenAI error shape; the CLI shows them all.
 */
import { expect } from "chai";
import type { Gateway } from "../../gateway/index.js";
import { encodeUsageCursor } from "../../gateway/http/usageRoute.js";
import { USAGE_DEFAULT_LIMIT, USAGE_MAX_LIMIT } from "../../sdk/credits/usageRecord.js";
import { quoteFor } from "../../gateway/metering/quote.js";
import type { UsageRecordView } from "../../sdk/credits/usageRecord.js";
import { jsonOf, runCtk } from "../support/cli.js";
import { DATABASE_KINDS, type TestDatabase, available, createTestDatabase } from "./support/databases.js";
import { gatewayFixtureForSuite, MODEL } from "./support/gatewayFixture.js";

interface Page {
  holder: string;
  records: UsageRecordView[];
  nextBefore: string | null;
}

/** Records beyond the real requests, charged through the gateway's own ledger: more than one full page. */
const SEEDED = USAGE_MAX_LIMIT + 13;
/** Records charged after the last settlement, still waiting for a batch. */
const UNSETTLED = 40;

describe("GET /v1/usage: bounded pages, and ctk credits usage following them", function () {
  this.timeout(600_000);
  const fixture = gatewayFixtureForSuite();

  for (const [i, kind] of DATABASE_KINDS.entries()) {
    describe(`on ${kind}`, () => {
      let db: TestDatabase | undefined;
      let gw: Gateway;
      let key: string;
      let holder: string;
      let seq = 0;

      const get = async (query: string, apiKey = key) => {
        const res = await fetch(`${gw.url}/v1/usage${query}`, { headers: { authorization: `Bearer ${apiKey}` } });
        return { status: res.status, body: (await res.json()) as Page & { error?: { type: string; code: string; param?: string; message: string } } };
      };
      const page = async (query: string): Promise<Page> => {
        const { status, body } = await get(query);
        expect(status, JSON.stringify(body)).to.equal(200);
        return body;
      };
      /** Every record, oldest first, as the ledger holds them (the reference). */
      const all = async () => (await gw.ledger.usage({ holder })).map((r) => r.requestId);

      /** Charges `n` requests through the gateway's ledger, `perMs` of them finishing in the same millisecond. */
      async function seed(n: number, finishedAt: number, perMs: number) {
        const [real] = await gw.ledger.usage({ holder, limit: 1 });
        const quote = quoteFor(gw.prices()!, MODEL, "normal")!;
        const limits = { requestsPerMinute: 1_000_000, tokensPerMinute: 1_000_000_000, creditsPerDay: 10n ** 15n };
        for (let j = 0; j < n; j += 50)
          await Promise.all(
            Array.from({ length: Math.min(50, n - j) }, async (_, k) => {
              const requestId = `chatcmpl-seed-${kind}-${String(seq++).padStart(6, "0")}`;
              await gw.ledger.hold({
                requestId,
                keyId: real.keyId,
                authId: real.authId,
                model: MODEL,
                tier: "normal",
                inputTokens: 4,
                maxTokens: 2,
                modelMaxTokens: 64,
                quote,
                limits,
                replica: "seed",
                now: finishedAt,
              });
              const done = await gw.ledger.settleRequest(
                requestId,
                { tokensIn: 4, tokensOut: 2, amount: quote.cost(4, 2), ending: "ok" },
                finishedAt + Math.floor((j + k) / perMs),
              );
              expect(done, requestId).to.not.equal(undefined);
            }),
          );
      }

      before(async function () {
        if (!available(kind)) this.skip();
        if (kind === "postgres") db = await createTestDatabase("postgres");
        gw = await fixture().start({ replica: `usage-${kind}`, ...(db ? { database: db.config() } : {}) });
        const employee = 3 + i;
        await fixture().grant(employee, "50");
        const created = await fixture().createKey(gw, await fixture().authorize(employee, { cap: "50" }));
        expect(created.status, JSON.stringify(created.body)).to.equal(201);
        key = created.body.key;
        holder = created.body.holder;
        // Four real requests and more than a page of records, all settled on-chain; then a few that are not.
        for (let r = 0; r < 4; r++) {
          const res = await fetch(`${gw.url}/v1/chat/completions`, {
            method: "POST",
            headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
            body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "Once" }], max_tokens: 2 }),
          });
          expect(res.status, await res.text()).to.equal(200);
        }
        await seed(SEEDED, Date.now() + 1_000, 3);
        await gw.settler.settleDue(true);
        // Fewer than a batch's worth (maxCharges: 200) after that: they stay unsettled while the test reads.
        await seed(UNSETTLED, Date.now() + 600_000, 3);
      });
      after(async () => {
        await gw?.stop({ settle: false });
        await db?.drop();
      });

      it("returns every record exactly once across pages, newest first, honoring the limit", async () => {
        const reference = await all();
        expect(reference).to.have.length(4 + SEEDED + UNSETTLED);
        const seen: UsageRecordView[] = [];
        let before: string | null = null;
        let pages = 0;
        let charged = false;
        do {
          const p: Page = await page(`?limit=97${before ? `&before=${before}` : ""}`);
          expect(p.holder).to.equal(holder);
          pages++;
          if (p.nextBefore) expect(p.records, "a full page before the last").to.have.length(97);
          else expect(p.records.length).to.be.within(1, 97);
          seen.push(...p.records);
          before = p.nextBefore;
          if (!charged) {
            // A request charged while a client pages: it is newer than every page still to come.
            await seed(1, Date.now() + 10_000, 1);
            charged = true;
          }
        } while (before);
        const ids = seen.map((r) => r.requestId);
        expect(new Set(ids).size, "no record twice").to.equal(ids.length);
        expect(ids).to.deep.equal(reference.slice().reverse());
        expect(pages).to.equal(Math.ceil(reference.length / 97));
        // Settled: every record but the last UNSETTLED, which wait for a batch.
        const settled = new Set((await gw.ledger.batches("settled")).map((b) => b.batchId));
        for (const r of seen) expect(r.settled, r.requestId).to.equal(r.batchId !== null && settled.has(r.batchId));
        expect(seen.filter((r) => !r.settled).map((r) => r.requestId)).to.deep.equal(ids.slice(0, UNSETTLED));
        expect(seen.filter((r) => r.batchId === null)).to.have.length(UNSETTLED);
      });

      it("defaults to a page of 500 and never answers more than the maximum", async () => {
        const first = await page("");
        expect(first.records).to.have.length(USAGE_DEFAULT_LIMIT);
        expect(first.nextBefore).to.be.a("string");
        const largest = await page(`?limit=${USAGE_MAX_LIMIT}`);
        expect(largest.records).to.have.length(USAGE_MAX_LIMIT);
        expect(largest.records.slice(0, USAGE_DEFAULT_LIMIT)).to.deep.equal(first.records);
        const rest = await page(`?limit=${USAGE_MAX_LIMIT}&before=${largest.nextBefore}`);
        expect(rest.nextBefore).to.equal(null);
        expect(largest.records.length + rest.records.length).to.equal((await all()).length);
        const one = await page("?limit=1");
        expect(one.records.map((r) => r.requestId)).to.deep.equal([first.records[0].requestId]);
      });

      it("refuses bad parameters with a 400 in the OpenAI error shape", async () => {
        const cases: [string, string, string][] = [
          ["?limit=-1", "invalid_limit", "limit"],
          ["?limit=abc", "invalid_limit", "limit"],
          ["?limit=0", "invalid_limit", "limit"],
          ["?limit=2.5", "invalid_limit", "limit"],
          ["?limit=", "invalid_limit", "limit"],
          [`?limit=${USAGE_MAX_LIMIT + 1}`, "invalid_limit", "limit"],
          ["?before=not*a*cursor", "invalid_cursor", "before"],
          [`?before=${Buffer.from("yesterday:r1").toString("base64url")}`, "invalid_cursor", "before"],
          // An earlier version's cursor (finish time, request id).
          [`?before=${Buffer.from("1795953600001:r1").toString("base64url")}`, "invalid_cursor", "before"],
          ["?before=", "invalid_cursor", "before"],
          ["?limt=5", "unknown_parameter", "limt"],
        ];
        for (const [query, code, param] of cases) {
          const { status, body } = await get(query);
          expect(status, query).to.equal(400);
          expect(body.error, query).to.include({ type: "invalid_request_error", code, param });
          expect(body.error!.message, query)
            .to.be.a("string")
            .and.not.match(/^\s*at /m);
        }
        // A well-formed cursor past every record: an empty last page.
        expect(await page(`?before=${encodeUsageCursor({ seq: 0n, requestId: "a" })}`)).to.deep.include({ records: [], nextBefore: null });
        // The key is checked first.
        expect((await get("?limit=-1", "ctk-not-a-key")).status).to.equal(401);
      });

      it("ctk credits usage shows every record, oldest first, and --limit the newest n", async () => {
        const reference = await all();
        const everything = await runCtk(["credits", "usage", "--gateway", gw.url, "--key", key, "--json"]);
        expect(everything.code, everything.stderr).to.equal(0);
        const out = jsonOf<{ holder: string; records: UsageRecordView[]; total: string; settled: string }>(everything);
        expect(out.holder).to.equal(holder);
        expect(out.records.map((r) => r.requestId)).to.deep.equal(reference);
        expect(BigInt(out.total)).to.equal(out.records.reduce((s, r) => s + BigInt(r.charge), 0n));

        const text = await runCtk(["credits", "usage", "--gateway", gw.url], { env: { CTK_API_KEY: key } });
        expect(text.code, text.stderr).to.equal(0);
        expect(text.stdout).to.match(new RegExp(`^${reference.length} requests, [\\d.]+ credits \\([\\d.]+ settled on-chain, [\\d.]+ not yet\\)$`, "m"));

        const newest = jsonOf<{ records: UsageRecordView[] }>(await runCtk(["credits", "usage", "--gateway", gw.url, "--key", key, "--limit", "3", "--json"]));
        expect(newest.records.map((r) => r.requestId)).to.deep.equal(reference.slice(-3));

        const bad = await runCtk(["credits", "usage", "--gateway", gw.url, "--key", key, "--limit", "-2"]);
        expect(bad.code).to.not.equal(0);
        expect(bad.stderr.trim()).to.match(/--limit must be a whole number/);
        expect(bad.stderr).to.not.match(/^\s+at /m);
      });
    });
  }
});
