/**
 * `POST /v1/keys`: a signed spending authorization (the JSON file `ctk credits authorize` writes)
 * in, an API key out — once. The authorization is checked against the chain: the EIP-712 domain
 * is this deployment's chain and InferenceCredit, the signer is the holder, the gateway it names
 * is this gateway's account, it has not expired (chain time), the holder is onboarded, and it is
 * not revoked on-chain, and InferenceCredit is not paused (a pause stops new authorizations: 503
 * until it is unpaused). Keys are stored as SHA-256 only.
 */
import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { type Address, getAddress } from "viem";
import type { CtkClient } from "../../sdk/client.js";
import { parseSignedAuthorization, serializeSignedAuthorization, verifySignedAuthorization } from "../../sdk/credits/authorization.js";
import { readAuthorization, readCreditBalance } from "../../sdk/credits/reads.js";
import { formatCredits } from "../../sdk/credits/units.js";
import { isCreditPaused, isHolder } from "../chain/creditChain.js";
import { GatewayError, badRequest } from "../errors.js";
import { readJsonBody, sendJson } from "../http/body.js";
import { hashKey } from "../http/meteredProxy.js";
import type { Ledger } from "../ledger/ledger.js";

export interface KeyServiceDeps {
  client: CtkClient;
  ledger: Ledger;
  /** This gateway's account (the one authorizations must name). */
  gateway: Address;
  maxBodyBytes: number;
  now?: () => number;
  log?: Logger;
}

export interface CreatedKey {
  key: string;
  keyId: string;
  holder: Address;
  authorizationId: string;
  nonce: string;
  cap: string;
  expiresAt: string;
  models: string[];
}

export function keyRoute(d: KeyServiceDeps) {
  const now = d.now ?? Date.now;
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await readJsonBody(req, Math.min(d.maxBodyBytes, 64 * 1024));
    let created: CreatedKey;
    try {
      created = await createKey(d, body, now());
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      // The chain or the ledger did not answer: the check did not run to its end, no key exists.
      d.log?.error({ err }, "could not check or record an authorization");
      throw new GatewayError(
        503,
        "server_error",
        "key_service_unavailable",
        "the gateway could not check this authorization against the chain or record it (its logs say why); no key was issued: try again shortly",
        { retryAfterS: 5 },
      );
    }
    sendJson(res, 201, created);
  };
}

export async function createKey(d: KeyServiceDeps, raw: unknown, now: number): Promise<CreatedKey> {
  let file;
  try {
    file = parseSignedAuthorization(raw);
  } catch (err) {
    throw badRequest("invalid_authorization", (err as Error).message);
  }
  const { deployment } = d.client;
  const a = file.authorization;
  if (file.chainId !== deployment.chainId || getAddress(file.inferenceCredit) !== deployment.inferenceCredit) {
    throw new GatewayError(
      403,
      "permission_error",
      "wrong_domain",
      `the authorization is for InferenceCredit ${file.inferenceCredit} on chain ${file.chainId}; this gateway settles on ${deployment.inferenceCredit} on chain ${deployment.chainId}`,
    );
  }
  if (getAddress(a.gateway) !== getAddress(d.gateway)) {
    throw new GatewayError(
      403,
      "permission_error",
      "wrong_gateway",
      `the authorization names gateway ${a.gateway}; this gateway is ${d.gateway} (ctk credits authorize --gateway ${d.gateway})`,
    );
  }
  if (await isCreditPaused(d.client)) {
    throw new GatewayError(
      503,
      "server_error",
      "credits_paused",
      `InferenceCredit ${deployment.inferenceCredit} is paused: no new API keys are issued until it is unpaused; try again later`,
      { retryAfterS: 60 },
    );
  }
  if (!(await verifySignedAuthorization(file))) {
    throw new GatewayError(403, "permission_error", "invalid_signature", `the authorization is not signed by its holder ${a.holder}`);
  }
  const block = await d.client.publicClient.getBlock({ blockTag: "latest" });
  const chainNow = block.timestamp > BigInt(Math.floor(now / 1000)) ? block.timestamp : BigInt(Math.floor(now / 1000));
  if (a.expiresAt <= chainNow) {
    throw new GatewayError(
      403,
      "permission_error",
      "authorization_expired",
      `the authorization expired at ${new Date(Number(a.expiresAt) * 1000).toISOString()}: sign a new one (ctk credits authorize)`,
    );
  }
  if (!(await isHolder(d.client, a.holder))) {
    throw new GatewayError(403, "permission_error", "not_a_holder", `${a.holder} is not an onboarded holder`);
  }
  const state = await readAuthorization(d.client, file.authorizationId);
  if (state.status === "revoked") {
    throw new GatewayError(403, "permission_error", "authorization_revoked", `the authorization with nonce ${a.nonce} was revoked on-chain`);
  }
  const balance = await readCreditBalance(d.client, a.holder);
  await d.ledger.addAuthorization(
    {
      authId: file.authorizationId,
      holder: a.holder,
      nonce: a.nonce,
      cap: a.cap,
      expiresAt: a.expiresAt,
      models: [...a.models],
      signature: file.signature,
      document: serializeSignedAuthorization(file),
      charged: state.status === "active" ? state.charged : 0n,
      activated: state.status === "active",
    },
    balance,
    now,
  );
  const key = `ctk-${randomBytes(32).toString("base64url")}`;
  const keyId = `key_${randomBytes(6).toString("hex")}`;
  await d.ledger.addKey(hashKey(key), keyId, file.authorizationId, now);
  return {
    key,
    keyId,
    holder: a.holder,
    authorizationId: file.authorizationId,
    nonce: a.nonce.toString(),
    cap: formatCredits(a.cap),
    expiresAt: new Date(Number(a.expiresAt) * 1000).toISOString(),
    models: [...a.models],
  };
}
