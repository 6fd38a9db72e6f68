/**
 * `ctk hr onboard --csv employees.csv [--readmit]`: puts every listed wallet on the holder allow-list.
 * A wallet offboarded since (an old list re-run) is refused unless `--readmit` says HR means it.
 */
import type { Command } from "commander";
import { type EmployeeRow, OffboardedWalletsError, onboardHolders, parseEmployeesCsv } from "../../sdk/holders.js";
import { UserError, plural } from "../cli/output.js";
import { membershipCommand, type MembershipSpec } from "./membershipCommand.js";
import { problemsError, readInputFile } from "./readInput.js";

const onboard: MembershipSpec<EmployeeRow[]> = {
  description: "add the wallets of employees.csv (employee_id,wallet) to the holder allow-list",
  who: ["--csv <file>", "employees.csv: employee_id,wallet"],
  widen: ["--readmit", "also put back wallets that were offboarded (otherwise the list is refused)"],
  parse(csv) {
    const { rows, problems } = parseEmployeesCsv(readInputFile(csv).toString("utf8"));
    if (problems.length) throw problemsError(csv, problems, "nobody onboarded");
    return rows;
  },
  async act(hr, rows, readmit, csv) {
    let result;
    try {
      result = await onboardHolders(
        hr,
        rows.map((r) => r.wallet),
        { readmit },
      );
    } catch (e) {
      if (!(e instanceof OffboardedWalletsError)) throw e;
      const lines = rows.filter((r) => e.wallets.includes(r.wallet)).map((r) => `line ${r.line}: ${r.employeeId} ${r.wallet} was offboarded`);
      throw new UserError(`${csv}: ${lines.join("; ")}. Nobody onboarded; re-admit them on purpose with --readmit`);
    }
    const human = [
      result.onboarded.length ? `onboarded ${plural(result.onboarded.length, "wallet")} in ${plural(result.transactions.length, "transaction")}` : "nothing to onboard",
    ];
    if (result.readmitted.length) human.push(`re-admitted ${plural(result.readmitted.length, "offboarded wallet")}: ${result.readmitted.join(", ")}`);
    if (result.alreadyHolders.length) human.push(`${plural(result.alreadyHolders.length, "wallet was", "wallets were")} already onboarded`);
    return { human, json: { file: csv, ...result } };
  },
};

export const onboardCommand = (): Command => membershipCommand("onboard", onboard);
