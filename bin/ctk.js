#!/usr/bin/env -S node --max-semi-space-size=64
// The `ctk` binary: runs scripts/ctk.ts through tsx (TypeScript, no build step). The first line gives
// node the gateway's options (gateway/runtime.ts: `ctk gateway serve` and `ctk devnet up` run one).
import { register } from "tsx/esm/api";

const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 13)) {
  process.stderr.write(`error: ctk needs Node.js >= 22.13 (this is ${process.version})\n`);
  process.exit(1);
}
register();
await import("../scripts/ctk.ts");
