import { fork } from "node:child_process";
import { KubeConfig } from "@kubernetes/client-node";
import { createKubernetesExecutor } from "../redeemer/executor/kubernetes/index.ts";
const child = fork(new URL("./fk.mts", import.meta.url).pathname, [], { execArgv: ["--import", "tsx"] });
const info: any = await new Promise((r) => child.once("message", r));
const kc = new KubeConfig(); kc.loadFromString(info.kubeconfig);
const KUBE = { namespace: "gpu-jobs", localQueue: "team-gpus",
  priorityClasses: { low: "ctk-low", normal: "ctk-normal", high: "ctk-high", urgent: "ctk-urgent" },
  workloadPriorityClasses: { low: "wl-low", normal: "wl-normal", high: "wl-high", urgent: "wl-urgent" }, resyncMs: 600000 };
const ex = createKubernetesExecutor({ kubeConfig: kc, config: KUBE });
const IMAGE = `registry.example.com/team/train@sha256:${"ab12".repeat(16)}`;
const N = Number(process.argv[2] ?? 500);
const t0 = performance.now(); const c0 = process.cpuUsage();
let next = 1;
await Promise.all(Array.from({ length: Number(process.argv[3] ?? 64) }, async () => {
  while (next <= N) {
    const id = BigInt(next++);
    await ex.launch({ redemptionId: id, className: "H100-80GB", productLabel: "X", gpus: 1, seconds: 36, priority: "normal",
      spec: { name: "x", image: IMAGE, command: ["python"], args: [], env: {}, gpus: 1, hours: 0.01, priority: "normal" } });
  }
}));
const c = process.cpuUsage(c0);
child.send("stats"); const st: any = await new Promise((r) => child.once("message", r));
console.log("launch", N, "in", Math.round(performance.now() - t0), "ms; client cpu", Math.round((c.user + c.system)/1000), "ms; server cpu total", Math.round((st.cpu.user+st.cpu.system)/1000), "created", st.created);
child.send("stop"); await ex.close();
