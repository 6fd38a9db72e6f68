/**
 * The embedded upstream for one machine: a GGUF model run by llama.cpp through `node-llama-cpp`,
 * served as its own small OpenAI-compatible HTTP server (`/v1/completions`,
 * `/v1/chat/completions`, `/v1/models`), so the gateway talks to it exactly as to vLLM.
 *
 * CPU only, prebuilt binaries only (`build: "never"`), ONE thread (two spin against each other on
 * a 2-core machine). A fixed pool of context sequences is created up front and reused: requests
 * beyond the pool wait for a free sequence (llama.cpp fails with "No sequences left" otherwise).
 * Models without a chat template get the chat messages joined into one plain prompt.
 *
 * Usage is reported like vLLM: `usage` on non-streamed responses; on streams, a final usage chunk
 * with `stream_options.include_usage` and cumulative usage on every chunk with
 * `stream_options.continuous_usage_stats`. One content chunk per generated token.
 */
import { createHash, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { basename } from "node:path";
import { getLlama, type Llama, type LlamaContext, LlamaCompletion, type LlamaContextSequence, type LlamaModel, type Token } from "node-llama-cpp";
import { CtkError } from "../../sdk/ctkError.js";

export class ModelFileError extends CtkError {
  constructor(message: string) {
    super(message);
    this.name = "ModelFileError";
  }
}

export interface LlamaUpstreamOptions {
  modelPath: string;
  /** The model's name in the API (default: the file name without .gguf). */
  modelName?: string;
  /** Expected SHA-256 of the file (hex); a mismatch or a missing file is an error. */
  sha256?: string;
  /** Requests generated at once (context sequences). Default 4. */
  sequences?: number;
  /** Tokens per sequence (prompt + output). Default 512. */
  contextSize?: number;
  host?: string;
  port?: number;
}

export interface LlamaUpstream {
  url: string;
  modelName: string;
  /** Prompt + output tokens one request can use. */
  contextSize: number;
  stop(): Promise<void>;
}

/** Verifies a model file against its expected SHA-256. @throws ModelFileError */
function checkModelFile(path: string, sha256?: string): void {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new ModelFileError(`model file ${path}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "not found" : (err as Error).message}`);
  }
  if (sha256) {
    const got = createHash("sha256").update(bytes).digest("hex");
    if (got !== sha256.toLowerCase()) throw new ModelFileError(`model file ${path} has sha256 ${got}, expected ${sha256}`);
  }
}

interface ChatMessage {
  role?: string;
  content?: unknown;
}

/** Text of a message's content (a string, or OpenAI content parts). */
function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content))
    return content.map((p) => (p && typeof p === "object" && typeof (p as { text?: unknown }).text === "string" ? (p as { text: string }).text : "")).join("");
  return "";
}

/** The plain prompt for a model without a chat template: the messages' texts, one per line. */
function joinMessages(messages: readonly ChatMessage[]): string {
  return messages.map((m) => contentText(m.content)).join("\n");
}

class SequencePool {
  private readonly free: LlamaContextSequence[];
  private readonly waiting: ((s: LlamaContextSequence) => void)[] = [];
  constructor(sequences: LlamaContextSequence[]) {
    this.free = [...sequences];
  }
  acquire(): Promise<LlamaContextSequence> {
    const s = this.free.pop();
    if (s) return Promise.resolve(s);
    return new Promise((resolve) => this.waiting.push(resolve));
  }
  release(s: LlamaContextSequence): void {
    const next = this.waiting.shift();
    if (next) next(s);
    else this.free.push(s);
  }
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
};
const fail = (res: ServerResponse, status: number, message: string) =>
  json(res, status, { error: { message, type: status >= 500 ? "server_error" : "invalid_request_error", param: null, code: null } });

async function readJson(req: IncomingMessage, limit = 4 * 2 ** 20): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > limit) throw new Error("request body too large");
    chunks.push(c as Buffer);
  }
  const v = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  if (!v || typeof v !== "object" || Array.isArray(v)) throw new Error("the body must be a JSON object");
  return v as Record<string, unknown>;
}

export async function startLlamaUpstream(opts: LlamaUpstreamOptions): Promise<LlamaUpstream> {
  checkModelFile(opts.modelPath, opts.sha256);
  const modelName = opts.modelName ?? basename(opts.modelPath).replace(/\.gguf$/i, "");
  const sequences = opts.sequences ?? 4;
  const llama: Llama = await getLlama({ gpu: false, build: "never", maxThreads: 1, logLevel: "error" as never });
  const model: LlamaModel = await llama.loadModel({ modelPath: opts.modelPath });
  const context: LlamaContext = await model.createContext({ sequences, contextSize: opts.contextSize ?? 512, threads: 1 });
  const contextSize = context.contextSize;
  const pool = new SequencePool(Array.from({ length: sequences }, () => context.getSequence()));
  const created = () => Math.floor(Date.now() / 1000);

  const promptTokens = (prompt: string) => model.tokenize(prompt, false).length + (model.tokens.bos !== null ? 1 : 0);

  async function complete(req: IncomingMessage, res: ServerResponse, chat: boolean): Promise<void> {
    let body: Record<string, unknown>;
    try {
      body = await readJson(req);
    } catch (err) {
      return fail(res, 400, (err as Error).message);
    }
    if (body.model !== undefined && body.model !== modelName) return fail(res, 404, `model "${String(body.model)}" is not served here (only "${modelName}")`);
    let prompt: string;
    if (chat) {
      if (!Array.isArray(body.messages) || body.messages.length === 0) return fail(res, 400, "messages must be a non-empty array");
      prompt = joinMessages(body.messages as ChatMessage[]);
    } else {
      if (typeof body.prompt !== "string") return fail(res, 400, "prompt must be a string");
      prompt = body.prompt;
    }
    const nPrompt = promptTokens(prompt);
    const room = contextSize - nPrompt;
    if (room < 1) return fail(res, 400, `the prompt is ${nPrompt} tokens; this model's context holds ${contextSize}`);
    const asked = body.max_tokens ?? body.max_completion_tokens;
    if (asked !== undefined && (typeof asked !== "number" || !Number.isInteger(asked) || asked < 1)) return fail(res, 400, "max_tokens must be a positive integer");
    const maxTokens = Math.min((asked as number | undefined) ?? room, room);
    const stream = body.stream === true;
    const so = (body.stream_options ?? {}) as { include_usage?: boolean; continuous_usage_stats?: boolean };
    const temperature = typeof body.temperature === "number" ? body.temperature : 0;
    const seed = typeof body.seed === "number" ? body.seed : undefined;
    const id = `${chat ? "chatcmpl" : "cmpl"}-${randomUUID()}`;
    const object = chat ? "chat.completion.chunk" : "text_completion";

    const abort = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) abort.abort();
    });
    const sequence = await pool.acquire();
    if (abort.signal.aborted) {
      pool.release(sequence);
      return;
    }
    let produced = 0;
    const usage = () => ({ prompt_tokens: nPrompt, completion_tokens: produced, total_tokens: nPrompt + produced });
    const choice = (text: string, finish: string | null) =>
      chat
        ? { index: 0, delta: finish === null ? { ...(produced <= 1 && { role: "assistant" }), content: text } : {}, logprobs: null, finish_reason: finish }
        : { index: 0, text, logprobs: null, finish_reason: finish };
    if (stream) res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    const send = (o: unknown) => res.write(`data: ${JSON.stringify(o)}\n\n`);
    let last: Token[] = model.tokenize(prompt, false).slice(-8);
    try {
      await sequence.clearHistory();
      const completion = new LlamaCompletion({ contextSequence: sequence });
      const result = await completion.generateCompletionWithMeta(prompt, {
        maxTokens,
        temperature,
        ...(seed !== undefined && { seed }),
        signal: abort.signal,
        stopOnAbortSignal: true,
        onToken: (tokens) => {
          produced += tokens.length;
          if (!stream) return;
          const text = model.detokenize(tokens, false, last);
          last = [...last, ...tokens].slice(-8);
          send({ id, object, created: created(), model: modelName, choices: [choice(text, null)], ...(so.continuous_usage_stats && { usage: usage() }) });
        },
      });
      completion.dispose();
      const finish = result.metadata.stopReason === "maxTokens" ? "length" : "stop";
      if (abort.signal.aborted) return;
      if (stream) {
        send({ id, object, created: created(), model: modelName, choices: [choice("", finish)], ...(so.continuous_usage_stats && { usage: usage() }) });
        if (so.include_usage) send({ id, object, created: created(), model: modelName, choices: [], usage: usage() });
        res.end("data: [DONE]\n\n");
      } else {
        const text = result.response;
        json(res, 200, {
          id,
          object: chat ? "chat.completion" : "text_completion",
          created: created(),
          model: modelName,
          choices: [
            chat ? { index: 0, message: { role: "assistant", content: text }, logprobs: null, finish_reason: finish } : { index: 0, text, logprobs: null, finish_reason: finish },
          ],
          usage: usage(),
        });
      }
    } catch (err) {
      if (abort.signal.aborted) return;
      if (stream) res.destroy(err as Error);
      else fail(res, 500, `generation failed: ${(err as Error).message}`);
    } finally {
      pool.release(sequence);
    }
  }

  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method === "GET" && path === "/v1/models") {
      return json(res, 200, { object: "list", data: [{ id: modelName, object: "model", created: 0, owned_by: "llama.cpp", max_model_len: contextSize }] });
    }
    if (req.method === "GET" && path === "/health") return json(res, 200, { ok: true });
    if (req.method === "POST" && path === "/v1/chat/completions") return void complete(req, res, true);
    if (req.method === "POST" && path === "/v1/completions") return void complete(req, res, false);
    fail(res, 404, `no route ${req.method} ${path}`);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, opts.host ?? "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${opts.host ?? "127.0.0.1"}:${port}/v1`,
    modelName,
    contextSize,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await context.dispose();
      await model.dispose();
      await llama.dispose();
    },
  };
}
