/**
 * `GET /v1/usage`: the key's holder's usage records (one per charged request, as settled or still
 * waiting for a batch), oldest first — what `ctk credits usage` shows.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Ledger } from "../ledger/ledger.js";
import { toUsageRecord } from "../settle/settler.js";
import { sendJson } from "./body.js";
import type { MeteredProxy } from "./meteredProxy.js";

export function usageRoute(d: { proxy: MeteredProxy; ledger: Ledger }) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const key = await d.proxy.authenticate(req);
    const rows = await d.ledger.usage({ holder: key.holder });
    const settled = new Set((await d.ledger.batches("settled")).map((b) => b.batchId));
    sendJson(res, 200, {
      holder: key.holder,
      records: rows.map((r) => ({ ...toUsageRecord(r), batchId: r.batchId, settled: r.batchId !== null && settled.has(r.batchId) })),
    });
  };
}
