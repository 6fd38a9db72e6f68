/**
 * `npm run bench:gateway` — a benchmark, not a test. In one run, against a trivial upstream in its
 * own process (bench/trivialUpstream.ts) and the gateway in its own process (gateway/main.ts):
 *
 *  1. 64 concurrent streams for DURATION_S seconds: direct to the upstream, then through the
 *     gateway on SQLite, then on PostgreSQL (CTK_TEST_PG_URL / CTK_BENCH_PG_URL, skipped without):
 *     requests/s and per-request latency (to the last byte) p50/p99; metered ÷ direct, added p99.
 *  2. settlement gas for 1,000 requests from 100 holders (every authorization activated and charged
 *     in the batch): gas of the settleUsage transactions ÷ 1,000.
 *
 * Keys: 100 holders (generated keys), each granted credits and authorizing the gateway.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Hex, keccak256, toHex } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import pg from "pg";
import { authorizationId, authorizationTypedData, serializeSignedAuthorization } from "../sdk/credits/authorization.js";
import { readModelPrice } from "../sdk/credits/reads.js";
import { parseCredits } from "../sdk/credits/units.js";
import { grantCredits, setModelPrice } from "../sdk/credits/write.js";
import { inferenceCreditAbi } from "../sdk/generated/abi.js";
import { onboardHolders } from "../sdk/holders.js";
import { LOCAL_ROLE_KEYS } from "../devkit/localAccounts.js";
import { startLocalChain } from "../devkit/localChain.js";

const DURATION_S = Number(process.env.CTK_BENCH_SECONDS ?? 5);
const STREAMS = 64;
const HOLDERS = 100;
const PG_URL = process.env.CTK_BENCH_PG_URL ?? process.env.CTK_TEST_PG_URL;
const BODY = JSON.stringify({ model: "bench", messages: [{ role: "user", content: "hello" }], max_tokens: 16, stream: true });

function spawnLine(args: string[], re: RegExp): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(process.execPath, ["--import", "tsx", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  return new Promise((resolve, reject) => {
    const on = (d: Buffer) => {
      out += d.toString();
      const m = re.exec(out);
      if (m) resolve({ child, match: m });
    };
    child.stdout!.on("data", on);
    child.stderr!.on("data", on);
    child.once("exit", (c) => reject(new Error(`${args.join(" ")} exited ${c}:\n${out}`)));
  });
}

const stop = (c: ChildProcess) => new Promise<void>((resolve) => {
  if (c.exitCode !== null || c.signalCode !== null) return resolve();
  c.once("exit", () => resolve());
  c.kill("SIGTERM");
});

const progress = (msg: string) => process.stderr.write(`[bench:gateway] ${msg}\n`);

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

async function load(url: string, keys: string[]): Promise<{ rps: number; p50: number; p99: number; n: number; errors: number }> {
  const lat: number[] = [];
  let errors = 0;
  const end = performance.now() + DURATION_S * 1000;
  await Promise.all(
    Array.from({ length: STREAMS }, async (_, i) => {
      let j = i;
      while (performance.now() < end) {
        const t0 = performance.now();
        const res = await fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", ...(keys.length && { authorization: `Bearer ${keys[j++ % keys.length]}` }) }, body: BODY });
        const text = await res.text();
        if (res.status !== 200 || !text.endsWith("data: [DONE]\n\n")) errors++;
        else lat.push(performance.now() - t0);
      }
    }),
  );
  return { rps: lat.length / DURATION_S, p50: pct(lat, 50), p99: pct(lat, 99), n: lat.length, errors };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "ctk-bench-gw-"));
  const chain = await startLocalChain({ classes: [] });
  const upstream = await spawnLine(["bench/trivialUpstream.ts"], /listening (\d+)/);
  const upstreamUrl = `http://127.0.0.1:${upstream.match[1]}`;
  const children: ChildProcess[] = [upstream.child];
  try {
    progress("chain and upstream up");
    await setModelPrice(chain.ops, "bench", await readModelPrice(chain.reader, "stories260K"));
    const keys = Array.from({ length: HOLDERS }, () => generatePrivateKey());
    const holders = keys.map((k) => privateKeyToAccount(k));
    await onboardHolders(chain.hr, holders.map((h) => h.address));
    const now = (await chain.reader.publicClient.getBlock()).timestamp;
    await grantCredits(chain.hr, { batchRef: keccak256(toHex("bench-gateway")), expiresAt: now + 86_400n * 30n, transferable: false, to: holders.map((h) => h.address), amounts: holders.map(() => parseCredits("100000")) });
    const credit = chain.deployment.inferenceCredit!;
    const gatewayAddress = chain.gateway.account!.address;
    let nonce = 1n;
    const authFiles = async () =>
      Promise.all(
        holders.map(async (h) => {
          const auth = { holder: h.address, gateway: gatewayAddress, cap: parseCredits("100000"), expiresAt: now + 86_400n * 7n, nonce: nonce++, models: [] as string[] };
          const signature = (await h.signTypedData(authorizationTypedData(chain.deployment.chainId, credit, auth))) as Hex;
          return serializeSignedAuthorization({ version: 1, chainId: chain.deployment.chainId, inferenceCredit: credit, authorizationId: authorizationId(h.address, gatewayAddress, auth.nonce), authorization: auth, signature });
        }),
      );

    const startGateway = async (name: string, database: unknown, settlement: { intervalMs: number; maxCharges: number }) => {
      const file = join(dir, `${name}.json`);
      writeFileSync(
        file,
        JSON.stringify({
          chain: { rpcUrl: chain.anvil.rpcUrl, deployment: chain.deployment, privateKey: LOCAL_ROLE_KEYS.GATEWAY, pollIntervalMs: 250, balanceRefreshMs: 600_000 },
          port: 0,
          replica: name,
          database,
          models: [{ name: "bench", upstream: `${upstreamUrl}/v1`, maxOutputTokens: 16, concurrency: 256, continuousUsage: true }],
          limits: { defaults: { requestsPerMinute: 1_000_000, tokensPerMinute: 1_000_000_000, creditsPerDay: "1000000" } },
          settlement,
          recordsDir: join(dir, `${name}-records`),
          logLevel: "warn",
        }),
      );
      const g = await spawnLine(["gateway/main.ts", "--config", file], /listening on (\S+)/);
      children.push(g.child);
      const url = g.match[1];
      const made: string[] = [];
      for (const doc of await authFiles()) {
        const res = await fetch(`${url}/v1/keys`, { method: "POST", headers: { "content-type": "application/json" }, body: doc });
        const body = (await res.json()) as { key: string };
        made.push(body.key);
      }
      return { url, child: g.child, keys: made };
    };

    progress("holders granted");
    const rows: string[][] = [];
    // Warm-up, then direct.
    await load(upstreamUrl, []);
    const direct = await load(upstreamUrl, []);
    progress(`direct: ${direct.rps.toFixed(0)} req/s`);
    rows.push(["direct to the upstream", "-", direct.rps.toFixed(0), direct.p50.toFixed(2), direct.p99.toFixed(2), "-", "-", String(direct.errors)]);
    const dbs: [string, unknown][] = [
      ["SQLite", { kind: "sqlite", file: join(dir, "ledger.sqlite") }],
      ["SQLite-NORMAL", { kind: "sqlite", file: join(dir, "ledger-normal.sqlite"), synchronous: "normal" }],
    ];
    let pgSchema: string | undefined;
    if (PG_URL) {
      pgSchema = `bench_${Date.now()}`;
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`CREATE SCHEMA ${pgSchema}`);
      await c.end();
      const u = new URL(PG_URL);
      u.searchParams.set("options", `-c search_path=${pgSchema}`);
      dbs.push(["PostgreSQL", { kind: "postgres", url: u.toString() }]);
    }
    for (const [name, database] of dbs) {
      const gw = await startGateway(name.toLowerCase(), database, { intervalMs: 3_600_000, maxCharges: 500 });
      progress(`${name} gateway up with ${gw.keys.length} keys`);
      await load(gw.url, gw.keys);
      const m = await load(gw.url, gw.keys);
      progress(`${name}: ${m.rps.toFixed(0)} req/s`);
      rows.push([`through the gateway, ${name}`, name, m.rps.toFixed(0), m.p50.toFixed(2), m.p99.toFixed(2), `${((m.rps / direct.rps) * 100).toFixed(0)} %`, (m.p99 - direct.p99).toFixed(2), String(m.errors)]);
      await stop(gw.child);
    }
    if (pgSchema) {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA ${pgSchema} CASCADE`);
      await c.end();
    }

    // Settlement gas: 1,000 requests from 100 holders, settled in one batch per price version.
    const gw = await startGateway("settle", { kind: "sqlite", file: join(dir, "settle.sqlite") }, { intervalMs: 3_600_000, maxCharges: 1000 });
    const from = await chain.reader.publicClient.getBlockNumber();
    await Promise.all(
      Array.from({ length: 1000 }, async (_, i) => {
        const res = await fetch(`${gw.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${gw.keys[i % HOLDERS]}` }, body: BODY });
        await res.text();
        if (res.status !== 200) throw new Error(`settlement load: ${res.status}`);
      }),
    );
    await stop(gw.child); // graceful stop settles everything waiting
    const events = await chain.reader.publicClient.getContractEvents({ address: credit, abi: inferenceCreditAbi, eventName: "UsageBatchSettled", fromBlock: from + 1n });
    const txs = [...new Set(events.map((e) => e.transactionHash))];
    const receipts = await Promise.all(txs.map((hash) => chain.reader.publicClient.getTransactionReceipt({ hash })));
    const gas = receipts.reduce((s, r) => s + r.gasUsed, 0n);
    const charges = events.reduce((s, e) => s + Number(e.args.charges), 0);

    const lines = [
      `gateway benchmark: ${STREAMS} concurrent streams for ${DURATION_S} s each, trivial upstream (16 tokens per stream) in its own process, gateway in its own process`,
      "",
      "| path | ledger | req/s | p50 ms | p99 ms | metered ÷ direct | added p99 ms | errors |",
      "|---|---|---:|---:|---:|---:|---:|---:|",
      ...rows.map((r) => `| ${r.join(" | ")} |`),
      "",
      `settlement: 1,000 requests from ${HOLDERS} holders → ${events.length} settleUsage batch${events.length === 1 ? "" : "es"} (${charges} charges, ${HOLDERS} activations), ${gas.toLocaleString("en-US")} gas = ${(Number(gas) / 1000).toFixed(0)} gas per request, ${(Number(gas) / charges).toFixed(0)} per charge (activation included)`,
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
  } finally {
    for (const c of children) await stop(c);
    await chain.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench:gateway failed: ${(err as Error).stack}\n`);
    process.exit(1);
  },
);
