/**
 * The checklists. Reverts: every custom error the contract's interface declares (and the library and OpenZeppelin
 * errors it surfaces) must be asserted somewhere in test/contracts/ with
 * `revertedWithCustomError(contract, "Name").withArgs(...)`, i.e. with its exact arguments.
 * Events: every event in the ABI must be asserted with `.to.emit(contract, "Name").withArgs(...)`.
 * Reading the sources and the ABI keeps the lists true when an error or event is added.
 */
import { expect } from "chai";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");

const declaredErrors = (file: string) => [...readFileSync(join(root, file), "utf8").matchAll(/^\s*error\s+(\w+)\s*\(/gm)].map((m) => m[1]);

/** Errors ComputeToken surfaces from what it inherits. */
const INHERITED = [
  "AccessManagedUnauthorized",
  "AccessManagedInvalidAuthority",
  "EnforcedPause",
  "ExpectedPause",
  "ERC1155InsufficientBalance",
  "ERC1155MissingApprovalForAll",
  "ERC1155InvalidReceiver",
  "ERC1155InvalidArrayLength",
];

/** Events no code path emits: operator approvals are disabled and `uri` is computed, never set. */
const UNREACHABLE_EVENTS = ["ApprovalForAll", "URI"];

/** name → "file › test title" for every assertion matching `pattern` (group 1: the name). */
function assertionsOf(pattern: RegExp): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const file of readdirSync(here).filter((f) => f.endsWith(".test.ts") && f !== "checklists.test.ts")) {
    const src = readFileSync(join(here, file), "utf8");
    const titles = [...src.matchAll(/\bit\(\s*[`"]([^`"]+)[`"]/g)].map((m) => ({ at: m.index!, title: m[1] }));
    for (const m of src.matchAll(pattern)) {
      const title = titles.filter((t) => t.at < m.index!).at(-1)?.title ?? "?";
      const list = found.get(m[1]) ?? [];
      const where = `${file} › ${title}`;
      if (!list.includes(where)) list.push(where);
      found.set(m[1], list);
    }
  }
  return found;
}

/** ComputeToken's errors are declared in its interface, as OpenZeppelin 5.x does. */
/** Errors both tokens share are declared once, in contracts/BatchGrants.sol (IBatchErrors), which both interfaces inherit. */
const batchErrors = declaredErrors("contracts/BatchGrants.sol");
const contractErrors = [...declaredErrors("contracts/IComputeToken.sol"), ...batchErrors];
const libraryErrors = declaredErrors("contracts/LotIds.sol");
const checklist = [...contractErrors, ...libraryErrors, ...INHERITED];
const errorsFound = assertionsOf(/revertedWithCustomError\(\s*[\w.]+\s*,\s*"(\w+)"\s*,?\s*\)\s*\.withArgs\(/g);
const eventsFound = assertionsOf(/\.emit\(\s*[\w.]+\s*,\s*"(\w+)"\s*,?\s*\)\s*\.withArgs\(/g);
const abi: { type: string; name: string }[] = JSON.parse(readFileSync(join(root, "artifacts/contracts/ComputeToken.sol/ComputeToken.json"), "utf8")).abi;
const abiEvents = abi.filter((x) => x.type === "event").map((x) => x.name);

describe("ComputeToken — custom error checklist", () => {
  it("reads the interface's error declarations", () => {
    expect(contractErrors.length).to.be.greaterThan(30);
    expect(libraryErrors).to.deep.equal(["InvalidLotId"]);
  });

  for (const name of checklist) {
    it(`asserts ${name} with its exact arguments`, () => {
      const where = errorsFound.get(name) ?? [];
      expect(where, `no revertedWithCustomError(…, "${name}").withArgs(…) in test/contracts`).to.not.be.empty;
    });
  }

  it("covers every error in the ABI", () => {
    const abiErrors = abi.filter((x) => x.type === "error").map((x) => x.name);
    const untested = abiErrors.filter((e) => !errorsFound.has(e));
    // Errors no path of this contract reaches: approvals are disabled (no operator, no approver), a
    // transfer from the zero address fails the approval check first, and OpenZeppelin 5's AccessManaged
    // declares AccessManagedRequiredDelay without using it (a delayed role gets the manager's
    // AccessManagerNotScheduled, asserted in roles.test.ts).
    expect(untested.sort()).to.deep.equal(["AccessManagedRequiredDelay", "ERC1155InvalidApprover", "ERC1155InvalidOperator", "ERC1155InvalidSender"]);
  });
});

describe("ComputeToken — event checklist", () => {
  for (const name of abiEvents.filter((e) => !UNREACHABLE_EVENTS.includes(e))) {
    it(`asserts ${name} with its exact arguments`, () => {
      const where = eventsFound.get(name) ?? [];
      expect(where, `no .to.emit(…, "${name}").withArgs(…) in test/contracts`).to.not.be.empty;
    });
  }
});

// ───────────────────────────── InferenceCredit ─────────────────────────────

/** Errors InferenceCredit surfaces from what it inherits (ERC20, AccessManaged, Pausable). */
const CREDIT_INHERITED = [
  "AccessManagedUnauthorized",
  "AccessManagedInvalidAuthority",
  "EnforcedPause",
  "ExpectedPause",
  "ERC20InsufficientBalance",
  "ERC20InsufficientAllowance",
  "ERC20InvalidReceiver",
  "ERC20InvalidSpender",
];
/** Assertions made against the InferenceCredit contract object (`credit` / `f.credit`). */
const creditErrorsFound = assertionsOf(/revertedWithCustomError\(\s*(?:f\.)?credit\s*,\s*"(\w+)"\s*,?\s*\)\s*\.withArgs\(/g);
const creditEventsFound = assertionsOf(/\.emit\(\s*(?:f\.)?credit\s*,\s*"(\w+)"\s*,?\s*\)\s*\.withArgs\(/g);
const creditErrors = [...declaredErrors("contracts/IInferenceCredit.sol"), ...batchErrors];
const creditAbi: { type: string; name: string }[] = JSON.parse(readFileSync(join(root, "artifacts/contracts/InferenceCredit.sol/InferenceCredit.json"), "utf8")).abi;

describe("InferenceCredit — custom error checklist", () => {
  it("reads the interface's error declarations", () => {
    expect(creditErrors.length).to.be.greaterThan(20);
  });

  for (const name of [...creditErrors, ...CREDIT_INHERITED]) {
    it(`asserts ${name} on InferenceCredit with its exact arguments`, () => {
      const where = creditErrorsFound.get(name) ?? [];
      expect(where, `no revertedWithCustomError(credit, "${name}").withArgs(…) in test/contracts`).to.not.be.empty;
    });
  }

  it("covers every error in the ABI", () => {
    const untested = creditAbi
      .filter((x) => x.type === "error")
      .map((x) => x.name)
      .filter((e) => !creditErrorsFound.has(e));
    // Unreachable: approve/transferFrom always name msg.sender (never the zero address) as approver or
    // spender's owner; a transferFrom from the zero address fails the allowance check first; OpenZeppelin 5's
    // AccessManaged declares AccessManagedRequiredDelay without using it; ECDSA errors cannot surface because
    // signatures go through SignatureChecker (no revert) and a bad one is InvalidAuthorizationSignature.
    expect(untested.sort()).to.deep.equal(["AccessManagedRequiredDelay", "ERC20InvalidApprover", "ERC20InvalidSender", "InvalidShortString", "StringTooLong"]);
  });
});

describe("InferenceCredit — event checklist", () => {
  /** EIP712DomainChanged: the domain is fixed at construction and never changes. */
  const unreachable = ["EIP712DomainChanged"];
  for (const name of creditAbi
    .filter((x) => x.type === "event")
    .map((x) => x.name)
    .filter((e) => !unreachable.includes(e))) {
    it(`asserts ${name} on InferenceCredit with its exact arguments`, () => {
      const where = creditEventsFound.get(name) ?? [];
      expect(where, `no .to.emit(credit, "${name}").withArgs(…) in test/contracts`).to.not.be.empty;
    });
  }
});

export { checklist, errorsFound, eventsFound };
