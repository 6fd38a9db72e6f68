/**
 * The local chain's accounts and deployment: anvil's well-known test keys, one per role. They are
 * public knowledge ("test test … junk" mnemonic) and only ever used on the local devnet and in tests.
 */
import { type Address, type Hex, createPublicClient, createWalletClient, defineChain, http } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { ctkChainRules } from "../../sdk/client.js";
import { deployComputeTokens } from "../../sdk/deploy.js";
import type { Deployment } from "../../sdk/deployment.js";
import { ANVIL_KEYS } from "./startAnvil.js";

export const LOCAL_ROLE_KEYS = {
  ADMIN: ANVIL_KEYS[0],
  HR: ANVIL_KEYS[1],
  OPERATIONS: ANVIL_KEYS[2],
  REDEEMER: ANVIL_KEYS[3],
  PAUSER: ANVIL_KEYS[4],
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

/** Deploys AccessManager + ComputeToken on a local chain with one anvil account per role. */
export async function deployLocal(rpcUrl: string, chainId = LOCAL_CHAIN_ID): Promise<Deployment> {
  const chain = defineChain({
    id: chainId,
    name: "ctk-devnet",
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  ...ctkChainRules,
  });
  const transport = http(rpcUrl);
  const publicClient = createPublicClient({ chain, transport, pollingInterval: 20 });
  const wallet = createWalletClient({
    chain,
    transport,
    account: privateKeyToAccount(LOCAL_ROLE_KEYS.ADMIN),
    pollingInterval: 20,
  });
  return deployComputeTokens(publicClient as never, wallet, {
    roles: {
      HR: [localAddress("HR")],
      OPERATIONS: [localAddress("OPERATIONS")],
      REDEEMER: [localAddress("REDEEMER")],
      PAUSER: [localAddress("PAUSER")],
    },
    launchTimeout: LOCAL_LAUNCH_TIMEOUT,
    adminExecutionDelay: 0,
  });
}
