import { expect } from "chai";
import type { FunctionFragment, ParamType } from "ethers";
import { ethers as ethersLib } from "ethers";
import { PUBLIC_FUNCTIONS, RESTRICTED_FUNCTIONS, ROLES, type RoleName } from "../../sdk/roles.js";
import { RESTRICTED_ENTRIES, createContractFixture } from "../support/contractFixture.js";

const { ethers, networkHelpers, load } = await createContractFixture();

/** Functions outside the role table on purpose: approvals are disabled, setAuthority is the manager's own. */
const UNTABLED = ["setApprovalForAll", "setAuthority"];

/** Plausible arguments for any ABI input (the access check runs before the arguments matter). */
function sampleArg(p: ParamType, someone: string): unknown {
  if (p.baseType === "array") return [sampleArg(p.arrayChildren!, someone)];
  if (p.baseType === "tuple") return p.components!.map((c) => sampleArg(c, someone));
  if (p.type === "address") return someone;
  if (p.type === "bool") return false;
  if (p.type === "string") return "X-80GB";
  if (p.type === "bytes") return "0x01";
  if (p.type.startsWith("bytes")) return ethersLib.zeroPadValue("0x01", Number(p.type.slice(5)));
  if (p.type.startsWith("uint") || p.type.startsWith("int")) return 1n;
  throw new Error(`no sample for ${p.type}`);
}
const sampleArgs = (f: FunctionFragment, someone: string) => f.inputs.map((p) => sampleArg(p, someone));

type Fixture = Awaited<ReturnType<typeof load>>;
const callers = (f: Fixture) => {
  const { admin, hr, ops, redeemer, pauser, gateway, alice, outsider } = f.signers;
  return { ADMIN: admin, HR: hr, OPERATIONS: ops, REDEEMER: redeemer, PAUSER: pauser, GATEWAY: gateway, employee: alice, outsider };
};

describe("ComputeToken — role boundaries", () => {
  it("has a role-table entry for every state-changing function", async () => {
    const { token } = await load();
    const mutating = token.interface.fragments
      .filter((f): f is FunctionFragment => f.type === "function")
      .filter((f) => f.stateMutability !== "view" && f.stateMutability !== "pure")
      .map((f) => f.name)
      .sort();
    const tabled = [...Object.values(RESTRICTED_FUNCTIONS).flat(), ...PUBLIC_FUNCTIONS].sort();
    expect(mutating.filter((n) => !UNTABLED.includes(n))).to.deep.equal(tabled);
  });

  it("wires every restricted selector to its role in the AccessManager", async () => {
    const { token, manager, tokenAddress } = await load();
    for (const { role, fn } of RESTRICTED_ENTRIES) {
      const selector = token.interface.getFunction(fn)!.selector;
      expect(await manager.getTargetFunctionRole(tokenAddress, selector), fn).to.equal(ROLES[role]);
    }
  });

  for (const { role, fn } of RESTRICTED_ENTRIES) {
    it(`refuses ${fn} to everyone without the ${role} role: AccessManagedUnauthorized(caller)`, async () => {
      const f = await load();
      const fragment = f.token.interface.getFunction(fn)!;
      const args = sampleArgs(fragment, f.signers.bob.address);
      for (const [name, signer] of Object.entries(callers(f))) {
        if (name === role) continue;
        await expect((f.token.connect(signer) as typeof f.token).getFunction(fn)(...args), `${name} calling ${fn}`)
          .to.be.revertedWithCustomError(f.token, "AccessManagedUnauthorized")
          .withArgs(signer.address);
      }
    });

    it(`lets the ${role} role through the access check of ${fn}`, async () => {
      const f = await load();
      const signer = callers(f)[role];
      const selector = f.token.interface.getFunction(fn)!.selector;
      expect(await f.manager.canCall(signer.address, f.tokenAddress, selector)).to.deep.equal([true, 0n]);
      const args = sampleArgs(f.token.interface.getFunction(fn)!, f.signers.bob.address);
      // The call may still fail the function's own checks, never the access check.
      await expect((f.token.connect(signer) as typeof f.token).getFunction(fn)(...args)).not.to.be.revertedWithCustomError(f.token, "AccessManagedUnauthorized");
    });
  }

  // (AccessManager.canCall says false for these: unwired selectors default to ADMIN_ROLE. It does
  // not matter because the functions carry no `restricted` modifier, which is what this proves.)
  it("restricts none of the public functions: an outsider reaches their own checks", async () => {
    const f = await load();
    for (const fn of PUBLIC_FUNCTIONS) {
      const fragment = f.token.interface.getFunction(fn)!;
      const args = sampleArgs(fragment, f.signers.outsider.address);
      await expect((f.token.connect(f.signers.outsider) as typeof f.token).getFunction(fn)(...args), fn).not.to.be.revertedWithCustomError(f.token, "AccessManagedUnauthorized");
    }
  });

  it("lets only the AccessManager itself change the authority: AccessManagedUnauthorized", async () => {
    const { token, signers } = await load();
    for (const s of [signers.admin, signers.hr, signers.outsider]) {
      await expect(token.connect(s).setAuthority(s.address)).to.be.revertedWithCustomError(token, "AccessManagedUnauthorized").withArgs(s.address);
    }
  });

  it("moves to a new authority only through the current AccessManager, emitting AuthorityUpdated", async () => {
    const { token, manager, tokenAddress, signers } = await load();
    const next = await ethers.deployContract("AccessManager", [signers.admin.address]);
    const nextAddress = await next.getAddress();
    await expect(manager.connect(signers.admin).updateAuthority(tokenAddress, nextAddress)).to.emit(token, "AuthorityUpdated").withArgs(nextAddress);
    expect(await token.authority()).to.equal(nextAddress);
    // The old role wiring no longer applies: under the new manager every selector is admin-only.
    await expect(token.connect(signers.pauser).pause()).to.be.revertedWithCustomError(token, "AccessManagedUnauthorized").withArgs(signers.pauser.address);
  });

  it("refuses an authority that is not a contract: AccessManagedInvalidAuthority", async () => {
    const { token, manager, tokenAddress, signers } = await load();
    await expect(manager.connect(signers.admin).updateAuthority(tokenAddress, signers.outsider.address))
      .to.be.revertedWithCustomError(token, "AccessManagedInvalidAuthority")
      .withArgs(signers.outsider.address);
  });

  it("makes a role granted with an execution delay schedule first, then lets the scheduled call through", async () => {
    const { token, manager, tokenAddress, signers } = await load();
    const delayed = signers.spare[1];
    await manager.connect(signers.admin).grantRole(ROLES.PAUSER, delayed.address, 600);
    const data = token.interface.encodeFunctionData("pause");
    const opId = await manager.hashOperation(delayed.address, tokenAddress, data);
    await expect(token.connect(delayed).pause()).to.be.revertedWithCustomError(manager, "AccessManagerNotScheduled").withArgs(opId);
    await manager.connect(delayed).schedule(tokenAddress, data, 0);
    await networkHelpers.time.increase(600);
    await expect(token.connect(delayed).pause()).to.emit(token, "Paused").withArgs(delayed.address);
  });

  it("takes access away when a role is revoked", async () => {
    const { token, manager, signers } = await load();
    await manager.connect(signers.admin).revokeRole(ROLES.PAUSER, signers.pauser.address);
    await expect(token.connect(signers.pauser).pause()).to.be.revertedWithCustomError(token, "AccessManagedUnauthorized").withArgs(signers.pauser.address);
  });

  it("gives access to a newly granted account", async () => {
    const { token, manager, signers } = await load();
    const newHr = signers.spare[0];
    await manager.connect(signers.admin).grantRole(ROLES.HR, newHr.address, 0);
    await expect(token.connect(newHr).onboard([newHr.address]))
      .to.emit(token, "HolderOnboarded")
      .withArgs(newHr.address);
  });

  it("gives each role holder exactly the functions of its role", async () => {
    const { token, manager, tokenAddress, roleHolders } = await load();
    for (const [holderRole, signer] of Object.entries(roleHolders) as [RoleName, (typeof roleHolders)[RoleName]][]) {
      for (const { role, fn } of RESTRICTED_ENTRIES) {
        const [allowed] = await manager.canCall(signer.address, tokenAddress, token.interface.getFunction(fn)!.selector);
        expect(allowed, `${holderRole} → ${fn}`).to.equal(role === holderRole);
      }
    }
  });
});
