/**
 * The measurement half of `npm run bench:audit`, in its own process: the bare `eth_getLogs` fetch
 * of the deployment's range, then `audit verify` over the same range; prints one JSON object.
 */
import { createChainClient } from "../sdk/client.js";
import { fetchLogRanges, type RpcRequest } from "../sdk/logs/fetchLogRanges.js";
import { verifyDeployment } from "../sdk/audit/verify.js";
import { readDeployment } from "../sdk/deployment.js";

const [rpcUrl, deploymentFile] = process.argv.slice(2);
const deployment = readDeployment(deploymentFile!);
const client = createChainClient(rpcUrl!, "audit");
const logClient = createChainClient(rpcUrl!, "logs");
const logRequest = logClient.request.bind(logClient) as unknown as RpcRequest;
const CHUNK = 2000n;
const head = await client.getBlockNumber();

// 1. The bare fetch: the same bounded-range fetcher over the same range (same adaptive ranges,
// same prefetch), nothing decoded or replayed.
let t0 = performance.now();
let bareLogs = 0;
let ranges = 0;
for await (const range of fetchLogRanges({
  request: logRequest,
  addresses: [deployment.accessManager, deployment.computeToken],
  fromBlock: BigInt(deployment.deployBlock),
  toBlock: head,
  chunkBlocks: CHUNK,
})) {
  bareLogs += range.logs.length;
  ranges++;
}
const bareSeconds = (performance.now() - t0) / 1000;
process.stderr.write(`  bare fetch: ${bareLogs} logs in ${ranges} ranges, ${bareSeconds.toFixed(2)} s\n`);

// 2. verify, sampling the heap.
let peakHeap = 0;
const sampler = setInterval(() => (peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed)), 20);
t0 = performance.now();
let liveStart = 0;
const result = await verifyDeployment({
  client,
  deployment,
  toBlock: head,
  chunkBlocks: CHUNK,
  logRequest,
  onProgress: (p) => {
    if (p.doneBlock === p.toBlock) liveStart = performance.now();
  },
});
const tEnd = performance.now();
const verifySeconds = (tEnd - t0) / 1000;
clearInterval(sampler);
for (const f of result.findings.slice(0, 5)) process.stderr.write(`finding: ${f.message}\n`);

process.stdout.write(
  JSON.stringify({
    events: result.summary.events,
    bareLogs,
    blocks: Number(head) - deployment.deployBlock + 1,
    chunkBlocks: Number(CHUNK),
    ranges,
    bareSeconds,
    verifySeconds,
    liveSeconds: liveStart ? (tEnd - liveStart) / 1000 : 0,
    eventsPerSecond: result.summary.events / verifySeconds,
    ratio: verifySeconds / bareSeconds,
    ok: result.ok,
    findings: result.findings.length,
    balancesCompared: result.summary.balancesCompared,
    redemptionsCompared: result.summary.redemptionsCompared,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    peakHeapMiB: peakHeap / 1024 / 1024,
  }),
);
