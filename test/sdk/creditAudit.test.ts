/**
 * The credit replay (sdk/credits/audit.ts) on hand-made event sequences: it must flag what the contract
 * promises never happens (a charge over the cap, more than a day after its authorization's end, a batch twice, spending
 * expired credits, totals that do not add up), and keep the books of a clean history.
 */
import { expect } from "chai";
import type { Address, Hex } from "viem";
import { authorizationId } from "../../sdk/credits/authorization.js";
import { CreditReplay } from "../../sdk/credits/audit.js";
import type { AnyCreditEvent } from "../../sdk/credits/events.js";

const ZERO = "0x0000000000000000000000000000000000000000" as Address;
const HOLDER = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc" as Address;
const GATEWAY = "0xBcd4042DE499D14e55001CcbB24a551F3b954096" as Address;
const T0 = 1_900_000_000n;
const DAY = 86_400n;
let txn = 0;

function tx(events: [string, Record<string, unknown>][]): AnyCreditEvent[] {
  const hash = `0x${(++txn).toString(16).padStart(64, "0")}` as Hex;
  return events.map(([eventName, args], i) => ({ eventName, args, blockNumber: BigInt(txn), transactionHash: hash, logIndex: i }) as unknown as AnyCreditEvent);
}

const grant = (amount: bigint, expiresAt: bigint, ref: Hex = "0x01") =>
  tx([
    ["Transfer", { from: ZERO, to: HOLDER, value: amount }],
    ["CreditsGranted", { batchRef: ref, operator: GATEWAY, expiresAt: Number(expiresAt), transferable: false, recipients: 1n, amount }],
  ]);
const authId = authorizationId(HOLDER, GATEWAY, 1n);
const activate = (cap: bigint) => tx([["AuthorizationActivated", { authId, holder: HOLDER, gateway: GATEWAY, cap, expiresAt: Number(T0 + 10n * DAY), nonce: 1n, models: [] }]]);
const settle = (batchId: Hex, charges: [bigint, bigint][], summary?: [bigint, bigint, bigint]) =>
  tx([
    ...charges.map(([requested, charged]) => ["UsageCharged", { batchId, authId, holder: HOLDER, requested, charged }] as [string, Record<string, unknown>]),
    [
      "UsageBatchSettled",
      {
        batchId,
        gateway: GATEWAY,
        priceVersion: 0n,
        usageRoot: "0x00",
        charges: summary?.[0] ?? BigInt(charges.length),
        requested: summary?.[1] ?? charges.reduce((s, c) => s + c[0], 0n),
        charged: summary?.[2] ?? charges.reduce((s, c) => s + c[1], 0n),
      },
    ],
  ]);

describe("credit replay (audit)", () => {
  it("keeps the books of a clean history: granted = live + spent", () => {
    const r = new CreditReplay();
    r.applyTransaction(grant(10n, T0 + 5n * DAY), T0);
    r.applyTransaction(activate(4n), T0);
    r.applyTransaction(settle("0xb1", [[3n, 3n]]), T0 + 1n);
    expect(r.findings).to.deep.equal([]);
    expect(r.totals).to.deep.include({ granted: 10n, spent: 3n });
    expect(r.liveSupply()).to.equal(7n);
    expect(r.authorizations.get(authId)?.charged).to.equal(3n);
  });

  it("flags a charge over the authorization's cap", () => {
    const r = new CreditReplay();
    r.applyTransaction(grant(10n, T0 + 5n * DAY), T0);
    r.applyTransaction(activate(4n), T0);
    r.applyTransaction(
      settle("0xb1", [
        [3n, 3n],
        [3n, 3n],
      ]),
      T0 + 1n,
    );
    expect(r.findings.map((f) => f.code)).to.deep.equal(["cap"]);
  });

  it("flags a charge under an unknown authorization, or more than a day after its revocation, and a usage batch settled twice", () => {
    const r = new CreditReplay();
    r.applyTransaction(grant(10n, T0 + 5n * DAY), T0);
    r.applyTransaction(settle("0xb1", [[1n, 1n]]), T0 + 1n);
    r.applyTransaction(activate(4n), T0 + 2n);
    const revoke = tx([["AuthorizationRevoked", { authId, holder: HOLDER, gateway: GATEWAY, nonce: 1n }]]);
    r.applyTransaction(revoke, T0 + 3n);
    expect(r.authorizations.get(authId)).to.include({ status: "revoked", expiresAt: T0 + 3n });
    // Usage served before the revocation, settled after it: within the grace, no finding.
    r.applyTransaction(settle("0xb2", [[1n, 1n]]), T0 + 3n + DAY - 1n);
    r.applyTransaction(settle("0xb3", [[1n, 1n]]), T0 + 3n + DAY);
    r.applyTransaction(settle("0xb3", [[1n, 0n]]), T0 + 3n + DAY);
    expect(r.findings.map((f) => f.code)).to.deep.equal(["charge", "charge", "usage-batch"]);
    expect(r.findings[1].message).to.match(/more than 86400 s after it was revoked or expired/);
  });

  it("keeps an authorization revoked before its first batch revoked when the batch activates it, ending at the revocation", () => {
    const r = new CreditReplay();
    r.applyTransaction(grant(10n, T0 + 5n * DAY), T0);
    r.applyTransaction(tx([["AuthorizationRevoked", { authId, holder: HOLDER, gateway: GATEWAY, nonce: 1n }]]), T0 + 1n);
    const activated = (expiresAt: bigint) =>
      tx([["AuthorizationActivated", { authId, holder: HOLDER, gateway: GATEWAY, cap: 4n, expiresAt: Number(expiresAt), nonce: 1n, models: [] }]]);
    r.applyTransaction(activated(T0 + 1n), T0 + 2n);
    r.applyTransaction(settle("0xb1", [[2n, 2n]]), T0 + 2n);
    expect(r.findings).to.deep.equal([]);
    expect(r.authorizations.get(authId)).to.include({ status: "revoked", cap: 4n, charged: 2n, expiresAt: T0 + 1n });
    // Activated again, or (before) to end after its revocation: findings.
    r.applyTransaction(activated(T0 + 1n), T0 + 3n);
    const other = new CreditReplay();
    other.applyTransaction(tx([["AuthorizationRevoked", { authId, holder: HOLDER, gateway: GATEWAY, nonce: 1n }]]), T0 + 1n);
    other.applyTransaction(activated(T0 + 10n * DAY), T0 + 2n);
    expect([r.findings.map((f) => f.message), other.findings.map((f) => f.message)]).to.deep.equal([
      [`authorization ${authId} (nonce 1 of ${HOLDER}) activated twice`],
      [`authorization ${authId} activated after its revocation to end at ${T0 + 10n * DAY}, after the revocation (${T0 + 1n})`],
    ]);
  });

  it("flags spending from expired buckets and a batch summary that does not add up", () => {
    const r = new CreditReplay();
    r.applyTransaction(grant(10n, T0 + DAY), T0);
    r.applyTransaction(activate(100n), T0);
    r.applyTransaction(settle("0xb1", [[2n, 2n]], [1n, 2n, 5n]), T0 + 2n * DAY);
    expect(r.findings.map((f) => f.code)).to.deep.equal(["charge", "usage-batch"]);
  });

  it("flags a grant batch landing twice and an activation without a valid signature", () => {
    const r = new CreditReplay();
    r.applyTransaction(grant(1n, T0 + DAY, "0xaa"), T0);
    r.applyTransaction(grant(1n, T0 + DAY, "0xaa"), T0);
    r.applyTransaction(activate(1n), T0, new Set());
    expect(r.findings.map((f) => f.code)).to.deep.equal(["grant-batch", "signature"]);
  });
});
