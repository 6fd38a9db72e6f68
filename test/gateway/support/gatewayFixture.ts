/**
 * The gateway's end-to-end harness: a real anvil with the contracts (devkit/localChain.ts),
 * employees onboarded and granted credits, signed authorizations turned into keys through the
 * gateway's own endpoint, and gateways started on a chosen ledger database with the real
 * llama.cpp model (../shared/models/stories260K.gguf, checked by its sha256).
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Writable } from "node:stream";
import { type Address, type Hex, keccak256, toHex } from "viem";
import type { CtkClient } from "../../../sdk/client.js";
import { authorizationId, authorizationTypedData, serializeSignedAuthorization } from "../../../sdk/credits/authorization.js";
import { creditContract } from "../../../sdk/credits/contract.js";
import { parseCredits } from "../../../sdk/credits/units.js";
import { grantCredits } from "../../../sdk/credits/write.js";
import { onboardHolders } from "../../../sdk/holders.js";
import { type Gateway, type GatewayConfigInput, type GatewayDeps, parseGatewayConfig, startGateway } from "../../../gateway/index.js";
import { LOCAL_ROLE_KEYS } from "../../../devkit/localAccounts.js";
import { type LocalChain, startLocalChain } from "../../../devkit/localChain.js";

export const MODEL_PATH = resolve("../shared/models/stories260K.gguf");
export const MODEL_SHA256 = "270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d";
export const MODEL = "stories260K";

/** The model file must be there: a missing model fails the suite, it does not skip it. */
export function requireModel(): void {
  if (!existsSync(MODEL_PATH)) throw new Error(`the test model is missing: ${MODEL_PATH} (see ../shared/models/README.md)`);
}

export interface GatewayFixture {
  chain: LocalChain;
  dir: string;
  /** Grants `credits` to employee i (onboarding them first): soulbound, for 30 days, unless `o` says otherwise. */
  grant(i: number, credits: string, o?: { transferable?: boolean; expiresAt?: bigint }): Promise<void>;
  /** Employee i signs an authorization for the gateway; returns the file's JSON. */
  authorize(i: number, o?: { cap?: string; expiresAt?: bigint; nonce?: bigint; models?: string[]; gateway?: Address }): Promise<Record<string, unknown>>;
  /** A gateway configuration on this chain (override anything). */
  config(over?: Partial<GatewayConfigInput>): GatewayConfigInput;
  start(over?: Partial<GatewayConfigInput>, logs?: Record<string, unknown>[], deps?: Pick<GatewayDeps, "settleGasLimit">): Promise<Gateway>;
  /** POSTs an authorization file to /v1/keys. */
  createKey(gw: Pick<Gateway, "url">, file: Record<string, unknown>): Promise<{ status: number; body: Record<string, any> }>;
  /** One short chat completion with `key` (it must be answered): what it was charged, in base units. */
  chargedRequest(gw: Pick<Gateway, "url">, key: string): Promise<bigint>;
  chainTime(): Promise<bigint>;
  stop(): Promise<void>;
}

let nonceSeq = 1n;

/** A log stream that parses each JSON line into `lines`. */
export function jsonLinesInto(lines: Record<string, unknown>[]): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
}

/**
 * One gateway fixture for the enclosing mocha suite: started in its `before`, stopped in its `after`.
 * Returns a getter (the fixture exists only once `before` has run).
 */
export function gatewayFixtureForSuite(): () => GatewayFixture {
  let fixture: GatewayFixture | undefined;
  before(async () => {
    fixture = await startGatewayFixture();
  });
  after(async () => {
    await fixture?.stop();
  });
  return () => {
    if (!fixture) throw new Error("the gateway fixture is used before the suite's before hook ran");
    return fixture;
  };
}

export async function startGatewayFixture(): Promise<GatewayFixture> {
  requireModel();
  const chain = await startLocalChain({ classes: [] });
  const dir = mkdtempSync(join(tmpdir(), "ctk-gw-"));
  const gateways: Gateway[] = [];
  const chainTime = async () => (await chain.reader.publicClient.getBlock({ blockTag: "latest" })).timestamp;
  let grants = 0;
  const fixture: GatewayFixture = {
    chain,
    dir,
    chainTime,
    async grant(i, credits, o = {}) {
      await onboardHolders(chain.hr, [chain.employeeAddress(i)]);
      await grantCredits(chain.hr, {
        batchRef: keccak256(toHex(`gw-test-grant-${dir}-${grants++}`)),
        expiresAt: o.expiresAt ?? (await chainTime()) + 30n * 86_400n,
        transferable: o.transferable ?? false,
        to: [chain.employeeAddress(i)],
        amounts: [parseCredits(credits)],
      });
    },
    async authorize(i, o = {}) {
      const employee: CtkClient = chain.employee(i);
      const credit = creditContract(chain.reader);
      const auth = {
        holder: employee.account!.address,
        gateway: o.gateway ?? chain.gateway.account!.address,
        cap: parseCredits(o.cap ?? "100"),
        expiresAt: o.expiresAt ?? (await chainTime()) + 7n * 86_400n,
        nonce: o.nonce ?? nonceSeq++,
        models: o.models ?? [],
      };
      const signature = (await employee.walletClient!.signTypedData(authorizationTypedData(chain.deployment.chainId, credit.address, auth))) as Hex;
      return JSON.parse(
        serializeSignedAuthorization({
          version: 1,
          chainId: chain.deployment.chainId,
          inferenceCredit: credit.address,
          authorizationId: authorizationId(auth.holder, auth.gateway, auth.nonce),
          authorization: auth,
          signature,
        }),
      );
    },
    config(over = {}) {
      return {
        chain: { rpcUrl: chain.anvil.rpcUrl, deployment: chain.deployment, privateKey: LOCAL_ROLE_KEYS.GATEWAY, pollIntervalMs: 50, balanceRefreshMs: 60_000 },
        port: 0,
        replica: "test-replica",
        database: { kind: "sqlite", file: join(dir, "ledger.sqlite") },
        models: [{ name: MODEL, upstream: "embedded", maxOutputTokens: 64, concurrency: 4 }],
        embedded: { modelPath: MODEL_PATH, sha256: MODEL_SHA256, sequences: 4, contextSize: 256 },
        settlement: { intervalMs: 3_600_000, maxCharges: 200 },
        recordsDir: join(dir, "records"),
        logLevel: "info",
        ...over,
      };
    },
    async start(over = {}, logs, deps = {}) {
      const config = parseGatewayConfig(fixture.config(over));
      const gw = await startGateway(config, { ...deps, logStream: logs ? jsonLinesInto(logs) : jsonLinesInto([]) });
      gateways.push(gw);
      return gw;
    },
    async chargedRequest(gw, key) {
      const res = await fetch(`${gw.url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "Once" }], max_tokens: 2 }),
      });
      const body = await res.text();
      if (res.status !== 200) throw new Error(`the request was answered ${res.status}: ${body}`);
      return BigInt(res.headers.get("x-ctk-cost-base-units")!);
    },
    async createKey(gw, file) {
      const res = await fetch(`${gw.url}/v1/keys`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(file) });
      return { status: res.status, body: (await res.json()) as Record<string, any> };
    },
    async stop() {
      for (const g of gateways) await g.stop({ settle: false }).catch(() => undefined);
      await chain.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return fixture;
}
