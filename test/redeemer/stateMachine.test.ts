import { expect } from "chai";
import { getAddress } from "viem";
import { encodeSpec, type JobSpec, jobSpecSchema, unitsFor } from "../../sdk/jobSpec.js";
import { REJECT_REASONS } from "../../sdk/reasons.js";
import type { JobState } from "../../redeemer/executor/types.js";
import { parsePolicyConfig } from "../../redeemer/policy/index.js";
import {
  type Action,
  decide,
  type MachineConfig,
  type MachineEvent,
  RedemptionBook,
  type RedemptionRecord,
  type RedemptionRequest,
  reduce,
  usedUnits,
} from "../../redeemer/state/index.js";

const IMAGE = `registry.example.com/team/train@sha256:${"ab12".repeat(16)}`;
const HOLDER = getAddress("0x70997970c51812dc3a010c7d01b50e0d17dc79c8");

const config: MachineConfig = {
  policy: parsePolicyConfig({ allowedRegistries: ["registry.example.com"] }),
  executorKind: "local",
  maxLaunchAttempts: 3,
  backoff: { baseMs: 100, maxMs: 1_000 },
};

function spec(over: Partial<JobSpec> = {}): JobSpec {
  return jobSpecSchema.parse({ name: "train", image: IMAGE, command: ["node"], gpus: 2, hours: 1, priority: "normal", ...over });
}

function request(id: bigint, s: JobSpec | Uint8Array = spec(), over: Partial<RedemptionRequest> = {}): RedemptionRequest {
  const parsed = s instanceof Uint8Array ? undefined : s;
  const gpus = parsed?.gpus ?? 2;
  const seconds = parsed ? Math.round(parsed.hours * 3600) : 3600;
  return {
    id,
    holder: HOLDER,
    classId: 1,
    priority: 1,
    gpus,
    seconds,
    reserved: unitsFor(gpus, seconds, 10_000),
    specHash: "0x00",
    specBytes: s instanceof Uint8Array ? s : encodeSpec(s),
    blockNumber: 10n,
    transactionHash: "0x01",
    hardwareClass: { name: "H100-80GB", productLabel: "NVIDIA-H100-80GB-HBM3", maxGpusPerJob: 8 },
    multiplierBps: 10_000,
    ...over,
  };
}

const job = (id: bigint, phase: JobState["phase"], gpuSeconds = 0): JobState => ({
  redemptionId: id,
  name: `ctk-redemption-${id}`,
  phase,
  segments: phase === "pending" ? [] : [{ start: 1, ...(phase === "running" ? {} : { end: 1 + gpuSeconds / 2 }) }],
  gpuSeconds,
  ...(phase === "succeeded" ? { exitCode: 0 } : {}),
});

/** Applies events in order from an empty record. */
function run(events: MachineEvent[], start?: RedemptionRecord): RedemptionRecord {
  return events.reduce<RedemptionRecord | undefined>((r, e) => reduce(r, e, config), start)!;
}

const at = 1_000;
const started = (id: bigint, action: Action["type"]): MachineEvent => ({ type: "actionStarted", id, action, at });
const status = (id: bigint, s: RedemptionRecord["chain"], source: "log" | "tx" | "read" = "tx", extra: object = {}): MachineEvent => ({
  type: "chainStatus",
  id,
  status: s,
  at,
  source,
  ...extra,
});

describe("redeemer state machine", () => {
  describe("happy path", () => {
    it("launches a confirmed request whose spec passes the policy", () => {
      const r = run([{ type: "requested", request: request(1n), at }]);
      expect(r.chain).to.equal("Requested");
      expect(r.verdict?.ok).to.equal(true);
      const a = decide(r, at);
      expect(a?.type).to.equal("launch");
      if (a?.type !== "launch") return;
      expect(a.request).to.include({ redemptionId: 1n, className: "H100-80GB", productLabel: "NVIDIA-H100-80GB-HBM3", gpus: 2, seconds: 3600, priority: "normal" });
    });

    it("marks the redemption running once its job exists, before anything else", () => {
      const r = run([
        { type: "requested", request: request(1n), at },
        started(1n, "launch"),
        { type: "launched", id: 1n, result: { name: "ctk-redemption-1", alreadyExisted: false }, at },
      ]);
      expect(decide(r, at)).to.deep.equal({ type: "markRunning", id: 1n, jobName: "ctk-redemption-1" });
    });

    it("waits while the job runs, then settles the measured GPU-seconds", () => {
      let r = run([{ type: "requested", request: request(1n), at }, status(1n, "Running"), { type: "jobObserved", state: job(1n, "running", 10), at }]);
      expect(decide(r, at)).to.equal(undefined);
      r = run([{ type: "jobObserved", state: job(1n, "succeeded", 1234.2), at }], r);
      const a = decide(r, at);
      expect(a?.type).to.equal("settle");
      if (a?.type !== "settle") return;
      expect(a.used).to.equal(1235n);
      expect(a.reserved).to.equal(7200n);
    });

    it("refunds the unused GPU-seconds when a job ends early: used is priced by the priority multiplier", () => {
      expect(usedUnits(100, 10_000, 7200n)).to.equal(100n);
      expect(usedUnits(100, 15_000, 7200n)).to.equal(150n);
      expect(usedUnits(99.5, 8_000, 7200n)).to.equal(80n);
      expect(usedUnits(0, 10_000, 7200n)).to.equal(0n);
    });

    it("never settles more than was reserved, whatever the executor measured", () => {
      expect(usedUnits(1e9, 15_000, 7200n)).to.equal(7200n);
      const r = run([{ type: "requested", request: request(1n), at }, status(1n, "Running"), { type: "jobObserved", state: job(1n, "failed", 99_999), at }]);
      const a = decide(r, at);
      expect(a?.type === "settle" && a.used).to.equal(7200n);
    });

    it("settles a job that failed with the GPU-seconds it used", () => {
      const r = run([{ type: "requested", request: request(1n), at }, status(1n, "Running"), { type: "jobObserved", state: job(1n, "failed", 50), at }]);
      const a = decide(r, at);
      expect(a?.type === "settle" && a.used).to.equal(50n);
    });

    it("marks running first when the job finished before markRunning was sent (crash in between)", () => {
      const r = run([
        { type: "requested", request: request(1n), at },
        { type: "jobObserved", state: job(1n, "succeeded", 5), at },
      ]);
      expect(decide(r, at)?.type).to.equal("markRunning");
      const r2 = run([status(1n, "Running")], r);
      expect(decide(r2, at)?.type).to.equal("settle");
    });

    it("does nothing more once settled", () => {
      const r = run([
        { type: "requested", request: request(1n), at },
        status(1n, "Running"),
        { type: "jobObserved", state: job(1n, "succeeded", 5), at },
        status(1n, "Settled", "tx", { used: 5n }),
      ]);
      expect(decide(r, at)).to.equal(undefined);
      expect(r.settlement?.used).to.equal(5n);
    });
  });

  describe("policy refusals", () => {
    it("rejects a spec from a registry that is not allowed, with its reason code", () => {
      const r = run([{ type: "requested", request: request(1n, spec({ image: `docker.io/evil/x@sha256:${"ab12".repeat(16)}` })), at }]);
      const a = decide(r, at);
      expect(a?.type).to.equal("reject");
      if (a?.type !== "reject") return;
      expect(a.rejection.code).to.equal(REJECT_REASONS.IMAGE_NOT_ALLOWED);
      expect(a.rejection.reason).to.equal("IMAGE_NOT_ALLOWED");
    });

    it("rejects bytes that are not UTF-8 as NOT_UTF8", () => {
      const r = run([{ type: "requested", request: request(1n, new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])), at }]);
      const a = decide(r, at);
      expect(a?.type === "reject" && a.rejection.reason).to.equal("NOT_UTF8");
    });

    it("rejects a redemption of an unknown class as CLASS_UNAVAILABLE", () => {
      const req = request(1n);
      delete req.hardwareClass;
      const a = decide(run([{ type: "requested", request: req, at }]), at);
      expect(a?.type === "reject" && a.rejection.reason).to.equal("CLASS_UNAVAILABLE");
    });

    it("rejects when the reserved units do not match GPUs × seconds × multiplier", () => {
      const a = decide(run([{ type: "requested", request: request(1n, spec(), { reserved: 1n }), at }]), at);
      expect(a?.type === "reject" && a.rejection.reason).to.equal("HOURS_MISMATCH");
    });
  });

  describe("launch failures", () => {
    it("rejects with the executor's reason when it refuses the launch for good", () => {
      const r = run([
        { type: "requested", request: request(1n), at },
        started(1n, "launch"),
        { type: "launchFailed", id: 1n, error: "no H100 here", at, permanent: { code: REJECT_REASONS.CLASS_UNAVAILABLE, reason: "CLASS_UNAVAILABLE", detail: "no H100 here" } },
      ]);
      const a = decide(r, at);
      expect(a?.type === "reject" && a.rejection.code).to.equal(REJECT_REASONS.CLASS_UNAVAILABLE);
    });

    it("retries a passing failure after a growing back-off", () => {
      let r = run([{ type: "requested", request: request(1n), at }, started(1n, "launch"), { type: "launchFailed", id: 1n, error: "500", at }]);
      expect(r.retryAt).to.equal(at + 100);
      expect(decide(r, at + 50)).to.equal(undefined);
      expect(decide(r, at + 100)?.type).to.equal("launch");
      r = run([started(1n, "launch"), { type: "launchFailed", id: 1n, error: "500", at: at + 100 }], r);
      expect(r.retryAt).to.equal(at + 100 + 200);
    });

    it("after the last attempt, probes the executor and rejects LAUNCH_FAILED only if no job exists", () => {
      const events: MachineEvent[] = [{ type: "requested", request: request(1n), at }];
      for (let i = 0; i < config.maxLaunchAttempts; i++) events.push(started(1n, "launch"), { type: "launchFailed", id: 1n, error: "timeout", at });
      const r = run(events);
      expect(decide(r, at)).to.deep.equal({ type: "probe", id: 1n });
      const missing = run([started(1n, "probe"), { type: "jobMissing", id: 1n, at }], r);
      const a = decide(missing, at);
      expect(a?.type === "reject" && a.rejection.code).to.equal(REJECT_REASONS.LAUNCH_FAILED);
      // The timed-out create had landed after all: the job exists, so it runs and is paid for.
      const found = run([started(1n, "probe"), { type: "jobObserved", state: job(1n, "pending"), at }], r);
      expect(decide(found, at)?.type).to.equal("markRunning");
    });

    it("rejects a running redemption whose job the executor no longer has", () => {
      const r = run([{ type: "requested", request: request(1n), at }, status(1n, "Running", "log")]);
      expect(decide(r, at)).to.deep.equal({ type: "probe", id: 1n });
      const a = decide(run([{ type: "jobMissing", id: 1n, at }], r), at);
      expect(a?.type === "reject" && a.rejection.reason).to.equal("LAUNCH_FAILED");
    });
  });

  describe("ordering and idempotence", () => {
    it("never moves the status backwards (a late confirmed log after our receipt)", () => {
      const r = run([{ type: "requested", request: request(1n), at }, status(1n, "Settled", "tx"), status(1n, "Running", "log"), { type: "requested", request: request(1n), at }]);
      expect(r.chain).to.equal("Settled");
    });

    it("decides nothing while an action is in flight", () => {
      const r = run([{ type: "requested", request: request(1n), at }, started(1n, "launch")]);
      expect(decide(r, at)).to.equal(undefined);
    });

    it("does not let a late 'pending' observation hide a finished job", () => {
      const r = run([
        { type: "requested", request: request(1n), at },
        { type: "jobObserved", state: job(1n, "succeeded", 3), at },
        { type: "jobObserved", state: job(1n, "pending"), at },
      ]);
      expect(r.job?.phase).to.equal("succeeded");
    });

    it("skips the policy check for redemptions already over (history replay)", () => {
      const r = run([status(1n, "Settled", "log", { used: 4n }), { type: "requested", request: request(1n, new Uint8Array([0xff])), at }]);
      expect(r.verdict).to.equal(undefined);
      expect(decide(r, at)).to.equal(undefined);
    });

    it("gives the same decisions whatever order a restart replays history in", () => {
      const events: MachineEvent[] = [{ type: "requested", request: request(1n), at }, status(1n, "Running", "log"), { type: "jobObserved", state: job(1n, "succeeded", 10), at }];
      const orders = [
        [0, 1, 2],
        [1, 0, 2],
        [2, 1, 0],
        [2, 0, 1],
        [1, 2, 0],
        [0, 2, 1],
      ];
      for (const order of orders) {
        const a = decide(run(order.map((i) => events[i]!)), at);
        expect(a?.type, order.join()).to.equal("settle");
      }
    });
  });

  describe("redemptions that end without the redeemer", () => {
    it("stops a job whose redemption the holder reclaimed", () => {
      const r = run([{ type: "requested", request: request(1n), at }, { type: "jobObserved", state: job(1n, "running"), at }, status(1n, "Reclaimed", "log")]);
      expect(decide(r, at)).to.deep.equal({ type: "remove", id: 1n });
      expect(decide(run([{ type: "removed", id: 1n, at }], r), at)).to.equal(undefined);
    });

    it("looks up a job's redemption it has not seen, and stops the job if the chain has no such redemption", () => {
      const r = run([{ type: "jobObserved", state: job(9n, "running"), at }]);
      expect(decide(r, at)).to.deep.equal({ type: "lookup", id: 9n });
      const gone = run([started(9n, "lookup"), status(9n, "None", "read")], r);
      expect(decide(gone, at)).to.deep.equal({ type: "remove", id: 9n });
    });

    it("launches nothing for a redemption a read says does not exist (reorganised away)", () => {
      const r = run([{ type: "requested", request: request(1n), at }, status(1n, "None", "read")]);
      expect(r.gone).to.equal(true);
      expect(decide(r, at)).to.equal(undefined);
    });
  });

  describe("RedemptionBook", () => {
    it("returns the next action of each changed record once, then again after a back-off", () => {
      const book = new RedemptionBook(config);
      book.apply({ type: "requested", request: request(1n), at });
      book.apply({ type: "requested", request: request(2n), at });
      const first = book.takeActions(at);
      expect(first.map((a) => a.type)).to.deep.equal(["launch", "launch"]);
      expect(book.takeActions(at)).to.deep.equal([]);
      book.apply(started(1n, "launch"));
      book.apply({ type: "launchFailed", id: 1n, error: "x", at });
      expect(book.takeActions(at)).to.deep.equal([]);
      expect(book.nextRetryAt()).to.equal(at + 100);
      expect(book.takeActions(at + 100).map((a) => `${a.type}:${a.id}`)).to.deep.equal(["launch:1"]);
    });

    it("indexes redemptions by holder and counts them by phase", () => {
      const book = new RedemptionBook(config);
      book.apply({ type: "requested", request: request(1n), at });
      book.apply({ type: "requested", request: request(2n), at });
      book.apply(status(2n, "Rejected", "log", { reasonCode: 4 }));
      expect(book.ofHolder(HOLDER.toLowerCase() as `0x${string}`).map((r) => r.id)).to.deep.equal([1n, 2n]);
      expect(book.countByPhase()).to.include({ requested: 1, rejected: 1 });
      expect(book.get(2n)?.rejection?.reason).to.equal("IMAGE_NOT_ALLOWED");
    });
  });
});
