/**
 * The InferenceCredit test fixture: the ComputeToken fixture (AccessManager, roles, onboarded alice, bob
 * and carol) plus an InferenceCredit governed by the same AccessManager, every restricted selector wired
 * as sdk/roles.ts says, one model priced, and helpers to grant credits and sign authorizations.
 *
 *   const { ethers, networkHelpers, load } = await createCreditFixture();
 *   it("…", async () => { const f = await load(); … });
 */
import type { Signer } from "ethers";
import { CREDIT_RESTRICTED_FUNCTIONS, ROLES, type RoleName } from "../../sdk/roles.js";
import { AUTHORIZATION_TYPES } from "../../sdk/credits/authorization.js";
import { DAY, createContractFixture } from "./contractFixture.js";

export const CREDIT = 1_000_000n;
/** InferenceCredit.AuthorizationStatus */
export const AuthStatus = { None: 0, Active: 1, Revoked: 2 } as const;
export const MODEL = "stories260K";
export const MODEL_PRICE = { inputPerMTok: 500_000n, outputPerMTok: 1_500_000n, requestCharge: 1_000n } as const;

export type CreditRestrictedFunction = (typeof CREDIT_RESTRICTED_FUNCTIONS)[RoleName][number];

/** The restricted InferenceCredit functions as (role, function) pairs, straight from the role table. */
export const CREDIT_RESTRICTED_ENTRIES: { role: RoleName; fn: CreditRestrictedFunction }[] = (Object.keys(CREDIT_RESTRICTED_FUNCTIONS) as RoleName[]).flatMap((role) =>
  (CREDIT_RESTRICTED_FUNCTIONS[role] as readonly CreditRestrictedFunction[]).map((fn) => ({ role, fn })),
);

export interface AuthorizationInput {
  holder: string;
  gateway: string;
  cap: bigint;
  expiresAt: bigint;
  nonce: bigint;
  models: string[];
}

export async function createCreditFixture() {
  const base = await createContractFixture();
  const { ethers, networkHelpers } = base;
  let refs = 0;

  async function deployCredit() {
    const f = await base.deployComputeToken();
    const { manager, tokenAddress, signers } = f;
    const credit = await ethers.deployContract("InferenceCredit", [await manager.getAddress(), tokenAddress], signers.admin);
    const creditAddress = await credit.getAddress();
    for (const role of Object.keys(CREDIT_RESTRICTED_FUNCTIONS) as RoleName[]) {
      const fns = CREDIT_RESTRICTED_FUNCTIONS[role] as readonly string[];
      if (fns.length === 0) continue;
      const selectors = fns.map((fn) => credit.interface.getFunction(fn as never)!.selector);
      await manager.connect(signers.admin).setTargetFunctionRole(creditAddress, selectors, ROLES[role]);
    }
    await credit.connect(signers.ops).setModelPrice(MODEL, MODEL_PRICE.inputPerMTok, MODEL_PRICE.outputPerMTok, MODEL_PRICE.requestCharge);
    const { chainId } = await ethers.provider.getNetwork();

    const nextRef = () => ethers.id(`credit-batch-${++refs}`);

    /** HR grants `amount` base units to each recipient, one expiry and policy. */
    function grantCredits(recipients: { address: string } | { address: string }[], amount: bigint, expiresAt: bigint = f.expiries.later, transferable = false) {
      const list = Array.isArray(recipients) ? recipients : [recipients];
      return credit.connect(signers.hr).grantBatch(
        nextRef(),
        expiresAt,
        transferable,
        list.map((r) => r.address),
        list.map(() => amount),
      );
    }

    const domain = (overrides: { chainId?: bigint; verifyingContract?: string } = {}) => ({
      name: "InferenceCredit",
      version: "1",
      chainId: overrides.chainId ?? chainId,
      verifyingContract: overrides.verifyingContract ?? creditAddress,
    });

    /** An authorization of `holder` for the fixture's gateway (defaults: 5 credits, 30 days, nonce 1, any model). */
    const authorization = (holder: { address: string }, o: Partial<AuthorizationInput> = {}): AuthorizationInput => ({
      holder: holder.address,
      gateway: signers.gateway.address,
      cap: 5n * CREDIT,
      expiresAt: f.expiries.later,
      nonce: 1n,
      models: [],
      ...o,
    });

    /** `signer` signs `auth` (EIP-712), in this contract's domain unless overridden. */
    async function sign(signer: Signer, auth: AuthorizationInput, d: { chainId?: bigint; verifyingContract?: string } = {}) {
      const types = { Authorization: AUTHORIZATION_TYPES.Authorization.map((x) => ({ ...x })) };
      return { auth, signature: await signer.signTypedData(domain(d), types, auth) };
    }

    let usage = 0;
    const nextBatchId = () => ethers.id(`usage-${++usage}`);

    /** The gateway settles one batch (fresh batch id, current price version). */
    async function settle(
      activations: { auth: AuthorizationInput; signature: string }[],
      charges: { holder: string; nonce: bigint; amount: bigint }[],
      opts: { batchId?: string; from?: Signer } = {},
    ) {
      return credit.connect(opts.from ?? signers.gateway).settleUsage(opts.batchId ?? nextBatchId(), await credit.priceVersion(), ethers.id("records"), activations, charges);
    }

    return { ...f, credit, creditAddress, chainId, nextRef, nextBatchId, grantCredits, authorization, sign, settle, domain };
  }

  return { ...base, deployCredit, load: () => networkHelpers.loadFixture(deployCredit) };
}

export type CreditFixture = Awaited<ReturnType<Awaited<ReturnType<typeof createCreditFixture>>["deployCredit"]>>;
export { DAY };
