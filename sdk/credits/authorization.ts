/**
 * Spending authorizations: the EIP-712 typed data an employee signs (no gas), its id, and the JSON
 * file `ctk credits authorize` writes and the gateway reads (turned into an API key there). The
 * gateway verifies a file off-chain with viem's `verifyTypedData(authorizationTypedData(...))`; the
 * contract checks the same signature once, when the gateway first settles against it.
 */
import { type Address, type Hex, encodeAbiParameters, getAddress, isAddress, isHex, keccak256, verifyTypedData } from "viem";
import { z } from "zod";
import { CtkError, firstIssue } from "../ctkError.js";

/** The EIP-712 domain of an InferenceCredit deployment. */
export const authorizationDomain = (chainId: number, verifyingContract: Address) => ({ name: "InferenceCredit", version: "1", chainId, verifyingContract }) as const;

export const AUTHORIZATION_TYPES = {
  Authorization: [
    { name: "holder", type: "address" },
    { name: "gateway", type: "address" },
    { name: "cap", type: "uint256" },
    { name: "expiresAt", type: "uint64" },
    { name: "nonce", type: "uint64" },
    { name: "models", type: "string[]" },
  ],
} as const;

/** What the holder signs (amounts in base units, expiry in unix seconds). */
export interface Authorization {
  holder: Address;
  gateway: Address;
  cap: bigint;
  expiresAt: bigint;
  nonce: bigint;
  /** Empty = any model. */
  models: readonly string[];
}

/** The typed data to sign or verify (viem `signTypedData` / `verifyTypedData` parameters). */
export function authorizationTypedData(chainId: number, inferenceCredit: Address, auth: Authorization) {
  return {
    domain: authorizationDomain(chainId, inferenceCredit),
    types: AUTHORIZATION_TYPES,
    primaryType: "Authorization" as const,
    message: {
      holder: auth.holder,
      gateway: auth.gateway,
      cap: auth.cap,
      expiresAt: auth.expiresAt,
      nonce: auth.nonce,
      models: [...auth.models],
    },
  };
}

/** `keccak256(abi.encode(holder, gateway, nonce))`, as the contract's `authorizationId`. */
export function authorizationId(holder: Address, gateway: Address, nonce: bigint): Hex {
  return keccak256(encodeAbiParameters([{ type: "address" }, { type: "address" }, { type: "uint64" }], [holder, gateway, nonce]));
}

/** The `SignedAuthorization` tuple `settleUsage` takes for an activation. */
export const toSignedAuthorizationArg = (auth: Authorization, signature: Hex) => ({
  auth: { ...auth, models: [...auth.models] },
  signature,
});

// ───────────────────────────── the JSON file ─────────────────────────────

/** Version of the file format below. */
export const AUTHORIZATION_FILE_VERSION = 1;

const address = z
  .string()
  .refine((a) => isAddress(a), { message: "must be a 0x-prefixed 20-byte address" })
  .transform((a) => getAddress(a));
const uint = z.string().regex(/^\d+$/, "must be a decimal integer string");

const fileSchema = z.object({
  version: z.literal(AUTHORIZATION_FILE_VERSION),
  chainId: z.number().int().positive(),
  inferenceCredit: address,
  authorizationId: z.string().refine((h) => isHex(h) && h.length === 66, { message: "must be a 32-byte hex string" }),
  authorization: z.object({
    holder: address,
    gateway: address,
    cap: uint,
    expiresAt: uint,
    nonce: uint,
    models: z.array(z.string().min(1)),
  }),
  signature: z.string().refine((h) => isHex(h), { message: "must be hex" }),
});

/** A signed authorization as `ctk credits authorize` writes it. */
export interface SignedAuthorizationFile {
  version: typeof AUTHORIZATION_FILE_VERSION;
  chainId: number;
  inferenceCredit: Address;
  authorizationId: Hex;
  authorization: Authorization;
  signature: Hex;
}

export class AuthorizationFileError extends CtkError {
  constructor(detail: string) {
    super(`authorization file: ${detail}`);
    this.name = "AuthorizationFileError";
  }
}

/** The file's JSON text (amounts as decimal strings). */
export function serializeSignedAuthorization(f: SignedAuthorizationFile): string {
  const a = f.authorization;
  return `${JSON.stringify(
    {
      version: f.version,
      chainId: f.chainId,
      inferenceCredit: f.inferenceCredit,
      authorizationId: f.authorizationId,
      authorization: {
        holder: a.holder,
        gateway: a.gateway,
        cap: a.cap.toString(),
        expiresAt: a.expiresAt.toString(),
        nonce: a.nonce.toString(),
        models: [...a.models],
      },
      signature: f.signature,
    },
    null,
    2,
  )}\n`;
}

/** Parses a file's JSON (checks its shape and that its id matches its fields; not the signature). */
export function parseSignedAuthorization(raw: unknown): SignedAuthorizationFile {
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) throw new AuthorizationFileError(firstIssue(parsed.error, " "));
  const d = parsed.data;
  const authorization: Authorization = {
    holder: d.authorization.holder,
    gateway: d.authorization.gateway,
    cap: BigInt(d.authorization.cap),
    expiresAt: BigInt(d.authorization.expiresAt),
    nonce: BigInt(d.authorization.nonce),
    models: d.authorization.models,
  };
  const id = authorizationId(authorization.holder, authorization.gateway, authorization.nonce);
  if (id.toLowerCase() !== d.authorizationId.toLowerCase()) {
    throw new AuthorizationFileError(`authorizationId ${d.authorizationId} does not match holder, gateway and nonce (${id})`);
  }
  return { version: d.version, chainId: d.chainId, inferenceCredit: d.inferenceCredit, authorizationId: id, authorization, signature: d.signature as Hex };
}

/** True when the file's signature is the holder's over its typed data. */
export async function verifySignedAuthorization(f: SignedAuthorizationFile): Promise<boolean> {
  return verifyTypedData({
    address: f.authorization.holder,
    ...authorizationTypedData(f.chainId, f.inferenceCredit, f.authorization),
    signature: f.signature,
  });
}
