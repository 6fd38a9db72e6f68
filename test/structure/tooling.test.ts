/**
 * The habits that keep the tree in shape run with every `npm test` (and so in CI): the TypeScript
 * compiler over the whole repository, and the linter and formatter (Biome, configured in biome.json;
 * `npm run format` rewrites the tree to the format).
 */
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { ROOT } from "../support/cli.js";

const bin = (name: string) => path.join(ROOT, "node_modules", ".bin", name);
const run = (cmd: string, args: string[]) => spawnSync(cmd, args, { cwd: ROOT, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });

describe("tooling: the whole tree typechecks and lints clean", function () {
  this.timeout(300_000);

  it("tsc --noEmit reports no error anywhere in the repository", () => {
    const r = run(bin("tsc"), ["--noEmit", "-p", "."]);
    expect(`${r.stdout}${r.stderr}`.trim(), "tsc output").to.equal("");
    expect(r.status).to.equal(0);
  });

  it("biome check finds nothing: the linter (warnings count as errors) and the formatter", () => {
    const r = run(bin("biome"), ["check", "--error-on-warnings", "--max-diagnostics=50", "."]);
    expect(r.status, `${r.stdout}${r.stderr}`).to.equal(0);
  });

  it("the linter's rules are in force: an assignment inside a condition is reported", () => {
    const probe = path.join(ROOT, "test", "structure", `probe-${process.pid}.ts`);
    writeFileSync(probe, "export function f(a: number, b: number) {\n  if (a = b) return a;\n  return 0;\n}\n");
    try {
      const r = run(bin("biome"), ["lint", path.relative(ROOT, probe)]);
      expect(r.status).to.not.equal(0);
      expect(`${r.stdout}${r.stderr}`).to.contain("noAssignInExpressions");
    } finally {
      rmSync(probe, { force: true });
    }
  });
});

/**
 * Every package npm would run an install script for, as name → version: those the lockfile flags
 * (`hasInstallScript`: what `npm ci`, which installs the lockfile as it is, goes by; npm sets it from
 * a manifest's preinstall, install or postinstall script, or a binding.gyp it would build).
 */
function packagesWithInstallScripts(): Map<string, string> {
  const lock = JSON.parse(readFileSync(path.join(ROOT, "package-lock.json"), "utf8")) as { packages: Record<string, { version?: string; hasInstallScript?: boolean }> };
  const found = new Map<string, string>();
  for (const [at, entry] of Object.entries(lock.packages))
    if (entry.hasInstallScript && at.includes("node_modules/")) found.set(at.slice(at.lastIndexOf("node_modules/") + "node_modules/".length), entry.version ?? "");
  return found;
}

describe("tooling: dependencies' install scripts", () => {
  it("each package with an install script has a decision in package.json's allowScripts (npm 11 skips undecided ones silently)", () => {
    const allow = (JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { allowScripts?: Record<string, boolean> }).allowScripts ?? {};
    // A key is a name (every version) or name@version (that version only).
    const decided = (name: string, version: string) => name in allow || `${name}@${version}` in allow;
    const withScripts = packagesWithInstallScripts();
    expect([...withScripts.keys()], "packages with install scripts found").to.include.members(["better-sqlite3", "esbuild", "node-llama-cpp"]);
    const undecided = [...withScripts].filter(([name, version]) => !decided(name, version)).map(([name, version]) => `${name}@${version}`);
    expect(undecided.sort(), "undecided: approve or deny each with `npm install-scripts`").to.deep.equal([]);
  });
});
