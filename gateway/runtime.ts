/**
 * The Node.js options a gateway process runs with. They are fixed when the process starts (V8 sizes
 * its heap then: `v8.setFlagsFromString` later changes nothing), so they go on node's command line
 * or in `NODE_OPTIONS`: `npm start` and `npm run ctk` give them, `gateway/main.ts` is documented with
 * them, and `NODE_OPTIONS=--max-semi-space-size=64 npx ctk gateway serve` gives them to the CLI
 * (`bin/ctk.js` keeps a plain `#!/usr/bin/env node`: `env -S` is not in BusyBox, Alpine's).
 *
 * `--max-semi-space-size=64` (MB; V8's default lets it grow to 16): every request allocates about
 * 100 KB (its body, its stream's chunks as read and as re-framed, its ledger rows), and each
 * young-generation collection copies what the requests in flight still hold. With room for 64 MB,
 * bench:gateway on PostgreSQL made a third as many of those collections (65 against 192 over
 * about 27,000 requests; 0.42 s of them against 0.80 s), and the gateway process spent 0.18–0.19 ms
 * of CPU per request against 0.21 (gateway/README.md, "Running it"). The space grows to that only
 * when collections find much still alive.
 */
export const GATEWAY_NODE_OPTIONS = ["--max-semi-space-size=64"] as const;

/**
 * The options of GATEWAY_NODE_OPTIONS this process was not started with (its own command line or
 * `NODE_OPTIONS`), whatever the value given (an operator may choose another size): the gateway logs
 * them once when it starts.
 */
export function missingNodeOptions(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ""): string[] {
  const given = [...execArgv, ...nodeOptions.split(/\s+/)].map((o) => o.split("=")[0].replaceAll("_", "-"));
  return GATEWAY_NODE_OPTIONS.filter((o) => !given.includes(o.split("=")[0]));
}
