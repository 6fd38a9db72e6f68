/**
 * The habits that keep the tree in shape run with every `npm test` (and so in CI): the TypeScript
 * compiler over the whole repository, and the linter and formatter (Biome, configured in biome.json;
 * `npm run format` rewrites the tree to the format).
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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
 * Every installed package with an install script (preinstall, install, postinstall, or a
 * binding.gyp without its own install script, which npm builds with `node-gyp rebuild`), by name.
 */
function packagesWithInstallScripts(dir: string, found = new Set<string>()): Set<string> {
  if (!existsSync(dir)) return found;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith(".")) continue;
    const at = path.join(dir, entry.name);
    if (entry.name.startsWith("@")) {
      packagesWithInstallScripts(at, found);
      continue;
    }
    const manifest = path.join(at, "package.json");
    if (existsSync(manifest)) {
      const pkg = JSON.parse(readFileSync(manifest, "utf8")) as { name?: string; scripts?: Record<string, string> };
      const s = pkg.scripts ?? {};
      if (s.preinstall || s.install || s.postinstall || (existsSync(path.join(at, "binding.gyp")) && !s.preinstall && !s.install)) found.add(pkg.name ?? entry.name);
    }
    packagesWithInstallScripts(path.join(at, "node_modules"), found);
  }
  return found;
}

describe("tooling: dependencies' install scripts", () => {
  it("each installed package with an install script has a decision in package.json's allowScripts (npm 11 skips undecided ones silently)", () => {
    const decided = Object.keys((JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { allowScripts?: Record<string, boolean> }).allowScripts ?? {}).map((k) =>
      k.replace(/(.)@[^@]*$/, "$1"),
    );
    const withScripts = [...packagesWithInstallScripts(path.join(ROOT, "node_modules"))].sort();
    expect(withScripts, "packages with install scripts found").to.include("better-sqlite3");
    expect(
      withScripts.filter((n) => !decided.includes(n)),
      "undecided: approve or deny each with `npm install-scripts`",
    ).to.deep.equal([]);
  });
});
