/**
 * The stream relay's string fast path (content chunks in the usual shape are rewritten without
 * parsing) must say exactly what parsing and re-serializing says: the same JSON to the client,
 * the same token counts, the same content flag; any other shape takes the parsing path.
 */
import { expect } from "chai";
import { ChunkRelay, Utf8Reads } from "../../gateway/http/meteredProxy.js";

const usage = (k: number) => ({ prompt_tokens: 8, completion_tokens: k, total_tokens: 8 + k });
/** As vLLM serializes it (pydantic, its UsageInfo's field order). */
const vllmUsage = (k: number) => ({ prompt_tokens: 8, total_tokens: 8 + k, completion_tokens: k });

/** What the relay must produce, computed the slow way. */
function expected(data: string, requestId: string, model: string, keepUsage: boolean) {
  const c = JSON.parse(data);
  const u = c.usage ?? undefined;
  const hasContent = (c.choices ?? []).some(
    (x: { delta?: { content?: unknown }; text?: unknown }) => (typeof x.delta?.content === "string" && x.delta.content !== "") || (typeof x.text === "string" && x.text !== ""),
  );
  c.id = requestId;
  c.model = model;
  if (!keepUsage) delete c.usage;
  return { json: c, hasContent, promptTokens: u?.prompt_tokens, completionTokens: u?.completion_tokens };
}

describe("gateway stream relay: chunks re-framed without a parse", () => {
  const chunks: Record<string, unknown>[] = [
    { id: "x", object: "chat.completion.chunk", created: 1, model: "up", choices: [{ index: 0, delta: { content: "tok " }, finish_reason: null }], usage: usage(3) },
    { id: "x", object: "chat.completion.chunk", created: 1, model: "up", choices: [{ index: 0, delta: { content: 'a "quoted" }, word' }, finish_reason: null }] },
    { id: "x", object: "chat.completion.chunk", created: 1, model: "up", choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }], usage: usage(0) },
    { id: "x", object: "chat.completion.chunk", created: 1, model: "up", choices: [{ index: 0, delta: {}, finish_reason: "length" }], usage: usage(16) },
    { id: "x", object: "text_completion", created: 2, model: "up", choices: [{ index: 0, text: "é\n", finish_reason: null }], usage: usage(1) },
    { id: "x", object: "text_completion", created: 2, model: "up", choices: [{ index: 0, text: "", finish_reason: "stop" }] },
    // vLLM's usage: its fields in its model's order.
    {
      id: "x",
      object: "chat.completion.chunk",
      created: 1,
      model: "up",
      choices: [{ index: 0, delta: { content: "v" }, logprobs: null, finish_reason: null }],
      usage: vllmUsage(2),
    },
    {
      id: "x",
      object: "text_completion",
      created: 2,
      model: "up",
      choices: [{ index: 0, text: "v", logprobs: null, finish_reason: null, stop_reason: null }],
      usage: vllmUsage(7),
    },
    // Shapes for the parsing path: other member order, usage not last, usage null, nested "usage".
    { choices: [{ index: 0, delta: { content: "z" } }], id: "x", model: "up", usage: usage(5) },
    { id: "x", object: "chat.completion.chunk", created: 1, model: "up", choices: [{ index: 0, delta: { content: "y" } }], usage: usage(4), system_fingerprint: "f" },
    { id: "x", object: "chat.completion.chunk", created: 1, model: "up", choices: [{ index: 0, delta: { content: "y" } }], usage: null },
    { id: "x", object: "chat.completion.chunk", created: 1, model: "up", choices: [{ index: 0, delta: { content: "y" }, usage: usage(9) }], usage: usage(4) },
    { id: 'x"y', object: "chat.completion.chunk", created: 1, model: "up", choices: [{ index: 0, delta: { content: "w" } }] },
  ];

  for (const keepUsage of [false, true]) {
    it(`says what parsing says, ${keepUsage ? "keeping" : "dropping"} the per-chunk usage`, () => {
      const relay = new ChunkRelay("chatcmpl-1", 'model "m"', keepUsage);
      for (const c of chunks) {
        const data = JSON.stringify(c);
        const got = relay.chunk(data)!;
        const want = expected(data, "chatcmpl-1", 'model "m"', keepUsage);
        expect(got.text.startsWith("data: ") && got.text.endsWith("\n\n"), data).to.equal(true);
        expect(JSON.parse(got.text.slice(6)), data).to.deep.equal(want.json);
        expect(got.hasContent, data).to.equal(want.hasContent);
        expect(got.promptTokens, data).to.equal(want.promptTokens);
        expect(got.completionTokens, data).to.equal(want.completionTokens);
        expect(got.finalUsage).to.equal(undefined);
      }
    });
  }

  it("re-frames vLLM's content chunks, usage and all, without a parse", () => {
    // As vLLM's serving_chat writes them (model_dump_json(exclude_unset=True)).
    const vllm = [
      '{"id":"chatcmpl-abc","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"tok"},"logprobs":null,"finish_reason":null}],"usage":{"prompt_tokens":8,"total_tokens":11,"completion_tokens":3}}',
      '{"id":"chatcmpl-abc","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"a"},"logprobs":null,"finish_reason":null}],"usage":{"prompt_tokens":8,"completion_tokens":4,"total_tokens":12}}',
    ];
    const relay = new ChunkRelay("chatcmpl-1", "m", true);
    const parse = JSON.parse;
    let parses = 0;
    JSON.parse = ((...a: Parameters<typeof JSON.parse>) => {
      parses++;
      return parse(...a);
    }) as typeof JSON.parse;
    let got: ReturnType<ChunkRelay["chunk"]>[];
    try {
      got = vllm.map((c) => relay.chunk(c));
    } finally {
      JSON.parse = parse;
    }
    expect(parses).to.equal(0);
    expect(got.map((g) => [g!.promptTokens, g!.completionTokens, g!.hasContent])).to.deep.equal([
      [8, 3, true],
      [8, 4, true],
    ]);
  });

  it("takes the final usage chunk as the usage, and drops what is not JSON", () => {
    const relay = new ChunkRelay("chatcmpl-1", "m", false);
    const final = relay.chunk(JSON.stringify({ id: "x", object: "chat.completion.chunk", created: 1, model: "up", choices: [], usage: usage(16) }))!;
    expect(final.finalUsage).to.deep.equal(usage(16));
    expect(final.text).to.equal("");
    expect(relay.chunk('{"id":"x","object":"chat.completion.chunk","created":1,"model":"up","choices":[{"delta":{"content":"a"}}]')).to.equal(undefined);
    expect(relay.chunk("not json")).to.equal(undefined);
  });
});

describe("gateway stream relay: UTF-8 read by read", () => {
  it("decodes characters of 1 to 4 bytes split between reads at every byte, as one decode of the whole does", () => {
    const text = 'data: {"c":"a é ✓ 😀 z"}\n\nend é✓😀';
    const bytes = Buffer.from(text);
    for (let cut = 0; cut <= bytes.length; cut++)
      for (let cut2 = cut; cut2 <= bytes.length; cut2 += 3) {
        const r = new Utf8Reads();
        const out = r.decode(bytes.subarray(0, cut)) + r.decode(bytes.subarray(cut, cut2)) + r.decode(bytes.subarray(cut2));
        expect(out, `cut at ${cut} and ${cut2}`).to.equal(text);
      }
  });

  it("drops a byte order mark at the start of the stream, whole or cut, and only there", () => {
    const text = "\uFEFFdata: {}\n\n\uFEFF";
    const bytes = Buffer.from(text);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const r = new Utf8Reads();
      expect(r.decode(bytes.subarray(0, cut)) + r.decode(bytes.subarray(cut)), `cut at ${cut}`).to.equal(text.slice(1));
      expect(new TextDecoder().decode(bytes)).to.equal(text.slice(1));
    }
  });

  it("keeps no more than a cut character: bytes that are not UTF-8 decode as replacement characters, as before", () => {
    const r = new Utf8Reads();
    expect(r.decode(Buffer.from([0x61, 0x80, 0x80, 0x80, 0x80]))).to.equal(Buffer.from([0x61, 0x80, 0x80, 0x80, 0x80]).toString("utf8"));
    expect(r.decode(Buffer.from([0x62]))).to.equal("b");
    // A lead byte of 3 with one continuation so far: held for the next read.
    expect(r.decode(Buffer.from([0x63, 0xe2, 0x9c]))).to.equal("c");
    expect(r.decode(Buffer.from([0x93]))).to.equal("✓");
  });
});
