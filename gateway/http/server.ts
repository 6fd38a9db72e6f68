/**
 * The gateway's HTTP server (node:http): the OpenAI-compatible routes, the key endpoint, health,
 * readiness and metrics. Every refusal is in OpenAI's error shape.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { GatewayError } from "../errors.js";
import type { GatewayMetrics } from "../metrics.js";
import { sendError, sendJson } from "./body.js";
import type { MeteredProxy } from "./meteredProxy.js";

export type Route = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

export interface GatewayServerDeps {
  proxy: MeteredProxy;
  metrics: GatewayMetrics;
  log: Logger;
  /** The models clients may ask for: priced on-chain and with an upstream. */
  models: () => { id: string; maxOutputTokens: number }[];
  /** Undefined when ready; otherwise why not (the load balancer sends no traffic then). */
  notReady: () => Promise<string | undefined>;
  /** More POST routes by path (the key endpoint). */
  routes?: Record<string, Route>;
  /** More GET routes by path (usage records). */
  getRoutes?: Record<string, Route>;
}

export function createGatewayServer(d: GatewayServerDeps): Server {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const handle = async () => {
      if (req.method === "POST" && path === "/v1/chat/completions") return d.proxy.handle(req, res, true);
      if (req.method === "POST" && path === "/v1/completions") return d.proxy.handle(req, res, false);
      if (req.method === "GET" && path === "/v1/models") {
        await d.proxy.authenticate(req);
        return sendJson(res, 200, {
          object: "list",
          data: d.models().map((m) => ({ id: m.id, object: "model", created: 0, owned_by: "compute-tokens", max_output_tokens: m.maxOutputTokens })),
        });
      }
      if (req.method === "GET" && path === "/healthz") return sendJson(res, 200, { ok: true });
      if (req.method === "GET" && path === "/readyz") {
        const why = await d.notReady();
        return sendJson(res, why ? 503 : 200, why ? { ready: false, reason: why } : { ready: true });
      }
      if (req.method === "GET" && path === "/metrics") {
        const text = await d.metrics.registry.metrics();
        res.writeHead(200, { "content-type": d.metrics.registry.contentType });
        res.end(text);
        return;
      }
      const route = req.method === "POST" ? d.routes?.[path] : req.method === "GET" ? d.getRoutes?.[path] : undefined;
      if (route) return route(req, res);
      throw new GatewayError(404, "invalid_request_error", "not_found", `no route ${req.method} ${path}`);
    };
    handle().catch((err) => {
      if (err instanceof GatewayError) return sendError(res, err);
      d.log.error({ err }, "unhandled");
      sendError(res, new GatewayError(500, "server_error", "internal_error", "the gateway failed to handle this request"));
    });
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  return server;
}

export async function listen(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

export async function close(server: Server): Promise<void> {
  server.closeIdleConnections();
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  const t = setTimeout(() => server.closeAllConnections(), 5_000);
  await closed;
  clearTimeout(t);
}
