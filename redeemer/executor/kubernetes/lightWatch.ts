/**
 * A watch over one plain HTTP/1.1 connection: the same contract as `@kubernetes/client-node`'s
 * `Watch` (one callback per event, `done` exactly once when the stream ends, fails or is
 * aborted; a watch silent for 30 s is ended as timed out), without fetch, web streams and
 * readline between the socket and `JSON.parse`. While the redeemer catches up on thousands of
 * redemptions, the Jobs watch carries an event per Job created; this halves what each costs.
 */
import type net from "node:net";
import { ChunkedStream, connect, type KubeEndpoint, MAX_BODY_BYTES, parseAnswer, parseAnswerHead, requestHead } from "./http1.js";

/** What the JobWatcher needs of a watch (the stock `Watch` has the same shape). */
export interface WatchClient {
  watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (type: string, object: unknown, event: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController>;
}

const NEWLINE = 0x0a;

export class LightWatch implements WatchClient {
  constructor(
    private readonly endpoint: KubeEndpoint,
    private readonly opts: { userAgent: string; inactivityTimeoutMs?: number },
  ) {}

  async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (type: string, object: unknown, event: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    const [target, credentials] = await Promise.all([this.endpoint.resolveTarget(), this.endpoint.resolveCredentials()]);
    const query = new URLSearchParams({ watch: "true" });
    for (const [k, v] of Object.entries(queryParams)) if (v !== undefined) query.set(k, String(v));
    const head = requestHead("GET", target, `${path}?${query}`, this.opts.userAgent, credentials);
    const controller = new AbortController();
    const stream = new WatchStream(connect(target), callback, done, this.opts.inactivityTimeoutMs ?? 30_000);
    controller.signal.addEventListener("abort", () => stream.finish(null), { once: true });
    stream.start(`${head}\r\n`);
    return controller;
  }
}

class WatchStream {
  private buffered: Buffer | undefined;
  /** Set once the head is read and was a 200. */
  private body: ((data: Buffer) => void) | undefined;
  private chunked: ChunkedStream | undefined;
  /** The start of a line not complete yet. */
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private finished = false;
  private error: unknown;

  constructor(
    private readonly socket: net.Socket,
    private readonly callback: (type: string, object: unknown, event: unknown) => void,
    private readonly done: (err: unknown) => void,
    inactivityTimeoutMs: number,
  ) {
    socket.setTimeout(inactivityTimeoutMs, () => {
      this.finish(new DOMException("The operation was aborted due to timeout", "TimeoutError"));
    });
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (err) => {
      this.error ??= err;
    });
    socket.on("end", () => this.onEnd());
    socket.on("close", () => this.finish(this.error ?? null));
  }

  start(request: string): void {
    this.socket.write(request);
  }

  finish(err: unknown): void {
    if (this.finished) return;
    this.finished = true;
    this.socket.destroy();
    this.done(err);
  }

  private onData(chunk: Buffer): void {
    if (this.finished) return;
    try {
      if (this.body) return this.feed(chunk);
      const buf = this.buffered ? Buffer.concat([this.buffered, chunk]) : chunk;
      const head = parseAnswerHead(buf);
      if (!head) {
        this.buffered = buf;
        return;
      }
      this.buffered = undefined;
      if (head.status !== 200) return this.refused(buf);
      if (head.framing === "chunked") {
        const chunked = (this.chunked = new ChunkedStream());
        this.body = (data) => {
          chunked.push(data, (bytes) => this.lines(bytes));
          if (chunked.ended) this.finish(null);
        };
      } else this.body = (data) => this.lines(data); // up to the close (or a length: the same lines)
      if (buf.length > head.bodyStart) this.feed(buf.subarray(head.bodyStart));
    } catch (err) {
      this.finish(err);
    }
  }

  private feed(data: Buffer): void {
    try {
      this.body!(data);
    } catch (err) {
      this.finish(err);
    }
  }

  /** Splits the body into lines, one JSON event each (a line that is not JSON is skipped, as the stock Watch does). */
  private lines(data: Buffer): void {
    let from = 0;
    for (;;) {
      const nl = data.indexOf(NEWLINE, from);
      if (nl < 0) break;
      let line: string;
      if (this.partialBytes > 0) {
        this.partial.push(data.subarray(from, nl));
        line = Buffer.concat(this.partial).toString("utf8");
        this.partial = [];
        this.partialBytes = 0;
      } else line = data.toString("utf8", from, nl);
      from = nl + 1;
      this.event(line);
      if (this.finished) return;
    }
    if (from < data.length) {
      this.partial.push(data.subarray(from));
      this.partialBytes += data.length - from;
      if (this.partialBytes > MAX_BODY_BYTES) throw new Error("watch event too large");
    }
  }

  private event(line: string): void {
    let event: { type?: unknown; object?: unknown };
    try {
      event = JSON.parse(line) as { type?: unknown; object?: unknown };
    } catch {
      return;
    }
    this.callback(event.type as string, event.object, event);
  }

  /** A non-200 answer: an Error with the status, as the stock Watch reports it. */
  private refused(buf: Buffer): void {
    const answer = parseAnswer(buf, false);
    const head = parseAnswerHead(buf)!;
    const err = new Error(`watch answered HTTP ${head.status}${answer ? `: ${answer.body().slice(0, 200)}` : ""}`);
    (err as Error & { statusCode?: number }).statusCode = head.status;
    this.finish(err);
  }

  private onEnd(): void {
    if (this.finished) return;
    if (this.body && !this.chunked) {
      // A body up to the close: its last line may lack the newline.
      if (this.partialBytes > 0) {
        const line = Buffer.concat(this.partial).toString("utf8");
        this.partial = [];
        this.partialBytes = 0;
        this.event(line);
      }
      return this.finish(null);
    }
    if (!this.body && this.buffered) {
      const head = parseAnswerHead(this.buffered);
      if (head && head.status !== 200) return this.refused(this.buffered);
    }
    this.finish(this.error ?? new Error("watch connection closed"));
  }
}
