/**
 * bench/results.ts: a benchmark rewrites only the text between its markers in bench/RESULTS.md;
 * the hand-written prose around them stays byte for byte.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { RESULTS_FILE, replaceGenerated, writeGenerated } from "../../bench/results.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

const FILE = [
  "# Benchmark results",
  "",
  "## Gas (npm run bench:gas)",
  "",
  "Hand-written: what *gasUsed* means.",
  "",
  "<!-- generated: gas -->",
  "",
  "| op | gas |",
  "|---|--:|",
  "| settle | 66,330 |",
  "",
  "<!-- end generated: gas -->",
  "",
  "Where the gas goes (hand-written, kept).  ",
  "",
  "## Redeemer (npm run bench:redeemer)",
  "",
  "<!-- generated: redeemer -->",
  "",
  "backfill 6.73 s",
  "",
  "<!-- end generated: redeemer -->",
  "",
  "Why ≤ 3 × is missed (hand-written).",
  "",
  "### At company scale",
  "",
  "<!-- generated: redeemer scale -->",
  "",
  "ready 0.48 s",
  "",
  "<!-- end generated: redeemer scale -->",
  "",
  "How memory is kept (hand-written).",
  "",
].join("\n");

/** The text outside every generated block: what a benchmark must never change. */
const prose = (text: string) => text.replace(/<!-- generated: (.*?) -->[\s\S]*?<!-- end generated: \1 -->/g, "<!-- block $1 -->");

describe("bench/results.ts: generated blocks of RESULTS.md", () => {
  it("replaces only the text between a block's markers, the prose around it byte for byte", () => {
    const out = replaceGenerated(FILE, "## Gas (npm run bench:gas)", "gas", "| op | gas |\n|---|--:|\n| settle | 66,001 |\n");
    expect(out).to.equal(FILE.replace("| settle | 66,330 |", "| settle | 66,001 |"));
    expect(prose(out)).to.equal(prose(FILE));
    // The same content again changes nothing.
    expect(replaceGenerated(out, "## Gas (npm run bench:gas)", "gas", "| op | gas |\n|---|--:|\n| settle | 66,001 |")).to.equal(out);
  });

  it("finds the section by the start of its heading, at the start of a line only", () => {
    const text = "# R\n\nSee ## Gas in the text.\n\n## Gas (npm run bench:gas)\n\nprose\n";
    const out = replaceGenerated(text, "## Gas", "gas", "figures");
    expect(out).to.equal("# R\n\nSee ## Gas in the text.\n\n## Gas (npm run bench:gas)\n\nprose\n\n<!-- generated: gas -->\n\nfigures\n\n<!-- end generated: gas -->\n");
  });

  it("keeps two blocks of one section independent", () => {
    const heading = "## Redeemer (npm run bench:redeemer)";
    const scale = replaceGenerated(FILE, heading, "redeemer scale", "ready 0.40 s");
    expect(scale).to.include("backfill 6.73 s").and.include("ready 0.40 s").and.not.include("ready 0.48 s");
    const both = replaceGenerated(scale, heading, "redeemer", "backfill 5.00 s");
    expect(both).to.include("backfill 5.00 s").and.include("ready 0.40 s").and.not.include("backfill 6.73 s");
    expect(prose(both)).to.equal(prose(FILE));
    // A block of the same name in another section is not this section's.
    const other = replaceGenerated(FILE, "## Gas (npm run bench:gas)", "redeemer", "gas-side");
    expect(other).to.include("backfill 6.73 s");
    expect(other.indexOf("gas-side")).to.be.lessThan(other.indexOf("## Redeemer"));
  });

  it("appends a missing block at the end of its section, before the next section", () => {
    const out = replaceGenerated(FILE, "## Gas (npm run bench:gas)", "gas extra", "new figures");
    const [before, after] = FILE.split("\n## Redeemer");
    expect(out).to.equal(`${before!.trimEnd()}\n\n<!-- generated: gas extra -->\n\nnew figures\n\n<!-- end generated: gas extra -->\n\n## Redeemer${after}`);
    // In the last section: at the end of the file.
    const last = replaceGenerated(FILE, "### At company scale", "x", "y");
    expect(last).to.equal(`${FILE.trimEnd()}\n\n<!-- generated: x -->\n\ny\n\n<!-- end generated: x -->\n`);
  });

  it("appends a missing section with its block at the end of the file", () => {
    const out = replaceGenerated(FILE, "## HR grant (npm run bench:hr)", "hr", "rows/s 948");
    expect(out).to.equal(`${FILE.trimEnd()}\n\n## HR grant (npm run bench:hr)\n\n<!-- generated: hr -->\n\nrows/s 948\n\n<!-- end generated: hr -->\n`);
  });

  it("refuses a block whose end marker is missing from its section, and a name that would end the comment", () => {
    const broken = FILE.replace("<!-- end generated: gas -->", "");
    expect(() => replaceGenerated(broken, "## Gas (npm run bench:gas)", "gas", "x")).to.throw(/has no "<!-- end generated: gas -->"/);
    expect(() => replaceGenerated(FILE, "## Gas", "a -- b", "x")).to.throw(/cannot contain "--"/);
  });

  it("writes the file, and starts one when there is none", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ctk-results-"));
    try {
      const file = path.join(dir, "RESULTS.md");
      writeGenerated("## Audit replay (npm run bench:audit)", "audit", "verify 1.23 ×", file);
      writeGenerated("## Audit replay (npm run bench:audit)", "audit", "verify 1.10 ×", file);
      expect(readFileSync(file, "utf8")).to.equal(
        "# Benchmark results\n\n## Audit replay (npm run bench:audit)\n\n<!-- generated: audit -->\n\nverify 1.10 ×\n\n<!-- end generated: audit -->\n",
      );
      writeFileSync(file, FILE);
      writeGenerated("## Gas (npm run bench:gas)", "gas", "g", file);
      expect(prose(readFileSync(file, "utf8"))).to.equal(prose(FILE));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("bench/RESULTS.md has the markers of every benchmark's blocks, each one in its section", () => {
    expect(RESULTS_FILE).to.equal(path.join(ROOT, "bench", "RESULTS.md"));
    const text = readFileSync(RESULTS_FILE, "utf8");
    const blocks: [string, string][] = [
      ["## Gas (npm run bench:gas)", "gas"],
      ["## Gas — inference credits (npm run bench:gas)", "gas credits"],
      ["## Audit replay (npm run bench:audit)", "audit"],
      ["## Redeemer (npm run bench:redeemer)", "redeemer"],
      ["## Redeemer (npm run bench:redeemer)", "redeemer scale"],
      ["## HR grant (npm run bench:hr)", "hr"],
      ["## Gateway (`npm run bench:gateway`)", "gateway run: latest"],
    ];
    for (const [heading, name] of blocks) {
      const start = text.indexOf(`\n${heading}\n`);
      expect(start, heading).to.be.greaterThan(-1);
      const next = text.indexOf("\n## ", start + 1);
      const section = text.slice(start, next === -1 ? undefined : next);
      expect(section, `${heading}: ${name}`).to.include(`<!-- generated: ${name} -->`).and.include(`<!-- end generated: ${name} -->`);
      // Rewriting a block with its own content leaves the whole file as it is.
      const inner = section.split(`<!-- generated: ${name} -->`)[1]!.split(`<!-- end generated: ${name} -->`)[0]!;
      expect(replaceGenerated(text, heading, name, inner)).to.equal(text);
    }
  });
});
