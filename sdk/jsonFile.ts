/**
 * Reading the JSON files the SDK knows (deployment, classes, price table): one way to say that a
 * file is missing, is not JSON, or does not fit its schema. Node only (the web app receives these
 * documents from its server, never from a file).
 */
import { readFileSync } from "node:fs";

/** The JSON value in `file`; a missing or unparsable file becomes `fail(detail)`. */
export function readJsonFile(file: string, fail: (detail: string) => Error, notFound = "not found"): unknown {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw fail(err.code === "ENOENT" ? notFound : err.message);
  }
}
