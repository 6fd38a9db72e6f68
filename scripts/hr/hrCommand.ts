/** `ctk hr …`: the HR department's commands (onboard, offboard, grant) and the classes file. */
import { Command } from "commander";
import { classesCommand } from "./classesCommand.js";
import { grantCommand } from "./grantCommand.js";
import { grantCreditsCommand } from "./grantCreditsCommand.js";
import { offboardCommand } from "./offboardCommand.js";
import { onboardCommand } from "./onboardCommand.js";

export function hrCommand(): Command {
  return new Command("hr")
    .description("HR: onboard and offboard employees, grant GPU-hours and inference credits, keep hardware classes in line with a file")
    .addCommand(onboardCommand())
    .addCommand(grantCommand())
    .addCommand(grantCreditsCommand())
    .addCommand(offboardCommand())
    .addCommand(classesCommand());
}
