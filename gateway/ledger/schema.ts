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
 * - gw_batches: settlement batches, recorded before they are sent.
 * - gw_meta: counters shared by all replicas (settled batches, for balance refreshes); the settler's lease.
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
    lease_id TEXT
  )`,
  // Partial indexes: each holds only the rows a query of one state looks for. On SQLite a request's
  // row enters and leaves each at most once in its life (held → charged or released → batched),
  // where the full indexes they replace (below, dropped) were written at its insert and rewritten at
  // each change of its status or batch: 10 B-tree writes per request (the table's three included)
  // instead of 18. (PostgreSQL writes a new index entry at every update into each index whose
  // condition the row meets: fewer entries too, not once each.)
  // The charges waiting for a batch, in batch order (createBatch, unbatched).
  `CREATE INDEX IF NOT EXISTS gw_requests_waiting ON gw_requests (price_version, finished_at, request_id) WHERE status = 'charged' AND batch_id IS NULL`,
  // A batch's records (usage by batch).
  `CREATE INDEX IF NOT EXISTS gw_requests_batched ON gw_requests (batch_id) WHERE batch_id IS NOT NULL`,
  // A holder's batched usage, newest first, a page at a time (GET /v1/usage; the charges still
  // waiting are read through gw_requests_waiting). Entered when a batch takes the row: one batch
  // writes each holder's leaf once for all its rows, where an index of charged rows took a leaf
  // write at every charge (a holder's leaf is a random page: one WAL page per request on SQLite).
  `CREATE INDEX IF NOT EXISTS gw_requests_holder_batched ON gw_requests (holder, finished_at, request_id) WHERE batch_id IS NOT NULL`,
  // The holds a crashed replica left (releaseAbandoned).
  `CREATE INDEX IF NOT EXISTS gw_requests_held ON gw_requests (replica, created_at) WHERE status = 'held'`,
  // Superseded (see gateway/README.md on upgrading replicas that share a PostgreSQL ledger).
  `DROP INDEX IF EXISTS gw_requests_holder`,
  `DROP INDEX IF EXISTS gw_requests_unbatched`,
  `DROP INDEX IF EXISTS gw_requests_batch`,
  `DROP INDEX IF EXISTS gw_requests_usage`,
  `DROP INDEX IF EXISTS gw_requests_replica`,
  `DROP INDEX IF EXISTS gw_requests_charged`,
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
    settled_at BIGINT
  )`,
  `CREATE TABLE IF NOT EXISTS gw_meta (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL,
    owner TEXT
  )`,
] as const;

/**
 * Applied after the columns a ledger of an earlier version gains (Ledger.init): the charges made
 * under each lease not yet in a batch. A lease's return sums them with its row locked, and charges
 * under the lease wait on that lock: a scan of every charge waiting for a batch took 2 to 55 ms a
 * return in the benchmark, this index 0.5. An entry per leased charge, once; none on SQLite (no leases).
 */
export const SCHEMA_AFTER_COLUMNS = [
  `CREATE INDEX IF NOT EXISTS gw_requests_leased_waiting ON gw_requests (lease_id) WHERE lease_id IS NOT NULL AND status = 'charged' AND batch_id IS NULL`,
];
