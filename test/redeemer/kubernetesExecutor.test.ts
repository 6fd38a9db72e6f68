/**
 * The `kubernetes` executor against the in-repo fake API server, through the real
 * @kubernetes/client-node. Timestamps come from a manual clock shared by the fake cluster and the
 * executor, so an hour of GPU time passes without waiting.
 */
import http from "node:http";
import net from "node:net";
import type { Duplex } from "node:stream";
import { expect } from "chai";
import { ApiException, BatchV1Api, CoreV1Api, type V1Job } from "@kubernetes/client-node";
import { PRIORITIES, type PriorityName } from "../../sdk/jobSpec.js";
import type { JobState, LaunchRequest } from "../../redeemer/executor/types.js";
import { jobNameFor } from "../../redeemer/executor/types.js";
import {
  ExecutorClosed,
  JobNameTaken,
  KubernetesUnavailable,
  buildJobManifest,
  createKubernetesExecutor,
  parseKubernetesExecutorConfig,
  type KubernetesExecutor,
  type KubernetesExecutorConfigInput,
} from "../../redeemer/executor/kubernetes/index.js";
import { ConfigError } from "../../sdk/ctkError.js";
import { slimJob } from "../../redeemer/executor/kubernetes/jobWatcher.js";
import { isFinished, jobStateFrom, redemptionIdOf } from "../../redeemer/executor/kubernetes/jobStateFrom.js";
import { ManualClock, parseLabelSelector, startFakeKube, type FakeKube, type FakeKubeOptions, type KubeObject } from "../../devkit/fakeKube.js";
import { rejection } from "./support/waitFor.js";

const NAMESPACE = "gpu-jobs";
const LOCAL_QUEUE = "team-gpus";
const PRIORITY_CLASSES = { low: "ctk-low", normal: "ctk-normal", high: "ctk-high", urgent: "ctk-urgent" };
const WORKLOAD_PRIORITY_CLASSES = { low: "wl-low", normal: "wl-normal", high: "wl-high", urgent: "wl-urgent" };
const IMAGE = `registry.example.com/team/train@sha256:${"ab12".repeat(16)}`;
const H100 = "NVIDIA-H100-80GB-HBM3";
const T0_MS = Date.UTC(2030, 0, 1);
const T0 = T0_MS / 1000;

/** A test CA, the fake server's certificate for 127.0.0.1 and a client certificate (CN ctk-redeemer), all signed by it. */
const TEST_CA = `-----BEGIN CERTIFICATE-----
MIIBhDCCASugAwIBAgIUBelox/VCP1xDq9JcmlYuadFVpXQwCgYIKoZIzj0EAwIw
FzEVMBMGA1UEAwwMZmFrZS1rdWJlLWNhMCAXDTI2MTEyMjA0MzI1OVoYDzIxMjYx
MDI5MDQzMjU5WjAXMRUwEwYDVQQDDAxmYWtlLWt1YmUtY2EwWTATBgcqhkjOPQIB
BggqhkjOPQMBBwNCAAQZqB1TkUGFh+RZelhYn3ygQBoHR6BWMdwnv6wbLlqPzHpQ
4shP8MKAVHkTWxke/I9uEm9TaxwJ9LvgD9iCU+auo1MwUTAdBgNVHQ4EFgQUcMCe
bExP/7Dd9Ex0NGOiQrXtD3EwHwYDVR0jBBgwFoAUcMCebExP/7Dd9Ex0NGOiQrXt
D3EwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNHADBEAiAdmz7WmGvVAqNz
WOqj+oI+c3lpfCj2f6xfQzX88EiYLwIgcJsekkewheBkhqQvMUAmxqGCnEHWjw56
vjoZholoOek=
-----END CERTIFICATE-----\n`;
const SERVER_CERT = `-----BEGIN CERTIFICATE-----
MIIBgjCCASigAwIBAgIUNDtJ6E2wFzcMzSO7Yj3RAUXs4IUwCgYIKoZIzj0EAwIw
FzEVMBMGA1UEAwwMZmFrZS1rdWJlLWNhMCAXDTI2MTEyMjA0MzI1OVoYDzIxMjYx
MDI5MDQzMjU5WjAUMRIwEAYDVQQDDAlmYWtlLWt1YmUwWTATBgcqhkjOPQIBBggq
hkjOPQMBBwNCAARNvG5tPtmD6CfYoftXL84bwlIzxcbdaJuG26a+BherEa1Pigbc
VzNUGC6Ia6M83wS3Vh9bs2yFfkzm0rvoQzE4o1MwUTAPBgNVHREECDAGhwR/AAAB
MB0GA1UdDgQWBBT/FM11BbVxclvJ6bWXDkQjZvnFFDAfBgNVHSMEGDAWgBRwwJ5s
TE//sN30THQ0Y6JCte0PcTAKBggqhkjOPQQDAgNIADBFAiBiU+gNI5kowQABckdH
jhBzsZNRbXmTQqi1JrRIS/CpGQIhAJf4wsyfF+vsFbHYdW08VykRWGZUvgodvIBX
LS8LpXoF
-----END CERTIFICATE-----\n`;
const SERVER_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQglo7ma8xVWPCiujz/
hRc20KIdAmCBNb8bAaOEygiqRzehRANCAARNvG5tPtmD6CfYoftXL84bwlIzxcbd
aJuG26a+BherEa1PigbcVzNUGC6Ia6M83wS3Vh9bs2yFfkzm0rvoQzE4
-----END PRIVATE KEY-----\n`;
const CLIENT_CERT = `-----BEGIN CERTIFICATE-----
MIIBODCB3wIUNDtJ6E2wFzcMzSO7Yj3RAUXs4IYwCgYIKoZIzj0EAwIwFzEVMBMG
A1UEAwwMZmFrZS1rdWJlLWNhMCAXDTI2MTEyMjA0MzI1OVoYDzIxMjYxMDI5MDQz
MjU5WjAlMRUwEwYDVQQDDAxjdGstcmVkZWVtZXIxDDAKBgNVBAoMA2N0azBZMBMG
ByqGSM49AgEGCCqGSM49AwEHA0IABBBU2x6nkvU575vCdEYfSAFHA5pdI8B6eeLR
9V5288JvYMuTwNqPVx1W+FiJlYHw9wnuMdhM0AlydYD2PyL+sUgwCgYIKoZIzj0E
AwIDSAAwRQIgUyDqkiIyEnAF82dd49ezzdJ55OTXOx0a05ss6IfD0QICIQDDxpAn
pux6WhecfRGOSV8IjpJwLat/YRV/Ahbi47d8pw==
-----END CERTIFICATE-----\n`;
const CLIENT_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgzMLS7xlOq1bVD5fM
v1LPbiz0YNmz2eQHxRRvZmAQHnOhRANCAAQQVNsep5L1Oe+bwnRGH0gBRwOaXSPA
enni0fVedvPCb2DLk8Daj1cdVvhYiZWB8PcJ7jHYTNAJcnWA9j8i/rFI
-----END PRIVATE KEY-----\n`;

const BASE_CONFIG = {
  namespace: NAMESPACE,
  localQueue: LOCAL_QUEUE,
  priorityClasses: PRIORITY_CLASSES,
  workloadPriorityClasses: WORKLOAD_PRIORITY_CLASSES,
  resyncMs: 60_000,
  requestTimeoutMs: 2_000,
  maxAttempts: 5,
  retryBaseMs: 5,
  retryMaxMs: 50,
} satisfies KubernetesExecutorConfigInput;

function request(id: bigint, opts: { gpus?: number; seconds?: number; priority?: PriorityName; project?: string } = {}): LaunchRequest {
  const gpus = opts.gpus ?? 4;
  const seconds = opts.seconds ?? 3600;
  const priority = opts.priority ?? "normal";
  return {
    redemptionId: id,
    className: "H100-80GB",
    productLabel: H100,
    gpus,
    seconds,
    priority,
    spec: {
      name: "llm-finetune",
      image: IMAGE,
      command: ["python", "train.py"],
      args: ["--epochs", "3"],
      env: { SEED: "1", WANDB_MODE: "offline" },
      gpus,
      hours: seconds / 3600,
      priority,
      ...(opts.project ? { project: opts.project } : {}),
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Ref'ed handles that would keep the process alive. */
function openHandles(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) {
    if (r === "TCPSocketWrap" || r === "TCPServerWrap" || r === "Timeout") counts[r] = (counts[r] ?? 0) + 1;
  }
  return counts;
}

describe("kubernetes executor", function () {
  let clock: ManualClock;
  let fake: FakeKube;
  let executor: KubernetesExecutor;
  const extraExecutors: KubernetesExecutor[] = [];

  async function setUp(fakeOptions: FakeKubeOptions = {}, config: Partial<KubernetesExecutorConfigInput> = {}) {
    clock = new ManualClock(T0_MS);
    fake = await startFakeKube({ clock, ...fakeOptions });
    executor = newExecutor(config);
  }

  /** Another executor on the same cluster (a restarted redeemer). */
  function newExecutor(config: Partial<KubernetesExecutorConfigInput> = {}): KubernetesExecutor {
    const ex = createKubernetesExecutor({
      kubeConfig: fake.kubeConfig(),
      config: { ...BASE_CONFIG, ...config },
      now: () => clock.now(),
    });
    extraExecutors.push(ex);
    return ex;
  }

  afterEach(async function () {
    await Promise.all(extraExecutors.splice(0).map((ex) => ex.close()));
    await fake?.close();
  });

  describe("the Job manifest", function () {
    const config = parseKubernetesExecutorConfig(BASE_CONFIG);

    function expectManifest(job: V1Job | KubeObject) {
      // Compare as JSON: the same assertions hold for the built object and for what the server stored.
      const j = JSON.parse(JSON.stringify(job));
      expect(j.apiVersion).to.equal("batch/v1");
      expect(j.kind).to.equal("Job");
      expect(j.metadata.name).to.equal("ctk-redemption-42");
      expect(j.metadata.namespace).to.equal(NAMESPACE);
      expect(j.metadata.labels).to.include({
        "app.kubernetes.io/managed-by": "ctk-redeemer",
        "ctk.compute-tokens/redemption-id": "42",
        "kueue.x-k8s.io/queue-name": LOCAL_QUEUE,
        "kueue.x-k8s.io/priority-class": "wl-high",
      });
      expect(j.metadata.annotations).to.include({
        "ctk.compute-tokens/class": "H100-80GB",
        "ctk.compute-tokens/gpus": "8",
        "ctk.compute-tokens/allotted-seconds": "7200",
        "ctk.compute-tokens/spec-name": "llm-finetune",
        "ctk.compute-tokens/project": "search-ranking",
      });

      const spec = j.spec;
      expect(spec.suspend).to.equal(true);
      expect(spec.backoffLimit).to.equal(0);
      expect(spec.activeDeadlineSeconds).to.equal(7200);
      expect(spec.podReplacementPolicy).to.equal("Failed");
      expect(spec.podFailurePolicy).to.deep.equal({
        rules: [
          { action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] },
          { action: "FailJob", onExitCodes: { containerName: "main", operator: "NotIn", values: [0] } },
        ],
      });
      expect(spec.template.metadata.labels).to.include({
        "app.kubernetes.io/managed-by": "ctk-redeemer",
        "ctk.compute-tokens/redemption-id": "42",
      });

      const pod = spec.template.spec;
      expect(pod.restartPolicy).to.equal("Never");
      expect(pod.priorityClassName).to.equal("ctk-high");
      expect(pod.automountServiceAccountToken).to.equal(false);
      expect(pod.enableServiceLinks).to.equal(false);
      expect(pod.nodeSelector).to.deep.equal({ "nvidia.com/gpu.product": H100 });
      expect(pod.tolerations).to.deep.equal([{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }]);
      expect(pod.securityContext).to.deep.equal({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
      for (const key of ["hostNetwork", "hostPID", "hostIPC", "volumes", "serviceAccountName", "nodeName"]) {
        expect(pod, key).to.not.have.property(key);
      }
      expect(pod.containers).to.have.length(1);
      const c = pod.containers[0];
      expect(c.name).to.equal("main");
      expect(c.image).to.equal(IMAGE);
      expect(c.command).to.deep.equal(["python", "train.py"]);
      expect(c.args).to.deep.equal(["--epochs", "3"]);
      expect(c.env).to.deep.equal([
        { name: "SEED", value: "1" },
        { name: "WANDB_MODE", value: "offline" },
      ]);
      expect(c.resources).to.deep.equal({ limits: { "nvidia.com/gpu": "8" } });
      expect(c.securityContext).to.deep.equal({
        runAsNonRoot: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ["ALL"] },
        seccompProfile: { type: "RuntimeDefault" },
      });
      expect(c).to.not.have.property("volumeMounts");
    }

    it("builds a suspended Kueue Job pinned to the GPU class, with a deadline, a failure policy and a restricted pod", function () {
      expectManifest(buildJobManifest(request(42n, { gpus: 8, seconds: 7200, priority: "high", project: "search-ranking" }), config));
    });

    it("creates exactly that Job on the cluster, every field intact through the client", async function () {
      await setUp();
      await executor.launch(request(42n, { gpus: 8, seconds: 7200, priority: "high", project: "search-ranking" }));
      expectManifest(fake.job("ctk-redemption-42")!);
    });

    it("maps each priority to its PriorityClass and Kueue WorkloadPriorityClass", function () {
      for (const priority of PRIORITIES) {
        const job = buildJobManifest(request(1n, { priority }), config);
        expect(job.metadata!.labels!["kueue.x-k8s.io/priority-class"]).to.equal(WORKLOAD_PRIORITY_CLASSES[priority]);
        expect(job.spec!.template.spec!.priorityClassName).to.equal(PRIORITY_CLASSES[priority]);
      }
    });

    it("sets runAsUser, ttlSecondsAfterFinished and an unsuspended start when configured", function () {
      const job = buildJobManifest(request(1n), parseKubernetesExecutorConfig({ ...BASE_CONFIG, runAsUser: 1000, ttlSecondsAfterFinished: 600, createSuspended: false }));
      expect(job.spec!.template.spec!.securityContext!.runAsUser).to.equal(1000);
      expect(job.spec!.ttlSecondsAfterFinished).to.equal(600);
      expect(job.spec!.suspend).to.equal(false);
    });

    it("gives named secrets as secretKeyRef into the cluster's Secret, never their values", function () {
      const req = request(1n);
      const job = buildJobManifest({ ...req, spec: { ...req.spec, secrets: { HF_TOKEN: "hf-token" } } }, config);
      expect(job.spec!.template.spec!.containers[0]!.env).to.deep.equal([
        { name: "SEED", value: "1" },
        { name: "WANDB_MODE", value: "offline" },
        { name: "HF_TOKEN", valueFrom: { secretKeyRef: { name: "ctk-job-secrets", key: "hf-token" } } },
      ]);
      const custom = buildJobManifest(
        { ...req, spec: { ...req.spec, secrets: { HF_TOKEN: "hf-token" } } },
        parseKubernetesExecutorConfig({ ...BASE_CONFIG, jobSecret: "team-secrets" }),
      );
      expect(custom.spec!.template.spec!.containers[0]!.env!.at(-1)!.valueFrom!.secretKeyRef!.name).to.equal("team-secrets");
    });

    it("omits command and args the spec leaves empty, so the image's entrypoint runs", function () {
      const req = request(1n);
      const job = buildJobManifest({ ...req, spec: { ...req.spec, command: [], args: [] } }, config);
      const c = job.spec!.template.spec!.containers[0];
      expect(c).to.not.have.property("command");
      expect(c).to.not.have.property("args");
    });

    it("keeps in the watcher's slim copy of a Job everything its state is read from", function () {
      const full = buildJobManifest(request(9n, { gpus: 2, seconds: 600 }), config);
      full.metadata!.uid = "uid-9";
      full.metadata!.resourceVersion = "17";
      const withoutAnnotations = structuredClone(full);
      delete withoutAnnotations.metadata!.annotations; // allotment then comes from the spec
      for (const job of [full, withoutAnnotations]) {
        job.status = {
          startTime: new Date((T0 + 10) * 1000),
          completionTime: new Date((T0 + 70) * 1000),
          conditions: [{ type: "Complete", status: "True", lastTransitionTime: new Date((T0 + 70) * 1000) }],
        };
        const slim = slimJob(job);
        expect(JSON.stringify(slim).length).to.be.below(JSON.stringify(job).length / 2);
        expect(redemptionIdOf(slim)).to.equal(9n);
        expect(isFinished(slim)).to.equal(true);
        expect(slim.metadata!.resourceVersion).to.equal("17");
        expect(jobStateFrom(9n, slim, [], [], T0 + 100)).to.deep.equal(jobStateFrom(9n, job, [], [], T0 + 100));
        job.status = {};
        job.spec!.suspend = false;
        expect(jobStateFrom(9n, slimJob(job), [], [], T0 + 100)).to.deep.equal(jobStateFrom(9n, job, [], [], T0 + 100));
      }
    });

    it("rejects a configuration with a bad namespace and missing priority classes, naming each field", function () {
      const err = (() => {
        try {
          parseKubernetesExecutorConfig({ namespace: "GPU_Jobs", localQueue: LOCAL_QUEUE, priorityClasses: { low: "x" } });
        } catch (e) {
          return e;
        }
      })();
      expect(err).to.be.instanceOf(ConfigError);
      const paths = (err as ConfigError).issues.map((i) => i.path);
      expect(paths).to.include.members(["namespace", "priorityClasses.normal", "workloadPriorityClasses"]);
    });

    it("pipelines 8 creates per connection unless told otherwise, and refuses a depth outside 1–64", function () {
      const base = { namespace: NAMESPACE, localQueue: LOCAL_QUEUE, priorityClasses: BASE_CONFIG.priorityClasses, workloadPriorityClasses: BASE_CONFIG.workloadPriorityClasses };
      expect(parseKubernetesExecutorConfig(base)).to.include({ pipelining: 8, maxConcurrentRequests: 32 });
      expect(parseKubernetesExecutorConfig({ ...base, pipelining: 1 }).pipelining).to.equal(1);
      for (const pipelining of [0, 65, 2.5]) {
        const err = (() => {
          try {
            parseKubernetesExecutorConfig({ ...base, pipelining });
          } catch (e) {
            return e;
          }
        })();
        expect(err, String(pipelining)).to.be.instanceOf(ConfigError);
        expect((err as ConfigError).issues.map((i) => i.path)).to.deep.equal(["pipelining"]);
      }
    });
  });

  describe("launch", function () {
    it("creates one Job when the same redemption is launched twice, and says so the second time", async function () {
      await setUp();
      const first = await executor.launch(request(7n));
      const second = await executor.launch(request(7n));
      expect(first).to.deep.equal({ name: "ctk-redemption-7", alreadyExisted: false });
      expect(second).to.deep.equal({ name: "ctk-redemption-7", alreadyExisted: true });
      expect(fake.jobsCreated("ctk-redemption-7")).to.equal(1);
      expect(fake.stats.calls.create).to.equal(2);
    });

    it("refuses to adopt a Job of the same name that another party created", async function () {
      await setUp();
      const batch = fake.kubeConfig().makeApiClient(BatchV1Api);
      await batch.createNamespacedJob({
        namespace: NAMESPACE,
        body: {
          metadata: { name: jobNameFor(5n), labels: { "ctk.compute-tokens/redemption-id": "6" } },
          spec: { template: { spec: { containers: [{ name: "x", image: "busybox" }], restartPolicy: "Never" } } },
        },
      });
      const err = await rejection(executor.launch(request(5n)));
      expect(err).to.be.instanceOf(JobNameTaken);
      expect(err).to.include({ jobName: "ctk-redemption-5", redemptionId: 5n, foundRedemptionId: "6" });
      expect(fake.jobsCreated("ctk-redemption-5")).to.equal(1);
    });

    it("launches each redemption exactly once while the API server fails, stalls and answers spurious conflicts", async function () {
      await setUp(
        { seed: 7, faults: { errorRate: 0.2, delayRate: 0.1, delayMs: 2_500, conflictRate: 0.2 } },
        // A few requests at a time, so that on a loaded machine only the injected delays time out.
        { requestTimeoutMs: 1_500, maxAttempts: 10, maxConcurrentRequests: 8 },
      );
      const ids = Array.from({ length: 30 }, (_, i) => BigInt(i + 1));
      // Every redemption launched twice at once, as a redeemer restarting mid-launch would.
      const results = await Promise.all(ids.flatMap((id) => [executor.launch(request(id)), executor.launch(request(id))]));
      expect(results.map((r) => r.name)).to.have.members(ids.flatMap((id) => [jobNameFor(id), jobNameFor(id)]));
      for (const id of ids) expect(fake.jobsCreated(jobNameFor(id)), jobNameFor(id)).to.equal(1);
      expect(fake.jobNames()).to.have.length(ids.length);
      expect(fake.stats.injected.errors).to.be.greaterThan(0);
      expect(fake.stats.injected.delays).to.be.greaterThan(0);
      expect(fake.stats.injected.conflicts).to.be.greaterThan(0);

      fake.setFaults(undefined);
      const states = await executor.list();
      expect(states.map((s) => s.redemptionId)).to.deep.equal(ids);
      expect(states.every((s) => s.phase === "pending")).to.equal(true);
    });

    it("gives up with KubernetesUnavailable after the configured number of attempts", async function () {
      await setUp({ faults: { errorRate: 1, verbs: ["create"] } }, { maxAttempts: 3 });
      const err = await rejection(executor.launch(request(9n)));
      expect(err).to.be.instanceOf(KubernetesUnavailable);
      expect(err).to.include({ operation: "create job ctk-redemption-9", attempts: 3, status: 500 });
      expect(fake.stats.calls.create).to.equal(3);
      expect(fake.jobsCreated("ctk-redemption-9")).to.equal(0);
    });
  });

  describe("get and list", function () {
    it("returns undefined for a redemption that has no Job", async function () {
      await setUp();
      expect(await executor.get(404n)).to.equal(undefined);
      expect(fake.stats.calls.get).to.equal(1);
    });

    it("reports a queued Job as pending with no usage", async function () {
      await setUp();
      await executor.launch(request(1n));
      clock.advanceSeconds(600);
      expect(await executor.get(1n)).to.deep.equal({
        redemptionId: 1n,
        name: "ctk-redemption-1",
        phase: "pending",
        segments: [],
        gpuSeconds: 0,
      });
    });

    it("measures the GPU-seconds of a job that runs to success", async function () {
      await setUp();
      await executor.launch(request(1n, { gpus: 4, seconds: 3600 }));
      clock.advanceSeconds(30); // queued: not charged
      fake.startJob("ctk-redemption-1", { node: "gpu-node-a" });
      clock.advanceSeconds(1800);
      expect(await executor.get(1n)).to.deep.include({
        phase: "running",
        segments: [{ start: T0 + 30, node: "gpu-node-a", gpuProduct: H100 }],
        gpuSeconds: 4 * 1800,
      });
      clock.advanceSeconds(1200);
      fake.succeedJob("ctk-redemption-1");
      clock.advanceSeconds(500); // finished: the clock no longer counts
      expect(await executor.get(1n)).to.deep.equal({
        redemptionId: 1n,
        name: "ctk-redemption-1",
        phase: "succeeded",
        segments: [{ start: T0 + 30, end: T0 + 3030, node: "gpu-node-a", gpuProduct: H100 }],
        gpuSeconds: 4 * 3000,
        exitCode: 0,
      });
    });

    it("reports a failed job's exit code, and the container's reason when it says more than 'Error'", async function () {
      await setUp();
      await executor.launch(request(1n, { gpus: 2 }));
      await executor.launch(request(2n, { gpus: 2 }));
      fake.startJob("ctk-redemption-1");
      fake.startJob("ctk-redemption-2");
      clock.advanceSeconds(120);
      fake.failJob("ctk-redemption-1", "OOMKilled", 137);
      fake.failJob("ctk-redemption-2", "Error", 3);

      expect(await executor.get(1n)).to.deep.include({ phase: "failed", exitCode: 137, reason: "OOMKilled", gpuSeconds: 240 });
      expect(await executor.get(2n)).to.deep.include({ phase: "failed", exitCode: 3, reason: "PodFailurePolicy", gpuSeconds: 240 });
    });

    it("reports DeadlineExceeded and charges no more than the allotted GPU-seconds, even after a restart", async function () {
      await setUp();
      await executor.launch(request(1n, { gpus: 2, seconds: 3600 }));
      fake.startJob("ctk-redemption-1", { node: "gpu-node-a" });
      clock.advanceSeconds(1000);
      expect(await executor.get(1n)).to.deep.include({ phase: "running", gpuSeconds: 2000 });
      clock.advanceSeconds(2720); // 120 s past the deadline before the controller acts
      expect(fake.enforceDeadlines({ deletePods: true })).to.deep.equal(["ctk-redemption-1"]);

      const state = await executor.get(1n);
      expect(state).to.deep.include({ phase: "failed", reason: "DeadlineExceeded", gpuSeconds: 2 * 3600 });
      expect(state!.segments).to.deep.equal([{ start: T0, end: T0 + 3720, node: "gpu-node-a", gpuProduct: H100 }]);
      expect(fake.pods("ctk-redemption-1")).to.deep.equal([]);

      // A restarted redeemer never saw the pod: it falls back on the Job's own start and end.
      const restarted = await newExecutor().get(1n);
      expect(restarted).to.deep.include({ phase: "failed", reason: "DeadlineExceeded", gpuSeconds: 2 * 3600 });
      expect(restarted!.segments).to.deep.equal([{ start: T0, end: T0 + 3720 }]);
    });

    it("sums GPU-seconds over the run segments of a preempted and resumed job", async function () {
      await setUp();
      await executor.launch(request(3n, { gpus: 4, seconds: 7200 }));
      fake.startJob("ctk-redemption-3", { node: "gpu-node-a" });
      clock.advanceSeconds(600);
      fake.preemptJob("ctk-redemption-3");
      clock.advanceSeconds(300);
      expect(await executor.get(3n)).to.deep.include({
        phase: "pending",
        segments: [{ start: T0, end: T0 + 600, node: "gpu-node-a", gpuProduct: H100 }],
        gpuSeconds: 4 * 600,
      });

      fake.resumeJob("ctk-redemption-3", { node: "gpu-node-b" });
      clock.advanceSeconds(900);
      expect(await executor.get(3n)).to.deep.include({ phase: "running", gpuSeconds: 4 * 1500 });
      fake.succeedJob("ctk-redemption-3");
      expect(await executor.get(3n)).to.deep.equal({
        redemptionId: 3n,
        name: "ctk-redemption-3",
        phase: "succeeded",
        segments: [
          { start: T0, end: T0 + 600, node: "gpu-node-a", gpuProduct: H100 },
          { start: T0 + 900, end: T0 + 1800, node: "gpu-node-b", gpuProduct: H100 },
        ],
        gpuSeconds: 4 * 1500,
        exitCode: 0,
      });
    });

    it("charges a preempted pod that Kubernetes deleted unseen up to the start of its replacement", async function () {
      await setUp();
      await executor.launch(request(3n, { gpus: 1 }));
      fake.startJob("ctk-redemption-3", { node: "gpu-node-a" });
      clock.advanceSeconds(400);
      await executor.get(3n); // the executor sees the first pod running
      fake.preemptJob("ctk-redemption-3", { deletePod: true });
      expect(fake.pods("ctk-redemption-3")).to.deep.equal([]);
      clock.advanceSeconds(100);
      fake.resumeJob("ctk-redemption-3", { node: "gpu-node-b" });
      clock.advanceSeconds(250);
      fake.succeedJob("ctk-redemption-3");
      // Without a watch the executor never saw the pod end (at 400 s): it saw it running, then
      // gone. The replacement could start only after it had terminated, which bounds it.
      const state = await executor.get(3n);
      expect(state).to.deep.include({ phase: "succeeded", gpuSeconds: 750 });
      expect(state!.segments.map((s) => [s.start - T0, s.end! - T0, s.node])).to.deep.equal([
        [0, 500, "gpu-node-a"],
        [500, 750, "gpu-node-b"],
      ]);
    });

    it("lists every Job it manages, and only those, after a restart too", async function () {
      await setUp();
      for (const id of [3n, 1n, 2n]) await executor.launch(request(id, { gpus: 2 }));
      await fake
        .kubeConfig()
        .makeApiClient(BatchV1Api)
        .createNamespacedJob({
          namespace: NAMESPACE,
          body: { metadata: { name: "someone-elses-job" }, spec: { template: { spec: { containers: [] } } } },
        });
      fake.startJob("ctk-redemption-2");
      clock.advanceSeconds(100);
      for (const ex of [executor, newExecutor()]) {
        const states = await ex.list();
        expect(states.map((s) => [s.redemptionId, s.phase, s.gpuSeconds])).to.deep.equal([
          [1n, "pending", 0],
          [2n, "running", 200],
          [3n, "pending", 0],
        ]);
      }
    });

    it("lists across pages", async function () {
      await setUp({}, { listPageSize: 2 });
      for (let id = 1n; id <= 5n; id++) await executor.launch(request(id));
      expect((await executor.list()).map((s) => s.redemptionId)).to.deep.equal([1n, 2n, 3n, 4n, 5n]);
      expect(fake.stats.calls.list).to.equal(3 + 1); // three pages of Jobs, one of Pods
    });
  });

  describe("remove and ping", function () {
    it("removes a finished Job with its pods, and removing it again is fine", async function () {
      await setUp();
      await executor.launch(request(1n));
      fake.startJob("ctk-redemption-1");
      fake.succeedJob("ctk-redemption-1");
      expect(fake.pods("ctk-redemption-1")).to.have.length(1);
      await executor.remove(1n);
      expect(fake.job("ctk-redemption-1")).to.equal(undefined);
      expect(fake.stats.calls.list).to.equal(0);
      const pods = await fake.kubeConfig().makeApiClient(CoreV1Api).listNamespacedPod({ namespace: NAMESPACE });
      expect(pods.items).to.deep.equal([]);
      await executor.remove(1n);
      expect(await executor.get(1n)).to.equal(undefined);
      expect(fake.stats.calls.delete).to.equal(2);
    });

    it("pings true while the API server answers and false once it is gone", async function () {
      await setUp();
      expect(await executor.ping()).to.equal(true);
      await fake.close();
      expect(await executor.ping()).to.equal(false);
    });
  });

  describe("watch", function () {
    function collect(ex: KubernetesExecutor) {
      const states: JobState[] = [];
      const stop = ex.watch((s) => states.push(s));
      const last = (id: bigint) => states.filter((s) => s.redemptionId === id).at(-1);
      const phaseOf = (id: bigint) => last(id)?.phase;
      return { states, stop, last, phaseOf };
    }

    it("reports each change of a job, from queued through running to succeeded", async function () {
      await setUp();
      const w = collect(executor);
      await executor.launch(request(1n, { gpus: 2 }));
      await waitFor("pending", () => w.phaseOf(1n) === "pending");
      fake.startJob("ctk-redemption-1", { node: "gpu-node-a" });
      await waitFor("running", () => w.phaseOf(1n) === "running");
      clock.advanceSeconds(900);
      fake.succeedJob("ctk-redemption-1");
      const done = await waitFor("succeeded", () => w.phaseOf(1n) === "succeeded" && w.last(1n));
      expect(done).to.deep.equal({
        redemptionId: 1n,
        name: "ctk-redemption-1",
        phase: "succeeded",
        segments: [{ start: T0, end: T0 + 900, node: "gpu-node-a", gpuProduct: H100 }],
        gpuSeconds: 1800,
        exitCode: 0,
      });
      await sleep(50);
      const phases = w.states.map((s) => s.phase).filter((p, i, all) => p !== all[i - 1]);
      expect(phases).to.deep.equal(["pending", "running", "succeeded"]);
      expect(w.states.filter((s) => s.phase === "succeeded")).to.have.length(1);
      w.stop();
    });

    it("counts the segment of a preempted pod deleted while it watched", async function () {
      await setUp();
      const w = collect(executor);
      await executor.launch(request(2n, { gpus: 1 }));
      fake.startJob("ctk-redemption-2", { node: "gpu-node-a" });
      await waitFor("running", () => w.phaseOf(2n) === "running");
      clock.advanceSeconds(300);
      fake.preemptJob("ctk-redemption-2", { deletePod: true });
      await waitFor("pending again", () => w.phaseOf(2n) === "pending");
      clock.advanceSeconds(60);
      fake.resumeJob("ctk-redemption-2", { node: "gpu-node-b" });
      clock.advanceSeconds(200);
      fake.succeedJob("ctk-redemption-2");
      const done = await waitFor("succeeded", () => w.phaseOf(2n) === "succeeded" && w.last(2n));
      expect(done.gpuSeconds).to.equal(500);
      expect(done.segments.map((s) => [s.start - T0, s.end! - T0, s.node])).to.deep.equal([
        [0, 300, "gpu-node-a"],
        [360, 560, "gpu-node-b"],
      ]);
      w.stop();
    });

    it("recovers from 410 Gone during a watch and still reports the completion", async function () {
      await setUp();
      const w = collect(executor);
      await executor.launch(request(1n));
      fake.startJob("ctk-redemption-1");
      await waitFor("running", () => w.phaseOf(1n) === "running");
      await waitFor("both watches open", () => fake.openWatches === 2);
      const listsBefore = fake.stats.calls.list;
      const watchesBefore = fake.stats.calls.watch;

      fake.expireWatches();
      clock.advanceSeconds(60);
      fake.succeedJob("ctk-redemption-1");
      await waitFor("succeeded", () => w.phaseOf(1n) === "succeeded");
      await waitFor("watches reopened", () => fake.openWatches === 2);
      expect(fake.stats.calls.list).to.be.at.least(listsBefore + 2);
      expect(fake.stats.calls.watch).to.be.at.least(watchesBefore + 2);
      expect(w.last(1n)!.gpuSeconds).to.equal(4 * 60);
      w.stop();
    });

    it("recovers from a cut watch connection and reports what changed meanwhile", async function () {
      await setUp();
      const w = collect(executor);
      await executor.launch(request(1n));
      await waitFor("both watches open", () => fake.openWatches === 2 && w.phaseOf(1n) === "pending");
      fake.cutWatches();
      fake.startJob("ctk-redemption-1");
      clock.advanceSeconds(10);
      fake.failJob("ctk-redemption-1", "Error", 2);
      const done = await waitFor("failed", () => w.phaseOf(1n) === "failed" && w.last(1n));
      expect(done).to.deep.include({ exitCode: 2, gpuSeconds: 40 });
      w.stop();
    });

    it("keeps following jobs while lists and watches fail a third of the time", async function () {
      await setUp({ seed: 3, faults: { errorRate: 0.35, verbs: ["list", "watch"] } }, { resyncMs: 30 });
      const w = collect(executor);
      for (const id of [1n, 2n, 3n]) await executor.launch(request(id, { gpus: 1 }));
      await waitFor("lists and watches failing", () => fake.stats.injected.errors >= 3);
      for (const id of [1n, 2n, 3n]) fake.startJob(jobNameFor(id));
      // (The starts must be seen through the failures before the ends, whatever the machine's pace.)
      await waitFor("all three running", () => [1n, 2n, 3n].every((id) => w.phaseOf(id) === "running"));
      clock.advanceSeconds(100);
      fake.succeedJob(jobNameFor(1n));
      fake.failJob(jobNameFor(2n), "OOMKilled", 137);
      fake.preemptJob(jobNameFor(3n));
      await waitFor("all three reported", () => w.phaseOf(1n) === "succeeded" && w.phaseOf(2n) === "failed" && w.phaseOf(3n) === "pending");
      expect(w.last(1n)!.gpuSeconds).to.equal(100);
      expect(w.last(2n)).to.deep.include({ reason: "OOMKilled", exitCode: 137, gpuSeconds: 100 });
      expect(w.last(3n)!.gpuSeconds).to.equal(100);
      w.stop();
    });

    it("re-lists every resyncMs even when the watches stay quiet", async function () {
      await setUp({}, { resyncMs: 50 });
      const w = collect(executor);
      await waitFor("first lists", () => fake.stats.calls.list >= 2);
      await sleep(300);
      expect(fake.stats.calls.list).to.be.at.least(6);
      w.stop();
    });

    it("follows jobs that the cluster starts and completes on its own (autoRun), to the last one", async function () {
      clock = new ManualClock(T0_MS);
      fake = await startFakeKube({ autoRun: { startAfterMs: 10, runMs: 40 } });
      executor = createKubernetesExecutor({ kubeConfig: fake.kubeConfig(), config: { ...BASE_CONFIG, createSuspended: false } });
      extraExecutors.push(executor);
      const w = collect(executor);
      const ids = Array.from({ length: 50 }, (_, i) => BigInt(i + 1));
      await Promise.all(ids.map((id) => executor.launch(request(id, { gpus: 1 }))));
      await waitFor("all succeeded", () => ids.every((id) => w.phaseOf(id) === "succeeded"));
      for (const id of ids) expect(w.last(id)!.segments).to.have.length(1);
      w.stop();
    });
  });

  describe("the fake API server", function () {
    it("answers 409 AlreadyExists and 404 NotFound with Status objects, as kube-apiserver does", async function () {
      clock = new ManualClock(T0_MS);
      fake = await startFakeKube({ clock });
      const batch = fake.kubeConfig().makeApiClient(BatchV1Api);
      const body = { metadata: { name: "j" }, spec: { template: { spec: { containers: [] } } } };
      await batch.createNamespacedJob({ namespace: NAMESPACE, body });
      const conflict = (await rejection(batch.createNamespacedJob({ namespace: NAMESPACE, body }))) as ApiException<string>;
      expect(conflict).to.be.instanceOf(ApiException);
      expect(conflict.code).to.equal(409);
      expect(JSON.parse(conflict.body)).to.deep.include({ kind: "Status", reason: "AlreadyExists", code: 409 });
      const missing = (await rejection(batch.readNamespacedJob({ namespace: NAMESPACE, name: "nope" }))) as ApiException<string>;
      expect(missing.code).to.equal(404);
      expect(JSON.parse(missing.body)).to.deep.include({ reason: "NotFound", code: 404 });
      const deleteMissing = (await rejection(batch.deleteNamespacedJob({ namespace: NAMESPACE, name: "nope" }))) as ApiException<string>;
      expect(deleteMissing.code).to.equal(404);
      expect(fake.stats.calls).to.deep.equal({ create: 2, get: 1, list: 0, watch: 0, delete: 1 });
      expect(fake.jobsCreated("j")).to.equal(1);
    });

    it("selects by label with equality, inequality, existence and set expressions", function () {
      const labels = { app: "ctk", tier: "gpu", "ctk.compute-tokens/redemption-id": "7" };
      const cases: [string, boolean][] = [
        ["", true],
        ["app=ctk", true],
        ["app==ctk,tier=gpu", true],
        ["app!=ctk", false],
        ["tier", true],
        ["!tier", false],
        ["!missing", true],
        ["ctk.compute-tokens/redemption-id in (6,7)", true],
        ["ctk.compute-tokens/redemption-id notin (6,7)", false],
        ["app=ctk,tier in (cpu, tpu)", false],
      ];
      for (const [selector, expected] of cases) expect(parseLabelSelector(selector)(labels), selector).to.equal(expected);
    });
  });

  describe("the create path (pre-serialised JSON over a keep-alive pool)", function () {
    it("sends each Job as JSON with the KubeConfig's bearer token, over one reused connection", async function () {
      clock = new ManualClock(T0_MS);
      fake = await startFakeKube({ clock, recordRequests: true });
      executor = createKubernetesExecutor({
        kubeConfig: fake.userKubeConfig({ token: "t0k3n", skipTLSVerify: true }),
        config: BASE_CONFIG,
        now: () => clock.now(),
      });
      extraExecutors.push(executor);
      for (const id of [1n, 2n, 3n, 4n]) await executor.launch(request(id));
      const creates = fake.requests.filter((r) => r.verb === "create");
      expect(creates).to.have.length(4);
      for (const r of creates) {
        expect(r.path).to.equal(`/apis/batch/v1/namespaces/${NAMESPACE}/jobs`);
        expect(r.headers).to.include({ authorization: "Bearer t0k3n", "content-type": "application/json", "user-agent": "ctk-redeemer" });
      }
      expect(new Set(creates.map((r) => r.remotePort)).size, "connections used").to.equal(1);
      // Byte for byte the manifest, as the stock client would have serialised it.
      const stored = fake.job(jobNameFor(3n))!;
      const manifest = buildJobManifest(request(3n), parseKubernetesExecutorConfig(BASE_CONFIG));
      expect(stored.spec.template.spec.containers).to.deep.equal(manifest.spec!.template.spec!.containers);
      expect(stored.metadata.labels).to.deep.equal(manifest.metadata!.labels);
    });

    it("retries a create answered 500 until it goes through, creating the Job once", async function () {
      await setUp({ faults: { errorRate: 1, verbs: ["create"] } }, { maxAttempts: 20, retryBaseMs: 20, retryMaxMs: 20 });
      const launching = executor.launch(request(11n));
      await waitFor("two failed attempts", () => fake.stats.calls.create >= 2);
      fake.setFaults(undefined);
      expect(await launching).to.deep.equal({ name: jobNameFor(11n), alreadyExisted: false });
      expect(fake.stats.injected.errors).to.be.at.least(2);
      expect(fake.jobsCreated(jobNameFor(11n))).to.equal(1);
    });

    it("times out a create that gets no answer, retries it, and takes the 409 of its own earlier attempt as launched", async function () {
      // The server creates the Job, then holds the answer back for longer than the request timeout.
      await setUp({ faults: { delayRate: 1, delayMs: 1_000, verbs: ["create"] } }, { requestTimeoutMs: 100, maxAttempts: 2 });
      const err = await rejection(executor.launch(request(12n)));
      expect(err).to.be.instanceOf(KubernetesUnavailable);
      expect(err).to.include({ operation: "create job ctk-redemption-12", attempts: 2, status: undefined });
      expect((err as Error).cause).to.have.property("name", "TimeoutError");
      expect(fake.jobsCreated(jobNameFor(12n))).to.equal(1);

      fake.setFaults(undefined);
      expect(await executor.launch(request(12n))).to.deep.equal({ name: jobNameFor(12n), alreadyExisted: true });
      expect(fake.jobsCreated(jobNameFor(12n))).to.equal(1);
    });

    it("speaks TLS with the KubeConfig's CA and client certificate, and will not talk to a server it cannot verify", async function () {
      clock = new ManualClock(T0_MS);
      fake = await startFakeKube({ clock, recordRequests: true, tls: { key: SERVER_KEY, cert: SERVER_CERT, ca: TEST_CA } });
      executor = createKubernetesExecutor({
        kubeConfig: fake.userKubeConfig({ caPem: TEST_CA, certPem: CLIENT_CERT, keyPem: CLIENT_KEY, token: "tls-t0k3n" }),
        config: BASE_CONFIG,
        now: () => clock.now(),
      });
      extraExecutors.push(executor);
      expect(await executor.launch(request(21n))).to.deep.equal({ name: jobNameFor(21n), alreadyExisted: false });
      expect(await executor.launch(request(21n))).to.deep.equal({ name: jobNameFor(21n), alreadyExisted: true });
      const creates = fake.requests.filter((r) => r.verb === "create");
      expect(creates).to.have.length(2);
      for (const r of creates) {
        expect(r.clientCertCN).to.equal("ctk-redeemer");
        expect(r.headers.authorization).to.equal("Bearer tls-t0k3n");
      }

      // The same server, but a KubeConfig that does not trust its CA: no request gets through.
      const untrusting = createKubernetesExecutor({
        kubeConfig: fake.userKubeConfig({ token: "tls-t0k3n" }),
        config: { ...BASE_CONFIG, maxAttempts: 2 },
        now: () => clock.now(),
      });
      extraExecutors.push(untrusting);
      const err = await rejection(untrusting.launch(request(22n)));
      expect(err).to.be.instanceOf(KubernetesUnavailable);
      expect(err).to.include({ attempts: 2, status: undefined });
      expect(fake.requests.filter((r) => r.verb === "create")).to.have.length(2);
      expect(fake.jobsCreated(jobNameFor(22n))).to.equal(0);

      // Many at once: pipelined over TLS on at most ceil(32 / 8) = 4 connections, each Job created once.
      const many = Array.from({ length: 40 }, (_, i) => 100n + BigInt(i));
      const launched = await Promise.all(many.map((id) => executor.launch(request(id))));
      expect(launched.every((r) => !r.alreadyExisted)).to.equal(true);
      for (const id of many) expect(fake.jobsCreated(jobNameFor(id))).to.equal(1);
      const manyCreates = fake.requests.filter((r) => r.verb === "create").slice(2);
      expect(manyCreates).to.have.length(40);
      expect(new Set(manyCreates.map((r) => r.remotePort)).size, "TLS connections").to.be.within(1, 4);
      expect(manyCreates.every((r) => r.clientCertCN === "ctk-redeemer")).to.equal(true);
    });
    it("creates Jobs through the stock client when the KubeConfig names a proxy, and pipelines them otherwise", async function () {
      clock = new ManualClock(T0_MS);
      fake = await startFakeKube({ clock, recordRequests: true });
      // A forward proxy to the fake API server (absolute-form requests, and CONNECT carried),
      // counting what it carries.
      let carried = 0;
      const proxy = http.createServer((req, res) => {
        carried += 1;
        const upstream = http.request(req.url!, { method: req.method, headers: req.headers }, (answer) => {
          res.writeHead(answer.statusCode!, answer.headers);
          answer.pipe(res);
        });
        upstream.on("error", () => res.destroy());
        req.pipe(upstream);
      });
      proxy.on("connect", (req: http.IncomingMessage, client: Duplex, head: Buffer) => {
        carried += 1;
        const [host, port] = (req.url ?? "").split(":");
        const upstream = net.connect(Number(port), host, () => {
          client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
          upstream.write(head);
          upstream.pipe(client);
          client.pipe(upstream);
        });
        upstream.on("error", () => client.destroy());
        client.on("error", () => upstream.destroy());
      });
      await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
      try {
        const kubeConfig = fake.kubeConfig();
        kubeConfig.clusters[0] = { ...kubeConfig.clusters[0]!, proxyUrl: `http://127.0.0.1:${(proxy.address() as net.AddressInfo).port}` };
        const proxied = createKubernetesExecutor({ kubeConfig, config: BASE_CONFIG, now: () => clock.now() });
        extraExecutors.push(proxied);
        expect(await proxied.launch(request(31n))).to.deep.equal({ name: jobNameFor(31n), alreadyExisted: false });
        expect(await proxied.launch(request(31n))).to.deep.equal({ name: jobNameFor(31n), alreadyExisted: true });
        expect(carried, "connections through the proxy").to.be.at.least(1);
        expect(fake.jobsCreated(jobNameFor(31n))).to.equal(1);
        const viaProxy = fake.requests.filter((r) => r.verb === "create");
        expect(viaProxy).to.have.length(2);

        // Without the proxy: the light path, and none of its requests go through the proxy.
        const before = carried;
        executor = newExecutor();
        await Promise.all([32n, 33n, 34n].map((id) => executor.launch(request(id))));
        expect(carried).to.equal(before);
        expect(fake.requests.filter((r) => r.verb === "create")).to.have.length(5);
      } finally {
        proxy.closeAllConnections();
        await new Promise((r) => proxy.close(r));
      }
    });
  });

  describe("close", function () {
    it("stops watches, timers and connections so that nothing keeps the process alive", async function () {
      await sleep(50);
      const before = openHandles();
      await setUp({}, { resyncMs: 20 });
      const states: JobState[] = [];
      executor.watch((s) => states.push(s));
      executor.watch(() => {});
      await executor.launch(request(1n));
      fake.startJob("ctk-redemption-1");
      await waitFor("running", () => states.some((s) => s.phase === "running"));
      await waitFor("four watches open", () => fake.openWatches === 4);

      await executor.close();
      await waitFor("the server to see the watches end", () => fake.openWatches === 0);
      const err = await rejection(executor.launch(request(2n)));
      expect(err).to.be.instanceOf(ExecutorClosed);
      expect(() => executor.watch(() => {})).to.throw(ExecutorClosed);
      const count = states.length;
      await fake.close();
      await waitFor(
        "handles back to where they were",
        () => {
          const now = openHandles();
          return Object.keys(now).every((k) => now[k] <= (before[k] ?? 0));
        },
        2_000,
      );
      expect(states.length).to.equal(count);
    });
  });
});
