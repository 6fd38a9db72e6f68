/**
 * The credits SDK (sdk/credits/) against a real anvil: the devnet deployment with config/prices.json,
 * the EIP-712 authorization as the contract hashes it, a settlement through the SDK, event decoding;
 * and the pure parts (units, the charge formula, the price table and authorization files).
 */
import { readFileSync } from "node:fs";
import { expect } from "chai";
import { type Hex, hashTypedData, keccak256, toHex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import {
  AuthorizationFileError,
  authorizationId,
  authorizationTypedData,
  chargeFor,
  creditContract,
  decodeCreditLogs,
  formatCredits,
  grantCredits,
  parseCredits,
  parsePriceTable,
  parseSignedAuthorization,
  PriceTableError,
  readAuthorization,
  readCreditBalance,
  readCreditBuckets,
  readModelPrice,
  readPriceVersion,
  readPriorityFees,
  serializeSignedAuthorization,
  settleUsage,
  verifySignedAuthorization,
  type Authorization,
} from "../../sdk/credits/index.js";
import { InputFormatError } from "../../sdk/format.js";
import { onboardHolders } from "../../sdk/holders.js";
import { LOCAL_PRICES_FILE, localEmployeeKey } from "../../devkit/localAccounts.js";
import { type LocalChain, increaseTime, startLocalChain } from "../../devkit/localChain.js";

describe("credits SDK — units and the charge formula", () => {
  it("parses and formats credits exactly (6 decimals)", () => {
    expect(parseCredits("25")).to.equal(25_000_000n);
    expect(parseCredits("0.000001")).to.equal(1n);
    expect(parseCredits("1.50")).to.equal(1_500_000n);
    expect(formatCredits(1_500_000n)).to.equal("1.5");
    expect(formatCredits(1n)).to.equal("0.000001");
    expect(formatCredits(-2_000_000n)).to.equal("-2");
    expect(() => parseCredits("0.0000001")).to.throw(InputFormatError, "more than 6 decimals");
    expect(() => parseCredits("-1")).to.throw(InputFormatError, "negative");
    expect(() => parseCredits("0")).to.throw(InputFormatError, "not positive");
    expect(parseCredits("0", "fee", { allowZero: true })).to.equal(0n);
    expect(() => parseCredits("abc", "cap")).to.throw(InputFormatError, 'cap "abc" is not a number');
  });

  it("charges ceil(tokens × price / 1M) + request charge + the tier's fee", () => {
    const price = { inputPerMTok: 500_000n, outputPerMTok: 1_500_000n, requestCharge: 1_000n };
    const fees = [0n, 10n, 2_000n, 10_000n];
    // 1000·0.5 + 3·1.5 credits per M = (500_000_000 + 4_500_000)/1e6 = 504.5 → 505 base units
    expect(chargeFor({ inputTokens: 1000, outputTokens: 3, tier: "normal" }, price, fees)).to.equal(505n + 1_000n + 10n);
    expect(chargeFor({ inputTokens: 2, outputTokens: 0, tier: "low" }, price, fees)).to.equal(1n + 1_000n);
    expect(chargeFor({ inputTokens: 0, outputTokens: 0, tier: "urgent" }, price, fees)).to.equal(11_000n);
    expect(() => chargeFor({ inputTokens: 1, outputTokens: 1, tier: "vip" as never }, price, fees)).to.throw('priority "vip"');
  });

  it("reads config/prices.json into base units and rejects a broken one", () => {
    const t = parsePriceTable(JSON.parse(readFileSync(LOCAL_PRICES_FILE, "utf8")));
    expect(t.models.stories260K).to.deep.equal({ inputPerMTok: 500_000n, outputPerMTok: 1_500_000n, requestCharge: 1_000n });
    expect(t.priorityFees).to.deep.equal([0n, 0n, 2_000n, 10_000n]);
    expect(() => parsePriceTable({ models: {}, priorityFees: { low: "0", normal: "0", high: "x", urgent: "0" } })).to.throw(
      PriceTableError,
      'priorityFees.high "x" is not a number',
    );
    expect(() =>
      parsePriceTable({ models: { m: { inputPerMTok: "0", outputPerMTok: "0", requestCharge: "0" } }, priorityFees: { low: "0", normal: "0", high: "0", urgent: "0" } }),
    ).to.throw(PriceTableError, "all prices are zero");
  });
});

describe("credits SDK — on a local chain", function () {
  let chain: LocalChain;
  const holderKey = localEmployeeKey(1);
  const holder = privateKeyToAccount(holderKey);

  before(async () => {
    chain = await startLocalChain({ classes: [] });
    await onboardHolders(chain.hr, [holder.address]);
  });
  after(async () => chain?.stop());

  it("deploys InferenceCredit beside ComputeToken with config/prices.json applied", async () => {
    expect(chain.deployment.inferenceCredit).to.match(/^0x[0-9a-fA-F]{40}$/);
    expect(await readModelPrice(chain.reader, "stories260K")).to.deep.equal({
      inputPerMTok: 500_000n,
      outputPerMTok: 1_500_000n,
      requestCharge: 1_000n,
      listed: true,
    });
    expect(await readPriorityFees(chain.reader)).to.deep.equal([0n, 0n, 2_000n, 10_000n]);
    expect(await readPriceVersion(chain.reader)).to.equal(2n); // one model + the fees
    expect((await readModelPrice(chain.reader, "gpt-none")).listed).to.equal(false);
  });

  it("signs an authorization the contract recognises, settles against it, and decodes the events", async () => {
    const credit = creditContract(chain.reader);
    const now = BigInt((await chain.reader.publicClient.getBlock()).timestamp);
    await grantCredits(chain.hr, {
      batchRef: keccak256(toHex("sdk-credits-1")),
      expiresAt: now + 86_400n,
      transferable: false,
      to: [holder.address],
      amounts: [parseCredits("10")],
    });
    expect(await readCreditBalance(chain.reader, holder.address)).to.equal(10_000_000n);
    const [bucket] = await readCreditBuckets(chain.reader, holder.address, now);
    expect(bucket).to.deep.include({ amount: 10_000_000n, expiresAt: now + 86_400n, transferable: false, expired: false });

    const auth: Authorization = {
      holder: holder.address,
      gateway: chain.gateway.account!.address,
      cap: parseCredits("3"),
      expiresAt: now + 3_600n,
      nonce: 7n,
      models: ["stories260K"],
    };
    const typed = authorizationTypedData(chain.deployment.chainId, credit.address, auth);
    const signature = await holder.signTypedData(typed);
    const onChainDigest = await chain.reader.publicClient.readContract({
      ...credit,
      functionName: "hashAuthorization",
      args: [{ ...auth, models: [...auth.models] }],
    });
    expect(onChainDigest).to.equal(hashTypedData(typed));

    const file = {
      version: 1 as const,
      chainId: chain.deployment.chainId,
      inferenceCredit: credit.address,
      authorizationId: authorizationId(auth.holder, auth.gateway, auth.nonce),
      authorization: auth,
      signature,
    };
    const parsed = parseSignedAuthorization(JSON.parse(serializeSignedAuthorization(file)));
    expect(parsed).to.deep.equal(file);
    expect(await verifySignedAuthorization(parsed)).to.equal(true);
    expect(await verifySignedAuthorization({ ...parsed, authorization: { ...auth, cap: auth.cap + 1n } })).to.equal(false);
    expect(() => parseSignedAuthorization({ ...JSON.parse(serializeSignedAuthorization(file)), authorizationId: `0x${"00".repeat(32)}` })).to.throw(
      AuthorizationFileError,
      "does not match",
    );

    const batchId = keccak256(toHex("usage-1")) as Hex;
    const receipt = await settleUsage(chain.gateway, {
      batchId,
      priceVersion: 2n,
      usageRoot: keccak256(toHex("records")),
      activations: [{ authorization: auth, signature }],
      charges: [
        { holder: holder.address, nonce: 7n, amount: 2_000_000n },
        { holder: holder.address, nonce: 7n, amount: 2_000_000n },
      ],
    });
    const events = decodeCreditLogs(receipt.logs).map((e) => e.eventName);
    expect(events).to.deep.equal(["AuthorizationActivated", "Transfer", "UsageCharged", "Transfer", "UsageCharged", "UsageBatchSettled"]);
    const state = await readAuthorization(chain.reader, file.authorizationId);
    expect(state).to.deep.equal({ cap: 3_000_000n, charged: 3_000_000n, expiresAt: now + 3_600n, status: "active" });
    expect(await readCreditBalance(chain.reader, holder.address)).to.equal(7_000_000n);

    await increaseTime(chain, 2 * 86_400);
    expect(await readCreditBalance(chain.reader, holder.address)).to.equal(0n);
    const later = BigInt((await chain.reader.publicClient.getBlock()).timestamp);
    expect((await readCreditBuckets(chain.reader, holder.address, later))[0].expired).to.equal(true);
  });
});
