/**
 * The light create path (`jobPoster.ts`): the HTTP/1.x answer parser it reads with (`http1.ts`)
 * on raw bytes, and the poster against a raw TCP server the test controls byte for byte —
 * pipelining, framing, error answers, broken connections, timeouts, shutdown and the connection
 * limits.
 */
import { createHook } from "node:async_hooks";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import { ApiException, KubeConfig } from "@kubernetes/client-node";
import { JobPoster, type JobPosterOptions } from "../../redeemer/executor/kubernetes/jobPoster.js";
import { KubeEndpoint, parseAnswer } from "../../redeemer/executor/kubernetes/http1.js";
import { KubernetesRequestFailed } from "../../redeemer/executor/kubernetes/errors.js";
import { rejection, sleep, waitFor as waitUntil } from "./support/waitFor.js";

const NAMESPACE = "gpu-jobs";
const JOBS_PATH = `/apis/batch/v1/namespaces/${NAMESPACE}/jobs`;
const OPERATION = `POST ${JOBS_PATH}`;

const bytes = (text: string) => Buffer.from(text, "utf8");
/** Polls every 2 ms for up to 800 ms: everything here happens on the loopback within a few. */
const waitFor = <T>(what: string, probe: () => T | undefined | false): Promise<T> => waitUntil(what, probe, 800, 2);

type Outcome = { ok: true } | { ok: false; err: unknown };
function outcome(promise: Promise<unknown>): Promise<Outcome> {
  return promise.then(
    (): Outcome => ({ ok: true }),
    (err: unknown): Outcome => ({ ok: false, err }),
  );
}

/**
 * Timers and TCP sockets created from now on that are still alive: what would keep the process
 * running. (Counting all of the process's handles instead would let a leak hide behind the
 * timers earlier tests left to expire.)
 */
function trackHandles(): { alive(): string[]; stop(): void } {
  const alive = new Map<number, string>();
  const hook = createHook({
    init(id, type) {
      if (type === "Timeout" || type === "TCPWRAP") alive.set(id, type);
    },
    destroy(id) {
      alive.delete(id);
    },
  }).enable();
  return { alive: () => [...alive.values()], stop: () => hook.disable() };
}

/** A Job manifest, serialised once, with non-ASCII text so that bytes and characters differ. */
function manifest(i: number): string {
  return JSON.stringify({
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name: `ctk-redemption-${i}`, annotations: { note: `café ${"é".repeat(i + 1)} — ${i}` } },
    spec: { template: { spec: { restartPolicy: "Never", containers: [{ name: "main", image: "busybox" }] } } },
  });
}

// ---------------------------------------------------------------------------------------------
// Answers, as an API server writes them

function answer(status: string, body: string, headers: Record<string, string> = {}, version = "1.1"): string {
  let head = `HTTP/${version} ${status}\r\n`;
  for (const [name, value] of Object.entries({ "Content-Type": "application/json", ...headers })) head += `${name}: ${value}\r\n`;
  return `${head}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

function created(name = "ctk-redemption-1", headers: Record<string, string> = {}): string {
  return answer("201 Created", JSON.stringify({ apiVersion: "batch/v1", kind: "Job", metadata: { name, uid: "u-1" } }), headers);
}

function statusBody(code: number, reason: string, message: string): string {
  return JSON.stringify({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, code });
}

/** A chunked answer, the body cut into chunks of `chunkSize` bytes, with a chunk extension and a trailer. */
function chunkedAnswer(status: string, body: string, headers: Record<string, string>, chunkSize = 7): Buffer {
  let head = `HTTP/1.1 ${status}\r\n`;
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  const parts = [bytes(`${head}Transfer-Encoding: chunked\r\n\r\n`)];
  const raw = bytes(body);
  for (let at = 0; at < raw.length; at += chunkSize) {
    const part = raw.subarray(at, at + chunkSize);
    parts.push(bytes(`${part.length.toString(16)};ext=${at}\r\n`), part, bytes("\r\n"));
  }
  parts.push(bytes("0\r\nX-Trailer: done\r\n\r\n"));
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------
// A raw HTTP/1.1 server: requests parsed minimally, answers written by the test

interface Received {
  conn: number;
  method: string;
  path: string;
  version: string;
  headers: Record<string, string>;
  body: Buffer;
}

class ServerConn {
  readonly requests: Received[] = [];
  /** Requests received and not answered yet. */
  unanswered = 0;
  maxUnanswered = 0;
  closed = false;
  buffered = Buffer.alloc(0);

  constructor(
    readonly id: number,
    readonly socket: net.Socket,
  ) {}

  answer(text: string | Buffer): void {
    this.unanswered--;
    this.socket.write(text);
  }
}

class RawServer {
  readonly conns: ServerConn[] = [];
  readonly requests: Received[] = [];
  open = 0;
  maxOpen = 0;
  /** What to do with each request (default: answer 201 at once). */
  onRequest: (req: Received, conn: ServerConn) => void = (_req, conn) => conn.answer(created());

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(): Promise<RawServer> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const raw = new RawServer(server, (server.address() as AddressInfo).port);
    server.on("connection", (socket) => raw.accept(socket));
    return raw;
  }

  private accept(socket: net.Socket): void {
    const conn = new ServerConn(this.conns.length, socket);
    this.conns.push(conn);
    this.open++;
    this.maxOpen = Math.max(this.maxOpen, this.open);
    socket.on("error", () => {});
    socket.on("close", () => {
      conn.closed = true;
      this.open--;
    });
    socket.on("data", (chunk: Buffer) => {
      conn.buffered = Buffer.concat([conn.buffered, chunk]);
      for (;;) {
        const headEnd = conn.buffered.indexOf("\r\n\r\n");
        if (headEnd < 0) return;
        const [requestLine, ...lines] = conn.buffered.toString("latin1", 0, headEnd).split("\r\n");
        const headers: Record<string, string> = {};
        for (const line of lines) {
          const colon = line.indexOf(":");
          headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
        }
        const length = Number(headers["content-length"] ?? 0);
        if (conn.buffered.length < headEnd + 4 + length) return;
        const [method, path, version] = requestLine!.split(" ");
        const body = conn.buffered.subarray(headEnd + 4, headEnd + 4 + length);
        conn.buffered = conn.buffered.subarray(headEnd + 4 + length);
        const req: Received = { conn: conn.id, method: method!, path: path!, version: version!, headers, body };
        conn.requests.push(req);
        this.requests.push(req);
        conn.unanswered++;
        conn.maxUnanswered = Math.max(conn.maxUnanswered, conn.unanswered);
        this.onRequest(req, conn);
        if (socket.destroyed) return;
      }
    });
  }

  async close(): Promise<void> {
    for (const conn of this.conns) conn.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Write `data` one byte per turn of the event loop, so that the client reads it a byte at a time. */
async function dribble(socket: net.Socket, data: Buffer): Promise<void> {
  socket.setNoDelay(true);
  for (let i = 0; i < data.length && !socket.destroyed; i++) {
    socket.write(data.subarray(i, i + 1));
    await new Promise((resolve) => setImmediate(resolve));
  }
}

function kubeConfigFor(port: number, token = "t0k3n"): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "c", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: "u", token }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
  return kc;
}

// ---------------------------------------------------------------------------------------------

describe("job poster", function () {
  describe("parseAnswer", function () {
    it("reads a Content-Length answer and says where it ends", function () {
      const body = '{"kind":"Job","name":"é"}';
      const first = answer("201 Created", body);
      const buf = bytes(`${first}HTTP/1.1`);
      const parsed = parseAnswer(buf, false)!;
      expect(parsed).to.not.equal(undefined);
      expect(parsed.status).to.equal(201);
      expect(parsed.end).to.equal(Buffer.byteLength(first));
      expect(parsed.close).to.equal(false);
      expect(parsed.body()).to.equal(body);
      expect(parsed.headers()).to.deep.equal({ "content-type": "application/json", "content-length": "26" });
    });

    it("waits for the whole answer: every proper prefix is incomplete, the full bytes are not", function () {
      const buf = bytes(answer("409 Conflict", statusBody(409, "AlreadyExists", 'jobs.batch "é" already exists')));
      for (let k = 0; k < buf.length; k++) {
        expect(parseAnswer(buf.subarray(0, k), false), `prefix of ${k} bytes`).to.equal(undefined);
      }
      const parsed = parseAnswer(buf, false)!;
      expect(parsed.status).to.equal(409);
      expect(parsed.end).to.equal(buf.length);
      expect(JSON.parse(parsed.body())).to.include({ reason: "AlreadyExists", message: 'jobs.batch "é" already exists' });
    });

    it("reassembles a chunked body with chunk extensions and a trailer field, and waits for all of it", function () {
      const text =
        "HTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
        '5;ext=1\r\n{"msg\r\n' +
        'a\r\n":"hello w\r\n' +
        '6\r\norld"}\r\n' +
        "0\r\nX-Trailer: v\r\n\r\n";
      const buf = bytes(`${text}HTTP/1.1 201`);
      const parsed = parseAnswer(buf, false)!;
      expect(parsed.status).to.equal(409);
      expect(parsed.body()).to.equal('{"msg":"hello world"}');
      expect(parsed.end).to.equal(Buffer.byteLength(text));
      expect(parsed.close).to.equal(false);
      const whole = bytes(text);
      for (let k = 0; k < whole.length; k++) {
        expect(parseAnswer(whole.subarray(0, k), false), `prefix of ${k} bytes`).to.equal(undefined);
      }
    });

    it("parses two pipelined answers back to back, the second from the first's end", function () {
      const a = created("ctk-redemption-7");
      const b = chunkedAnswer("500 Internal Server Error", statusBody(500, "InternalError", "etcd é"), { "Content-Type": "application/json" });
      const buf = Buffer.concat([bytes(a), b]);
      const first = parseAnswer(buf, false)!;
      expect(first.status).to.equal(201);
      expect(first.end).to.equal(Buffer.byteLength(a));
      expect(JSON.parse(first.body()).metadata.name).to.equal("ctk-redemption-7");
      const second = parseAnswer(buf.subarray(first.end), false)!;
      expect(second.status).to.equal(500);
      expect(second.end).to.equal(b.length);
      expect(JSON.parse(second.body())).to.include({ reason: "InternalError", message: "etcd é" });
    });

    it("reads a 100 Continue as a bodiless answer, followed by the 201", function () {
      const cont = "HTTP/1.1 100 Continue\r\n\r\n";
      const buf = bytes(cont + created());
      const first = parseAnswer(buf, false)!;
      expect(first).to.include({ status: 100, end: cont.length, close: false });
      expect(first.body()).to.equal("");
      const second = parseAnswer(buf.subarray(first.end), false)!;
      expect(second.status).to.equal(201);
      expect(second.end).to.equal(buf.length - cont.length);
    });

    it("gives a 204 no body, even with bytes after it", function () {
      const noContent = "HTTP/1.1 204 No Content\r\nDate: Tue, 01 Jan 2030 00:00:00 GMT\r\n\r\n";
      const parsed = parseAnswer(bytes(noContent + created()), false)!;
      expect(parsed).to.include({ status: 204, end: noContent.length, close: false });
      expect(parsed.body()).to.equal("");
      const bare = parseAnswer(bytes("HTTP/1.1 204\r\n\r\n"), false)!;
      expect(bare).to.include({ status: 204, end: 16 });
    });

    it("takes an HTTP/1.0 answer without a length as incomplete until the connection ends, then as closing", function () {
      const buf = bytes("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it, é");
      expect(parseAnswer(buf, false)).to.equal(undefined);
      const parsed = parseAnswer(buf, true)!;
      expect(parsed).to.include({ status: 200, end: buf.length, close: true });
      expect(parsed.body()).to.equal("all of it, é");
    });

    it("says the connection closes after `Connection: close` (and after HTTP/1.0 unless keep-alive)", function () {
      expect(parseAnswer(bytes(created("j", { Connection: "close" })), false)!.close).to.equal(true);
      expect(parseAnswer(bytes(created("j", { Connection: "keep-alive" })), false)!.close).to.equal(false);
      expect(parseAnswer(bytes(answer("201 Created", "{}", {}, "1.0")), false)!.close).to.equal(true);
      expect(parseAnswer(bytes(answer("201 Created", "{}", { Connection: "Keep-Alive" }, "1.0")), false)!.close).to.equal(false);
    });

    it("hands out headers with lower-case names, repeated ones joined", function () {
      const text = 'HTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\nWarning: 299 - "a"\r\nAudit-Id:   abc  \r\n' + 'warning: 299 - "b"\r\nContent-Length: 2\r\n\r\n{}';
      expect(parseAnswer(bytes(text), false)!.headers()).to.deep.equal({
        "content-type": "application/json",
        warning: '299 - "a", 299 - "b"',
        "audit-id": "abc",
        "content-length": "2",
      });
    });

    it("throws on what is not an HTTP/1.x answer", function () {
      expect(() => parseAnswer(bytes("SSH-2.0-OpenSSH_9.6\r\n\r\n"), false)).to.throw(/^not an HTTP\/1\.x answer: "SSH-2\.0/);
      expect(() => parseAnswer(bytes("HTTP/2 200\r\n\r\n"), false)).to.throw(/not an HTTP\/1\.x answer/);
      expect(() => parseAnswer(bytes("HTTP/1.1 2010 OK\r\n\r\n"), false)).to.throw(/not an HTTP\/1\.x answer/);
    });

    it("throws on a bad chunk size", function () {
      const head = "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n";
      expect(() => parseAnswer(bytes(`${head}zz\r\nhello\r\n0\r\n\r\n`), false)).to.throw('bad chunk size: "zz"');
      expect(() => parseAnswer(bytes(`${head}-5\r\nhello\r\n0\r\n\r\n`), false)).to.throw('bad chunk size: "-5"');
      expect(() => parseAnswer(bytes(`${head}123456789\r\n`), false)).to.throw("bad chunk size");
    });

    it("throws on a bad Content-Length", function () {
      expect(() => parseAnswer(bytes("HTTP/1.1 201 Created\r\nContent-Length: 12abc\r\n\r\n"), false)).to.throw("bad Content-Length: 12abc");
      expect(() => parseAnswer(bytes("HTTP/1.1 201 Created\r\nContent-Length: -1\r\n\r\n"), false)).to.throw("bad Content-Length: -1");
      expect(() => parseAnswer(bytes("HTTP/1.1 201 Created\r\nContent-Length: 2, 2\r\n\r\n{}"), false)).to.throw("bad Content-Length: 2, 2");
    });

    it("throws on a head of more than 64 KiB with no end in sight", function () {
      const start = "HTTP/1.1 200 OK\r\nX-Big: ";
      const atLimit = bytes(start + "a".repeat(64 * 1024 - start.length));
      expect(atLimit.length).to.equal(64 * 1024);
      expect(parseAnswer(atLimit, false)).to.equal(undefined);
      expect(() => parseAnswer(bytes(start + "a".repeat(64 * 1024 - start.length + 1)), false)).to.throw("answer head too large");
    });
  });

  it("keeps a header named like an Object.prototype member as sent", function () {
    const h = parseAnswer(bytes("HTTP/1.1 409 Conflict\r\nConstructor: x\r\n__proto__: z\r\nContent-Length: 0\r\n\r\n"), false)!.headers();
    expect(h.constructor).to.equal("x");
    expect(Object.getOwnPropertyDescriptor(h, "__proto__")?.value).to.equal("z");
  });

  describe("JobPoster against a raw HTTP/1.1 server", function () {
    this.timeout(3_000); // a create that never settles fails here, not after the suite's two minutes
    let server: RawServer;
    let controller: AbortController;
    let poster: JobPoster | undefined;
    let handles: ReturnType<typeof trackHandles> | undefined;

    function newPoster(opts: Partial<JobPosterOptions> = {}, token?: string): JobPoster {
      poster = new JobPoster(new KubeEndpoint(kubeConfigFor(server.port, token)), {
        requestTimeoutMs: 500,
        stop: controller.signal,
        maxConnections: 1,
        pipelining: 4,
        userAgent: "ctk-test",
        ...opts,
      });
      return poster;
    }

    beforeEach(async function () {
      server = await RawServer.start();
      controller = new AbortController();
      poster = undefined;
    });

    afterEach(async function () {
      handles?.stop();
      handles = undefined;
      await poster?.close();
      await server.close();
    });

    it("pipelines: four creates are all written on one connection before the first answer, with the KubeConfig's token", async function () {
      server.onRequest = (_req, conn) => {
        if (conn.requests.length === 4) for (let i = 0; i < 4; i++) conn.answer(created(`ctk-redemption-${i}`));
      };
      const p = newPoster({ maxConnections: 1, pipelining: 4 });
      const payloads = [0, 1, 2, 3].map(manifest);
      await Promise.all(payloads.map((json) => p.create(NAMESPACE, json)));

      expect(server.conns).to.have.length(1);
      expect(server.conns[0]!.maxUnanswered, "requests waiting at the server at once").to.equal(4);
      expect(server.requests.map((r) => r.body.toString("utf8"))).to.deep.equal(payloads);
      for (const [i, r] of server.requests.entries()) {
        expect(r).to.include({ method: "POST", path: JOBS_PATH, version: "HTTP/1.1" });
        expect(r.headers).to.include({
          authorization: "Bearer t0k3n",
          "content-type": "application/json",
          accept: "application/json",
          "user-agent": "ctk-test",
          host: `127.0.0.1:${server.port}`,
        });
        // Bytes, not characters: each "é" and "—" counts more than once.
        expect(r.headers["content-length"]).to.equal(String(Buffer.byteLength(payloads[i]!)));
        expect(Number(r.headers["content-length"])).to.be.greaterThan(payloads[i]!.length);
      }
    });

    it("matches answers dribbled one byte at a time to their requests, in order", async function () {
      const conflict = statusBody(409, "AlreadyExists", 'jobs.batch "ctk-redemption-2" already exists');
      const failure = statusBody(500, "InternalError", "etcdserver: request timed out");
      const answers = Buffer.concat([
        bytes(`${created("ctk-redemption-1")}HTTP/1.1 100 Continue\r\n\r\n`),
        chunkedAnswer("409 Conflict", conflict, { "Content-Type": "application/json" }, 16),
        bytes(answer("500 Internal Server Error", failure)),
      ]);
      server.onRequest = (_req, conn) => {
        if (conn.requests.length < 3) return;
        conn.unanswered -= 3;
        void dribble(conn.socket, answers);
      };
      // Count the reads on the client's side: the dribble must really arrive in pieces.
      const connect = net.connect;
      const clientReads: number[] = [];
      (net as { connect: typeof net.connect }).connect = ((...args: Parameters<typeof net.connect>) => {
        const socket = connect(...args);
        const index = clientReads.push(0) - 1;
        socket.on("data", () => clientReads[index]!++);
        return socket;
      }) as typeof net.connect;
      let outcomes: Outcome[];
      try {
        const p = newPoster({ maxConnections: 1, pipelining: 3 });
        outcomes = await Promise.all([1, 2, 3].map((i) => outcome(p.create(NAMESPACE, manifest(i)))));
      } finally {
        (net as { connect: typeof net.connect }).connect = connect;
      }

      expect(clientReads).to.have.length(1);
      expect(clientReads[0], "reads of the answers by the client").to.be.greaterThan(answers.length / 2);
      expect(outcomes[0]).to.deep.equal({ ok: true });
      const [second, third] = [outcomes[1]!, outcomes[2]!];
      expect(second.ok).to.equal(false);
      expect(third.ok).to.equal(false);
      const conflictErr = (second as { err: ApiException<string> }).err;
      const failureErr = (third as { err: ApiException<string> }).err;
      expect(conflictErr).to.be.instanceOf(ApiException);
      expect(conflictErr.code).to.equal(409);
      expect(conflictErr.body).to.equal(conflict);
      expect(failureErr).to.be.instanceOf(ApiException);
      expect(failureErr.code).to.equal(500);
      expect(failureErr.body).to.equal(failure);
    });

    it("rejects a chunked 409 with an ApiException carrying the Status text and headers, and a 401 as Unauthorized", async function () {
      const conflict = statusBody(409, "AlreadyExists", 'jobs.batch "ctk-redemption-1" already exists');
      server.onRequest = (_req, conn) => {
        if (conn.requests.length === 1) {
          conn.answer(chunkedAnswer("409 Conflict", conflict, { "Content-Type": "application/json", "Audit-Id": "a-1" }));
        } else {
          conn.answer(answer("401 Unauthorized", statusBody(401, "Unauthorized", "Unauthorized"), { "Audit-Id": "a-2" }));
        }
      };
      const p = newPoster();
      const err = (await rejection(p.create(NAMESPACE, manifest(1)))) as ApiException<string>;
      expect(err).to.be.instanceOf(ApiException);
      expect(err.code).to.equal(409);
      expect(err.body).to.equal(conflict);
      expect(err.headers).to.deep.equal({ "content-type": "application/json", "audit-id": "a-1", "transfer-encoding": "chunked" });

      const unauthorized = (await rejection(p.create(NAMESPACE, manifest(2)))) as ApiException<undefined>;
      expect(unauthorized).to.be.instanceOf(ApiException);
      expect(unauthorized.code).to.equal(401);
      expect(unauthorized.body).to.equal(undefined);
      expect(unauthorized.headers).to.include({ "audit-id": "a-2", "content-type": "application/json" });
      // Error answers leave the connection in use.
      expect(server.conns).to.have.length(1);
      expect(server.conns[0]!.closed).to.equal(false);
    });

    it("fails every create written on a connection the server drops unanswered, then goes on over a new connection", async function () {
      server.onRequest = (_req, conn) => {
        if (conn.id > 0) conn.answer(created());
        else if (conn.requests.length === 3) conn.socket.destroy();
      };
      const p = newPoster({ maxConnections: 1, pipelining: 3 });
      const errs = await Promise.all([1, 2, 3].map((i) => rejection(p.create(NAMESPACE, manifest(i)))));
      for (const err of errs) {
        expect(err).to.be.instanceOf(KubernetesRequestFailed);
        expect(err).to.include({ operation: OPERATION });
      }

      await p.create(NAMESPACE, manifest(4));
      expect(server.conns).to.have.length(2);
      expect(server.conns[0]!.requests).to.have.length(3);
      expect(server.conns[1]!.requests.map((r) => r.body.toString())).to.deep.equal([manifest(4)]);
    });

    it("on `Connection: close`, settles that answer's create and fails the ones pipelined behind it; later creates use a new connection", async function () {
      server.onRequest = (_req, conn) => {
        if (conn.id > 0) conn.answer(created());
        // The server answers the first and says it reads nothing more; it leaves the closing to the client.
        else if (conn.requests.length === 3) conn.answer(created("ctk-redemption-1", { Connection: "close" }));
      };
      const p = newPoster({ maxConnections: 1, pipelining: 3 });
      const outcomes = await Promise.all([1, 2, 3].map((i) => outcome(p.create(NAMESPACE, manifest(i)))));
      expect(outcomes[0]).to.deep.equal({ ok: true });
      for (const o of outcomes.slice(1)) {
        expect(o.ok).to.equal(false);
        const err = (o as { err: KubernetesRequestFailed }).err;
        expect(err).to.be.instanceOf(KubernetesRequestFailed);
        expect(err.operation).to.equal(OPERATION);
        expect((err.cause as Error).message).to.equal("the server closed the connection");
      }
      await waitFor("the client to close the connection", () => server.conns[0]!.closed);

      await Promise.all([4, 5].map((i) => p.create(NAMESPACE, manifest(i))));
      expect(server.conns).to.have.length(2);
      expect(server.conns[0]!.requests).to.have.length(3);
      expect(server.conns[1]!.requests.map((r) => r.body.toString())).to.deep.equal([manifest(4), manifest(5)]);
    });

    it("times a create out with a TimeoutError when no answer comes, and gives up its connection", async function () {
      server.onRequest = () => {};
      const p = newPoster({ requestTimeoutMs: 150 });
      const started = performance.now();
      const err = (await rejection(p.create(NAMESPACE, manifest(1)))) as Error;
      const elapsed = performance.now() - started;
      expect(err).to.have.property("name", "TimeoutError");
      expect(err.message).to.equal(`${OPERATION} timed out after 150 ms`);
      expect(elapsed).to.be.within(145, 400);
      expect(server.requests).to.have.length(1);
      await waitFor("the client to close the connection", () => server.conns[0]!.closed);
    });

    it("on stop, fails the creates in flight and the waiting ones, and leaves nothing that keeps the process alive", async function () {
      server.onRequest = () => {};
      await new Promise((resolve) => setImmediate(resolve)); // past the test's start, when mocha sets its own timer
      handles = trackHandles();
      // A long timeout: a request timer left behind would still be alive at the end.
      const p = newPoster({ maxConnections: 1, pipelining: 2, requestTimeoutMs: 5_000 });
      const errs = [1, 2, 3, 4].map((i) => rejection(p.create(NAMESPACE, manifest(i))));
      await waitFor("two requests at the server", () => server.requests.length === 2);
      // The hook sees the sockets and the request timers, so that the check at the end means something.
      expect(handles.alive()).to.include.members(["TCPWRAP", "Timeout"]);

      const reason = new Error("executor stopping");
      controller.abort(reason);
      const [first, second, third, fourth] = await Promise.all(errs);
      for (const inFlight of [first, second]) {
        expect(inFlight).to.be.instanceOf(KubernetesRequestFailed);
        expect((inFlight as KubernetesRequestFailed).cause).to.equal(reason);
      }
      expect(third).to.equal(reason);
      expect(fourth).to.equal(reason);
      expect(await rejection(p.create(NAMESPACE, manifest(5)))).to.equal(reason);

      await waitFor("the server to see the connection close", () => server.conns.every((c) => c.closed));
      expect(server.conns).to.have.length(1);
      expect(server.requests).to.have.length(2);
      // A few turns of the event loop (not timers: they would be counted) for the last handles to close.
      for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
      expect(handles.alive(), "timers and sockets still alive").to.deep.equal([]);
    });

    it("refuses a token that would break the request's framing, and sends nothing", async function () {
      const p = newPoster({}, "t0k3n\r\nX-Evil: 1");
      for (const i of [1, 2]) {
        const err = (await rejection(p.create(NAMESPACE, manifest(i)))) as Error;
        expect(err).to.be.instanceOf(Error);
        expect(err.message).to.equal("invalid value of HTTP header Authorization from the KubeConfig");
      }
      await sleep(30);
      expect(server.conns).to.have.length(0);
      expect(server.requests).to.have.length(0);
    });

    it("queues creates beyond maxConnections × pipelining, never exceeding either limit, and settles them all", async function () {
      server.onRequest = (_req, conn) => {
        setTimeout(() => conn.answer(created()), 2);
      };
      const p = newPoster({ maxConnections: 2, pipelining: 3 });
      const payloads = Array.from({ length: 25 }, (_, i) => manifest(i));
      await Promise.all(payloads.map((json) => p.create(NAMESPACE, json)));

      expect(server.requests).to.have.length(25);
      expect(server.requests.map((r) => r.body.toString()).sort()).to.deep.equal([...payloads].sort());
      expect(server.conns, "connections opened").to.have.length(2);
      expect(server.maxOpen).to.equal(2);
      for (const conn of server.conns) {
        expect(conn.maxUnanswered, `unanswered at once on connection ${conn.id}`).to.equal(3);
        expect(conn.closed).to.equal(false);
      }
    });

    it("does not write a create on a connection whose server has closed its side (it would go unanswered)", async function () {
      server.onRequest = (_req, conn) => {
        conn.unanswered--;
        if (conn.id === 0)
          conn.socket.end(created()); // answers, then closes without `Connection: close`
        else conn.answer(created());
      };
      const p = newPoster({ maxConnections: 2, pipelining: 1 });
      const connect = net.connect;
      let afterFin: Promise<Outcome> | undefined;
      (net as { connect: typeof net.connect }).connect = ((...args: Parameters<typeof net.connect>) => {
        const socket = connect(...args);
        socket.once("end", () => process.nextTick(() => (afterFin ??= outcome(p.create(NAMESPACE, manifest(2))))));
        return socket;
      }) as typeof net.connect;
      try {
        await p.create(NAMESPACE, manifest(1));
        await waitFor("the FIN", () => afterFin);
      } finally {
        (net as { connect: typeof net.connect }).connect = connect;
      }
      expect(await afterFin).to.deep.equal({ ok: true });
      expect(server.conns.map((c) => c.requests.length)).to.deep.equal([1, 1]);
    });

    it("rejects, never throws, when the request head cannot be built (the second call takes the fast path)", async function () {
      const p = newPoster({ userAgent: "ctk\r\nX-Evil: 1" });
      const first = await rejection(p.create(NAMESPACE, manifest(1)));
      expect((first as Error).message).to.equal("invalid value of HTTP header User-Agent from the KubeConfig");
      let promise: Promise<void> | undefined;
      expect(() => (promise = p.create(NAMESPACE, manifest(2)))).to.not.throw();
      expect(((await rejection(promise!)) as Error).message).to.equal("invalid value of HTTP header User-Agent from the KubeConfig");
      expect(server.requests).to.have.length(0);
    });
  });
});
