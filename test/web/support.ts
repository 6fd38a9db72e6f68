/**
 * The web app's test harness: headless Debian Chromium through playwright-core, and a test
 * EIP-1193 wallet injected into the page and announced through EIP-6963 like a real one. The wallet
 * signs in Node with a local anvil key (exposed to the page with page.exposeFunction) and sends
 * real transactions to anvil; it starts on whatever chain it is told, and switches chains when the
 * page asks (wallet_switchEthereumChain), as a real wallet does.
 */
import { existsSync } from "node:fs";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { createWalletClient, defineChain, http, numberToHex, type Address, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { rpcAt } from "../../devkit/localChain.js";
import { ctkChainRules } from "../../sdk/client.js";

export const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));

export async function launchChromium(userDataDir: string): Promise<BrowserContext> {
  if (!CHROMIUM) throw new Error("chromium is not installed: apt-get install chromium (.ci/run does)");
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1280, height: 900 },
  });
}

export type { Browser, BrowserContext, Page };

export interface TestWallet {
  address: Address;
  /** The chain the wallet is on now. */
  chainId: number;
  /** Every method the page asked for, in order. */
  calls: string[];
  /** Transactions the wallet signed and sent. */
  sent: Hex[];
  /** Chains the wallet knows (it can switch to these only). */
  knownChains: Set<number>;
  /** Chains the page asked it to add (wallet_addEthereumChain), as asked. */
  added: unknown[];
  /** Methods the wallet's user turns down (answered with EIP-1193 error 4001). */
  declines: Set<string>;
}

interface JsonRpcError {
  code: number;
  message: string;
  /** The node's error data, e.g. a revert's (viem in the page decodes it into the contract's custom error). */
  data?: unknown;
}

/** An error's JSON-RPC `data`, however deeply a viem error wraps the node's (the signer's estimate). */
function errorData(e: unknown): unknown {
  for (let c = e as { data?: unknown; cause?: unknown } | undefined, i = 0; c && i < 8; c = c.cause as typeof c, i++) {
    if (typeof c.data === "string") return c.data;
  }
  return undefined;
}

const ICON = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Ccircle cx='8' cy='8' r='7' fill='%23009E73'/%3E%3C/svg%3E";

/**
 * Opens a page with the test wallet installed. `chainId` is the chain the wallet starts on (the
 * anvil chain unless a test wants the wrong one). Like a real wallet it switches only to a chain it
 * knows — by default the one it starts on and the anvil chain; `knownChains` narrows that — and
 * answers 4902 for any other, until the page adds it with valid EIP-3085 parameters whose RPC
 * answers with that chain id. Adding does not switch (EIP-3085 leaves that to the wallet).
 */
export async function pageWithWallet(
  context: BrowserContext,
  opts: { key: Hex; rpcUrl: string; anvilChainId: number; chainId?: number; knownChains?: number[] },
): Promise<{ page: Page; wallet: TestWallet }> {
  const account = privateKeyToAccount(opts.key);
  // The chain as a wallet set up for it knows it: the devnet's zero fees included.
  const chain = defineChain({
    ...ctkChainRules,
    id: opts.anvilChainId,
    name: "anvil",
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [opts.rpcUrl] } },
  });
  const signer = createWalletClient({ account, chain, transport: http(opts.rpcUrl) });
  const startChain = opts.chainId ?? opts.anvilChainId;
  const wallet: TestWallet = {
    address: account.address,
    chainId: startChain,
    calls: [],
    sent: [],
    knownChains: new Set(opts.knownChains ?? [startChain, opts.anvilChainId]),
    added: [],
    declines: new Set(),
  };
  const page = await context.newPage();

  // Relays a call to the node as a wallet does: a node's error goes to the page as the node's own
  // { code, message, data } (EIP-1193), not as rpcAt's Error (which has no code and prefixes the method).
  const forward = async (method: string, params: unknown[]) => {
    const res = await fetch(opts.rpcUrl, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) });
    const body = (await res.json()) as { result?: unknown; error?: JsonRpcError };
    if (body.error) throw body.error;
    return body.result;
  };

  const handle = async (method: string, params: unknown[]): Promise<{ result?: unknown; events?: [string, unknown][] }> => {
    if (wallet.declines.has(method)) throw { code: 4001, message: "User rejected the request." } satisfies JsonRpcError;
    switch (method) {
      case "eth_requestAccounts":
      case "eth_accounts":
        return { result: [account.address] };
      case "eth_chainId":
        return { result: numberToHex(wallet.chainId) };
      case "wallet_switchEthereumChain": {
        const wanted = Number((params[0] as { chainId: string }).chainId);
        if (!wallet.knownChains.has(wanted))
          throw { code: 4902, message: `Unrecognized chain ID ${numberToHex(wanted)}. Try adding the chain using wallet_addEthereumChain first.` } satisfies JsonRpcError;
        if (wanted === wallet.chainId) return { result: null };
        wallet.chainId = wanted;
        return { result: null, events: [["chainChanged", numberToHex(wanted)]] };
      }
      case "wallet_addEthereumChain": {
        // What MetaMask checks (EIP-3085): the fields, and that the RPC really serves that chain.
        const p = params[0] as { chainId?: unknown; chainName?: unknown; rpcUrls?: unknown; nativeCurrency?: { name?: unknown; symbol?: unknown; decimals?: unknown } };
        const invalid = (message: string): JsonRpcError => ({ code: -32602, message });
        if (typeof p?.chainId !== "string" || !/^0x[1-9a-f][0-9a-f]*$/.test(p.chainId))
          throw invalid(`chainId must be a 0x-prefixed hex string without leading zeros, got ${JSON.stringify(p?.chainId)}`);
        if (typeof p.chainName !== "string" || !p.chainName.trim()) throw invalid("chainName is required");
        if (!Array.isArray(p.rpcUrls) || !p.rpcUrls.length || !p.rpcUrls.every((u) => typeof u === "string" && /^https?:\/\//.test(u)))
          throw invalid("rpcUrls must be a non-empty list of http(s) URLs");
        const c = p.nativeCurrency;
        if (!c || typeof c.name !== "string" || typeof c.symbol !== "string" || c.symbol.length < 2 || c.symbol.length > 6 || c.decimals !== 18)
          throw invalid("nativeCurrency must have a name, a 2–6 character symbol and 18 decimals");
        const served = await rpcAt(p.rpcUrls[0] as string, "eth_chainId").catch(() => undefined);
        if (served === undefined || Number(served) !== Number(p.chainId)) throw invalid(`the RPC ${String(p.rpcUrls[0])} answers chain ${String(served)}, not ${p.chainId}`);
        wallet.added.push(p);
        wallet.knownChains.add(Number(p.chainId));
        return { result: null };
      }
      case "eth_sendTransaction": {
        if (wallet.chainId !== opts.anvilChainId) throw { code: 4901, message: `the wallet is on chain ${wallet.chainId}` } satisfies JsonRpcError;
        const tx = params[0] as { to: Address; data?: Hex; value?: Hex; gas?: Hex };
        const hash = await signer.sendTransaction({
          to: tx.to,
          data: tx.data,
          value: tx.value ? BigInt(tx.value) : undefined,
          gas: tx.gas ? BigInt(tx.gas) : undefined,
        });
        wallet.sent.push(hash);
        return { result: hash };
      }
      case "personal_sign":
        return { result: await account.signMessage({ message: { raw: params[0] as Hex } }) };
      case "eth_signTypedData_v4": {
        // As a wallet receives it: JSON, integers as strings, the domain type spelled out.
        const td = JSON.parse(params[1] as string) as {
          domain: Record<string, unknown>;
          types: Record<string, { name: string; type: string }[]>;
          primaryType: string;
          message: Record<string, unknown>;
        };
        const { EIP712Domain: _domain, ...types } = td.types;
        const message = Object.fromEntries(
          Object.entries(td.message).map(([k, v]) => [k, types[td.primaryType]?.find((f) => f.name === k)?.type.match(/^u?int\d*$/) ? BigInt(v as string) : v]),
        );
        return { result: await account.signTypedData({ domain: td.domain, types, primaryType: td.primaryType, message } as never) };
      }
      default:
        return { result: await forward(method, params) };
    }
  };

  await page.exposeFunction("__ctkTestWallet", async (json: string) => {
    const { method, params } = JSON.parse(json) as { method: string; params?: unknown[] };
    wallet.calls.push(method);
    try {
      return JSON.stringify(await handle(method, params ?? []));
    } catch (e) {
      const err = e as Partial<JsonRpcError> & { shortMessage?: string };
      if (process.env.CTK_TEST_WALLET_DEBUG) console.error(method, JSON.stringify(params), e);
      const data = errorData(e);
      return JSON.stringify({ error: { code: err.code ?? -32603, message: err.shortMessage ?? err.message ?? String(e), ...(data === undefined ? {} : { data }) } });
    }
  });
  // A plain script (not a serialised function): it runs in the page before the app does.
  await page.addInitScript({ content: walletScript(ICON) });
  return { page, wallet };
}

/** The page side of the test wallet: an EIP-1193 provider announced through EIP-6963. */
function walletScript(icon: string): string {
  return `(() => {
  const listeners = {};
  const provider = {
    async request({ method, params }) {
      const out = JSON.parse(await window.__ctkTestWallet(JSON.stringify({ method, params })));
      if (out.error) throw Object.assign(new Error(out.error.message), out.error);
      for (const [event, arg] of out.events || []) for (const l of listeners[event] || []) l(arg);
      return out.result;
    },
    on(event, l) { (listeners[event] = listeners[event] || []).push(l); },
    removeListener(event, l) { listeners[event] = (listeners[event] || []).filter((x) => x !== l); },
  };
  const info = Object.freeze({ uuid: "0b7e5cd4-7c32-4c53-9a2e-1c2f0c1f6a01", name: "Test Wallet", icon: ${JSON.stringify(icon)}, rdns: "org.compute-tokens.testwallet" });
  const announce = () => window.dispatchEvent(new CustomEvent("eip6963:announceProvider", { detail: Object.freeze({ info, provider }) }));
  window.addEventListener("eip6963:requestProvider", announce);
  announce();
})();`;
}

/** Records every request the page makes that is not to `origin` (nothing may leave the machine). */
export function watchRequests(page: Page, origin: string): string[] {
  const foreign: string[] = [];
  page.on("request", (r) => {
    const url = r.url();
    if (!url.startsWith(origin) && !url.startsWith("data:")) foreign.push(url);
  });
  return foreign;
}

/** Serious and critical accessibility violations axe finds on the page as it is now. */
export async function seriousA11yViolations(page: Page): Promise<string[]> {
  const { default: AxeBuilder } = await import("@axe-core/playwright");
  const result = await new AxeBuilder({ page }).analyze();
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).join("; ")}`);
}
