/**
 * Builds the web app (web/src, Preact + viem + the SDK) into one JavaScript and one CSS file with
 * esbuild, in memory: `ctk web serve` serves them and `ctk web build` writes them out. Everything
 * the browser loads comes from here — no CDN, no remote font.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const WEB_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../web");

export interface WebAsset {
  /** URL path, e.g. "/app.js". */
  path: string;
  contentType: string;
  bytes: Uint8Array;
  gzipBytes: number;
}

export interface WebBundle {
  assets: Map<string, WebAsset>;
  /** Gzipped bytes of the JavaScript the first page load fetches. */
  firstLoadJsGzip: number;
  firstLoadJs: number;
}

const TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".html": "text/html; charset=utf-8",
  ".svg": "image/svg+xml",
};

/** The SDK's one Node-only import the app reaches (never called in the browser); a stand-in keeps it out. */
const NODE_ONLY = /^node:fs$/;

export async function buildWebApp(opts: { minify?: boolean } = {}): Promise<WebBundle> {
  const result = await build({
    entryPoints: { app: path.join(WEB_ROOT, "src", "main.tsx") },
    bundle: true,
    write: false,
    outdir: "/",
    format: "esm",
    platform: "browser",
    target: ["es2022"],
    minify: opts.minify ?? true,
    jsx: "automatic",
    jsxImportSource: "preact",
    legalComments: "none",
    logLevel: "silent",
    define: { "process.env.NODE_ENV": '"production"' },
    plugins: [
      {
        name: "node-only-stubs",
        setup(b) {
          b.onResolve({ filter: NODE_ONLY }, (args) => ({ path: args.path, namespace: "node-stub" }));
          b.onLoad({ filter: /.*/, namespace: "node-stub" }, () => ({
            // sdk/classes.ts reads a classes file with readFileSync (the CLI's path, never the browser's).
            contents: "export const readFileSync = () => { throw new Error('not available in the browser'); };\n",
            loader: "js",
          }));
        },
      },
    ],
  });
  const assets = new Map<string, WebAsset>();
  for (const f of result.outputFiles) {
    const p = `/${path.basename(f.path)}`;
    assets.set(p, { path: p, contentType: TYPES[path.extname(p)] ?? "application/octet-stream", bytes: f.contents, gzipBytes: gzipSync(f.contents, { level: 9 }).length });
  }
  for (const name of ["index.html", "icon.svg"]) {
    const bytes = new Uint8Array(readFileSync(path.join(WEB_ROOT, name)));
    const p = `/${name}`;
    assets.set(p, { path: p, contentType: TYPES[path.extname(name)]!, bytes, gzipBytes: gzipSync(bytes, { level: 9 }).length });
  }
  const js = [...assets.values()].filter((a) => a.path.endsWith(".js"));
  return {
    assets,
    firstLoadJsGzip: js.reduce((s, a) => s + a.gzipBytes, 0),
    firstLoadJs: js.reduce((s, a) => s + a.bytes.length, 0),
  };
}
