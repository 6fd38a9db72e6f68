/**
 * Wallets: EIP-6963 discovery of every injected EIP-1193 provider (MetaMask and the others), the
 * connection, the chain check (wallet_switchEthereumChain, then wallet_addEthereumChain when the
 * wallet does not know the chain), and an SDK client that signs through the wallet.
 */
import { createWalletClient, custom, numberToHex, type Address } from "viem";
import type { CtkClient, CtkWriteClient } from "../../sdk/client.js";

export interface Eip1193Provider {
  request(args: { method: string; params?: unknown }): Promise<unknown>;
  on?(event: string, listener: (...args: never[]) => void): void;
  removeListener?(event: string, listener: (...args: never[]) => void): void;
}

export interface ProviderInfo {
  uuid: string;
  name: string;
  icon: string;
  rdns: string;
}

export interface ProviderDetail {
  info: ProviderInfo;
  provider: Eip1193Provider;
}

/** Listens for EIP-6963 announcements and asks every wallet to announce itself. Returns a stop function. */
export function discoverWallets(onChange: (wallets: ProviderDetail[]) => void): () => void {
  const found = new Map<string, ProviderDetail>();
  const onAnnounce = (e: Event) => {
    const detail = (e as CustomEvent<ProviderDetail>).detail;
    if (!detail?.info?.uuid || typeof detail.provider?.request !== "function" || found.has(detail.info.uuid)) return;
    found.set(detail.info.uuid, detail);
    onChange([...found.values()]);
  };
  window.addEventListener("eip6963:announceProvider", onAnnounce);
  window.dispatchEvent(new Event("eip6963:requestProvider"));
  // A wallet that predates EIP-6963 only sets window.ethereum.
  const legacy = setTimeout(() => {
    const eth = (window as unknown as { ethereum?: Eip1193Provider }).ethereum;
    if (!found.size && eth && typeof eth.request === "function") {
      found.set("legacy", { info: { uuid: "legacy", name: "Browser wallet", icon: "", rdns: "" }, provider: eth });
      onChange([...found.values()]);
    }
  }, 400);
  return () => {
    clearTimeout(legacy);
    window.removeEventListener("eip6963:announceProvider", onAnnounce);
  };
}

export interface RpcError {
  code?: number;
  message?: string;
}

/** A wallet's refusal in words. */
export function walletErrorText(e: unknown): string {
  const err = e as RpcError & { shortMessage?: string };
  if (err?.code === 4001) return "you declined the request in your wallet";
  if (err?.code === 4100) return "the wallet has not authorised this site: connect again";
  return (err?.shortMessage ?? err?.message ?? String(e)).split("\n")[0]!;
}

export async function requestAccounts(p: Eip1193Provider): Promise<Address[]> {
  return (await p.request({ method: "eth_requestAccounts" })) as Address[];
}

export async function walletChainId(p: Eip1193Provider): Promise<number> {
  return Number(await p.request({ method: "eth_chainId" }));
}

/** What a wallet needs to add the deployment's chain (EIP-3085 `wallet_addEthereumChain`). */
export function chainParameters(chainId: number, rpcUrl: string) {
  return {
    chainId: numberToHex(chainId),
    chainName: chainId === 31337 ? "ctk devnet" : `ctk chain ${chainId}`,
    rpcUrls: [rpcUrl],
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
  };
}

/**
 * Asks the wallet to switch to the deployment's chain (EIP-3326). A wallet that does not know the
 * chain answers 4902: it is asked to add it (EIP-3085), then to switch to it (a wallet may or may not
 * switch on adding; asking again is harmless).
 */
export async function switchChain(p: Eip1193Provider, chainId: number, rpcUrl: string): Promise<void> {
  const hex = numberToHex(chainId);
  try {
    await p.request({ method: "wallet_switchEthereumChain", params: [{ chainId: hex }] });
  } catch (e) {
    // MetaMask Mobile wraps the 4902 in an internal error (data.originalError), as wagmi also allows for.
    const err = e as RpcError & { data?: { originalError?: RpcError } };
    if (err.code !== 4902 && err.data?.originalError?.code !== 4902) throw e;
    await p.request({ method: "wallet_addEthereumChain", params: [chainParameters(chainId, rpcUrl)] });
    await p.request({ method: "wallet_switchEthereumChain", params: [{ chainId: hex }] });
  }
}

/** The SDK client with writes signed by the wallet; reads still go through this site's /rpc. */
export function walletWriter(reader: CtkClient, provider: Eip1193Provider, address: Address): CtkWriteClient {
  const walletClient = createWalletClient({ chain: reader.chain, transport: custom(provider), account: address, pollingInterval: reader.publicClient.pollingInterval });
  return { ...reader, walletClient, account: walletClient.account } as CtkWriteClient;
}
