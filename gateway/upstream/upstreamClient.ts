/**
 * POSTs to an OpenAI-compatible upstream over node:http(s) with one keep-alive agent per upstream
 * origin: cheaper per request than `fetch` (no WHATWG streams, no per-request dispatcher work),
 * which the gateway's profile showed as its largest cost after the ledger. The response body is
 * read as text or JSON, or streamed as Buffers; aborting `signal` destroys the request and makes
 * the body's iteration throw.
 */
import { Agent as HttpAgent, type IncomingMessage, request as httpRequest } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";

export interface UpstreamResponse {
  status: number;
  ok: boolean;
  text(): Promise<string>;
  json(): Promise<unknown>;
  /**
   * The body, chunk by chunk. Leaving the loop early does not destroy the response: call
   * {@link UpstreamResponse.discard} to drain the rest (the connection then returns to the pool),
   * or abort the request's signal to cut it.
   */
  body: AsyncIterable<Buffer>;
  /** Reads and drops whatever of the body is left. */
  discard(): void;
}

const agents = new Map<string, HttpAgent>();

function agentFor(url: URL): HttpAgent {
  let agent = agents.get(url.origin);
  if (!agent) {
    const options = { keepAlive: true, keepAliveMsecs: 10_000, scheduling: "lifo" as const };
    agent = url.protocol === "https:" ? new HttpsAgent(options) : new HttpAgent(options);
    agents.set(url.origin, agent);
  }
  return agent;
}

async function readAll(res: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of res) parts.push(c as Buffer);
  return Buffer.concat(parts).toString("utf8");
}

/** Parsed targets (one per model and route): `new URL` on every request showed in the profile. */
const targets = new Map<string, URL>();

export function postUpstream(target: string, body: string, headers: Record<string, string>, signal: AbortSignal): Promise<UpstreamResponse> {
  let url = targets.get(target);
  if (!url) {
    url = new URL(target);
    if (targets.size < 1_000) targets.set(target, url);
  }
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, { method: "POST", agent: agentFor(url), signal, headers: { ...headers, "content-length": Buffer.byteLength(body) } }, (res) => {
      const status = res.statusCode ?? 0;
      resolve({
        status,
        ok: status >= 200 && status < 300,
        text: () => readAll(res),
        json: async () => JSON.parse(await readAll(res)) as unknown,
        body: res.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>,
        discard: () => void res.resume(),
      });
    });
    req.once("error", reject);
    req.end(body);
  });
}
