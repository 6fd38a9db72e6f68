/**
 * A trivial OpenAI-compatible upstream for the gateway benchmark, in its own process: every chat
 * completion streams 16 one-token chunks at once (with cumulative usage) and a final usage chunk;
 * non-streamed requests get the same as one JSON body. Its chunks are shaped as vLLM writes them
 * (`logprobs` and `finish_reason` in each choice, the usage's counts in its field order: prompt,
 * total, completion), so the gateway's relay is measured on what it is given in production.
 * Prints `listening <port>`.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

const TOKENS = 16;
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const body = JSON.parse(Buffer.concat(chunks).toString() || "{}") as { stream?: boolean; max_tokens?: number };
    const n = Math.min(TOKENS, body.max_tokens ?? TOKENS);
    const usage = (k: number) => ({ prompt_tokens: 8, total_tokens: 8 + k, completion_tokens: k });
    if (!body.stream) {
      const text = JSON.stringify({
        id: "x",
        object: "chat.completion",
        created: 0,
        model: "bench",
        choices: [{ index: 0, message: { role: "assistant", content: "tok ".repeat(n) }, finish_reason: "length" }],
        usage: usage(n),
      });
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream" });
    let out = "";
    for (let k = 1; k <= n; k++)
      out += `data: ${JSON.stringify({ id: "x", object: "chat.completion.chunk", created: 0, model: "bench", choices: [{ index: 0, delta: { content: "tok " }, logprobs: null, finish_reason: null }], usage: usage(k) })}\n\n`;
    out += `data: ${JSON.stringify({ id: "x", object: "chat.completion.chunk", created: 0, model: "bench", choices: [], usage: usage(n) })}\n\ndata: [DONE]\n\n`;
    res.end(out);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
