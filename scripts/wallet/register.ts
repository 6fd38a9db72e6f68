/**
 * Adds the employee commands (wallet, transfer, redeem, status, reclaim) and the auditor's
 * (`audit verify|report|statement`) to the `ctk` program.
 */
import type { Command } from "commander";
import { auditCommand } from "../audit/auditCommand.js";
import { creditsCommand } from "../credits/creditsCommand.js";
import { reclaimCommand } from "./reclaimCommand.js";
import { redeemCommand } from "./redeemCommand.js";
import { statusCommand } from "./statusCommand.js";
import { transferCommand } from "./transferCommand.js";
import { walletCommand } from "./walletCommand.js";

export function registerWalletAndAuditCommands(program: Command): Command {
  program.addCommand(walletCommand());
  program.addCommand(transferCommand());
  program.addCommand(redeemCommand());
  program.addCommand(statusCommand());
  program.addCommand(reclaimCommand());
  program.addCommand(creditsCommand());
  program.addCommand(auditCommand());
  return program;
}
