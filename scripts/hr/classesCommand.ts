/**
 * `ctk hr classes --file config/classes.json`: shows how the classes on chain differ from the file
 * and applies the difference (operations key: CTK_OPERATIONS_KEY, --key-env or --keystore).
 */
import { Command } from "commander";
import { applyClassChanges, describeClassChange, diffClasses, listClasses, readClassesFile } from "../../sdk/classes.js";
import { clientFor, globalsOf } from "../cli/globals.js";
import { loadAccount, withKeyOptions, type KeyOptions } from "../cli/keys.js";
import { UserError, note, output, plural } from "../cli/output.js";

export function classesCommand(): Command {
  return withKeyOptions(
    new Command("classes")
      .description("diff the hardware classes on chain against a classes file and apply it (operations role)")
      .option("--file <file>", "classes file", "config/classes.json")
      .option("--dry-run", "show the difference; send nothing"),
  ).action(async function (this: Command, opts: KeyOptions & { file: string; dryRun?: boolean }) {
    const globals = globalsOf(this);
    let file;
    try {
      file = readClassesFile(opts.file);
    } catch (e) {
      throw new UserError((e as Error).message);
    }
    const account = opts.dryRun ? undefined : await loadAccount(opts, "OPERATIONS");
    const client = await clientFor(globals, account);
    const diff = diffClasses(file, await listClasses(client));
    const lines = diff.changes.map((c) => `  ${describeClassChange(c)}`);
    const extra: string[] = [];
    if (diff.notInFile.length) extra.push(`on chain but not in ${opts.file} (left as they are): ${diff.notInFile.join(", ")}`);
    if (diff.cannotReactivate.length) {
      extra.push(`retired on chain, active in ${opts.file} (a retired class cannot come back; define a new name): ${diff.cannotReactivate.join(", ")}`);
    }
    const doc = { file: opts.file, changes: diff.changes, unchanged: diff.unchanged, notInFile: diff.notInFile, cannotReactivate: diff.cannotReactivate };
    if (!diff.changes.length) {
      output(globals.json, [`the classes on chain match ${opts.file}`, ...extra], { ...doc, applied: false });
      return;
    }
    if (opts.dryRun) {
      output(globals.json, [`${plural(diff.changes.length, "change")} to apply:`, ...lines, ...extra, "dry run: nothing sent"], { ...doc, applied: false });
      return;
    }
    if (!globals.json) note(`${plural(diff.changes.length, "change")} to apply:\n${lines.join("\n")}`);
    await applyClassChanges(client, diff.changes);
    output(globals.json, [`applied ${plural(diff.changes.length, "change")} from ${opts.file}`, ...extra], { ...doc, applied: true });
  });
}
