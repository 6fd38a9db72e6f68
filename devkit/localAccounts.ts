/**
 * The local chain's accounts and deployment: anvil's well-known test keys, one per role. They are
 * public knowledge ("test test … junk" mnemonic) and only ever used on the local devnet and in tests.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type Address, type Hex, parseEther } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { createChainClient, createChainWalletClient, ctkChain } from "../sdk/client.js";
import { readPriceTable } from "../sdk/credits/priceTable.js";
import { deployComputeTokens } from "../sdk/deploy.js";
import type { Deployment } from "../sdk/deployment.js";
import { ANVIL_KEYS } from "./startAnvil.js";

export const LOCAL_ROLE_KEYS = {
  ADMIN: ANVIL_KEYS[0],
  HR: ANVIL_KEYS[1],
  OPERATIONS: ANVIL_KEYS[2],
  REDEEMER: ANVIL_KEYS[3],
  PAUSER: ANVIL_KEYS[4],
  /**
   * The metering gateway: account 10 of the same mnemonic (anvil funds only 0–9, so `deployLocal` sends
   * it ETH). Kept out of 0–9 so that the employee keys below stay where they were.
   */
  GATEWAY: "0xf214f2b2cd398c806f84e317254e0f0b801d0643303237d97a22a48e01628897",
} as const satisfies Record<string, Hex>;

export type LocalRole = keyof typeof LOCAL_ROLE_KEYS;

export const localAddress = (role: LocalRole): Address => privateKeyToAccount(LOCAL_ROLE_KEYS[role]).address;

/** Anvil accounts 5.. are free for employees in tests and demos. */
export const localEmployeeKey = (i: number): Hex => {
  const key = ANVIL_KEYS[5 + i];
  if (!key) throw new RangeError(`only ${ANVIL_KEYS.length - 5} local employee keys`);
  return key;
};

export const LOCAL_LAUNCH_TIMEOUT = 3600;
export const LOCAL_CHAIN_ID = 31337;
/** The devnet's default model prices and priority fees, applied at deploy. */
export const LOCAL_PRICES_FILE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../config/prices.json");

/**
 * Deploys AccessManager + ComputeToken + InferenceCredit on a local chain with one anvil account per
 * role, the prices of config/prices.json, and gas money for the gateway account.
 */
export async function deployLocal(rpcUrl: string, chainId = LOCAL_CHAIN_ID): Promise<Deployment> {
  const chain = ctkChain(chainId, rpcUrl);
  const publicClient = createChainClient(rpcUrl, "local", { chain, pollingInterval: 20 });
  const wallet = createChainWalletClient(rpcUrl, "local", privateKeyToAccount(LOCAL_ROLE_KEYS.ADMIN), { chain, pollingInterval: 20 });
  const deployment = await deployComputeTokens(publicClient as never, wallet, {
    roles: {
      HR: [localAddress("HR")],
      OPERATIONS: [localAddress("OPERATIONS")],
      REDEEMER: [localAddress("REDEEMER")],
      PAUSER: [localAddress("PAUSER")],
      GATEWAY: [localAddress("GATEWAY")],
    },
    launchTimeout: LOCAL_LAUNCH_TIMEOUT,
    adminExecutionDelay: 0,
    prices: readPriceTable(LOCAL_PRICES_FILE),
  });
  const funding = await wallet.sendTransaction({ to: localAddress("GATEWAY"), value: parseEther("1000") });
  await publicClient.waitForTransactionReceipt({ hash: funding });
  return deployment;
}
