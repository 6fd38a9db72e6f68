/**
 * The gateway's connections to its upstreams (gateway/upstream/upstreamClient.ts) against a real
 * HTTP server on loopback: a body left unread stops the reading of the connection, and arrives whole
 * and in order once read, an abort cuts it and makes the reading throw its reason, a
 * discarded body hands the connection back, and a request that cannot start rejects.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { expect } from "chai";
import { UpstreamClient } from "../../gateway/upstream/upstreamClient.js";

/** What `p` rejects with (it must reject). */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

describe("gateway upstream client", function () {
  this.timeout(30_000);
  let server: Server;
  let base: string;
  let client: UpstreamClient;
  let handler: (req: IncomingMessage, res: ServerResponse) => void;
  const sockets = new Set<unknown>();

  before(async () => {
    server = createServer((req, res) => handler(req, res));
    server.on("connection", (s) => sockets.add(s));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  beforeEach(() => {
    client = new UpstreamClient();
  });
  afterEach(async () => {
    await client.close();
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  const post = (signal = new AbortController().signal) => client.post(`${base}/v1/chat/completions`, '{"model":"m"}', { "content-type": "application/json" }, signal);

  it("stops reading the upstream while the body waits unread (the upstream's writes wait), and delivers it whole and in order once read", async () => {
    const size = 64 * 1024 * 1024;
    let sent = 0;
    handler = (_req, res) => {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      const more = () => {
        while (sent < size) {
          const n = Math.min(64 * 1024, size - sent);
          const chunk = Buffer.alloc(n);
          for (let i = 0; i < n; i++) chunk[i] = (sent + i) % 251;
          sent += n;
          if (!res.write(chunk)) {
            res.once("drain", more);
            return;
          }
        }
        res.end();
      };
      more();
    };
    const up = await post();
    expect(up.status).to.equal(200);
    const it = up.body[Symbol.asyncIterator]();
    const first = (await it.next()).value as Buffer;
    // Unread for half a second: without the pause, undici would read all 64 MiB into memory.
    await sleep(500);
    const stalledAt = sent;
    expect(stalledAt, `the upstream wrote ${stalledAt} bytes while nothing was read`).to.be.lessThan(size / 4);
    let at = 0;
    const check = (c: Buffer) => {
      for (let i = 0; i < c.length; i++) if (c[i] !== (at + i) % 251) throw new Error(`byte ${at + i} is ${c[i]}`);
      at += c.length;
    };
    check(first);
    for (let r = await it.next(); !r.done; r = await it.next()) check(r.value);
    expect(at).to.equal(size);
    expect(sent).to.equal(size);
  });

  it("reads a body as text and as JSON, and a status that is not 2xx is not ok", async () => {
    handler = (req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        res.writeHead(req.headers["content-type"] === "application/json" ? 400 : 500, { "content-type": "application/json" });
        res.end(JSON.stringify({ echo: body, ü: "é✓" }));
      });
    };
    const a = await post();
    expect(a.status).to.equal(400);
    expect(a.ok).to.equal(false);
    expect(await a.json()).to.deep.equal({ echo: '{"model":"m"}', ü: "é✓" });
    const b = await post();
    expect(await b.text()).to.equal(JSON.stringify({ echo: '{"model":"m"}', ü: "é✓" }));
  });

  it("cuts the request when its signal aborts mid-body: what was queued unread is dropped, the reading throws the abort's reason, and the upstream sees the connection close", async () => {
    let closed = false;
    handler = (req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write("data: 1\n\n");
      setTimeout(() => res.write("data: 2\n\n"), 30);
      req.socket.on("close", () => (closed = true));
      // Never ends by itself.
    };
    const abort = new AbortController();
    const up = await post(abort.signal);
    const it = up.body[Symbol.asyncIterator]();
    expect(String((await it.next()).value)).to.equal("data: 1\n\n");
    // "data: 2" arrives and waits, unread.
    await sleep(150);
    const reason = new Error("client went away");
    abort.abort(reason);
    expect(await rejection(it.next())).to.equal(reason);
    for (let i = 0; i < 100 && !closed; i++) await sleep(10);
    expect(closed).to.equal(true);
  });

  it("rejects with the reason when the signal aborts while the connection is being made", async () => {
    handler = () => {
      // Never answers: only the abort can end the request.
    };
    const fresh = new UpstreamClient();
    try {
      const abort = new AbortController();
      const pending = fresh.post(`${base}/v1/chat/completions`, "{}", {}, abort.signal);
      const reason = new Error("timed out while connecting");
      abort.abort(reason);
      expect(await rejection(pending)).to.equal(reason);
    } finally {
      await fresh.close();
    }
  });

  it("rejects with the reason when the signal aborted before the status came, or already had", async () => {
    handler = () => {
      // Never answers.
    };
    const abort = new AbortController();
    const pending = post(abort.signal);
    const reason = new Error("timed out");
    setTimeout(() => abort.abort(reason), 20);
    expect(await rejection(pending)).to.equal(reason);
    const already = new AbortController();
    already.abort(reason);
    expect(await rejection(post(already.signal))).to.equal(reason);
  });

  it("hands a discarded body's connection back to the pool: the next request reuses it", async () => {
    const ports: number[] = [];
    handler = (req, res) => {
      ports.push(req.socket.remotePort ?? 0);
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.end(`data: [DONE]\n\n${"x".repeat(200_000)}`);
    };
    const first = await post();
    // The body queued past 64 KiB meanwhile: reading paused, until the discard resumes it.
    await sleep(50);
    const it = first.body[Symbol.asyncIterator]();
    await it.next();
    first.discard();
    // Drained in the background: the second request goes out on the same connection.
    await sleep(100);
    const second = await post();
    await second.text();
    expect(ports).to.have.length(2);
    expect(ports[1]).to.equal(ports[0]);
  });

  it("rejects when the upstream cannot be reached", async () => {
    const closedServer = createServer();
    await new Promise<void>((r) => closedServer.listen(0, "127.0.0.1", r));
    const port = (closedServer.address() as AddressInfo).port;
    await new Promise<void>((r) => closedServer.close(() => r()));
    expect(((await rejection(client.post(`http://127.0.0.1:${port}/v1/completions`, "{}", {}, new AbortController().signal))) as NodeJS.ErrnoException).code).to.equal(
      "ECONNREFUSED",
    );
  });
});
