/**
 * A long-running service as a process (the redeemer's and the gateway's `main.ts`): arguments
 * (`--config`, `--help`), the configuration read and validated before anything else, start, then
 * SIGTERM or SIGINT for a graceful stop; and one way to end on an error:
 *
 *   usage mistake, ConfigError   `<name>: <message>`, exit 2 (EXIT_CODES.config) — before any I/O
 *   a user-facing CtkError       `<name>: <message>`, its exit code
 *   anything else (a bug)        `<name>: <message>` and the stack, exit 1
 *
 * Node only (process signals); nothing in it knows which service it runs.
 */
import { parseArgs } from "node:util";
import { ConfigError, EXIT_CODES, exitCodeOf, isUserFacing } from "./ctkError.js";

export interface ServiceDefinition<C, S> {
  /** The prefix of every line it writes on stderr ("redeemer"). */
  name: string;
  /** The `--help` text (one line). */
  usage: string;
  /** Without `--config`: print the usage and exit 2 (else the loader is called with no file). */
  configRequired?: boolean;
  /** Reads and validates the configuration; performs no other I/O. @throws ConfigError */
  loadConfig(file: string | undefined): C;
  start(config: C): Promise<S>;
  /** After a successful start (e.g. a "listening on" line). */
  started?(service: S, config: C): void;
  /** Graceful: finish what is in flight, then release everything. */
  stop(service: S): Promise<void>;
  /** Exit 1 if the graceful stop takes longer than this (default: wait for it). */
  stopTimeoutMs?: number;
}

/** Runs the service to its end; resolves with the exit code. */
export async function serviceMain<C, S>(def: ServiceDefinition<C, S>, args: string[] = process.argv.slice(2)): Promise<number> {
  const say = (line: string) => process.stderr.write(`${def.name}: ${line}\n`);
  let values: { config?: string; help?: boolean };
  try {
    ({ values } = parseArgs({ args, options: { config: { type: "string", short: "c" }, help: { type: "boolean", short: "h" } }, allowPositionals: false }));
  } catch (err) {
    say((err as Error).message);
    return EXIT_CODES.config;
  }
  if (values.help || (def.configRequired && !values.config)) {
    process.stdout.write(`usage: ${def.usage}\n`);
    return values.help ? 0 : EXIT_CODES.config;
  }
  let config: C;
  try {
    config = def.loadConfig(values.config);
  } catch (err) {
    if (err instanceof ConfigError) {
      say(err.message);
      return err.exitCode;
    }
    throw err;
  }
  const service = await def.start(config);
  def.started?.(service, config);
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      say(`${signal}, stopping`);
      resolve();
    };
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
  });
  if (def.stopTimeoutMs !== undefined) {
    const force = setTimeout(() => {
      say("shutdown took too long, exiting");
      process.exit(EXIT_CODES.error);
    }, def.stopTimeoutMs);
    force.unref();
  }
  await def.stop(service);
  return 0;
}

/** {@link serviceMain}, with the exit code set on the process and any error said in the one way. */
export function runService<C, S>(def: ServiceDefinition<C, S>): void {
  serviceMain(def).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      const e = err instanceof Error ? err : new Error(String(err));
      process.stderr.write(`${def.name}: ${e.message}\n`);
      if (!isUserFacing(e) && e.stack) process.stderr.write(`${e.stack}\n`);
      process.exitCode = exitCodeOf(e);
    },
  );
}
