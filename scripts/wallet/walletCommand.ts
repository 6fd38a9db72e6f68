/**
 * `ctk wallet create` / `ctk wallet import` / `ctk wallet list`: the employee's encrypted keystore.
 * Only the address and the file path are ever shown.
 */
import { Command } from "commander";
import { DEFAULT_DERIVATION_PATH, createKeystore, defaultKeystoreDir, importKeystore, listKeystores, parseSecret } from "../../sdk/keystore.js";
import { globalsOf } from "../cli/globals.js";
import { output } from "../cli/output.js";
import { readPassword, readSecret } from "./prompt.js";

export function walletCommand(): Command {
  const wallet = new Command("wallet").description("create, import and list the encrypted keystores that hold your key");

  wallet
    .command("create")
    .description("create a new account in an encrypted keystore (password from a prompt or CTK_PASSWORD)")
    .option("--keystore <dir>", "keystore directory (default ~/.ctk/keystore)")
    .action(async function (this: Command, opts: { keystore?: string }) {
      const password = await readPassword({ confirm: true, purpose: "New keystore password" });
      const entry = await createKeystore(password, { dir: opts.keystore });
      output(globalsOf(this).json, [`created ${entry.address}`, `keystore ${entry.file}`], entry);
    });

  wallet
    .command("import")
    .description("encrypt an existing private key or mnemonic (read from a hidden prompt, or stdin when piped)")
    .option("--keystore <dir>", "keystore directory (default ~/.ctk/keystore)")
    .option("--path <derivation>", `mnemonic derivation path (default ${DEFAULT_DERIVATION_PATH})`)
    .action(async function (this: Command, opts: { keystore?: string; path?: string }) {
      const secret = parseSecret(await readSecret(), opts.path);
      const password = await readPassword({ confirm: true, purpose: "New keystore password" });
      const entry = await importKeystore(secret, password, { dir: opts.keystore });
      output(globalsOf(this).json, [`imported ${entry.address}`, `keystore ${entry.file}`], entry);
    });

  wallet
    .command("list")
    .description("list the accounts in the keystore directory")
    .option("--keystore <dir>", "keystore directory (default ~/.ctk/keystore)")
    .action(function (this: Command, opts: { keystore?: string }) {
      const dir = opts.keystore ?? defaultKeystoreDir();
      const entries = listKeystores(dir);
      output(globalsOf(this).json, entries.length ? entries.map((e) => `${e.address}  ${e.file}`) : [`no keystore in ${dir}`], entries);
    });

  return wallet;
}
