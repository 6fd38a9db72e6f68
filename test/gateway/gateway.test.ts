/**
 * The gateway end to end: a real anvil with InferenceCredit, the real llama.cpp model behind the
 * embedded upstream, the official `openai` client, keys from signed authorizations, charges that
 * agree with the on-chain prices to the base unit, settlement on-chain, bad input, revocation and
 * offboarding.
 */
import { expect } from "chai";
import OpenAI from "openai";
import { type Address, getAddress } from "viem";
import { chargeFor } from "../../sdk/credits/price.js";
import { readCreditBalance, readModelPrice, readPriorityFees, readAuthorization } from "../../sdk/credits/reads.js";
import { revokeAuthorization } from "../../sdk/credits/write.js";
import { writeComputeToken } from "../../sdk/write.js";
import type { Gateway } from "../../gateway/index.js";
import { type GatewayFixture, MODEL, startGatewayFixture } from "./support/gatewayFixture.js";

describe("gateway end to end (anvil, llama.cpp, the openai client)", function () {
  this.timeout(180_000);
  let f: GatewayFixture;
  let gw: Gateway;
  const logs: Record<string, unknown>[] = [];

  before(async () => {
    f = await startGatewayFixture();
    gw = await f.start({}, logs);
  });
  after(async () => {
    await f?.stop();
  });

  const client = (apiKey: string) => new OpenAI({ apiKey, baseURL: `${gw.url}/v1`, maxRetries: 0 });
  const keyFor = async (i: number, o: Parameters<GatewayFixture["authorize"]>[1] = {}) => {
    const { status, body } = await f.createKey(gw, await f.authorize(i, o));
    expect(status, JSON.stringify(body)).to.equal(201);
    return body as { key: string; keyId: string; holder: Address; authorizationId: `0x${string}` };
  };
  const onChainCharge = async (usage: { prompt_tokens: number; completion_tokens: number }, tier: "low" | "normal" | "high" | "urgent" = "normal") =>
    chargeFor(
      { inputTokens: usage.prompt_tokens, outputTokens: usage.completion_tokens, tier },
      await readModelPrice(f.chain.reader, MODEL),
      await readPriorityFees(f.chain.reader),
    );

  it("turns a signed authorization into a key once, stores only its hash, and lists the priced models", async () => {
    await f.grant(0, "5");
    const k = await keyFor(0, { cap: "3" });
    expect(k.key).to.match(/^ctk-/);
    expect(k.holder).to.equal(f.chain.employeeAddress(0));
    const rows = await gw.ledger.db.transaction((tx) => tx.all("SELECT key_hash FROM gw_keys"));
    expect(JSON.stringify(rows)).to.not.include(k.key);
    const models = await client(k.key).models.list();
    expect(models.data.map((m) => m.id)).to.deep.equal([MODEL]);
  });

  it("serves a chat completion and a streamed one through the openai client; each charge is the on-chain price to the base unit", async () => {
    const k = await keyFor(0);
    const c = client(k.key);
    const before = await readCreditBalance(f.chain.reader, k.holder);
    const { data, response } = await c.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "Once upon a time" }], max_tokens: 12 }).withResponse();
    expect(data.choices[0].message.content).to.be.a("string").and.not.equal("");
    expect(data.usage!.completion_tokens).to.equal(12);
    const want = await onChainCharge(data.usage!);
    expect(response.headers.get("x-ctk-cost-base-units")).to.equal(want.toString());
    expect((data.usage as unknown as { cost_base_units: string }).cost_base_units).to.equal(want.toString());

    const stream = await c.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "The dog" }],
      max_tokens: 9,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let usage: (OpenAI.CompletionUsage & { cost_base_units?: string }) | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? "";
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).to.not.equal("");
    expect(usage!.completion_tokens).to.equal(9);
    const wantStream = await onChainCharge(usage!);
    expect(usage!.cost_base_units).to.equal(wantStream.toString());

    const legacy = await c.completions.create({ model: MODEL, prompt: "Lily", max_tokens: 5 });
    expect(legacy.usage!.completion_tokens).to.equal(5);
    const wantLegacy = await onChainCharge(legacy.usage!);

    await gw.settler.settleDue(true);
    expect(await readCreditBalance(f.chain.reader, k.holder)).to.equal(before - want - wantStream - wantLegacy);
    const onChain = await readAuthorization(f.chain.reader, k.authorizationId);
    expect(onChain.charged).to.equal(want + wantStream + wantLegacy);
  });

  it("charges the priority fee and says what it cost", async () => {
    const k = await keyFor(0);
    const { data, response } = await client(k.key)
      .chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "Hi" }], max_tokens: 3 }, { headers: { "x-ctk-priority": "urgent" } })
      .withResponse();
    expect(response.headers.get("x-ctk-priority")).to.equal("urgent");
    expect(response.headers.get("x-ctk-cost-base-units")).to.equal((await onChainCharge(data.usage!, "urgent")).toString());
  });

  describe("bad input gets a clear error and no charge", () => {
    let key: string;
    let holder: string;
    const unsettled = async () => (await gw.ledger.holderState(holder))!;
    before(async () => {
      const k = await keyFor(0);
      key = k.key;
      holder = k.holder;
      await gw.settler.settleDue(true);
    });
    const post = (body: string, headers: Record<string, string> = {}) =>
      fetch(`${gw.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${key}`, ...headers }, body });
    const expectError = async (res: Response, status: number, code: string, message: RegExp) => {
      const body = (await res.json()) as { error: { code: string; message: string; type: string } };
      expect(res.status, JSON.stringify(body)).to.equal(status);
      expect(body.error.code).to.equal(code);
      expect(body.error.message).to.match(message);
    };

    it("malformed JSON, a huge body, an unknown model, negative max_tokens, no key, an unknown key", async () => {
      const s0 = await unsettled();
      await expectError(await post("{not json"), 400, "invalid_json", /not valid JSON/);
      await expectError(await post(JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "x".repeat(2 * 1_048_576) }] })), 413, "body_too_large", /limit/);
      await expectError(await post(JSON.stringify({ model: "gpt-9", messages: [{ role: "user", content: "x" }] })), 404, "model_not_found", /does not exist/);
      await expectError(await post(JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "x" }], max_tokens: -5 })), 400, "invalid_max_tokens", /positive integer/);
      await expectError(await post(JSON.stringify({ model: MODEL, messages: [] })), 400, "invalid_messages", /non-empty/);
      await expectError(
        await post(JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "x" }] }), { "x-ctk-priority": "asap" }),
        400,
        "invalid_priority",
        /one of low, normal, high, urgent/,
      );
      await expectError(await fetch(`${gw.url}/v1/chat/completions`, { method: "POST", body: "{}" }), 401, "missing_api_key", /Authorization: Bearer/);
      await expectError(
        await post(JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "x" }] }), { authorization: "Bearer ctk-someone-elses" }),
        401,
        "invalid_api_key",
        /not known/,
      );
      // The openai client shows the message.
      try {
        await client(key).chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "x" }], max_tokens: -1 });
        expect.fail("accepted a negative max_tokens");
      } catch (err) {
        expect(err).to.be.instanceOf(OpenAI.APIError);
        expect((err as InstanceType<typeof OpenAI.APIError>).status).to.equal(400);
        expect((err as Error).message).to.match(/max_tokens must be a positive integer/);
      }
      const s1 = await unsettled();
      expect([s1.unsettled, s1.openHolds]).to.deep.equal([s0.unsettled, 0n]);
    });

    it("an authorization signed by someone else, for another gateway, or expired gets no key", async () => {
      const forged = await f.authorize(1);
      (forged.authorization as Record<string, unknown>).holder = f.chain.employeeAddress(0);
      (forged as Record<string, unknown>).authorizationId = (await import("../../sdk/credits/authorization.js")).authorizationId(
        f.chain.employeeAddress(0),
        gw.address,
        BigInt((forged.authorization as { nonce: string }).nonce),
      );
      const a = await f.createKey(gw, forged);
      expect([a.status, a.body.error.code]).to.deep.equal([403, "invalid_signature"]);
      const other = await f.createKey(gw, await f.authorize(0, { gateway: f.chain.employeeAddress(3) }));
      expect([other.status, other.body.error.code]).to.deep.equal([403, "wrong_gateway"]);
      const now = await f.chainTime();
      const expired = await f.createKey(gw, await f.authorize(0, { expiresAt: now - 1n }));
      expect([expired.status, expired.body.error.code]).to.deep.equal([403, "authorization_expired"]);
      const garbage = await f.createKey(gw, { hello: "world" });
      expect([garbage.status, garbage.body.error.code]).to.deep.equal([400, "invalid_authorization"]);
    });

    it("no key while InferenceCredit is paused (503, Retry-After), a key again once unpaused", async () => {
      const file = await f.authorize(0);
      const credit = f.chain.deployment.inferenceCredit!;
      const { inferenceCreditAbi } = await import("../../sdk/generated/abi.js");
      const send = async (functionName: "pause" | "unpause") => {
        const hash = await f.chain.pauser.walletClient!.writeContract({ address: credit, abi: inferenceCreditAbi, functionName, account: f.chain.pauser.account!, chain: null });
        await f.chain.pauser.publicClient.waitForTransactionReceipt({ hash });
      };
      await send("pause");
      try {
        const res = await fetch(`${gw.url}/v1/keys`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(file) });
        const body = (await res.json()) as { error: { code: string; message: string } };
        expect([res.status, body.error.code, res.headers.get("retry-after")]).to.deep.equal([503, "credits_paused", "60"]);
        expect(body.error.message).to.match(/is paused: no new API keys are issued until it is unpaused/);
      } finally {
        await send("unpause");
      }
      const ok = await f.createKey(gw, file);
      expect(ok.status, JSON.stringify(ok.body)).to.equal(201);
    });

    it("a key whose authorization has expired since stops working, with no charge", async () => {
      const expiresAt = BigInt(Math.floor(Date.now() / 1000) + 3);
      const k = await keyFor(0, { expiresAt });
      const ask = () =>
        fetch(`${gw.url}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${k.key}` },
          body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "x" }], max_tokens: 2 }),
        });
      const ok = await ask();
      expect(ok.status).to.equal(200);
      await ok.text();
      while (Date.now() < Number(expiresAt) * 1000 + 50) await new Promise((r) => setTimeout(r, 100));
      const s0 = await unsettled();
      await expectError(await ask(), 403, "authorization_expired", /expired at/);
      const s1 = await unsettled();
      expect([s1.unsettled, s1.openHolds]).to.deep.equal([s0.unsettled, 0n]);
    });
  });

  it("reports health, readiness and metrics, and logs no prompt or completion", async () => {
    expect((await fetch(`${gw.url}/healthz`)).status).to.equal(200);
    expect(await (await fetch(`${gw.url}/readyz`)).json()).to.deep.equal({ ready: true });
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).to.match(/ctk_gateway_requests_total\{status="200",model="stories260K",tier="normal"\} \d+/);
    expect(metrics).to.match(/ctk_gateway_tokens_total\{model="stories260K",direction="output"\} \d+/);
    expect(metrics).to.include("ctk_gateway_credits_charged_total");
    expect(metrics).to.include("ctk_gateway_hold_seconds_bucket");
    expect(metrics).to.include("ctk_gateway_queue_seconds_bucket");
    expect(metrics).to.include("ctk_gateway_upstream_seconds_bucket");
    expect(metrics).to.include("ctk_gateway_queue_depth");
    // The settlement backlog: the charges not yet in a batch, as the ledger counts them, then none.
    const scrape = async () => await (await fetch(`${gw.url}/metrics`)).text();
    const unbatched = async (text?: string) => Number(/^ctk_gateway_unbatched_charges (\d+)$/m.exec(text ?? (await scrape()))?.[1]);
    const oldestWaited = (text: string) => Number(/^ctk_gateway_unbatched_oldest_seconds ([\d.e-]+)$/m.exec(text)?.[1]);
    await client((await keyFor(0)).key).chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "Hi" }], max_tokens: 2 });
    await new Promise((r) => setTimeout(r, 20));
    const waiting = await gw.ledger.unbatched();
    expect(waiting.count).to.be.greaterThan(0);
    const seen = Date.now();
    const text = await scrape();
    const scraped = Date.now();
    expect(await unbatched(text)).to.equal(waiting.count);
    // The oldest charge's wait when the scrape read it: between the reads before and after it.
    expect(oldestWaited(text)).to.be.within((seen - waiting.oldest!) / 1000, (scraped - waiting.oldest!) / 1000);
    expect(oldestWaited(text)).to.be.greaterThan(0);
    await gw.settler.settleDue(true);
    const after = await scrape();
    expect([await unbatched(after), oldestWaited(after)]).to.deep.equal([0, 0]);
    const metered = logs.filter((l) => l.msg === "metered");
    expect(metered.length).to.be.greaterThan(3);
    expect(metered[0]).to.include.keys("requestId", "holder", "model", "tokensIn", "tokensOut", "charge");
    const logged = JSON.stringify(logs);
    expect(logged).to.not.include("Once upon a time");
    expect(logged).to.not.include("The dog");
  });

  it("cuts a key within one block of its authorization's revocation, and of its holder's offboarding", async () => {
    await f.grant(3, "2");
    await f.grant(4, "2");
    const ask = (key: string) =>
      fetch(`${gw.url}/v1/completions`, { method: "POST", headers: { authorization: `Bearer ${key}` }, body: JSON.stringify({ model: MODEL, prompt: "Tom", max_tokens: 2 }) });
    const revoked = await keyFor(3);
    expect((await ask(revoked.key)).status).to.equal(200);
    const body = await f.createKey(gw, await f.authorize(3));
    void body;
    const nonce = BigInt(
      (await gw.ledger.db.transaction((tx) => tx.one("SELECT nonce FROM gw_authorizations WHERE auth_id = $1", [revoked.authorizationId])))!.nonce as string | bigint,
    );
    const receipt = await revokeAuthorization(f.chain.employee(3), gw.address, nonce);
    const t0 = Date.now();
    while (gw.watcher.lastBlock < receipt.blockNumber) await new Promise((r) => setTimeout(r, 10));
    const lagMs = Date.now() - t0;
    const head = await f.chain.reader.publicClient.getBlockNumber();
    expect(head - receipt.blockNumber, "no block passed").to.equal(0n);
    const res = await ask(revoked.key);
    expect(res.status).to.equal(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).to.equal("authorization_revoked");

    const offboarded = await keyFor(4);
    expect((await ask(offboarded.key)).status).to.equal(200);
    const off = await writeComputeToken(f.chain.hr, "offboard", [getAddress(f.chain.employeeAddress(4))]);
    while (gw.watcher.lastBlock < off.blockNumber) await new Promise((r) => setTimeout(r, 10));
    expect((await f.chain.reader.publicClient.getBlockNumber()) - off.blockNumber).to.equal(0n);
    const res2 = await ask(offboarded.key);
    expect(res2.status).to.equal(403);
    expect(((await res2.json()) as { error: { code: string } }).error.code).to.equal("holder_offboarded");
    console.log(`      revocation seen ${lagMs} ms after its receipt, in the same block`);
  });
});
