import { startFakeKube } from "../test/support/fakeKube.ts";
import { createKubernetesExecutor } from "../redeemer/executor/kubernetes/index.ts";
const KUBE = { namespace: "gpu-jobs", localQueue: "team-gpus",
  priorityClasses: { low: "ctk-low", normal: "ctk-normal", high: "ctk-high", urgent: "ctk-urgent" },
  workloadPriorityClasses: { low: "wl-low", normal: "wl-normal", high: "wl-high", urgent: "wl-urgent" }, resyncMs: 600000 };
const fake = await startFakeKube({ historyLimit: 100000 });
const ex = createKubernetesExecutor({ kubeConfig: fake.kubeConfig(), config: KUBE });
let events = 0;
const watchOn = process.argv[2] === "watch";
if (watchOn) ex.watch(() => events++);
const IMAGE = `registry.example.com/team/train@sha256:${"ab12".repeat(16)}`;
const N = 500;
const t0 = performance.now(); const c0 = process.cpuUsage();
let next = 1;
await Promise.all(Array.from({ length: 64 }, async () => {
  while (next <= N) {
    const id = BigInt(next++);
    await ex.launch({ redemptionId: id, className: "H100-80GB", productLabel: "X", gpus: 1, seconds: 36, priority: "normal",
      spec: { name: "x", image: IMAGE, command: ["python"], args: [], env: {}, gpus: 1, hours: 0.01, priority: "normal" } });
  }
}));
const c = process.cpuUsage(c0); console.log("launch", N, "in", Math.round(performance.now() - t0), "ms; cpu", Math.round((c.user + c.system)/1000), "ms; events", events);
await ex.close(); await fake.close();
