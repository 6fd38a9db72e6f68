/**
 * Finds a key that asks for privileges anywhere in a parsed spec — at the top level or nested in
 * any object or array — before the strict schema would call it merely "unrecognized".
 *
 * Keys compare case-insensitively (Kubernetes' JSON decoding long accepted "HostNetwork" for
 * "hostNetwork"). The names of the top-level `env` map are variable names, not settings, so an
 * environment variable called PRIVILEGED is fine; the values under `env` are still searched.
 */
import { PRIVILEGED_KEYS } from "../../sdk/jobSpec.js";

const PRIVILEGED = new Set<string>(PRIVILEGED_KEYS.map((k) => k.toLowerCase()));

/** Path of the first privileged key found ("securityContext", "extra.volumes"), or undefined. */
export function findPrivilegedKey(value: unknown): string | undefined {
  // Iterative, so a deeply nested spec cannot exhaust the stack.
  const stack: { value: unknown; path: string; isEnvMap: boolean }[] = [{ value, path: "", isEnvMap: false }];
  while (stack.length > 0) {
    const { value: node, path, isEnvMap } = stack.pop()!;
    if (typeof node !== "object" || node === null) continue;
    if (Array.isArray(node)) {
      for (let i = node.length - 1; i >= 0; i--) stack.push({ value: node[i], path: `${path}[${i}]`, isEnvMap: false });
      continue;
    }
    const keys = Object.keys(node);
    for (const key of keys) {
      const childPath = path === "" ? key : `${path}.${key}`;
      if (!isEnvMap && PRIVILEGED.has(key.toLowerCase())) return childPath;
    }
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i]!;
      const childPath = path === "" ? key : `${path}.${key}`;
      stack.push({ value: (node as Record<string, unknown>)[key], path: childPath, isEnvMap: path === "" && key === "env" });
    }
  }
  return undefined;
}
