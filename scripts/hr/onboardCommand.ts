/** `ctk hr onboard --csv employees.csv`: puts every listed wallet on the holder allow-list. */
import { Command } from "commander";
import { onboardHolders, parseEmployeesCsv } from "../../sdk/holders.js";
import { clientFor, globalsOf } from "../cli/globals.js";
import { loadAccount, withKeyOptions, type KeyOptions } from "../cli/keys.js";
import { output, plural } from "../cli/output.js";
import { problemsError, readInputFile } from "./readInput.js";

export function onboardCommand(): Command {
  return withKeyOptions(
    new Command("onboard")
      .description("add the wallets of employees.csv (employee_id,wallet) to the holder allow-list")
      .requiredOption("--csv <file>", "employees.csv: employee_id,wallet"),
  ).action(async function (this: Command, opts: KeyOptions & { csv: string }) {
    const globals = globalsOf(this);
    const { rows, problems } = parseEmployeesCsv(readInputFile(opts.csv).toString("utf8"));
    if (problems.length) throw problemsError(opts.csv, problems, "nobody onboarded");
    const client = await clientFor(globals, await loadAccount(opts, "HR"));
    const result = await onboardHolders(client, rows.map((r) => r.wallet));
    const human = [
      result.onboarded.length
        ? `onboarded ${plural(result.onboarded.length, "wallet")} in ${plural(result.transactions.length, "transaction")}`
        : "nothing to onboard",
    ];
    if (result.alreadyHolders.length) human.push(`${plural(result.alreadyHolders.length, "wallet was", "wallets were")} already onboarded`);
    output(globals.json, human, { file: opts.csv, ...result });
  });
}
