/**
 * What a client reads from the redeemer's API about one redemption (`GET /v1/redemptions/:id`):
 * the job's phase, exit code and log, and the redeemer's own words for a rejection. The chain
 * says what happened; this says why.
 */
import { z } from "zod";

export const redemptionJobSchema = z.object({
  name: z.string(),
  phase: z.string(),
  exitCode: z.number().nullable(),
  reason: z.string().nullable(),
  interrupted: z.boolean().default(false),
  log: z.string().nullable().default(null),
  gpuSeconds: z.number(),
});

export const redemptionDetailsSchema = z.object({
  id: z.string(),
  status: z.string(),
  phase: z.string(),
  job: redemptionJobSchema.nullable(),
  rejection: z.object({ code: z.number(), reason: z.string().nullable(), detail: z.string() }).nullable(),
  lastError: z.string().nullable().default(null),
  specHash: z.string().nullable().default(null),
});

export type RedemptionDetails = z.infer<typeof redemptionDetailsSchema>;
export type RedemptionJob = z.infer<typeof redemptionJobSchema>;

/**
 * The redeemer's view of a redemption; a string saying why when it cannot be had. With `specHash`
 * (from the chain), a redeemer that serves another chain's redemption of the same id is not believed.
 */
export async function fetchRedemptionDetails(apiUrl: string, id: bigint, specHash?: string, timeoutMs = 5_000): Promise<RedemptionDetails | string> {
  const url = new URL(`v1/redemptions/${id}`, apiUrl.endsWith("/") ? apiUrl : `${apiUrl}/`).toString();
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch {
    return `the redeemer's API at ${apiUrl} did not answer`;
  }
  if (res.status === 404) return `the redeemer at ${apiUrl} does not know redemption ${id}`;
  if (!res.ok) return `the redeemer's API at ${apiUrl} answered ${res.status}`;
  const parsed = redemptionDetailsSchema.safeParse(await res.json().catch(() => undefined));
  if (!parsed.success) return `the redeemer's API at ${apiUrl} answered in a form this version does not read`;
  if (specHash && parsed.data.specHash && parsed.data.specHash.toLowerCase() !== specHash.toLowerCase()) {
    return `the redeemer's API at ${apiUrl} knows a different redemption ${id} (another chain?): pass --redeemer-api <url>`;
  }
  return parsed.data;
}
