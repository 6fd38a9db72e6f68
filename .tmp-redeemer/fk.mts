import { startFakeKube } from "../test/support/fakeKube.ts";
const fake = await startFakeKube({ historyLimit: 100000 });
process.send!({ url: fake.url, kubeconfig: fake.kubeConfig().exportConfig() });
process.on("message", (m: any) => { if (m === "stats") process.send!({ created: fake.jobCreations.size, cpu: process.cpuUsage() }); if (m === "stop") fake.close().then(() => process.exit(0)); });
