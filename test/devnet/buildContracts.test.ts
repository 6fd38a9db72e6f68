/**
 * `npm ci` then `npm start` on a fresh clone: the devnet compiles the contracts it deploys when their
 * artifacts are missing or older than the sources (scripts/devnet/buildContracts.ts).
 */
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { contractsNeedBuild, ensureContractsBuilt } from "../../scripts/devnet/buildContracts.js";
import { ACCESS_MANAGER_ARTIFACT, COMPUTE_TOKEN_ARTIFACT, INFERENCE_CREDIT_ARTIFACT } from "../../sdk/deploy.js";
import { ROOT } from "../support/cli.js";

describe("devnet: the contracts are built before the first deploy", () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), "ctk-build-"));
    mkdirSync(path.join(root, "contracts"));
    writeFileSync(path.join(root, "contracts", "ComputeToken.sol"), "// source\n");
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const writeArtifacts = (at: Date) => {
    for (const a of [COMPUTE_TOKEN_ARTIFACT, INFERENCE_CREDIT_ARTIFACT, ACCESS_MANAGER_ARTIFACT]) {
      const file = path.join(root, "artifacts", a);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, "{}");
      utimesSync(file, at, at);
    }
  };

  it("needs a build on a fresh clone (no artifacts) and after a contract changed, not otherwise", () => {
    expect(contractsNeedBuild(root)).to.equal(true);
    const source = path.join(root, "contracts", "ComputeToken.sol");
    utimesSync(source, new Date(1_000_000), new Date(1_000_000));
    writeArtifacts(new Date(2_000_000));
    expect(contractsNeedBuild(root)).to.equal(false);
    utimesSync(source, new Date(3_000_000), new Date(3_000_000));
    expect(contractsNeedBuild(root)).to.equal(true);
  });

  it("does not run the compiler when the artifacts are current", async () => {
    const source = path.join(root, "contracts", "ComputeToken.sol");
    utimesSync(source, new Date(1_000_000), new Date(1_000_000));
    writeArtifacts(new Date(2_000_000));
    const notes: string[] = [];
    expect(await ensureContractsBuilt(root, (l) => notes.push(l))).to.equal(false);
    expect(notes).to.deep.equal([]);
  });

  it("finds this checkout's artifacts current after the test build", () => {
    expect(contractsNeedBuild(ROOT)).to.equal(false);
  });
});
