/**
 * The options every `ctk` command takes (`--rpc`, `--deployment`, `--json`) and the SDK client
 * built from them. Defaults point at the local devnet (`ctk devnet up`).
 */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import path from "node:path";
import type { Command } from "commander";
import type { Account } from "viem";
import { type CtkClient, checkDeployment, createCtkClient } from "../../sdk/client.js";
import { readDeployment } from "../../sdk/deployment.js";
import { toCtkError } from "../../sdk/errors.js";
import { DEFAULT_REDEEMER_API } from "../../sdk/policy.js";
import { isSameProcess } from "../../redeemer/executor/local/processControl.js";

export const DEFAULT_RPC = "http://127.0.0.1:8545";
export const DEFAULT_DEPLOYMENT = ".devnet/deployment.json";

export interface Globals {
  rpc: string;
  deployment: string;
  json: boolean;
}

/** The global options, wherever the command sits in the tree (env: CTK_RPC, CTK_DEPLOYMENT). */
export function globalsOf(cmd: Command): Globals {
  const o = cmd.optsWithGlobals() as Partial<Globals>;
  return {
    rpc: o.rpc ?? process.env.CTK_RPC ?? DEFAULT_RPC,
    deployment: o.deployment ?? process.env.CTK_DEPLOYMENT ?? DEFAULT_DEPLOYMENT,
    json: Boolean(o.json),
  };
}

/** A client for the deployment in `--deployment` on the chain at `--rpc`, checked to match. */
export async function clientFor(globals: Globals, account?: Account): Promise<CtkClient> {
  const deployment = readDeployment(globals.deployment);
  const client = createCtkClient({ rpcUrl: globals.rpc, deployment, account });
  try {
    await checkDeployment(client);
  } catch (e) {
    throw await toCtkError(client, e);
  }
  return client;
}

/** The redeemer's API to ask: its URL, or why there is none (the devnet noted it runs none). */
export type RedeemerApi = { url: string } | { none: string };

/**
 * The redeemer's API: `--redeemer-api`, else CTK_REDEEMER_API, else what the devnet noted next to
 * the deployment file (`redeemer-api.json`, written by `ctk devnet up`: its redeemer's URL, or that
 * it started none; a URL noted by a devnet process that has stopped names none), else the devnet's
 * default. A devnet without a redeemer is not answered for by the default port: another devnet's
 * redeemer may listen there, on a chain whose contract has the same address.
 */
export function redeemerApiOf(globals: Globals, explicit?: string): RedeemerApi {
  if (explicit) return { url: explicit };
  if (process.env.CTK_REDEEMER_API) return { url: process.env.CTK_REDEEMER_API };
  let noted: RedeemerNote | undefined;
  try {
    noted = JSON.parse(readFileSync(path.join(path.dirname(globals.deployment), "redeemer-api.json"), "utf8")) as RedeemerNote;
  } catch {
    // no devnet note: the default
  }
  if (typeof noted?.url === "string") {
    // The redeemer runs in the devnet's process: a note left by one that was killed names none.
    if (notedProcessGone(noted)) return { none: `no redeemer runs beside the devnet of ${globals.deployment} (the devnet that noted one, process ${noted.pid}, has stopped)` };
    return { url: noted.url };
  }
  if (noted?.url === null) return { none: `no redeemer runs beside the devnet of ${globals.deployment}${typeof noted.note === "string" ? ` (its note: "${noted.note}")` : ""}` };
  return { url: DEFAULT_REDEEMER_API };
}

/** What `ctk devnet up` notes beside its deployment file (redeemer-api.json). */
interface RedeemerNote {
  /** Its redeemer's API, or null: it started none (`note` says why). */
  url?: unknown;
  note?: unknown;
  /** The devnet's process: its id, its start (/proc, clock ticks since boot), the host it runs on. */
  pid?: unknown;
  pidStart?: unknown;
  host?: unknown;
}

/**
 * Whether the devnet that wrote `note` is known to have stopped: its process gone, or another in
 * its place (started at another time). Not where that cannot be told: another host (a container's
 * processes are not this one's to see), no process id noted.
 */
function notedProcessGone(note: RedeemerNote): boolean {
  if (typeof note.pid !== "number" || !Number.isSafeInteger(note.pid) || note.pid <= 0 || note.host !== hostname()) return false;
  return isSameProcess(note.pid, typeof note.pidStart === "string" ? note.pidStart : undefined) === false;
}
