/**
 * The ComputeToken test fixture: an OpenZeppelin AccessManager (admin = signer 0), a ComputeToken
 * governed by it, one signer per role, every restricted selector wired to its role exactly as
 * sdk/roles.ts says, two hardware classes, three onboarded employees and lot-id helpers.
 *
 * Usage (one network per test file, state isolation through loadFixture snapshots):
 *
 *   const { ethers, networkHelpers, load } = await createContractFixture();
 *   it("…", async () => { const f = await load(); … });
 */
import { network } from "hardhat";
import { RESTRICTED_FUNCTIONS, ROLES, type RoleName } from "../../sdk/roles.js";
import { encodeLotId, type TransferPolicyName } from "../../sdk/lotId.js";
import { exampleJobSpec } from "../../devkit/exampleJobSpec.js";

/** Launch timeout the token is deployed with, seconds. */
export const LAUNCH_TIMEOUT = 3600;
export const DAY = 86_400;
export const HOUR = 3_600;

/** IComputeToken.Priority */
export const Priority = { Low: 0, Normal: 1, High: 2, Urgent: 3 } as const;
/** IComputeToken.RedemptionStatus */
export const Status = { None: 0, Requested: 1, Running: 2, Settled: 3, Rejected: 4, Reclaimed: 5 } as const;
export const DEFAULT_BPS = { Low: 8000, Normal: 10000, High: 12500, Urgent: 15000 } as const;

export const H100 = {
  id: 1,
  name: "H100-80GB",
  productLabel: "NVIDIA-H100-80GB-HBM3",
  memoryGiB: 80,
  maxGpusPerJob: 8,
} as const;
export const A100 = {
  id: 2,
  name: "A100-80GB",
  productLabel: "NVIDIA-A100-SXM4-80GB",
  memoryGiB: 80,
  maxGpusPerJob: 4,
} as const;

export type RestrictedFunction = (typeof RESTRICTED_FUNCTIONS)[RoleName][number];
const functionsOf = (role: RoleName) => RESTRICTED_FUNCTIONS[role] as readonly RestrictedFunction[];

/** The restricted functions as (role, function) pairs, straight from the role table. */
export const RESTRICTED_ENTRIES: { role: RoleName; fn: RestrictedFunction }[] = (Object.keys(RESTRICTED_FUNCTIONS) as RoleName[]).flatMap((role) =>
  functionsOf(role).map((fn) => ({ role, fn })),
);

/** A job spec as the wallet would send it (UTF-8 JSON). */
export function specBytes(overrides: Record<string, unknown> = {}): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(exampleJobSpec(overrides)));
}

/** The decoded `name` events a contract emitted in a transaction, in log order. */
export function eventsIn(
  receipt: { logs: readonly { topics: readonly string[]; data: string; address: string }[] } | null,
  contract: { interface: import("ethers").Interface; target: unknown },
  name: string,
) {
  if (receipt === null) throw new Error("no receipt");
  return receipt.logs
    .filter((l) => l.address.toLowerCase() === String(contract.target).toLowerCase())
    .map((l) => contract.interface.parseLog({ topics: [...l.topics], data: l.data }))
    .filter((e) => e !== null && e.name === name)
    .map((e) => e!.args);
}

/** Creates this file's network and returns the fixture bound to it. */
export async function createContractFixture() {
  const connection = await network.create();
  const { ethers, networkHelpers } = connection;
  let batchCounter = 0;

  async function deployComputeToken() {
    const [admin, hr, ops, redeemer, pauser, alice, bob, carol, outsider, ...spare] = await ethers.getSigners();
    const gateway = spare.pop()!;

    const manager = await ethers.deployContract("AccessManager", [admin.address], admin);
    const token = await ethers.deployContract("ComputeToken", [await manager.getAddress(), LAUNCH_TIMEOUT], admin);
    const tokenAddress = await token.getAddress();

    const roleHolders = { ADMIN: admin, HR: hr, OPERATIONS: ops, REDEEMER: redeemer, PAUSER: pauser, GATEWAY: gateway } as const;
    for (const role of ["HR", "OPERATIONS", "REDEEMER", "PAUSER", "GATEWAY"] as const) {
      await manager.connect(admin).grantRole(ROLES[role], roleHolders[role].address, 0);
    }
    // The role table is the single source: every restricted selector goes to the role it names.
    for (const role of Object.keys(RESTRICTED_FUNCTIONS) as RoleName[]) {
      const selectors = functionsOf(role).map((fn) => token.interface.getFunction(fn).selector);
      await manager.connect(admin).setTargetFunctionRole(tokenAddress, selectors, ROLES[role]);
    }

    for (const c of [H100, A100]) {
      await token.connect(ops).defineClass(c.name, c.productLabel, c.memoryGiB, c.maxGpusPerJob);
    }
    await token.connect(hr).onboard([alice.address, bob.address, carol.address]);

    const start = await networkHelpers.time.latest();
    /** Expiries relative to the fixture's start: far enough that no test crosses them by accident. */
    // `soon` is past the default refund grace (7 days), so a refund goes back into the lot it came from.
    const expiries = { soon: BigInt(start + 10 * DAY), later: BigInt(start + 30 * DAY), latest: BigInt(start + 90 * DAY) };

    /** A lot id through the SDK codec (tested against the contract's codec separately). */
    const lot = (classId: number, expiresAt: bigint | number, policy: TransferPolicyName = "transferable") => encodeLotId({ classId, expiresAt: BigInt(expiresAt), policy });

    /** A fresh, never-used batch reference. */
    const nextBatchRef = () => ethers.id(`batch-${++batchCounter}-${Date.now()}`);

    /** HR grants `amount` units of `lotId` to each recipient in one batch. */
    async function grant(recipients: { address: string }[] | { address: string }, lotId: bigint, amount: bigint | number) {
      const list = Array.isArray(recipients) ? recipients : [recipients];
      return token.connect(hr).grantBatch(
        nextBatchRef(),
        list.map((r) => r.address),
        list.map(() => lotId),
        list.map(() => BigInt(amount)),
      );
    }

    /** `holder` redeems a job (defaults: H100, 1 GPU for one hour, normal priority, a small spec). */
    function redeem(holder: { address: string }, lotIds: bigint[], opts: { classId?: number; gpus?: number; seconds?: number; priority?: number; spec?: Uint8Array } = {}) {
      const signer = Object.values({ admin, hr, ops, redeemer, pauser, alice, bob, carol, outsider }).find((s) => s.address === holder.address)!;
      return token.connect(signer).redeem(opts.classId ?? H100.id, lotIds, opts.gpus ?? 1, opts.seconds ?? HOUR, opts.priority ?? Priority.Normal, opts.spec ?? specBytes());
    }

    /** The id the next redemption will get. */
    const nextRedemptionId = async () => (await token.redemptionCount()) + 1n;

    return {
      manager,
      token,
      tokenAddress,
      signers: { admin, hr, ops, redeemer, pauser, gateway, alice, bob, carol, outsider, spare },
      roleHolders,
      start,
      expiries,
      lot,
      grant,
      redeem,
      nextBatchRef,
      nextRedemptionId,
    };
  }

  return {
    connection,
    ethers,
    networkHelpers,
    deployComputeToken,
    load: () => networkHelpers.loadFixture(deployComputeToken),
  };
}

export type ContractFixture = Awaited<ReturnType<Awaited<ReturnType<typeof createContractFixture>>["deployComputeToken"]>>;
