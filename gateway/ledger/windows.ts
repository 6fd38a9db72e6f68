/** The ledger's rate windows: fixed windows of one minute and one UTC day (ms since the epoch). */
export const MINUTE = 60_000;
export const DAY = 86_400_000;

/** The start of the minute window `at` (ms) falls in: windows start on the minute. */
export const minuteStartOf = (at: number): number => at - (at % MINUTE);

/**
 * PostgreSQL select-list items: the holder's windows (`h`) rolled over at `at` (an SQL bigint
 * expression, the request's time): `ms`, `mr`, `mt` the minute's start, requests and tokens; `ds`,
 * `dc` the day's start and credits, each zero in a window that has turned.
 */
export const rolledWindows = (at: string): string => `CASE WHEN ${at} - h.minute_start >= ${MINUTE} THEN ${at} - (${at} % ${MINUTE}) ELSE h.minute_start END AS ms,
      CASE WHEN ${at} - h.minute_start >= ${MINUTE} THEN 0 ELSE h.minute_requests END AS mr,
      CASE WHEN ${at} - h.minute_start >= ${MINUTE} THEN 0 ELSE h.minute_tokens END AS mt,
      CASE WHEN ${at} - h.day_start >= ${DAY} THEN ${at} - (${at} % ${DAY}) ELSE h.day_start END AS ds,
      CASE WHEN ${at} - h.day_start >= ${DAY} THEN 0 ELSE h.day_credits END AS dc`;
