/**
 * Inference credits on the employee's page: credits per expiry bucket (and a usage debt, if any), a spending authorization
 * signed in the wallet (EIP-712, no gas) and turned into an API key by the gateway (shown once),
 * and the key's usage and charges per request.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { getAddress, isAddress, type Address, type Hex } from "viem";
import { authorizationId, authorizationTypedData, serializeSignedAuthorization } from "../../../sdk/credits/authorization.js";
import { creditContract } from "../../../sdk/credits/contract.js";
import { readCreditBuckets, readUsageDebt, type CreditBucket } from "../../../sdk/credits/reads.js";
import { formatCredits, parseCredits } from "../../../sdk/credits/units.js";
import { USAGE_DEFAULT_LIMIT, USAGE_MAX_LIMIT, type UsagePage, type UsageRecordView } from "../../../sdk/credits/usageRecord.js";
import { formatExpiry } from "../../../sdk/format.js";
import { countdown, errorText, useApp } from "../context.js";
import { TableHead } from "../table.js";

/**
 * Usage records per page: the gateway's default, or the page address's `?usage-page-size=N`
 * (1 … the gateway's maximum); anything else is the default.
 */
function usagePageSize(search: string): number {
  const raw = new URLSearchParams(search).get("usage-page-size");
  const n = raw !== null && /^\d{1,7}$/.test(raw) ? Number(raw) : 0;
  return n >= 1 && n <= USAGE_MAX_LIMIT ? n : USAGE_DEFAULT_LIMIT;
}

function Buckets(props: { holder: Address }) {
  const { reader } = useApp();
  const [buckets, setBuckets] = useState<CreditBucket[]>();
  const [debt, setDebt] = useState(0n);
  const [error, setError] = useState<string>();
  const [now, setNow] = useState(Math.floor(Date.now() / 1000));
  useEffect(() => {
    let stop = false;
    const load = async () => {
      try {
        const t = (await reader.publicClient.getBlock({ blockTag: "latest" })).timestamp;
        const [b, d] = await Promise.all([readCreditBuckets(reader, props.holder, t), readUsageDebt(reader, props.holder)]);
        if (!stop) {
          setBuckets(b);
          setDebt(d);
          setNow(Number(t));
        }
      } catch (e) {
        if (!stop) setError(errorText(e));
      }
    };
    void load();
    const timer = setInterval(load, 5000);
    return () => {
      stop = true;
      clearInterval(timer);
    };
  }, [props.holder]);
  if (error)
    return (
      <p class="problems" role="alert">
        Credits could not be read: {error}
      </p>
    );
  if (!buckets) return <p class="muted">Reading credits…</p>;
  const total = buckets.filter((b) => !b.expired).reduce((s, b) => s + b.amount, 0n);
  return (
    <>
      <p>
        Credits you can spend: <strong data-testid="credits-balance">{formatCredits(total)}</strong>
      </p>
      {debt > 0n && (
        <p data-testid="credits-debt">
          You owe <strong>{formatCredits(debt)}</strong> credits for usage served before (your credits had moved or expired when its batch was charged): paid from the next credits
          you receive.
        </p>
      )}
      {buckets.length > 0 && (
        <div class="table-wrap">
          <table data-testid="credit-buckets">
            <TableHead columns={["expires", "policy", { head: "credits", num: true }]} />
            <tbody>
              {buckets.map((b, i) => (
                <tr key={i}>
                  <td>
                    {formatExpiry(b.expiresAt)} <span class="muted">({b.expired ? "expired" : `expires ${countdown(Number(b.expiresAt) - now)}`})</span>
                  </td>
                  <td>{b.transferable ? "transferable" : "soulbound"}</td>
                  <td class="num">{formatCredits(b.amount)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

function ApiKey() {
  const { reader, connection, config } = useApp();
  const defaultGateway = config.deployment.roles?.GATEWAY?.[0] ?? "";
  const [gateway, setGateway] = useState<string>(defaultGateway);
  const [cap, setCap] = useState("50");
  const [days, setDays] = useState("30");
  const [models, setModels] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  /** As the gateway's POST /v1/keys answers: cap in credits, expiry as an ISO date. */
  const [key, setKey] = useState<{ key: string; keyId: string; cap: string; expiresAt: string }>();
  const [file, setFile] = useState<string>();
  const [usage, setUsage] = useState<UsageRecordView[]>();
  /** The cursor of the next (older) page of usage; null when the newest-first list is complete. */
  const [older, setOlder] = useState<string | null>(null);
  const [loadingUsage, setLoadingUsage] = useState(false);
  /** Bumped by every usage load and every change of key: an answer that arrives after either is dropped. */
  const usageSeq = useRef(0);
  /** The usage status line: focus goes there when the button that had it goes away. */
  const usageCount = useRef<HTMLParagraphElement>(null);
  // The key lives only in this component's state: leaving the page (even into the browser's
  // back-forward cache) forgets it, and a page brought back from that cache does not show it.
  useEffect(() => {
    const forget = () => {
      usageSeq.current++;
      setKey(undefined);
      setUsage(undefined);
      setOlder(null);
    };
    const onShow = (e: PageTransitionEvent) => e.persisted && forget();
    window.addEventListener("pagehide", forget);
    window.addEventListener("pageshow", onShow);
    return () => {
      window.removeEventListener("pagehide", forget);
      window.removeEventListener("pageshow", onShow);
    };
  }, []);

  const sign = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    setKey(undefined);
    setFile(undefined);
    usageSeq.current++;
    setUsage(undefined);
    setOlder(null);
    const w = connection?.writer;
    if (!w) return;
    try {
      if (!isAddress(gateway.trim())) throw new Error("the gateway must be a 0x-prefixed 20-byte address");
      const d = Number(days);
      if (!Number.isInteger(d) || d < 1 || d > 366) throw new Error("valid for: a whole number of days from 1 to 366");
      const credit = creditContract(reader);
      const chainNow = (await reader.publicClient.getBlock({ blockTag: "latest" })).timestamp;
      const auth = {
        holder: w.account.address,
        gateway: getAddress(gateway.trim()) as Address,
        cap: parseCredits(cap, "cap"),
        expiresAt: chainNow + BigInt(d) * 86_400n,
        nonce: BigInt(Date.now()),
        models: models
          .split(",")
          .map((m) => m.trim())
          .filter(Boolean),
      };
      setBusy(true);
      const signature = (await w.walletClient.signTypedData({ account: w.account, ...authorizationTypedData(config.chainId, credit.address, auth) })) as Hex;
      const text = serializeSignedAuthorization({
        version: 1,
        chainId: config.chainId,
        inferenceCredit: credit.address,
        authorizationId: authorizationId(auth.holder, auth.gateway, auth.nonce),
        authorization: auth,
        signature,
      });
      if (!config.gateway) {
        setFile(text);
        return;
      }
      const res = await fetch("/gateway/v1/keys", { method: "POST", headers: { "content-type": "application/json" }, body: text });
      const body = (await res.json()) as { key?: string; keyId?: string; cap?: string; expiresAt?: string; error?: { message?: string } };
      if (!res.ok || !body.key) throw new Error(body.error?.message ?? `the gateway answered ${res.status}`);
      setKey({ key: body.key, keyId: body.keyId!, cap: body.cap!, expiresAt: body.expiresAt! });
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  /** The newest page of the key's usage, or (with the previous page's cursor) the next older page appended to what is shown. */
  const loadUsage = async (before?: string) => {
    if (!key || loadingUsage) return;
    const seq = ++usageSeq.current;
    setError(undefined);
    setLoadingUsage(true);
    try {
      const query = new URLSearchParams({ limit: String(usagePageSize(location.search)), ...(before ? { before } : {}) });
      const res = await fetch(`/gateway/v1/usage?${query}`, { headers: { authorization: `Bearer ${key.key}` } });
      const body = (await res.json()) as Partial<UsagePage> & { error?: { message?: string } };
      if (seq !== usageSeq.current) return;
      if (!res.ok) throw new Error(body.error?.message ?? `the gateway answered ${res.status}`);
      const records = body.records ?? [];
      setUsage((shown) => (before ? [...(shown ?? []), ...records] : records));
      setOlder(body.nextBefore ?? null);
      // The last page: "Show older usage" goes, and with it the keyboard's focus, unless moved.
      if (before && !body.nextBefore) usageCount.current?.focus();
    } catch (err) {
      if (seq === usageSeq.current) setError(errorText(err));
    } finally {
      if (seq === usageSeq.current) setLoadingUsage(false);
    }
  };

  return (
    <>
      <form class="card" onSubmit={sign}>
        <p class="muted">
          Sign a spending authorization (no gas): the gateway may spend at most the cap, until it ends (its expiry, or your revocation).{" "}
          {config.gateway ? "It gives you an API key for the OpenAI-compatible API, shown once." : "No gateway is configured here: you get the signed file to hand to one."}
        </p>
        <div class="grid">
          <div>
            <label for="c-cap">Cap (credits)</label>
            <input id="c-cap" value={cap} onInput={(e) => setCap(e.currentTarget.value)} inputMode="decimal" />
          </div>
          <div>
            <label for="c-days">Valid for (days)</label>
            <input id="c-days" type="number" min={1} max={366} value={days} onInput={(e) => setDays(e.currentTarget.value)} />
          </div>
          <div>
            <label for="c-models">Models (comma-separated; empty: any)</label>
            <input id="c-models" value={models} onInput={(e) => setModels(e.currentTarget.value)} autocomplete="off" />
          </div>
        </div>
        <label for="c-gateway">Gateway account</label>
        <input id="c-gateway" value={gateway} onInput={(e) => setGateway(e.currentTarget.value)} autocomplete="off" />
        <div class="row">
          <button type="submit" disabled={busy || !connection?.writer}>
            {config.gateway ? "Sign and get an API key" : "Sign"}
          </button>
        </div>
        {error && (
          <p class="problems" role="alert">
            {error}
          </p>
        )}
        {key && (
          <div class="ok" role="status" data-testid="api-key">
            <p>
              Your API key (shown once: copy it now): <code data-testid="api-key-value">{key.key}</code>
            </p>
            <p>
              Cap {key.cap} credits, until {key.expiresAt.replace("T", " ").replace(/\.\d+Z$/, " UTC")}.
            </p>
          </div>
        )}
        {file && (
          <p class="ok" role="status">
            Signed.{" "}
            <a href={`data:application/json;charset=utf-8,${encodeURIComponent(file)}`} download="authorization.json">
              Download the authorization file
            </a>{" "}
            for the gateway.
          </p>
        )}
      </form>
      {key && (
        <section aria-labelledby="usage-h">
          <h3 id="usage-h">Usage of this key</h3>
          <button type="button" class="secondary" onClick={() => loadUsage()} aria-disabled={loadingUsage}>
            Show usage
          </button>
          {usage &&
            (usage.length === 0 ? (
              <p class="muted">No requests yet.</p>
            ) : (
              <div class="table-wrap">
                <table data-testid="usage">
                  <TableHead
                    columns={[
                      "finished",
                      "model",
                      { head: "tokens in", num: true },
                      { head: "tokens out", num: true },
                      "priority",
                      { head: "charge (credits)", num: true },
                      "settled",
                    ]}
                  />
                  <tbody>
                    {usage.map((u) => (
                      <tr key={u.requestId} data-request-id={u.requestId}>
                        <td>{u.finishedAt.replace("T", " ").slice(0, 19)}</td>
                        <td>{u.model}</td>
                        <td class="num">{u.tokensIn}</td>
                        <td class="num">{u.tokensOut}</td>
                        <td>{u.priority}</td>
                        <td class="num">{formatCredits(BigInt(u.charge))}</td>
                        <td>{u.settled ? "yes" : "pending"}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            ))}
          {/* Rendered before it has anything to say, so that screen readers announce its first words. */}
          <div class="row">
            <p class="muted" role="status" data-testid="usage-count" tabIndex={-1} ref={usageCount}>
              {usage && usage.length > 0 ? `${usage.length === 1 ? "1 request" : `${usage.length} requests`}, newest first${older ? "; older ones not shown yet" : ""}.` : ""}
            </p>
            {usage && usage.length > 0 && older && (
              <button type="button" class="secondary" onClick={() => loadUsage(older)} aria-disabled={loadingUsage}>
                Show older usage
              </button>
            )}
          </div>
        </section>
      )}
    </>
  );
}

export function CreditsSection() {
  const { config, connection } = useApp();
  if (!config.deployment.inferenceCredit || !connection) return null;
  return (
    <section aria-labelledby="credits-h">
      <h2 id="credits-h">Inference credits</h2>
      <Buckets holder={connection.address} />
      <ApiKey />
    </section>
  );
}
