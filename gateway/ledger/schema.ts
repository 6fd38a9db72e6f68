/**
 * The ledger's one schema, the same on SQLite and PostgreSQL. Amounts are credit base units
 * (6 decimals) in BIGINT; times are milliseconds since the epoch, except authorization expiries
 * (seconds, as signed).
 *
 * - gw_holders: per holder, the on-chain balance last read (`refreshed_at`: when a read last changed it), the charges not yet settled, the open
 *   holds, the rate-limit windows. The row every hold locks.
 * - gw_authorizations: the signed spending authorizations behind the keys, with what this gateway
 *   charged and holds against each cap; gw_authorization_documents: their signed documents.
 * - gw_keys: API keys, by SHA-256 only.
 * - gw_requests: one row per metered request: its hold, then its charge (the usage record); on
 *   PostgreSQL also the replicas' credit leases (`lease_id` = their own id) and the charges made
 *   under them (`lease_id` = the lease's: see leases.ts).
 * - gw_batches: settlement batches, recorded before they are sent. A batch takes the charges
 *   of a range of `(seq, request_id)` (`seq_lo, id_lo` exclusive to `seq_hi, id_hi` inclusive): no
 *   batch writes a charge's row (see Ledger.createBatch).
 *   Batches of an earlier version marked their rows (`gw_requests.batch_id`) and have no range.
 * - gw_meta: counters shared by all replicas (settled batches, for balance refreshes); the settler's
 *   lease; the batches' watermark (`batch_watermark`: `value` the last batched charge's seq, `owner`
 *   its request id).
 *
 * `gw_requests.seq` orders charges by when they were committed: on PostgreSQL the id of the
 * transaction that charged the row (`pg_current_xact_id()`: a batch takes only ids below the `xmin`
 * of its snapshot, every transaction of which has ended, so no charge can appear below the
 * watermark later); on SQLite, with one writer at a time, one more than the highest charge's. The
 * rows an earlier version batched have `finished_at − 2^53` (below every other, in finish order).
 */
export const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS gw_holders (
    holder TEXT PRIMARY KEY,
    balance BIGINT NOT NULL,
    unsettled BIGINT NOT NULL DEFAULT 0,
    open_holds BIGINT NOT NULL DEFAULT 0,
    offboarded INTEGER NOT NULL DEFAULT 0,
    minute_start BIGINT NOT NULL DEFAULT 0,
    minute_requests BIGINT NOT NULL DEFAULT 0,
    minute_tokens BIGINT NOT NULL DEFAULT 0,
    day_start BIGINT NOT NULL DEFAULT 0,
    day_credits BIGINT NOT NULL DEFAULT 0,
    refreshed_at BIGINT NOT NULL DEFAULT 0
  )`,
  `CREATE TABLE IF NOT EXISTS gw_authorizations (
    auth_id TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    nonce BIGINT NOT NULL,
    cap BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    models TEXT NOT NULL,
    signature TEXT NOT NULL,
    document TEXT NOT NULL,
    status TEXT NOT NULL,
    activated INTEGER NOT NULL DEFAULT 0,
    charged BIGINT NOT NULL DEFAULT 0,
    open_holds BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
  )`,
  // The signed documents, apart from their authorizations' rows: those are updated at every hold
  // and every charge, and a narrow row is rewritten cheaply (on PostgreSQL each update writes a new
  // version of the whole row, to the WAL too, and in its own page only where it fits: 3 in 4 did
  // not, with the document inline). Rows written before this table keep theirs in gw_authorizations.
  `CREATE TABLE IF NOT EXISTS gw_authorization_documents (
    auth_id TEXT PRIMARY KEY,
    signature TEXT NOT NULL,
    document TEXT NOT NULL
  )`,
  `CREATE TABLE IF NOT EXISTS gw_keys (
    key_hash TEXT PRIMARY KEY,
    key_id TEXT NOT NULL UNIQUE,
    auth_id TEXT NOT NULL,
    created_at BIGINT NOT NULL
  )`,
  `CREATE TABLE IF NOT EXISTS gw_requests (
    request_id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    auth_id TEXT NOT NULL,
    holder TEXT NOT NULL,
    nonce BIGINT NOT NULL,
    model TEXT NOT NULL,
    tier TEXT NOT NULL,
    price_version BIGINT NOT NULL,
    status TEXT NOT NULL,
    hold BIGINT NOT NULL,
    input_bound BIGINT NOT NULL,
    max_output BIGINT NOT NULL,
    tokens_in BIGINT NOT NULL DEFAULT 0,
    tokens_out BIGINT NOT NULL DEFAULT 0,
    charge BIGINT NOT NULL DEFAULT 0,
    ending TEXT,
    replica TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    finished_at BIGINT,
    batch_id TEXT,
    lease_id TEXT,
    seq BIGINT
  )`,
  // Partial indexes: each holds only the rows a query of one state looks for. A request's row
  // enters each at most once in its life (held → charged or released), where full indexes were
  // written at its insert and rewritten at each change of its status. (PostgreSQL writes a new
  // index entry at every update into each index whose condition the row meets.) The indexes of
  // charges are built after the columns they name (SCHEMA_AFTER_COLUMNS).
  // A batch's records, for batches of an earlier version (which marked their rows).
  `CREATE INDEX IF NOT EXISTS gw_requests_batched ON gw_requests (batch_id) WHERE batch_id IS NOT NULL`,
  // The holds a crashed replica left (releaseAbandoned).
  `CREATE INDEX IF NOT EXISTS gw_requests_held ON gw_requests (replica, created_at) WHERE status = 'held'`,
  // Superseded (see gateway/README.md on upgrading replicas that share a PostgreSQL ledger).
  `DROP INDEX IF EXISTS gw_requests_holder`,
  `DROP INDEX IF EXISTS gw_requests_unbatched`,
  `DROP INDEX IF EXISTS gw_requests_batch`,
  `DROP INDEX IF EXISTS gw_requests_usage`,
  `DROP INDEX IF EXISTS gw_requests_replica`,
  `DROP INDEX IF EXISTS gw_requests_charged`,
  `DROP INDEX IF EXISTS gw_requests_waiting`,
  `DROP INDEX IF EXISTS gw_requests_holder_batched`,
  `DROP INDEX IF EXISTS gw_requests_leased_waiting`,
  `CREATE TABLE IF NOT EXISTS gw_batches (
    batch_id TEXT PRIMARY KEY,
    price_version BIGINT NOT NULL,
    usage_root TEXT NOT NULL,
    status TEXT NOT NULL,
    records BIGINT NOT NULL,
    requested BIGINT NOT NULL,
    charged BIGINT,
    charges TEXT NOT NULL,
    activations TEXT NOT NULL,
    tx_hash TEXT,
    created_at BIGINT NOT NULL,
    settled_at BIGINT,
    seq_lo BIGINT,
    id_lo TEXT,
    seq_hi BIGINT,
    id_hi TEXT
  )`,
  // The batches not yet applied, which the settler looks for at every round (every 250 ms at most):
  // without it, a scan of every batch ever recorded (a batch every 30 s is a million a year).
  `CREATE INDEX IF NOT EXISTS gw_batches_pending ON gw_batches (created_at, batch_id) WHERE status = 'pending'`,
  `CREATE TABLE IF NOT EXISTS gw_meta (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL,
    owner TEXT
  )`,
] as const;

/**
 * Applied after the columns a ledger of an earlier version gains (Ledger.init).
 */
export const SCHEMA_AFTER_COLUMNS = [
  // The charges in commit order: those after the watermark wait for a batch (createBatch,
  // unbatched), and a batch's are one range of it (usage by batch).
  `CREATE INDEX IF NOT EXISTS gw_requests_seq ON gw_requests (seq, request_id) WHERE status = 'charged'`,
  // A holder's charges in commit order: its usage, newest first, a page at a time (GET /v1/usage),
  // and the charges under each of its leases not yet converted by a batch (those after the
  // watermark, which a lease's return sums with its row locked). One index for both: an entry per
  // charge costs about 9 µs of PostgreSQL's time (bench:gateway, session 24).
  `CREATE INDEX IF NOT EXISTS gw_requests_holder_seq ON gw_requests (holder, seq, request_id) WHERE status = 'charged'`,
  // The batch of a charge: the first whose range ends at or after it.
  `CREATE INDEX IF NOT EXISTS gw_batches_range ON gw_batches (seq_hi, id_hi) WHERE seq_hi IS NOT NULL`,
];
