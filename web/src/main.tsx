/** The web app's shell: configuration, wallet connection, and the three pages (#/wallet, #/hr, #/audit). */
import "./style.css";
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import type { Address } from "viem";
import { createCtkClient, type CtkClient } from "../../sdk/client.js";
import { ROLES } from "../../sdk/roles.js";
import { App, type AppState, type Connection, type SiteConfig, errorText } from "./context.js";
import { AuditorPage } from "./pages/Auditor.js";
import { EmployeePage } from "./pages/Employee.js";
import { HrPage } from "./pages/Hr.js";
import { type ProviderDetail, discoverWallets, requestAccounts, switchChain, walletChainId, walletErrorText, walletWriter } from "./wallet.js";

type Route = "wallet" | "hr" | "audit";
const routeOf = (hash: string): Route => (hash === "#/hr" ? "hr" : hash === "#/audit" ? "audit" : "wallet");
const TITLES: Record<Route, string> = { wallet: "My compute", hr: "HR grant desk", audit: "Audit" };

function WalletBar(props: { wallets: ProviderDetail[]; connection?: Connection; onConnect: (w: ProviderDetail) => void; onDisconnect: () => void; busy: boolean }) {
  const { connection, wallets } = props;
  if (connection) {
    return (
      <section class="account" aria-label="connected wallet">
        <span>
          {connection.wallet.info.icon && <img src={connection.wallet.info.icon} alt="" width={18} height={18} />} {connection.wallet.info.name}:{" "}
          <span class="mono" data-testid="account">
            {connection.address}
          </span>
        </span>
        <button class="secondary" type="button" onClick={props.onDisconnect}>
          Disconnect
        </button>
      </section>
    );
  }
  if (!wallets.length) return <span class="muted">No wallet found in this browser (install MetaMask or another EIP-1193 wallet).</span>;
  return (
    <div class="wallets">
      {wallets.map((w) => (
        <button type="button" key={w.info.uuid} onClick={() => props.onConnect(w)} disabled={props.busy}>
          {w.info.icon && <img src={w.info.icon} alt="" />}Connect {w.info.name}
        </button>
      ))}
    </div>
  );
}

function ChainNotice(props: { config: SiteConfig; connection: Connection; onSwitched: () => void }) {
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const doSwitch = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await switchChain(props.connection.wallet.provider, props.config.chainId, props.config.rpcUrl);
      props.onSwitched();
    } catch (e) {
      setError(walletErrorText(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="notice" role="alert" data-testid="wrong-chain">
      <p>
        Your wallet is on chain {props.connection.chainId}; this deployment is on chain {props.config.chainId}. Switch the wallet to chain {props.config.chainId} to sign.
      </p>
      <button type="button" onClick={doSwitch} disabled={busy}>
        Switch to chain {props.config.chainId}
      </button>
      {error && <p>Could not switch: {error}</p>}
    </div>
  );
}

function Root(props: { config: SiteConfig; reader: CtkClient }) {
  const { config, reader } = props;
  const [route, setRoute] = useState<Route>(routeOf(location.hash));
  const [wallets, setWallets] = useState<ProviderDetail[]>([]);
  const [connection, setConnection] = useState<Connection>();
  const [connectError, setConnectError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [isHr, setIsHr] = useState(false);

  useEffect(() => discoverWallets(setWallets), []);
  useEffect(() => {
    const onHash = () => setRoute(routeOf(location.hash));
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);
  useEffect(() => {
    document.title = `${TITLES[route]} · Compute tokens`;
  }, [route]);

  const refresh = async (wallet: ProviderDetail, address?: Address) => {
    const [chainId, accounts] = await Promise.all([
      walletChainId(wallet.provider),
      address ? Promise.resolve([address]) : (wallet.provider.request({ method: "eth_accounts" }) as Promise<Address[]>),
    ]);
    const account = accounts[0];
    if (!account) return setConnection(undefined);
    setConnection({ wallet, address: account, chainId, ...(chainId === config.chainId && { writer: walletWriter(reader, wallet.provider, account) }) });
  };

  const connect = async (wallet: ProviderDetail) => {
    setBusy(true);
    setConnectError(undefined);
    try {
      const [address] = await requestAccounts(wallet.provider);
      if (!address) throw new Error("the wallet shared no account");
      await refresh(wallet, address);
    } catch (e) {
      setConnectError(walletErrorText(e));
    } finally {
      setBusy(false);
    }
  };

  // Follow the wallet: another account or another chain.
  useEffect(() => {
    if (!connection) return;
    const p = connection.wallet.provider;
    const onAccounts = (accounts: Address[]) => (accounts[0] ? void refresh(connection.wallet, accounts[0]) : setConnection(undefined));
    const onChain = () => void refresh(connection.wallet, connection.address);
    p.on?.("accountsChanged", onAccounts as never);
    p.on?.("chainChanged", onChain as never);
    return () => {
      p.removeListener?.("accountsChanged", onAccounts as never);
      p.removeListener?.("chainChanged", onChain as never);
    };
  }, [connection?.wallet, connection?.address]);

  // The HR desk is for accounts holding the HR role (AccessManager.hasRole).
  useEffect(() => {
    setIsHr(false);
    if (!connection) return;
    void reader.publicClient.readContract({ ...reader.accessManager, functionName: "hasRole", args: [ROLES.HR, connection.address] }).then(
      ([member]) => setIsHr(member),
      () => setIsHr(false),
    );
  }, [connection?.address]);

  const state: AppState = { config, reader, connection };
  const link = (r: Route, text: string) => (
    <li>
      <a href={`#/${r}`} aria-current={route === r ? "page" : undefined}>
        {text}
      </a>
    </li>
  );
  return (
    <App.Provider value={state}>
      <header>
        <span class="brand">Compute tokens</span>
        <nav aria-label="pages">
          <ul>
            {link("wallet", "My compute")}
            {(isHr || route === "hr") && link("hr", "HR desk")}
            {link("audit", "Audit")}
          </ul>
        </nav>
        <WalletBar wallets={wallets} connection={connection} onConnect={connect} onDisconnect={() => setConnection(undefined)} busy={busy} />
      </header>
      <main>
        {connectError && (
          <p class="problems" role="alert">
            Could not connect: {connectError}
          </p>
        )}
        {connection && connection.chainId !== config.chainId && route !== "audit" && (
          <ChainNotice config={config} connection={connection} onSwitched={() => void refresh(connection.wallet, connection.address)} />
        )}
        {route === "wallet" && <EmployeePage />}
        {route === "hr" && <HrPage isHr={isHr} />}
        {route === "audit" && <AuditorPage />}
      </main>
    </App.Provider>
  );
}

async function start() {
  const root = document.getElementById("app")!;
  try {
    const res = await fetch("/config.json");
    if (!res.ok) throw new Error(`the site configuration did not load (${res.status})`);
    const config = (await res.json()) as SiteConfig;
    const reader = createCtkClient({ rpcUrl: `${location.origin}/rpc`, deployment: config.deployment, pollingInterval: 500 });
    root.textContent = "";
    render(<Root config={config} reader={reader} />, root);
  } catch (e) {
    root.textContent = "";
    render(
      <main>
        <h1>Compute tokens</h1>
        <p class="problems" role="alert">
          {errorText(e)}
        </p>
      </main>,
      root,
    );
  }
}

void start();
