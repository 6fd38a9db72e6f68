/** `ctk audit verify|report|statement`: the auditor's commands. Read-only; any RPC URL. */
import { Command } from "commander";
import { reportCommand } from "./reportCommand.js";
import { statementCommand } from "./statementCommand.js";
import { verifyCommand } from "./verifyCommand.js";

export function auditCommand(): Command {
  const audit = new Command("audit").description("rebuild the history from the chain alone and check that it adds up");
  audit.addCommand(verifyCommand());
  audit.addCommand(reportCommand());
  audit.addCommand(statementCommand());
  return audit;
}
