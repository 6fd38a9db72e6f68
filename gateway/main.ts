/**
 * The gateway as a process: `node --import tsx gateway/main.ts --config gateway.json`.
 * SIGTERM or SIGINT stops it gracefully (requests in flight finish, waiting charges settle).
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import { GatewayConfigError, parseGatewayConfig } from "./config.js";
import { startGateway } from "./index.js";

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { config: { type: "string", short: "c" }, help: { type: "boolean", short: "h" } } });
  if (values.help || !values.config) {
    process.stdout.write("usage: gateway --config gateway.json   (see config/gateway.example.json)\n");
    return values.help ? 0 : 2;
  }
  let config;
  try {
    const file = resolve(values.config);
    config = parseGatewayConfig(JSON.parse(readFileSync(file, "utf8")), dirname(file));
  } catch (err) {
    process.stderr.write(`gateway: ${err instanceof GatewayConfigError ? err.message : `cannot read ${values.config}: ${(err as Error).message}`}\n`);
    return 2;
  }
  const gateway = await startGateway(config);
  process.stderr.write(`gateway: listening on ${gateway.url} (gateway account ${gateway.address}, ledger ${config.database.kind})\n`);
  await new Promise<void>((done) => {
    process.once("SIGTERM", () => done());
    process.once("SIGINT", () => done());
  });
  await gateway.stop();
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`gateway: ${(err as Error)?.message ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
