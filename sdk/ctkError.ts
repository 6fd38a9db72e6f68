/**
 * The one base class of the errors this project throws on purpose. `userFacing` says whether the
 * message is the whole story (a mistake the user can fix, a chain that is down: print one line, no
 * stack) or a bug (print the stack). `exitCode` is what a command line or a service exits with.
 *
 * The `ctk` command line and the services (redeemer, gateway) decide how to print an error from
 * these two fields alone, never from a list of class names. No Node-only imports: the web app
 * bundles the SDK.
 */
import type { output, ZodError, ZodTypeAny } from "zod";

/** Exit codes: 1 for every error a user can act on, 2 for a configuration that does not validate. */
export const EXIT_CODES = { error: 1, config: 2 } as const;

export interface CtkErrorOptions {
  /** The message is the whole story: print it, without a stack (default true). */
  userFacing?: boolean;
  /** Default {@link EXIT_CODES.error}. */
  exitCode?: number;
  cause?: unknown;
}

export class CtkError extends Error {
  readonly userFacing: boolean;
  readonly exitCode: number;

  constructor(message: string, options: CtkErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.userFacing = options.userFacing ?? true;
    this.exitCode = options.exitCode ?? EXIT_CODES.error;
  }
}

/** A file the user named that is missing or does not hold what it should: "<what> <file>: <detail>". A subclass per kind of file names it (`name` is the class's, from CtkError). */
export class FileError extends CtkError {
  constructor(
    what: string,
    readonly file: string,
    readonly detail: string,
  ) {
    super(`${what} ${file}: ${detail}`);
  }
}

/** A {@link CtkError} whose message is the whole story (print one line, no stack). */
export const isUserFacing = (err: unknown): err is CtkError => err instanceof CtkError && err.userFacing;

/** The exit code an error ends a process with: its own for a {@link CtkError}, else 1. */
export const exitCodeOf = (err: unknown): number => (err instanceof CtkError ? err.exitCode : EXIT_CODES.error);

export interface ConfigIssue {
  /** Dotted path of the offending setting ("allowedRegistries.0"), or "" for the whole file. */
  path: string;
  message: string;
}

/**
 * The one error the configuration loaders throw (redeemer, its policy and executors, the gateway):
 * a short human message, with every problem attached as `issues` so a caller can list them without
 * parsing the message. Exits with {@link EXIT_CODES.config}.
 */
export class ConfigError extends CtkError {
  constructor(
    message: string,
    readonly issues: readonly ConfigIssue[] = [],
    /** Where the configuration came from (a file path, "environment"). */
    readonly source?: string,
  ) {
    super(message, { exitCode: EXIT_CODES.config });
    this.name = "ConfigError";
  }

  /** One ConfigError for a failed zod parse: "invalid policy config (policy.json): a: …; b: …". */
  static fromZod(what: string, error: ZodError, source?: string): ConfigError {
    const issues = error.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
    const where = source ? ` (${source})` : "";
    const list = issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join("; ");
    return new ConfigError(`invalid ${what}${where}: ${list}`, issues, source);
  }
}

/** `raw` validated by `schema`, or one {@link ConfigError} naming every problem; `what` names the configuration ("policy config"). */
export function parseConfig<S extends ZodTypeAny>(schema: S, what: string, raw: unknown, source?: string): output<S> {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw ConfigError.fromZod(what, parsed.error, source);
  return parsed.data as output<S>;
}

/** The first problem of a failed parse: "models.a.input: Required" ("(root)" for the whole value). */
export function firstIssue(error: ZodError, separator = ": "): string {
  const issue = error.issues[0]!;
  return `${issue.path.join(".") || "(root)"}${separator}${issue.message}`;
}
