/**
 * The signing key of a command, for every role, in one order (the first that applies wins):
 *   1. --key-env <VAR>: a private key in that environment variable (named on purpose, so it wins);
 *   2. --keystore <file|dir> [--from <address>]: an encrypted keystore (password: CTK_PASSWORD or a prompt);
 *   3. the role's default: HR: CTK_PRIVATE_KEY; operations: CTK_OPERATIONS_KEY, then CTK_PRIVATE_KEY
 *      (.env is loaded); an employee: the keystore in ~/.ctk/keystore (the one there, or --from),
 *      never CTK_PRIVATE_KEY unless named with --key-env (on the devnet it holds HR's key).
 * The address it signs as, and where the key came from, are said on stderr. A key is never printed
 * or logged, and never echoed in an error.
 */
import { statSync } from "node:fs";
import type { Command } from "commander";
import type { Account, Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { decryptKeystore, findKeystore, KeystoreNotFoundError } from "../../sdk/keystore.js";
import { readPassword } from "../wallet/prompt.js";
import { UserError, note } from "./output.js";

export interface KeyOptions {
  keystore?: string;
  from?: string;
  keyEnv?: string;
}

export type KeyRole = "HR" | "OPERATIONS" | "EMPLOYEE";

/** The variables a role's key is read from when neither --keystore nor --key-env is given. */
const ROLE_ENV: Record<KeyRole, string[]> = {
  HR: ["CTK_PRIVATE_KEY"],
  OPERATIONS: ["CTK_OPERATIONS_KEY", "CTK_PRIVATE_KEY"],
  EMPLOYEE: [],
};

/** Adds --keystore/--from/--key-env to a command that signs. */
export function withKeyOptions(cmd: Command, role: KeyRole = "HR"): Command {
  const employee = role === "EMPLOYEE";
  return cmd
    .option(
      "--keystore <file|dir>",
      employee
        ? "keystore file or directory (default ~/.ctk/keystore; password: CTK_PASSWORD or a prompt)"
        : "encrypted keystore file, or a directory of them (password: CTK_PASSWORD or a prompt)",
    )
    .option("--from <address>", employee ? "which keystore in the directory, when it holds several" : "which keystore in the directory")
    .option("--key-env <VAR>", `read the private key from this environment variable${employee ? " instead" : ""}`);
}

/** The account whose private key an environment variable holds; one clear error otherwise. */
export function accountFromEnv(name: string): Account {
  const raw = (process.env[name] ?? "").trim();
  const hex = raw.startsWith("0x") || raw.startsWith("0X") ? `0x${raw.slice(2)}` : `0x${raw}`;
  if (!/^0x[0-9a-fA-F]{64}$/.test(hex)) throw new UserError(`${name} does not hold a private key (0x + 64 hex digits)`);
  try {
    return privateKeyToAccount(hex.toLowerCase() as Hex);
  } catch {
    throw new UserError(`${name} does not hold a valid secp256k1 private key`);
  }
}

/** Says, on stderr, which address a command signs as and where its key came from: never a surprise. */
export function signingAs<A extends Account>(account: A, source: string): A {
  note(`signing as ${account.address} (${source})`);
  return account;
}

/** The role's signing account, found in the one order above. */
export async function loadAccount(opts: KeyOptions, role: KeyRole): Promise<Account> {
  return signingAs(...(await findAccount(opts, role)));
}

async function findAccount(opts: KeyOptions, role: KeyRole): Promise<[Account, string]> {
  if (opts.keyEnv) {
    if (!process.env[opts.keyEnv]) throw new UserError(`--key-env ${opts.keyEnv}: that environment variable is not set`);
    return [accountFromEnv(opts.keyEnv), `the key in ${opts.keyEnv}`];
  }
  if (opts.keystore) {
    let isDir = false;
    try {
      isDir = statSync(opts.keystore).isDirectory();
    } catch {
      throw new UserError(`keystore ${opts.keystore}: not found`);
    }
    return fromKeystore(isDir ? findKeystore({ dir: opts.keystore, from: opts.from }) : findKeystore({ from: opts.keystore }));
  }
  if (role === "EMPLOYEE") {
    let entry;
    try {
      entry = findKeystore({ from: opts.from });
    } catch (e) {
      if (e instanceof KeystoreNotFoundError && process.env.CTK_PRIVATE_KEY) {
        throw new UserError(
          "no keystore in ~/.ctk/keystore; CTK_PRIVATE_KEY is set (HR's key in the devnet's instructions), but employee commands do not sign with it unless told: pass --keystore <dir>, or --key-env CTK_PRIVATE_KEY",
        );
      }
      throw e;
    }
    return fromKeystore(entry);
  }
  for (const name of ROLE_ENV[role]) if (process.env[name]) return [accountFromEnv(name), `the key in ${name}`];
  const vars = ROLE_ENV[role].join(" or ");
  throw new UserError(`no ${role === "HR" ? "HR" : "operations"} key: set ${vars} (or put it in .env), or pass --keystore <file> or --key-env <VAR>`);
}

async function fromKeystore(entry: { file: string; address: string }): Promise<[Account, string]> {
  const password = await readPassword({ purpose: `Password for ${entry.address}` });
  return [await decryptKeystore(entry.file, password), `keystore ${entry.file}`];
}
