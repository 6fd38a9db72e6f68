/**
 * The credit replay (sdk/credits/audit.ts) on hand-made event sequences: it must flag what the contract
 * promises never happens (a charge over the cap, under a revoked authorization, a batch twice, spending
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

  it("flags a charge under a revoked or unknown authorization, and a usage batch settled twice", () => {
    const r = new CreditReplay();
    r.applyTransaction(grant(10n, T0 + 5n * DAY), T0);
    r.applyTransaction(settle("0xb1", [[1n, 1n]]), T0 + 1n);
    r.applyTransaction(activate(4n), T0 + 2n);
    r.applyTransaction(tx([["AuthorizationRevoked", { authId, holder: HOLDER, gateway: GATEWAY, nonce: 1n }]]), T0 + 3n);
    r.applyTransaction(settle("0xb2", [[1n, 1n]]), T0 + 4n);
    r.applyTransaction(settle("0xb2", [[1n, 0n]]), T0 + 5n);
    expect(r.findings.map((f) => f.code)).to.deep.equal(["charge", "charge", "usage-batch"]);
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
