/**
 * The one typed client for ComputeToken: viem public (and, with an account, wallet) clients bound
 * to a deployment. Scripts, the redeemer and the tests all start here.
 */
import {
  type Account,
  type Address,
  type Chain,
  type ChainFees,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
  createPublicClient,
  createWalletClient,
  defineChain,
  http,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import type { Deployment } from "./deployment.js";
import { accessManagerAbi, computeTokenAbi } from "./generated/abi.js";
import { CtkError } from "./ctkError.js";

export interface CtkClientOptions {
  rpcUrl: string;
  deployment: Deployment;
  /** A viem account or a 0x private key; without it the client can only read. */
  account?: Account | Hex;
  /** Milliseconds between polls (receipts, blocks). Default: 50 on loopback, 1000 elsewhere. */
  pollingInterval?: number;
}

/**
 * Fee rules for a ComputeToken chain. Permissioned production chains usually run with a zero gas
 * price (Hyperledger Besu `--min-gas-price=0` with a zero base fee), and so does the devnet: there,
 * every fee is 0, so an employee's fresh wallet sends transactions without holding any ETH.
 * Elsewhere (a base fee or a gas price above 0) viem's own estimate applies.
 */
const ctkChainFees: ChainFees = {
  async estimateFeesPerGas({ block, client, type }) {
    if ((block.baseFeePerGas ?? 0n) !== 0n) return null;
    const gasPrice = BigInt(await client.request({ method: "eth_gasPrice" }));
    if (gasPrice !== 0n) return null;
    return type === "legacy" ? { gasPrice: 0n } : { maxFeePerGas: 0n, maxPriorityFeePerGas: 0n };
  },
};

/**
 * What every ComputeToken chain definition carries (`defineChain({ ...ctkChainRules, … })`): the fee
 * rules above, and a tip never above the fee cap (a node that fills a transaction on a zero-base-fee
 * chain, like anvil's eth_fillTransaction, may propose a 1 gwei tip under a 0 cap).
 */
export const ctkChainRules = {
  fees: ctkChainFees,
  prepareTransactionRequest: [
    async (request: Record<string, unknown>) => {
      const cap = request.maxFeePerGas;
      const tip = request.maxPriorityFeePerGas;
      return typeof cap === "bigint" && typeof tip === "bigint" && tip > cap ? { ...request, maxPriorityFeePerGas: cap } : request;
    },
    { runAt: ["afterFillParameters"] },
  ],
} as unknown as Pick<Chain, "fees" | "prepareTransactionRequest">;

export type CtkPublicClient = PublicClient<Transport, Chain>;
export type CtkWalletClient = WalletClient<Transport, Chain, Account>;

export interface CtkClient {
  rpcUrl: string;
  deployment: Deployment;
  chain: Chain;
  publicClient: CtkPublicClient;
  /** Present when the client was created with an account. */
  walletClient?: CtkWalletClient;
  account?: Account;
  computeToken: { address: Address; abi: typeof computeTokenAbi };
  accessManager: { address: Address; abi: typeof accessManagerAbi };
}

/** A client that can send transactions. */
export type CtkWriteClient = CtkClient & { walletClient: CtkWalletClient; account: Account };

export class MissingAccountError extends CtkError {
  constructor() {
    super("this needs a signing key: set CTK_PRIVATE_KEY (or .env) or pass --keystore <file>");
    this.name = "MissingAccountError";
  }
}

export const isLoopback = (rpcUrl: string): boolean => {
  try {
    const host = new URL(rpcUrl).hostname;
    return host === "127.0.0.1" || host === "localhost" || host === "[::1]" || host === "::1";
  } catch {
    return false;
  }
};

export function createCtkClient(opts: CtkClientOptions): CtkClient {
  const { rpcUrl, deployment } = opts;
  const pollingInterval = opts.pollingInterval ?? (isLoopback(rpcUrl) ? 50 : 1000);
  const chain = defineChain({
    id: deployment.chainId,
    name: deployment.chainId === 31337 ? "ctk-devnet" : `ctk-${deployment.chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
    ...ctkChainRules,
  });
  // Concurrent reads (a holder check per wallet of a payroll file) go out as JSON-RPC batches.
  const transport = http(rpcUrl, { retryCount: 1, timeout: 60_000, batch: { batchSize: 200, wait: 0 } });
  const publicClient = createPublicClient({ chain, transport, pollingInterval }) as CtkPublicClient;
  const account = typeof opts.account === "string" ? privateKeyToAccount(opts.account) : opts.account;
  const walletClient = account
    ? (createWalletClient({ chain, transport, account, pollingInterval }) as CtkWalletClient)
    : undefined;
  return {
    rpcUrl,
    deployment,
    chain,
    publicClient,
    walletClient,
    account,
    computeToken: { address: deployment.computeToken, abi: computeTokenAbi },
    accessManager: { address: deployment.accessManager, abi: accessManagerAbi },
  };
}

/** Narrows a client to one that can sign, or throws {@link MissingAccountError}. */
export function requireWriter(client: CtkClient): CtkWriteClient {
  if (!client.walletClient || !client.account) throw new MissingAccountError();
  return client as CtkWriteClient;
}

export class DeploymentMismatchError extends CtkError {
  constructor(message: string) {
    super(message);
    this.name = "DeploymentMismatchError";
  }
}

/** Checks that the chain behind the client is the deployment's chain and that ComputeToken is there. */
export async function checkDeployment(client: CtkClient): Promise<void> {
  const chainId = await client.publicClient.getChainId();
  if (chainId !== client.deployment.chainId) {
    throw new DeploymentMismatchError(
      `the chain at ${client.rpcUrl} is chain ${chainId}, but the deployment file is for chain ${client.deployment.chainId}`,
    );
  }
  const code = await client.publicClient.getCode({ address: client.computeToken.address });
  if (!code || code === "0x") {
    throw new DeploymentMismatchError(
      `no ComputeToken at ${client.computeToken.address} on ${client.rpcUrl}: the deployment file does not match this chain`,
    );
  }
}

/** The latest block's timestamp: what the contract compares expiries with. */
export async function chainTime(client: CtkClient): Promise<bigint> {
  const block = await client.publicClient.getBlock({ blockTag: "latest" });
  return block.timestamp;
}
