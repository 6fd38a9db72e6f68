/**
 * The gateway as a process: `node --max-semi-space-size=64 --import tsx gateway/main.ts --config gateway.json`
 * (its Node.js options: gateway/runtime.ts).
 * The configuration is validated before anything else (a mistake exits 2). SIGTERM or SIGINT stops
 * it gracefully (requests in flight finish, waiting charges settle): sdk/runService.ts.
 */
import { runService } from "../sdk/runService.js";
import { readGatewayConfig } from "./config.js";
import { startGateway } from "./index.js";

runService({
  name: "gateway",
  usage: "gateway --config gateway.json   (see config/gateway.example.json)",
  configRequired: true,
  loadConfig: (file) => readGatewayConfig(file!),
  start: (config) => startGateway(config),
  started: (gateway, config) => process.stderr.write(`gateway: listening on ${gateway.url} (gateway account ${gateway.address}, ledger ${config.database.kind})\n`),
  stop: (gateway) => gateway.stop(),
});
