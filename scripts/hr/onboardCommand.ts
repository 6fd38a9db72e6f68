/**
 * `ctk hr onboard --csv employees.csv [--readmit]`: puts every listed wallet on the holder allow-list.
 * A wallet offboarded since (an old list re-run) is refused unless `--readmit` says HR means it.
 */
import { Command } from "commander";
import { OffboardedWalletsError, onboardHolders, parseEmployeesCsv } from "../../sdk/holders.js";
import { clientFor, globalsOf } from "../cli/globals.js";
import { loadAccount, withKeyOptions, type KeyOptions } from "../cli/keys.js";
import { UserError, output, plural } from "../cli/output.js";
import { problemsError, readInputFile } from "./readInput.js";

export function onboardCommand(): Command {
  return withKeyOptions(
    new Command("onboard")
      .description("add the wallets of employees.csv (employee_id,wallet) to the holder allow-list")
      .requiredOption("--csv <file>", "employees.csv: employee_id,wallet")
      .option("--readmit", "also put back wallets that were offboarded (otherwise the list is refused)"),
  ).action(async function (this: Command, opts: KeyOptions & { csv: string; readmit?: boolean }) {
    const globals = globalsOf(this);
    const { rows, problems } = parseEmployeesCsv(readInputFile(opts.csv).toString("utf8"));
    if (problems.length) throw problemsError(opts.csv, problems, "nobody onboarded");
    const client = await clientFor(globals, await loadAccount(opts, "HR"));
    let result;
    try {
      result = await onboardHolders(
        client,
        rows.map((r) => r.wallet),
        { readmit: opts.readmit },
      );
    } catch (e) {
      if (!(e instanceof OffboardedWalletsError)) throw e;
      const lines = rows.filter((r) => e.wallets.includes(r.wallet)).map((r) => `line ${r.line}: ${r.employeeId} ${r.wallet} was offboarded`);
      throw new UserError(`${opts.csv}: ${lines.join("; ")}. Nobody onboarded; re-admit them on purpose with --readmit`);
    }
    const human = [
      result.onboarded.length ? `onboarded ${plural(result.onboarded.length, "wallet")} in ${plural(result.transactions.length, "transaction")}` : "nothing to onboard",
    ];
    if (result.readmitted.length) human.push(`re-admitted ${plural(result.readmitted.length, "offboarded wallet")}: ${result.readmitted.join(", ")}`);
    if (result.alreadyHolders.length) human.push(`${plural(result.alreadyHolders.length, "wallet was", "wallets were")} already onboarded`);
    output(globals.json, human, { file: opts.csv, ...result });
  });
}
