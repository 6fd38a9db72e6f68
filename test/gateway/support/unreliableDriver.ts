/**
 * A database driver that loses replies around the real one: the ledger's statements the database
 * did not answer (test/gateway/ledgerInDoubt.test.ts, ledgerLeases.test.ts).
 */
import type { SqlDriver } from "../../../gateway/ledger/sql.js";

export type Fault = "ok" | "lost" | "down" | "late" | "wait";
/**
 * The real driver, but its next calls fail as `f.next` says, in order: "lost" runs and then loses
 * the reply; "down" fails before running; "late" fails at once and runs 300 ms later (a server
 * process that commits after its client gave up; its outcome in `f.late`); "wait" runs 600 ms later
 * (a statement waiting on a lock); "ok" runs. The calls after them run.
 */
export function unreliable(real: SqlDriver) {
  const f = { next: [] as Fault[], calls: 0, late: [] as Promise<unknown>[] };
  const around = async <T>(run: () => Promise<T>): Promise<T> => {
    f.calls++;
    const fault = f.next.shift();
    if (fault === "down") throw new Error("connect ECONNREFUSED 127.0.0.1:5432");
    if (fault === "wait") await new Promise((r) => setTimeout(r, 600));
    if (fault === "late") {
      f.late.push(new Promise((r) => setTimeout(r, 300)).then(run));
      throw new Error("Connection terminated unexpectedly");
    }
    const r = await run();
    if (fault === "lost") throw new Error("Connection terminated unexpectedly");
    return r;
  };
  const driver: SqlDriver = {
    kind: real.kind,
    forUpdate: real.forUpdate,
    transaction: (fn, o) => around(() => real.transaction(fn, o)),
    statement: (sql, p, o) => around(() => real.statement(sql, p, o)),
    exec: (sql) => real.exec(sql),
    close: async () => undefined,
  };
  return { driver, f };
}
