/**
 * Every ending converts the hold: a client that leaves mid-stream pays only the tokens delivered;
 * an upstream that fails (500, or breaks mid-stream) or times out costs nothing beyond what was
 * delivered; and priority is real: with the upstream saturated, urgent requests queued after low
 * ones finish first, and the tier goes on to the upstream as vLLM's `priority`; a request waits in
 * that queue no longer than its model's queueTimeoutMs.
 */
import { createHash, createHmac } from "node:crypto";
import { connect } from "node:net";
import { expect } from "chai";
import { LOCAL_ROLE_KEYS } from "../../devkit/localAccounts.js";
import { chargeFor } from "../../sdk/credits/price.js";
import { readModelPrice, readPriorityFees } from "../../sdk/credits/reads.js";
import { setModelPrice } from "../../sdk/credits/write.js";
import type { Gateway } from "../../gateway/index.js";
import { type GatewayFixture, MODEL, startGatewayFixture } from "./support/gatewayFixture.js";
import { type TestUpstream, badUsageUpstream, brokenUpstream, floodUpstream, hangingUpstream, slowRelay, templatedUpstream } from "./support/testUpstreams.js";

describe("gateway endings and priority", function () {
  this.timeout(180_000);
  let f: GatewayFixture;
  let gw: Gateway;
  let key: string;
  let holder: string;
  const logs: Record<string, unknown>[] = [];
  const ups: TestUpstream[] = [];

  before(async () => {
    f = await startGatewayFixture();
    const price = await readModelPrice(f.chain.reader, MODEL);
    for (const name of ["slow", "broken", "hanging", "queued", "bad-usage", "templated", "salted", "flood"]) await setModelPrice(f.chain.ops, name, price);
    let target = "";
    const slow = await slowRelay(() => target, 40);
    const broken = await brokenUpstream(() => target);
    const hanging = await hangingUpstream();
    const badUsage = await badUsageUpstream();
    const templated = await templatedUpstream();
    const flood = await floodUpstream();
    ups.push(slow, broken, hanging, badUsage, templated, flood);
    gw = await f.start(
      {
        models: [
          { name: MODEL, upstream: "embedded", maxOutputTokens: 64, concurrency: 4 },
          { name: "slow", upstream: slow.url, upstreamModel: MODEL, maxOutputTokens: 64, concurrency: 1, sendPriority: true },
          { name: "broken", upstream: broken.url, upstreamModel: MODEL, maxOutputTokens: 64 },
          { name: "hanging", upstream: hanging.url, upstreamModel: MODEL, maxOutputTokens: 64, timeoutMs: 500 },
          { name: "queued", upstream: hanging.url, upstreamModel: MODEL, maxOutputTokens: 64, concurrency: 1, timeoutMs: 1_500, queueTimeoutMs: 300 },
          { name: "bad-usage", upstream: badUsage.url, upstreamModel: MODEL, maxOutputTokens: 64 },
          { name: "templated", upstream: templated.url, upstreamModel: MODEL, maxOutputTokens: 64 },
          { name: "salted", upstream: templated.url, upstreamModel: MODEL, maxOutputTokens: 64, prefixCache: "per-holder" },
          { name: "flood", upstream: flood.url, upstreamModel: MODEL, maxOutputTokens: 64, timeoutMs: 1_000, continuousUsage: true },
        ],
      },
      logs,
    );
    target = gw.embedded!.url;
    await f.grant(0, "10");
    const k = await f.createKey(gw, await f.authorize(0));
    key = k.body.key;
    holder = k.body.holder;
  });
  after(async () => {
    for (const u of ups) await u.stop();
    await f?.stop();
  });

  const cost = async (tokensIn: number, tokensOut: number, tier: "low" | "normal" | "urgent" = "normal") =>
    chargeFor({ inputTokens: tokensIn, outputTokens: tokensOut, tier }, await readModelPrice(f.chain.reader, MODEL), await readPriorityFees(f.chain.reader));
  const post = (body: Record<string, unknown>, init: RequestInit = {}, headers: Record<string, string> = {}) =>
    fetch(`${gw.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
      ...init,
    });
  const settled = async (requestId: string) => {
    for (;;) {
      const r = await gw.ledger.request(requestId);
      if (r && r.status !== "held") return r;
      await new Promise((res) => setTimeout(res, 20));
    }
  };

  it("charges only the tokens delivered when the client leaves mid-stream, and releases the hold", async () => {
    const abort = new AbortController();
    const res = await post({ model: "slow", messages: [{ role: "user", content: "Once upon a time" }], max_tokens: 40, stream: true }, { signal: abort.signal });
    const requestId = res.headers.get("x-request-id")!;
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let received = 0;
    let buf = "";
    while (received < 5) {
      const { value } = await reader.read();
      buf += decoder.decode(value, { stream: true });
      received = (buf.match(/"content":"[^"]+"/g) ?? []).length;
    }
    abort.abort();
    const r = await settled(requestId);
    expect(r.status).to.equal("charged");
    expect(r.ending).to.equal("disconnect");
    expect(r.tokensOut).to.be.at.least(received).and.below(40);
    expect(r.charge).to.equal(await cost(r.tokensIn, r.tokensOut));
    expect(r.charge < r.hold).to.equal(true);
    expect((await gw.ledger.holderState(holder))!.openHolds).to.equal(0n);
    console.log(`      disconnect after ${received} tokens read: charged ${r.tokensOut} delivered of 40 asked (${r.charge} of ${r.hold} held)`);
  });

  it("charges nothing for an upstream 500 and for a timeout, and says so", async () => {
    const before = (await gw.ledger.holderState(holder))!;
    const e500 = await post({ model: "broken", messages: [{ role: "user", content: "x" }], max_tokens: 5 });
    const b500 = (await e500.json()) as { error: { code: string; message: string } };
    expect([e500.status, b500.error.code]).to.deep.equal([502, "upstream_error"]);
    expect(b500.error.message).to.match(/answered 500: CUDA out of memory; nothing was charged/);
    const t0 = Date.now();
    const eTimeout = await post({ model: "hanging", messages: [{ role: "user", content: "x" }], max_tokens: 5 });
    const bTimeout = (await eTimeout.json()) as { error: { code: string } };
    expect([eTimeout.status, bTimeout.error.code]).to.deep.equal([504, "upstream_timeout"]);
    expect(Date.now() - t0).to.be.below(5_000);
    const after = (await gw.ledger.holderState(holder))!;
    expect([after.unsettled, after.openHolds]).to.deep.equal([before.unsettled, 0n]);
  });

  it("ends a stream whose client stops reading once its timeoutMs is up: what was handed to the client charged, the hold released", async () => {
    // A client that sends its request, reads nothing, and keeps the connection open.
    const body = JSON.stringify({ model: "flood", messages: [{ role: "user", content: "x" }], max_tokens: 64, stream: true });
    const url = new URL(gw.url);
    const socket = connect(Number(url.port), url.hostname);
    await new Promise<void>((resolve) => socket.once("connect", resolve));
    socket.pause();
    const t0 = Date.now();
    socket.write(
      `POST /v1/chat/completions HTTP/1.1\r\nhost: ${url.host}\r\nauthorization: Bearer ${key}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    try {
      let r: Awaited<ReturnType<typeof gw.ledger.usage>>[number] | undefined;
      for (; !r; await new Promise((res) => setTimeout(res, 50))) {
        if (Date.now() - t0 > 10_000) throw new Error("the stream's request did not end within 10 s of a client that stopped reading");
        r = (await gw.ledger.usage({ holder, limit: 1_000 })).find((u) => u.model === "flood" && u.ending === "timeout");
      }
      expect(Date.now() - t0, "ended by its timeoutMs, not by the client").to.be.below(5_000);
      expect(r.tokensOut, "the chunks handed to the client's socket").to.be.greaterThan(0).and.at.most(64);
      expect(r.charge).to.equal(await cost(r.tokensIn, r.tokensOut));
      expect((await gw.ledger.holderState(holder))!.openHolds).to.equal(0n);
    } finally {
      socket.destroy();
    }
  });

  it("answers 503 queue_timeout with Retry-After, nothing charged and the hold released, to a request that waited its queueTimeoutMs for a saturated upstream", async () => {
    const before = (await gw.ledger.holderState(holder))!;
    const ask = () => post({ model: "queued", messages: [{ role: "user", content: "x" }], max_tokens: 5 });
    // The one slot: taken by a request the upstream never answers (504 after its timeoutMs, 1.5 s).
    const blocker = ask();
    await new Promise((r) => setTimeout(r, 150));
    const t0 = Date.now();
    const res = await ask();
    const waited = Date.now() - t0;
    const body = (await res.json()) as { error: { type: string; code: string; message: string } };
    expect([res.status, body.error.type, body.error.code, res.headers.get("retry-after")]).to.deep.equal([503, "server_error", "queue_timeout", "5"]);
    expect(body.error.message).to.equal(
      'the model "queued" is busy: this request waited 0.3 s in its queue (queueTimeoutMs) without reaching it; nothing was charged: try again shortly',
    );
    // Out of the queue after 300 ms, while the blocker still runs.
    expect(waited).to.be.within(250, 1_200);
    const rows = async () =>
      (await gw.ledger.db.statement("SELECT status, ending, charge FROM gw_requests WHERE model = 'queued'", [], { durable: false })).map((r) => [
        r.status,
        r.ending,
        Number(r.charge),
      ]);
    expect(await rows()).to.deep.include(["released", "timeout", 0]);
    const blocked = await blocker;
    expect([blocked.status, ((await blocked.json()) as { error: { code: string } }).error.code]).to.deep.equal([504, "upstream_timeout"]);
    expect(await rows()).to.deep.equal([
      ["released", "timeout", 0],
      ["released", "timeout", 0],
    ]);
    const after = (await gw.ledger.holderState(holder))!;
    expect([after.unsettled, after.openHolds]).to.deep.equal([before.unsettled, 0n]);
  });

  it("charges nothing and releases the hold when the upstream's usage is not a count of tokens", async () => {
    const before = (await gw.ledger.holderState(holder))!;
    const res = await post({ model: "bad-usage", messages: [{ role: "user", content: "x" }], max_tokens: 5 });
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect([res.status, body.error.code]).to.deep.equal([502, "invalid_usage"]);
    expect(body.error.message).to.equal("the model's server reported usage that is not a count of tokens; nothing was charged");
    const after = (await gw.ledger.holderState(holder))!;
    expect([after.unsettled, after.openHolds]).to.deep.equal([before.unsettled, 0n]);
  });

  it("holds for everything a chat template renders (roles, names, tool calls, tools), so the charge is the full price", async () => {
    // A one-word message beside 25 KB of tools, a long role and name, and a tool call: a template
    // renders them all into the prompt, the tools and the call as indented JSON. Counting only the
    // messages' contents held for 12 input tokens, and the charge (never above the hold) was that.
    const tools = Array.from({ length: 100 }, (_, i) => ({
      type: "function",
      function: {
        name: `tool_${i}`,
        description: "d".repeat(100),
        parameters: { type: "object", properties: { q: { type: "string", enum: ["a", "b", "c", "d", "e", "f"] }, n: { type: "integer", enum: [0, 1, 2, 3, 4, 5, 6, 7] } } },
      },
    }));
    const messages = [
      { role: "system", content: "" },
      {
        role: "assistant",
        name: "n".repeat(300),
        content: "",
        tool_calls: [{ id: "c1", type: "function", function: { name: "tool_1", arguments: JSON.stringify({ q: [1, 2, 3, 4, 5, 6] }) } }],
      },
      { role: "tool", tool_call_id: "c1", content: "ok" },
      { role: "u".repeat(500), content: "hi" },
    ];
    const sent = { model: "templated", messages, tools, max_tokens: 5 };
    const res = await post(sent);
    const body = (await res.json()) as { usage: { prompt_tokens: number; completion_tokens: number } };
    expect(res.status, JSON.stringify(body)).to.equal(200);
    // More than the request's own bytes: the indented JSON is longer than the compact one sent.
    expect(body.usage.prompt_tokens).to.be.above(Buffer.byteLength(JSON.stringify(sent)));
    const r = await settled(res.headers.get("x-request-id")!);
    expect([r.tokensIn, r.tokensOut]).to.deep.equal([body.usage.prompt_tokens, 1]);
    expect(r.charge).to.equal(await cost(body.usage.prompt_tokens, 1));
    expect(res.headers.get("x-ctk-cost-base-units")).to.equal(r.charge.toString());
    expect(r.charge <= r.hold).to.equal(true);
    // Bytes that are not UTF-8 reach the upstream as U+FFFD, 3 bytes each: counted so.
    const raw = Buffer.concat([Buffer.from('{"model":"templated","max_tokens":5,"messages":[{"role":"user","content":"'), Buffer.alloc(1000, 0xff), Buffer.from('"}]}')]);
    const bad = await fetch(`${gw.url}/v1/chat/completions`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: raw });
    const badBody = (await bad.json()) as { usage: { prompt_tokens: number } };
    expect([bad.status, badBody.usage.prompt_tokens]).to.deep.equal([200, 3004]);
    const rb = await settled(bad.headers.get("x-request-id")!);
    expect(rb.charge).to.equal(await cost(3004, 1));
    // Accepted as before: best_of 1 or null, template arguments without a template.
    for (const extra of [{ best_of: 1 }, { best_of: null }, { chat_template_kwargs: { enable_thinking: false } }]) {
      const ok = await post({ model: "templated", messages: [{ role: "user", content: "hi" }], max_tokens: 5, ...extra });
      expect(ok.status, JSON.stringify(extra)).to.equal(200);
      await ok.text();
    }
  });

  it("charges the hold, and says so in the log, when the upstream counts more than any bound", async () => {
    const res = await post({ model: "templated", messages: [{ role: "user", content: "hi" }], max_tokens: 5, user: "count-more" });
    const body = (await res.json()) as { usage: { prompt_tokens: number } };
    expect(res.status).to.equal(200);
    const r = await settled(res.headers.get("x-request-id")!);
    expect(r.charge).to.equal(r.hold);
    expect(r.charge < (await cost(body.usage.prompt_tokens, 1))).to.equal(true);
    const line = logs.find((l) => l.msg === "the usage exceeded the hold: charged the hold" && l.requestId === r.requestId);
    expect(line, "the warn line").to.not.equal(undefined);
    expect([line!.holder, line!.charge, line!.cost]).to.deep.equal([holder, r.charge.toString(), (await cost(body.usage.prompt_tokens, 1)).toString()]);
  });

  it("refuses, with nothing charged, what no bound from the body covers (a chat template sent with the request, best_of, prompt_embeds) and vLLM's internal parameters", async () => {
    const before = (await gw.ledger.holderState(holder))!;
    const refusal = async (res: Response, code: string, param: string, message: RegExp) => {
      const e = (await res.json()) as { error: { code: string; message: string; param: string } };
      expect([res.status, e.error.code, e.error.param]).to.deep.equal([400, code, param]);
      expect(e.error.message).to.match(message);
    };
    const chat = (extra: Record<string, unknown>) => post({ model: "templated", messages: [{ role: "user", content: "hi" }], max_tokens: 5, ...extra });
    await refusal(
      await chat({ chat_template: "{% for m in messages * 1000 %}{{ m.content }}{% endfor %}" }),
      "unsupported_chat_template",
      "chat_template",
      /the model server's own is used/,
    );
    await refusal(
      await chat({ chat_template_kwargs: { chat_template: "x" } }),
      "unsupported_chat_template",
      "chat_template_kwargs.chat_template",
      /the model server's own is used/,
    );
    await refusal(await chat({ best_of: 4 }), "unsupported_best_of", "best_of", /only best_of = 1/);
    const completion = await fetch(`${gw.url}/v1/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "templated", prompt: "hi", max_tokens: 5, prompt_embeds: ["AAAA", "BBBB"] }),
    });
    await refusal(completion, "unsupported_prompt_embeds", "prompt_embeds", /send the prompt as text/);
    await refusal(
      await chat({ kv_transfer_params: { do_remote_prefill: true, remote_block_ids: [1, 2, 3] } }),
      "unsupported_parameter",
      "kv_transfer_params",
      /the model server's internals/,
    );
    await refusal(await chat({ vllm_xargs: { route: "x" } }), "unsupported_parameter", "vllm_xargs", /not accepted through the gateway/);
    await refusal(await chat({ logits_processors: ["os.system"] }), "unsupported_parameter", "logits_processors", /not accepted through the gateway/);
    await refusal(await chat({ use_beam_search: true }), "unsupported_beam_search", "use_beam_search", /not supported through the gateway/);
    const after = (await gw.ledger.holderState(holder))!;
    expect([after.unsettled, after.openHolds]).to.deep.equal([before.unsettled, 0n]);
  });

  it("charges only what was delivered when the upstream breaks mid-stream", async () => {
    const res = await post({ model: "broken", messages: [{ role: "user", content: "Once" }], max_tokens: 20, stream: true });
    const text = await res.text();
    expect(text).to.match(/failed mid-stream; only the 3 tokens delivered were charged/);
    const r = await settled(res.headers.get("x-request-id")!);
    // 3 events: the first content chunk, the second, then the break (the 3rd event's token is delivered too).
    expect(r.ending).to.equal("upstream_error");
    expect(r.charge).to.equal(await cost(r.tokensIn, r.tokensOut));
    expect((await gw.ledger.holderState(holder))!.openHolds).to.equal(0n);
  });

  it("serves urgent requests queued after low ones first when the upstream is saturated, and passes the tier on", async () => {
    const order: string[] = [];
    const ask = (tier: string, tag: string) =>
      post({ model: "slow", messages: [{ role: "user", content: "Tom" }], max_tokens: 3 }, {}, { "x-ctk-priority": tier }).then(async (r) => {
        expect(r.status).to.equal(200);
        await r.json();
        order.push(tag);
      });
    const all: Promise<void>[] = [ask("normal", "blocker")];
    await new Promise((r) => setTimeout(r, 150));
    for (let i = 0; i < 3; i++) all.push(ask("low", `low${i}`));
    await new Promise((r) => setTimeout(r, 150));
    for (let i = 0; i < 3; i++) all.push(ask("urgent", `urgent${i}`));
    await Promise.all(all);
    expect(order).to.deep.equal(["blocker", "urgent0", "urgent1", "urgent2", "low0", "low1", "low2"]);
    const priorities = ups[0].bodies.slice(-7).map((b) => b.priority);
    expect(priorities).to.deep.equal([0, -2, -2, -2, 1, 1, 1]);
  });

  it("sends the upstream the gateway's request id, not one the client chose", async () => {
    const res = await post({ model: "templated", messages: [{ role: "user", content: "hi" }], max_tokens: 5, request_id: "chosen-alike" });
    expect(res.status).to.equal(200);
    await res.json();
    const up = ups[4]; // templated
    expect(up.bodies.at(-1)).to.not.have.property("request_id");
    expect(up.requestIds.at(-1)).to.equal(res.headers.get("x-request-id"));
  });

  it("shows the upstream's cached-token count only where the prefix cache is the holder's own, streamed or not", async () => {
    const usageOf = async (model: string, stream: boolean) => {
      const res = await post({
        model,
        messages: [{ role: "user", content: "hi" }],
        max_tokens: 5,
        user: "cached",
        stream,
        ...(stream && { stream_options: { include_usage: true, continuous_usage_stats: true } }),
      });
      expect(res.status).to.equal(200);
      if (!stream) return [((await res.json()) as { usage: Record<string, unknown> }).usage];
      return (await res.text())
        .split("\n")
        .filter((l) => l.startsWith("data: {"))
        .map((l) => (JSON.parse(l.slice(6)) as { usage?: Record<string, unknown> }).usage)
        .filter((u) => u !== undefined);
    };
    for (const stream of [false, true]) {
      const shared = await usageOf("templated", stream);
      const own = await usageOf("salted", stream);
      // Streamed: the content chunk's and the end's (continuous usage), then the gateway's own with the cost.
      expect([shared.length, own.length], `stream ${stream}`).to.deep.equal(stream ? [3, 3] : [1, 1]);
      for (const u of shared) expect(u, `shared, stream ${stream}`).to.not.have.property("prompt_tokens_details");
      // The gateway's own last chunk too: vLLM puts the cached tokens only in its final usage.
      for (const u of own) expect(u.prompt_tokens_details, `per-holder, stream ${stream}`).to.deep.equal({ cached_tokens: 2 });
    }
  });

  it("salts vLLM's prefix cache per holder where configured (no colleague shares, or can time, a prefix), and passes a client's salt on elsewhere", async () => {
    const up = ups[4]; // templated, behind "templated" (shared) and "salted" (per-holder)
    const saltOf = async (k: string, model: string, extra: Record<string, unknown> = {}) => {
      const res = await post({ model, messages: [{ role: "user", content: "hi" }], max_tokens: 5, ...extra }, {}, { authorization: `Bearer ${k}` });
      expect(res.status).to.equal(200);
      await res.json();
      return up.bodies.at(-1)!.cache_salt;
    };
    await f.grant(1, "1");
    const other = (await f.createKey(gw, await f.authorize(1))).body.key as string;
    const second = (await f.createKey(gw, await f.authorize(0, { nonce: 77n }))).body.key as string;
    const mine = await saltOf(key, "salted");
    expect(mine).to.match(/^[A-Za-z0-9_-]{43}$/);
    // The same holder's every key: one salt; another holder: another; a client's own salt makes a third, never another holder's.
    expect(await saltOf(second, "salted")).to.equal(mine);
    const theirs = await saltOf(other, "salted");
    expect(theirs).to.match(/^[A-Za-z0-9_-]{43}$/);
    expect(theirs).to.not.equal(mine);
    const chosen = await saltOf(key, "salted", { cache_salt: theirs });
    expect([mine, theirs]).to.not.include(chosen);
    // Shared: the client's salt as it sent it, none if it sent none.
    expect(await saltOf(key, "templated", { cache_salt: "my-own" })).to.equal("my-own");
    expect(await saltOf(key, "templated")).to.equal(undefined);
    // Keyed by the gateway's key: not a hash anyone could compute from the holder alone.
    const saltKey = createHash("sha256").update(`ctk gateway prefix-cache salt\n${LOCAL_ROLE_KEYS.GATEWAY.toLowerCase()}`).digest();
    expect(mine).to.equal(createHmac("sha256", saltKey).update(`${holder.toLowerCase()}\n`).digest("base64url"));
    expect(chosen).to.equal(createHmac("sha256", saltKey).update(`${holder.toLowerCase()}\n${theirs}`).digest("base64url"));
    expect(mine).to.not.equal(createHash("sha256").update(holder.toLowerCase()).digest("base64url"));
    const bad = await post({ model: "salted", messages: [{ role: "user", content: "hi" }], max_tokens: 5, cache_salt: 7 });
    const e = (await bad.json()) as { error: { code: string; param: string } };
    expect([bad.status, e.error.code, e.error.param]).to.deep.equal([400, "invalid_cache_salt", "cache_salt"]);
  });
});
