/**
 * Named secrets for jobs run on this machine (the local executor): a JSON file of
 * `{ "<secret name>": "<value>" }` that stays on the machine. A spec names a secret
 * (`"secrets": { "HF_TOKEN": "hf-token" }`), never its value; the job gets the value in its
 * environment when it starts. (Kubernetes: the same names are keys of a Secret; see
 * kubernetes/buildJobManifest.ts.)
 */
import { readFileSync } from "node:fs";

/** The environment variables a job's `secrets` map to. @throws Error naming what is missing */
export function readJobSecrets(file: string | undefined, wanted: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const entries = Object.entries(wanted ?? {});
  if (entries.length === 0) return {};
  if (file === undefined) throw new Error("the job names secrets, but this executor has no secrets file (secretsFile)");
  let values: unknown;
  try {
    values = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new Error(`cannot read the secrets file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (typeof values !== "object" || values === null || Array.isArray(values)) throw new Error(`the secrets file ${file} must hold a JSON object`);
  const out: Record<string, string> = {};
  for (const [variable, name] of entries) {
    const value = (values as Record<string, unknown>)[name];
    if (typeof value !== "string") throw new Error(`the secrets file has no secret ${JSON.stringify(name)}`);
    out[variable] = value;
  }
  return out;
}
