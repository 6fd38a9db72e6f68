/**
 * The little of HTTP/1.1 the executor's hot path speaks itself (Job creates, pipelined): where the API server is and how to reach it (from the KubeConfig, as the stock client
 * would), request heads, and answers read off a socket — framed as RFC 9112 §6.3 says.
 * Everything else (gets, lists, deletes) goes through `@kubernetes/client-node`.
 */
import net from "node:net";
import tls from "node:tls";
import type { RequestOptions } from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";

/** Response headers, lower-case names, as the stock client hands them to an ApiException. */
export type Headers = Record<string, string>;

/** Where to connect, and how. */
export interface Target {
  host: string;
  port: number;
  /** The Host header: host, and port unless the scheme's default. */
  authority: string;
  /** The server URL's path (an API server behind a path prefix), without a trailing "/". */
  basePath: string;
  /** TLS options (undefined for plain http). */
  tls: tls.ConnectionOptions | undefined;
}

export interface Credentials {
  /** Header lines ("Name: value\r\n"…) carrying the credentials. */
  lines: string;
  at: number;
}

/**
 * The API server of a KubeConfig's current cluster: its address and TLS material (read once)
 * and its credentials (re-read after `credentialsTtlMs`; the KubeConfig's authenticators cache
 * and refresh tokens themselves, this only saves asking per request).
 */
export class KubeEndpoint {
  private target: Promise<Target> | undefined;
  /** Known once resolved: callers on the hot path skip the await. */
  resolvedTarget: Target | undefined;
  private credentials: Credentials | undefined;
  private pendingCredentials: Promise<Credentials> | undefined;

  constructor(
    private readonly kubeConfig: KubeConfig,
    private readonly credentialsTtlMs = 1_000,
  ) {}

  /**
   * Whether a KubeConfig's cluster can be reached this way: not through a proxy (the stock
   * client's proxy agents are used for those).
   */
  static supports(kubeConfig: KubeConfig): boolean {
    const cluster = kubeConfig.getCurrentCluster();
    return !!cluster && !cluster.proxyUrl && /^https?:\/\//.test(cluster.server);
  }

  /** The credentials if still fresh, else undefined (then `resolveCredentials`). */
  freshCredentials(): Credentials | undefined {
    const c = this.credentials;
    return c && performance.now() - c.at < this.credentialsTtlMs ? c : undefined;
  }

  resolveTarget(): Promise<Target> {
    this.target ??= (async () => {
      const cluster = this.kubeConfig.getCurrentCluster();
      if (!cluster) throw new Error("KubeConfig has no current cluster");
      const url = new URL(cluster.server);
      const secure = url.protocol === "https:";
      const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
      let tlsOptions: tls.ConnectionOptions | undefined;
      if (secure) {
        // TLS material, as the stock client applies it.
        const o: RequestOptions = {};
        await this.kubeConfig.applyToHTTPSOptions(o);
        tlsOptions = {
          host,
          ca: o.ca,
          cert: o.cert,
          key: o.key,
          pfx: o.pfx,
          passphrase: o.passphrase,
          ALPNProtocols: ["http/1.1"],
          ...(o.rejectUnauthorized !== undefined && { rejectUnauthorized: o.rejectUnauthorized }),
          // SNI and the certificate check name the server by its host name (never an IP address).
          ...(o.servername !== undefined ? { servername: o.servername } : net.isIP(host) ? {} : { servername: host }),
        };
      }
      const target: Target = {
        host,
        port: Number(url.port || (secure ? 443 : 80)),
        authority: url.host,
        basePath: url.pathname.replace(/\/+$/, ""),
        tls: tlsOptions,
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
  async resolveCredentials(): Promise<Credentials> {
    const cached = this.freshCredentials();
    if (cached) return cached;
    this.pendingCredentials ??= (async (): Promise<Credentials> => {
      const opts: RequestOptions = {};
      await this.kubeConfig.applyToHTTPSOptions(opts);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(opts.headers ?? {})) if (v !== undefined) headers[k] = String(v);
      if (opts.auth) headers.Authorization = `Basic ${Buffer.from(opts.auth).toString("base64")}`;
      return { lines: headerLines(headers), at: performance.now() };
    })().finally(() => {
      this.pendingCredentials = undefined;
    });
    const fresh = await this.pendingCredentials;
    this.credentials = fresh;
    return fresh;
  }
}

/** A new connection to the target (TLS when it says so), without Nagle's delay. */
export function connect(target: Target): net.Socket {
  const socket = target.tls ? tls.connect({ ...target.tls, port: target.port }) : net.connect({ host: target.host, port: target.port });
  socket.setNoDelay(true);
  socket.setKeepAlive(true, 30_000);
  return socket;
}

/** A request head without its final empty line: request line, Host, User-Agent, credentials, Accept. */
export function requestHead(method: string, target: Target, pathAndQuery: string, userAgent: string, credentials: Credentials): string {
  return (
    `${method} ${target.basePath}${pathAndQuery} HTTP/1.1\r\n` +
    headerLines({ Host: target.authority, "User-Agent": userAgent }) +
    credentials.lines +
    "Accept: application/json\r\n"
  );
}

/** An answer's head larger than this is not from an API server. */
const MAX_HEAD_BYTES = 64 * 1024;
/** An answer's body larger than this (an error's Status) is refused. */
const MAX_BODY_BYTES = 16 * 2 ** 20;
const CRLF = Buffer.from("\r\n");
const CRLFCRLF = Buffer.from("\r\n\r\n");

/** An answer's head: status, framing of the body, and the headers (parsed when asked for). */
export interface AnswerHead {
  status: number;
  /** Offset of the body in the buffer the head was read from. */
  bodyStart: number;
  /** How the body is delimited. */
  framing: "none" | "chunked" | "length" | "close";
  contentLength: number;
  /** The connection closes after this answer. */
  close: boolean;
  headers(): Headers;
}

/**
 * The head of the answer at the start of `buf`, or undefined if it is not complete yet.
 * Throws on what is not HTTP/1.x.
 */
function parseAnswerHead(buf: Buffer): AnswerHead | undefined {
  const headEnd = buf.indexOf(CRLFCRLF);
  if (headEnd < 0) {
    if (buf.length > MAX_HEAD_BYTES) throw new Error("answer head too large");
    return undefined;
  }
  const head = buf.toString("latin1", 0, headEnd);
  const statusLine = /^HTTP\/1\.([01]) (\d{3})(?: |\r|$)/.exec(head);
  if (!statusLine) throw new Error(`not an HTTP/1.x answer: ${JSON.stringify(head.slice(0, 40))}`);
  const status = Number(statusLine[2]);
  let contentLength: number | undefined;
  let chunked = false;
  let close = statusLine[1] === "0";
  let from = head.indexOf("\r\n");
  from = from < 0 ? head.length : from + 2;
  while (from < head.length) {
    let to = head.indexOf("\r\n", from);
    if (to < 0) to = head.length;
    const colon = head.indexOf(":", from);
    if (colon > from && colon < to) {
      const name = head.slice(from, colon).toLowerCase();
      if (name === "content-length") {
        const value = head.slice(colon + 1, to).trim();
        if (!/^\d{1,15}$/.test(value)) throw new Error(`bad Content-Length: ${value}`);
        contentLength = Number(value);
      } else if (name === "transfer-encoding") chunked = /(^|,)\s*chunked\s*$/i.test(head.slice(colon + 1, to));
      else if (name === "connection") {
        const value = head.slice(colon + 1, to).toLowerCase();
        if (value.includes("close")) close = true;
        else if (value.includes("keep-alive")) close = false;
      }
    }
    from = to + 2;
  }
  const framing = status < 200 || status === 204 || status === 304 ? "none" : chunked ? "chunked" : contentLength !== undefined ? "length" : "close";
  return {
    status,
    bodyStart: headEnd + 4,
    framing,
    contentLength: contentLength ?? 0,
    close: close || framing === "close",
    headers: () => parseHeaders(head),
  };
}

export interface Answer {
  status: number;
  /** Offset just past the answer in the buffer. */
  end: number;
  close: boolean;
  headers: () => Headers;
  body: () => string;
}

/**
 * The first complete answer at the start of `buf`, or undefined if more bytes are needed
 * (`atEnd`: the connection has ended, which completes an answer framed by the close).
 */
export function parseAnswer(buf: Buffer, atEnd: boolean): Answer | undefined {
  const head = parseAnswerHead(buf);
  if (!head) return undefined;
  const { status, bodyStart, close, headers } = head;
  switch (head.framing) {
    case "none":
      return { status, end: bodyStart, close, headers, body: () => "" };
    case "chunked": {
      const chunks = dechunk(buf, bodyStart);
      if (!chunks) return undefined;
      return { status, end: chunks.end, close, headers, body: () => Buffer.concat(chunks.parts).toString("utf8") };
    }
    case "length": {
      const end = bodyStart + head.contentLength;
      if (head.contentLength > MAX_BODY_BYTES) throw new Error(`answer body of ${head.contentLength} bytes`);
      if (buf.length < end) return undefined;
      return { status, end, close, headers, body: () => buf.toString("utf8", bodyStart, end) };
    }
    case "close":
      if (!atEnd) {
        if (buf.length - bodyStart > MAX_BODY_BYTES) throw new Error("answer body too large");
        return undefined;
      }
      return { status, end: buf.length, close: true, headers, body: () => buf.toString("utf8", bodyStart) };
  }
}

/** A chunked body from `start`: its parts and where it ends, or undefined if incomplete. */
function dechunk(buf: Buffer, start: number): { parts: Buffer[]; end: number } | undefined {
  const parts: Buffer[] = [];
  let size = 0;
  let at = start;
  for (;;) {
    const lineEnd = buf.indexOf(CRLF, at);
    if (lineEnd < 0) return undefined;
    const n = chunkSize(buf.toString("latin1", at, lineEnd));
    at = lineEnd + 2;
    if (n === 0) {
      // Trailer fields, up to an empty line.
      for (;;) {
        const e = buf.indexOf(CRLF, at);
        if (e < 0) return undefined;
        if (e === at) return { parts, end: at + 2 };
        at = e + 2;
      }
    }
    size += n;
    if (size > MAX_BODY_BYTES) throw new Error("answer body too large");
    if (buf.length < at + n + 2) return undefined;
    if (buf[at + n] !== 0x0d || buf[at + n + 1] !== 0x0a) throw new Error("chunk not followed by CRLF");
    parts.push(buf.subarray(at, at + n));
    at += n + 2;
  }
}

/** The size on a chunk's size line (extensions after ";" ignored). */
function chunkSize(line: string): number {
  const text = line.split(";")[0]!.trim();
  if (!/^[0-9a-fA-F]{1,8}$/.test(text)) throw new Error(`bad chunk size: ${JSON.stringify(text.slice(0, 20))}`);
  return parseInt(text, 16);
}

function parseHeaders(head: string): Headers {
  // No prototype: a header named "constructor" or "__proto__" is kept as sent.
  const headers: Headers = Object.create(null) as Headers;
  const lines = head.split("\r\n");
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = Object.hasOwn(headers, name) ? `${headers[name]}, ${value}` : value;
  }
  return headers;
}

/** "Name: value\r\n" lines; a name or value that would break the request's framing is refused. */
function headerLines(headers: Record<string, string>): string {
  let lines = "";
  for (const [name, value] of Object.entries(headers)) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw new Error(`invalid HTTP header name from the KubeConfig: ${JSON.stringify(name)}`);
    if (/[\r\n\0]/.test(value)) throw new Error(`invalid value of HTTP header ${name} from the KubeConfig`);
    lines += `${name}: ${value}\r\n`;
  }
  return lines;
}
