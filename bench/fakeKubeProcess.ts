/**
 * The fake Kubernetes API server in a process of its own (forked by bench/redeemer.ts), so that
 * the benchmark measures the redeemer's work and not the server's, as with a real API server.
 * IPC: it sends { url, kubeconfig } once listening; answers "stats" with how many Jobs were
 * created (and how many more than once); exits on "stop" or when the parent goes away.
 */
import { startFakeKube } from "../devkit/fakeKube.js";

const fake = await startFakeKube({ historyLimit: 200_000 });
process.send!({ url: fake.url, kubeconfig: fake.kubeConfig().exportConfig() });
process.on("message", (m: unknown) => {
  if (m === "stats") {
    const twice = [...fake.jobCreations.values()].filter((n) => n > 1).length;
    process.send!({ created: fake.jobCreations.size, twice, calls: fake.stats.calls });
  } else if (m === "stop") {
    void fake.close().then(() => process.exit(0));
  }
});
process.on("disconnect", () => process.exit(0));
