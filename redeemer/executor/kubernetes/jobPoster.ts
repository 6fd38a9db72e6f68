/**
 * Creates Jobs the light way: the manifest, already serialised once with JSON.stringify, is
 * POSTed over a few persistent HTTP/1.1 connections with requests pipelined on each (several
 * creates written before the first answer comes back, answers read in order), and only the
 * status and framing of each answer are read — no node:http request and response objects, no
 * fetch Request or web streams, no V1Job decoded from the 201. Server, TLS material and
 * credentials come from the KubeConfig (`applyToHTTPSOptions`), exactly as the stock client uses
 * them.
 *
 * Why pipelining is safe here: a create is idempotent by the Job's name. When a connection
 * breaks with creates written and unanswered, each of them fails as a network error and is
 * retried; one the server had carried out answers 409 the second time, which the executor takes
 * as "already launched". kube-apiserver (Go's net/http) answers pipelined HTTP/1.1 requests in
 * order, as RFC 9112 §9.3.2 requires. `pipelining: 1` sends one request per connection at a time.
 *
 * Why not node:http: against the same server it costs ~4 × the client CPU per create (measured in
 * bench/RESULTS.md, "Redeemer"), and the create path is the redeemer's hot path when it catches
 * up on thousands of redemptions.
 *
 * A failure is reported the way the stock client reports it, so retries and 409 handling are
 * identical: a non-2xx answer is an `ApiException` carrying the status, the body text and the
 * headers; a timeout is a `TimeoutError`; no answer (refused, reset, TLS failure, connection
 * closed before the answer) is a `KubernetesRequestFailed`, which the retry policy retries.
 */
import type net from "node:net";
import { ApiException } from "@kubernetes/client-node";
import { KubernetesRequestFailed } from "./errors.js";
import { type Answer, connect, type Credentials, type Headers, type KubeEndpoint, parseAnswer, requestHead, type Target } from "./http1.js";

export interface JobPosterOptions {
  /** Per-request timeout, from being written to its answer in full. */
  requestTimeoutMs: number;
  /** Aborts every request in flight (the executor closing). */
  stop: AbortSignal;
  /** Connections opened at most. */
  maxConnections: number;
  /** Requests in flight per connection (HTTP/1.1 pipelining); 1 waits for each answer. */
  pipelining: number;
  userAgent: string;
}

export class JobPoster {
  /** Request heads up to "Content-Length: ", per namespace, for the current credentials. */
  private heads = new Map<string, string>();
  private headsFor: Credentials | undefined;
  private closed = false;
  private readonly connections = new Set<Connection>();
  /** Requests waiting for room on a connection. */
  private readonly waiting: PendingCreate[] = [];

  constructor(
    private readonly endpoint: KubeEndpoint,
    private readonly opts: JobPosterOptions,
  ) {
    opts.stop.addEventListener("abort", () => this.shutDown(opts.stop.reason), { once: true });
  }

  /** POST the Job; resolves on 2xx, throws as described above otherwise. */
  create(namespace: string, manifestJson: string): Promise<void> {
    const target = this.endpoint.resolvedTarget;
    const credentials = this.endpoint.freshCredentials();
    // The common case, with everything at hand: no await before the request goes out.
    if (target && credentials) {
      try {
        return this.send(target, credentials, namespace, manifestJson);
      } catch (err) {
        return Promise.reject(err); // a head that cannot be built: a rejection, as on the slow path
      }
    }
    return (async () => {
      const [t, c] = await Promise.all([this.endpoint.resolveTarget(), this.endpoint.resolveCredentials()]);
      return this.send(t, c, namespace, manifestJson);
    })();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.shutDown(new Error("job poster closed"));
  }

  // -------------------------------------------------------------------------------------------

  private shutDown(reason: unknown): void {
    for (const pending of this.waiting.splice(0)) pending.fail(reason);
    for (const conn of [...this.connections]) conn.destroy(reason);
  }

  /** The request's head up to "Content-Length: " (which is all that varies between creates). */
  private headFor(target: Target, credentials: Credentials, namespace: string): string {
    if (this.headsFor !== credentials) {
      this.heads = new Map();
      this.headsFor = credentials;
    }
    let head = this.heads.get(namespace);
    if (head === undefined) {
      const path = `/apis/batch/v1/namespaces/${encodeURIComponent(namespace)}/jobs`;
      head = `${requestHead("POST", target, path, this.opts.userAgent, credentials)}Content-Type: application/json\r\nContent-Length: `;
      this.heads.set(namespace, head);
    }
    return head;
  }

  private send(target: Target, credentials: Credentials, namespace: string, payload: string): Promise<void> {
    const { stop, requestTimeoutMs } = this.opts;
    if (stop.aborted) return Promise.reject(stop.reason);
    if (this.closed) return Promise.reject(new Error("job poster closed"));
    const head = this.headFor(target, credentials, namespace);
    const request = `${head}${Buffer.byteLength(payload)}\r\n\r\n${payload}`;
    return new Promise<void>((resolve, reject) => {
      const pending = new PendingCreate(request, namespace, requestTimeoutMs, resolve, reject);
      const conn = this.connectionWithRoom(target);
      if (conn) conn.send(pending);
      else this.waiting.push(pending);
    });
  }

  /** The least busy open connection with room, or a new one while under the limit. */
  private connectionWithRoom(target: Target): Connection | undefined {
    let best: Connection | undefined;
    for (const conn of this.connections) {
      if (conn.usable && conn.inFlight < this.opts.pipelining && (!best || conn.inFlight < best.inFlight)) best = conn;
    }
    if (best && best.inFlight === 0) return best;
    if (this.connections.size < this.opts.maxConnections) return this.open(target);
    return best;
  }

  private open(target: Target): Connection {
    const conn = new Connection(target, {
      onRoom: () => this.dispatchWaiting(target),
      onGone: (c) => {
        this.connections.delete(c);
        this.dispatchWaiting(target);
      },
    });
    this.connections.add(conn);
    return conn;
  }

  private dispatchWaiting(target: Target): void {
    while (this.waiting.length > 0 && !this.opts.stop.aborted && !this.closed) {
      const conn = this.connectionWithRoom(target);
      if (!conn) return;
      const pending = this.waiting.shift()!;
      if (!pending.isSettled) conn.send(pending);
    }
  }
}

/**
 * One create: the request's bytes, its deadline and its promise. Its timer calls a shared
 * function (no closure per request: thousands of Jobs are created in a burst at start-up).
 */
class PendingCreate {
  private settled = false;
  private timer: NodeJS.Timeout | undefined;
  /** The connection it was written to, once written. */
  conn: Connection | undefined;

  constructor(
    readonly request: string,
    private readonly namespace: string,
    private readonly timeoutMs: number,
    private readonly resolve: () => void,
    private readonly reject: (err: unknown) => void,
  ) {}

  get isSettled(): boolean {
    return this.settled;
  }

  get operation(): string {
    return `POST /apis/batch/v1/namespaces/${this.namespace}/jobs`;
  }

  /** Written to `conn`: the deadline starts. */
  sent(conn: Connection): void {
    this.conn = conn;
    this.timer = setTimeout(onTimeout, this.timeoutMs, this);
  }

  answered(status: number, headers: () => Headers, body: () => string): void {
    if (this.settled) return;
    if (status >= 200 && status <= 299) this.finish(undefined);
    else if (status === 401) this.finish(new ApiException(401, "Unauthorized", undefined, headers()));
    else this.finish(new ApiException(status, "Unknown API Status Code!", body(), headers()));
  }

  /** No HTTP answer: connection refused or reset, TLS failure, connection closed first. */
  unanswered(cause: unknown): void {
    if (!this.settled) this.finish(new KubernetesRequestFailed(this.operation, { cause }));
  }

  fail(err: unknown): void {
    if (!this.settled) this.finish(err);
  }

  timedOut(): void {
    if (this.settled) return;
    const err = new DOMException(`${this.operation} timed out after ${this.timeoutMs} ms`, "TimeoutError");
    this.finish(err);
    // Later answers on its connection queue behind this one: that connection is given up (the
    // creates behind it fail as unanswered and are retried).
    this.conn?.destroy(err);
  }

  private finish(err: unknown): void {
    this.settled = true;
    if (this.timer) clearTimeout(this.timer);
    if (err === undefined) this.resolve();
    else this.reject(err);
  }
}

function onTimeout(pending: PendingCreate): void {
  pending.timedOut();
}

interface ConnectionEvents {
  /** A request was answered: room for another. */
  onRoom(): void;
  /** Closed: take it out of the pool. */
  onGone(conn: Connection): void;
}

/**
 * One persistent connection: requests written in order (coalesced into one write per turn of the
 * event loop), answers read in order and matched to them.
 */
class Connection {
  private readonly socket: net.Socket;
  /** Written, not yet answered, oldest first. */
  private readonly queue: PendingCreate[] = [];
  private buffered: Buffer | undefined;
  /** No more requests go out on it (closing, or the server said `Connection: close`). */
  private retired = false;
  private corked = false;
  private error: unknown;

  constructor(
    target: Target,
    private readonly events: ConnectionEvents,
  ) {
    this.socket = connect(target);
    this.socket.on("data", (chunk: Buffer) => this.onData(chunk));
    this.socket.on("end", () => this.onEnd());
    this.socket.on("error", (err) => {
      this.error ??= err;
    });
    this.socket.on("close", () => this.onClose());
  }

  get usable(): boolean {
    return !this.retired && !this.socket.destroyed;
  }

  get inFlight(): number {
    return this.queue.length;
  }

  send(pending: PendingCreate): void {
    this.queue.push(pending);
    pending.sent(this);
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(uncork, this);
    }
    this.socket.write(pending.request);
  }

  flush(): void {
    this.corked = false;
    this.socket.uncork();
  }

  destroy(reason: unknown): void {
    this.error ??= reason;
    this.retired = true;
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    let buf = this.buffered ? Buffer.concat([this.buffered, chunk]) : chunk;
    try {
      for (;;) {
        const answer = parseAnswer(buf, false);
        if (!answer) break;
        buf = buf.subarray(answer.end);
        if (answer.status < 200) continue; // 100 Continue and the like: the real answer follows
        this.answered(answer);
        if (this.socket.destroyed) return;
      }
    } catch (err) {
      this.destroy(err);
      return;
    }
    this.buffered = buf.length > 0 ? buf : undefined;
  }

  /** The server closed its side: an answer framed by the close is complete now. */
  private onEnd(): void {
    // The server has closed its side: nothing more may be written on it (it would go unanswered).
    this.retired = true;
    if (!this.buffered) return;
    try {
      const answer = parseAnswer(this.buffered, true);
      this.buffered = undefined;
      if (answer && answer.status >= 200) this.answered(answer);
    } catch (err) {
      this.destroy(err);
    }
  }

  private answered(answer: Answer): void {
    const pending = this.queue.shift();
    if (!pending) throw new Error(`an answer (HTTP ${answer.status}) to no request`);
    pending.answered(answer.status, answer.headers, answer.body);
    if (answer.close) {
      // The server will read nothing more: the requests behind it were never processed.
      this.retired = true;
      this.destroy(new Error("the server closed the connection"));
    } else this.events.onRoom();
  }

  private onClose(): void {
    this.retired = true;
    const cause = this.error ?? new Error("connection closed before the answer");
    for (const pending of this.queue.splice(0)) pending.unanswered(cause);
    this.events.onGone(this);
  }
}

function uncork(conn: Connection): void {
  conn.flush();
}
