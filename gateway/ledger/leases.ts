/**
 * PostgreSQL's credit leases (see gateway/README.md, "Leases"): a replica reserves a share of what
 * an authorization's holder may spend — credits, requests and tokens of the minute window — in
 * one statement, holds its requests against it in memory, and charges each with one insert of its
 * row; when it runs short, one statement tops it up (twice as much each time, to a bound). The lease is a row of gw_requests (`lease_id` = its own `request_id`) whose `hold` the
 * holder's and the authorization's `open_holds` count, as they count a request's hold:
 *
 *   lease.hold = granted − charges converted (moved into `unsettled` and `charged`)
 *
 * A charge under a lease (`lease_id` = the lease's id) is converted when a settlement batch takes
 * it (createBatch): `hold`, `open_holds` down and `unsettled`, `charged` up by as much, so
 * available credit and cap left do not move. Returning a lease gives back what its charges did not
 * use: `hold` − its charges not yet converted, read after its row is locked. A returned lease
 * keeps those (status 'returned') until batches convert them; then it is released.
 *
 * Lock order, as every other transaction: the batches' watermark (batches and take-backs only),
 * request rows (charged rows, then lease rows), holders
 * in ascending order, authorizations in ascending order.
 */

import { PG_XACT_SEQ, waitingCharge } from "./watermark.js";
import { rolledWindows } from "./windows.js";

/** A lease is first this many requests of the one that takes it (its worst case, its tokens); after an idle return, see LEASE_RECALL_MS. */
export const LEASE_REQUESTS = 8;
/** Each top-up doubles the lease's size, up to this many requests (a holder sending many tops it up rarely). */
export const LEASE_MAX_REQUESTS = 64;
/** A lease is taken only while this many leases' worth is left in every dimension: at most a quarter of what is left. */
export const LEASE_HEADROOM = 4;
/** A lease not used for this long (ms) is returned: its credits are the holder's again on every replica. */
export const LEASE_IDLE_MS = 2_000;
/** A lease not renewed (taken or topped up) for this long (ms) is not used by its owner: it tops it up first. */
export const LEASE_RENEW_MS = 60_000;
/**
 * Another replica's lease not renewed for this long (ms) is recovered by a replica that starts
 * (see releaseAbandoned), and by every replica's minute sweep (recoverLeases): its owner stopped
 * holding requests under it LEASE_RENEW_MS after its renewal, and, alive, writes its renewal time
 * again every LEASE_RENEW_MS / 2 while any of them is in flight ({@link LEASE_KEEP_PG}): only a
 * lease whose owner is gone goes this long without.
 */
export const LEASE_RECOVER_MS = 5 * 60_000;
/**
 * A lease returned for being idle is remembered this long (ms): the authorization's next lease is
 * first taken at its last size (LEASE_REQUESTS where four times that much is not left), not ramped up
 * again from LEASE_REQUESTS (a holder who pauses and resumes would pay each doubling's statement again).
 */
export const LEASE_RECALL_MS = 60_000;
/** After a refusal (too little left to lease), the authorization's requests take the exact path for this long (ms). */
export const LEASE_RETRY_MS = 1_000;

/** What a ledger's leases did since it opened (taken: recalled, of them, at an idle lease's size), and how many are open. */
export interface LeaseStats {
  taken: number;
  recalled: number;
  toppedUp: number;
  refused: number;
  returned: number;
  held: number;
  open: number;
}

/** A lease this replica holds, in memory. */
export interface Lease {
  /** Its row's request id. */
  id: string;
  authId: string;
  holder: string;
  granted: bigint;
  /** Worst cases of the requests in flight under it, and the charges of those ended. */
  used: bigint;
  /** Requests and tokens of its minute window not used yet. */
  requests: number;
  tokens: number;
  /** The holder's minute window its requests and tokens are of (the request clock). */
  minuteStart: number;
  /** When it was taken, and last taken or topped up (the request clock): used only on the day it was taken. */
  takenAt: number;
  renewedAt: number;
  /**
   * When its row's renewal time (`finished_at`) was last written (the request clock): by its taking,
   * a top-up, or the idle sweep while requests are in flight under it ({@link LEASE_KEEP_PG}). Only
   * `renewedAt` says whether new requests may be held under it.
   */
  keptAt: number;
  /** Requests of its taking or of its last top-up, whichever came last. */
  size: number;
  inFlight: number;
  /** Wall clock of its last hold, or of its last request's end: idle since. */
  lastUsed: number;
  /**
   * The holder's balance it was last taken or topped up against, and when a refresh from the chain
   * last changed that balance (`refreshed_at`): a refresh since that leaves it lower cuts it (a
   * settlement lowers it without a refresh, and leaves what is available as it was).
   */
  balance: bigint;
  refreshedAt: number;
  /** No more holds under it: returned once none is in flight. */
  closed: boolean;
}

/**
 * The checks and writes shared by taking a lease and topping one up: the holder's row locked (`h`,
 * which `$lock` may make wait for a lease's row), then the authorization's; the rate windows
 * rolled over; every check of a hold, each with `headroom` leases' worth; the lease's credits,
 * requests and tokens counted as a hold's are. $1 holder, $2 auth id, $3 now, $4 requests/minute,
 * $5 tokens/minute, $6 credits/day, $7 requests, $8 tokens, $9 credits.
 */
const leaseChecks = (lock: string, headroom: string) => `h AS MATERIALIZED (SELECT * FROM gw_holders WHERE holder = $1${lock} FOR UPDATE),
  a AS MATERIALIZED (SELECT * FROM gw_authorizations WHERE auth_id = $2 AND holder = $1 AND EXISTS (SELECT 1 FROM h) FOR UPDATE),
  w AS (SELECT h.balance - h.unsettled - h.open_holds AS available, a.cap - a.charged - a.open_holds AS cap_left,
      h.offboarded, a.status, h.open_holds AS h_open, a.open_holds AS a_open, h.balance, h.refreshed_at,
      ${rolledWindows("$3::bigint")}
    FROM h JOIN a ON a.holder = h.holder),
  ok AS MATERIALIZED (SELECT * FROM w WHERE offboarded = 0 AND status <> 'revoked' AND mr + ${headroom}::bigint * $7::bigint <= $4::bigint
    AND mt + ${headroom}::bigint * $8::bigint <= $5::bigint AND available >= ${headroom}::bigint * $9::bigint AND cap_left >= ${headroom}::bigint * $9::bigint
    AND $6::bigint - dc >= ${headroom}::bigint * $9::bigint),
  uh AS (UPDATE gw_holders g SET open_holds = ok.h_open + $9::bigint, minute_start = ok.ms, minute_requests = ok.mr + $7::bigint,
      minute_tokens = ok.mt + $8::bigint, day_start = ok.ds, day_credits = ok.dc + $9::bigint FROM ok WHERE g.holder = $1),
  ua AS (UPDATE gw_authorizations x SET open_holds = ok.a_open + $9::bigint FROM ok WHERE x.auth_id = $2)`;

/**
 * Takes a lease in one statement ({@link leaseChecks}, then its row). Returns the minute window
 * (`ms`), the holder's balance it was taken against and when a refresh last changed it, or no row (nothing written). $1–$9 as there, $10 lease id, $11 key id, $12 nonce,
 * $13 model, $14 tier, $15 price version, $16 replica, $17 headroom.
 */
export const LEASE_TAKE_PG = `WITH ${leaseChecks("", "$17")},
  r AS (INSERT INTO gw_requests (request_id, key_id, auth_id, holder, nonce, model, tier, price_version, status, hold, input_bound, max_output, replica, created_at, finished_at, lease_id)
    SELECT $10, $11, $2, $1, $12::bigint, $13, $14, $15::bigint, 'held', $9::bigint, $8::bigint, $7::bigint, $16, $3::bigint, $3::bigint, $10 FROM ok)
  SELECT ms, balance, refreshed_at FROM ok`;

/**
 * Tops a lease up in one statement: its row locked first (the order of returns and conversions),
 * only while it is open ('held'), then {@link leaseChecks}; its hold grows by the credits and its
 * renewal time (`finished_at`, while it is open) is now. Returns as {@link LEASE_TAKE_PG}.
 * $1–$9 as there, $10 lease id, $11 headroom.
 */
export const LEASE_TOP_UP_PG = `WITH l AS MATERIALIZED (SELECT request_id FROM gw_requests WHERE request_id = $10 AND lease_id = $10 AND status = 'held' FOR UPDATE),
  ${leaseChecks(" AND EXISTS (SELECT 1 FROM l)", "$11")},
  r AS (UPDATE gw_requests SET hold = hold + $9::bigint, finished_at = $3::bigint FROM ok WHERE request_id = $10)
  SELECT ms, balance, refreshed_at FROM ok`;

/**
 * Keeps the leases this replica has requests in flight under from being recovered by another
 * (recoverLeases, LEASE_RECOVER_MS after their renewal): their renewal time (`finished_at`) moves up
 * to now while they are open. A request can wait in the priority queue, then run, longer than a
 * lease goes between top-ups; recovered under it, its charge would find the lease no longer open
 * and the answer would go out free. The rows are locked in ascending order, as charges and batches
 * lock them. $1 lease ids, $2 now.
 */
export const LEASE_KEEP_PG = `WITH l AS MATERIALIZED (SELECT request_id FROM gw_requests WHERE request_id = ANY ($1::text[]) AND lease_id = request_id AND status = 'held'
    ORDER BY request_id FOR UPDATE)
  UPDATE gw_requests r SET finished_at = GREATEST(r.finished_at, $2::bigint) FROM l WHERE r.request_id = l.request_id`;

/**
 * Charges under leases, many in one statement: each request's row, charged (its hold is the worst
 * case held in memory), only while its lease is open. The open leases' rows are share-locked first,
 * in ascending order: a return (which locks a lease's row for update, then sums its charges) waits
 * for this statement and counts its charges, or this one waits for the return and, the lease no
 * longer open, inserts nothing for it. Returns the ids inserted.
 * Arrays, one element per request: $1 request id, $2 key id, $3 auth id, $4 holder, $5 nonce,
 * $6 model, $7 tier, $8 price version, $9 hold, $10 input bound, $11 max output, $12 tokens in,
 * $13 tokens out, $14 charge, $15 ending, $16 replica, $17 created at, $18 finished at, $19 lease id.
 *
 * A request that has a row already (sent again in doubt, or taken back: a released row in its
 * place) fails the statement (a unique violation on the primary key, nothing committed): the same
 * requests are then sent as {@link LEASED_CHARGES_AGAIN_PG}, which leaves such a row as it is (the
 * whole group pays for the refused attempt, which only that case makes). Without `ON CONFLICT`
 * on the first try, each row is a WAL record fewer: an insert with it checks the key first, then
 * writes the row as speculative and confirms it (6.0 records per charge against 5.0, and 20.5 µs of
 * execution against 17.6, 15 charges a statement: bench/RESULTS.md, session 25).
 */
const leasedCharges = (
  onConflict: string,
) => `WITH v AS MATERIALIZED (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::bigint[],
      $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[], $14::bigint[], $15::text[], $16::text[], $17::bigint[], $18::bigint[], $19::text[])
    AS v(request_id, key_id, auth_id, holder, nonce, model, tier, price_version, hold, input_bound, max_output, tokens_in, tokens_out, charge, ending, replica,
      created_at, finished_at, lease_id)),
  l AS MATERIALIZED (SELECT request_id FROM gw_requests WHERE request_id = ANY ($19::text[]) AND lease_id = request_id AND status = 'held' ORDER BY request_id FOR SHARE),
  i AS (INSERT INTO gw_requests (request_id, key_id, auth_id, holder, nonce, model, tier, price_version, status, hold, input_bound, max_output,
      tokens_in, tokens_out, charge, ending, replica, created_at, finished_at, lease_id, seq)
    SELECT v.request_id, v.key_id, v.auth_id, v.holder, v.nonce, v.model, v.tier, v.price_version, 'charged', v.hold, v.input_bound, v.max_output,
      v.tokens_in, v.tokens_out, v.charge, v.ending, v.replica, v.created_at, v.finished_at, v.lease_id, ${PG_XACT_SEQ}
    FROM v WHERE v.lease_id IN (SELECT request_id FROM l)${onConflict}
    RETURNING request_id)
  SELECT request_id FROM i`;
export const LEASED_CHARGES_PG = leasedCharges("");
/** {@link LEASED_CHARGES_PG}, idempotent: a request that has a row already is left as it is (not returned). */
export const LEASED_CHARGES_AGAIN_PG = leasedCharges("\n    ON CONFLICT (request_id) DO NOTHING");

/** A lease's row, locked (the first statement of a return or a take-back's adjustment). $1 lease id. */
export const LEASE_LOCK_PG = "SELECT status, hold, holder, auth_id, created_at, max_output, input_bound FROM gw_requests WHERE request_id = $1 AND lease_id = $1 FOR UPDATE";

/**
 * Its charges not converted yet (no batch took them), read after its row is locked: its holder's
 * charges after the watermark (gw_requests_holder_seq). $1 lease id, $2 its holder.
 */
export const LEASE_UNCONVERTED_PG = `SELECT COALESCE(SUM(charge), 0) AS s FROM gw_requests
  WHERE holder = $2 AND lease_id = $1 AND request_id <> $1 AND ${waitingCharge()}`;

/**
 * A lease's row keeps `$2` of its hold (its charges not converted yet): returned, or released when
 * it keeps nothing. $1 lease id, $3 now.
 */
export const LEASE_SHRINK_PG = `UPDATE gw_requests SET hold = $2::bigint, status = CASE WHEN $2::bigint = 0 THEN 'released' ELSE 'returned' END,
  ending = COALESCE(ending, 'returned'), finished_at = COALESCE(finished_at, $3::bigint) WHERE request_id = $1`;

/**
 * What a lease gives back comes off the holder's open holds (and the day's credits, on the day it
 * was taken), with its requests and tokens not used (in its minute window). $1 holder, $2 credits,
 * $3 lease's created at, $4 requests, $5 tokens, $6 its minute window (-1: none given back).
 */
export const LEASE_GIVE_BACK_HOLDER_PG = `UPDATE gw_holders SET open_holds = open_holds - $2::bigint,
    day_credits = day_credits - CASE WHEN $3::bigint >= day_start THEN $2::bigint ELSE 0 END,
    minute_requests = CASE WHEN minute_start = $6::bigint THEN GREATEST(minute_requests - $4::bigint, 0) ELSE minute_requests END,
    minute_tokens = CASE WHEN minute_start = $6::bigint THEN GREATEST(minute_tokens - $5::bigint, 0) ELSE minute_tokens END
  WHERE holder = $1`;

/** ... and off the authorization's. $1 auth id, $2 credits. */
export const LEASE_GIVE_BACK_AUTHORIZATION_PG = "UPDATE gw_authorizations SET open_holds = open_holds - $2::bigint WHERE auth_id = $1";
