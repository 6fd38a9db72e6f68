/**
 * A ledger-only load (no HTTP): `concurrency` request loops each hold then charge, for `seconds`;
 * prints ledger CPU ms per request. A quick check between full `bench:gateway` runs.
 *   tsx bench/ledgerMicro.ts sqlite|sqlite-normal|postgres [seconds]
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type HoldParams, Ledger } from "../gateway/ledger/ledger.js";
import { PostgresDriver } from "../gateway/ledger/postgresDriver.js";
import { SqliteDriver } from "../gateway/ledger/sqliteDriver.js";
import { type PriceBook, quoteFor } from "../gateway/metering/quote.js";

const kind = process.argv[2] ?? "sqlite";
const seconds = Number(process.argv[3] ?? 3);
const BOOK: PriceBook = { version: 3n, models: new Map([["m", { inputPerMTok: 500_000n, outputPerMTok: 1_500_000n, requestCharge: 1_000n }]]), fees: [0n, 0n, 2_000n, 10_000n] };
const quote = quoteFor(BOOK, "m", "normal")!;
const dir = mkdtempSync(join(tmpdir(), "ctk-ledger-micro-"));
const schema = `gw_micro_${process.pid}`;
let driver;
if (kind === "postgres") {
  const pg = (await import("pg")).default;
  const c = new pg.Client({ connectionString: process.env.CTK_TEST_PG_URL });
  await c.connect();
  await c.query(`CREATE SCHEMA ${schema}`);
  await c.end();
  driver = new PostgresDriver(process.env.CTK_TEST_PG_URL!, 16, schema);
} else driver = new SqliteDriver(join(dir, "l.sqlite"), kind === "sqlite" ? "full" : "normal");
const ledger = new Ledger(driver);
await ledger.init();
const now = Date.now();
for (let h = 0; h < 100; h++) {
  const holder = `0x${h.toString(16).padStart(40, "0")}`;
  await ledger.addAuthorization(
    {
      authId: `0xa${h}`,
      holder,
      nonce: 1n,
      cap: 10n ** 15n,
      expiresAt: BigInt(Math.floor(now / 1000) + 86_400),
      models: [],
      signature: "0x",
      document: JSON.stringify({ pad: "x".repeat(1200) }),
      charged: 0n,
      activated: false,
    },
    10n ** 15n,
    now,
  );
}
let n = 0;
let seq = 0;
let stop = false;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await Promise.all(
  Array.from({ length: Number(process.env.MICRO_CONC ?? 64) }, async (_, i) => {
    for (let k = 0; !stop; k++) {
      const h = (i + k * 7) % 100;
      const p: HoldParams = {
        requestId: process.env.MICRO_IDS === "seq" ? `chatcmpl-${(Date.now() * 1000 + seq++).toString(16)}` : `chatcmpl-${randomUUID()}`,
        keyId: "k",
        authId: `0xa${h}`,
        model: "m",
        tier: "normal",
        inputTokens: 20,
        maxTokens: 16,
        modelMaxTokens: 64,
        quote,
        limits: { requestsPerMinute: 1e9, tokensPerMinute: 1e12, creditsPerDay: 10n ** 18n },
        replica: "r1",
        now: Date.now(),
      };
      const hold = await ledger.hold(p);
      await ledger.settleRequest(hold.requestId, { tokensIn: 8, tokensOut: 16, amount: quote.cost(8, 16), ending: "ok" }, Date.now());
      n++;
      if (performance.now() - t0 > seconds * 1000) stop = true;
    }
  }),
);
const cpu = process.cpuUsage(cpu0);
const ms = performance.now() - t0;
process.stdout.write(
  `${kind}: ${n} requests in ${ms.toFixed(0)} ms = ${((n / ms) * 1000).toFixed(0)} req/s, ledger CPU ${((cpu.user + cpu.system) / 1000 / n).toFixed(3)} ms/req\n`,
);
await ledger.close();
rmSync(dir, { recursive: true, force: true });
if (kind === "postgres") {
  const pg = (await import("pg")).default;
  const c = new pg.Client({ connectionString: process.env.CTK_TEST_PG_URL });
  await c.connect();
  await c.query(`DROP SCHEMA ${schema} CASCADE`);
  await c.end();
}
