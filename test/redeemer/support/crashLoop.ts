/**
 * The crash-safety drill shared by every executor: redemptions keep arriving while the redeemer
 * process is SIGKILLed at random moments and restarted; then a last run, left alone, finishes
 * everything and stops on SIGTERM. Plus the end-of-test books: each redemption over exactly once
 * and no unit lost.
 */
import { expect } from "chai";
import type { JobSpec } from "../../../sdk/jobSpec.js";
import { computeTokenAbi } from "../../../sdk/generated/abi.js";
import { type ChainFixture, lifecycleOf } from "./chainFixture.js";
import { type RedeemerProcess, spawnRedeemer, tail } from "./redeemerProcess.js";
import { sleep, waitFor } from "./waitFor.js";

/** A small seeded RNG so a failing run can be replayed (CTK_CRASH_SEED). */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

export interface Submitted {
  id: bigint;
  bad: boolean;
}

export interface CrashDrillOptions {
  f: ChainFixture;
  /** The redeemer's JSON configuration file (`redeemer/main.ts --config`). */
  configFile: string;
  /** Where every run's log is appended (its tail is attached to a failure). */
  logFile: string;
  /** Draws the redemptions (and whatever `good`/`bad` draw); the kills draw from their own RNG of the seed, so each replays whatever the timing. */
  random: () => number;
  seed: number;
  redemptions: number;
  kills: number;
  /** Share of redemptions with a spec the policy refuses. */
  badShare?: number;
  /** Longest pause between two redemptions (random up to it; default 120 ms). */
  gapMs?: number;
  good(i: number): JobSpec;
  bad(i: number): JobSpec;
  /** How long the last run may take to finish everything. */
  finishTimeoutMs?: number;
  /**
   * Kills aimed at a moment: for a `share` of the kills while the redeemer works, the kill waits
   * for `moment(random)` (true: it came, e.g. a job being started; false: it did not, in its own
   * time), drawing from the kills' RNG.
   */
  aimed?: { share: number; moment(random: () => number): Promise<boolean> };
  /**
   * Called after each kill (and before the first start), before the next redeemer starts: it may
   * change what that one finds (e.g. its checkpoint file) and says so with a label; a run so
   * prepared is not killed before it is ready, so that how it started is known.
   */
  beforeStart?(kill: number): Promise<string | undefined>;
  /** Keep killing and restarting (beyond `kills` and the producer) until this holds; at most 3 × `kills` runs. */
  until?(): boolean;
}

/** How one run of the redeemer started, from its log up to "redeemer ready". */
export interface RunStart {
  /** What `beforeStart` changed before it, if anything. */
  prepared?: string;
  /** Whether it reached "redeemer ready" before it was killed. */
  ready: boolean;
  /** Its "redeemer ready" line's `fromCheckpoint`. */
  fromCheckpoint?: boolean;
  /** The block of the checkpoint it started from ("starting from the checkpoint"). */
  checkpointBlock?: string;
  /** Why it refused the checkpoint file ("checkpoint not used"). */
  refused?: string;
}

function runStartOf(p: RedeemerProcess, prepared: string | undefined): RunStart {
  const lines = p.startupLines();
  const ready = lines.find((l) => l.msg === "redeemer ready");
  const from = lines.find((l) => l.msg === "starting from the checkpoint");
  const refused = lines.find((l) => typeof l.msg === "string" && l.msg.startsWith("checkpoint not used"));
  return {
    ...(prepared !== undefined && { prepared }),
    ready: ready !== undefined,
    ...(ready && { fromCheckpoint: ready.fromCheckpoint === true }),
    ...(from && { checkpointBlock: String(from.block) }),
    ...(refused && { refused: String(refused.reason) }),
  };
}

export interface CrashDrillResult {
  submitted: Submitted[];
  kills: number;
  /** Kills that landed at an `aimed` moment. */
  aimedKills: number;
  /** When each kill was sent (Unix seconds). */
  killedAt: number[];
  /** How each run started, the last one included. */
  starts: RunStart[];
}

/**
 * Redemptions arrive all along (whether the redeemer is up or not) while the redeemer is killed
 * at least `kills` times — a fifth of the kills during start-up (the rebuild), the rest while it
 * works — until the producer is done; then a last run finishes everything and exits 0 on SIGTERM.
 */
export async function runCrashDrill(o: CrashDrillOptions): Promise<CrashDrillResult> {
  const { f, random } = o;
  const killRandom = rng(o.seed ^ 0x5bd1e995);
  const submitted: Submitted[] = [];
  let producing = true;
  let producerError: unknown;
  const producer = (async () => {
    for (let i = 0; i < o.redemptions; i++) {
      const isBad = random() < (o.badShare ?? 0.15);
      const holder = i % f.holders.length;
      submitted.push({ id: await f.redeem(holder, isBad ? o.bad(i) : o.good(i)), bad: isBad });
      await sleep(Math.floor(random() * (o.gapMs ?? 120)));
    }
  })().then(
    () => {
      producing = false;
    },
    (err: unknown) => {
      producerError = err;
      producing = false;
    },
  );

  // The next redeemers are spawned ahead and kept warm (modules loaded, not started), so that
  // each restart costs the redeemer's own start-up rather than Node's module loading.
  const spawnSpare = () => spawnRedeemer(o.configFile, o.logFile, {}, { deferred: true });
  const spares = [spawnSpare(), spawnSpare()];
  const nextRedeemer = () => {
    spares.push(spawnSpare());
    const p = spares.shift()!;
    p.start();
    return p;
  };
  let kills = 0;
  let aimedKills = 0;
  const killedAt: number[] = [];
  const starts: RunStart[] = [];
  let running: RedeemerProcess | undefined;
  try {
    for (let k = 0; k < o.kills || producing || (o.until && !o.until() && k < 3 * o.kills); k++) {
      const prepared = await o.beforeStart?.(k);
      const p = nextRedeemer();
      running = p;
      // A fifth of the kills land during start-up (the rebuild), the rest while it works.
      if (killRandom() < 0.2 && prepared === undefined) await sleep(Math.floor(killRandom() * 800));
      else if (o.aimed && killRandom() < o.aimed.share) {
        await p.ready();
        if (await o.aimed.moment(killRandom)) aimedKills++;
      } else {
        await p.ready();
        await sleep(Math.floor(killRandom() * 1_500));
      }
      killedAt.push(Date.now() / 1000);
      p.kill("SIGKILL");
      await p.exited;
      starts.push(runStartOf(p, prepared));
      kills++;
    }
    await producer;
    if (producerError) throw producerError;

    // A last run, left alone, finishes everything; then a graceful SIGTERM.
    const last = spares.shift()!;
    for (const spare of spares.splice(0)) spare.kill("SIGKILL");
    running = last;
    last.start();
    const ids = submitted.map((s) => s.id);
    await last.ready();
    starts.push(runStartOf(last, undefined));
    await waitFor(
      "every redemption over",
      async () => {
        const { settled, rejected } = await lifecycleOf(f);
        return ids.every((id) => settled.has(id) || rejected.has(id));
      },
      o.finishTimeoutMs ?? 240_000,
      250,
    );
    last.kill("SIGTERM");
    expect((await last.exited).code, "graceful exit").to.equal(0);
  } catch (err) {
    for (const p of [...spares, running]) p?.kill("SIGKILL");
    throw new Error(`${(err as Error).message}\nseed ${o.seed}, kills ${kills}\n${tail(o.logFile)}`);
  }
  return { submitted, kills, aimedKills, killedAt, starts };
}

/**
 * Every redemption is Settled or Rejected exactly once and marked Running at most once; bad specs
 * are rejected with `badReason`, good ones settled; what the holders hold plus what was consumed
 * is what was granted, and the lot's supply is what the holders hold.
 */
export async function expectBooksBalance(f: ChainFixture, submitted: readonly Submitted[], badReason: number): Promise<void> {
  const { settled, rejected, running, requested } = await lifecycleOf(f);
  expect(requested.length).to.equal(submitted.length);
  let usedTotal = 0n;
  for (const s of submitted) {
    const outcomes = (settled.get(s.id)?.length ?? 0) + (rejected.get(s.id)?.length ?? 0);
    expect(outcomes, `redemption ${s.id}: settled or rejected exactly once`).to.equal(1);
    expect(running.get(s.id) ?? 0, `redemption ${s.id}: marked running at most once`).to.be.at.most(1);
    if (s.bad) expect(rejected.get(s.id), `bad spec ${s.id}`).to.deep.equal([badReason]);
    else expect(settled.has(s.id), `good spec ${s.id} settled`).to.equal(true);
    usedTotal += settled.get(s.id)?.[0] ?? 0n;
  }

  // Conservation: what the holders hold plus what was consumed is what was granted.
  let held = 0n;
  for (let h = 0; h < f.holders.length; h++) held += await f.balance(h);
  expect(held + usedTotal).to.equal(f.grantPerHolder * BigInt(f.holders.length));
  const supply = await f.publicClient.readContract({ address: f.deployment.computeToken, abi: computeTokenAbi, functionName: "totalSupply", args: [f.lotId] });
  expect(supply).to.equal(held);
}
