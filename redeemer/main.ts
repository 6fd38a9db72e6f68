/**
 * The redeemer as a process: `node --import tsx redeemer/main.ts [--config file.json]`.
 * Configuration from the file, `.env` and the environment (see redeemer/config.ts), validated
 * before anything else (a mistake exits 2). SIGTERM or SIGINT stops it gracefully: no new actions,
 * those in flight finish, then it exits 0 (sdk/runService.ts).
 */
import { runService } from "../sdk/runService.js";
import { loadRedeemerConfig, startRedeemer } from "./index.js";

runService({
  name: "redeemer",
  usage: "redeemer [--config redeemer.json]   (environment: see redeemer/config.ts)",
  loadConfig: (file) => loadRedeemerConfig({ ...(file !== undefined && { file }) }),
  start: (config) => startRedeemer(config),
  stop: (redeemer) => redeemer.stop(),
  stopTimeoutMs: 30_000,
});
