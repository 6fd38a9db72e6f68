/**
 * `GET /v1/usage`: the key's holder's usage records (one per charged request, as settled or still
 * waiting for a batch), newest first, a page at a time — what `ctk credits usage` shows.
 *
 * - `limit`: records per page, 1 … {@link USAGE_MAX_LIMIT} (default {@link USAGE_DEFAULT_LIMIT}).
 * - `before`: the previous page's `nextBefore`: the page after it (older records).
 *
 * The answer: `{ holder, records, nextBefore }`, `nextBefore` null on the last page. A page costs
 * the same whatever the history: one indexed range of the holder's rows, and their batches by id.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { USAGE_DEFAULT_LIMIT, USAGE_MAX_LIMIT, type UsagePage } from "../../sdk/credits/usageRecord.js";
import { badRequest } from "../errors.js";
import type { Ledger, UsageCursor } from "../ledger/ledger.js";
import { toUsageRecord } from "../settle/settler.js";
import { sendJson } from "./body.js";
import type { MeteredProxy } from "./meteredProxy.js";

/**
 * The cursor is opaque to clients: base64url of `s<seq>:<request id>` (the last record's place in
 * commit order; an earlier version's `<finish ms>:<request id>` is refused, not read as a place).
 */
export const encodeUsageCursor = (c: UsageCursor): string => Buffer.from(`s${c.seq}:${c.requestId}`, "utf8").toString("base64url");

/** @returns undefined when `text` is not a cursor this gateway made */
export function decodeUsageCursor(text: string): UsageCursor | undefined {
  if (!/^[A-Za-z0-9_-]{1,400}$/.test(text)) return undefined;
  const m = /^s(-?\d{1,18}):([\x21-\x7e]{1,200})$/.exec(Buffer.from(text, "base64url").toString("utf8"));
  return m ? { seq: BigInt(m[1]), requestId: m[2] } : undefined;
}

function pageParams(url: string | undefined): { limit: number; before?: UsageCursor } {
  const query = new URL(url ?? "/", "http://gateway").searchParams;
  for (const name of query.keys())
    if (name !== "limit" && name !== "before") throw badRequest("unknown_parameter", `unknown query parameter "${name}": use limit and before`, name);
  const rawLimit = query.get("limit");
  let limit = USAGE_DEFAULT_LIMIT;
  if (rawLimit !== null) {
    if (!/^\d{1,7}$/.test(rawLimit) || Number(rawLimit) < 1 || Number(rawLimit) > USAGE_MAX_LIMIT)
      throw badRequest("invalid_limit", `limit must be a whole number from 1 to ${USAGE_MAX_LIMIT} (got "${rawLimit.slice(0, 40)}")`, "limit");
    limit = Number(rawLimit);
  }
  const rawBefore = query.get("before");
  if (rawBefore === null) return { limit };
  const before = decodeUsageCursor(rawBefore);
  if (!before) throw badRequest("invalid_cursor", "before must be the nextBefore of a previous /v1/usage page", "before");
  return { limit, before };
}

export function usageRoute(d: { proxy: MeteredProxy; ledger: Ledger }) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const key = await d.proxy.authenticate(req);
    const { limit, before } = pageParams(req.url);
    const { rows, more } = await d.ledger.usagePage({ holder: key.holder, limit, before });
    const last = rows.at(-1);
    const page: UsagePage = {
      holder: key.holder,
      records: rows.map((r) => ({ ...toUsageRecord(r), batchId: r.batchId, settled: r.settled })),
      nextBefore: more && last?.seq !== null && last?.seq !== undefined ? encodeUsageCursor({ seq: last.seq, requestId: last.requestId }) : null,
    };
    sendJson(res, 200, page);
  };
}
