#!/usr/bin/env node
// The `ctk` binary: runs scripts/ctk.ts through tsx (TypeScript, no build step).
import { register } from "tsx/esm/api";

const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 13)) {
  process.stderr.write(`error: ctk needs Node.js >= 22.13 (this is ${process.version})\n`);
  process.exit(1);
}
register();
await import("../scripts/ctk.ts");
