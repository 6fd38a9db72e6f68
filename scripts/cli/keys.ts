/**
 * The signing key of an HR or operations command. In order:
 *   --keystore <file|dir> [--from <address>]: an encrypted keystore (password: CTK_PASSWORD or a prompt);
 *   --key-env <VAR>: a private key in that environment variable;
 *   the role's variable (CTK_OPERATIONS_KEY for operations), then CTK_PRIVATE_KEY (.env is loaded).
 * A key is never printed or logged, and never echoed in an error.
 */
import { statSync } from "node:fs";
import type { Command } from "commander";
import type { Account, Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { decryptKeystore, findKeystore } from "../../sdk/keystore.js";
import { readPassword } from "../wallet/prompt.js";
import { UserError, note } from "./output.js";

export interface KeyOptions {
  keystore?: string;
  from?: string;
  keyEnv?: string;
}

export type KeyRole = "HR" | "OPERATIONS";

const ROLE_ENV: Record<KeyRole, string[]> = {
  HR: ["CTK_PRIVATE_KEY"],
  OPERATIONS: ["CTK_OPERATIONS_KEY", "CTK_PRIVATE_KEY"],
};

/** Adds --keystore/--from/--key-env to a command that signs. */
export function withKeyOptions(cmd: Command): Command {
  return cmd
    .option("--keystore <file|dir>", "encrypted keystore file, or a directory of them (password: CTK_PASSWORD or a prompt)")
    .option("--from <address>", "which keystore in the directory")
    .option("--key-env <VAR>", "read the private key from this environment variable");
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

export async function loadAccount(opts: KeyOptions, role: KeyRole): Promise<Account> {
  return signingAs(...(await findAccount(opts, role)));
}

async function findAccount(opts: KeyOptions, role: KeyRole): Promise<[Account, string]> {
  if (opts.keystore) {
    let isDir = false;
    try {
      isDir = statSync(opts.keystore).isDirectory();
    } catch {
      throw new UserError(`keystore ${opts.keystore}: not found`);
    }
    const entry = isDir ? findKeystore({ dir: opts.keystore, from: opts.from }) : findKeystore({ from: opts.keystore });
    const password = await readPassword({ purpose: `Password for ${entry.address}` });
    return [await decryptKeystore(entry.file, password), `keystore ${entry.file}`];
  }
  if (opts.keyEnv) {
    if (!process.env[opts.keyEnv]) throw new UserError(`--key-env ${opts.keyEnv}: that environment variable is not set`);
    return [accountFromEnv(opts.keyEnv), `the key in ${opts.keyEnv}`];
  }
  for (const name of ROLE_ENV[role]) if (process.env[name]) return [accountFromEnv(name), `the key in ${name}`];
  const vars = ROLE_ENV[role].join(" or ");
  throw new UserError(
    `no ${role === "HR" ? "HR" : "operations"} key: set ${vars} (or put it in .env), or pass --keystore <file> or --key-env <VAR>`,
  );
}
