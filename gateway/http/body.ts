/** Reading and answering HTTP bodies, with the OpenAI error shape for every refusal. */
import type { IncomingMessage, ServerResponse } from "node:http";
import { GatewayError, badRequest } from "../errors.js";

/** Reads a JSON object body of at most `limit` bytes. @throws GatewayError 400/413 */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<Record<string, unknown>> {
  return (await readJsonRequest(req, limit)).body;
}

/** {@link readJsonBody}, with the body's size in UTF-8 bytes as decoded. @throws GatewayError 400/413 */
export async function readJsonRequest(req: IncomingMessage, limit: number): Promise<{ body: Record<string, unknown>; bytes: number }> {
  const declared = Number(req.headers["content-length"] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    throw new GatewayError(413, "invalid_request_error", "body_too_large", `the request body is ${declared} bytes; the limit is ${limit}`);
  }
  // Events, not `for await`: the async iterator costs a promise per chunk on every request.
  const text = await new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.off("data", onData);
        req.resume();
        reject(new GatewayError(413, "invalid_request_error", "body_too_large", `the request body is more than the limit of ${limit} bytes`));
        return;
      }
      chunks.push(c);
    };
    req.on("data", onData);
    req.once("end", () => resolve(chunks.length === 1 ? chunks[0].toString("utf8") : Buffer.concat(chunks).toString("utf8")));
    req.once("error", reject);
    req.once("close", () => {
      if (!req.complete) reject(new GatewayError(400, "invalid_request_error", "incomplete_body", "the request body ended early"));
    });
  });
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw badRequest("invalid_json", `the request body is not valid JSON (${(err as Error).message})`);
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) throw badRequest("invalid_json", "the request body must be a JSON object");
  // Counted as decoded: an invalid byte became U+FFFD (3 bytes), and is forwarded so.
  return { body: value as Record<string, unknown>, bytes: Buffer.byteLength(text, "utf8") };
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

export function sendError(res: ServerResponse, err: GatewayError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, err.status, err.toBody(), err.retryAfterS !== undefined ? { "retry-after": String(err.retryAfterS) } : {});
}
