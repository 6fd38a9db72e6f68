/**
 * The light watch (`lightWatch.ts`) against a raw TCP server the test controls byte for byte:
 * the request it sends, events split anywhere across chunks and packets, a line that is not
 * JSON, the end of the stream, a refusal, a silent server, an abort. (The executor's tests run
 * it against the fake API server: 410 Gone, cut connections, faults, resyncs.)
 */
import net from "node:net";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import { KubeConfig } from "@kubernetes/client-node";
import { KubeEndpoint } from "../../redeemer/executor/kubernetes/http1.js";
import { LightWatch } from "../../redeemer/executor/kubernetes/lightWatch.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Served {
  request: string;
  socket: net.Socket;
}

describe("light watch", function () {
  let server: net.Server;
  let port: number;
  let connections: Served[];
  let sockets: net.Socket[];

  beforeEach(async function () {
    connections = [];
    sockets = [];
    server = net.createServer((socket) => {
      sockets.push(socket);
      let head = "";
      socket.on("data", (d) => {
        head += d.toString("latin1");
        if (head.includes("\r\n\r\n")) connections.push({ request: head, socket });
      });
      socket.on("error", () => {});
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });

  afterEach(async function () {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });

  function watchOf(inactivityTimeoutMs?: number): LightWatch {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "c", server: `http://127.0.0.1:${port}/prefix`, skipTLSVerify: true }],
      users: [{ name: "u", token: "w4tch" }],
      contexts: [{ name: "x", cluster: "c", user: "u" }],
      currentContext: "x",
    });
    return new LightWatch(new KubeEndpoint(kc), { userAgent: "ctk-test", ...(inactivityTimeoutMs && { inactivityTimeoutMs }) });
  }

  async function served(): Promise<Served> {
    for (let i = 0; i < 200 && connections.length === 0; i++) await sleep(2);
    expect(connections, "a watch request").to.have.length(1);
    return connections[0]!;
  }

  function start(w: LightWatch) {
    const events: Array<[string, unknown]> = [];
    let resolveDone: (err: unknown) => void;
    const done = new Promise<unknown>((r) => (resolveDone = r));
    let doneCalls = 0;
    const controller = w.watch(
      "/apis/batch/v1/namespaces/ns/jobs",
      { labelSelector: "app.kubernetes.io/managed-by=ctk", resourceVersion: "42", allowWatchBookmarks: true, skipped: undefined },
      (type, object) => events.push([type, object]),
      (err) => {
        doneCalls += 1;
        resolveDone(err);
      },
    );
    return { events, done, controller, doneCalls: () => doneCalls };
  }

  it("asks for a watch from the resourceVersion, with the credentials, and reads events split anywhere", async function () {
    const w = start(watchOf());
    const { request, socket } = await served();
    const [requestLine, ...headers] = request.split("\r\n");
    expect(requestLine).to.equal(
      "GET /prefix/apis/batch/v1/namespaces/ns/jobs?watch=true&labelSelector=app.kubernetes.io%2Fmanaged-by%3Dctk&resourceVersion=42&allowWatchBookmarks=true HTTP/1.1",
    );
    expect(headers).to.include.members([`Host: 127.0.0.1:${port}`, "Authorization: Bearer w4tch", "User-Agent: ctk-test", "Accept: application/json"]);

    const lines =
      JSON.stringify({ type: "ADDED", object: { metadata: { name: "j-1", note: "héllo" } } }) + "\n" +
      "not json\n" +
      JSON.stringify({ type: "MODIFIED", object: { metadata: { name: "j-1" }, status: { active: 1 } } }) + "\n";
    const body = Buffer.from(lines, "utf8");
    // Chunks that cut a line, and a multi-byte character, in two; each chunk sent in two packets.
    const cuts = [0, 17, 40, body.indexOf(Buffer.from("é")) + 1, body.length - 3, body.length];
    socket.write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (let i = 0; i + 1 < cuts.length; i++) {
      const part = body.subarray(cuts[i], cuts[i + 1]);
      const chunk = Buffer.concat([Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from("\r\n")]);
      socket.write(chunk.subarray(0, 3));
      await sleep(2);
      socket.write(chunk.subarray(3));
      await sleep(2);
    }
    await sleep(20);
    expect(w.events).to.deep.equal([
      ["ADDED", { metadata: { name: "j-1", note: "héllo" } }],
      ["MODIFIED", { metadata: { name: "j-1" }, status: { active: 1 } }],
    ]);
    expect(w.doneCalls()).to.equal(0);

    // The server ends the stream properly: done, without an error, once.
    socket.end("0\r\n\r\n");
    expect(await w.done).to.equal(null);
    await sleep(10);
    expect(w.doneCalls()).to.equal(1);
  });

  it("reports a refused watch with its HTTP status, as the stock Watch does", async function () {
    const w = start(watchOf());
    const { socket } = await served();
    const status = JSON.stringify({ kind: "Status", code: 410, reason: "Expired" });
    socket.end(`HTTP/1.1 410 Gone\r\nContent-Type: application/json\r\nContent-Length: ${status.length}\r\n\r\n${status}`);
    const err = (await w.done) as Error & { statusCode?: number };
    expect(err).to.be.instanceOf(Error);
    expect(err.statusCode).to.equal(410);
    expect(err.message).to.include("Expired");
    expect(w.events).to.deep.equal([]);
  });

  it("ends a watch whose connection is cut mid-stream with an error, after the events that arrived", async function () {
    const w = start(watchOf());
    const { socket } = await served();
    const line = JSON.stringify({ type: "ADDED", object: { metadata: { name: "j-2" } } }) + "\n";
    socket.write(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${Buffer.byteLength(line).toString(16)}\r\n${line}\r\n`);
    await sleep(20);
    socket.destroy();
    const err = await w.done;
    expect(err).to.be.instanceOf(Error);
    expect(w.events).to.deep.equal([["ADDED", { metadata: { name: "j-2" } }]]);
  });

  it("ends a silent watch as timed out, and an aborted one quietly, closing the connection each time", async function () {
    const silent = start(watchOf(100));
    const first = await served();
    first.socket.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    const t0 = Date.now();
    const err = (await silent.done) as Error;
    expect(err.name).to.equal("TimeoutError");
    expect(Date.now() - t0).to.be.within(60, 1_000);

    connections = [];
    const aborted = start(watchOf());
    const second = await served();
    second.socket.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    (await aborted.controller).abort();
    expect(await aborted.done).to.equal(null);
    const closed = await new Promise<boolean>((r) => {
      if (second.socket.readableEnded || second.socket.destroyed) return r(true);
      second.socket.once("close", () => r(true));
      setTimeout(() => r(false), 500);
    });
    expect(closed, "the server saw the connection close").to.equal(true);
    expect(aborted.doneCalls()).to.equal(1);
  });
});
