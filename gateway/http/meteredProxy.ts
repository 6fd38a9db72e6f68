/**
 * One metered request: validate → key → HOLD the worst case → priority queue → upstream (with
 * `max_tokens` cut to what was held, usage asked for) → CHARGE the actual usage, durably, before
 * the response completes → release the rest. Every ending converts the hold:
 *
 * - success: the upstream's usage at the on-chain prices (never more than the hold);
 * - client disconnect, upstream error or timeout mid-stream: only the tokens delivered to the
 *   client (cumulative usage on each chunk, else one token per content chunk); nothing if none;
 * - upstream error or timeout before any output: nothing.
 */
import { createHash, randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { LimitsConfig, ModelConfig } from "../config.js";
import { GatewayError, badRequest, ledgerUnavailable } from "../errors.js";
import { type Ending, type Hold, type KeyInfo, type Ledger, type Quote, TIERS, type Tier } from "../ledger/ledger.js";
import type { GatewayMetrics } from "../metrics.js";
import { type PriceBook, quoteFor } from "../metering/quote.js";
import { type PriorityLimiter, QueueAbortedError, QueueTimeoutError } from "../upstream/priorityLimiter.js";
import type { UpstreamClient, UpstreamResponse } from "../upstream/upstreamClient.js";
import { formatCredits } from "../../sdk/credits/units.js";
import { readJsonRequest, sendError, sendJson } from "./body.js";

export interface Upstream {
  model: ModelConfig;
  /** OpenAI-compatible base URL (…/v1). */
  url: string;
  limiter: PriorityLimiter;
}

export interface MeteredProxyDeps {
  ledger: Ledger;
  metrics: GatewayMetrics;
  log: Logger;
  upstreams: ReadonlyMap<string, Upstream>;
  /** The connections to the upstreams. */
  upstreamClient: UpstreamClient;
  prices: () => PriceBook | undefined;
  limitsFor: (holder: string) => LimitsConfig;
  replica: string;
  maxBodyBytes: number;
  logContent: boolean;
  /**
   * Why no metered request may be served now (the chain has not been read for too long), or
   * undefined: checked before every hold.
   */
  refusal?: () => GatewayError | undefined;
  /**
   * The `cache_salt` of a holder's requests to a model whose prefix cache is per holder (with the
   * client's own salt, if it sent one): never one another holder's requests get.
   */
  cacheSalt: (holder: string, clientSalt: string | undefined) => string;
  now?: () => number;
}

/** vLLM's parameters refused (400): see where they are checked. */
const INTERNAL_PARAMETERS = ["kv_transfer_params", "vllm_xargs", "logits_processors"] as const;

/** vLLM's `priority`: lower is served first; 0 is its default. */
const VLLM_PRIORITY: Record<Tier, number> = { low: 1, normal: 0, high: -1, urgent: -2 };
/** `Retry-After` (s) of a request that waited its queueTimeoutMs: the model is saturated, a retry at once would queue again. */
const QUEUE_RETRY_AFTER_S = 5;

/**
 * A request's id: the time in milliseconds, then a random UUID. In time order, so the ledger's
 * index on request ids grows at its right edge (one page written per batch of requests) instead
 * of at random pages (one per request).
 */
const newRequestId = (chat: boolean) => `${chat ? "chatcmpl" : "cmpl"}-${Date.now().toString(16).padStart(12, "0")}${randomUUID().replaceAll("-", "")}`;

export const hashKey = (key: string): string => createHash("sha256").update(key).digest("hex");

const utf8 = (s: string) => Buffer.byteLength(s, "utf8");

/** A request field that is there: neither absent nor null (the two mean the same in a body). */
const given = (v: unknown): boolean => v !== undefined && v !== null;

/** What an upstream's `usage` counts must be to be charged: whole, non-negative numbers. */
const isTokenCount = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= 0;

function textOf(content: unknown, param: string): string {
  if (typeof content === "string") return content;
  if (content === null || content === undefined) return "";
  if (Array.isArray(content)) {
    return content
      .map((p, i) => {
        if (p && typeof p === "object" && (p as { type?: unknown }).type === "text" && typeof (p as { text?: unknown }).text === "string") return (p as { text: string }).text;
        throw badRequest("unsupported_content", `${param}[${i}]: only text content parts are supported`, param);
      })
      .join("");
  }
  throw badRequest("invalid_content", `${param} must be a string or an array of text parts`, param);
}

/** What a template may add for the tools it is given: the instructions around them (Qwen's, Hermes', Llama's are 100–200 tokens). */
const TOOLS_TEMPLATE_TOKENS = 256;

/**
 * An upper bound of the request's input tokens, from bytes (byte-level and byte-fallback
 * tokenizers never make more tokens than bytes): the whole body as decoded, since a chat template
 * renders roles, names, tool calls, `tools` and `documents` as well as the contents (counting the
 * contents alone, a 20 KB `tools` beside a one-word message was served for the price of the word:
 * the charge never exceeds the hold); and again the tools, tool calls and documents as indented
 * JSON, as templates print them (`tojson(indent=4)`, `", "` separators, the server's model adding
 * fields; see {@link indented}), with TOOLS_TEMPLATE_TOKENS for the instructions around tools; 4 per message and 8 per
 * request for the template's own and the special tokens. A template this does not bound (the
 * upstream counts more) is charged the hold, and logged. The upstream's count replaces the bound
 * in the charge. `bytes`: the body's size (by default, as serialized here).
 */
export function inputTokenBound(body: Record<string, unknown>, chat: boolean, bytes = utf8(JSON.stringify(body))): number {
  if (chat) {
    if (!Array.isArray(body.messages) || body.messages.length === 0) throw badRequest("invalid_messages", "messages must be a non-empty array", "messages");
    let rendered = 0;
    body.messages.forEach((m, i) => {
      if (!m || typeof m !== "object" || typeof (m as { role?: unknown }).role !== "string") throw badRequest("invalid_messages", `messages[${i}] needs a role`, `messages[${i}]`);
      // Text only: an image, audio or video part is many tokens from few bytes.
      textOf((m as { content?: unknown }).content, `messages[${i}].content`);
      const calls = (m as { tool_calls?: unknown }).tool_calls;
      if (given(calls)) rendered += indented(calls);
    });
    if (Array.isArray(body.tools) && body.tools.length > 0) rendered += indented(body.tools) + TOOLS_TEMPLATE_TOKENS;
    if (given(body.documents)) rendered += indented(body.documents);
    return bytes + rendered + 4 * body.messages.length + 8;
  }
  if (typeof body.prompt !== "string") throw badRequest("invalid_prompt", "prompt must be a string", "prompt");
  return bytes + 8;
}

/**
 * The bytes of `v` as indented JSON — a line per value, `": "` after each key — one space a level
 * (a tokenizer makes a token or two of a run of spaces, not four a level), with the tool calls'
 * `arguments` strings parsed, as the server does.
 */
function indented(v: unknown): number {
  return utf8(JSON.stringify(v, (k, x) => (k === "arguments" && typeof x === "string" ? parsedOr(x) : x), 1));
}

function parsedOr(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function parseTier(req: IncomingMessage, body: Record<string, unknown>): Tier {
  const raw = (req.headers["x-ctk-priority"] as string | undefined) ?? (typeof body.priority === "string" ? body.priority : undefined);
  if (raw === undefined) return "normal";
  if (!(TIERS as readonly string[]).includes(raw)) throw badRequest("invalid_priority", `priority must be one of ${TIERS.join(", ")} (got "${raw}")`, "priority");
  return raw as Tier;
}

function bearerKey(req: IncomingMessage): string {
  const h = req.headers.authorization;
  if (!h) throw new GatewayError(401, "authentication_error", "missing_api_key", "no API key: send `Authorization: Bearer <key>` (get one with `ctk credits key create`)");
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  if (!m) throw new GatewayError(401, "authentication_error", "invalid_api_key", "the Authorization header must be `Bearer <key>`");
  return m[1];
}

interface Usage {
  prompt_tokens?: number;
  completion_tokens?: number;
  prompt_tokens_details?: unknown;
}

export class MeteredProxy {
  private readonly now: () => number;

  constructor(private readonly d: MeteredProxyDeps) {
    this.now = d.now ?? Date.now;
  }

  /**
   * Key hash → its authorization, cached: a key's authorization never changes, and whether it may
   * still spend (revoked, expired, offboarded) is checked again inside every hold's transaction.
   */
  private readonly keys = new Map<string, KeyInfo>();

  /** Quotes bound once per price table, model and tier (a new table, a new map). */
  private readonly quotes = new WeakMap<PriceBook, Map<string, Quote | undefined>>();

  private quote(prices: PriceBook, model: string, tier: Tier): Quote | undefined {
    let byModel = this.quotes.get(prices);
    if (!byModel) {
      byModel = new Map();
      this.quotes.set(prices, byModel);
    }
    const key = `${model}\u0000${tier}`;
    if (!byModel.has(key)) byModel.set(key, quoteFor(prices, model, tier));
    return byModel.get(key);
  }

  /** Resolves the key to its authorization, or throws 401/403. */
  async authenticate(req: IncomingMessage): Promise<KeyInfo> {
    const hash = hashKey(bearerKey(req));
    const cached = this.keys.get(hash);
    if (cached) return cached;
    let info: KeyInfo | undefined;
    try {
      info = await this.d.ledger.findKey(hash);
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      this.d.log.error({ err }, "the ledger did not answer a key lookup");
      throw ledgerUnavailable("the gateway's ledger did not answer (looking up the API key); nothing was charged: try again shortly");
    }
    if (!info) throw new GatewayError(401, "authentication_error", "invalid_api_key", "this API key is not known to this gateway");
    if (this.keys.size >= 100_000) this.keys.clear();
    this.keys.set(hash, info);
    return info;
  }

  async handle(req: IncomingMessage, res: ServerResponse, chat: boolean): Promise<void> {
    const started = this.now();
    let model = "-";
    let tier: Tier = "normal";
    let status = 200;
    try {
      const key = await this.authenticate(req);
      const { body, bytes } = await readJsonRequest(req, this.d.maxBodyBytes);
      if (typeof body.model !== "string" || body.model === "") throw badRequest("missing_model", "model is required", "model");
      model = body.model;
      tier = parseTier(req, body);
      const upstream = this.d.upstreams.get(model);
      const prices = this.d.prices();
      const quote = prices && upstream ? this.quote(prices, model, tier) : undefined;
      if (!upstream || !quote) {
        throw new GatewayError(404, "invalid_request_error", "model_not_found", `the model "${model}" does not exist here (GET /v1/models lists the models)`, { param: "model" });
      }
      const asked = body.max_tokens ?? body.max_completion_tokens;
      if (given(asked) && (typeof asked !== "number" || !Number.isInteger(asked) || asked < 1)) {
        throw badRequest("invalid_max_tokens", `max_tokens must be a positive integer (got ${JSON.stringify(asked)})`, "max_tokens");
      }
      if (body.n !== undefined && body.n !== 1) throw badRequest("unsupported_n", "only n = 1 is supported", "n");
      // More sequences generated than returned, and only those returned counted in the usage.
      if (given(body.best_of) && body.best_of !== 1) throw badRequest("unsupported_best_of", "only best_of = 1 is supported", "best_of");
      // vLLM's: several prompts, each generating up to max_tokens (the hold covers one).
      if (given(body.prompt_embeds)) throw badRequest("unsupported_prompt_embeds", "prompt_embeds is not supported: send the prompt as text", "prompt_embeds");
      // A template sent with the request could repeat what it renders: no bound from the body holds.
      const topTemplate = given(body.chat_template);
      if (topTemplate || (body.chat_template_kwargs as { chat_template?: unknown } | null | undefined)?.chat_template !== undefined)
        throw badRequest(
          "unsupported_chat_template",
          "a chat template sent with the request is not accepted: the model server's own is used",
          topTemplate ? "chat_template" : "chat_template_kwargs.chat_template",
        );
      // vLLM's: they steer the server's internals (disaggregated serving's KV transfers, its
      // extensions, code it loads by name), not the completion: an employee's request has no business there.
      for (const p of INTERNAL_PARAMETERS)
        if (given(body[p])) throw badRequest("unsupported_parameter", `${p} steers the model server's internals and is not accepted through the gateway`, p);
      // vLLM's beam search sends the engine a request per step, as token ids without the request's
      // cache_salt (a per-holder prefix cache would be shared again) and each counted apart.
      if (given(body.use_beam_search) && body.use_beam_search !== false)
        throw badRequest("unsupported_beam_search", "use_beam_search is not supported through the gateway", "use_beam_search");
      if (given(body.cache_salt) && (typeof body.cache_salt !== "string" || body.cache_salt === ""))
        throw badRequest("invalid_cache_salt", "cache_salt must be a non-empty string", "cache_salt");
      if (body.stream !== undefined && typeof body.stream !== "boolean") throw badRequest("invalid_stream", "stream must be true or false", "stream");
      const inputTokens = inputTokenBound(body, chat, bytes);
      const requestId = newRequestId(chat);
      // Checked last before the hold (a body can take minutes to arrive).
      const refused = this.d.refusal?.();
      if (refused) throw refused;
      const holdStart = performance.now();
      let hold: Hold;
      try {
        hold = await this.d.ledger.hold({
          requestId,
          keyId: key.keyId,
          authId: key.authId,
          model,
          tier,
          inputTokens,
          maxTokens: (asked as number | undefined) ?? undefined,
          modelMaxTokens: upstream.model.maxOutputTokens,
          quote,
          limits: this.d.limitsFor(key.holder),
          replica: this.d.replica,
          now: this.now(),
          key,
        });
      } catch (err) {
        if (err instanceof GatewayError) throw err;
        // The ledger leaves nothing of a hold it may have placed (see Ledger.hold): not charged.
        this.d.log.error({ err, requestId }, "the ledger did not answer a hold");
        throw ledgerUnavailable("the gateway's ledger did not answer (placing the hold); nothing was charged: try again shortly");
      }
      this.d.metrics.holdSeconds.observe((performance.now() - holdStart) / 1000);
      status = await this.run(req, res, { body, chat, upstream, quote, hold, tier, key });
    } catch (err) {
      const e = err instanceof GatewayError ? err : new GatewayError(500, "server_error", "internal_error", "the gateway failed to handle this request");
      if (!(err instanceof GatewayError)) this.d.log.error({ err }, "request failed");
      status = e.status;
      sendError(res, e);
    } finally {
      if (status === 200 && model !== "-") this.d.metrics.forModel(model, tier).ok.inc();
      else this.d.metrics.requests.inc({ status: String(status), model, tier });
      if (this.d.log.isLevelEnabled("debug")) this.d.log.debug({ model, tier, status, ms: this.now() - started }, "request");
    }
  }

  private async run(
    _req: IncomingMessage,
    res: ServerResponse,
    r: { body: Record<string, unknown>; chat: boolean; upstream: Upstream; quote: Quote; hold: Hold; tier: Tier; key: KeyInfo },
  ): Promise<number> {
    const { upstream, hold, quote, tier } = r;
    const model = upstream.model;
    const m = this.d.metrics.forModel(model.name, tier);
    const stream = r.body.stream === true;
    /** The model's prefix cache is salted per holder: the holder's own, its cached-token counts shown. */
    const ownCache = model.prefixCache === "per-holder";
    const clientSo = (r.body.stream_options ?? {}) as { include_usage?: boolean; continuous_usage_stats?: boolean };
    const abort = new AbortController();
    let clientGone = false;
    res.on("close", () => {
      if (!res.writableEnded) {
        clientGone = true;
        abort.abort(new Error("client disconnected"));
      }
    });
    let ended = false;
    const end = async (u: { tokensIn: number; tokensOut: number; ending: Ending }) => {
      if (!isTokenCount(u.tokensIn) || !isTokenCount(u.tokensOut)) {
        // Not ended: the request's last step releases the hold.
        this.d.log.error({ requestId: hold.requestId, tokensIn: u.tokensIn, tokensOut: u.tokensOut }, "the upstream's usage is not a count of tokens");
        throw new GatewayError(502, "upstream_error", "invalid_usage", "the model's server reported usage that is not a count of tokens; nothing was charged");
      }
      ended = true;
      const amount = u.tokensIn === 0 && u.tokensOut === 0 ? 0n : quote.cost(u.tokensIn, u.tokensOut);
      let done: { charge: bigint } | undefined;
      try {
        done = await this.d.ledger.settleRequest(hold.requestId, { ...u, amount }, this.now());
      } catch (err) {
        if (u.ending === "ok") {
          // The answer is not delivered (a plain one is refused; a stream is cut before its last
          // events): its hold is released or, if the charge was committed after all (its reply
          // lost), the charge taken back, in the background once the database answers.
          this.d.ledger.releaseUndelivered(hold.requestId);
        } else {
          // Not ended: the request's last step releases the hold (else it stays open until a restart).
          ended = false;
        }
        if (err instanceof GatewayError) throw err;
        this.d.log.error(
          { err, requestId: hold.requestId, holder: r.key.holder },
          u.ending === "ok" ? "the ledger did not record the request's charge: the answer is not delivered, and not charged" : "the ledger did not record the request's ending",
        );
        throw ledgerUnavailable("the gateway's ledger did not answer (recording this request's usage), so the response is not delivered and not charged: try again shortly");
      }
      const charge = done?.charge ?? 0n;
      if (done && charge < amount)
        // The charge never exceeds the hold: the usage came out above it (an input bound short of the template's rendering).
        this.d.log.warn(
          {
            requestId: hold.requestId,
            holder: r.key.holder,
            keyId: r.key.keyId,
            model: model.name,
            tokensIn: u.tokensIn,
            tokensOut: u.tokensOut,
            cost: amount.toString(),
            charge: charge.toString(),
          },
          "the usage exceeded the hold: charged the hold",
        );
      if (!done && amount > 0n)
        this.d.log.error(
          { requestId: hold.requestId, amount: amount.toString() },
          "the request's hold was released before its charge (another process under this replica's name? its lease recovered while this replica could not reach the ledger?): not charged",
        );
      if (charge > 0n) {
        m.tokensIn.inc(u.tokensIn);
        m.tokensOut.inc(u.tokensOut);
        m.credits.inc(Number(charge) / 1e6);
      }
      // The record is built only when the level logs it (benchmarks and busy gateways run at "warn").
      if (this.d.log.isLevelEnabled("info"))
        this.d.log.info(
          {
            requestId: hold.requestId,
            keyId: r.key.keyId,
            holder: r.key.holder,
            model: model.name,
            tier,
            ending: u.ending,
            tokensIn: u.tokensIn,
            tokensOut: u.tokensOut,
            held: hold.amount.toString(),
            charge: charge.toString(),
          },
          "metered",
        );
      return charge;
    };

    let release: (() => void) | undefined;
    try {
      const queued = performance.now();
      m.queueDepth.set(upstream.limiter.depth + 1);
      try {
        release = await upstream.limiter.acquire(TIERS.indexOf(tier), { signal: abort.signal, timeoutMs: model.queueTimeoutMs });
      } finally {
        m.queueDepth.set(upstream.limiter.depth);
      }
      m.queueSeconds.observe((performance.now() - queued) / 1000);

      const forward: Record<string, unknown> = { ...r.body, model: model.upstreamModel ?? model.name, max_tokens: hold.outputTokens };
      delete forward.max_completion_tokens;
      delete forward.priority;
      // vLLM takes the body's request_id as its own id for the request (and aborts by it): an id
      // two employees chose alike would mix their requests there. The upstream gets the gateway's,
      // in the header vLLM reads it from (`x-request-id`), so that its logs show it.
      delete forward.request_id;
      if (ownCache) forward.cache_salt = this.d.cacheSalt(r.key.holder, typeof r.body.cache_salt === "string" ? r.body.cache_salt : undefined);
      if (model.sendPriority) forward.priority = VLLM_PRIORITY[tier];
      if (stream) forward.stream_options = { include_usage: true, ...(model.continuousUsage && { continuous_usage_stats: true }) };
      if (this.d.logContent) this.d.log.info({ requestId: hold.requestId, body: r.body }, "request content");

      const timer = setTimeout(() => abort.abort(new TimeoutSignal()), model.timeoutMs);
      const upStart = performance.now();
      try {
        let up: UpstreamResponse;
        try {
          up = await this.d.upstreamClient.post(
            `${upstream.url}/${r.chat ? "chat/completions" : "completions"}`,
            JSON.stringify(forward),
            { "content-type": "application/json", accept: stream ? "text/event-stream" : "application/json", "x-request-id": hold.requestId },
            abort.signal,
          );
        } catch (err) {
          return this.failBeforeOutput(res, end, clientGone, abort.signal.reason, err);
        }
        if (!up.ok) {
          const text = await up.text().catch(() => "");
          let message = text.slice(0, 500);
          try {
            message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? message;
          } catch {
            // not JSON
          }
          await end({ tokensIn: 0, tokensOut: 0, ending: "upstream_error" });
          const status = up.status >= 500 ? 502 : up.status;
          sendError(
            res,
            new GatewayError(
              status,
              status === 502 ? "upstream_error" : "invalid_request_error",
              "upstream_error",
              `the model's server answered ${up.status}: ${message}; nothing was charged`,
            ),
          );
          return status;
        }
        if (!stream) {
          let payload: { usage?: Usage } & Record<string, unknown>;
          try {
            payload = (await up.json()) as typeof payload;
          } catch (err) {
            return this.failBeforeOutput(res, end, clientGone, abort.signal.reason, err);
          }
          const tokensIn = payload.usage?.prompt_tokens ?? 0;
          const tokensOut = payload.usage?.completion_tokens ?? 0;
          if (clientGone) {
            await end({ tokensIn: 0, tokensOut: 0, ending: "disconnect" });
            return 499;
          }
          const charge = await end({ tokensIn, tokensOut, ending: "ok" });
          const usage = {
            ...clientUsage(payload.usage, ownCache),
            cost: formatCredits(charge),
            cost_base_units: charge.toString(),
            price_version: quote.priceVersion.toString(),
            priority: tier,
          };
          sendJson(res, 200, { ...payload, id: hold.requestId, model: model.name, usage }, this.costHeaders(hold, charge, tier));
          return 200;
        }
        return await this.pipeStream(res, up, {
          hold,
          end,
          clientSo,
          abort,
          timedOut: () => abort.signal.reason instanceof TimeoutSignal,
          clientGone: () => clientGone,
          model: model.name,
          showCached: ownCache,
          tier,
          priceVersion: quote.priceVersion,
        });
      } finally {
        clearTimeout(timer);
        m.upstreamSeconds.observe((performance.now() - upStart) / 1000);
      }
    } catch (err) {
      if (err instanceof QueueAbortedError) {
        await end({ tokensIn: 0, tokensOut: 0, ending: "disconnect" });
        return 499;
      }
      if (err instanceof QueueTimeoutError) {
        // Bounded so that the request ends before any replica may take its hold or lease from it
        // (see gateway/config.ts): served after that, its charge would find nothing to convert.
        await end({ tokensIn: 0, tokensOut: 0, ending: "timeout" });
        throw new GatewayError(
          503,
          "server_error",
          "queue_timeout",
          `the model "${model.name}" is busy: this request waited ${err.waitedMs / 1000} s in its queue (queueTimeoutMs) without reaching it; nothing was charged: try again shortly`,
          { retryAfterS: QUEUE_RETRY_AFTER_S },
        );
      }
      throw err;
    } finally {
      release?.();
      // Whatever happened, the hold does not outlive the request.
      if (!ended)
        await end({ tokensIn: 0, tokensOut: 0, ending: "upstream_error" }).catch((err) =>
          this.d.log.error({ err, requestId: hold.requestId }, "could not release a hold; the ledger tries again in the background"),
        );
    }
  }

  private costHeaders(hold: Hold, charge: bigint, tier: Tier): Record<string, string> {
    return {
      "x-request-id": hold.requestId,
      "x-ctk-cost": formatCredits(charge),
      "x-ctk-cost-base-units": charge.toString(),
      "x-ctk-held": formatCredits(hold.amount),
      "x-ctk-priority": tier,
    };
  }

  private async failBeforeOutput(
    res: ServerResponse,
    end: (u: { tokensIn: number; tokensOut: number; ending: Ending }) => Promise<bigint>,
    clientGone: boolean,
    reason: unknown,
    err: unknown,
  ): Promise<number> {
    if (clientGone) {
      await end({ tokensIn: 0, tokensOut: 0, ending: "disconnect" });
      return 499;
    }
    const timeout = reason instanceof TimeoutSignal;
    await end({ tokensIn: 0, tokensOut: 0, ending: timeout ? "timeout" : "upstream_error" });
    const e = timeout
      ? new GatewayError(504, "upstream_error", "upstream_timeout", "the model's server did not answer in time; nothing was charged")
      : new GatewayError(502, "upstream_error", "upstream_unreachable", `the model's server could not be reached (${(err as Error)?.message ?? String(err)}); nothing was charged`);
    sendError(res, e);
    return e.status;
  }

  private async pipeStream(
    res: ServerResponse,
    up: UpstreamResponse,
    s: {
      hold: Hold;
      end: (u: { tokensIn: number; tokensOut: number; ending: Ending }) => Promise<bigint>;
      clientSo: { include_usage?: boolean; continuous_usage_stats?: boolean };
      abort: AbortController;
      timedOut: () => boolean;
      clientGone: () => boolean;
      model: string;
      /** The per-chunk usage's cached tokens shown (see clientUsage). */
      showCached: boolean;
      tier: Tier;
      priceVersion: bigint;
    },
  ): Promise<number> {
    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      connection: "keep-alive",
      "x-request-id": s.hold.requestId,
      "x-ctk-held": formatCredits(s.hold.amount),
      "x-ctk-priority": s.tier,
    });
    let deliveredIn = 0;
    let deliveredOut = 0;
    let finalUsage: Usage | undefined;
    let sawDone = false;
    // A client that stops reading holds a write until it drains, or leaves, or the request's time is
    // up (timeoutMs aborts it): a request's life stays bounded (see gateway/config.ts), whoever reads it.
    const write = async (text: string) => {
      if (!res.write(text))
        await new Promise<void>((resolve) => {
          const done = () => {
            res.off("drain", done);
            res.off("close", done);
            s.abort.signal.removeEventListener("abort", done);
            resolve();
          };
          res.on("drain", done);
          res.on("close", done);
          if (s.abort.signal.aborted) done();
          else s.abort.signal.addEventListener("abort", done, { once: true });
        });
    };
    const relay = new ChunkRelay(s.hold.requestId, s.model, s.clientSo.continuous_usage_stats === true, s.showCached);
    const decoder = new Utf8Reads();
    let buf = "";
    // The events read with the upstream's [DONE]: they go out with the end of the response.
    let tail = "";
    try {
      for await (const value of up.body) {
        buf += decoder.decode(value);
        // The events of one read go to the client in one write; they count as delivered once written.
        let pending = "";
        let pendingIn: number | undefined;
        let pendingOut = deliveredOut;
        let from = 0;
        for (let i = buf.indexOf("\n\n"); i >= 0; i = buf.indexOf("\n\n", from)) {
          const event = buf.slice(from, i);
          from = i + 2;
          const data = sseData(event);
          if (!data) continue;
          if (data === "[DONE]") {
            sawDone = true;
            break;
          }
          const c = relay.chunk(data);
          if (!c) continue;
          if (c.finalUsage) {
            finalUsage = c.finalUsage;
            continue;
          }
          pending += c.text;
          if (c.completionTokens !== undefined) pendingOut = c.completionTokens;
          else if (c.hasContent) pendingOut++;
          if (c.promptTokens !== undefined) pendingIn = c.promptTokens;
        }
        buf = from === 0 ? buf : buf.slice(from);
        if (sawDone && !s.clientGone()) {
          // Nothing comes after [DONE]: these events are sent with the charge's usage chunk and the
          // end, in one write, once the charge is durable.
          tail = pending;
          deliveredOut = pendingOut;
          if (pendingIn !== undefined) deliveredIn = pendingIn;
          break;
        }
        if (pending) {
          if (s.clientGone()) break;
          await write(pending);
          if (s.clientGone()) break;
          // Delivered: what was handed to the client's socket.
          deliveredOut = pendingOut;
          if (pendingIn !== undefined) deliveredIn = pendingIn;
        }
        if (sawDone) break;
      }
    } catch {
      // upstream failed, timed out, or the client left: charged below for what was delivered
    }
    // The upstream's [DONE] is its last event: drain what is left (the end of the response), so
    // its keep-alive connection goes back to the pool instead of being torn down.
    if (sawDone) up.discard();
    if (sawDone && !s.clientGone()) {
      const tokensIn = finalUsage?.prompt_tokens ?? deliveredIn;
      const tokensOut = finalUsage?.completion_tokens ?? deliveredOut;
      // Durable before the response completes: the last write waits for the charge's commit.
      const charge = await s.end({ tokensIn, tokensOut, ending: "ok" });
      if (s.clientSo.include_usage) {
        const usage = {
          prompt_tokens: tokensIn,
          completion_tokens: tokensOut,
          total_tokens: tokensIn + tokensOut,
          // vLLM's own final usage carries the cached tokens (not its per-chunk usage): shown where the cache is the holder's.
          ...(s.showCached && finalUsage?.prompt_tokens_details !== undefined && { prompt_tokens_details: finalUsage.prompt_tokens_details }),
          cost: formatCredits(charge),
          cost_base_units: charge.toString(),
          price_version: s.priceVersion.toString(),
          priority: s.tier,
        };
        tail += `data: ${JSON.stringify({ id: s.hold.requestId, object: "chat.completion.chunk", created: Math.floor(Date.now() / 1000), model: s.model, choices: [], usage })}\n\n`;
      }
      res.end(`${tail}data: [DONE]\n\n`);
      return 200;
    }
    s.abort.abort(new Error("stream ended"));
    const ending: Ending = s.clientGone() ? "disconnect" : s.timedOut() ? "timeout" : "upstream_error";
    // Nothing delivered: nothing charged. Otherwise the prompt (as the upstream counted it) and the delivered tokens.
    await s.end({ tokensIn: deliveredOut > 0 ? deliveredIn : 0, tokensOut: deliveredOut, ending });
    if (!s.clientGone()) {
      const message = ending === "timeout" ? "the model's server did not finish in time" : "the model's server failed mid-stream";
      res.end(
        `data: ${JSON.stringify({ error: { message: `${message}; only the ${deliveredOut} tokens delivered were charged`, type: "upstream_error", param: null, code: ending } })}\n\n`,
      );
    }
    return ending === "disconnect" ? 499 : ending === "timeout" ? 504 : 502;
  }
}

/** The `data` of one server-sent event ("" when it has none). */
function sseData(event: string): string {
  // The common shape: one `data: …` line.
  if (event.startsWith("data: ") && event.indexOf("\n") < 0) return event.slice(6);
  return event
    .split("\n")
    .filter((l) => l.startsWith("data:"))
    .map((l) => l.slice(5).trimStart())
    .join("\n");
}

/**
 * The start of a content chunk as vLLM and the embedded upstream write it: its four leading
 * members are top level (nothing precedes them but the object's opening brace) and plain (no
 * escapes), so they can be replaced without parsing the chunk.
 */
const CHUNK_HEAD = /^\{"id":"[^"\\]*","object":"([a-z_.]*)","created":(\d+),"model":"[^"\\]*","choices":\[\{/;
/**
 * The upstream's usage as the client sees it: on a model whose prefix cache is shared, without
 * `prompt_tokens_details` (its `cached_tokens` would tell whether a colleague's prompt began alike).
 * Anything but an object (an upstream's mistake) shows as nothing.
 */
function clientUsage(usage: unknown, showCached: boolean): Record<string, unknown> {
  if (!usage || typeof usage !== "object" || Array.isArray(usage)) return {};
  if (showCached) return usage as Record<string, unknown>;
  const { prompt_tokens_details: _, ...rest } = usage as Record<string, unknown>;
  return rest;
}

/**
 * Cumulative usage as the chunk's last member (vLLM's `continuous_usage_stats`, the embedded
 * upstream's): its counts in either order — vLLM's (prompt, total, completion: its model's field
 * order) or the OpenAI reference's (prompt, completion, total).
 */
const CHUNK_USAGE_TAIL = /,"usage":\{"prompt_tokens":(\d+),(?:"completion_tokens":(\d+),"total_tokens":\d+|"total_tokens":\d+,"completion_tokens":(\d+))\}\}$/;
/** A non-empty `delta.content` (chat) or `text` (completions): an unescaped quote cannot occur inside a JSON string. */
const CHUNK_CONTENT = /"(?:content|text)":"[^"]/;

/**
 * Re-frames the upstream's stream chunks for the client (the gateway's request id and model name,
 * the upstream's per-chunk usage kept only when the client asked for it) and reads what metering
 * needs from each: the cumulative token counts, whether it carries content, and the final usage.
 * Content chunks in the usual shape are rewritten as strings (no parse, no re-serialization:
 * this runs for every token of every stream); anything else is parsed and re-serialized.
 */
export class ChunkRelay {
  private readonly modelJson: string;

  constructor(
    private readonly requestId: string,
    private readonly model: string,
    private readonly keepUsage: boolean,
    /** The per-chunk usage's `prompt_tokens_details` kept (a per-holder prefix cache: see clientUsage). */
    private readonly showCached = false,
  ) {
    this.modelJson = JSON.stringify(model);
  }

  /** undefined: not JSON (dropped). */
  chunk(data: string): { text: string; hasContent: boolean; promptTokens?: number; completionTokens?: number; finalUsage?: Usage } | undefined {
    const head = CHUNK_HEAD.exec(data);
    if (head && data.endsWith("}")) {
      const u = data.indexOf('"usage"');
      const tail = u < 0 ? null : CHUNK_USAGE_TAIL.exec(data);
      if (u < 0 || (tail && tail.index + 1 === u && data.indexOf('"usage"', u + 1) < 0)) {
        const body = data.slice(head[0].length, tail ? tail.index : data.length - 1);
        const text = `data: {"id":"${this.requestId}","object":"${head[1]}","created":${head[2]},"model":${this.modelJson},"choices":[{${body}${tail && this.keepUsage ? tail[0] : "}"}\n\n`;
        // One shape for every content chunk (a spread of the counts made two).
        return { text, hasContent: CHUNK_CONTENT.test(body), promptTokens: tail ? Number(tail[1]) : undefined, completionTokens: tail ? Number(tail[2] ?? tail[3]) : undefined };
      }
    }
    let chunk: { choices?: { delta?: { content?: unknown }; text?: unknown }[] | null; usage?: Usage | null } & Record<string, unknown>;
    try {
      chunk = JSON.parse(data);
    } catch {
      return undefined;
    }
    if (chunk.usage && (!chunk.choices || chunk.choices.length === 0)) return { text: "", hasContent: false, finalUsage: chunk.usage };
    const usage = chunk.usage ?? undefined;
    const hasContent = (chunk.choices ?? []).some((c) => (typeof c.delta?.content === "string" && c.delta.content !== "") || (typeof c.text === "string" && c.text !== ""));
    chunk.id = this.requestId;
    chunk.model = this.model;
    if (!this.keepUsage) delete chunk.usage;
    else if (chunk.usage) chunk.usage = clientUsage(chunk.usage, this.showCached) as Usage;
    return { text: `data: ${JSON.stringify(chunk)}\n\n`, hasContent, promptTokens: usage?.prompt_tokens, completionTokens: usage?.completion_tokens };
  }
}

/**
 * UTF-8 decoded read by read: a character split between two reads is decoded with the second, and
 * a byte order mark at the start dropped (as `TextDecoder` does; an event stream may begin with
 * one). `Buffer#toString` per read, about a fifth of the CPU of `TextDecoder` in stream mode (which
 * a profile of the stream relay showed at a fifth of its time).
 */
export class Utf8Reads {
  private rest: Buffer | undefined;
  private started = false;

  decode(read: Buffer): string {
    let b = this.rest ? Buffer.concat([this.rest, read]) : read;
    this.rest = undefined;
    const whole = completeUtf8(b);
    if (whole < b.length) {
      this.rest = Buffer.from(b.subarray(whole));
      b = b.subarray(0, whole);
    }
    const text = b.toString("utf8");
    if (this.started || text === "") return text;
    this.started = true;
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  }
}

/** How many leading bytes of `b` end on a whole character: all, unless its last character is cut short. */
function completeUtf8(b: Buffer): number {
  const n = b.length;
  // Back over continuation bytes (10xxxxxx) to the last character's lead byte: at most three.
  let i = n - 1;
  while (i >= 0 && i > n - 4 && (b[i] & 0xc0) === 0x80) i--;
  if (i < 0) return n;
  const lead = b[i];
  const length = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return i + length > n ? i : n;
}

class TimeoutSignal extends Error {
  constructor() {
    super("upstream timeout");
  }
}

export { sendError };
