/**
 * The credit replay (sdk/credits/audit.ts) on hand-made event sequences: it must flag what the contract
 * promises never happens (a charge over the cap, more than a day after its authorization's end, a batch twice, spending
 * expired credits, totals that do not add up, a usage debt paid or owed otherwise than the contract does), and keep the
 * books of a clean history, usage debts included. Then on a real anvil: a usage debt incurred, paid in part by a
 * grant and in full by a transfer of two parts, replayed and compared with the chain after each step.
 */
import { expect } from "chai";
import { type Address, type Hex, keccak256, type PublicClient, toHex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { authorizationId, authorizationTypedData } from "../../sdk/credits/authorization.js";
import { auditCredits, CreditReplay, shortfallFindings } from "../../sdk/credits/audit.js";
import { creditContract } from "../../sdk/credits/contract.js";
import { type AnyCreditEvent, decodeCreditLogs } from "../../sdk/credits/events.js";
import { readAuthorization, readCreditBalance, readCreditBuckets, readPriceVersion, readUsageDebt } from "../../sdk/credits/reads.js";
import { parseCredits } from "../../sdk/credits/units.js";
import { grantCredits, settleUsage, transferCredits } from "../../sdk/credits/write.js";
import { onboardHolders } from "../../sdk/holders.js";
import { localEmployeeKey } from "../../devkit/localAccounts.js";
import { type LocalChain, startLocalChain } from "../../devkit/localChain.js";

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

const OTHER = "0x976EA74026E726554dB657fA54763abd0C3a0aa9" as Address;
type Row = [string, Record<string, unknown>];

/** A grant row as the contract emits it: the mint, then (the holder in debt) what it paid and its burn. */
const grantRow = (to: Address, amount: bigint, paid?: { amount: bigint; debt: bigint; expiresAt: bigint; transferable: boolean }): Row[] => [
  ["Transfer", { from: ZERO, to, value: amount }],
  ...(paid
    ? ([
        ["UsageDebtPaid", { holder: to, expiresAt: Number(paid.expiresAt), transferable: paid.transferable, amount: paid.amount, debt: paid.debt }],
        ["Transfer", { from: to, to: ZERO, value: paid.amount }],
      ] as Row[])
    : []),
];
const grantTo = (to: Address, amount: bigint, expiresAt: bigint, transferable: boolean, ref: Hex, paid?: { amount: bigint; debt: bigint }) =>
  tx([
    ...grantRow(to, amount, paid && { ...paid, expiresAt, transferable }),
    ["CreditsGranted", { batchRef: ref, operator: GATEWAY, expiresAt: Number(expiresAt), transferable, recipients: 1n, amount }],
  ]);
/** One usage batch of one charge of HOLDER: the burn of what it took, the debt it owes, UsageCharged, UsageBatchSettled. */
const chargeWithDebt = (batchId: Hex, requested: bigint, taken: bigint, owed: bigint, debt: bigint) =>
  tx([
    ...(taken ? ([["Transfer", { from: HOLDER, to: ZERO, value: taken }]] as Row[]) : []),
    ...(owed ? ([["UsageDebtIncurred", { holder: HOLDER, authId, amount: owed, debt }]] as Row[]) : []),
    ["UsageCharged", { batchId, authId, holder: HOLDER, requested, charged: taken }],
    ["UsageBatchSettled", { batchId, gateway: GATEWAY, priceVersion: 0n, usageRoot: "0x00", charges: 1n, requested, charged: taken }],
  ]);
const sendAll = (from: Address, to: Address, parts: [bigint, bigint][], paid: [bigint, bigint, bigint][] = []) =>
  tx([
    ...parts.map(([expiresAt, amount]) => ["BucketTransferred", { from, to, expiresAt: Number(expiresAt), amount }] as Row),
    ["Transfer", { from, to, value: parts.reduce((s, p) => s + p[1], 0n) }],
    ...paid.flatMap(
      ([expiresAt, amount, debt]) =>
        [
          ["UsageDebtPaid", { holder: to, expiresAt: Number(expiresAt), transferable: true, amount, debt }],
          ["Transfer", { from: to, to: ZERO, value: amount }],
        ] as Row[],
    ),
  ]);

describe("credit replay (audit): usage debt", () => {
  const E = T0 + 30n * DAY;

  it("owes what a charge no longer finds (counted against the cap), and has the credits that arrive next pay it first, across a transfer's parts", () => {
    const r = new CreditReplay();
    r.applyTransaction(grantTo(HOLDER, 10n, E, true, "0xa1"), T0);
    r.applyTransaction(activate(20n), T0);
    r.applyTransaction(sendAll(HOLDER, OTHER, [[E, 8n]]), T0 + 1n);
    // 5 asked; 2 left to take; 3 owed.
    r.applyTransaction(chargeWithDebt("0xb1", 5n, 2n, 3n, 3n), T0 + 2n);
    expect(r.findings).to.deep.equal([]);
    expect(r.debtOf(HOLDER)).to.equal(3n);
    expect(r.authorizations.get(authId)?.charged).to.equal(5n);
    expect(r.buckets.get(HOLDER)).to.deep.equal([]);
    // A soulbound grant of 1 pays 1: nothing is deposited, 2 still owed.
    r.applyTransaction(grantTo(HOLDER, 1n, E + DAY, false, "0xa2", { amount: 1n, debt: 2n }), T0 + 3n);
    expect([r.findings, r.debtOf(HOLDER), r.buckets.get(HOLDER)]).to.deep.equal([[], 2n, []]);
    // A transfer of two parts (1 expiring sooner, then 3): each pays what is still owed, and says what it left owed.
    r.applyTransaction(grantTo(OTHER, 1n, E - DAY, true, "0xa3"), T0 + 4n);
    r.applyTransaction(
      sendAll(
        OTHER,
        HOLDER,
        [
          [E - DAY, 1n],
          [E, 3n],
        ],
        [
          [E - DAY, 1n, 1n],
          [E, 1n, 0n],
        ],
      ),
      T0 + 5n,
    );
    expect(r.findings).to.deep.equal([]);
    expect(r.debtOf(HOLDER)).to.equal(0n);
    expect(r.buckets.get(HOLDER)).to.deep.equal([{ amount: 2n, expiresAt: E, transferable: true }]);
    expect(r.liveSupply()).to.equal(2n + 5n);
    // Paid debt is usage spent; what is owed nets to 0. spent + owed = what the authorization charged.
    expect(r.perHolder.get(HOLDER)).to.deep.include({ granted: 11n, spent: 5n, owed: 0n, transferredOut: 8n, transferredIn: 4n });
    expect(r.totals).to.deep.include({ spent: 5n, owed: 0n });
    expect(r.movements.filter((m) => m.note === "debt for usage served before").map((m) => [m.kind, m.amount, m.expiresAt])).to.deep.equal([
      ["spent", 1n, E + DAY],
      ["spent", 1n, E - DAY],
      ["spent", 1n, E],
    ]);
  });

  it("shows the debt still owed per holder and in total (owed), and as a month's change", () => {
    const r = new CreditReplay();
    r.applyTransaction(activate(20n), T0);
    r.applyTransaction(chargeWithDebt("0xb1", 4n, 0n, 4n, 4n), T0 + 1n);
    r.applyTransaction(grantTo(HOLDER, 1n, T0 + 40n * DAY, false, "0xa1", { amount: 1n, debt: 3n }), T0 + 40n * DAY - 1n);
    expect(r.findings).to.deep.equal([]);
    expect(r.perHolder.get(HOLDER)).to.deep.include({ spent: 1n, owed: 3n });
    expect([...r.perMonth.values()].map((m) => m.owed)).to.deep.equal([4n, -1n]);
  });

  it("flags a charge of one holder under another's authorization, or in another gateway's batch", () => {
    const r = new CreditReplay();
    r.applyTransaction(activate(100n), T0);
    r.applyTransaction(
      tx([
        ["UsageDebtIncurred", { holder: OTHER, authId, amount: 50n, debt: 50n }],
        ["UsageCharged", { batchId: "0xb1", authId, holder: OTHER, requested: 50n, charged: 0n }],
        ["UsageBatchSettled", { batchId: "0xb1", gateway: OTHER, priceVersion: 0n, usageRoot: "0x00", charges: 1n, requested: 50n, charged: 0n }],
      ]),
      T0 + 1n,
    );
    expect(r.findings.map((f) => f.message)).to.deep.equal([
      `charge of ${OTHER} under ${authId}, the authorization of ${HOLDER}`,
      `charge under ${authId} (for gateway ${GATEWAY}) in a batch settled by ${OTHER}`,
    ]);
  });

  it("flags a charge neither taken nor owed in full within its cap and grace unless its holder was off the allow-list then", async () => {
    const r = new CreditReplay();
    r.applyTransaction(activate(30n), T0);
    // 50 asked, 30 left under the cap: 10 taken, 20 owed — due in full, nothing short
    r.applyTransaction(chargeWithDebt("0xb1", 50n, 10n, 20n, 20n), T0 + 1n);
    expect(r.shortfalls).to.deep.equal([]);
    const r2 = new CreditReplay();
    r2.applyTransaction(grant(10n, E), T0);
    r2.applyTransaction(activate(30n), T0);
    // what the contract did before usage debt: 20 of the 30 due forgiven
    const forgiven = settle("0xb2", [[50n, 10n]]);
    r2.applyTransaction(forgiven, T0 + 1n);
    expect(r2.findings).to.deep.equal([]);
    expect(r2.shortfalls.map((s) => [s.holder, s.missing, s.blockNumber])).to.deep.equal([[HOLDER, 20n, forgiven[0].blockNumber]]);
    // allow-listed before and at the batch's block: a finding; offboarded at either: none
    expect((await shortfallFindings(r2, async () => true)).map((f) => f.message)).to.deep.equal([
      `charge of ${HOLDER} under ${authId} took and owed 20 less than it asked within the authorization's cap and grace, the holder being allow-listed`,
    ]);
    expect(await shortfallFindings(r2, async (_h, block) => block !== forgiven[0].blockNumber)).to.deep.equal([]);
    // past the grace nothing is due
    const r3 = new CreditReplay();
    r3.applyTransaction(activate(30n), T0);
    r3.applyTransaction(settle("0xb3", [[50n, 0n]]), T0 + 11n * DAY);
    expect(r3.shortfalls).to.deep.equal([]);
  });

  it("flags a payment larger than the debt", () => {
    const r = new CreditReplay();
    r.applyTransaction(activate(20n), T0);
    r.applyTransaction(chargeWithDebt("0xb1", 3n, 0n, 3n, 3n), T0 + 1n);
    expect(r.findings).to.deep.equal([]);
    r.applyTransaction(grantTo(HOLDER, 5n, E, false, "0xa1", { amount: 5n, debt: 0n }), T0 + 2n);
    expect(r.findings.map((f) => [f.code, f.message])).to.deep.equal([["debt-paid", `${HOLDER}: paid 5 of a usage debt of 3 (more than it owed)`]]);
    expect(r.debtOf(HOLDER)).to.equal(0n);
  });

  it("flags a debt figure that is not the replay's, credits that arrive while owing and pay nothing, a payment not burnt, and a debt owed while credits were left", () => {
    const wrongDebt = new CreditReplay();
    wrongDebt.applyTransaction(activate(20n), T0);
    wrongDebt.applyTransaction(chargeWithDebt("0xb1", 3n, 0n, 3n, 4n), T0 + 1n);
    wrongDebt.applyTransaction(grantTo(HOLDER, 1n, E, false, "0xa1", { amount: 1n, debt: 3n }), T0 + 2n);
    expect(wrongDebt.findings.map((f) => f.message)).to.deep.equal([
      `${HOLDER}: usage debt after owing 3 under ${authId} is 4 on chain, 3 replayed`,
      `${HOLDER}: usage debt after paying 1 is 3 on chain, 2 replayed`,
    ]);

    const forgiven = new CreditReplay();
    forgiven.applyTransaction(activate(20n), T0);
    forgiven.applyTransaction(chargeWithDebt("0xb1", 3n, 0n, 3n, 3n), T0 + 1n);
    forgiven.applyTransaction(grantTo(HOLDER, 5n, E, false, "0xa1"), T0 + 2n);
    expect(forgiven.findings.map((f) => f.message)).to.deep.equal([
      `${HOLDER}: 5 arrived in the soulbound bucket expiring ${E} while it owed, and paid none of it (the replay has it pay 3)`,
    ]);

    const unburnt = new CreditReplay();
    unburnt.applyTransaction(activate(20n), T0);
    unburnt.applyTransaction(chargeWithDebt("0xb1", 3n, 0n, 3n, 3n), T0 + 1n);
    unburnt.applyTransaction(
      tx([
        ["Transfer", { from: ZERO, to: HOLDER, value: 1n }],
        ["UsageDebtPaid", { holder: HOLDER, expiresAt: Number(E), transferable: false, amount: 1n, debt: 2n }],
        ["CreditsGranted", { batchRef: "0xa1", operator: GATEWAY, expiresAt: Number(E), transferable: false, recipients: 1n, amount: 1n }],
      ]),
      T0 + 2n,
    );
    expect(unburnt.findings.map((f) => f.message)).to.deep.equal([`${HOLDER}: the 1 paid of its usage debt is not burnt next (Transfer to the zero address)`]);

    // The charge took 2 of the 10 held, and said the other 3 were owed.
    const owedWhileHeld = new CreditReplay();
    owedWhileHeld.applyTransaction(grantTo(HOLDER, 10n, E, false, "0xa1"), T0);
    owedWhileHeld.applyTransaction(activate(4n), T0);
    owedWhileHeld.applyTransaction(chargeWithDebt("0xb1", 5n, 2n, 3n, 3n), T0 + 1n);
    expect(owedWhileHeld.findings.map((f) => f.code)).to.deep.equal(["cap", "debt"]);
    expect(owedWhileHeld.findings[0].message).to.equal(`authorization ${authId} of ${HOLDER} charged 5, over its cap of 4`);
    expect(owedWhileHeld.findings[1].message).to.equal(`${HOLDER}: owed 3 under ${authId} while the replay still holds 8 unexpired credits`);
  });
});

describe("credit audit: a usage debt on a local chain", function () {
  this.timeout(120_000);
  let chain: LocalChain;
  const [a, b, c] = [0, 1, 2].map((i) => privateKeyToAccount(localEmployeeKey(i)));
  const units = (text: string) => parseCredits(text);
  const names = (receipt: { logs: Parameters<typeof decodeCreditLogs>[0] }) => decodeCreditLogs(receipt.logs).map((e) => e.eventName);

  before(async () => {
    chain = await startLocalChain({ classes: [] });
    await onboardHolders(chain.hr, [a.address, b.address, c.address]);
  });
  after(async () => chain?.stop());

  const audit = async (toBlock?: bigint) =>
    auditCredits({
      client: chain.reader.publicClient as PublicClient,
      inferenceCredit: chain.deployment.inferenceCredit!,
      chainId: chain.deployment.chainId,
      fromBlock: BigInt(chain.deployment.deployBlock),
      toBlock: toBlock ?? (await chain.reader.publicClient.getBlockNumber()),
      compare: true,
    });

  it("replays a debt incurred after the credits moved out, paid in part by a grant and in full by a transfer in two parts, and compares equal with the chain", async () => {
    const credit = chain.deployment.inferenceCredit!;
    const now = (await chain.reader.publicClient.getBlock()).timestamp;
    const [soon, later, latest] = [now + 20n * 86_400n, now + 30n * 86_400n, now + 60n * 86_400n];
    await grantCredits(chain.hr, { batchRef: keccak256(toHex("debt-a")), expiresAt: later, transferable: true, to: [a.address], amounts: [units("10")] });
    const authorize = async (who: typeof a, cap: string) => {
      const auth = { holder: who.address, gateway: chain.gateway.account!.address, cap: units(cap), expiresAt: now + 10n * 86_400n, nonce: 1n, models: [] as string[] };
      return { authorization: auth, signature: await who.signTypedData(authorizationTypedData(chain.deployment.chainId, credit, auth)) };
    };
    const [authA, authC] = [await authorize(a, "6"), await authorize(c, "1")];
    const priceVersion = await readPriceVersion(chain.reader);
    let batch = 0;
    const settle = (activations: (typeof authA)[], charges: { holder: Address; amount: bigint }[]) =>
      settleUsage(chain.gateway, {
        batchId: keccak256(toHex(`debt-usage-${++batch}`)),
        priceVersion,
        usageRoot: keccak256(toHex("records")),
        activations,
        charges: charges.map((x) => ({ ...x, nonce: 1n })),
      });
    await settle([authA], [{ holder: a.address, amount: units("1") }]);
    // The holder gives 8.5 away before the gateway's next batch lands: 0.5 is left to take of 3, 2.5 is owed.
    // Holder c never had credits: all it is charged is owed.
    await transferCredits(chain.employee(0), b.address, units("8.5"));
    const owing = await settle(
      [authC],
      [
        { holder: a.address, amount: units("3") },
        { holder: c.address, amount: units("0.002102") },
      ],
    );
    expect(names(owing)).to.deep.equal(["AuthorizationActivated", "Transfer", "UsageDebtIncurred", "UsageCharged", "UsageDebtIncurred", "UsageCharged", "UsageBatchSettled"]);
    expect([await readUsageDebt(chain.reader, a.address), await readUsageDebt(chain.reader, c.address)]).to.deep.equal([units("2.5"), units("0.002102")]);
    const idA = authorizationId(a.address, chain.gateway.account!.address, 1n);
    expect((await readAuthorization(chain.reader, idA)).charged).to.equal(units("4"));

    // A soulbound grant of 1 pays 1 of the 2.5.
    const partly = await grantCredits(chain.hr, { batchRef: keccak256(toHex("debt-a-2")), expiresAt: latest, transferable: false, to: [a.address], amounts: [units("1")] });
    expect(names(partly)).to.deep.equal(["Transfer", "UsageDebtPaid", "Transfer", "CreditsGranted"]);
    expect(await readUsageDebt(chain.reader, a.address)).to.equal(units("1.5"));
    const half = await audit(partly.blockNumber);
    expect(half.findings).to.deep.equal([]);
    expect(half.replay.debtOf(a.address)).to.equal(units("1.5"));
    expect(half.replay.buckets.get(a.address)).to.deep.equal([]);
    expect(half.holdersCompared).to.equal(3);

    // b sends 2 back from two buckets (0.7 expiring sooner, then 1.3): 0.7 + 0.8 pay the rest, 0.5 is deposited.
    await grantCredits(chain.hr, { batchRef: keccak256(toHex("debt-b")), expiresAt: soon, transferable: true, to: [b.address], amounts: [units("0.7")] });
    const back = await transferCredits(chain.employee(1), a.address, units("2"));
    expect(names(back)).to.deep.equal(["BucketTransferred", "BucketTransferred", "Transfer", "UsageDebtPaid", "Transfer", "UsageDebtPaid", "Transfer"]);
    const paid = decodeCreditLogs(back.logs).flatMap((e) => (e.eventName === "UsageDebtPaid" ? [[e.args.amount, e.args.debt]] : []));
    expect(paid).to.deep.equal([
      [units("0.7"), units("0.8")],
      [units("0.8"), 0n],
    ]);
    expect(await readUsageDebt(chain.reader, a.address)).to.equal(0n);
    expect(await readCreditBalance(chain.reader, a.address)).to.equal(units("0.5"));
    expect(await readCreditBuckets(chain.reader, a.address, now)).to.deep.equal([{ amount: units("0.5"), expiresAt: later, transferable: true, expired: false }]);

    const full = await audit();
    expect(full.findings).to.deep.equal([]);
    expect(full.holdersCompared).to.equal(3);
    expect(full.authorizationsCompared).to.equal(2);
    const r = full.replay;
    expect([r.debtOf(a.address), r.debtOf(c.address)]).to.deep.equal([0n, units("0.002102")]);
    expect(r.authorizations.get(idA)?.charged).to.equal(units("4"));
    const supply = await chain.reader.publicClient.readContract({ ...creditContract(chain.reader), functionName: "totalSupply" });
    expect(r.liveSupply()).to.equal(supply);
    // a: 1 + 0.5 taken by charges, 1 + 0.7 + 0.8 paid from arriving credits; nothing owed. c owes all it was charged.
    expect(r.perHolder.get(a.address)).to.deep.include({ granted: units("11"), spent: units("4"), owed: 0n, transferredOut: units("8.5"), transferredIn: units("2") });
    expect(r.perHolder.get(c.address)).to.deep.include({ spent: 0n, owed: units("0.002102") });
    expect(r.totals.owed).to.equal(units("0.002102"));
  });
});
