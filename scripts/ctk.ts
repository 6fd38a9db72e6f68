/**
 * `ctk`: one command line for HR, employees, auditors and the local devnet.
 * Every command takes --rpc, --deployment and --json; an error the user can act on (a user-facing
 * CtkError: sdk/ctkError.ts) is one line on stderr and its exit code; any other error is a bug and
 * comes with its stack (CTK_DEBUG=1 adds the stack to every error).
 */
import { Command, CommanderError } from "commander";
import { config as loadDotenv } from "dotenv";
import { balanceCommand } from "./balance/balanceCommand.js";
import { DEFAULT_DEPLOYMENT, DEFAULT_RPC } from "./cli/globals.js";
import { UserError, printJson } from "./cli/output.js";
import { exitCodeOf, isUserFacing } from "../sdk/ctkError.js";
import { asChainUnreachable } from "../sdk/errors.js";
import { devnetCommand } from "./devnet/devnetCommand.js";
import { addGatewayCreditCommands } from "./gateway/creditKeyCommands.js";
import { gatewayCommand } from "./gateway/gatewayCommand.js";
import { hrCommand } from "./hr/hrCommand.js";
import { registerWalletAndAuditCommands } from "./wallet/register.js";
import { webCommand } from "./web/webCommand.js";

export function buildProgram(): Command {
  const program = new Command("ctk")
    .description("GPU compute tokens: HR grants, employee wallets, audits and the local devnet")
    .option("--rpc <url>", `JSON-RPC endpoint (env CTK_RPC; default ${DEFAULT_RPC})`)
    .option("--deployment <file>", `deployment file (env CTK_DEPLOYMENT; default ${DEFAULT_DEPLOYMENT})`)
    .option("--json", "machine-readable output on stdout")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  program.addCommand(devnetCommand());
  program.addCommand(hrCommand());
  program.addCommand(balanceCommand());
  registerWalletAndAuditCommands(program);
  program.addCommand(webCommand());
  program.addCommand(gatewayCommand());
  // The gateway's employee commands join `ctk credits` (created here if no other module made it).
  const credits = program.commands.find((c) => c.name() === "credits") ?? program.command("credits").description("inference credits: authorizations, gateway keys, usage");
  addGatewayCreditCommands(credits);
  // Sub-commands inherit the error handling (one line, no stack); every help shows the global
  // options (--rpc, --deployment, --json) and marks the options a command cannot run without.
  const inherit = (cmd: Command) => {
    cmd.configureHelp({ showGlobalOptions: true });
    for (const opt of cmd.options) {
      if (opt.mandatory && !opt.description.endsWith("(required)")) opt.description = `${opt.description} (required)`;
    }
    for (const sub of cmd.commands) {
      sub.exitOverride();
      sub.configureOutput({ writeErr: (s) => process.stderr.write(s) });
      inherit(sub);
    }
  };
  inherit(program);
  return program;
}

/**
 * Prints an error as one line (plus any detail lines) and returns the exit code. With --json the
 * error is one JSON line on stderr instead: `{"error": "…", "details": […]}` (stdout keeps the
 * command's JSON document, if it has one).
 */
export function reportError(e: unknown, json: boolean): number {
  if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : e.exitCode || 1;
  const err = asChainUnreachable(e) ?? (e instanceof Error ? e : new Error(String(e)));
  const jsonError = (message: string, details: readonly string[], unexpected: boolean) =>
    process.stderr.write(`${JSON.stringify({ error: message, ...(details.length > 0 && { details: details.map((d) => d.trim()) }), ...(unexpected && { unexpected: true }) })}\n`);
  if (err instanceof UserError) {
    if (json && err.json !== undefined) printJson(err.json);
    if (json) jsonError(err.message, err.details, false);
    else {
      process.stderr.write(`error: ${err.message}\n`);
      for (const d of err.details) process.stderr.write(`${d}\n`);
    }
    return err.exitCode;
  }
  const known = isUserFacing(err);
  const code = exitCodeOf(err);
  const message = err.message.split("\n")[0]!;
  if (json) {
    jsonError(message, [], !known);
    if (process.env.CTK_DEBUG || !known) process.stderr.write(`${err.stack}\n`);
    return code;
  }
  process.stderr.write(`error: ${message}\n`);
  if (!known) process.stderr.write("(an unexpected error, a bug: its stack follows)\n");
  if (process.env.CTK_DEBUG || !known) process.stderr.write(`${err.stack}\n`);
  return code;
}

export async function main(argv: string[] = process.argv): Promise<number> {
  loadDotenv({ quiet: true });
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (e) {
    return reportError(e, argv.includes("--json"));
  }
}

const code = await main();
// process.exit drops what a pipe has not taken yet (a large --json output): let both streams drain first.
await Promise.all([process.stdout, process.stderr].map((s) => new Promise((done) => s.write("", done))));
process.exit(code);
