/**
 * The redeemer as a process: `node --import tsx redeemer/main.ts [--config file.json]`.
 * Configuration from the file, `.env` and the environment (see redeemer/config.ts). SIGTERM or
 * SIGINT stops it gracefully: no new actions, those in flight finish, then it exits 0.
 */
import { parseArgs } from "node:util";
import { ConfigError } from "./policy/configError.js";
import { loadRedeemerConfig, startRedeemer } from "./index.js";

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { config: { type: "string", short: "c" }, help: { type: "boolean", short: "h" } }, allowPositionals: false });
  if (values.help) {
    process.stdout.write("usage: redeemer [--config redeemer.json]   (environment: see redeemer/config.ts)\n");
    return 0;
  }
  let config;
  try {
    config = loadRedeemerConfig({ ...(values.config !== undefined && { file: values.config }) });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`redeemer: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const redeemer = await startRedeemer(config);
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.stderr.write(`redeemer: ${signal}, stopping\n`);
      resolve();
    };
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
  });
  const force = setTimeout(() => {
    process.stderr.write("redeemer: shutdown took too long, exiting\n");
    process.exit(1);
  }, 30_000);
  force.unref();
  await redeemer.stop();
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`redeemer: ${(err as Error)?.message ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
