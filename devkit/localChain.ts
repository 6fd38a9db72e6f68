/**
 * A real anvil with ComputeToken deployed and one SDK client per role: what the SDK tests run against.
 * Each test file starts its own chain in `before` and stops it in `after`.
 */
import type { Address, Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { type CtkClient, createCtkClient } from "../sdk/client.js";
import { applyClassChanges, diffClasses, type ClassSpec } from "../sdk/classes.js";
import type { Deployment } from "../sdk/deployment.js";
import { LOCAL_ROLE_KEYS, deployLocal, localEmployeeKey } from "./localAccounts.js";
import { type AnvilHandle, startAnvil } from "./startAnvil.js";

export const TEST_CLASSES: ClassSpec[] = [
  { name: "A100-80GB", productLabel: "NVIDIA-A100-SXM4-80GB", memoryGiB: 80, maxGpusPerJob: 8, retired: false },
  { name: "H100-80GB", productLabel: "NVIDIA-H100-80GB-HBM3", memoryGiB: 80, maxGpusPerJob: 8, retired: false },
];

export interface LocalChain {
  anvil: AnvilHandle;
  deployment: Deployment;
  reader: CtkClient;
  hr: CtkClient;
  ops: CtkClient;
  redeemer: CtkClient;
  pauser: CtkClient;
  /** The metering gateway's client (GATEWAY role on InferenceCredit). */
  gateway: CtkClient;
  /** A client for local employee i (anvil account 5 + i). */
  employee(i: number): CtkClient;
  employeeAddress(i: number): Address;
  stop(): Promise<void>;
}

export async function startLocalChain(opts: { classes?: ClassSpec[] } = {}): Promise<LocalChain> {
  const anvil = await startAnvil();
  try {
    const deployment = await deployLocal(anvil.rpcUrl);
    const client = (account?: Hex) => createCtkClient({ rpcUrl: anvil.rpcUrl, deployment, account, pollingInterval: 20 });
    const ops = client(LOCAL_ROLE_KEYS.OPERATIONS);
    const classes = opts.classes ?? TEST_CLASSES;
    if (classes.length) await applyClassChanges(ops, diffClasses({ classes }, []).changes);
    return {
      anvil,
      deployment,
      reader: client(),
      hr: client(LOCAL_ROLE_KEYS.HR),
      ops,
      redeemer: client(LOCAL_ROLE_KEYS.REDEEMER),
      pauser: client(LOCAL_ROLE_KEYS.PAUSER),
      gateway: client(LOCAL_ROLE_KEYS.GATEWAY),
      employee: (i) => client(localEmployeeKey(i)),
      employeeAddress: (i) => privateKeyToAccount(localEmployeeKey(i)).address,
      stop: () => anvil.stop(),
    };
  } catch (e) {
    await anvil.stop();
    throw e;
  }
}

/** One raw JSON-RPC call to the local chain (anvil's own methods: evm_*, anvil_*); throws the node's error. */
export async function rpc(chain: LocalChain, method: string, params: unknown[] = []): Promise<unknown> {
  return rpcAt(chain.anvil.rpcUrl, method, params);
}

/** {@link rpc} to a node by its URL. */
export async function rpcAt(url: string, method: string, params: unknown[] = []): Promise<unknown> {
  return resultOf(method, (await post(url, { jsonrpc: "2.0", id: 1, method, params })) as RpcAnswer);
}

/** One call of a {@link rpcBatchAt} batch. */
export interface RpcCall {
  method: string;
  params: unknown[];
}

/**
 * Many raw JSON-RPC calls to a node by its URL in one batch (one HTTP request): their results in the
 * calls' order; throws the first failed call's error (in the calls' order).
 */
export async function rpcBatchAt(url: string, calls: readonly RpcCall[]): Promise<unknown[]> {
  if (calls.length === 0) return [];
  const answers = await post(
    url,
    calls.map((c, id) => ({ jsonrpc: "2.0", id, method: c.method, params: c.params })),
  );
  // A node refusing the batch as a whole answers one error object.
  if (!Array.isArray(answers)) throw new Error(`a batch of ${calls.length} calls: ${answers.error?.message ?? "not answered as a batch"}`);
  const byId = new Map(answers.map((a) => [a.id, a]));
  return calls.map((c, id) => {
    const answer = byId.get(id);
    if (!answer) throw new Error(`${c.method}: no answer in the batch`);
    return resultOf(c.method, answer);
  });
}

interface RpcAnswer {
  id: number;
  result?: unknown;
  error?: { message: string };
}

async function post(url: string, body: unknown): Promise<RpcAnswer | RpcAnswer[]> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return (await res.json()) as RpcAnswer | RpcAnswer[];
}

function resultOf(what: string, answer: RpcAnswer): unknown {
  if (answer.error) throw new Error(`${what}: ${answer.error.message}`);
  return answer.result;
}

/** Moves the chain's clock forward and mines a block. */
export async function increaseTime(chain: LocalChain, seconds: number): Promise<void> {
  await increaseTimeAt(chain.anvil.rpcUrl, seconds);
}

/** {@link increaseTime} on a node by its URL. */
export async function increaseTimeAt(url: string, seconds: number): Promise<void> {
  await rpcAt(url, "evm_increaseTime", [seconds]);
  await rpcAt(url, "evm_mine");
}
