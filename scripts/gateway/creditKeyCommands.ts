/**
 * The employee's gateway commands, under `ctk credits`:
 * - `ctk credits key create --authorization auth.json --gateway URL`: turns a signed spending
 *   authorization (from `ctk credits authorize`) into an API key; the key is shown once.
 * - `ctk credits usage --gateway URL [--limit N]`: your usage records at that gateway (key from
 *   --key or CTK_API_KEY): every request (or the newest N), its tokens, priority and charge, and
 *   whether it is settled; read page by page from `GET /v1/usage`.
 */
import { readFileSync } from "node:fs";
import { Command } from "commander";
import { formatCredits } from "../../sdk/credits/units.js";
import { globalsOf } from "../cli/globals.js";
import { UserError, note, output, table } from "../cli/output.js";
import { USAGE_MAX_LIMIT, type UsagePage, type UsageRecordView } from "../../sdk/credits/usageRecord.js";

async function call(url: string, init: RequestInit): Promise<Record<string, unknown>> {
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch (err) {
    throw new UserError(`cannot reach the gateway at ${new URL(url).origin} (${(err as Error).message}): is it running? (ctk gateway serve)`);
  }
  const text = await res.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text);
  } catch {
    throw new UserError(`the gateway answered ${res.status} with something that is not JSON`);
  }
  if (!res.ok) throw new UserError(`the gateway refused: ${(body.error as { message?: string } | undefined)?.message ?? `HTTP ${res.status}`}`);
  return body;
}

const base = (gateway: string) => gateway.replace(/\/+$/, "").replace(/\/v1$/, "");

function keyCommand(): Command {
  const key = new Command("key").description("API keys for the metering gateway");
  key
    .command("create")
    .description("turn a signed spending authorization into an API key (shown once: keep it)")
    .requiredOption("--authorization <file>", "the authorization JSON from `ctk credits authorize`")
    .requiredOption("--gateway <url>", "the gateway, e.g. http://127.0.0.1:8788")
    .action(async (o: { authorization: string; gateway: string }, cmd: Command) => {
      const g = globalsOf(cmd);
      let doc: unknown;
      try {
        doc = JSON.parse(readFileSync(o.authorization, "utf8"));
      } catch (err) {
        throw new UserError(`cannot read ${o.authorization}: ${(err as Error).message}`);
      }
      const body = await call(`${base(o.gateway)}/v1/keys`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(doc) });
      output(g.json, [String(body.key)], body);
      if (!g.json) {
        const models = (body.models as string[]).length ? (body.models as string[]).join(", ") : "any model";
        // stdout is the key alone (`export CTK_API_KEY=$(npx ctk credits key create …)`): what it is goes here, never the key.
        note(`API key ${body.keyId} for ${body.holder}: up to ${body.cap} credits until ${body.expiresAt}, ${models}, at ${base(o.gateway)}/v1.`);
        note("The key (on stdout) is shown only this once: the gateway cannot show it again.");
      }
    });
  return key;
}

/**
 * Reads the holder's usage records page by page (newest first), following `nextBefore` until the
 * last page or until `limit` records.
 */
async function fetchUsage(gateway: string, key: string, limit?: number): Promise<{ holder: string; records: UsageRecordView[] }> {
  const records: UsageRecordView[] = [];
  let holder = "";
  let before: string | null = null;
  do {
    const want = limit === undefined ? USAGE_MAX_LIMIT : Math.min(USAGE_MAX_LIMIT, limit - records.length);
    const query = new URLSearchParams({ limit: String(want), ...(before ? { before } : {}) });
    const body = (await call(`${base(gateway)}/v1/usage?${query}`, { headers: { authorization: `Bearer ${key}` } })) as unknown as UsagePage;
    holder = body.holder;
    records.push(...body.records);
    before = body.nextBefore ?? null;
  } while (before && (limit === undefined || records.length < limit));
  return { holder, records };
}

function parseLimit(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new UserError(`--limit must be a whole number of records, at least 1 (got "${text}")`);
  return Number(text);
}

export function usageCommand(): Command {
  return new Command("usage")
    .description("your usage records at a gateway: each request's tokens, priority, charge and settlement (all of them, oldest first)")
    .requiredOption("--gateway <url>", "the gateway, e.g. http://127.0.0.1:8788")
    .option("--key <key>", "your API key (default: env CTK_API_KEY)")
    .option("--limit <n>", "only the newest n records (default: all)")
    .action(async (o: { gateway: string; key?: string; limit?: string }, cmd: Command) => {
      const g = globalsOf(cmd);
      const limit = o.limit === undefined ? undefined : parseLimit(o.limit);
      const key = o.key ?? process.env.CTK_API_KEY;
      if (!key) throw new UserError("no API key: pass --key or set CTK_API_KEY (ctk credits key create makes one)");
      const { holder, records: newestFirst } = await fetchUsage(o.gateway, key, limit);
      const records = newestFirst.reverse();
      const total = records.reduce((s, r) => s + BigInt(r.charge), 0n);
      const settled = records.filter((r) => r.settled).reduce((s, r) => s + BigInt(r.charge), 0n);
      const rows = records.map((r) => [
        r.finishedAt.replace("T", " ").slice(0, 19),
        r.model,
        String(r.tokensIn),
        String(r.tokensOut),
        r.priority,
        formatCredits(BigInt(r.charge)),
        r.settled ? "settled" : r.batchId ? "settling" : "pending",
      ]);
      output(
        g.json,
        [
          ...table(["finished (UTC)", "model", "in", "out", "priority", "credits", "state"], rows),
          `${records.length} request${records.length === 1 ? "" : "s"}${limit !== undefined ? ` (the newest, --limit ${limit})` : ""}, ${formatCredits(total)} credits (${formatCredits(settled)} settled on-chain, ${formatCredits(total - settled)} not yet)`,
        ],
        { holder, records, total: total.toString(), settled: settled.toString() },
      );
    });
}

/** Adds `key create` and `usage` to the `credits` command. */
export function addGatewayCreditCommands(credits: Command): Command {
  return credits.addCommand(keyCommand()).addCommand(usageCommand());
}
