/**
 * The floor of the gateway benchmark: a bare HTTP relay in its own process, with no metering at all
 * (no key, no hold, no ledger, no parsing of the stream): each request is forwarded to the upstream
 * over a keep-alive agent and its answer piped back. What a Node.js process costs merely to stand
 * between the client and the upstream, measured in the same run as the gateway.
 * `tsx bench/bareRelay.ts <upstream url>`; prints `listening <port>`.
 */
import { Agent, createServer, request } from "node:http";
import type { AddressInfo } from "node:net";

const upstream = new URL(process.argv[2] ?? "");
const agent = new Agent({ keepAlive: true, maxSockets: 256 });
const server = createServer((req, res) => {
  const out = request(
    { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { "content-type": req.headers["content-type"] ?? "application/json" }, agent },
    (up) => {
      res.writeHead(up.statusCode ?? 502, { "content-type": up.headers["content-type"] ?? "application/octet-stream" });
      up.pipe(res);
    },
  );
  out.on("error", () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  req.pipe(out);
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
