/**
 * InferenceCredit role boundaries: every restricted function tried by every role and by holders and
 * outsiders, through the AccessManager ComputeToken uses, from the one table in sdk/roles.ts.
 */
import { expect } from "chai";
import type { FunctionFragment, ParamType } from "ethers";
import { ethers as ethersLib } from "ethers";
import { CREDIT_PUBLIC_FUNCTIONS, CREDIT_RESTRICTED_FUNCTIONS, ROLES, type RoleName } from "../../sdk/roles.js";
import { CREDIT_RESTRICTED_ENTRIES, createCreditFixture } from "../support/creditFixture.js";

const { load } = await createCreditFixture();

/** Outside the role table on purpose: setAuthority is the AccessManager's own (see the authority tests). */
const UNTABLED = ["setAuthority"];

/** Plausible arguments for any ABI input (the access check runs before the arguments matter). */
function sampleArg(p: ParamType, someone: string): unknown {
  if (p.baseType === "array") {
    const n = p.arrayLength !== null && p.arrayLength >= 0 ? p.arrayLength : 1;
    return Array.from({ length: n }, () => sampleArg(p.arrayChildren!, someone));
  }
  if (p.baseType === "tuple") return p.components!.map((c) => sampleArg(c, someone));
  if (p.type === "address") return someone;
  if (p.type === "bool") return false;
  if (p.type === "string") return "model";
  if (p.type === "bytes") return "0x01";
  if (p.type.startsWith("bytes")) return ethersLib.zeroPadValue("0x01", Number(p.type.slice(5)));
  if (p.type.startsWith("uint") || p.type.startsWith("int")) return 1n;
  throw new Error(`no sample for ${p.type}`);
}

type Fixture = Awaited<ReturnType<typeof load>>;
const callers = (f: Fixture) => {
  const { admin, hr, ops, redeemer, pauser, gateway, alice, outsider } = f.signers;
  return { ADMIN: admin, HR: hr, OPERATIONS: ops, REDEEMER: redeemer, PAUSER: pauser, GATEWAY: gateway, employee: alice, outsider };
};

describe("InferenceCredit — role boundaries", () => {
  it("has a role-table entry for every state-changing function", async () => {
    const { credit } = await load();
    const mutating = credit.interface.fragments
      .filter((f): f is FunctionFragment => f.type === "function")
      .filter((f) => f.stateMutability !== "view" && f.stateMutability !== "pure")
      .map((f) => f.name)
      .sort();
    const tabled = [...Object.values(CREDIT_RESTRICTED_FUNCTIONS).flat(), ...CREDIT_PUBLIC_FUNCTIONS].sort();
    expect(mutating.filter((n) => !UNTABLED.includes(n))).to.deep.equal(tabled);
  });

  it("wires every restricted selector to its role in the shared AccessManager", async () => {
    const { credit, manager, creditAddress } = await load();
    for (const { role, fn } of CREDIT_RESTRICTED_ENTRIES) {
      const selector = credit.interface.getFunction(fn)!.selector;
      expect(await manager.getTargetFunctionRole(creditAddress, selector), fn).to.equal(ROLES[role]);
    }
    expect(await credit.authority()).to.equal(await manager.getAddress());
  });

  for (const { role, fn } of CREDIT_RESTRICTED_ENTRIES) {
    it(`refuses ${fn} to everyone without the ${role} role: AccessManagedUnauthorized(caller)`, async () => {
      const f = await load();
      const args = f.credit.interface.getFunction(fn)!.inputs.map((p) => sampleArg(p, f.signers.bob.address));
      for (const [name, signer] of Object.entries(callers(f))) {
        if (name === role) continue;
        await expect((f.credit.connect(signer) as typeof f.credit).getFunction(fn)(...args), `${name} calling ${fn}`)
          .to.be.revertedWithCustomError(f.credit, "AccessManagedUnauthorized")
          .withArgs(signer.address);
      }
    });

    it(`lets the ${role} role through the access check of ${fn}`, async () => {
      const f = await load();
      const signer = callers(f)[role];
      const selector = f.credit.interface.getFunction(fn)!.selector;
      expect(await f.manager.canCall(signer.address, f.creditAddress, selector)).to.deep.equal([true, 0n]);
      const args = f.credit.interface.getFunction(fn)!.inputs.map((p) => sampleArg(p, f.signers.bob.address));
      await expect((f.credit.connect(signer) as typeof f.credit).getFunction(fn)(...args)).not.to.be.revertedWithCustomError(f.credit, "AccessManagedUnauthorized");
    });
  }

  it("restricts none of the public functions: an outsider reaches their own checks", async () => {
    const f = await load();
    for (const fn of CREDIT_PUBLIC_FUNCTIONS) {
      const args = f.credit.interface.getFunction(fn)!.inputs.map((p) => sampleArg(p, f.signers.outsider.address));
      await expect((f.credit.connect(f.signers.outsider) as typeof f.credit).getFunction(fn)(...args), fn).not.to.be.revertedWithCustomError(f.credit, "AccessManagedUnauthorized");
    }
  });

  it("gives each role holder exactly the InferenceCredit functions of its role", async () => {
    const { credit, manager, creditAddress, roleHolders } = await load();
    for (const [holderRole, signer] of Object.entries(roleHolders) as [RoleName, (typeof roleHolders)[RoleName]][]) {
      for (const { role, fn } of CREDIT_RESTRICTED_ENTRIES) {
        const [allowed] = await manager.canCall(signer.address, creditAddress, credit.interface.getFunction(fn)!.selector);
        expect(allowed, `${holderRole} → ${fn}`).to.equal(role === holderRole);
      }
    }
  });

  it("shares the AccessManager with ComputeToken: revoking the GATEWAY role stops settlement", async () => {
    const f = await load();
    await f.manager.connect(f.signers.admin).revokeRole(ROLES.GATEWAY, f.signers.gateway.address);
    await expect(f.settle([], [{ holder: f.signers.alice.address, nonce: 1n, amount: 1n }]))
      .to.be.revertedWithCustomError(f.credit, "AccessManagedUnauthorized")
      .withArgs(f.signers.gateway.address);
  });
});
