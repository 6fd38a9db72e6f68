/**
 * `npm run bench:gateway` — a benchmark, not a test. In one run, against a trivial upstream in its
 * own process (bench/trivialUpstream.ts) and the gateway in its own process (gateway/main.ts, with
 * its Node.js options: gateway/runtime.ts):
 *
 *  1. 64 concurrent streams (closed loop: each sends its next request when the last ends) for
 *     DURATION_S seconds: direct to the upstream, then through the gateway, for each ledger (SQLite
 *     synchronous=full, SQLite synchronous=normal, PostgreSQL from CTK_BENCH_PG_URL /
 *     CTK_TEST_PG_URL, skipped without). Each gateway phase is compared with a direct phase run
 *     just before it (the machine is shared: its load moves), with the same client, upstream,
 *     body, concurrency and warm-up. Per phase: requests/s, latency to the last byte p50/p99, and
 *     the CPU time per request of each process (bench client, upstream, gateway, the PostgreSQL
 *     server with all its processes) from /proc, with the load average. Each gateway settles as the gateway's defaults say
 *     (a batch every 30 s or 2,000 charges), logs at warn.
 *     First, as the floors, the same client through a bare relay (bench/bareRelay.ts: a Node.js
 *     process that only forwards, no metering) and through the gateway's request path over a
 *     ledger that keeps nothing (bench/meteringFloor.ts), each beside its own direct phase; with
 *     PostgreSQL, the third: that path with each charge written to PostgreSQL, durable, and nothing
 *     else (the least a PostgreSQL ledger writes per request).
 *  2. The same at a paced rate that every path sustains (PACED_RPS requests/s over 64 streams): the
 *     latency the gateway adds when the machine is not saturated.
 *  3. Settlement gas for 1,000 requests from 100 holders (every authorization activated and
 *     charged in the batch): gas of the settleUsage transactions ÷ 1,000.
 *
 * Writes its run as a generated block of "## Gateway" in bench/RESULTS.md, titled by CTK_BENCH_LABEL
 * (default "latest"; a run with the same label replaces its block only). Knobs for working on the gateway:
 * CTK_BENCH_CPU_PROF=<dir> makes each child process write a V8 CPU profile there; CTK_BENCH_WRITE=0
 * prints the run without writing it; CTK_BENCH_LEDGERS=sqlite,sqlite-normal,postgres picks ledgers;
 * CTK_BENCH_RELAY=0 and CTK_BENCH_SETTLE=0 skip the floors and the settlement gas;
 * CTK_BENCH_BASE=<another checkout> also measures that checkout's gateway (gateway/main.ts) on each
 * ledger, right before this one's, each with its own direct phases (before/after in one window);
 * CTK_BENCH_TRACE=<dir> writes each paced phase's requests (start ms, latency ms) there as JSON;
 * CTK_BENCH_PAIRS=<n> (default 5: pairs of one path spread over 5–15 points of the ratio, and the median of five
 * moves less than that of three) sets the closed-loop pairs per path.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
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
import { cpuMs, pgServerCpuMs } from "./procCpu.js";
import { writeGenerated } from "./results.js";
import { GATEWAY_NODE_OPTIONS } from "../gateway/runtime.js";
import { startLocalChain } from "../devkit/localChain.js";

const DURATION_S = Number(process.env.CTK_BENCH_SECONDS ?? 5);
const STREAMS = 64;
const PACED_RPS = Number(process.env.CTK_BENCH_PACED_RPS ?? 100);
const LABEL = process.env.CTK_BENCH_LABEL ?? "latest";
const SECTION = "## Gateway (`npm run bench:gateway`)";
/** Where the ledgers live (the fsync probe writes there too). */
const PROBE_DIR = mkdtempSync(join(tmpdir(), "ctk-bench-gw-"));
const HOLDERS = 100;
const PG_URL = process.env.CTK_BENCH_PG_URL ?? process.env.CTK_TEST_PG_URL;
const BODY = JSON.stringify({ model: "bench", messages: [{ role: "user", content: "hello" }], max_tokens: 16, stream: true });

/** CTK_BENCH_CPU_PROF=<dir>: each child process writes a V8 CPU profile there (node --cpu-prof). */
const PROF_DIR = process.env.CTK_BENCH_CPU_PROF;
const WRITE = process.env.CTK_BENCH_WRITE !== "0";
const LEDGERS = process.env.CTK_BENCH_LEDGERS?.split(",").map((x) => x.trim().toLowerCase());
const RELAY = process.env.CTK_BENCH_RELAY !== "0";
const SETTLE = process.env.CTK_BENCH_SETTLE !== "0";
const BASE = process.env.CTK_BENCH_BASE;
const TRACE_DIR = process.env.CTK_BENCH_TRACE;
/**
 * Closed-loop pairs (a direct phase, then the path measured) per path: the pair with the median
 * ratio is shown, with the range of all. The direct phase alone moves by a third between runs on
 * this shared machine (3,700–5,300 requests/s in one run), and one pair's ratio with it.
 */
const PAIRS = Math.max(1, Number.parseInt(process.env.CTK_BENCH_PAIRS ?? "5", 10) || 5);

/** `node [nodeOptions] --import tsx <args>`, resolved with its first output matching `re`. */
function spawnLine(args: string[], re: RegExp, nodeOptions: readonly string[] = []): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const prof = PROF_DIR ? ["--cpu-prof", "--cpu-prof-dir", PROF_DIR] : [];
  const child = spawn(process.execPath, [...prof, ...nodeOptions, "--import", "tsx", ...args], { stdio: ["ignore", "pipe", "pipe"] });
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

async function pgVersion(): Promise<string> {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  const v = (await c.query("SHOW server_version")).rows[0].server_version as string;
  await c.end();
  return v.split(" ")[0];
}

const stop = (c: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve();
    c.once("exit", () => resolve());
    c.kill("SIGTERM");
  });

const progress = (msg: string) => process.stderr.write(`[bench:gateway] ${msg}\n`);

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

interface Phase {
  rps: number;
  p50: number;
  p99: number;
  n: number;
  errors: number;
  /** CPU ms per request: bench client, upstream, gateway, the PostgreSQL server (all its processes), the chain node (anvil: the settlements' transactions and the gateway's reads). */
  cpu: { client: number; upstream: number; gateway?: number; postgres?: number; chain?: number };
  load: string;
  /** fsync latency of a 4 KiB append on the ledger's disk meanwhile (ms, p50 / p99). */
  fsync: string;
}

/**
 * Probes the disk while a phase runs: every 50 ms, append 4 KiB to a file beside the ledger and
 * fsync it (what a durable commit waits for), timed around the two calls in a worker thread (so the
 * bench's own event-loop delay is not in it). The machine's other work moves this a lot.
 */
const PROBE = `
const { workerData, parentPort } = require("node:worker_threads");
const fs = require("node:fs");
const fd = fs.openSync(workerData.file, "a");
const page = Buffer.alloc(4096, 1);
const lat = [];
const stop = new Int32Array(workerData.stop);
while (Atomics.load(stop, 0) === 0) {
  const t = performance.now();
  fs.writeSync(fd, page);
  fs.fsyncSync(fd);
  lat.push(performance.now() - t);
  Atomics.wait(stop, 0, 0, 50);
}
fs.closeSync(fd);
fs.rmSync(workerData.file, { force: true });
parentPort.postMessage(lat);
`;

function fsyncProbe(dir: string): () => Promise<string> {
  const stop = new SharedArrayBuffer(4);
  const worker = new Worker(PROBE, { eval: true, workerData: { file: join(dir, `fsync-probe-${process.pid}`), stop } });
  const result = new Promise<number[]>((resolve, reject) => {
    worker.once("message", resolve);
    worker.once("error", reject);
  });
  return async () => {
    Atomics.store(new Int32Array(stop), 0, 1);
    Atomics.notify(new Int32Array(stop), 0);
    const lat = await result;
    await worker.terminate();
    return lat.length ? `${pct(lat, 50).toFixed(1)} / ${pct(lat, 99).toFixed(1)}` : "-";
  };
}

interface Procs {
  upstream: number;
  /** anvil's pid: counted in the phases through the gateway (its settlements and chain reads). */
  chain?: number;
  gateway?: number;
  pgDatabase?: string;
}

/**
 * 64 streams against `url` for DURATION_S s. Closed loop by default; with `rps`, each stream
 * starts its requests on a schedule (rps / 64 per stream), so the offered load is fixed.
 */
async function load(url: string, keys: string[], procs: Procs, rps?: number, trace?: string): Promise<Phase> {
  const probe = fsyncProbe(PROBE_DIR);
  const lat: number[] = [];
  const traced: [number, number][] = [];
  let errors = 0;
  // The whole PostgreSQL server's, exited backends included (see pgServerCpuMs).
  const pgBefore = pgServerCpuMs(procs.pgDatabase);
  const before = {
    client: process.cpuUsage(),
    upstream: cpuMs(procs.upstream),
    gateway: cpuMs(procs.gateway),
    chain: cpuMs(procs.chain),
  };
  const t0 = performance.now();
  const end = t0 + DURATION_S * 1000;
  const la = loadavg()[0];
  await Promise.all(
    Array.from({ length: STREAMS }, async (_, i) => {
      let j = i;
      let next = t0 + (rps ? (i * 1000) / rps : 0);
      while (performance.now() < end) {
        if (rps) {
          const wait = next - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          next += (STREAMS * 1000) / rps;
          if (performance.now() >= end) break;
        }
        const start = performance.now();
        const res = await fetch(`${url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json", ...(keys.length && { authorization: `Bearer ${keys[j++ % keys.length]}` }) },
          body: BODY,
        });
        const text = await res.text();
        if (res.status !== 200 || !text.endsWith("data: [DONE]\n\n")) errors++;
        else lat.push(performance.now() - start);
        if (trace) traced.push([Date.now() - (performance.now() - start), performance.now() - start]);
      }
    }),
  );
  if (trace && TRACE_DIR) writeFileSync(join(TRACE_DIR, `${trace}.json`), JSON.stringify(traced));
  const seconds = (performance.now() - t0) / 1000;
  const n = Math.max(1, lat.length + errors);
  const c = process.cpuUsage(before.client);
  const per = (ms: number) => ms / n;
  return {
    rps: lat.length / seconds,
    p50: pct(lat, 50),
    p99: pct(lat, 99),
    n: lat.length,
    errors,
    cpu: {
      client: per((c.user + c.system) / 1000),
      upstream: per(cpuMs(procs.upstream) - before.upstream),
      ...(procs.gateway && { gateway: per(cpuMs(procs.gateway) - before.gateway) }),
      ...(procs.pgDatabase && { postgres: per(pgServerCpuMs(procs.pgDatabase) - pgBefore) }),
      ...(procs.chain && { chain: per(cpuMs(procs.chain) - before.chain) }),
    },
    load: `${la.toFixed(1)} → ${loadavg()[0].toFixed(1)}`,
    fsync: await probe(),
  };
}

const f1 = (x: number | undefined) => (x === undefined ? "-" : x.toFixed(2));
const cpuCell = (p: Phase) =>
  [
    `client ${f1(p.cpu.client)}`,
    `upstream ${f1(p.cpu.upstream)}`,
    p.cpu.gateway !== undefined && `gateway ${f1(p.cpu.gateway)}`,
    p.cpu.postgres !== undefined && `postgres ${f1(p.cpu.postgres)}`,
    p.cpu.chain !== undefined && `chain ${f1(p.cpu.chain)}`,
  ]
    .filter(Boolean)
    .join(", ");

async function main(): Promise<void> {
  const dir = PROBE_DIR;
  const chain = await startLocalChain({ classes: [] });
  // An upstream that does not start (below, every other failure: the finally) leaves no chain running.
  const upstream = await spawnLine(["bench/trivialUpstream.ts"], /listening (\d+)/).catch(async (err: unknown) => {
    await chain.stop();
    throw err;
  });
  const upstreamUrl = `http://127.0.0.1:${upstream.match[1]}`;
  const children: ChildProcess[] = [upstream.child];
  try {
    progress("chain and upstream up");
    await setModelPrice(chain.ops, "bench", await readModelPrice(chain.reader, "stories260K"));
    const keys = Array.from({ length: HOLDERS }, () => generatePrivateKey());
    const holders = keys.map((k) => privateKeyToAccount(k));
    await onboardHolders(
      chain.hr,
      holders.map((h) => h.address),
    );
    const now = (await chain.reader.publicClient.getBlock()).timestamp;
    await grantCredits(chain.hr, {
      batchRef: keccak256(toHex("bench-gateway")),
      expiresAt: now + 86_400n * 30n,
      transferable: false,
      to: holders.map((h) => h.address),
      amounts: holders.map(() => parseCredits("100000")),
    });
    const credit = chain.deployment.inferenceCredit!;
    const gatewayAddress = chain.gateway.account!.address;
    let nonce = 1n;
    const authFiles = async () =>
      Promise.all(
        holders.map(async (h) => {
          const auth = { holder: h.address, gateway: gatewayAddress, cap: parseCredits("100000"), expiresAt: now + 86_400n * 7n, nonce: nonce++, models: [] as string[] };
          const signature = (await h.signTypedData(authorizationTypedData(chain.deployment.chainId, credit, auth))) as Hex;
          return serializeSignedAuthorization({
            version: 1,
            chainId: chain.deployment.chainId,
            inferenceCredit: credit,
            authorizationId: authorizationId(h.address, gatewayAddress, auth.nonce),
            authorization: auth,
            signature,
          });
        }),
      );

    const startGateway = async (name: string, database: unknown, settlement: { intervalMs: number; maxCharges: number }, tree = ".") => {
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
      // With the gateway's Node.js options (gateway/runtime.ts), as it runs in production; a checkout
      // compared with (CTK_BENCH_BASE) gets the same, whatever its own.
      const g = await spawnLine([join(tree, "gateway/main.ts"), "--config", file], /listening on (\S+)/, GATEWAY_NODE_OPTIONS);
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
    const up: Procs = { upstream: upstream.child.pid! };
    const rows: string[][] = [];
    const cpuRows: string[][] = [];
    const pacedRows: string[][] = [];
    // One table row: the path, its ledger, its figures, two comparisons with a direct phase ("-" without one).
    const cells = (path: string, ledger: string, m: Phase, compared: [string, string] = ["-", "-"]) => [
      path,
      ledger,
      m.rps.toFixed(0),
      m.p50.toFixed(2),
      m.p99.toFixed(2),
      ...compared,
      String(m.errors),
      m.load,
      m.fsync,
    ];
    /**
     * A closed-loop and a paced phase through `url`, each right after a direct phase of its own (the
     * machine is shared: its load moves), into the tables.
     */
    const compare = async (name: string, path: string, ledger: string, url: string, keys: string[], procs: Procs, trace?: string) => {
      await load(url, keys, procs); // warm-up
      const pairs: { direct: Phase; m: Phase; ratio: number }[] = [];
      for (let i = 0; i < PAIRS; i++) {
        const d = await load(upstreamUrl, [], up);
        const through = await load(url, keys, procs);
        pairs.push({ direct: d, m: through, ratio: through.rps / d.rps });
        progress(`${name}: direct ${d.rps.toFixed(0)} req/s, through it ${through.rps.toFixed(0)} req/s (${(pairs[i].ratio * 100).toFixed(0)} %)`);
      }
      const sorted = [...pairs].sort((a, b) => a.ratio - b.ratio);
      const { direct, m, ratio } = sorted[Math.floor((sorted.length - 1) / 2)];
      const pct = (r: number) => (r * 100).toFixed(0);
      const range = sorted.length > 1 ? ` (${pct(sorted[0].ratio)}–${pct(sorted[sorted.length - 1].ratio)})` : "";
      rows.push(cells("direct to the upstream", "-", direct), cells(path, ledger, m, [`${pct(ratio)} %${range}`, (m.p99 - direct.p99).toFixed(2)]));
      cpuRows.push(["direct to the upstream", "-", cpuCell(direct)], [path, ledger, cpuCell(m)]);
      const pd = await load(upstreamUrl, [], up, PACED_RPS);
      const pm = await load(url, keys, procs, PACED_RPS, trace);
      progress(`${name} paced ${PACED_RPS}/s: direct p99 ${pd.p99.toFixed(1)} ms, through it ${pm.p99.toFixed(1)} ms; CPU ms per request: ${cpuCell(pm)}`);
      pacedRows.push(cells("direct to the upstream", "-", pd), cells(path, ledger, pm, [(pm.p50 - pd.p50).toFixed(2), (pm.p99 - pd.p99).toFixed(2)]));
    };
    // Warm-up of the client and the upstream.
    await load(upstreamUrl, [], up);
    // The floor: a bare relay (bench/bareRelay.ts) between the same client and upstream, no metering.
    // The floors run with the gateway's Node.js options, as the gateway does: they differ from it in code only.
    if (RELAY) {
      const relay = await spawnLine(["bench/bareRelay.ts", upstreamUrl], /listening (\d+)/, GATEWAY_NODE_OPTIONS);
      children.push(relay.child);
      const relayUrl = `http://127.0.0.1:${relay.match[1]}`;
      const procs: Procs = { ...up, gateway: relay.child.pid! };
      await compare("bare relay", "through a bare relay (no metering)", "-", relayUrl, [], procs);
      await stop(relay.child);
      // The second floor: the gateway's request path over a ledger that keeps nothing (bench/meteringFloor.ts).
      const floor = await spawnLine(["bench/meteringFloor.ts", `${upstreamUrl}/v1`], /listening (\d+)/, GATEWAY_NODE_OPTIONS);
      children.push(floor.child);
      await compare("metering floor", "through the gateway's request path, no ledger (floor)", "-", `http://127.0.0.1:${floor.match[1]}`, ["any"], {
        ...up,
        gateway: floor.child.pid!,
      });
      await stop(floor.child);
      // The third floor: the same, with each charge written to PostgreSQL, durable, before the response completes.
      if (PG_URL && (!LEDGERS || LEDGERS.includes("postgres"))) {
        const schema = `bench_${Date.now()}_floor`;
        const c = new pg.Client({ connectionString: PG_URL });
        await c.connect();
        await c.query(`CREATE SCHEMA ${schema}`);
        const database = (await c.query("SELECT current_database() AS d")).rows[0].d as string;
        const pgFloor = await spawnLine(["bench/meteringFloor.ts", `${upstreamUrl}/v1`, PG_URL, schema], /listening (\d+)/, GATEWAY_NODE_OPTIONS);
        children.push(pgFloor.child);
        await compare(
          "PostgreSQL floor",
          "through the gateway's request path, a durable PostgreSQL charge only (floor)",
          `PostgreSQL ${await pgVersion()}`,
          `http://127.0.0.1:${pgFloor.match[1]}`,
          ["any"],
          { ...up, gateway: pgFloor.child.pid!, pgDatabase: database },
        );
        await stop(pgFloor.child);
        await c.query(`DROP SCHEMA ${schema} CASCADE`);
        await c.end();
      }
    }
    /** [name, ledger label, the database of one gateway (a file or a schema of its own)]. */
    const dbs: [string, string, (tag: string) => unknown][] = [
      ["SQLite", "SQLite, synchronous=full (default)", (tag) => ({ kind: "sqlite", file: join(dir, `ledger-${tag}.sqlite`) })],
      ["SQLite-NORMAL", "SQLite, synchronous=normal", (tag) => ({ kind: "sqlite", file: join(dir, `ledger-normal-${tag}.sqlite`), synchronous: "normal" })],
    ];
    const pgSchemas: string[] = [];
    let pgDatabase: string | undefined;
    if (PG_URL) {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      pgDatabase = (await c.query("SELECT current_database() AS d")).rows[0].d as string;
      await c.end();
      const version = await pgVersion();
      dbs.push([
        "PostgreSQL",
        `PostgreSQL ${version}`,
        (tag) => {
          const schema = `bench_${Date.now()}_${tag}`;
          pgSchemas.push(schema);
          const u = new URL(PG_URL);
          u.searchParams.set("options", `-c search_path=${schema}`);
          return { kind: "postgres", url: u.toString() };
        },
      ]);
      // The same without leases: every request's hold and ending lock its holder's row (the exact
      // path, which requests near a limit take with leases on).
      dbs.push([
        "PostgreSQL-exact",
        `PostgreSQL ${version}, leases off`,
        (tag) => {
          const schema = `bench_${Date.now()}_exact_${tag}`;
          pgSchemas.push(schema);
          const u = new URL(PG_URL);
          u.searchParams.set("options", `-c search_path=${schema}`);
          return { kind: "postgres", url: u.toString(), leases: false };
        },
      ]);
    }
    const withPg = async (sql: string) => {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(sql);
      await c.end();
    };
    const baseCommit = BASE ? execFileSync("git", ["-C", BASE, "rev-parse", "--short", "HEAD"]).toString().trim() : undefined;
    for (const [name, label, database] of dbs.filter(([n]) => !LEDGERS || LEDGERS.includes(n.toLowerCase().replace("postgresql", "postgres")))) {
      const trees: [string, string, string][] = [
        ...(BASE ? ([[BASE, "base", `through the gateway before (${baseCommit})`]] as [string, string, string][]) : []),
        [".", "new", "through the gateway"],
      ];
      for (const [tree, tag, path] of trees) {
        const db = database(tag);
        const schema = (db as { kind: string }).kind === "postgres" ? pgSchemas[pgSchemas.length - 1] : undefined;
        if (schema) await withPg(`CREATE SCHEMA ${schema}`);
        // Settlement as the gateway's defaults (a batch every 30 s or 2,000 charges: at these rates
        // about one transaction a second, which a chain can carry), given explicitly so that a
        // checkout compared with (CTK_BENCH_BASE) settles the same way whatever its own defaults.
        const gw = await startGateway(`${name.toLowerCase()}-${tag}`, db, { intervalMs: 30_000, maxCharges: 2_000 }, tree);
        const procs: Procs = { ...up, gateway: gw.child.pid!, chain: chain.anvil.process.pid, ...(name.startsWith("PostgreSQL") && { pgDatabase }) };
        progress(`${name} gateway (${tag}) up with ${gw.keys.length} keys`);
        await compare(`${name} ${tag}`, path, label, gw.url, gw.keys, procs, `${name.toLowerCase()}-${tag}`);
        const leases = (await (await fetch(`${gw.url}/metrics`)).text()).split("\n").filter((l) => l.startsWith("ctk_gateway_leases{"));
        if (leases.length) progress(`${name} ${tag} leases: ${leases.map((l) => l.replace(/^ctk_gateway_leases\{what="(\w+)"\} /, "$1 ")).join(", ")}`);
        await stop(gw.child);
      }
    }
    for (const schema of pgSchemas) await withPg(`DROP SCHEMA ${schema} CASCADE`);

    // Settlement gas: 1,000 requests from 100 holders, settled in one batch per price version.
    const settlement = SETTLE ? await settlementGas() : undefined;
    async function settlementGas() {
      const gw = await startGateway("settle", { kind: "sqlite", file: join(dir, "settle.sqlite") }, { intervalMs: 3_600_000, maxCharges: 1000 });
      const from = await chain.reader.publicClient.getBlockNumber();
      await Promise.all(
        Array.from({ length: 1000 }, async (_, i) => {
          const res = await fetch(`${gw.url}/v1/chat/completions`, {
            method: "POST",
            headers: { "content-type": "application/json", authorization: `Bearer ${gw.keys[i % HOLDERS]}` },
            body: BODY,
          });
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
      return `Settlement: 1,000 requests from ${HOLDERS} holders → ${events.length} settleUsage batch${events.length === 1 ? "" : "es"} (${charges} charges, ${HOLDERS} activations), ${gas.toLocaleString("en-US")} gas = ${(Number(gas) / 1000).toFixed(0)} gas per request, ${(Number(gas) / charges).toFixed(0)} per charge (activation included).`;
    }

    const commit = (() => {
      try {
        return (
          execFileSync("git", ["rev-parse", "--short", "HEAD"]).toString().trim() +
          // Code that makes the figures changed since the commit (not documentation, nor bench/RESULTS.md itself).
          (execFileSync("git", ["status", "--porcelain", "--", ":(glob)gateway/**/*.ts", ":(glob)sdk/**/*.ts", ":(glob)bench/*.ts"]).toString().trim()
            ? " + uncommitted changes"
            : "")
        );
      } catch {
        return "unknown";
      }
    })();
    const table = (head: string[], body: string[][]) =>
      [`| ${head.join(" | ")} |`, `|${head.map((_, i) => (i < 2 ? "---" : "---:")).join("|")}|`, ...body.map((r) => `| ${r.join(" | ")} |`)].join("\n");
    const run = [
      `### Run: ${LABEL}`,
      "",
      `${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC, commit ${commit}, ${STREAMS} streams, ${DURATION_S} s per phase, Node ${process.version}, load average (1 min) ${loadavg()
        .map((x) => x.toFixed(1))
        .join(" / ")} at the end.`,
      "",
      `Closed loop (${STREAMS} streams, each sends its next request when the last ends; of ${PAIRS} alternating pair${PAIRS === 1 ? "" : "s"} of phases, direct then through the path, the pair with the median ratio, the range of all in brackets; its p50, p99 and added p99 are that pair's):`,
      "",
      table(["path", "ledger", "req/s", "p50 ms", "p99 ms", "metered ÷ direct", "added p99 ms", "errors", "load avg", "disk fsync p50 / p99 ms"], rows),
      "",
      "CPU ms per request, by process (from /proc; the machine has 2 cores; postgres: the whole server, its WAL writer, checkpointer and exited backends included):",
      "",
      table(["path", "ledger", "CPU ms per request"], cpuRows),
      "",
      `Paced: ${PACED_RPS} requests/s offered over ${STREAMS} streams (a load every path sustains):`,
      "",
      table(["path", "ledger", "req/s", "p50 ms", "p99 ms", "added p50 ms", "added p99 ms", "errors", "load avg", "disk fsync p50 / p99 ms"], pacedRows),
      "",
      ...(settlement ? [settlement] : []),
    ].join("\n");
    process.stdout.write(`${run}\n`);
    // This run's block (its "### Run: label" heading included): the other runs and the hand-written
    // prose around them in RESULTS.md stay as they are; a new label is appended at the end of the section.
    if (WRITE) writeGenerated(SECTION, `gateway run: ${LABEL}`, run);
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
