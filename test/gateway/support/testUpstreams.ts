/**
 * Upstreams for the fault and priority tests, in front of the real llama.cpp upstream:
 * - `slowRelay`: forwards to the real model and re-emits its stream one event every `delayMs`
 *   (a stream slow enough to leave mid-way; a saturated upstream), recording each request body;
 * - `broken`: answers 500 to a plain request; on a stream, sends 3 content chunks, then breaks;
 * - `hanging`: never answers;
 * - `flood`: streams 4 MB of chunks, then never ends (for a client that stops reading);
 * - `badUsage`: answers with usage that is not a count of tokens;
 * - `templated`: bills a plain chat request's prompt as a chat template renders it, at its worst.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface TestUpstream {
  url: string;
  bodies: Record<string, unknown>[];
  /** The `x-request-id` header of each request, in order. */
  requestIds: (string | undefined)[];
  stop(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

async function serve(handler: (req: IncomingMessage, res: import("node:http").ServerResponse, bodies: Record<string, unknown>[]) => Promise<void>): Promise<TestUpstream> {
  const bodies: Record<string, unknown>[] = [];
  const requestIds: (string | undefined)[] = [];
  const server: Server = createServer((req, res) => {
    requestIds.push(req.headers["x-request-id"] as string | undefined);
    handler(req, res, bodies).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    bodies,
    requestIds,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export function slowRelay(target: () => string, delayMs: number): Promise<TestUpstream> {
  return serve(async (req, res, bodies) => {
    const body = await readBody(req);
    bodies.push(body);
    const path = req.url!.replace(/^\/v1/, "");
    const up = await fetch(`${target()}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...body, model: "stories260K", priority: undefined }),
    });
    if (!body.stream) {
      const text = await up.text();
      await new Promise((r) => setTimeout(r, delayMs * 15));
      res.writeHead(up.status, { "content-type": "application/json" });
      res.end(text);
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream" });
    const text = await up.text();
    let closed = false;
    res.on("close", () => (closed = true));
    for (const event of text.split("\n\n").filter(Boolean)) {
      if (closed) return;
      res.write(`${event}\n\n`);
      await new Promise((r) => setTimeout(r, delayMs));
    }
    res.end();
  });
}

export function brokenUpstream(target: () => string): Promise<TestUpstream> {
  return serve(async (req, res, bodies) => {
    const body = await readBody(req);
    bodies.push(body);
    if (!body.stream) {
      res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: "CUDA out of memory", type: "server_error" } }));
      return;
    }
    const up = await fetch(`${target()}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...body, model: "stories260K" }),
    });
    const events = (await up.text()).split("\n\n").filter(Boolean);
    res.writeHead(200, { "content-type": "text/event-stream" });
    for (const e of events.slice(0, 3)) res.write(`${e}\n\n`);
    await new Promise((r) => setTimeout(r, 50));
    res.destroy();
  });
}

/** A plain chat completion, "hi", with the usage given. */
function answerHi(res: import("node:http").ServerResponse, usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number } & Record<string, unknown>): void {
  res.writeHead(200, { "content-type": "application/json" });
  res.end(
    JSON.stringify({
      id: "x",
      object: "chat.completion",
      created: 0,
      model: "m",
      choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }],
      usage,
    }),
  );
}

/** Answers a plain request with usage that is not a count of tokens (a float). */
export function badUsageUpstream(): Promise<TestUpstream> {
  return serve(async (req, res, bodies) => {
    bodies.push(await readBody(req));
    answerHi(res, { prompt_tokens: 3, completion_tokens: 1.5, total_tokens: 4.5 });
  });
}

/**
 * Answers a plain chat request as a server with a chat template would bill it, at the worst a
 * tokenizer can do (one token per byte, one per run of spaces): what a template renders — each
 * message's role, name and content, its tool calls (arguments parsed) and the request's tools as
 * indented JSON, as Llama's templates print them (`tojson(indent=4)`) — as its prompt tokens;
 * one completion token. A request whose `user` is "count-more" is billed 100,000 prompt tokens
 * more (more than any bound).
 */
export function templatedUpstream(): Promise<TestUpstream> {
  return serve(async (req, res, bodies) => {
    const body = await readBody(req);
    bodies.push(body);
    const messages = body.messages as { role: string; name?: string; content?: string; tool_calls?: { function: { arguments: string } }[] }[];
    const indented = (v: unknown) => JSON.stringify(v, (k, x) => (k === "arguments" && typeof x === "string" ? JSON.parse(x) : x), 4);
    const rendered =
      messages.map((m) => `${m.role}${m.name ?? ""}${m.content ?? ""}${m.tool_calls ? indented(m.tool_calls) : ""}`).join("") + (body.tools ? indented(body.tools) : "");
    const promptTokens = Buffer.byteLength(rendered.replace(/ {2,}/g, " "), "utf8") + (body.user === "count-more" ? 100_000 : 0);
    const usage = { prompt_tokens: promptTokens, completion_tokens: 1, total_tokens: promptTokens + 1 };
    // "cached": as vLLM with --enable-prompt-tokens-details, 2 tokens of the prompt found in its prefix cache.
    const details = body.user === "cached" ? { prompt_tokens_details: { cached_tokens: 2 } } : {};
    if (body.stream !== true) return answerHi(res, { ...usage, ...details });
    // Streamed: one content chunk, the end, the usage (on every chunk too, as continuous_usage_stats).
    res.writeHead(200, { "content-type": "text/event-stream" });
    const chunk = (choices: unknown[]) =>
      `data: ${JSON.stringify({ id: "x", object: "chat.completion.chunk", created: 0, model: "m", choices, usage: { ...usage, ...details } })}\n\n`;
    res.end(
      [chunk([{ index: 0, delta: { content: "hi" }, finish_reason: null }]), chunk([{ index: 0, delta: {}, finish_reason: "stop" }]), chunk([]), "data: [DONE]\n\n"].join(""),
    );
  });
}

/**
 * Streams 64 content chunks of 64 KB each (4 MB: more than a socket's buffers hold) with
 * cumulative usage, then never ends: for a client that stops reading.
 */
export function floodUpstream(): Promise<TestUpstream> {
  return serve(async (req, res, bodies) => {
    bodies.push(await readBody(req));
    res.writeHead(200, { "content-type": "text/event-stream" });
    const content = "a".repeat(65_536);
    for (let k = 1; k <= 64; k++)
      res.write(
        `data: ${JSON.stringify({ id: "x", object: "chat.completion.chunk", created: 0, model: "m", choices: [{ index: 0, delta: { content }, finish_reason: null }], usage: { prompt_tokens: 3, completion_tokens: k, total_tokens: 3 + k } })}\n\n`,
      );
    // never ends
  });
}

export function hangingUpstream(): Promise<TestUpstream> {
  return serve(async (req, _res, bodies) => {
    bodies.push(await readBody(req));
    // never answers
  });
}
