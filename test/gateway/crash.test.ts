/**
 * Crash safety: the gateway as a process, SIGKILLed with 50 requests in flight and a settlement
 * batch pending (its transaction waiting in the mempool). Twice: once the pending transaction lands
 * while the gateway is down, once it is dropped. After each restart: no charge is lost (every
 * response the client received is charged and settled once), none is settled twice (each batch id
 * once on-chain), the holds of the requests cut off are released, and the chain agrees with the
 * records (balance = grant − Σ charges; each batch's file hashes to its on-chain root).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import type { Hex } from "viem";
import { readCreditBalance, readModelPrice } from "../../sdk/credits/reads.js";
import { setModelPrice } from "../../sdk/credits/write.js";
import { parseCredits } from "../../sdk/credits/units.js";
import { usageRoot } from "../../sdk/credits/usageRecord.js";
import { inferenceCreditAbi } from "../../sdk/generated/abi.js";
import { rpc } from "../../devkit/localChain.js";
import type { Ledger } from "../../gateway/ledger/ledger.js";
import { type LlamaUpstream, startLlamaUpstream } from "../../gateway/upstream/llamaUpstream.js";
import { type GatewayFixture, MODEL, MODEL_PATH, MODEL_SHA256, startGatewayFixture } from "./support/gatewayFixture.js";
import { DATABASE_KINDS, type TestDatabase, available, createTestDatabase } from "./support/databases.js";
import { type TestUpstream, slowRelay } from "./support/testUpstreams.js";
import { GATEWAY_NODE_OPTIONS } from "../../gateway/runtime.js";

interface Proc {
  child: ChildProcess;
  url: string;
  exited: Promise<void>;
}

async function startProcess(configFile: string): Promise<Proc> {
  const child = spawn(process.execPath, [...GATEWAY_NODE_OPTIONS, "--import", "tsx", "gateway/main.ts", "--config", configFile], { stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let out = "";
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`gateway did not start:\n${out}`));
    }, 60_000);
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /gateway: listening on (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once("exit", (code) => reject(new Error(`gateway exited (${code}):\n${out}`)));
  });
  return { child, url, exited };
}

const until = async (what: string, check: () => Promise<boolean>, ms = 60_000) => {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

// On PostgreSQL a charge is one of a grouped statement's: its response waits for that statement's commit.
// PostgreSQL twice: with leases (the default: holds in memory, a lease recovered at the restart) and without.
for (const [kind, leases] of [...DATABASE_KINDS.map((k) => [k, k === "postgres"] as const), ["postgres", false] as const])
  describe(`gateway crash safety on ${kind}${kind === "postgres" ? `, leases ${leases ? "on" : "off"}` : ""} (SIGKILL with requests in flight and a batch pending)`, function () {
    this.timeout(300_000);
    let f: GatewayFixture;
    let slow: TestUpstream;
    let llama: LlamaUpstream;
    let proc: Proc | undefined;
    let ledger: Ledger;
    let db: TestDatabase | undefined;

    before(async function () {
      if (!available(kind)) this.skip();
      f = await startGatewayFixture();
      await setModelPrice(f.chain.ops, "slow", await readModelPrice(f.chain.reader, MODEL));
      // The saturated upstream: the real model (in this process, so it outlives the kills), slowed down.
      llama = await startLlamaUpstream({ modelPath: MODEL_PATH, sha256: MODEL_SHA256, sequences: 2, contextSize: 256 });
      slow = await slowRelay(() => llama.url, 40);
    });
    after(async () => {
      proc?.child.kill("SIGKILL");
      await proc?.exited;
      await db?.drop();
      await slow?.stop();
      await llama?.stop();
      await f?.stop();
    });

    it("loses no charge and settles none twice across two kills", async () => {
      db = await createTestDatabase(kind);
      const configFile = join(f.dir, "gateway.json");
      const config = f.config({
        replica: "crash",
        database: kind === "postgres" ? { ...(db.config() as { kind: "postgres"; url: string }), leases } : db.config(),
        settlement: { intervalMs: 100, maxCharges: 8 },
        models: [
          { name: MODEL, upstream: "embedded", maxOutputTokens: 64, concurrency: 4 },
          { name: "slow", upstream: slow.url, upstreamModel: MODEL, maxOutputTokens: 64, concurrency: 2 },
        ],
        logLevel: "warn",
      });
      writeFileSync(configFile, JSON.stringify(config));
      await f.grant(0, "50");
      const holder = f.chain.employeeAddress(0);
      const granted = parseCredits("50");
      proc = await startProcess(configFile);
      ledger = await db.open();
      const { body: key } = await f.createKey({ url: proc.url }, await f.authorize(0));
      const answered = new Map<string, bigint>();
      const ask = async (model: string) => {
        const res = await fetch(`${proc!.url}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${key.key}` },
          body: JSON.stringify({ model, messages: [{ role: "user", content: "Once" }], max_tokens: 6 }),
        });
        if (res.status !== 200) throw new Error(`${res.status} ${await res.text()}`);
        await res.json();
        answered.set(res.headers.get("x-request-id")!, BigInt(res.headers.get("x-ctk-cost-base-units")!));
      };
      const models = (await (await fetch(`${proc.url}/v1/models`, { headers: { authorization: `Bearer ${key.key}` } })).json()) as { data: { id: string }[] };
      expect(models.data.map((m) => m.id)).to.deep.equal([MODEL, "slow"]);

      let kills = 0;
      const cycle = async (landWhileDown: boolean) => {
        for (let i = 0; i < 8; i++) await ask(MODEL);
        await until("the first batches to settle", async () => (await ledger.unbatched()).count === 0 && (await ledger.batches("pending")).length === 0);
        await rpc(f.chain, "evm_setAutomine", [false]);
        for (let i = 0; i < 8; i++) await ask(MODEL);
        await until(
          "a batch pending in the mempool",
          async () => (await ledger.batches("pending")).length > 0 && Number(((await rpc(f.chain, "txpool_status")) as { pending: string }).pending) > 0,
        );
        // 50 requests in flight on a saturated upstream.
        const inflight = Array.from({ length: 50 }, () => ask("slow").catch(() => undefined));
        // Held (in the ledger, or in memory under a lease) and waiting: 2 at the upstream, 48 queued.
        await until("50 requests held", async () => {
          const metrics = await (await fetch(`${proc!.url}/metrics`)).text();
          return Number(/^ctk_gateway_queue_depth\{model="slow"\} (\d+)$/m.exec(metrics)?.[1] ?? 0) >= 48;
        });
        proc!.child.kill("SIGKILL");
        await proc!.exited;
        kills++;
        await Promise.all(inflight);
        if (landWhileDown) await rpc(f.chain, "evm_mine");
        else await rpc(f.chain, "anvil_dropAllTransactions");
        await rpc(f.chain, "evm_setAutomine", [true]);
        proc = await startProcess(configFile);
        await until("every charge settled after the restart", async () => (await ledger.unbatched()).count === 0 && (await ledger.batches("pending")).length === 0);
      };
      await cycle(true);
      await cycle(false);

      // No charge lost: every answered request is charged, once, in a settled batch.
      const rows = await ledger.usage({ holder });
      const byId = new Map(rows.map((r) => [r.requestId, r]));
      for (const [id, cost] of answered) {
        expect(byId.get(id)?.charge, id).to.equal(cost);
        expect(byId.get(id)?.batchId, id).to.be.a("string");
      }
      const held = await ledger.db.transaction((tx) => tx.all("SELECT status, ending, lease_id = request_id AS lease FROM gw_requests WHERE status <> 'charged'"));
      expect(held.every((r) => r.status === "released")).to.equal(true);
      // Cut off: without leases, 100 holds released by the restarts; with them, requests held in
      // memory (no row), their lease recovered by each restart: what its charges did not use given back.
      const recovered = held.filter((r) => r.lease === true || r.lease === 1).length;
      if (leases) expect(recovered).to.be.at.least(kills);
      else expect(held.filter((r) => r.ending === "crash").length).to.be.at.least(90);
      expect((await ledger.holderState(holder))!.openHolds).to.equal(0n);

      // None settled twice: each batch id once on-chain, and the chain agrees with the records.
      const events = await f.chain.reader.publicClient.getContractEvents({
        address: f.chain.deployment.inferenceCredit!,
        abi: inferenceCreditAbi,
        eventName: "UsageBatchSettled",
        fromBlock: 0n,
      });
      const ids = events.map((e) => e.args.batchId!);
      expect(new Set(ids).size).to.equal(ids.length);
      const batches = await ledger.batches("settled");
      expect(batches.map((b) => b.batchId).sort()).to.deep.equal([...ids].sort());
      const totalCharged = rows.reduce((s, r) => s + r.charge, 0n);
      expect(events.reduce((s, e) => s + e.args.charged!, 0n)).to.equal(totalCharged);
      expect(await readCreditBalance(f.chain.reader, holder)).to.equal(granted - totalCharged);
      for (const e of events) {
        const lines = readFileSync(join(config.recordsDir as string, `${e.args.batchId}.jsonl`), "utf8")
          .split("\n")
          .filter(Boolean);
        expect(usageRoot(lines)).to.equal(e.args.usageRoot as Hex);
      }
      console.log(
        `      ${kills} kills with 50 requests in flight and a batch pending: ${answered.size} answered requests charged once in ${events.length} batches, ${leases ? `${kills * 50} cut-off requests held under leases, ${recovered} leases recovered and returned` : `${held.length} cut-off holds released`}; on-chain Σ charged = ledger Σ = ${totalCharged}`,
      );
    });
  });
