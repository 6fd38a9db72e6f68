/**
 * What the wallet and audit commands need beyond scripts/cli/: a batching read client for the
 * audit (thousands of reads), and the employee's signing account.
 */
import type { Command } from "commander";
import type { Account, PublicClient } from "viem";
import { createChainClient, createCtkClient, isLoopback, type CtkClient } from "../../sdk/client.js";
import { readDeployment, type Deployment } from "../../sdk/deployment.js";
import type { RpcRequest } from "../../sdk/logs/fetchLogRanges.js";
import { clientFor, globalsOf, type Globals } from "../cli/globals.js";
import { type KeyOptions, loadAccount, withKeyOptions as withRoleKeyOptions } from "../cli/keys.js";

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
export const withKeyOptions = (cmd: Command): Command => withRoleKeyOptions(cmd, "EMPLOYEE");

/**
 * A checked SDK client that signs as the employee: the key from --key-env, --keystore, else
 * ~/.ctk/keystore; never CTK_PRIVATE_KEY unless named (scripts/cli/keys.ts has the one order).
 */
export async function employeeClient(cmd: Command, keys: KeyOptions): Promise<CtkClient & { account: Account }> {
  const account = await loadAccount(keys, "EMPLOYEE");
  return (await clientFor(globalsOf(cmd), account)) as CtkClient & { account: Account };
}
