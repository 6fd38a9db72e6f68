/**
 * Settlement batches take charges by a watermark, not by marking them (see schema.ts): the SQL
 * shared by the ledger's charges, its batches and the leases' returns.
 */

/**
 * A charge's place in commit order (`gw_requests.seq`, see schema.ts). PostgreSQL: the id of the
 * transaction that charges it, plus `seq_base` (gw_meta: raised at a start that finds transaction
 * ids below the charges', as in a database restored into another cluster; see Ledger.init); a
 * batch takes only ids below its snapshot's `xmin`
 * ({@link PG_SNAPSHOT_XMIN}), every transaction of which has ended. SQLite (one writer at a time):
 * one more than the highest charge's, so above the watermark (which is a charge's, and a charge a
 * batch took is never taken back), and above 0, the first watermark (the charges an earlier version
 * batched are below it).
 */
export const PG_XACT_SEQ = "(pg_current_xact_id()::text::bigint + (SELECT value FROM gw_meta WHERE name = 'seq_base'))";
export const SQLITE_NEXT_SEQ = "(SELECT MAX(COALESCE(MAX(seq), 0), 0) + 1 FROM gw_requests WHERE status = 'charged')";
export const PG_SNAPSHOT_XMIN = "(SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint + (SELECT value FROM gw_meta WHERE name = 'seq_base'))";
/** The watermark: the last charge a batch took, as a row value (two scalar sub-selects: an index range on both databases). */
export const WATERMARK = "((SELECT value FROM gw_meta WHERE name = 'batch_watermark'), (SELECT owner FROM gw_meta WHERE name = 'batch_watermark'))";
/** A charge of the row `r` (a table or its alias) no batch has taken: after the watermark (through gw_requests_seq, or gw_requests_holder_seq by holder). */
export const waitingCharge = (r = "gw_requests") => `${r}.status = 'charged' AND (${r}.seq, ${r}.request_id) > ${WATERMARK}`;
/**
 * The batch of the charged row `r`: the one that marked it (an earlier version's), or the first
 * whose range ends at or after it (batches' ranges follow each other); none while it waits.
 */
export const batchOf = (r: string) =>
  `COALESCE(${r}.batch_id, (SELECT bo.batch_id FROM gw_batches bo WHERE bo.seq_hi IS NOT NULL AND (bo.seq_hi, bo.id_hi) >= (${r}.seq, ${r}.request_id)
    ORDER BY bo.seq_hi, bo.id_hi LIMIT 1))`;

/**
 * The charges of the row `r` after the position `(seq, request_id)` bound as `$first`, `$first+1`
 * (exclusive; a row value: an index range on both databases, through gw_requests_seq).
 */
export const chargedAfter = (r: string, first: number) => `${r}.status = 'charged' AND (${r}.seq, ${r}.request_id) > ($${first}, $${first + 1})`;

/**
 * The charges of the row `r` in a batch's range: after `(seq, request_id)` `$first`, `$first+1`
 * (exclusive), up to `$first+2`, `$first+3` (inclusive), through gw_requests_seq.
 */
export const inBatchRange = (r: string, first: number) => `${chargedAfter(r, first)} AND (${r}.seq, ${r}.request_id) <= ($${first + 2}, $${first + 3})`;
