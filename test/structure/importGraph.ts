/**
 * The repository's import graph and the layering rules it must follow (test/structure/layers.test.ts):
 *
 *   contracts (artifacts, generated ABI and types)
 *     → sdk                        knows no service, CLI or UI
 *       → redeemer, gateway, web, deploy (Ignition), devkit (local chain, fake Kubernetes)
 *         → cli (scripts/)          may also start the services and use devkit
 *           → test, bench           may import anything below them, never each other
 *
 * Services do not import each other (the redeemer, the gateway and the web app share only the SDK).
 * The web app runs in a browser: nothing it reaches may import a Node built-in, except the one module
 * its build stands in for (scripts/web/build.ts, `NODE_ONLY`).
 */
import { existsSync, readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import path from "node:path";
import ts from "typescript";

export type Layer = "contracts" | "sdk" | "redeemer" | "gateway" | "web" | "deploy" | "devkit" | "cli" | "tooling" | "test" | "bench";

/** What each layer may import, besides itself and npm packages. */
export const ALLOWED: Record<Layer, readonly Layer[]> = {
  contracts: [],
  sdk: ["contracts"],
  redeemer: ["sdk", "contracts"],
  gateway: ["sdk", "contracts"],
  web: ["sdk", "contracts"],
  deploy: ["sdk", "contracts"],
  devkit: ["sdk", "contracts"],
  // The CLI is where the services are started in-process (`ctk gateway serve`, `ctk devnet up`).
  cli: ["sdk", "contracts", "devkit", "redeemer", "gateway"],
  tooling: ["sdk", "contracts"],
  test: ["sdk", "contracts", "redeemer", "gateway", "web", "deploy", "devkit", "cli", "tooling"],
  bench: ["sdk", "contracts", "redeemer", "gateway", "web", "deploy", "devkit", "cli", "tooling"],
};

/**
 * The one bench module a test may import: bench/results.ts, the RESULTS.md writer, which runs no benchmark
 * (test/bench/results.test.ts checks that it leaves the hand-written prose alone).
 */
export const TESTABLE_BENCH = new Set(["bench/results.js", "bench/results.ts"]);

/** The Node built-ins the web build replaces with a stand-in (scripts/web/build.ts). */
export const WEB_NODE_STUBS = new Set(["node:fs"]);
export const WEB_ENTRY = "web/src/main.tsx";

/** The layer of a repository-relative path (forward slashes), or undefined when it is not code of ours. */
export function layerOf(file: string): Layer | undefined {
  const top = file.split("/")[0];
  if (file.startsWith("sdk/generated/")) return "contracts";
  switch (top) {
    case "artifacts":
    case "types":
      return "contracts";
    case "sdk":
    case "redeemer":
    case "gateway":
    case "web":
    case "devkit":
    case "test":
    case "bench":
      return top;
    case "deploy":
    case "ignition":
      return "deploy";
    case "scripts":
      return "cli";
    case "hardhat.config.ts":
      return "tooling";
    default:
      return undefined;
  }
}

export interface Import {
  from: string;
  /** As written in the source. */
  specifier: string;
  /** Repository-relative target, for relative specifiers. */
  target?: string;
}

/** Every static import, `export … from`, `import type`, `require` and dynamic `import()` of a source file. */
export function importsOf(file: string, source: string): Import[] {
  const info = ts.preProcessFile(source, true, true);
  return info.importedFiles.map(({ fileName }) => {
    if (!fileName.startsWith(".")) return { from: file, specifier: fileName };
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), fileName));
    return { from: file, specifier: fileName, target };
  });
}

/** The candidates a relative target resolves to (`.js` written for a `.ts`/`.tsx` file). */
function resolve(target: string, files: ReadonlyMap<string, string>): string | undefined {
  const stem = target.replace(/\.(js|jsx|ts|tsx)$/, "");
  for (const candidate of [target, `${stem}.ts`, `${stem}.tsx`, `${target}/index.ts`]) if (files.has(candidate)) return candidate;
  return undefined;
}

export interface Violation {
  file: string;
  specifier: string;
  rule: string;
}

/** Checks the rules over a set of files (path → source); returns every import that breaks one. */
export function checkLayers(files: ReadonlyMap<string, string>): Violation[] {
  const violations: Violation[] = [];
  const graph = new Map<string, Import[]>();
  for (const [file, source] of files) {
    const imports = importsOf(file, source);
    graph.set(file, imports);
    const from = layerOf(file);
    if (from === undefined) continue;
    for (const imp of imports) {
      if (imp.target === undefined) continue;
      const to = layerOf(imp.target);
      if (to === undefined || to === from || ALLOWED[from].includes(to)) continue;
      if (from === "test" && to === "bench" && TESTABLE_BENCH.has(imp.target)) continue;
      violations.push({ file, specifier: imp.specifier, rule: `${from} may not import ${to} (${from} may import: ${[from, ...ALLOWED[from]].join(", ")})` });
    }
  }
  // Everything the browser bundle reaches, from the web app's entry.
  if (files.has(WEB_ENTRY)) {
    const seen = new Set<string>();
    const queue = [WEB_ENTRY];
    while (queue.length > 0) {
      const file = queue.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      for (const imp of graph.get(file) ?? []) {
        if (imp.target !== undefined) {
          const next = resolve(imp.target, files);
          if (next !== undefined) queue.push(next);
        } else if (isNodeBuiltin(imp.specifier) && !WEB_NODE_STUBS.has(imp.specifier)) {
          violations.push({ file, specifier: imp.specifier, rule: `the web app (${WEB_ENTRY}) reaches this file, and a browser has no Node built-ins` });
        }
      }
    }
  }
  return violations;
}

function isNodeBuiltin(specifier: string): boolean {
  const bare = specifier.replace(/^node:/, "").split("/")[0]!;
  return specifier.startsWith("node:") || builtinModules.includes(bare);
}

/** The repository's own TypeScript sources (tracked or not, generated ones included), path → source. */
export function repositorySources(root: string, list: readonly string[]): Map<string, string> {
  const files = new Map<string, string>();
  for (const file of list) if (/\.(ts|tsx|mts|cts)$/.test(file) && existsSync(path.join(root, file))) files.set(file, readFileSync(path.join(root, file), "utf8"));
  return files;
}
