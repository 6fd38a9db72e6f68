/** Reading and answering HTTP bodies, with the OpenAI error shape for every refusal. */
import type { IncomingMessage, ServerResponse } from "node:http";
import { GatewayError, badRequest } from "../errors.js";

/** Reads a JSON object body of at most `limit` bytes. @throws GatewayError 400/413 */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<Record<string, unknown>> {
  const declared = Number(req.headers["content-length"] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    throw new GatewayError(413, "invalid_request_error", "body_too_large", `the request body is ${declared} bytes; the limit is ${limit}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > limit) {
      req.resume();
      throw new GatewayError(413, "invalid_request_error", "body_too_large", `the request body is more than the limit of ${limit} bytes`);
    }
    chunks.push(c as Buffer);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch (err) {
    throw badRequest("invalid_json", `the request body is not valid JSON (${(err as Error).message})`);
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) throw badRequest("invalid_json", "the request body must be a JSON object");
  return value as Record<string, unknown>;
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
