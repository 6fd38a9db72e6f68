/**
 * The floor of the gateway benchmark: a bare HTTP relay in its own process, with no metering at all
 * (no key, no hold, no ledger, no parsing of the stream): each request is forwarded to the upstream
 * over the same kind of keep-alive connection pool as the gateway's (undici's `Pool`) and its answer
 * piped back. What a Node.js process costs merely to stand between the client and the upstream,
 * measured in the same run as the gateway.
 * `tsx bench/bareRelay.ts <upstream url>`; prints `listening <port>`.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Pool } from "undici";

const upstream = new URL(process.argv[2] ?? "");
const pool = new Pool(upstream.origin, { headersTimeout: 0, bodyTimeout: 0 });
const server = createServer((req, res) => {
  pool.request({ path: req.url ?? "/", method: (req.method ?? "POST") as "POST", headers: { "content-type": req.headers["content-type"] ?? "application/json" }, body: req }).then(
    (up) => {
      const type = up.headers["content-type"];
      res.writeHead(up.statusCode, { "content-type": typeof type === "string" ? type : "application/octet-stream" });
      up.body.pipe(res);
    },
    () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    },
  );
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
