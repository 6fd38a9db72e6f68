/** What every page gets: the site's configuration, the read client, and the connected wallet. */
import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { Address } from "viem";
import type { CtkClient, CtkWriteClient } from "../../sdk/client.js";
import type { Deployment } from "../../sdk/deployment.js";
import type { ProviderDetail } from "./wallet.js";

export interface SiteConfig {
  chainId: number;
  rpcUrl: string;
  deployment: Deployment;
  redeemer: boolean;
  gateway: boolean;
}

export interface Connection {
  wallet: ProviderDetail;
  address: Address;
  chainId: number;
  /** Present when the wallet is on the deployment's chain. */
  writer?: CtkWriteClient;
}

export interface AppState {
  config: SiteConfig;
  reader: CtkClient;
  connection?: Connection;
}

export const App = createContext<AppState>(undefined as never);
export const useApp = (): AppState => useContext(App);

/** Errors as one sentence (the SDK's errors already are). */
export const errorText = (e: unknown): string => {
  // A request the user turned down in the wallet (EIP-1193 code 4001), however deeply wrapped.
  for (let c = e as { code?: number; cause?: unknown } | undefined, i = 0; c && i < 8; c = c.cause as typeof c, i++) {
    if (c.code === 4001) return "you declined the request in your wallet";
  }
  const err = e as { shortMessage?: string; message?: string };
  return (err?.shortMessage ?? err?.message ?? String(e)).split("\n")[0]!;
};

/** "in 3 d 4 h", "in 12 min", "2 h ago". */
export function countdown(seconds: number): string {
  const s = Math.abs(Math.round(seconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const text = d ? `${d} d ${h} h` : h ? `${h} h ${m} min` : m ? `${m} min` : `${s % 60} s`;
  return seconds >= 0 ? `in ${text}` : `${text} ago`;
}
