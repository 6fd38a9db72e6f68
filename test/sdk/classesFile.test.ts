import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { ClassesFileError, readClassesFile } from "../../sdk/classes.js";

describe("the classes file (config/classes.json)", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), "ctk-classes-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const write = (content: unknown) => {
    const file = path.join(dir, `c${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, typeof content === "string" ? content : JSON.stringify(content));
    return file;
  };

  it("reads the shipped config/classes.json: A100-80GB, H100-80GB and B200 with their GFD product labels", () => {
    const f = readClassesFile(path.join(import.meta.dirname, "..", "..", "config", "classes.json"));
    expect(f.classes.map((c) => [c.name, c.productLabel, c.maxGpusPerJob, c.retired])).to.deep.equal([
      ["A100-80GB", "NVIDIA-A100-SXM4-80GB", 8, false],
      ["H100-80GB", "NVIDIA-H100-80GB-HBM3", 8, false],
      ["B200", "NVIDIA-B200", 8, false],
    ]);
  });

  it("refuses what the contract would refuse, naming the field", () => {
    const base = { name: "H100-80GB", productLabel: "NVIDIA-H100-80GB-HBM3", memoryGiB: 80, maxGpusPerJob: 8 };
    for (const [classes, why] of [
      [[{ ...base, name: 'H100"' }], /classes\.0\.name: must be printable ASCII/],
      [[{ ...base, productLabel: "x".repeat(65) }], /classes\.0\.productLabel: String must contain at most 64/],
      [[{ ...base, maxGpusPerJob: 0 }], /classes\.0\.maxGpusPerJob/],
      [[base, base], /classes\.1\.name: "H100-80GB" is listed twice/],
      [[{ ...base, gpus: 8 }], /Unrecognized key/],
    ] as const) {
      expect(() => readClassesFile(write({ classes }))).to.throw(ClassesFileError, why);
    }
    expect(() => readClassesFile(write("{ not json"))).to.throw(ClassesFileError, /classes file .*: /);
    expect(() => readClassesFile(path.join(dir, "missing.json"))).to.throw(ClassesFileError, /missing\.json: not found/);
  });
});
