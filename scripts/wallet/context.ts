/**
 * What the wallet and audit commands need beyond scripts/cli/: a batching read client for the
 * audit (thousands of reads), and the employee's signing account.
 */
import { statSync } from "node:fs";
import type { Command } from "commander";
import type { Account, PublicClient } from "viem";
import { createChainClient, createCtkClient, isLoopback, type CtkClient } from "../../sdk/client.js";
import { readDeployment, type Deployment } from "../../sdk/deployment.js";
import type { RpcRequest } from "../../sdk/logs/fetchLogRanges.js";
import { decryptKeystore, findKeystore, KeystoreNotFoundError } from "../../sdk/keystore.js";
import { clientFor, globalsOf, type Globals } from "../cli/globals.js";
import { UserError } from "../cli/output.js";
import { readPassword } from "./prompt.js";
import { type KeyOptions, accountFromEnv, signingAs } from "../cli/keys.js";

export { globalsOf, type Globals, type KeyOptions };

export interface ReadContext {
  globals: Globals;
  deployment: Deployment;
  /** Batches JSON-RPC calls: the audit reads every holder × lot. */
  publicClient: PublicClient;
  /** Sends `eth_getLogs` one request at a time (responses are large; batching would merge them). */
  logRequest: RpcRequest;
}

/** A read-only context for the audit commands: works against any RPC URL. */
export function readContext(cmd: Command): ReadContext {
  const globals = globalsOf(cmd);
  const deployment = readDeployment(globals.deployment);
  const { chain } = createCtkClient({ rpcUrl: globals.rpc, deployment });
  const publicClient = createChainClient(globals.rpc, "audit", { chain, pollingInterval: isLoopback(globals.rpc) ? 100 : 1000 });
  const logClient = createChainClient(globals.rpc, "logs", { chain });
  const logRequest = logClient.request.bind(logClient) as unknown as RpcRequest;
  return { globals, deployment, publicClient, logRequest };
}

/** --keystore/--from/--key-env on a command an employee signs with. */
export function withKeyOptions(cmd: Command): Command {
  return cmd
    .option("--keystore <file|dir>", "keystore file or directory (default ~/.ctk/keystore; password: CTK_PASSWORD or a prompt)")
    .option("--from <address>", "which keystore in the directory, when it holds several")
    .option("--key-env <VAR>", "read the private key from this environment variable instead");
}

/**
 * The employee's account: --key-env, --keystore (file or directory), else the keystore in
 * ~/.ctk/keystore (the one there, or --from). Never CTK_PRIVATE_KEY unless named with --key-env:
 * on the devnet that variable holds HR's key, and an employee command must not act as HR silently.
 * The address it signs as is printed on stderr.
 */
export async function loadEmployeeAccount(opts: KeyOptions): Promise<Account> {
  if (opts.keyEnv) {
    if (!process.env[opts.keyEnv]) throw new UserError(`--key-env ${opts.keyEnv}: that environment variable is not set`);
    return signingAs(accountFromEnv(opts.keyEnv), `the key in ${opts.keyEnv}`);
  }
  let entry;
  if (opts.keystore) {
    let isDir = false;
    try {
      isDir = statSync(opts.keystore).isDirectory();
    } catch {
      throw new UserError(`keystore ${opts.keystore}: not found`);
    }
    entry = isDir ? findKeystore({ dir: opts.keystore, from: opts.from }) : findKeystore({ from: opts.keystore });
  } else {
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
  }
  const password = await readPassword({ purpose: `Password for ${entry.address}` });
  return signingAs(await decryptKeystore(entry.file, password), `keystore ${entry.file}`);
}

/** A checked SDK client that signs as the employee. */
export async function employeeClient(cmd: Command, keys: KeyOptions): Promise<CtkClient & { account: Account }> {
  const account = await loadEmployeeAccount(keys);
  return (await clientFor(globalsOf(cmd), account)) as CtkClient & { account: Account };
}
