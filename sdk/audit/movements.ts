/**
 * The one table of movement kinds: every way the replay classifies a change of a holder's
 * position, with how it changes the balance, the word a statement shows, and the report measure
 * it adds to. Statements (scripts/audit/statementCommand.ts) and reports (./report.ts) read it.
 */
export const MOVEMENTS = {
  grant: { sign: 1n, label: "granted", measure: "granted" },
  "transfer-in": { sign: 1n, label: "received", measure: "received" },
  "transfer-out": { sign: -1n, label: "sent", measure: "sent" },
  redeem: { sign: -1n, label: "redeemed", measure: "redeemed" },
  /** Informational: units burnt at redeem and kept (the balance moved at the redeem). */
  consume: { sign: 0n, label: "consumed", measure: "consumed" },
  refund: { sign: 1n, label: "refunded", measure: "refunded" },
  expire: { sign: -1n, label: "expired", measure: "expired" },
  clawback: { sign: -1n, label: "clawed back", measure: "clawedBack" },
  "convert-in": { sign: 1n, label: "converted in", measure: "convertedIn" },
  "convert-out": { sign: -1n, label: "converted out", measure: "convertedOut" },
  "recover-in": { sign: 1n, label: "recovered in", measure: "recoveredIn" },
  "recover-out": { sign: -1n, label: "recovered out", measure: "recoveredOut" },
} as const satisfies Record<string, { sign: 1n | -1n | 0n; label: string; measure: string }>;

export type MovementKind = keyof typeof MOVEMENTS;
