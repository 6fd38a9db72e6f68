/**
 * The one place viem clients are built: the typed client for ComputeToken (viem public and, with an
 * account, wallet clients bound to a deployment), and the transports under every client in the
 * tree, by named preset ({@link TRANSPORT_PRESETS}): the CLI, the redeemer service, the audit's
 * batched reads and its unbatched log reads each get one set of retry and timeout settings.
 * Scripts, the redeemer, the gateway, the web app and the tests all start here.
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
  type HttpTransportConfig,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import type { Deployment } from "./deployment.js";
import { accessManagerAbi, computeTokenAbi } from "./generated/abi.js";
import { CtkError } from "./ctkError.js";

/**
 * How a client talks to its node, by who uses it:
 * - `cli`: one-shot commands and the web app; concurrent reads (a holder check per wallet of a
 *   payroll file) go out as JSON-RPC batches.
 * - `service`: a long-running service (the redeemer): more retries, a shorter timeout, and room for
 *   one busy block's logs (burns carry their job specs).
 * - `audit`: the audit's many reads (every holder × lot), batched, with a long timeout.
 * - `logs`: `eth_getLogs` one request at a time (responses are large; batching would merge them).
 * - `local`: the local devnet harness and benchmarks: viem's defaults.
 */
export const TRANSPORT_PRESETS = {
  cli: { retryCount: 1, timeout: 60_000, batch: { batchSize: 200, wait: 0 } },
  service: { retryCount: 3, retryDelay: 100, timeout: 30_000, maxResponseBodySize: 256 * 2 ** 20 },
  audit: { retryCount: 2, timeout: 120_000, batch: { batchSize: 256, wait: 0 } },
  logs: { retryCount: 2, timeout: 120_000, maxResponseBodySize: 256 * 2 ** 20 },
  local: {},
} as const satisfies Record<string, HttpTransportConfig>;

export type TransportPreset = keyof typeof TRANSPORT_PRESETS;

/** The HTTP transport of a preset (with `overrides` on top, e.g. `{ timeout }` in a test). */
export function chainTransport(rpcUrl: string, preset: TransportPreset, overrides: HttpTransportConfig = {}): Transport {
  return http(rpcUrl, { ...TRANSPORT_PRESETS[preset], ...overrides });
}

/** A chain definition for a ComputeToken chain: its id, the RPC URL and the fee rules ({@link ctkChainRules}). */
export function ctkChain(chainId: number, rpcUrl: string): Chain {
  return defineChain({
    id: chainId,
    name: chainId === 31337 ? "ctk-devnet" : `ctk-${chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
    ...ctkChainRules,
  });
}

export interface ChainClientOptions {
  /** Default: none (viem asks the node when it needs to). */
  chain?: Chain;
  /** Milliseconds between polls. Default: viem's. */
  pollingInterval?: number;
  /** A transport to use instead of the preset's (tests inject faults through it). */
  transport?: Transport;
}

/** A public client over a preset's transport. */
export function createChainClient(rpcUrl: string, preset: TransportPreset, opts: ChainClientOptions = {}): PublicClient {
  return createPublicClient({ chain: opts.chain, transport: opts.transport ?? chainTransport(rpcUrl, preset), pollingInterval: opts.pollingInterval }) as PublicClient;
}

/** A wallet client over a preset's transport, signing with `account`. */
export function createChainWalletClient<C extends Chain | undefined = undefined>(
  rpcUrl: string,
  preset: TransportPreset,
  account: Account,
  opts: Omit<ChainClientOptions, "chain"> & { chain?: C } = {},
): WalletClient<Transport, C, Account> {
  return createWalletClient({ chain: opts.chain as C, transport: opts.transport ?? chainTransport(rpcUrl, preset), account, pollingInterval: opts.pollingInterval });
}

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
  const chain = ctkChain(deployment.chainId, rpcUrl);
  const transport = chainTransport(rpcUrl, "cli");
  const publicClient = createPublicClient({ chain, transport, pollingInterval }) as CtkPublicClient;
  const account = typeof opts.account === "string" ? privateKeyToAccount(opts.account) : opts.account;
  const walletClient = account ? (createWalletClient({ chain, transport, account, pollingInterval }) as CtkWalletClient) : undefined;
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
    throw new DeploymentMismatchError(`the chain at ${client.rpcUrl} is chain ${chainId}, but the deployment file is for chain ${client.deployment.chainId}`);
  }
  const code = await client.publicClient.getCode({ address: client.computeToken.address });
  if (!code || code === "0x") {
    throw new DeploymentMismatchError(`no ComputeToken at ${client.computeToken.address} on ${client.rpcUrl}: the deployment file does not match this chain`);
  }
}

/** The latest block's timestamp: what the contract compares expiries with. */
export async function chainTime(client: CtkClient): Promise<bigint> {
  const block = await client.publicClient.getBlock({ blockTag: "latest" });
  return block.timestamp;
}
