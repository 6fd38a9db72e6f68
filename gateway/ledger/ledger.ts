/**
 * The gateway's ledger: holds, charges, limits and settlement batches, each change in one database
 * transaction that first locks the holder's row (and then the authorization's), so concurrent
 * requests — in one process or in several replicas on one PostgreSQL — see each other's holds.
 * On PostgreSQL the holds (and the endings) of concurrent requests share one statement, one
 * transaction; every transaction that locks several holders' rows locks them in ascending order,
 * and authorizations' rows only after them (a deadlock is only detected after a second). The one
 * multi-row authorization lock not in ascending order, a landed batch's activations, takes rows
 * whose holders it has locked already (or, in `createBatch`, rows not yet activated, which
 * nothing else locks then), so it cannot close a cycle.
 *
 *   available = on-chain balance − charges not yet settled − open holds
 *   cap left  = cap − charged by this gateway − open holds on the authorization
 *
 * A hold is the worst case of a request; its output tokens are cut to what the budget affords, and
 * the caller must pass that cut on to the upstream as `max_tokens`, so the actual cost can never
 * exceed the hold. Every ending converts the hold: a charge (≤ hold) or a release.
 */
import { randomUUID } from "node:crypto";
import { formatCredits } from "../../sdk/credits/units.js";
import { SETTLE_USAGE_MAX_CHARGES } from "../../sdk/credits/write.js";
import { retry } from "../../sdk/retry.js";
import { GatewayError } from "../errors.js";
import { GroupCommit, type GroupCommitStats } from "./groupCommit.js";
import {
  LEASE_GIVE_BACK_AUTHORIZATION_PG,
  LEASE_GIVE_BACK_HOLDER_PG,
  LEASE_HEADROOM,
  LEASE_IDLE_MS,
  LEASE_KEEP_PG,
  LEASE_LOCK_PG,
  LEASE_RECOVER_MS,
  LEASE_REQUESTS,
  LEASE_MAX_REQUESTS,
  LEASE_RECALL_MS,
  LEASE_RENEW_MS,
  LEASE_RETRY_MS,
  LEASE_SHRINK_PG,
  LEASE_TAKE_PG,
  LEASE_TOP_UP_PG,
  LEASE_UNCONVERTED_PG,
  LEASED_CHARGES_AGAIN_PG,
  LEASED_CHARGES_PG,
  type Lease,
  type LeaseStats,
} from "./leases.js";
import { SCHEMA, SCHEMA_AFTER_COLUMNS } from "./schema.js";
import { batchOf, chargedAfter, inBatchRange, PG_SNAPSHOT_XMIN, PG_XACT_SEQ, SQLITE_NEXT_SEQ, waitingCharge } from "./watermark.js";
import { DAY, MINUTE, minuteStartOf, rolledWindows } from "./windows.js";
import { PG_MAX_IN_FLIGHT, type Row, type SqlDriver, type SqlTx, big, num, str } from "./sql.js";

export const TIERS = ["low", "normal", "high", "urgent"] as const;
export type Tier = (typeof TIERS)[number];

/** What a request costs at one price version (the SDK's charge formula, bound to a model and tier). */
export interface Quote {
  priceVersion: bigint;
  /** Base units for these token counts (request charge and priority fee included). */
  cost(inputTokens: number, outputTokens: number): bigint;
  /** The most output tokens whose cost, with `inputTokens`, fits in `budget`; -1 when not even 0 fit. */
  maxOutputFor(inputTokens: number, budget: bigint): number;
}

export interface Limits {
  requestsPerMinute: number;
  tokensPerMinute: number;
  /** Base units. */
  creditsPerDay: bigint;
}

export interface HoldParams {
  requestId: string;
  keyId: string;
  authId: string;
  model: string;
  tier: Tier;
  /** Input tokens, counted or bounded from above. */
  inputTokens: number;
  /** The request's max_tokens (undefined: the model maximum). */
  maxTokens: number | undefined;
  modelMaxTokens: number;
  quote: Quote;
  limits: Limits;
  replica: string;
  now: number;
  /**
   * What the key says of its authorization that never changes (holder, nonce, expiry, models): with
   * it, PostgreSQL tries the hold as one conditional statement first (see {@link Ledger.hold}).
   */
  key?: Pick<KeyInfo, "holder" | "nonce" | "expiresAt" | "models">;
}

export interface Hold {
  requestId: string;
  holder: string;
  amount: bigint;
  /** The output tokens held for: pass on as max_tokens. */
  outputTokens: number;
}

/**
 * How a request ended; "ledger_error": released by the ledger itself — its hold's statement failed
 * without an answer, or its hold was left behind by a request this process no longer runs.
 */
export type Ending = "ok" | "disconnect" | "upstream_error" | "timeout" | "crash" | "ledger_error";

export interface AuthorizationRecord {
  authId: string;
  holder: string;
  nonce: bigint;
  cap: bigint;
  /** Seconds. */
  expiresAt: bigint;
  models: readonly string[];
  signature: string;
  /** The signed authorization file's JSON (what `settleUsage` activates it with). */
  document: string;
  /** Already charged on-chain against it (when a key is made for an active authorization). */
  charged: bigint;
  /** Already activated on-chain. */
  activated: boolean;
}

export interface KeyInfo {
  keyId: string;
  authId: string;
  holder: string;
  nonce: bigint;
  expiresAt: bigint;
  models: string[];
  status: string;
  offboarded: boolean;
}

export interface UsageRow {
  requestId: string;
  keyId: string;
  authId: string;
  holder: string;
  nonce: bigint;
  model: string;
  tier: Tier;
  priceVersion: bigint;
  hold: bigint;
  tokensIn: number;
  tokensOut: number;
  charge: bigint;
  ending: string;
  createdAt: number;
  finishedAt: number;
  /** Its place in commit order (see schema.ts); null until charged. */
  seq: bigint | null;
  batchId: string | null;
}

/** Where a page of usage continues: the last row shown (its place in commit order and request id). */
export interface UsageCursor {
  seq: bigint;
  requestId: string;
}

export interface BatchRow {
  batchId: string;
  priceVersion: bigint;
  usageRoot: string;
  status: "pending" | "settled";
  records: number;
  requested: bigint;
  charged: bigint | null;
  charges: { holder: string; nonce: string; amount: string; authId: string }[];
  activations: string[];
  txHash: string | null;
  createdAt: number;
}

/**
 * Builds a batch from its rows: the root and the deterministic id (see sdk/credits/usageRecord.ts).
 * It runs outside any ledger transaction (hashing thousands of records must not hold up holds and
 * charges), so it may be asynchronous (the settler hashes on a worker thread).
 */
export type BatchBuilder = (rows: UsageRow[], priceVersion: bigint) => { batchId: string; usageRoot: string } | Promise<{ batchId: string; usageRoot: string }>;

const I64_MAX = 2n ** 62n;

const usageRow = (r: Row): UsageRow => ({
  requestId: str(r.request_id),
  keyId: str(r.key_id),
  authId: str(r.auth_id),
  holder: str(r.holder),
  nonce: big(r.nonce),
  model: str(r.model),
  tier: str(r.tier) as Tier,
  priceVersion: big(r.price_version),
  hold: big(r.hold),
  tokensIn: num(r.tokens_in),
  tokensOut: num(r.tokens_out),
  charge: big(r.charge),
  ending: str(r.ending),
  createdAt: num(r.created_at),
  finishedAt: num(r.finished_at),
  seq: r.seq === null || r.seq === undefined ? null : big(r.seq),
  batchId: r.in_batch === null || r.in_batch === undefined ? null : str(r.in_batch),
});

const batchRow = (r: Row): BatchRow => ({
  batchId: str(r.batch_id),
  priceVersion: big(r.price_version),
  usageRoot: str(r.usage_root),
  status: str(r.status) as BatchRow["status"],
  records: num(r.records),
  requested: big(r.requested),
  charged: r.charged === null ? null : big(r.charged),
  charges: JSON.parse(str(r.charges)),
  activations: JSON.parse(str(r.activations)),
  txHash: r.tx_hash === null ? null : str(r.tx_hash),
  createdAt: num(r.created_at),
});

const fmtCredits = formatCredits;

/** Whether a request row is a lease's (its `lease_id` is its own id: see leases.ts). */
const isLease = (r: Row): boolean => r.lease_id !== null && r.lease_id !== undefined && str(r.lease_id) === str(r.request_id);

/** A map's entries in ascending order of their keys (holder addresses, lease or authorization ids): the order in which transactions lock their rows (see finishBatch). */
const ascending = <V>(m: ReadonlyMap<string, V>): [string, V][] => [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

const HOLD_COLUMNS = `a.holder, a.nonce, a.status, a.expires_at, a.models, a.cap, a.charged, a.open_holds AS a_open,
  h.balance, h.unsettled, h.open_holds AS h_open, h.offboarded, h.minute_start, h.minute_requests, h.minute_tokens, h.day_start, h.day_credits`;
/**
 * SQLite: BEGIN IMMEDIATE already holds the database's write lock. `+$1` (a no-op on the value; the
 * same plan) keeps SQLite from re-preparing this join each time it runs, as it does when the WHERE
 * compares a column with a bare bound parameter: 11.8 % of the ledger's CPU (bench/RESULTS.md, session 9).
 */
const HOLD_READ_SQLITE = `SELECT ${HOLD_COLUMNS} FROM gw_authorizations a JOIN gw_holders h ON h.holder = a.holder WHERE a.auth_id = +$1`;
/** PostgreSQL: the holder's row locked, then the authorization's (the `a` CTE's EXISTS runs `h` first). */
const HOLD_READ_PG = `WITH h AS (SELECT * FROM gw_holders WHERE holder = (SELECT holder FROM gw_authorizations WHERE auth_id = $1) FOR UPDATE),
  a AS (SELECT * FROM gw_authorizations WHERE auth_id = $1 AND EXISTS (SELECT 1 FROM h) FOR UPDATE)
  SELECT ${HOLD_COLUMNS} FROM a JOIN h ON h.holder = a.holder`;
const HOLD_HOLDER_UPDATE = `UPDATE gw_holders SET open_holds = open_holds + $2, minute_start = $3, minute_requests = $4, minute_tokens = $5, day_start = $6, day_credits = $7 WHERE holder = $1`;
const REQUEST_COLUMNS = "request_id, key_id, auth_id, holder, nonce, model, tier, price_version, status, hold, input_bound, max_output, replica, created_at";
/**
 * A released row in place of a hold in doubt, unless the request has a row: a hold of it committed
 * later then fails on the request id ({@link Ledger.hold}). $1 request id, $2 key id, $3 auth id,
 * $4 model, $5 tier, $6 price version, $7 replica, $8 now.
 */
const TOMBSTONE = `INSERT INTO gw_requests (${REQUEST_COLUMNS}, ending, finished_at)
  SELECT $1, $2, $3, a.holder, a.nonce, $4, $5, $6, 'released', 0, 0, 0, $7, $8, 'ledger_error', $8 FROM gw_authorizations a WHERE a.auth_id = $3
  ON CONFLICT (request_id) DO NOTHING`;
/**
 * PostgreSQL: one held request's charge (clamped to its hold; 0 releases it) and its effects on the
 * holder and the authorization, in one statement: {@link SETTLES_PG} for a group of one (cheaper
 * than the arrays' statement, where nothing waits to share it). $1 request, $2 amount, $3 tokens in, $4 tokens
 * out, $5 ending, $6 now. No row: the request was not held (already ended).
 */
const SETTLE_PG = `WITH r AS (
    UPDATE gw_requests SET
      status = CASE WHEN LEAST($2::bigint, hold) > 0 THEN 'charged' ELSE 'released' END,
      tokens_in = CASE WHEN LEAST($2::bigint, hold) > 0 THEN $3::bigint ELSE 0 END,
      tokens_out = CASE WHEN LEAST($2::bigint, hold) > 0 THEN $4::bigint ELSE 0 END,
      charge = LEAST($2::bigint, hold), ending = $5, finished_at = $6,
      seq = CASE WHEN LEAST($2::bigint, hold) > 0 THEN ${PG_XACT_SEQ} END
    WHERE request_id = $1 AND status = 'held'
    RETURNING holder, auth_id, hold, charge, created_at),
  h AS (
    UPDATE gw_holders g SET open_holds = g.open_holds - r.hold, unsettled = g.unsettled + r.charge,
      day_credits = g.day_credits - CASE WHEN r.created_at >= g.day_start THEN r.hold - r.charge ELSE 0 END
    FROM r WHERE g.holder = r.holder RETURNING 1),
  a AS (
    UPDATE gw_authorizations x SET open_holds = x.open_holds - r.hold, charged = x.charged + r.charge
    FROM r WHERE x.auth_id = r.auth_id AND EXISTS (SELECT 1 FROM h))
  SELECT charge FROM r`;

/**
 * PostgreSQL: a hold of the full request (output tokens not cut) in one statement, one round trip
 * ({@link FAST_HOLDS_PG} for a group of one, cheaper than the arrays' statement):
 * the holder's row locked, then the authorization's (the lock order of every transaction), the
 * rate windows rolled over, every check of {@link Ledger.hold} that can pass without cutting the
 * output tokens, and the three writes only when all pass. Returns `ok` 1 (held) or 0 (nothing
 * written: the transaction that checks everything in order decides). $1 holder, $2 auth id,
 * $3 now, $4 requests/minute, $5 tokens/minute, $6 credits/day, $7 input tokens, $8 output tokens,
 * $9 amount, $10 request id, $11 key id, $12 nonce, $13 model, $14 tier, $15 price version, $16 replica.
 */
const FAST_HOLD_PG = `WITH h AS MATERIALIZED (SELECT * FROM gw_holders WHERE holder = $1 FOR UPDATE),
  a AS MATERIALIZED (SELECT * FROM gw_authorizations WHERE auth_id = $2 AND holder = $1 AND EXISTS (SELECT 1 FROM h) FOR UPDATE),
  w AS (SELECT h.balance - h.unsettled - h.open_holds AS available, a.cap - a.charged - a.open_holds AS cap_left,
      h.offboarded, a.status, h.open_holds AS h_open, a.open_holds AS a_open,
      ${rolledWindows("$3::bigint")}
    FROM h JOIN a ON a.holder = h.holder),
  ok AS (SELECT * FROM w WHERE offboarded = 0 AND status <> 'revoked' AND mr + 1 <= $4::bigint
    AND mt + $7::bigint + GREATEST($8::bigint, 1) <= $5::bigint AND available >= $9::bigint AND cap_left >= $9::bigint AND $6::bigint - dc >= $9::bigint),
  uh AS (UPDATE gw_holders g SET open_holds = ok.h_open + $9::bigint, minute_start = ok.ms, minute_requests = ok.mr + 1,
      minute_tokens = ok.mt + $7::bigint + $8::bigint, day_start = ok.ds, day_credits = ok.dc + $9::bigint FROM ok WHERE g.holder = $1),
  ua AS (UPDATE gw_authorizations x SET open_holds = ok.a_open + $9::bigint FROM ok WHERE x.auth_id = $2),
  r AS (INSERT INTO gw_requests (${REQUEST_COLUMNS})
    SELECT $10, $11, $2, $1, $12::bigint, $13, $14, $15::bigint, 'held', $9::bigint, $7::bigint, $8::bigint, $16, $3::bigint FROM ok)
  SELECT COUNT(*) AS ok FROM ok`;

/**
 * PostgreSQL: held requests ended, many in one statement ({@link Ledger.settleRequest}'s group
 * commit): each request's charge (clamped to its hold; 0 releases it), and their effects on the
 * holders and the authorizations, summed per holder and per authorization. Parameters are arrays,
 * one element per request (the request ids distinct): $1 request ids, $2 amounts, $3 tokens in,
 * $4 tokens out, $5 endings, $6 nows. Returns a row (request id, charge) per request that was
 * held; none for one that was not (already ended).
 *
 * Locks in the order of every transaction: the requests' rows (`r`, in the order of the planner's
 * join: two statements share a request only when a replica releases another's stale holds as that
 * one ends them, and a cycle there would be detected and the statement retried), then the
 * holders' rows in ascending order (`hl`; with a Sort its input, every row of `r`, is read
 * before the first lock, and without one the holders' and requests' locks may interleave, which
 * is harmless: no transaction holds a holder's row and then waits for a held request's), then the authorizations' rows in ascending order (`al` starts only once `hl` has
 * locked every holder: an uncorrelated sub-select is a one-time filter evaluated first, and COUNT
 * reads the whole CTE, where EXISTS would read one row).
 */
const SETTLES_PG = `WITH v AS (SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::bigint[]) AS v(request_id, amount, tin, tout, ending, at)),
  r AS (
    UPDATE gw_requests q SET
      status = CASE WHEN LEAST(v.amount, q.hold) > 0 THEN 'charged' ELSE 'released' END,
      tokens_in = CASE WHEN LEAST(v.amount, q.hold) > 0 THEN v.tin ELSE 0 END,
      tokens_out = CASE WHEN LEAST(v.amount, q.hold) > 0 THEN v.tout ELSE 0 END,
      charge = LEAST(v.amount, q.hold), ending = v.ending, finished_at = v.at,
      seq = CASE WHEN LEAST(v.amount, q.hold) > 0 THEN ${PG_XACT_SEQ} END
    FROM v WHERE q.request_id = v.request_id AND q.status = 'held'
    RETURNING q.request_id, q.holder, q.auth_id, q.hold, q.charge, q.created_at),
  hl AS MATERIALIZED (SELECT holder, day_start FROM gw_holders WHERE holder IN (SELECT holder FROM r) ORDER BY holder FOR UPDATE),
  hs AS (SELECT r.holder, SUM(r.hold)::bigint AS hold, SUM(r.charge)::bigint AS charge,
      SUM(CASE WHEN r.created_at >= hl.day_start THEN r.hold - r.charge ELSE 0 END)::bigint AS back
    FROM r JOIN hl ON hl.holder = r.holder GROUP BY r.holder),
  h AS (UPDATE gw_holders g SET open_holds = g.open_holds - hs.hold, unsettled = g.unsettled + hs.charge, day_credits = g.day_credits - hs.back
    FROM hs WHERE g.holder = hs.holder),
  al AS MATERIALIZED (SELECT auth_id FROM gw_authorizations WHERE auth_id IN (SELECT auth_id FROM r) AND (SELECT COUNT(*) FROM hl) >= 0 ORDER BY auth_id FOR UPDATE),
  a AS (UPDATE gw_authorizations x SET open_holds = x.open_holds - s.hold, charged = x.charged + s.charge
    FROM (SELECT auth_id, SUM(hold)::bigint AS hold, SUM(charge)::bigint AS charge FROM r GROUP BY auth_id) s
    WHERE x.auth_id = s.auth_id AND (SELECT COUNT(*) FROM al) >= 0)
  SELECT request_id, charge FROM r`;

/**
 * PostgreSQL: holds of full requests (output tokens not cut), many in one statement, one round
 * trip ({@link Ledger.hold}'s group commit): the holders' rows locked in ascending order, then
 * the authorizations' in ascending order (`a` starts only once `h` has locked every holder: see
 * {@link SETTLES_PG}), the rate windows rolled over, for each request every check of
 * {@link Ledger.hold} that can pass without cutting the output tokens, and the three writes for
 * the requests whose checks all pass. At most one request per holder (hence per authorization):
 * each request's checks and writes are those of the same request alone, on its holder's row as
 * the previous statements left it. Returns the ids of the requests held; the others wrote
 * nothing (the transaction that checks everything in order decides). Parameters are arrays, one
 * element per request: $1 holder, $2 auth id, $3 now, $4 requests/minute, $5 tokens/minute,
 * $6 credits/day, $7 input tokens, $8 output tokens, $9 amount, $10 request id, $11 key id,
 * $12 nonce, $13 model, $14 tier, $15 price version, $16 replica.
 */
const FAST_HOLDS_PG = `WITH v AS MATERIALIZED (SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[],
      $9::bigint[], $10::text[], $11::text[], $12::bigint[], $13::text[], $14::text[], $15::bigint[], $16::text[])
    AS v(holder, auth_id, at, rpm, tpm, cpd, tin, tout, amount, request_id, key_id, nonce, model, tier, price_version, replica)),
  h AS MATERIALIZED (SELECT * FROM gw_holders WHERE holder = ANY ($1::text[]) ORDER BY holder FOR UPDATE),
  a AS MATERIALIZED (SELECT * FROM gw_authorizations WHERE auth_id = ANY ($2::text[]) AND holder = ANY ($1::text[]) AND (SELECT COUNT(*) FROM h) >= 0 ORDER BY auth_id FOR UPDATE),
  w AS (SELECT v.*, h.balance - h.unsettled - h.open_holds AS available, a.cap - a.charged - a.open_holds AS cap_left,
      h.offboarded, a.status, h.open_holds AS h_open, a.open_holds AS a_open,
      ${rolledWindows("v.at")}
    FROM v JOIN h ON h.holder = v.holder JOIN a ON a.auth_id = v.auth_id AND a.holder = v.holder),
  ok AS MATERIALIZED (SELECT * FROM w WHERE offboarded = 0 AND status <> 'revoked' AND mr + 1 <= rpm
    AND mt + tin + GREATEST(tout, 1) <= tpm AND available >= amount AND cap_left >= amount AND cpd - dc >= amount),
  uh AS (UPDATE gw_holders g SET open_holds = ok.h_open + ok.amount, minute_start = ok.ms, minute_requests = ok.mr + 1,
      minute_tokens = ok.mt + ok.tin + ok.tout, day_start = ok.ds, day_credits = ok.dc + ok.amount FROM ok WHERE g.holder = ok.holder),
  ua AS (UPDATE gw_authorizations x SET open_holds = ok.a_open + ok.amount FROM ok WHERE x.auth_id = ok.auth_id),
  r AS (INSERT INTO gw_requests (${REQUEST_COLUMNS})
    SELECT request_id, key_id, auth_id, holder, nonce, model, tier, price_version, 'held', amount, tin, tout, replica, at FROM ok)
  SELECT request_id FROM ok`;

/** PostgreSQL's SQLSTATE of a unique violation, and gw_requests' primary key (a request's row). */
const UNIQUE_VIOLATION = "23505";
const REQUEST_KEY = "gw_requests_pkey";

/** A PostgreSQL array literal of these values (a parameter cast to `text[]` or `bigint[]`), strings quoted. */
export const pgArray = (values: readonly (string | number | bigint)[]): string => {
  let out = "{";
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (i > 0) out += ",";
    // A backslash or a quote escaped; most strings (ids, addresses, names) have neither, and skip the replace.
    out += typeof v !== "string" ? v.toString() : v.includes("\\") || v.includes('"') ? `"${v.replace(/[\\"]/g, "\\$&")}"` : `"${v}"`;
  }
  return `${out}}`;
};

/** PostgreSQL: the ids of the JSON array bound as `param`, as an array built once (see {@link Ledger.inJsonIds}). */
const pgJsonIds = (param = "$1") => `ARRAY(SELECT jsonb_array_elements_text(${param}::jsonb))`;

/**
 * PostgreSQL: a landed batch applied in one statement ({@link Ledger.finishBatch}). Locks in the
 * order of every other transaction: the batch's row (still pending), the settled-batches counter
 * (before any holder's row, as a balance refresh locks them), the holders' rows in ascending order
 * (`hl`, read whole before `h` updates any: the order of the UPDATE's join is the planner's), then
 * the authorizations' (`a` runs after every row of `h`: the holds' order, holder then authorization;
 * in scan order, not ascending, but each one's holder is locked by this statement already).
 * $1 batch id, $2 JSON [{holder, requested, charged}], $3 JSON [auth id] activated, $4 charged,
 * $5 tx hash or null, $6 now. Returns `finished` 1, or 0 when the batch was not pending.
 */
const FINISH_BATCH_PG = `WITH b AS MATERIALIZED (SELECT batch_id FROM gw_batches WHERE batch_id = $1 AND status = 'pending' FOR UPDATE),
  m AS MATERIALIZED (SELECT value FROM gw_meta WHERE name = 'settled_batches' AND EXISTS (SELECT 1 FROM b) FOR UPDATE),
  hl AS MATERIALIZED (SELECT holder FROM gw_holders WHERE holder IN (SELECT holder FROM jsonb_to_recordset($2::jsonb) AS v(holder text)) AND EXISTS (SELECT 1 FROM m)
      ORDER BY holder FOR UPDATE),
  h AS (UPDATE gw_holders g SET unsettled = g.unsettled - v.requested::bigint, balance = g.balance - v.charged::bigint
      FROM jsonb_to_recordset($2::jsonb) AS v(holder text, requested numeric, charged numeric)
      WHERE g.holder = v.holder AND EXISTS (SELECT 1 FROM m) AND (SELECT COUNT(*) FROM hl) >= 0 RETURNING 1),
  a AS (UPDATE gw_authorizations SET activated = 2 WHERE auth_id = ANY (${pgJsonIds("$3")}) AND (SELECT COUNT(*) FROM h) >= 0 AND EXISTS (SELECT 1 FROM m)),
  u AS (UPDATE gw_batches SET status = 'settled', charged = $4::bigint, tx_hash = COALESCE($5::text, tx_hash), settled_at = $6::bigint
      WHERE batch_id = $1 AND EXISTS (SELECT 1 FROM m)),
  c AS (UPDATE gw_meta SET value = value + 1 WHERE name = 'settled_batches' AND EXISTS (SELECT 1 FROM m))
  SELECT COUNT(*) AS finished FROM m`;

/**
 * SQLite: one request's part of {@link SETTLES_PG} ($1 request id, $2 amount, $3 tokens in, $4 tokens out, $5 ending, $6 now),
 * returning what the holder's and the authorization's updates need.
 */
const SETTLE_REQUEST_SQLITE = `UPDATE gw_requests SET
    status = CASE WHEN MIN($2, hold) > 0 THEN 'charged' ELSE 'released' END,
    tokens_in = CASE WHEN MIN($2, hold) > 0 THEN $3 ELSE 0 END,
    tokens_out = CASE WHEN MIN($2, hold) > 0 THEN $4 ELSE 0 END,
    charge = MIN($2, hold), ending = $5, finished_at = $6,
    seq = CASE WHEN MIN($2, hold) > 0 THEN ${SQLITE_NEXT_SEQ} END
  WHERE request_id = $1 AND status = 'held'
  RETURNING holder, auth_id, hold, charge, created_at`;

/**
 * An ending's effects on the holder and on the authorization, one request at a time (SQLite's
 * charges and releases; a take-back on both databases): $1 holder, $2 the hold, $3 the charge,
 * $4 what goes back to the day's credits (when the hold was made today), $5 when it was made;
 * $1 authorization id, $2 the hold, $3 the charge.
 */
const ENDING_HOLDER = `UPDATE gw_holders SET open_holds = open_holds - $2, unsettled = unsettled + $3, day_credits = day_credits - CASE WHEN $5 >= day_start THEN $4 ELSE 0 END WHERE holder = $1`;
const ENDING_AUTHORIZATION = "UPDATE gw_authorizations SET open_holds = open_holds - $2, charged = charged + $3 WHERE auth_id = $1";

/** A hold waiting for {@link FAST_HOLDS_PG}. */
interface PgHold {
  p: HoldParams;
  key: NonNullable<HoldParams["key"]>;
  outputTokens: number;
  amount: bigint;
}

/** An ending waiting for {@link SETTLES_PG}. */
interface PgSettle {
  requestId: string;
  amount: bigint;
  tokensIn: number;
  tokensOut: number;
  ending: Ending;
  now: number;
  durable: boolean;
}

/** The most requests in one grouped statement. */
const PG_BATCH_MAX = 64;
/**
 * A grouped statement that has run this long (ms) is taken as waiting on a lock, and the next
 * group starts beside it (see {@link GroupCommit}); at most PG_MAX_IN_FLIGHT (sql.ts) at once.
 */
const PG_STALL_MS = 5;
/** How the ledger groups its PostgreSQL statements (bench/meteringFloor.ts groups its charges the same). */
export const PG_GROUPING = { max: PG_BATCH_MAX, stallMs: PG_STALL_MS, maxInFlight: PG_MAX_IN_FLIGHT } as const;

export interface LedgerOptions {
  /**
   * PostgreSQL: hold requests against credit leases in memory, where enough is left (see
   * leases.ts): a request then writes one row, its charge. Off: every hold and ending locks the
   * holder's row (the exact path, which requests near a limit take anyway).
   */
  leases?: boolean;
  /**
   * The request clock (the gateway's `now`, Date.now by default): the idle sweep writes the
   * renewal time of leases with requests in flight in it, the clock their takings and top-ups
   * write and other replicas' recoverLeases compare with.
   */
  now?: () => number;
}

/** A request held under a lease, until it ends. */
interface LeasedRequest {
  lease: Lease;
  p: HoldParams;
  key: NonNullable<HoldParams["key"]>;
  worst: bigint;
  outputTokens: number;
}

/** A charge under a lease, waiting for {@link LEASED_CHARGES_PG}. */
interface PgLeasedCharge {
  r: LeasedRequest;
  charge: bigint;
  tokensIn: number;
  tokensOut: number;
  ending: Ending;
  now: number;
}

/** A transaction open in PostgreSQL (see {@link Ledger.oldestOpenTransaction}). */
export interface OpenTransaction {
  /** A session's (`id`: its backend's pid) or a prepared transaction (`id`: its gid). */
  kind: "session" | "prepared";
  id: string;
  xid: string;
  role?: string;
  database?: string;
  application?: string;
  /** The session's state (`idle in transaction`…), where this role may see it. */
  state?: string;
  /** When it began (ms), where this role may see it. */
  since?: number;
}

export class Ledger {
  constructor(
    readonly db: SqlDriver,
    options: LedgerOptions = {},
  ) {
    this.leasing = options.leases === true && db.kind === "postgres";
    this.now = options.now ?? Date.now;
  }

  /** The request clock (see LedgerOptions.now). */
  private readonly now: () => number;

  /** Whether this ledger holds requests under leases (PostgreSQL, asked for). */
  readonly leasing: boolean;
  /** The open lease of each authorization (by auth id). */
  private readonly leases = new Map<string, Lease>();
  /** Leases being taken (by auth id): the authorization's other requests wait for it. */
  private readonly taking = new Map<string, Promise<Lease | undefined>>();
  /** Authorizations refused a lease lately: until when (request clock), and when refused (wall clock: the sweep forgets them after LEASE_RETRY_MS). */
  private readonly noLeaseUntil = new Map<string, { until: number; at: number }>();
  /** The size of an authorization's last lease returned for being idle, and when (LEASE_RECALL_MS). */
  private readonly recalled = new Map<string, { size: number; at: number }>();
  /** Requests held under leases, by request id. */
  private readonly leased = new Map<string, LeasedRequest>();
  /** Leased requests whose charge was in doubt: a take-back writes a released row in their place first. */
  private readonly doubtful = new Map<string, HoldParams>();
  /** Leases being returned (by id). */
  private readonly returning = new Map<string, Promise<void>>();
  /** Every lease this process took and has not returned (open, closed with requests in flight, being returned), by id. */
  private readonly ownLeases = new Map<string, Lease>();
  /** Closing: no lease is taken or used any more. */
  private leasesClosing = false;
  /**
   * Told of charges under a lease that its hold did not cover when a batch converted them (a lease
   * taken without waiting for the disk, lost in a crash of the database while the gateway ran):
   * they are charged all the same, and logged.
   */
  onLeaseShortfall: ((e: { leaseId: string; charged: bigint; held: bigint }) => void) | undefined;
  private leaseSweep: NodeJS.Timeout | undefined;
  /** The idle sweep's write of the renewal time of leases in use, while it runs (one at a time). */
  private keeping: Promise<void> | undefined;
  private leaseCounts: Omit<LeaseStats, "open"> = { taken: 0, recalled: 0, toppedUp: 0, refused: 0, returned: 0, held: 0 };
  private leasedCharges: GroupCommit<PgLeasedCharge, bigint | undefined> | undefined;

  /**
   * PostgreSQL: the one-statement holds of concurrent requests, grouped (see {@link GroupCommit}):
   * one per holder per statement, so each request's checks see its holder's row as the previous
   * statements left it, exactly as when they run one by one.
   */
  private holds: GroupCommit<PgHold, boolean> | undefined;
  /** PostgreSQL: the endings of concurrent requests, grouped (one per request id per statement). */
  private settles: GroupCommit<PgSettle, bigint | undefined> | undefined;

  private pgHolds(): GroupCommit<PgHold, boolean> {
    this.holds ??= new GroupCommit<PgHold, boolean>({
      max: PG_BATCH_MAX,
      stallMs: PG_STALL_MS,
      maxInFlight: PG_MAX_IN_FLIGHT,
      key: (h) => h.key.holder,
      run: async (items, again) => {
        if (again) {
          // Its group's statement failed, perhaps after its commit: a hold it left stands; and if this
          // request is refused now (its own hold, committed, counting against it), it is in doubt.
          this.rerun.add(items[0].p.requestId);
          const row = await this.db.statement("SELECT status FROM gw_requests WHERE request_id = $1", [items[0].p.requestId]);
          if (row.length > 0 && str(row[0].status) === "held") return [true];
        }
        if (items.length === 1) {
          const [{ p, key, outputTokens, amount }] = items;
          const params = [key.holder, p.authId, p.now, p.limits.requestsPerMinute, p.limits.tokensPerMinute, p.limits.creditsPerDay, p.inputTokens, outputTokens, amount];
          const more = [p.requestId, p.keyId, key.nonce, p.model, p.tier, p.quote.priceVersion, p.replica];
          const rows = await this.db.statement(FAST_HOLD_PG, [...params, ...more], { durable: false });
          return [num(rows[0]?.ok) === 1];
        }
        // The statement checks each hold against its holder's row as locked: two of one holder would
        // both pass against the same row and one write would be lost (GroupCommit keys by holder).
        if (new Set(items.map((h) => h.key.holder)).size !== items.length) throw new Error("grouped holds: one holder twice in a statement");
        const col = <T>(f: (h: PgHold) => T) => items.map(f);
        const rows = await this.db.statement(
          FAST_HOLDS_PG,
          [
            pgArray(col((h) => h.key.holder)),
            pgArray(col((h) => h.p.authId)),
            pgArray(col((h) => h.p.now)),
            pgArray(col((h) => h.p.limits.requestsPerMinute)),
            pgArray(col((h) => h.p.limits.tokensPerMinute)),
            pgArray(col((h) => h.p.limits.creditsPerDay)),
            pgArray(col((h) => h.p.inputTokens)),
            pgArray(col((h) => h.outputTokens)),
            pgArray(col((h) => h.amount)),
            pgArray(col((h) => h.p.requestId)),
            pgArray(col((h) => h.p.keyId)),
            pgArray(col((h) => h.key.nonce)),
            pgArray(col((h) => h.p.model)),
            pgArray(col((h) => h.p.tier)),
            pgArray(col((h) => h.p.quote.priceVersion)),
            pgArray(col((h) => h.p.replica)),
          ],
          // Not durable: a crash releases every hold anyway (see hold).
          { durable: false },
        );
        const held = new Set(rows.map((r) => str(r.request_id)));
        return items.map((h) => held.has(h.p.requestId));
      },
    });
    return this.holds;
  }

  private pgSettles(): GroupCommit<PgSettle, bigint | undefined> {
    this.settles ??= new GroupCommit<PgSettle, bigint | undefined>({
      max: PG_BATCH_MAX,
      stallMs: PG_STALL_MS,
      maxInFlight: PG_MAX_IN_FLIGHT,
      key: (s) => s.requestId,
      run: async (items, again) => {
        if (items.length === 1) {
          const [x] = items;
          const rows = await this.db.statement(SETTLE_PG, [x.requestId, x.amount, x.tokensIn, x.tokensOut, x.ending, x.now], { durable: x.durable });
          if (rows.length) return [big(rows[0].charge)];
          if (!again || x.amount <= 0n) return [undefined];
          // Its group's statement failed, perhaps after its commit: the charge it made is this request's.
          const row = await this.db.statement("SELECT status, charge FROM gw_requests WHERE request_id = $1", [x.requestId]);
          return [row.length > 0 && str(row[0].status) === "charged" ? big(row[0].charge) : undefined];
        }
        const col = <T>(f: (s: PgSettle) => T) => items.map(f);
        const rows = await this.db.statement(
          SETTLES_PG,
          [
            pgArray(col((s) => s.requestId)),
            pgArray(col((s) => s.amount)),
            pgArray(col((s) => s.tokensIn)),
            pgArray(col((s) => s.tokensOut)),
            pgArray(col((s) => s.ending)),
            pgArray(col((s) => s.now)),
          ],
          // Durable when any of them is (a charge is durable before its response completes).
          { durable: items.some((s) => s.durable) },
        );
        const charges = new Map(rows.map((r) => [str(r.request_id), big(r.charge)]));
        return items.map((s) => charges.get(s.requestId));
      },
    });
    return this.settles;
  }

  /** PostgreSQL: statements sent for grouped holds and endings, and the requests in them. */
  groupStats(): { holds: GroupCommitStats; settles: GroupCommitStats } {
    const none = { batches: 0, items: 0, overlapped: 0 };
    return { holds: { ...(this.holds?.stats ?? none) }, settles: { ...(this.settles?.stats ?? none) } };
  }

  /**
   * `column` is one of the ids of the JSON array bound as $1. On PostgreSQL an array built once
   * (`= ANY (ARRAY(…))`), not `IN (SELECT jsonb_array_elements_text …)`: with a table's statistics
   * behind its churn (a fresh ledger, autovacuum not yet round) the planner took the waiting rows as
   * one and chose a nested loop that expanded the JSON array again for each row — 500 × 500
   * comparisons, 60–270 ms of a batch's 500-row marking instead of 3–6 (EXPLAIN ANALYZE).
   */
  private inJsonIds(column: string): string {
    return this.db.kind === "postgres" ? `${column} = ANY (${pgJsonIds()})` : `${column} IN (SELECT value FROM json_each($1))`;
  }

  /** One trivial statement: throws when the database does not answer (readiness). */
  async ping(): Promise<void> {
    await this.db.statement("SELECT 1", undefined, { durable: false });
  }

  get kind(): SqlDriver["kind"] {
    return this.db.kind;
  }

  async init(): Promise<void> {
    await this.db.transaction(async (tx) => {
      // Two replicas starting at once on one PostgreSQL must not race on CREATE TABLE.
      if (this.db.kind === "postgres") await tx.one("SELECT pg_advisory_xact_lock(7301455)");
      for (const stmt of SCHEMA) await tx.run(stmt);
      // A ledger made before leases: its requests' table gains their column.
      // Looked up first: an ALTER TABLE locks the table whole (on PostgreSQL, every replica's requests
      // would queue behind it at each start), even when the column is there already.
      const hasColumn = async (column: string) =>
        (await tx.one(
          this.db.kind === "postgres"
            ? "SELECT 1 AS x FROM information_schema.columns WHERE table_name = 'gw_requests' AND table_schema = current_schema() AND column_name = $1"
            : "SELECT 1 AS x FROM pragma_table_info('gw_requests') WHERE name = $1",
          [column],
        )) !== undefined;
      if (!(await hasColumn("lease_id"))) await tx.run("ALTER TABLE gw_requests ADD COLUMN lease_id TEXT");
      // A ledger whose batches marked their rows: the charges' commit order, and the batches' ranges.
      const hasSeq = await hasColumn("seq");
      if (!hasSeq) {
        await tx.run("ALTER TABLE gw_requests ADD COLUMN seq BIGINT");
        for (const c of ["seq_lo BIGINT", "id_lo TEXT", "seq_hi BIGINT", "id_hi TEXT"]) await tx.run(`ALTER TABLE gw_batches ADD COLUMN ${c}`);
      }
      for (const stmt of SCHEMA_AFTER_COLUMNS) await tx.run(stmt);
      await tx.run(
        this.db.kind === "postgres"
          ? "INSERT INTO gw_meta (name, value, owner) VALUES ('settled_batches', 0, NULL), ('settler_lease', 0, NULL), ('batch_watermark', 0, ''), ('seq_base', 0, NULL) ON CONFLICT (name) DO NOTHING"
          : "INSERT OR IGNORE INTO gw_meta (name, value, owner) VALUES ('settled_batches', 0, NULL), ('settler_lease', 0, NULL), ('batch_watermark', 0, ''), ('seq_base', 0, NULL)",
      );
      if (!hasSeq) {
        // The charges an earlier version batched go below every other, in the order they finished
        // (as its usage pages showed them); those it left waiting join the next batch (above the
        // watermark: every replica of that version is stopped before this one starts).
        await tx.run("UPDATE gw_requests SET seq = finished_at - 9007199254740992 WHERE status = 'charged' AND batch_id IS NOT NULL");
        await tx.run(`UPDATE gw_requests SET seq = ${this.db.kind === "postgres" ? PG_XACT_SEQ : SQLITE_NEXT_SEQ} WHERE status = 'charged' AND batch_id IS NULL`);
      }
      if (this.db.kind === "postgres") {
        // Transaction ids below the charges' (a database restored into another cluster starts them
        // again): every charge from now on would go below the watermark, never batched. The base
        // raised above them, with room for the transactions running beside this one.
        const t = await tx.one(`SELECT GREATEST((SELECT value FROM gw_meta WHERE name = 'batch_watermark'),
            COALESCE((SELECT MAX(seq) FROM gw_requests WHERE status = 'charged'), 0)) AS top, ${PG_XACT_SEQ} AS now`);
        if (t && big(t.now) <= big(t.top)) await tx.run("UPDATE gw_meta SET value = value + $1 WHERE name = 'seq_base'", [big(t.top) - big(t.now) + 1_000_000n]);
      }
    });
  }

  async close(): Promise<void> {
    this.leasesClosing = true;
    if (this.leaseSweep) clearInterval(this.leaseSweep);
    await this.keeping;
    // The leases given back, unless the database does not answer within 5 s (the next start, or another replica, recovers them).
    for (const l of [...this.leases.values()]) this.closeLease(l);
    if (this.returning.size) await Promise.race([Promise.all(this.returning.values()), new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
    this.closing.abort();
    await Promise.all(this.releasing.values());
    await this.holds?.drained();
    await this.settles?.drained();
    return this.db.close();
  }

  // ── holders, authorizations, keys ──────────────────────────────────────────────────────────

  /** Registers an authorization (idempotent) and its holder with the balance read from the chain. */
  async addAuthorization(a: AuthorizationRecord, balance: bigint, now: number): Promise<void> {
    await this.db.transaction(async (tx) => {
      await this.ensureHolder(tx, a.holder, balance, now);
      const existing = await tx.one(`SELECT auth_id FROM gw_authorizations WHERE auth_id = $1${this.db.forUpdate}`, [a.authId]);
      if (existing) return;
      // The signature and document in a table of their own (see the schema): the row stays narrow.
      await tx.run(
        `INSERT INTO gw_authorizations (auth_id, holder, nonce, cap, expires_at, models, signature, document, status, activated, charged, open_holds, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, '', '', 'active', $7, $8, 0, $9)`,
        [a.authId, a.holder, a.nonce, a.cap > I64_MAX ? I64_MAX : a.cap, a.expiresAt, JSON.stringify(a.models), a.activated ? 2 : 0, a.charged, now],
      );
      await tx.run("INSERT INTO gw_authorization_documents (auth_id, signature, document) VALUES ($1, $2, $3)", [a.authId, a.signature, a.document]);
    });
  }

  private async ensureHolder(tx: SqlTx, holder: string, balance: bigint, now: number): Promise<void> {
    const row = await tx.one(`SELECT holder FROM gw_holders WHERE holder = $1${this.db.forUpdate}`, [holder]);
    if (!row) {
      await tx.run(
        this.db.kind === "postgres"
          ? "INSERT INTO gw_holders (holder, balance, refreshed_at) VALUES ($1, $2, $3) ON CONFLICT (holder) DO NOTHING"
          : "INSERT OR IGNORE INTO gw_holders (holder, balance, refreshed_at) VALUES ($1, $2, $3)",
        [holder, balance, now],
      );
    }
  }

  async addKey(keyHash: string, keyId: string, authId: string, now: number): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.run("INSERT INTO gw_keys (key_hash, key_id, auth_id, created_at) VALUES ($1, $2, $3, $4)", [keyHash, keyId, authId, now]);
    });
  }

  async findKey(keyHash: string): Promise<KeyInfo | undefined> {
    return this.db.transaction(async (tx) => {
      const r = await tx.one(
        `SELECT k.key_id, a.auth_id, a.holder, a.nonce, a.expires_at, a.models, a.status, h.offboarded
           FROM gw_keys k JOIN gw_authorizations a ON a.auth_id = k.auth_id JOIN gw_holders h ON h.holder = a.holder
          WHERE k.key_hash = $1`,
        [keyHash],
      );
      if (!r) return undefined;
      return {
        keyId: str(r.key_id),
        authId: str(r.auth_id),
        holder: str(r.holder),
        nonce: big(r.nonce),
        expiresAt: big(r.expires_at),
        models: JSON.parse(str(r.models)) as string[],
        status: str(r.status),
        offboarded: num(r.offboarded) !== 0,
      };
    });
  }

  /** Marks an authorization revoked (the chain said so): its keys stop at the next request. */
  async revokeAuthorization(authId: string): Promise<boolean> {
    // Its leases cut before (no hold under them from now on) and after (one taken meanwhile) the
    // write, whatever it answers: another replica may have written it first.
    this.cutLeases((l) => l.authId === authId);
    try {
      return await this.db.transaction(async (tx) => (await tx.run("UPDATE gw_authorizations SET status = 'revoked' WHERE auth_id = $1 AND status <> 'revoked'", [authId])) > 0);
    } finally {
      this.cutLeases((l) => l.authId === authId);
    }
  }

  /** Marks a holder offboarded (the chain said so): its keys stop at the next request. */
  async offboardHolder(holder: string): Promise<boolean> {
    const theirs = (l: Lease) => l.holder.toLowerCase() === holder.toLowerCase();
    this.cutLeases(theirs);
    try {
      return await this.db.transaction(async (tx) => (await tx.run("UPDATE gw_holders SET offboarded = 1 WHERE holder = $1 AND offboarded = 0", [holder])) > 0);
    } finally {
      this.cutLeases(theirs);
    }
  }

  /**
   * The signed authorization files of these authorizations (for activations), in the order asked,
   * in one statement (a batch activates up to SETTLE_USAGE_MAX_CHARGES, 100: a query each was a
   * round trip each). Ids the ledger does not know are left out.
   */
  async authorizationDocuments(authIds: readonly string[]): Promise<Map<string, string>> {
    if (authIds.length === 0) return new Map();
    // A row written before gw_authorization_documents keeps its document in gw_authorizations.
    const rows = await this.db.statement(
      `SELECT a.auth_id, COALESCE(d.document, a.document) AS document FROM gw_authorizations a LEFT JOIN gw_authorization_documents d ON d.auth_id = a.auth_id
        WHERE ${this.inJsonIds("a.auth_id")}`,
      [JSON.stringify(authIds)],
      { durable: false },
    );
    const found = new Map(rows.map((r) => [str(r.auth_id), str(r.document)]));
    const out = new Map<string, string>();
    for (const id of authIds) {
      const doc = found.get(id);
      if (doc !== undefined) out.set(id, doc);
    }
    return out;
  }

  async holders(): Promise<string[]> {
    return this.db.transaction(async (tx) => (await tx.all("SELECT holder FROM gw_holders ORDER BY holder")).map((r) => str(r.holder)));
  }

  /**
   * A holder's balance as last read, charges not yet settled, open holds and what is available.
   * Charges made under leases and not yet in a batch are counted as not settled (the holder's row
   * counts them in its leases' holds until a batch converts them); the part of leases not used yet
   * is counted as held.
   */
  async holderState(holder: string): Promise<{ balance: bigint; unsettled: bigint; openHolds: bigint; available: bigint } | undefined> {
    return this.db.transaction(async (tx) => {
      // One statement: one snapshot of the row and of the charges a batch converts.
      const r = await tx.one(
        `SELECT balance, unsettled, open_holds, (SELECT COALESCE(SUM(charge), 0) FROM gw_requests
           WHERE holder = $1 AND lease_id IS NOT NULL AND ${waitingCharge()}) AS leased FROM gw_holders WHERE holder = $1`,
        [holder],
      );
      if (!r) return undefined;
      const leased = big(r.leased);
      const balance = big(r.balance);
      const unsettled = big(r.unsettled) + leased;
      const openHolds = big(r.open_holds) - leased;
      return { balance, unsettled, openHolds, available: balance - unsettled - openHolds };
    });
  }

  async authorizationState(authId: string): Promise<{ cap: bigint; charged: bigint; openHolds: bigint; status: string; activated: number } | undefined> {
    return this.db.transaction(async (tx) => {
      // As holderState: charges under leases not yet in a batch counted as charged, not held.
      const r = await tx.one(
        `SELECT cap, charged, open_holds, status, activated, (SELECT COALESCE(SUM(charge), 0) FROM gw_requests
           WHERE holder = x.holder AND auth_id = $1 AND lease_id IS NOT NULL AND ${waitingCharge()}) AS leased FROM gw_authorizations x WHERE auth_id = $1`,
        [authId],
      );
      const leased = big(r?.leased);
      return r && { cap: big(r.cap), charged: big(r.charged) + leased, openHolds: big(r.open_holds) - leased, status: str(r.status), activated: num(r.activated) };
    });
  }

  async getMeta(name: string): Promise<bigint | undefined> {
    return this.db.transaction(async (tx) => {
      const r = await tx.one("SELECT value FROM gw_meta WHERE name = $1", [name]);
      return r ? big(r.value) : undefined;
    });
  }

  /** Sets a counter; with `onlyIncrease`, never moves it back (replicas racing). */
  async setMeta(name: string, value: bigint, onlyIncrease = false): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.run(
        this.db.kind === "postgres"
          ? "INSERT INTO gw_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING"
          : "INSERT OR IGNORE INTO gw_meta (name, value) VALUES ($1, $2)",
        [name, value],
      );
      await tx.run(onlyIncrease ? "UPDATE gw_meta SET value = $2 WHERE name = $1 AND value < $2" : "UPDATE gw_meta SET value = $2 WHERE name = $1", [name, value]);
    });
  }

  /** The count of settled batches: pass it back to {@link setBalances}. */
  async settledEpoch(): Promise<bigint> {
    return this.db.transaction(async (tx) => big((await tx.one("SELECT value FROM gw_meta WHERE name = 'settled_batches'"))?.value));
  }

  /**
   * Replaces cached balances with on-chain reads made after `epoch` was taken. When a batch was
   * settled or is pending since, a read might not agree with the ledger's view of what is settled:
   * a higher read could let a stale balance be spent twice, so it is not applied (false: read
   * again later), but a lower read is applied at once — it can only make holds more cautious
   * (a clawback, a transfer out or an expiry cuts spending within the block it is seen in).
   * Only holders whose balance differs are written (and their rows locked): after a batch lands,
   * the chain's balances are the ledger's already, and a refresh of every holder of the batch
   * must not hold up their holds and charges for nothing. A holder's `refreshed_at` is when a
   * refresh last changed its balance (see {@link holdersRefreshedSince}).
   */
  async setBalances(balances: ReadonlyMap<string, bigint>, epoch: bigint, now: number): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const meta = await tx.one(`SELECT value FROM gw_meta WHERE name = 'settled_batches'${this.db.forUpdate}`);
      const stale = big(meta?.value) !== epoch || (await tx.one("SELECT batch_id FROM gw_batches WHERE status = 'pending' LIMIT 1")) !== undefined;
      let all = true;
      const sorted = ascending(balances);
      if (this.db.kind === "postgres") {
        const leased = [...new Set([...this.leases.values()].map((l) => l.holder))].filter((h) => balances.has(h));
        // One statement, one round trip, stale or not: the holders' rows are locked (and holds on them
        // wait) only for it. (Two round trips per holder when stale held a hundred holders' rows, and
        // the settled-batches counter a landing batch waits on, for 100 ms.) Stale: only lower
        // balances are applied; `behind` counts the higher ones left for the next refresh.
        // The rows to write are locked first, in ascending order (`l`, read whole before `u` updates
        // any: the order of the UPDATE's join is the planner's), as every transaction locks holders.
        const rows = await tx.all(
          `WITH v AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS v(holder text, balance numeric)),
             l AS MATERIALIZED (SELECT g.holder, g.balance > v.balance AS lower FROM gw_holders g JOIN v ON g.holder = v.holder
               WHERE g.balance <> v.balance AND ($3::int = 0 OR g.balance > v.balance) ORDER BY g.holder FOR UPDATE OF g),
             u AS (UPDATE gw_holders g SET balance = v.balance::bigint, refreshed_at = $2 FROM v
               WHERE g.holder = v.holder AND g.holder IN (SELECT holder FROM l) AND (SELECT COUNT(*) FROM l) >= 0 AND g.balance <> v.balance AND ($3::int = 0 OR g.balance > v.balance) RETURNING 1)
           SELECT (SELECT COUNT(*) FROM gw_holders g JOIN v ON g.holder = v.holder WHERE $3::int = 1 AND g.balance < v.balance) AS behind,
             (SELECT string_agg(holder, ',') FROM l WHERE lower) AS lowered,
             (SELECT string_agg(holder || ':' || balance || ':' || refreshed_at, ',') FROM gw_holders WHERE holder = ANY ($4::text[])) AS leased`,
          [JSON.stringify(sorted.map(([holder, balance]) => ({ holder, balance: balance.toString() }))), now, stale ? 1 : 0, pgArray(leased)],
        );
        // A lower balance from the chain (a clawback, a transfer out, an expiry) cuts the holder's
        // leases, taken against more: written now by this replica, or since the lease was taken by
        // another (its refresh time later, the balance lower).
        const lowered = new Set(rows[0]?.lowered ? str(rows[0].lowered).split(",") : []);
        const seen = new Map(
          (rows[0]?.leased ? str(rows[0].leased).split(",") : []).map((e) => {
            const [holder, balance, refreshedAt] = e.split(":");
            return [holder, { balance: BigInt(balance), refreshedAt: Number(refreshedAt) }];
          }),
        );
        const cut = (l: Lease) => {
          const s = seen.get(l.holder);
          return lowered.has(l.holder) || (s !== undefined && s.refreshedAt > l.refreshedAt && s.balance < l.balance);
        };
        // Counted as a cut whenever this replica lowered a balance, its leases or none: a take in
        // flight may have read the balance before (see takeLease).
        if (lowered.size || [...this.leases.values()].some(cut)) this.cutLeases(cut);
        return num(rows[0]?.behind) === 0;
      }
      // Holders in one order (as finishBatch locks them, after the same meta row): no deadlock between the two.
      for (const [holder, balance] of sorted) {
        if (!stale) await tx.run("UPDATE gw_holders SET balance = $2, refreshed_at = $3 WHERE holder = $1 AND balance <> $2", [holder, balance, now]);
        else {
          const r = await tx.one("SELECT balance FROM gw_holders WHERE holder = $1", [holder]);
          if (r && big(r.balance) > balance) await tx.run("UPDATE gw_holders SET balance = $2, refreshed_at = $3 WHERE holder = $1", [holder, balance, now]);
          else if (r && big(r.balance) < balance) all = false;
        }
      }
      return all;
    });
  }

  /**
   * Of these holders, those whose balance a refresh changed at or after `since` (ms), by any
   * replica. After a batch is applied, these are read again: a refresh made while it had landed
   * but was still pending applied the lower on-chain balance, its charges off already, and applying
   * the batch took them off a second time.
   */
  async holdersRefreshedSince(holders: readonly string[], since: number): Promise<string[]> {
    if (holders.length === 0) return [];
    const rows = await this.db.transaction(async (tx) =>
      tx.all(`SELECT holder FROM gw_holders WHERE ${this.inJsonIds("holder")} AND refreshed_at >= $2 ORDER BY holder`, [JSON.stringify(holders), since]),
    );
    return rows.map((r) => str(r.holder));
  }

  // ── holds and charges ──────────────────────────────────────────────────────────────────────

  /**
   * Holds the worst case of one request, atomically with every check: the key's authorization
   * (active, unexpired, holder not offboarded, model allowed), the rate limits, the holder's
   * available credit and the authorization's remaining cap. Throws a {@link GatewayError}
   * (401/403/402/429) when it cannot.
   */
  async hold(p: HoldParams): Promise<Hold> {
    // Live from the start: a hold committed before its reply came is not an orphan (releaseOrphans).
    this.live.add(p.requestId);
    try {
      return await this.holdOnce(p);
    } catch (err) {
      // Not the ledger's answer (a refusal is a GatewayError), or a refusal after its group's statement
      // failed: a lost connection or a failed commit whose reply never came. The hold may have been
      // committed all the same, or be committed later (a server process still waiting on a lock), and
      // the request is not served: a released row is put in its place (a later commit of the hold
      // then fails on its id) and any hold released, in the background once the database answers,
      // instead of holding the holder's credits.
      if (this.rerun.has(p.requestId) || !(err instanceof GatewayError)) this.releaseInBackground(p.requestId, "ledger_error", p);
      this.live.delete(p.requestId);
      throw err;
    } finally {
      this.rerun.delete(p.requestId);
    }
  }

  /** PostgreSQL: holds run again alone after their group's statement failed (see {@link pgHolds}). */
  private readonly rerun = new Set<string>();

  /** Aborted by {@link close}: the releases retrying in the background stop. */
  private readonly closing = new AbortController();
  /** Requests this ledger held and that have not ended: {@link releaseOrphans} leaves them alone. */
  private readonly live = new Set<string>();
  /** Releases retrying in the background, by request id. */
  private readonly releasing = new Map<string, Promise<void>>();

  /** Whether a release of this request is retrying in the background (or, without an id, any). */
  releasingInBackground(requestId?: string): boolean {
    return requestId === undefined ? this.releasing.size > 0 : this.releasing.has(requestId);
  }

  /**
   * Releases a request's hold in the background, retrying (back-off 0.25 s to 30 s, 12 attempts,
   * about two and a half minutes) until the database answers; after that {@link releaseOrphans} finds it.
   * With `tombstone` (a hold in doubt) a released row is written first where the request has none.
   * An undelivered answer's (see {@link releaseUndelivered}) is tried until the database answers
   * or the ledger closes, at most 5 s apart.
   */
  private releaseInBackground(requestId: string, ending: Ending, tombstone?: HoldParams, undelivered = false): void {
    if (this.releasing.has(requestId) || this.closing.signal.aborted) return;
    const run = retry(
      async () => {
        if (tombstone) {
          const t = tombstone;
          await this.db.transaction((tx) => tx.run(TOMBSTONE, [requestId, t.keyId, t.authId, t.model, t.tier, t.quote.priceVersion, t.replica, t.now]));
        }
        const released = await this.settle(requestId, { tokensIn: 0, tokensOut: 0, amount: 0n, ending }, Date.now());
        if (!released && undelivered) await this.voidCharge(requestId);
        if (undelivered && this.undelivered.delete(requestId)) this.onTakeBacksChanged?.();
      },
      undelivered
        ? { baseMs: 250, maxMs: 5_000, maxAttempts: Number.POSITIVE_INFINITY, signal: this.closing.signal }
        : { baseMs: 250, maxMs: 30_000, maxAttempts: 12, signal: this.closing.signal },
    )
      .catch(() => undefined)
      .finally(() => this.releasing.delete(requestId));
    this.releasing.set(requestId, run);
  }

  /**
   * A request whose answer was not delivered because its charge's statement failed (the database
   * did not answer: committed with its reply lost, or not at all): its hold is released, or its
   * charge, if it was committed, taken back — in the background, until the database answers. The
   * holder does not pay for an answer they did not get. This ledger's batches leave it alone
   * meanwhile; one that took it first (another replica's settler, between the database's return
   * and the take-back) keeps it: {@link onTakeBack} says so. Still pending at close: see
   * {@link pendingTakeBacks}.
   */
  releaseUndelivered(requestId: string): void {
    this.live.delete(requestId);
    // A release already on its way (an ending with nothing to charge): no charge to take back.
    if (this.releasing.has(requestId) || this.undelivered.has(requestId)) return;
    this.undelivered.add(requestId);
    this.onTakeBacksChanged?.();
    // Closing: kept in pendingTakeBacks for the next start.
    const doubtful = this.doubtful.get(requestId);
    this.doubtful.delete(requestId);
    this.releaseInBackground(requestId, "ledger_error", doubtful, true);
  }

  /** Requests whose charge is being taken back: no batch of this ledger takes them meanwhile. */
  private readonly undelivered = new Set<string>();

  /** The take-backs not done yet (the database has not answered since): the gateway keeps them across a restart. */
  pendingTakeBacks(): string[] {
    return [...this.undelivered];
  }

  /** Told whenever {@link pendingTakeBacks} changes (the gateway keeps them in a file across a crash). */
  onTakeBacksChanged: (() => void) | undefined;

  /** Told of each take-back's outcome: a charge taken back, or one a batch took first (it stands: a refund is owed by hand). */
  onTakeBack: ((e: { requestId: string; charge: bigint; outcome: "taken_back" | "batched" }) => void) | undefined;

  /**
   * Takes back a charge not yet in a settlement batch (see {@link releaseUndelivered}): the request
   * becomes released with nothing charged, and the holder's unsettled charges, day's credits and
   * the authorization's charged total lose it. Locks the batches' watermark (as a batch does), the
   * request's row, then the holder's, then the authorization's (the order of every transaction).
   */
  private async voidCharge(requestId: string): Promise<void> {
    const outcome = await this.db.transaction(async (tx) => {
      // The watermark locked first, as a batch locks it: a batch takes the charge, or this does.
      await this.watermark(tx, true);
      const r = await tx.one(
        `SELECT holder, auth_id, charge, created_at, lease_id, CASE WHEN ${waitingCharge()} AND batch_id IS NULL THEN 0 ELSE 1 END AS batched
         FROM gw_requests WHERE request_id = $1 AND status = 'charged'${this.db.forUpdate}`,
        [requestId],
      );
      if (!r) return undefined;
      const charge = big(r.charge);
      if (num(r.batched) === 1) return { charge, outcome: "batched" as const };
      await tx.run("UPDATE gw_requests SET status = 'released', charge = 0, tokens_in = 0, tokens_out = 0, ending = 'ledger_error' WHERE request_id = $1", [requestId]);
      if (r.lease_id !== null && r.lease_id !== undefined) {
        // Under a lease, not converted (no batch took it): its lease's hold still counts it. An open
        // lease gives it back when returned; a returned one (which kept it) gives it back now.
        const l = await tx.one(LEASE_LOCK_PG, [str(r.lease_id)]);
        if (l && str(l.status) === "returned") {
          await tx.run(LEASE_SHRINK_PG, [str(r.lease_id), big(l.hold) - charge, Date.now()]);
          await tx.run(LEASE_GIVE_BACK_HOLDER_PG, [str(l.holder), charge, big(l.created_at), 0, 0, -1]);
          await tx.run(LEASE_GIVE_BACK_AUTHORIZATION_PG, [str(l.auth_id), charge]);
        }
        return { charge, outcome: "taken_back" as const };
      }
      // An ending's effects, reversed: no hold, the charge negative, and back to the day's credits.
      await tx.run(ENDING_HOLDER, [str(r.holder), 0n, -charge, charge, big(r.created_at)]);
      await tx.run(ENDING_AUTHORIZATION, [str(r.auth_id), 0n, -charge]);
      return { charge, outcome: "taken_back" as const };
    });
    if (outcome) this.onTakeBack?.({ requestId, ...outcome });
  }

  /**
   * Releases this replica's holds older than `before` that no request of this process holds: left
   * by a request whose hold or release the database did not answer for longer than the background
   * retries last. The gateway runs it every minute (holds older than five minutes).
   */
  async releaseOrphans(replica: string, before: number, now: number): Promise<number> {
    const rows = await this.db.transaction(async (tx) =>
      tx.all("SELECT request_id, lease_id FROM gw_requests WHERE status = 'held' AND replica = $1 AND created_at < $2", [replica, before]),
    );
    // Leases this process does not hold (one whose taking's reply was lost, a return that gave up) are returned.
    const leases = rows.filter((r) => isLease(r) && !this.ownLeases.has(str(r.request_id))).map((r) => str(r.request_id));
    const orphans = rows
      .filter((r) => !isLease(r))
      .map((r) => str(r.request_id))
      .filter((id) => !this.live.has(id) && !this.releasing.has(id));
    return (await this.returnAll(leases)) + (await this.releaseAll(orphans, "ledger_error", now));
  }

  /**
   * Returns other replicas' leases not renewed for `max(staleMs, LEASE_RECOVER_MS)`: a replica that
   * never came back (a live one keeps the leases it has requests in flight under renewed: see
   * keepLeasesInUse). The gateway runs it at its start and every minute. How many it returned.
   */
  async recoverLeases(replica: string, staleMs: number, now: number): Promise<number> {
    if (this.db.kind !== "postgres") return 0;
    const rows = await this.db.statement(
      "SELECT request_id FROM gw_requests WHERE status = 'held' AND lease_id = request_id AND replica <> $1 AND COALESCE(finished_at, created_at) < $2",
      [replica, now - Math.max(staleMs, LEASE_RECOVER_MS)],
      { durable: false },
    );
    return this.returnAll(rows.map((r) => str(r.request_id)));
  }

  /** Returns these leases, each on its own (one that fails does not stop the others); how many were open. */
  private async returnAll(ids: readonly string[]): Promise<number> {
    let n = 0;
    for (const id of ids) if ((await this.returnLease(id).catch(() => undefined)) !== undefined) n++;
    return n;
  }

  /**
   * Releases these requests' holds all at once (on PostgreSQL grouped statements, on SQLite one
   * transaction batch); how many were still held.
   */
  private async releaseAll(ids: readonly string[], ending: Ending, now: number): Promise<number> {
    const released = await Promise.all(ids.map((id) => this.settle(id, { tokensIn: 0, tokensOut: 0, amount: 0n, ending }, now)));
    return released.filter((r) => r !== undefined).length;
  }

  private async holdOnce(p: HoldParams): Promise<Hold> {
    if (this.db.kind === "postgres" && p.key) {
      if (this.leasing) {
        const leased = await this.leaseHold(p, p.key);
        if (leased) return leased;
      }
      const fast = await this.fastHold(p, p.key);
      if (fast) return fast;
      // The full transaction locks the holder's row for several round trips: the holder's next
      // requests wait for it outside the grouped holds (not inside one, holding up every other holder's).
      const holds = this.pgHolds();
      holds.pause(p.key.holder);
      try {
        return await this.fullHold(p);
      } finally {
        holds.resume(p.key.holder);
      }
    }
    return this.fullHold(p);
  }

  /** {@link hold} in one transaction that checks everything in order, cutting the output tokens to the budget. */
  private async fullHold(p: HoldParams): Promise<Hold> {
    // Not durable: a crash releases every hold anyway, and the charge that converts it is durable
    // (and, the log being sequential, makes the hold durable with it).
    return this.db.transaction(
      async (tx) => {
        // One locking read of the holder's row, then the authorization's (the lock order everywhere;
        // on PostgreSQL the `a` CTE's condition on `h` makes the holder's row locked first).
        const row = await tx.one(this.db.kind === "postgres" ? HOLD_READ_PG : HOLD_READ_SQLITE, [p.authId]);
        if (!row) throw new GatewayError(401, "authentication_error", "invalid_api_key", "this API key's authorization is unknown to the gateway");
        const holderAddr = str(row.holder);
        const h = {
          offboarded: row.offboarded,
          minute_start: row.minute_start,
          minute_requests: row.minute_requests,
          minute_tokens: row.minute_tokens,
          day_start: row.day_start,
          day_credits: row.day_credits,
          balance: row.balance,
          unsettled: row.unsettled,
          open_holds: row.h_open,
        };
        const a = { status: row.status, nonce: row.nonce, expires_at: row.expires_at, models: row.models, cap: row.cap, charged: row.charged, open_holds: row.a_open };
        if (num(h.offboarded) !== 0)
          throw new GatewayError(403, "permission_error", "holder_offboarded", `${holderAddr} is no longer an onboarded holder: its keys no longer work`);
        if (str(a.status) === "revoked")
          throw new GatewayError(403, "permission_error", "authorization_revoked", `the spending authorization behind this key (nonce ${big(a.nonce)}) was revoked`);
        if (BigInt(Math.floor(p.now / 1000)) >= big(a.expires_at)) {
          throw new GatewayError(
            403,
            "permission_error",
            "authorization_expired",
            `the spending authorization behind this key expired at ${new Date(num(a.expires_at) * 1000).toISOString()}: sign a new one (ctk credits authorize)`,
          );
        }
        const models = JSON.parse(str(a.models)) as string[];
        if (models.length > 0 && !models.includes(p.model)) {
          throw new GatewayError(
            403,
            "permission_error",
            "model_not_authorized",
            `the authorization behind this key does not allow model "${p.model}" (allowed: ${models.join(", ")})`,
            { param: "model" },
          );
        }

        // Rate windows (fixed windows of one minute and one UTC day).
        let minuteStart = num(h.minute_start);
        let minuteRequests = num(h.minute_requests);
        let minuteTokens = num(h.minute_tokens);
        if (p.now - minuteStart >= MINUTE) {
          minuteStart = minuteStartOf(p.now);
          minuteRequests = 0;
          minuteTokens = 0;
        }
        let dayStart = num(h.day_start);
        let dayCredits = big(h.day_credits);
        if (p.now - dayStart >= DAY) {
          dayStart = p.now - (p.now % DAY);
          dayCredits = 0n;
        }
        const untilMinute = Math.max(1, Math.ceil((minuteStart + MINUTE - p.now) / 1000));
        const untilDay = Math.max(1, Math.ceil((dayStart + DAY - p.now) / 1000));
        if (minuteRequests + 1 > p.limits.requestsPerMinute) {
          throw new GatewayError(429, "rate_limit_error", "requests_per_minute", `rate limit: ${p.limits.requestsPerMinute} requests per minute; try again in ${untilMinute} s`, {
            retryAfterS: untilMinute,
          });
        }
        const tokensLeft = p.limits.tokensPerMinute - minuteTokens - p.inputTokens;
        if (tokensLeft < 1) {
          throw new GatewayError(
            429,
            "rate_limit_error",
            "tokens_per_minute",
            `rate limit: ${p.limits.tokensPerMinute} tokens per minute (this request needs ${p.inputTokens + 1} or more); try again in ${untilMinute} s`,
            { retryAfterS: untilMinute },
          );
        }

        const balance = big(h.balance);
        const available = balance - big(h.unsettled) - big(h.open_holds);
        const capLeft = big(a.cap) - big(a.charged) - big(a.open_holds);
        const dayLeft = p.limits.creditsPerDay - dayCredits;
        const wanted = Math.min(p.maxTokens ?? p.modelMaxTokens, p.modelMaxTokens);
        const minimum = p.quote.cost(p.inputTokens, Math.min(1, wanted));
        if (available < minimum) {
          const waiting = balance - big(h.unsettled) >= minimum && big(h.open_holds) > 0n;
          throw new GatewayError(
            402,
            "insufficient_credits",
            "insufficient_credits",
            `insufficient credits: this request needs up to ${fmtCredits(minimum)} credits at least, ${fmtCredits(available > 0n ? available : 0n)} available` +
              (waiting
                ? " while other requests of yours are in flight; try again when they finish"
                : ` (balance ${fmtCredits(balance)}, not yet settled ${fmtCredits(big(h.unsettled))})`),
            waiting ? { retryAfterS: 1 } : {},
          );
        }
        if (capLeft < minimum) {
          const waiting = big(a.cap) - big(a.charged) >= minimum;
          throw new GatewayError(
            402,
            "insufficient_credits",
            "authorization_cap_reached",
            `the spending authorization behind this key has ${fmtCredits(capLeft > 0n ? capLeft : 0n)} credits of its cap left, this request needs up to ${fmtCredits(minimum)}` +
              (waiting ? "; try again when your requests in flight finish" : ": sign a new authorization (ctk credits authorize)"),
            waiting ? { retryAfterS: 1 } : {},
          );
        }
        if (dayLeft < minimum) {
          throw new GatewayError(429, "rate_limit_error", "credits_per_day", `daily limit: ${fmtCredits(p.limits.creditsPerDay)} credits per day; try again in ${untilDay} s`, {
            retryAfterS: untilDay,
          });
        }
        const budget = [available, capLeft, dayLeft].reduce((m, v) => (v < m ? v : m));
        const affordable = p.quote.maxOutputFor(p.inputTokens, budget);
        const outputTokens = Math.max(0, Math.min(wanted, affordable, tokensLeft));
        const amount = p.quote.cost(p.inputTokens, outputTokens);

        const holdParams = [holderAddr, amount, minuteStart, minuteRequests + 1, minuteTokens + p.inputTokens + outputTokens, dayStart, dayCredits + amount, p.authId];
        const requestParams = [
          p.requestId,
          p.keyId,
          p.authId,
          holderAddr,
          big(a.nonce),
          p.model,
          p.tier,
          p.quote.priceVersion,
          amount,
          p.inputTokens,
          outputTokens,
          p.replica,
          p.now,
        ];
        if (this.db.kind === "postgres") {
          // One round trip for the three writes.
          await tx.run(
            `WITH h AS (${HOLD_HOLDER_UPDATE}), a AS (UPDATE gw_authorizations SET open_holds = open_holds + $2 WHERE auth_id = $8)
           INSERT INTO gw_requests (${REQUEST_COLUMNS}) VALUES ($9, $10, $8, $1, $11, $12, $13, $14, 'held', $2, $15, $16, $17, $18)`,
            [...holdParams, ...requestParams.filter((_, i) => i !== 2 && i !== 3 && i !== 8)],
          );
        } else {
          await tx.run(HOLD_HOLDER_UPDATE, holdParams.slice(0, 7));
          await tx.run("UPDATE gw_authorizations SET open_holds = open_holds + $2 WHERE auth_id = $1", [p.authId, amount]);
          await tx.run(`INSERT INTO gw_requests (${REQUEST_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'held', $9, $10, $11, $12, $13)`, requestParams);
        }
        return { requestId: p.requestId, holder: holderAddr, amount, outputTokens };
      },
      { durable: false },
    );
  }

  /**
   * PostgreSQL's one-round-trip hold of the full request, when the key is known: undefined when any
   * check does not pass as is (the caller runs the full transaction, which cuts the output tokens to
   * the budget or refuses with the reason). Whatever it holds, the full transaction would hold the same.
   */
  private async fastHold(p: HoldParams, key: NonNullable<HoldParams["key"]>): Promise<Hold | undefined> {
    if (BigInt(Math.floor(p.now / 1000)) >= key.expiresAt) return undefined;
    if (key.models.length > 0 && !key.models.includes(p.model)) return undefined;
    const outputTokens = Math.min(p.maxTokens ?? p.modelMaxTokens, p.modelMaxTokens);
    if (outputTokens < 1) return undefined;
    const amount = p.quote.cost(p.inputTokens, outputTokens);
    const held = await this.pgHolds().submit({ p, key, outputTokens, amount });
    return held ? { requestId: p.requestId, holder: key.holder, amount, outputTokens } : undefined;
  }

  // ── leases (PostgreSQL; see leases.ts) ─────────────────────────────────────────────────────

  /** What this ledger's leases did since it opened, and how many are open (benchmarks, tests). */
  leaseStats(): LeaseStats {
    return { ...this.leaseCounts, open: this.leases.size };
  }

  /**
   * A hold under the authorization's lease, in memory, taking a lease first when there is none
   * (one statement, which the authorization's other requests wait for): undefined when the request
   * must take the exact path — a check that does not pass as is (the exact path refuses with the
   * reason, or cuts the output tokens), or too little left to lease.
   */
  private async leaseHold(p: HoldParams, key: NonNullable<HoldParams["key"]>): Promise<Hold | undefined> {
    if (BigInt(Math.floor(p.now / 1000)) >= key.expiresAt) return undefined;
    if (key.models.length > 0 && !key.models.includes(p.model)) return undefined;
    const outputTokens = Math.min(p.maxTokens ?? p.modelMaxTokens, p.modelMaxTokens);
    if (outputTokens < 1 || this.leasesClosing) return undefined;
    const worst = p.quote.cost(p.inputTokens, outputTokens);
    const tokens = p.inputTokens + outputTokens;
    for (let tries = 0; tries < 3; tries++) {
      const lease = this.leases.get(p.authId);
      if (lease && Math.floor(p.now / DAY) !== Math.floor(lease.takenAt / DAY)) {
        // A new day: its credits count against the day they were taken, so a new one is taken.
        this.closeLease(lease);
        continue;
      }
      if (
        lease &&
        p.now - lease.renewedAt < LEASE_RENEW_MS &&
        p.now >= lease.minuteStart &&
        p.now - lease.minuteStart < MINUTE &&
        lease.granted - lease.used >= worst &&
        lease.requests >= 1 &&
        lease.tokens >= tokens
      ) {
        lease.used += worst;
        lease.requests -= 1;
        lease.tokens -= tokens;
        lease.inFlight++;
        lease.lastUsed = Date.now();
        this.leased.set(p.requestId, { lease, p, key, worst, outputTokens });
        this.leaseCounts.held++;
        return { requestId: p.requestId, holder: key.holder, amount: worst, outputTokens };
      }
      if ((this.noLeaseUntil.get(p.authId)?.until ?? Number.NEGATIVE_INFINITY) > p.now) return undefined;
      // None, or short (credits, requests or tokens of this minute), or not renewed lately: taken or topped up.
      let taking = this.taking.get(p.authId);
      if (!taking) {
        taking = (lease ? this.topUpLease(lease, p, worst, tokens) : this.takeLease(p, key, worst, tokens)).finally(() => this.taking.delete(p.authId));
        this.taking.set(p.authId, taking);
      }
      if (!(await taking)) return undefined;
    }
    return undefined;
  }

  /**
   * Tops a lease up by twice its last size (to LEASE_MAX_REQUESTS requests; the first size again
   * when that much is not left): undefined, and the lease returned, when not even that is left.
   */
  private async topUpLease(lease: Lease, p: HoldParams, worst: bigint, tokens: number): Promise<Lease | undefined> {
    const cuts = this.cuts;
    for (const size of new Set([Math.min(LEASE_MAX_REQUESTS, lease.size * 2), LEASE_REQUESTS])) {
      const credits = worst * BigInt(size);
      const rows = await this.db.statement(
        LEASE_TOP_UP_PG,
        [lease.holder, lease.authId, p.now, p.limits.requestsPerMinute, p.limits.tokensPerMinute, p.limits.creditsPerDay, size, tokens * size, credits, lease.id, LEASE_HEADROOM],
        { durable: false },
      );
      if (rows.length === 0) continue;
      // Counted in the database: this lease holds it, whatever comes next (a cut returns it).
      lease.granted += credits;
      const ms = num(rows[0].ms);
      if (ms === lease.minuteStart) {
        lease.requests += size;
        lease.tokens += tokens * size;
      } else {
        // A new minute window: what was left of the last one's requests and tokens is void.
        lease.minuteStart = ms;
        lease.requests = size;
        lease.tokens = tokens * size;
      }
      lease.renewedAt = p.now;
      lease.keptAt = p.now;
      lease.size = size;
      lease.balance = big(rows[0].balance);
      lease.refreshedAt = num(rows[0].refreshed_at);
      this.leaseCounts.toppedUp++;
      if (cuts !== this.cuts || lease.closed) return undefined;
      return lease;
    }
    this.refuseLeases(p);
    this.closeLease(lease);
    return undefined;
  }

  /** Counts revocations, offboardings and lowered balances: a lease whose taking saw one start is not used. */
  private cuts = 0;

  /**
   * Takes a lease of LEASE_REQUESTS such requests (of the size of the authorization's last lease,
   * when one was returned idle within LEASE_RECALL_MS, and LEASE_REQUESTS when that much is not
   * left), if LEASE_HEADROOM leases' worth is left in every dimension.
   */
  private async takeLease(p: HoldParams, key: NonNullable<HoldParams["key"]>, worst: bigint, tokens: number): Promise<Lease | undefined> {
    const last = this.recalled.get(p.authId);
    this.recalled.delete(p.authId);
    const sizes = last && Date.now() - last.at < LEASE_RECALL_MS ? [...new Set([Math.min(last.size, LEASE_MAX_REQUESTS), LEASE_REQUESTS])] : [LEASE_REQUESTS];
    const cuts = this.cuts;
    let taken: { id: string; size: number; row: Row } | undefined;
    for (const size of sizes) {
      const id = `lease-${randomUUID()}`;
      const credits = worst * BigInt(size);
      const leaseTokens = tokens * size;
      let rows: Row[];
      try {
        rows = await this.db.statement(
          LEASE_TAKE_PG,
          [
            key.holder,
            p.authId,
            p.now,
            p.limits.requestsPerMinute,
            p.limits.tokensPerMinute,
            p.limits.creditsPerDay,
            size,
            leaseTokens,
            credits,
            id,
            p.keyId,
            key.nonce,
            p.model,
            p.tier,
            p.quote.priceVersion,
            p.replica,
            LEASE_HEADROOM,
          ],
          // Not durable: a charge under it is, and makes it durable with it (the log is sequential).
          { durable: false },
        );
      } catch (err) {
        // Perhaps committed with its reply lost: returned once the database answers (nothing to do if
        // not), with the requests and tokens it counted in its minute window (no request used them).
        this.returnInBackground(id, "unused");
        throw err;
      }
      if (rows.length > 0) {
        taken = { id, size, row: rows[0] };
        break;
      }
    }
    if (!taken) {
      this.refuseLeases(p);
      return undefined;
    }
    const { id, size } = taken;
    this.noLeaseUntil.delete(p.authId);
    const lease: Lease = {
      id,
      authId: p.authId,
      holder: key.holder,
      granted: worst * BigInt(size),
      used: 0n,
      requests: size,
      tokens: tokens * size,
      minuteStart: num(taken.row.ms),
      takenAt: p.now,
      renewedAt: p.now,
      keptAt: p.now,
      size,
      inFlight: 0,
      lastUsed: Date.now(),
      balance: big(taken.row.balance),
      refreshedAt: num(taken.row.refreshed_at),
      closed: false,
    };
    this.leaseCounts.taken++;
    if (size !== LEASE_REQUESTS) this.leaseCounts.recalled++;
    this.ownLeases.set(id, lease);
    if (cuts !== this.cuts || this.leasesClosing) {
      // A revocation, an offboarding or a lower balance came in meanwhile: its leases are cut, this one too.
      lease.closed = true;
      this.returnInBackground(id, lease);
      return undefined;
    }
    this.leases.set(p.authId, lease);
    this.sweepEvery();
    return lease;
  }

  /** No lease for this authorization for LEASE_RETRY_MS: its requests take the exact path meanwhile. */
  private refuseLeases(p: HoldParams): void {
    this.noLeaseUntil.set(p.authId, { until: p.now + LEASE_RETRY_MS, at: Date.now() });
    this.leaseCounts.refused++;
    this.sweepEvery();
  }

  /** The idle sweep, from the first lease taken or refused on. */
  private sweepEvery(): void {
    this.leaseSweep ??= setInterval(() => this.sweepLeases(), LEASE_IDLE_MS / 2).unref();
  }

  /**
   * Closes the leases idle (none of their requests in flight) for LEASE_IDLE_MS, remembering their
   * sizes (LEASE_RECALL_MS), forgets the sizes and refusals that no longer count (each map holds
   * an entry per authorization seen lately, not per authorization ever seen), and keeps the leases
   * in use renewed in the database (keepLeasesInUse).
   */
  private sweepLeases(): void {
    this.keepLeasesInUse();
    const now = Date.now();
    for (const [authId, r] of this.recalled) if (now - r.at >= LEASE_RECALL_MS) this.recalled.delete(authId);
    for (const [authId, r] of this.noLeaseUntil) if (now - r.at >= LEASE_RETRY_MS) this.noLeaseUntil.delete(authId);
    for (const l of [...this.leases.values()])
      if (l.inFlight === 0 && now - l.lastUsed >= LEASE_IDLE_MS) {
        this.closeLease(l);
        this.recalled.set(l.authId, { size: l.size, at: now });
      }
  }

  /**
   * Writes the renewal time of this replica's leases with requests in flight (open, or closed and
   * waiting for them) whose row's was last written LEASE_RENEW_MS / 2 ago or more
   * ({@link LEASE_KEEP_PG}): no other replica recovers a lease its live owner still charges under,
   * however long a request waits in the priority queue and runs. Only the row's: `renewedAt`, which
   * says whether new requests may be held under the lease (and its minute window, its balance), is
   * left as it is. A write that fails is made again at the next sweep.
   */
  private keepLeasesInUse(): void {
    if (this.keeping) return;
    const now = this.now();
    const due = [...this.ownLeases.values()].filter((l) => l.inFlight > 0 && !this.returning.has(l.id) && now - l.keptAt >= LEASE_RENEW_MS / 2);
    if (due.length === 0) return;
    this.keeping = this.db
      .statement(LEASE_KEEP_PG, [pgArray(due.map((l) => l.id)), now], { durable: false })
      .then(
        () => {
          for (const l of due) l.keptAt = Math.max(l.keptAt, now);
        },
        () => undefined,
      )
      .finally(() => {
        this.keeping = undefined;
      });
  }

  /** No more holds under this lease; returned once none is in flight. */
  private closeLease(l: Lease): void {
    if (this.leases.get(l.authId) === l) this.leases.delete(l.authId);
    if (l.closed) return;
    l.closed = true;
    if (l.inFlight === 0) this.returnInBackground(l.id, l);
  }

  /** Closes the leases `which` picks (all without it), counted as a cut (see {@link takeLease}). */
  private cutLeases(which: (l: Lease) => boolean): void {
    this.cuts++;
    for (const l of [...this.leases.values()]) if (which(l)) this.closeLease(l);
  }

  /** A leased request ended, having charged `charge` of its worst case. */
  private endLeased(r: LeasedRequest, charge: bigint): void {
    const l = r.lease;
    l.used -= r.worst - charge;
    l.inFlight--;
    if (l.inFlight === 0) l.lastUsed = Date.now();
    if (l.closed && l.inFlight === 0) this.returnInBackground(l.id, l);
  }

  /** Returns every lease of this ledger (when none of its requests is in flight) and waits for the returns. */
  async returnLeases(): Promise<void> {
    for (const l of [...this.leases.values()]) this.closeLease(l);
    await Promise.all(this.returning.values());
  }

  /**
   * Returns a lease, retrying (as a release: back-off to 30 s, 12 attempts) until the database
   * answers; one it could not return is this process's no more ({@link releaseOrphans} finds it).
   */
  private returnInBackground(id: string, lease?: Lease | "unused"): void {
    if (this.returning.has(id)) return;
    const run = retry(() => this.returnLease(id, lease), { baseMs: 250, maxMs: 30_000, maxAttempts: 12, signal: this.closing.signal })
      .then(() => undefined)
      .catch(() => undefined)
      .finally(() => {
        this.returning.delete(id);
        this.ownLeases.delete(id);
      });
    this.returning.set(id, run);
  }

  /**
   * Returns a lease: its row locked, its charges not converted yet summed, and the rest of its hold
   * given back to the holder and the authorization, with its requests and tokens of the minute not
   * used: as many as `lease` says (this replica's own), or all it was taken with (`unused`: a
   * lease whose taking's reply was lost, which no request used). What it keeps, batches convert.
   * Returns what it gave back, or undefined when it was not open.
   */
  private async returnLease(id: string, lease?: Lease | "unused"): Promise<bigint | undefined> {
    const back = await this.db.transaction(
      async (tx) => {
        const l = await tx.one(LEASE_LOCK_PG, [id]);
        if (!l || str(l.status) !== "held") return undefined;
        // A statement after the lock: it sees every charge committed before it (READ COMMITTED), and
        // no charge under it commits after it (they share-lock its row while it is open).
        const charged = big((await tx.one(LEASE_UNCONVERTED_PG, [id, str(l.holder)]))?.s);
        const hold = big(l.hold);
        // More than it holds cannot happen; were it to, it keeps what it holds (the batch converts the rest: onLeaseShortfall).
        const kept = charged > hold ? hold : charged;
        await tx.run(LEASE_SHRINK_PG, [id, kept, Date.now()]);
        const minute =
          lease === "unused"
            ? // Counted in the minute window its taking's time falls in (windows start on the minute), or,
              // another replica's clock ahead, in a later one: given back only if that is the holder's window now.
              { requests: num(l.max_output), tokens: num(l.input_bound), start: minuteStartOf(num(l.created_at)) }
            : { requests: lease?.requests ?? 0, tokens: lease?.tokens ?? 0, start: lease?.minuteStart ?? -1 };
        await tx.run(LEASE_GIVE_BACK_HOLDER_PG, [str(l.holder), hold - kept, big(l.created_at), minute.requests, minute.tokens, minute.start]);
        await tx.run(LEASE_GIVE_BACK_AUTHORIZATION_PG, [str(l.auth_id), hold - kept]);
        return hold - kept;
      },
      { durable: false },
    );
    if (back !== undefined) this.leaseCounts.returned++;
    return back;
  }

  private pgLeasedCharges(): GroupCommit<PgLeasedCharge, bigint | undefined> {
    this.leasedCharges ??= new GroupCommit<PgLeasedCharge, bigint | undefined>({
      max: PG_BATCH_MAX,
      stallMs: PG_STALL_MS,
      maxInFlight: PG_MAX_IN_FLIGHT,
      key: (c) => c.r.p.requestId,
      // Idempotent: a group whose statement failed is sent again alone, as is.
      run: async (items) => {
        const col = <T extends string | number | bigint>(f: (c: PgLeasedCharge) => T) => pgArray(items.map(f));
        const params = [
          col((c) => c.r.p.requestId),
          col((c) => c.r.p.keyId),
          col((c) => c.r.p.authId),
          col((c) => c.r.key.holder),
          col((c) => c.r.key.nonce),
          col((c) => c.r.p.model),
          col((c) => c.r.p.tier),
          col((c) => c.r.p.quote.priceVersion),
          col((c) => c.r.worst),
          col((c) => c.r.p.inputTokens),
          col((c) => c.r.outputTokens),
          col((c) => c.tokensIn),
          col((c) => c.tokensOut),
          col((c) => c.charge),
          col((c) => c.ending),
          col((c) => c.r.p.replica),
          col((c) => c.r.p.now),
          col((c) => c.now),
          col((c) => c.r.lease.id),
        ];
        // A row in a request's place already (a unique violation, nothing committed): sent again, leaving such rows as they are.
        const rows = await this.db
          .statement(LEASED_CHARGES_PG, params, { durable: true })
          .catch((err: { code?: string; constraint?: string }) =>
            err.code === UNIQUE_VIOLATION && err.constraint === REQUEST_KEY ? this.db.statement(LEASED_CHARGES_AGAIN_PG, params, { durable: true }) : Promise.reject(err),
          );
        const inserted = new Set(rows.map((r) => str(r.request_id)));
        const other = items.filter((c) => !inserted.has(c.r.p.requestId));
        if (other.length === 0) return items.map((c) => c.charge);
        // A row in its place already: this charge, committed by a statement whose reply was lost, or a released row.
        const found = await this.db.statement(
          "SELECT request_id, status, charge FROM gw_requests WHERE request_id = ANY ($1::text[])",
          [pgArray(other.map((c) => c.r.p.requestId))],
          {
            durable: false,
          },
        );
        const charged = new Map(found.filter((r) => str(r.status) === "charged").map((r) => [str(r.request_id), big(r.charge)]));
        return items.map((c) => (inserted.has(c.r.p.requestId) ? c.charge : charged.get(c.r.p.requestId)));
      },
    });
    return this.leasedCharges;
  }

  /**
   * Ends a request held under a lease: a charge is its row, inserted (durable; sent again once
   * when its statement fails, being idempotent); a release writes nothing.
   */
  private async settleLeased(
    r: LeasedRequest,
    usage: { tokensIn: number; tokensOut: number; amount: bigint; ending: Ending },
    now: number,
  ): Promise<{ charge: bigint } | undefined> {
    this.leased.delete(r.p.requestId);
    const charge = usage.amount <= 0n ? 0n : usage.amount < r.worst ? usage.amount : r.worst;
    if (charge === 0n) {
      this.endLeased(r, 0n);
      return { charge: 0n };
    }
    const item = { r, charge, tokensIn: usage.tokensIn, tokensOut: usage.tokensOut, ending: usage.ending, now };
    try {
      let got: bigint | undefined;
      try {
        got = await this.pgLeasedCharges().submit(item);
      } catch (err) {
        if (err instanceof GatewayError) throw err;
        got = await this.pgLeasedCharges().submit(item);
      }
      // Not charged: its lease is no longer open (recovered by another replica, or lost in a crash of
      // the database): no charge can land under it now. Closed; the next request takes another.
      if (got === undefined) this.closeLease(r.lease);
      return this.counted(got === undefined ? undefined : { charge: got });
    } catch (err) {
      // In doubt: a take-back (releaseUndelivered, for an answer not delivered) writes a released row in its place first.
      if (usage.ending === "ok") this.doubtful.set(r.p.requestId, r.p);
      throw err;
    } finally {
      // Counted as charged whatever came of it: what the lease gives back is read from the database.
      this.endLeased(r, charge);
    }
  }

  /**
   * Ends a held request: charges `amount` (clamped to the hold; 0 releases it) for the tokens
   * delivered. Idempotent: a request that is no longer held is left as it is (returns undefined).
   */
  async settleRequest(requestId: string, usage: { tokensIn: number; tokensOut: number; amount: bigint; ending: Ending }, now: number): Promise<{ charge: bigint } | undefined> {
    const leased = this.leased.get(requestId);
    if (leased) {
      try {
        return await this.settleLeased(leased, usage, now);
      } finally {
        this.live.delete(requestId);
      }
    }
    try {
      return this.counted(await this.settle(requestId, usage, now));
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      if (usage.amount > 0n) {
        // A charge the database did not answer: committed with its reply lost, or not at all. Looked
        // up once and made if it was not, so the response can complete (the charge is durable: a
        // durable commit is visible only once on disk). Not on SQLite: its failures are its own
        // process's (a rollback, or a commit whose fsync failed: visible, not durable); the
        // request's release follows.
        if (this.db.kind !== "postgres") throw err;
        const found = await this.settleInDoubt(requestId, usage, now).catch(() => undefined);
        if (found) return this.counted(found.result);
      } else {
        // A release the database did not answer: tried again in the background until it does.
        this.releaseInBackground(requestId, usage.ending);
      }
      throw err;
    } finally {
      this.live.delete(requestId);
    }
  }

  /** What became of a request whose charge's statement failed without an answer (see {@link settleRequest}). */
  private async settleInDoubt(
    requestId: string,
    usage: { tokensIn: number; tokensOut: number; amount: bigint; ending: Ending },
    now: number,
  ): Promise<{ result: { charge: bigint } | undefined }> {
    const charged = async () => {
      const row = await this.request(requestId);
      return row?.status === "charged" ? { charge: row.charge } : row?.status === "held" ? "held" : undefined;
    };
    const found = await charged();
    if (found !== "held") return { result: found };
    // Still held: charged now, unless the first statement's commit lands first (then it is that one).
    return { result: (await this.settle(requestId, usage, now)) ?? (await charged().then((c) => (c === "held" ? undefined : c))) };
  }

  /**
   * Charges this ledger made since it opened (a count that only grows): one of the settler's
   * reasons to look at the charges waiting for a batch (see Settler.lookDue).
   */
  get chargesMade(): number {
    return this.chargeCount;
  }

  private chargeCount = 0;

  /** A request's ending, counted in {@link chargesMade} when it charged something. */
  private counted(result: { charge: bigint } | undefined): { charge: bigint } | undefined {
    if (result && result.charge > 0n) this.chargeCount++;
    return result;
  }

  private async settle(requestId: string, usage: { tokensIn: number; tokensOut: number; amount: bigint; ending: Ending }, now: number): Promise<{ charge: bigint } | undefined> {
    // A release (nothing to charge) need not be durable: lost in a crash, the restart releases it.
    const durable = usage.amount > 0n;
    const amount = usage.amount < 0n ? 0n : usage.amount;
    if (this.db.kind === "postgres") {
      // Grouped with the other requests ending meanwhile: one statement, one round trip for all.
      const charge = await this.pgSettles().submit({ requestId, amount, tokensIn: usage.tokensIn, tokensOut: usage.tokensOut, ending: usage.ending, now, durable });
      return charge === undefined ? undefined : { charge };
    }
    return this.db.transaction(
      async (tx) => {
        // The request's row first (still held: clamped to its hold), returning what the other two need.
        const r = await tx.one(SETTLE_REQUEST_SQLITE, [requestId, amount, usage.tokensIn, usage.tokensOut, usage.ending, now]);
        if (!r) return undefined;
        const hold = big(r.hold);
        const charge = big(r.charge);
        // The unused part of the hold goes back to the day's credits if the hold was made today.
        await tx.run(ENDING_HOLDER, [str(r.holder), hold, charge, hold - charge, big(r.created_at)]);
        await tx.run(ENDING_AUTHORIZATION, [str(r.auth_id), hold, charge]);
        return { charge };
      },
      { durable },
    );
  }

  /**
   * Releases the holds a crashed process left: this replica's, and any older than `staleMs`
   * (a replica that never came back). A response that never completed is not charged.
   */
  async releaseAbandoned(replica: string, staleMs: number, now: number): Promise<number> {
    const rows = await this.db.transaction(async (tx) =>
      tx.all("SELECT request_id, lease_id, replica FROM gw_requests WHERE status = 'held' AND (replica = $1 OR created_at < $2)", [replica, now - staleMs]),
    );
    // Leases: this replica's (a previous run's) now; another's only once its owner no longer uses it (recoverLeases).
    const own = rows.filter((r) => isLease(r) && str(r.replica) === replica).map((r) => str(r.request_id));
    const returned = (await this.returnAll(own)) + (await this.recoverLeases(replica, staleMs, now));
    return (
      returned +
      (await this.releaseAll(
        rows.filter((r) => !isLease(r)).map((r) => str(r.request_id)),
        "crash",
        now,
      ))
    );
  }

  async request(requestId: string): Promise<(UsageRow & { status: string; outputTokens: number }) | undefined> {
    return this.db.transaction(async (tx) => {
      const r = await tx.one(`SELECT r.*, CASE WHEN r.status = 'charged' THEN ${batchOf("r")} END AS in_batch FROM gw_requests r WHERE r.request_id = $1`, [requestId]);
      return r && { ...usageRow(r), status: str(r.status), outputTokens: num(r.max_output) };
    });
  }

  /**
   * Charged requests of a holder (or all, or a batch's), oldest first: in commit order (`seq`, then
   * request id), the order a batch's records are hashed in; a batch of an earlier version's by
   * finish time, as it hashed them. The usage records' source.
   */
  async usage(filter: { holder?: string; batchId?: string; limit?: number } = {}): Promise<UsageRow[]> {
    return this.db.transaction(async (tx) => {
      const where = ["r.status = 'charged'"];
      const params: (string | number | bigint)[] = [];
      let order = "r.seq, r.request_id";
      if (filter.holder) where.push(`r.holder = $${params.push(filter.holder)}`);
      if (filter.batchId) {
        const b = await tx.one("SELECT seq_lo, id_lo, seq_hi, id_hi FROM gw_batches WHERE batch_id = $1", [filter.batchId]);
        if (b?.seq_hi === null || b?.seq_hi === undefined) {
          where.push(`r.batch_id = $${params.push(filter.batchId)}`);
          order = "r.finished_at, r.request_id";
        } else {
          const first = params.push(big(b.seq_lo), str(b.id_lo), big(b.seq_hi), str(b.id_hi)) - 3;
          where.push(inBatchRange("r", first));
        }
      }
      const limit = filter.limit ? ` LIMIT $${params.push(filter.limit)}` : "";
      return (await tx.all(`SELECT r.*, ${batchOf("r")} AS in_batch FROM gw_requests r WHERE ${where.join(" AND ")} ORDER BY ${order}${limit}`, params)).map(usageRow);
    });
  }

  /**
   * One page of a holder's charged requests, newest first (in commit order, then by request id: a
   * stable order, since a row is charged once; a charge committed while a client pages sorts above
   * the pages read, or, on PostgreSQL, from a transaction that began before, maybe below: in a page
   * still to come), each with its batch and whether that has settled — looked up only for the
   * page's rows. `before` continues after the last row of the previous page. Bounded by `limit`,
   * whatever the history.
   */
  async usagePage(filter: { holder: string; limit: number; before?: UsageCursor }): Promise<{ rows: (UsageRow & { settled: boolean })[]; more: boolean }> {
    const params: (string | bigint | number)[] = [filter.holder];
    let after = "";
    if (filter.before) {
      const t = params.push(filter.before.seq);
      const id = params.push(filter.before.requestId);
      // A row-value comparison: both databases use it as the index range (an OR would only filter).
      after = ` AND (r.seq, r.request_id) < ($${t}, $${id})`;
    }
    const limit = params.push(filter.limit + 1);
    // One index range (gw_requests_holder_seq); each row's batch looked up (gw_batches_range), only for the page's rows.
    const found = await this.db.transaction(async (tx) =>
      tx.all(
        `SELECT u.*, b.batch_id AS in_batch, b.status AS batch_status
         FROM (SELECT r.*, ${batchOf("r")} AS of_batch FROM gw_requests r WHERE r.holder = $1 AND r.status = 'charged'${after}
           ORDER BY r.seq DESC, r.request_id DESC LIMIT $${limit}) u
         LEFT JOIN gw_batches b ON b.batch_id = u.of_batch
         ORDER BY u.seq DESC, u.request_id DESC`,
        params,
      ),
    );
    const more = found.length > filter.limit;
    return { rows: found.slice(0, filter.limit).map((r) => ({ ...usageRow(r), settled: r.batch_status === "settled" })), more };
  }

  // ── settlement ─────────────────────────────────────────────────────────────────────────────

  /**
   * Takes (or keeps) the settler lease: one replica at a time sends batches, since they share the
   * gateway's on-chain account. Returns true while `owner` holds it.
   */
  async takeSettlerLease(owner: string, ttlMs: number, now: number): Promise<boolean> {
    // Not durable: a lease lost in a crash only lapses sooner (it is taken again every round, and
    // a later durable commit makes it durable with it). Renewed every round, it must not cost an fsync each time.
    return this.db.transaction(
      async (tx) => {
        const r = await tx.one(`SELECT value, owner FROM gw_meta WHERE name = 'settler_lease'${this.db.forUpdate}`);
        if (r && r.owner !== null && r.owner !== undefined && str(r.owner) !== owner && num(r.value) > now) return false;
        await tx.run("UPDATE gw_meta SET value = $1, owner = $2 WHERE name = 'settler_lease'", [now + ttlMs, owner]);
        return true;
      },
      { durable: false },
    );
  }

  async releaseSettlerLease(owner: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.run("UPDATE gw_meta SET value = 0, owner = NULL WHERE name = 'settler_lease' AND owner = $1", [owner]);
    });
  }

  /** The last charge a batch took (`lock`: its row locked, as a batch or a take-back does). */
  private async watermark(tx: SqlTx, lock = false): Promise<{ seq: bigint; id: string }> {
    const w = await tx.one(`SELECT value, owner FROM gw_meta WHERE name = 'batch_watermark'${lock ? this.db.forUpdate : ""}`);
    if (!w) throw new Error("the ledger has no batch watermark: it was not initialized");
    return { seq: big(w.value), id: str(w.owner) };
  }

  /**
   * PostgreSQL: the oldest transaction open in the server that has a transaction id — a session's
   * or a prepared one's, in any database (transaction ids are the server's) — other than this
   * statement's. While it is open, the charges committed after it began wait for a batch (see
   * createBatch): this says which one holds them back. Its state and start are those
   * pg_stat_activity shows this role (another role's need pg_read_all_stats). Undefined on
   * SQLite, or when none is open.
   */
  async oldestOpenTransaction(): Promise<OpenTransaction | undefined> {
    if (this.db.kind !== "postgres") return undefined;
    const [r] = await this.db.statement(
      `SELECT * FROM (
         SELECT 'session' AS kind, pid::text AS id, usename AS role, datname AS database, application_name AS application, state,
           (EXTRACT(EPOCH FROM xact_start) * 1000)::bigint AS since, backend_xid::text AS xid, age(backend_xid) AS age
         FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()
         UNION ALL
         SELECT 'prepared', gid, owner, database, NULL, NULL, (EXTRACT(EPOCH FROM prepared) * 1000)::bigint, transaction::text, age(transaction)
         FROM pg_prepared_xacts) t
       ORDER BY age DESC LIMIT 1`,
      [],
      { durable: false },
    );
    if (!r) return undefined;
    const opt = (v: unknown) => (v === null || v === undefined || v === "" ? undefined : str(v));
    return {
      kind: str(r.kind) as OpenTransaction["kind"],
      id: str(r.id),
      xid: str(r.xid),
      role: opt(r.role),
      database: opt(r.database),
      application: opt(r.application),
      state: opt(r.state),
      since: r.since === null || r.since === undefined ? undefined : num(r.since),
    };
  }

  /** Charges waiting for a batch (count and the oldest's finish time). */
  async unbatched(): Promise<{ count: number; oldest: number | undefined }> {
    return this.db.transaction(async (tx) => {
      // The watermark read first and bound: compared with a sub-select, PostgreSQL's planner cannot
      // tell how many rows follow it, and scanned the whole table (9 ms a count in bench:gateway).
      const w = await this.watermark(tx);
      const r = await tx.one(`SELECT COUNT(*) AS n, MIN(finished_at) AS oldest FROM gw_requests r WHERE ${chargedAfter("r", 1)}`, [w.seq, w.id]);
      return { count: num(r?.n), oldest: r?.oldest === null || r?.oldest === undefined ? undefined : num(r.oldest) };
    });
  }

  /**
   * Records the next batch — up to `max` charges waiting, in commit order from the watermark, of
   * the first one's price version, aggregated per authorization, with the activations of
   * authorizations not yet on-chain — before anything is sent. Returns undefined when nothing waits.
   *
   * A batch takes a range of charges (from the watermark to its last one), and moves the watermark:
   * no row is written per charge. The range ends before the first charge it cannot take: of another
   * price version, of an authorization past SETTLE_USAGE_MAX_CHARGES, or one being taken back.
   */
  async createBatch(max: number, build: BatchBuilder, now: number): Promise<BatchRow | undefined> {
    // 1. The rows: on PostgreSQL only those charged by transactions below the snapshot's xmin (every
    //    one of them has ended: none can commit below the watermark once it moves). A charge no
    //    longer changes until a batch takes it, but for one taken back: its answer was not
    //    delivered; the range stops before it while that is pending.
    /** The lease of each row charged under one (by request id). */
    const leaseOf = new Map<string, string>();
    const picked = await this.db.transaction(async (tx) => {
      const lo = await this.watermark(tx);
      const closed = this.db.kind === "postgres" ? ` AND r.seq < ${PG_SNAPSHOT_XMIN}` : "";
      const raw = await tx.all(`SELECT * FROM gw_requests r WHERE ${chargedAfter("r", 1)}${closed} ORDER BY r.seq, r.request_id LIMIT $3`, [lo.seq, lo.id, max]);
      if (!raw.length) return undefined;
      const priceVersion = big(raw[0].price_version);
      // At most SETTLE_USAGE_MAX_CHARGES authorizations (a charge each on-chain).
      const auths = new Set<string>();
      let take = 0;
      for (; take < raw.length; take++) {
        const r = raw[take];
        if (big(r.price_version) !== priceVersion || this.undelivered.has(str(r.request_id))) break;
        if (!auths.has(str(r.auth_id)) && auths.size === SETTLE_USAGE_MAX_CHARGES) break;
        auths.add(str(r.auth_id));
      }
      if (take === 0) return undefined;
      const last = raw[take - 1];
      for (const r of raw.slice(0, take)) if (r.lease_id !== null && r.lease_id !== undefined) leaseOf.set(str(r.request_id), str(r.lease_id));
      // Hashed in this order, the order its records are read back in (usage by batch).
      const rows = raw.slice(0, take).map(usageRow);
      return { priceVersion, rows, lo, hi: { seq: big(last.seq), id: str(last.request_id) } };
    });
    if (!picked) return undefined;
    const { priceVersion, rows, lo, hi } = picked;
    // 2. The root and the id, outside any transaction.
    const { batchId, usageRoot } = await build(rows, priceVersion);
    // 3. The batch, recorded only if the watermark has not moved (one settler at a time holds the
    //    lease, so it has not; a replica whose lease lapsed meanwhile records nothing) and every
    //    charge of its range is still one (none taken back since it was picked).
    if (rows.some((r) => this.undelivered.has(r.requestId))) return undefined;
    return this.db.transaction(async (tx) => {
      // The watermark locked first (a take-back locks it too), then the range counted: no row written per charge.
      const w = await this.watermark(tx, true);
      if (w.seq !== lo.seq || w.id !== lo.id) throw new Error(`another settler moved the batch watermark meanwhile: batch ${batchId} not recorded`);
      // Exactly the charges it picked: none taken back meanwhile, and (SQLite, whose counter goes back when its
      // newest charge is taken back) none charged into the range since.
      const inRange = await tx.all(`SELECT request_id FROM gw_requests r WHERE ${inBatchRange("r", 1)} ORDER BY r.seq, r.request_id`, [lo.seq, lo.id, hi.seq, hi.id]);
      if (inRange.length !== rows.length || inRange.some((r, i) => str(r.request_id) !== rows[i].requestId))
        throw new Error(`its range's charges changed meanwhile (one taken back, or charged into it): batch ${batchId} not recorded`);
      await tx.run("UPDATE gw_meta SET value = $1, owner = $2 WHERE name = 'batch_watermark'", [hi.seq, hi.id]);
      const perAuth = new Map<string, { holder: string; nonce: string; amount: bigint; authId: string }>();
      for (const r of rows) {
        const c = perAuth.get(r.authId) ?? { holder: r.holder, nonce: r.nonce.toString(), amount: 0n, authId: r.authId };
        c.amount += r.charge;
        perAuth.set(r.authId, c);
      }
      const authIds = [...perAuth.keys()].sort();
      const leased = rows.filter((r) => leaseOf.has(r.requestId));
      if (leased.length) await this.convertLeased(tx, leased, leaseOf, authIds);
      // The authorizations not yet on-chain, marked in one statement (a round trip per authorization
      // kept each one's row locked, and the holds behind it waiting, for the whole loop).
      // On PostgreSQL their rows locked in ascending order first, as the grouped charges lock
      // authorizations (without an order, this and a grouped charge could each wait on the other).
      const activations = (
        await tx.all(
          this.db.kind === "postgres"
            ? `WITH l AS MATERIALIZED (SELECT auth_id FROM gw_authorizations WHERE activated = 0 AND ${this.inJsonIds("auth_id")} ORDER BY auth_id FOR UPDATE)
               UPDATE gw_authorizations SET activated = 1 WHERE activated = 0 AND auth_id IN (SELECT auth_id FROM l) AND (SELECT COUNT(*) FROM l) >= 0 RETURNING auth_id`
            : `UPDATE gw_authorizations SET activated = 1 WHERE activated = 0 AND ${this.inJsonIds("auth_id")} RETURNING auth_id`,
          [JSON.stringify(authIds)],
        )
      )
        .map((r) => str(r.auth_id))
        .sort();
      const charges = authIds.map((id) => {
        const c = perAuth.get(id)!;
        return { holder: c.holder, nonce: c.nonce, amount: c.amount.toString(), authId: id };
      });
      const requested = rows.reduce((s, r) => s + r.charge, 0n);
      await tx.run(
        `INSERT INTO gw_batches (batch_id, price_version, usage_root, status, records, requested, charges, activations, created_at, seq_lo, id_lo, seq_hi, id_hi)
         VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
        [batchId, priceVersion, usageRoot, rows.length, requested, JSON.stringify(charges), JSON.stringify(activations), now, lo.seq, lo.id, hi.seq, hi.id],
      );
      return { batchId, priceVersion, usageRoot, status: "pending", records: rows.length, requested, charged: null, charges, activations, txHash: null, createdAt: now };
    });
  }

  /**
   * PostgreSQL: the charges a batch takes that were made under leases, converted in its
   * transaction (see leases.ts): each lease's hold, its holder's and its authorization's open
   * holds down by their sum, the holder's unsettled and the authorization's charged up by as
   * much. A returned lease left with nothing is released. Locks, after the batches' watermark:
   * the leases' rows, the holders', then the authorizations' (with the batch's not yet activated,
   * which the activations lock next), each in ascending order. A sum its lease does not hold
   * (which the share lock of every leased charge prevents; a lease lost in a crash of the database
   * could) is charged all the same — the batch is not held up — and told to onLeaseShortfall.
   */
  private async convertLeased(tx: SqlTx, rows: readonly UsageRow[], leaseOf: ReadonlyMap<string, string>, batchAuthIds: readonly string[]): Promise<void> {
    const byLease = new Map<string, { s: bigint; holder: string; authId: string }>();
    for (const r of rows) {
      const id = leaseOf.get(r.requestId)!;
      const e = byLease.get(id) ?? { s: 0n, holder: r.holder, authId: r.authId };
      e.s += r.charge;
      byLease.set(id, e);
    }
    const leaseIds = ascending(byLease).map(([id]) => id);
    const held = new Map(
      (
        await tx.all("SELECT request_id, hold FROM gw_requests WHERE request_id = ANY ($1::text[]) AND lease_id = request_id ORDER BY request_id FOR UPDATE", [pgArray(leaseIds)])
      ).map((r) => [str(r.request_id), big(r.hold)]),
    );
    // What each lease's hold covers (`c`: all of it, but for a shortfall) and what was charged (`s`), per lease, holder and authorization.
    const covered = new Map<string, bigint>();
    const perHolder = new Map<string, { c: bigint; s: bigint }>();
    const perAuth = new Map<string, { c: bigint; s: bigint }>();
    const add = (m: Map<string, { c: bigint; s: bigint }>, k: string, c: bigint, s: bigint) => {
      const e = m.get(k) ?? { c: 0n, s: 0n };
      e.c += c;
      e.s += s;
      m.set(k, e);
    };
    for (const [id, e] of byLease) {
      const hold = held.get(id) ?? 0n;
      const c = e.s < hold ? e.s : hold;
      if (c < e.s) this.onLeaseShortfall?.({ leaseId: id, charged: e.s, held: hold });
      covered.set(id, c);
      add(perHolder, e.holder, c, e.s);
      add(perAuth, e.authId, c, e.s);
    }
    const present = leaseIds.filter((id) => held.has(id));
    await tx.run(
      `UPDATE gw_requests q SET hold = q.hold - v.c, status = CASE WHEN q.status = 'returned' AND q.hold - v.c = 0 THEN 'released' ELSE q.status END
        FROM unnest($1::text[], $2::bigint[]) AS v(id, c) WHERE q.request_id = v.id`,
      [pgArray(present), pgArray(present.map((id) => covered.get(id)!))],
    );
    const holders = ascending(perHolder);
    await tx.all("SELECT holder FROM gw_holders WHERE holder = ANY ($1::text[]) ORDER BY holder FOR UPDATE", [pgArray(holders.map(([h]) => h))]);
    await tx.run(
      "UPDATE gw_holders g SET open_holds = g.open_holds - v.c, unsettled = g.unsettled + v.s FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS v(holder, c, s) WHERE g.holder = v.holder",
      [pgArray(holders.map(([h]) => h)), pgArray(holders.map(([, e]) => e.c)), pgArray(holders.map(([, e]) => e.s))],
    );
    const auths = ascending(perAuth);
    await tx.all("SELECT auth_id FROM gw_authorizations WHERE auth_id = ANY ($1::text[]) AND (activated = 0 OR auth_id = ANY ($2::text[])) ORDER BY auth_id FOR UPDATE", [
      pgArray(batchAuthIds),
      pgArray(auths.map(([a]) => a)),
    ]);
    await tx.run(
      "UPDATE gw_authorizations x SET open_holds = x.open_holds - v.c, charged = x.charged + v.s FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS v(auth_id, c, s) WHERE x.auth_id = v.auth_id",
      [pgArray(auths.map(([a]) => a)), pgArray(auths.map(([, e]) => e.c)), pgArray(auths.map(([, e]) => e.s))],
    );
  }

  async batches(status?: BatchRow["status"]): Promise<BatchRow[]> {
    return this.db.transaction(async (tx) =>
      (status === "pending"
        ? // The index's own condition, written out: a bound parameter would not let either planner use it.
          await tx.all("SELECT * FROM gw_batches WHERE status = 'pending' ORDER BY created_at, batch_id")
        : status
          ? await tx.all("SELECT * FROM gw_batches WHERE status = $1 ORDER BY created_at, batch_id", [status])
          : await tx.all("SELECT * FROM gw_batches ORDER BY created_at, batch_id")
      ).map(batchRow),
    );
  }

  /** Which of these batch ids this ledger recorded (its own batches, whatever their status). */
  async knownBatchIds(batchIds: readonly string[]): Promise<Set<string>> {
    if (batchIds.length === 0) return new Set();
    const rows = await this.db.transaction(async (tx) => tx.all(`SELECT batch_id FROM gw_batches WHERE ${this.inJsonIds("batch_id")}`, [JSON.stringify(batchIds)]));
    return new Set(rows.map((r) => str(r.batch_id)));
  }

  async setBatchTx(batchId: string, txHash: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.run("UPDATE gw_batches SET tx_hash = $2 WHERE batch_id = $1", [batchId, txHash]);
    });
  }

  /**
   * A batch landed: what the chain charged per authorization (from its UsageCharged events)
   * leaves "not yet settled" and comes off the cached balance, in one transaction.
   *
   * On PostgreSQL that transaction is one statement (one round trip), committed without waiting
   * for the disk: the holders' rows it locks — and the holds and charges of those holders queued
   * behind them — wait for one statement, not for several round trips and an fsync. Safe because
   * everything it writes can be derived again from the chain: were the commit lost (a crash of the
   * database before its log reached the disk), the batch would be pending again, and the settler
   * looks every pending batch up on-chain by id and, finding it landed, applies its UsageCharged
   * events (never sends it twice); until then no holder has more available than after it (the
   * balance is higher by what the chain charged, the not-yet-settled by what was asked, ≥ that).
   */
  async finishBatch(batchId: string, chargedByAuth: ReadonlyMap<string, bigint>, txHash: string | null, now: number): Promise<boolean> {
    const aggregate = (batch: BatchRow) => {
      const perHolder = new Map<string, { requested: bigint; charged: bigint }>();
      let charged = 0n;
      for (const c of batch.charges) {
        const got = chargedByAuth.get(c.authId) ?? 0n;
        charged += got;
        const e = perHolder.get(c.holder) ?? { requested: 0n, charged: 0n };
        e.requested += BigInt(c.amount);
        e.charged += got;
        perHolder.set(c.holder, e);
      }
      return { charged, holders: ascending(perHolder) };
    };
    if (this.db.kind === "postgres") {
      // A batch's charges and activations never change once recorded: read without a lock, outside
      // the statement that locks (and re-checks that the batch is still pending).
      const b = (await this.db.statement("SELECT * FROM gw_batches WHERE batch_id = $1", [batchId]))[0];
      if (!b || str(b.status) !== "pending") return false;
      const batch = batchRow(b);
      const { charged, holders } = aggregate(batch);
      const rows = await this.db.statement(
        FINISH_BATCH_PG,
        [
          batchId,
          JSON.stringify(holders.map(([holder, e]) => ({ holder, requested: e.requested.toString(), charged: e.charged.toString() }))),
          JSON.stringify(batch.activations),
          charged,
          txHash,
          now,
        ],
        { durable: false },
      );
      return num(rows[0]?.finished) === 1;
    }
    return this.db.transaction(async (tx) => {
      const b = await tx.one("SELECT * FROM gw_batches WHERE batch_id = $1", [batchId]);
      if (!b || str(b.status) !== "pending") return false;
      const batch = batchRow(b);
      const { charged, holders } = aggregate(batch);
      for (const [holder, e] of holders) {
        await tx.run("UPDATE gw_holders SET unsettled = unsettled - $2, balance = balance - $3 WHERE holder = $1", [holder, e.requested, e.charged]);
      }
      if (batch.activations.length) await tx.run(`UPDATE gw_authorizations SET activated = 2 WHERE ${this.inJsonIds("auth_id")}`, [JSON.stringify(batch.activations)]);
      await tx.run("UPDATE gw_batches SET status = 'settled', charged = $2, tx_hash = COALESCE($3, tx_hash), settled_at = $4 WHERE batch_id = $1", [batchId, charged, txHash, now]);
      await tx.run("UPDATE gw_meta SET value = value + 1 WHERE name = 'settled_batches'");
      return true;
    });
  }
}
