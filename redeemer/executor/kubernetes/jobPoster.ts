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
  private credentials: Credentials | undefined;
  private pendingCredentials: Promise<Credentials> | undefined;
  private closed = false;
  /** Aborts each request in flight: one listener on the stop signal, not one per request. */
  private readonly inflight = new Set<(reason: unknown) => void>();

  constructor(
    private readonly kubeConfig: KubeConfig,
    private readonly opts: JobPosterOptions,
  ) {
    opts.stop.addEventListener("abort", () => {
      for (const abort of [...this.inflight]) abort(opts.stop.reason);
    }, { once: true });
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
  async create(namespace: string, manifestJson: string): Promise<void> {
    const [target, headers] = await Promise.all([this.resolveTarget(), this.resolveHeaders()]);
    const path = `${target.basePath}/apis/batch/v1/namespaces/${encodeURIComponent(namespace)}/jobs`;
    const { status, body, responseHeaders } = await this.send(target, headers, path, manifestJson);
    if (status >= 200 && status <= 299) return;
    if (status === 401) throw new ApiException(401, "Unauthorized", undefined, responseHeaders);
    throw new ApiException(status, "Unknown API Status Code!", body, responseHeaders);
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
      // retried: a network error). Each request has its own deadline (below), so no socket timeout.
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
      return {
        agent,
        request: secure ? https.request : http.request,
        protocol: secure ? "https:" : "http:",
        host: url.hostname.replace(/^\[(.*)\]$/, "$1"),
        port: url.port || (secure ? "443" : "80"),
        basePath: url.pathname.replace(/\/+$/, ""),
      };
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

  private send(
    target: Target,
    credentials: Record<string, string>,
    path: string,
    payload: string,
  ): Promise<{ status: number; body: string; responseHeaders: Headers }> {
    const { stop, requestTimeoutMs, userAgent } = this.opts;
    return new Promise((resolve, reject) => {
      if (stop.aborted) return reject(stop.reason);
      let settled = false;
      const finish = (err: unknown, value?: { status: number; body: string; responseHeaders: Headers }) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.inflight.delete(abort);
        if (err) reject(err);
        else resolve(value!);
      };
      const req = target.request(
        {
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
        },
        (res) => {
          const status = res.statusCode ?? 0;
          const ok = status >= 200 && status <= 299;
          // A 2xx body (the created Job) is not needed: drained, not decoded. An error's body is
          // the Status object, kept as text with the headers, as the stock client's ApiException has them.
          const chunks: Buffer[] = [];
          if (ok) res.resume();
          else res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            finish(undefined, { status, body: ok ? "" : Buffer.concat(chunks).toString("utf8"), responseHeaders: ok ? {} : headersOf(res) }),
          );
          res.on("error", (err) => settled || finish(new KubernetesRequestFailed(`POST ${path}`, { cause: err })));
          // Closed before its end: the connection broke mid-response.
          res.on("close", () => settled || finish(new KubernetesRequestFailed(`POST ${path}`, { cause: new Error("response cut short") })));
        },
      );
      const timer = setTimeout(() => {
        const err = new DOMException(`POST ${path} timed out after ${requestTimeoutMs} ms`, "TimeoutError");
        finish(err);
        req.destroy(err);
      }, requestTimeoutMs);
      const abort = (reason: unknown) => {
        finish(reason);
        req.destroy();
      };
      this.inflight.add(abort);
      req.on("error", (err) => settled || finish(new KubernetesRequestFailed(`POST ${path}`, { cause: err })));
      req.end(payload);
    });
  }
}

function headersOf(res: http.IncomingMessage): Headers {
  const headers: Headers = {};
  for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(", ") : v;
  return headers;
}
