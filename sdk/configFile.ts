/**
 * Reading a service's configuration files, with every failure a {@link ConfigError} (exit 2): a
 * JSON object file, and a `.env` file (read by dotenv without touching `process.env`). Node only.
 */
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parse as parseDotenv } from "dotenv";
import { ConfigError } from "./ctkError.js";

export type Env = Record<string, string | undefined>;

/** A dotenv file's variables: `envFile`, else `.env` in the working directory if it exists; false for none. */
export function readEnvFile(envFile: string | false | undefined): Env {
  if (envFile === false) return {};
  const path = resolve(envFile ?? ".env");
  if (envFile === undefined && !existsSync(path)) return {};
  try {
    return parseDotenv(readFileSync(path));
  } catch (err) {
    throw new ConfigError(`cannot read env file ${path}: ${(err as Error).message}`, [{ path: "", message: (err as Error).message }], path);
  }
}

/** The JSON object in `file`; `what` names it in errors ("redeemer config"). */
export function readJsonObject(file: string, what: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const message = (err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message;
    throw new ConfigError(`cannot read ${what} ${file}: ${message}`, [{ path: "", message }], file);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${what} ${file} is not valid JSON: ${(err as Error).message}`, [{ path: "", message: (err as Error).message }], file);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ConfigError(`${what} ${file} must hold a JSON object`, [{ path: "", message: "expected an object" }], file);
  }
  return value as Record<string, unknown>;
}
