/**
 * The ledger's one schema, the same on SQLite and PostgreSQL. Amounts are credit base units
 * (6 decimals) in BIGINT; times are milliseconds since the epoch, except authorization expiries
 * (seconds, as signed).
 *
 * - gw_holders: per holder, the on-chain balance last read, the charges not yet settled, the open
 *   holds, the rate-limit windows. The row every hold locks.
 * - gw_authorizations: the signed spending authorizations behind the keys, with what this gateway
 *   charged and holds against each cap.
 * - gw_keys: API keys, by SHA-256 only.
 * - gw_requests: one row per metered request: its hold, then its charge (the usage record).
 * - gw_batches: settlement batches, recorded before they are sent.
 * - gw_meta: counters shared by all replicas (settled batches, for balance refreshes); leases.
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
    batch_id TEXT
  )`,
  `CREATE INDEX IF NOT EXISTS gw_requests_unbatched ON gw_requests (status, batch_id, price_version)`,
  `CREATE INDEX IF NOT EXISTS gw_requests_batch ON gw_requests (batch_id)`,
  // Superseded by gw_requests_usage (same leading column): one B-tree fewer written per request.
  `DROP INDEX IF EXISTS gw_requests_holder`,
  // A holder's usage, newest first, a page at a time (GET /v1/usage).
  `CREATE INDEX IF NOT EXISTS gw_requests_usage ON gw_requests (holder, status, finished_at, request_id)`,
  `CREATE INDEX IF NOT EXISTS gw_requests_replica ON gw_requests (replica, status)`,
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
