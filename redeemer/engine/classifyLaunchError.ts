/**
 * Which launch failures are final (reject now, with this reason) and which are worth retrying.
 * Executors signal a final refusal with their own error classes; matched by name so this module
 * does not load either executor.
 */
import { REJECT_REASONS, REJECT_REASON_TEXT, type RejectReason } from "../../sdk/reasons.js";
import type { Rejection } from "../state/types.js";

export function classifyLaunchError(err: unknown): Rejection | undefined {
  const e = err as { name?: unknown; reason?: unknown; status?: unknown; message?: unknown };
  const message = typeof e?.message === "string" ? e.message : String(err);
  switch (e?.name) {
    case "LocalLaunchError": {
      const reason = (typeof e.reason === "string" && e.reason in REJECT_REASONS ? e.reason : "LAUNCH_FAILED") as RejectReason;
      return { code: REJECT_REASONS[reason], reason, detail: message };
    }
    case "JobNameTaken":
      return { code: REJECT_REASONS.LAUNCH_FAILED, reason: "LAUNCH_FAILED", detail: message };
    case "KubernetesRequestRejected":
      // The API server found the Job itself invalid: it will not become valid by retrying.
      if (e.status === 400 || e.status === 422) return { code: REJECT_REASONS.LAUNCH_FAILED, reason: "LAUNCH_FAILED", detail: `${REJECT_REASON_TEXT.LAUNCH_FAILED}: ${message}` };
      return undefined;
    default:
      return undefined;
  }
}
