/**
 * The one error the redeemer's configuration loaders throw: a short human message, with every
 * problem attached as `issues` so a caller can list them without parsing the message.
 */
import type { ZodError } from "zod";

export interface ConfigIssue {
  /** Dotted path of the offending setting ("allowedRegistries.0"), or "" for the whole file. */
  path: string;
  message: string;
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";

  constructor(
    message: string,
    readonly issues: readonly ConfigIssue[] = [],
    /** Where the configuration came from (a file path, "environment"). */
    readonly source?: string
  ) {
    super(message);
  }

  /** One ConfigError for a failed zod parse: "invalid policy config (policy.json): a: …; b: …". */
  static fromZod(what: string, error: ZodError, source?: string): ConfigError {
    const issues = error.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
    const where = source ? ` (${source})` : "";
    const list = issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join("; ");
    return new ConfigError(`invalid ${what}${where}: ${list}`, issues, source);
  }
}
