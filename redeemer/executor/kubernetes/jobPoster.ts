/**
 * Creates Jobs the light way: the manifest, already plain JSON, is serialised once with
 * JSON.stringify and POSTed with node:http(s) over a keep-alive connection pool — no generated
 * ObjectSerializer on the way out, no V1Job model built from the 201 on the way back (the
 * executor only needs "created", "already exists" or the failure), no fetch Request, no web
 * streams. Server, TLS material and credentials still come from the KubeConfig
 * (`applyToHTTPSOptions`), exactly as the stock client would use them.
 *
 * A failure is reported the way the stock client reports it, so retries and 409 handling are
 * identical: a non-2xx answer is an `ApiException` carrying the status and the body text; a
 * timeout is a `TimeoutError`; a transport failure (reset, refused, TLS) is a
 * `KubernetesRequestFailed`, which the retry policy retries like fetch's `TypeError`.
 */
import http from "node:http";
import https from "node:https";
import { ApiException, type KubeConfig } from "@kubernetes/client-node";
import { KubernetesRequestFailed } from "./errors.js";

export interface JobPosterOptions {
  /** Per-request timeout (connection, request and response). */
  requestTimeoutMs: number;
  /** Aborts every request in flight (the executor closing). */
  stop: AbortSignal;
  /** Sockets kept in the pool (the executor's request limit). */
  maxSockets: number;
  userAgent: string;
  /**
   * How long resolved credentials are reused before the KubeConfig is asked again (its
   * authenticators cache and refresh tokens themselves; this only saves asking per request).
   */
  credentialsTtlMs?: number;
}

/** Response headers, as the stock client hands them to an ApiException. */
type Headers = Record<string, string>;

interface Target {
  agent: http.Agent;
  request: typeof http.request;
  host: string;
  port: string;
  basePath: string;
  protocol: "http:" | "https:";
}

interface Credentials {
  headers: Record<string, string>;
  at: number;
}

export class JobPoster {
  private target: Promise<Target> | undefined;
  /** The target once known: requests after the first skip the await. */
  private resolvedTarget: Target | undefined;
  private credentials: Credentials | undefined;
  private pendingCredentials: Promise<Credentials> | undefined;
  private closed = false;
  /** Requests in flight, aborted together when the stop signal fires (one listener, not one each). */
  private readonly inflight = new Set<PendingCreate>();

  constructor(
    private readonly kubeConfig: KubeConfig,
    private readonly opts: JobPosterOptions,
  ) {
    opts.stop.addEventListener(
      "abort",
      () => {
        for (const pending of [...this.inflight]) pending.abort(opts.stop.reason);
      },
      { once: true },
    );
  }

  /**
   * Whether the light path can reach this cluster: not through a proxy (the stock client's
   * proxy agents are used for those).
   */
  static supports(kubeConfig: KubeConfig): boolean {
    const cluster = kubeConfig.getCurrentCluster();
    return !!cluster && !cluster.proxyUrl && /^https?:\/\//.test(cluster.server);
  }

  /** POST the Job; resolves on 2xx, throws as described above otherwise. */
  create(namespace: string, manifestJson: string): Promise<void> {
    const target = this.resolvedTarget;
    const credentials = this.credentials;
    // The common case, with everything at hand: no await before the request goes out.
    if (target && credentials && performance.now() - credentials.at < (this.opts.credentialsTtlMs ?? 1_000)) {
      return this.send(target, credentials.headers, namespace, manifestJson);
    }
    return (async () => {
      const [t, headers] = await Promise.all([this.resolveTarget(), this.resolveHeaders()]);
      return this.send(t, headers, namespace, manifestJson);
    })();
  }

  async close(): Promise<void> {
    this.closed = true;
    const target = await this.target?.catch(() => undefined);
    target?.agent.destroy();
  }

  // -------------------------------------------------------------------------------------------

  private resolveTarget(): Promise<Target> {
    this.target ??= (async () => {
      const cluster = this.kubeConfig.getCurrentCluster();
      if (!cluster) throw new Error("KubeConfig has no current cluster");
      const url = new URL(cluster.server);
      // TLS material, as the stock client applies it (the first request's, kept for the
      // lifetime of the pool, as the executor's shared dispatcher does).
      const tls: https.RequestOptions = {};
      await this.kubeConfig.applyToHTTPSOptions(tls);
      // Idle sockets stay open until the server closes them (a request that meets one closing is
      // retried: a network error). Each request has its own deadline, so no socket timeout.
      const pool = { keepAlive: true, maxSockets: this.opts.maxSockets, scheduling: "lifo" as const };
      const secure = url.protocol === "https:";
      const agent = secure
        ? new https.Agent({
            ...pool,
            ca: tls.ca,
            cert: tls.cert,
            key: tls.key,
            pfx: tls.pfx,
            passphrase: tls.passphrase,
            ...(tls.rejectUnauthorized !== undefined && { rejectUnauthorized: tls.rejectUnauthorized }),
            ...(tls.servername !== undefined && { servername: tls.servername }),
          })
        : new http.Agent(pool);
      if (this.closed) agent.destroy();
      const target: Target = {
        agent,
        request: secure ? https.request : http.request,
        protocol: secure ? "https:" : "http:",
        host: url.hostname.replace(/^\[(.*)\]$/, "$1"),
        port: url.port || (secure ? "443" : "80"),
        basePath: url.pathname.replace(/\/+$/, ""),
      };
      this.resolvedTarget = target;
      return target;
    })();
    this.target.catch(() => {
      this.target = undefined; // try again next time (a transient failure reading the credentials)
    });
    return this.target;
  }

  /** Authorization and impersonation headers from the KubeConfig, reused for a short while. */
  private async resolveHeaders(): Promise<Record<string, string>> {
    const cached = this.credentials;
    if (cached && performance.now() - cached.at < (this.opts.credentialsTtlMs ?? 1_000)) return cached.headers;
    this.pendingCredentials ??= (async (): Promise<Credentials> => {
      const opts: https.RequestOptions = {};
      await this.kubeConfig.applyToHTTPSOptions(opts);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(opts.headers ?? {})) if (v !== undefined) headers[k] = String(v);
      if (opts.auth) headers.Authorization = `Basic ${Buffer.from(opts.auth).toString("base64")}`;
      return { headers, at: performance.now() };
    })().finally(() => {
      this.pendingCredentials = undefined;
    });
    const fresh = await this.pendingCredentials;
    this.credentials = fresh;
    return fresh.headers;
  }

  private send(target: Target, credentials: Record<string, string>, namespace: string, payload: string): Promise<void> {
    const { stop, requestTimeoutMs, userAgent } = this.opts;
    if (stop.aborted) return Promise.reject(stop.reason);
    const path = `${target.basePath}/apis/batch/v1/namespaces/${encodeURIComponent(namespace)}/jobs`;
    return new Promise<void>((resolve, reject) => {
      const req = target.request({
        agent: target.agent,
        protocol: target.protocol,
        host: target.host,
        port: target.port,
        method: "POST",
        path,
        headers: {
          ...credentials,
          Accept: "application/json",
          "Content-Type": "application/json",
          "Content-Length": Buffer.byteLength(payload),
          "User-Agent": userAgent,
        },
      });
      const pending = new PendingCreate(this.inflight, req, path, requestTimeoutMs, resolve, reject);
      this.inflight.add(pending);
      req.end(payload);
    });
  }
}

/**
 * One create in flight. Its listeners are shared functions that find it on the request (no
 * closures per request): thousands of Jobs are created in a burst at start-up.
 */
class PendingCreate {
  private settled = false;
  private status = 0;
  private chunks: Buffer[] | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly inflight: Set<PendingCreate>,
    private readonly req: http.ClientRequest,
    readonly path: string,
    private readonly timeoutMs: number,
    private readonly resolve: () => void,
    private readonly reject: (err: unknown) => void,
  ) {
    (req as Tagged)[PENDING] = this;
    req.on("response", onResponse);
    req.on("error", onRequestError);
    this.timer = setTimeout(onTimeout, timeoutMs, this);
  }

  response(res: http.IncomingMessage): void {
    (res as Tagged)[PENDING] = this;
    this.status = res.statusCode ?? 0;
    // A 2xx body (the created Job) is not needed: drained, not decoded. An error's body is the
    // Status object, kept as text with the headers, as the stock client's ApiException has them.
    if (this.status >= 200 && this.status <= 299) res.resume();
    else {
      this.chunks = [];
      res.on("data", onData);
    }
    res.on("end", onEnd);
    res.on("error", onResponseError);
    res.on("close", onResponseClose);
  }

  get isSettled(): boolean {
    return this.settled;
  }

  data(chunk: Buffer): void {
    this.chunks?.push(chunk);
  }

  end(res: http.IncomingMessage): void {
    if (this.settled) return;
    const status = this.status;
    if (status >= 200 && status <= 299) return this.finish(undefined);
    const body = Buffer.concat(this.chunks ?? []).toString("utf8");
    if (status === 401) return this.finish(new ApiException(401, "Unauthorized", undefined, headersOf(res)));
    this.finish(new ApiException(status, "Unknown API Status Code!", body, headersOf(res)));
  }

  /** No HTTP answer: connection refused or reset, TLS failure, response cut short. */
  failed(cause: unknown): void {
    if (!this.settled) this.finish(new KubernetesRequestFailed(`POST ${this.path}`, { cause }));
  }

  timedOut(): void {
    if (this.settled) return;
    const err = new DOMException(`POST ${this.path} timed out after ${this.timeoutMs} ms`, "TimeoutError");
    this.finish(err);
    this.req.destroy(err);
  }

  abort(reason: unknown): void {
    if (this.settled) return;
    this.finish(reason);
    this.req.destroy();
  }

  private finish(err: unknown): void {
    this.settled = true;
    clearTimeout(this.timer);
    this.inflight.delete(this);
    if (err === undefined) this.resolve();
    else this.reject(err);
  }
}

const PENDING = Symbol("pendingCreate");
type Tagged = { [PENDING]?: PendingCreate };
const pendingOf = (emitter: unknown): PendingCreate => (emitter as Tagged)[PENDING]!;

function onResponse(this: http.ClientRequest, res: http.IncomingMessage): void {
  pendingOf(this).response(res);
}
function onRequestError(this: http.ClientRequest, err: Error): void {
  pendingOf(this).failed(err);
}
function onData(this: http.IncomingMessage, chunk: Buffer): void {
  pendingOf(this).data(chunk);
}
function onEnd(this: http.IncomingMessage): void {
  pendingOf(this).end(this);
}
function onResponseError(this: http.IncomingMessage, err: Error): void {
  pendingOf(this).failed(err);
}
function onResponseClose(this: http.IncomingMessage): void {
  // Closed before its end: the connection broke mid-response. (After "end", as usual, nothing to
  // do — and no Error built: a stack trace per request is not free.)
  const pending = pendingOf(this);
  if (!pending.isSettled) pending.failed(new Error("response cut short"));
}
function onTimeout(pending: PendingCreate): void {
  pending.timedOut();
}

function headersOf(res: http.IncomingMessage): Headers {
  const headers: Headers = {};
  for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(", ") : v;
  return headers;
}
