/**
 * `npm start` on a fresh clone: the contracts are compiled (incrementally, by Hardhat) before the
 * devnet deploys them, so `npm ci` then `npm start` is all the set-up there is.
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { ACCESS_MANAGER_ARTIFACT, COMPUTE_TOKEN_ARTIFACT, INFERENCE_CREDIT_ARTIFACT } from "../../sdk/deploy.js";
import { CtkError } from "../../sdk/ctkError.js";

/** The artifacts the devnet deploys from, under `<root>/artifacts`. */
const DEPLOYED_ARTIFACTS = [COMPUTE_TOKEN_ARTIFACT, INFERENCE_CREDIT_ARTIFACT, ACCESS_MANAGER_ARTIFACT];

/** Whether an artifact the devnet deploys is missing or older than a contract source (`contracts/*.sol`). */
export function contractsNeedBuild(root: string): boolean {
  const artifacts = DEPLOYED_ARTIFACTS.map((a) => path.join(root, "artifacts", a));
  if (!artifacts.every((a) => existsSync(a))) return true;
  // A source newer than every artifact built from contracts/ needs a build. (Hardhat rewrites only
  // what it recompiles, so the newest artifact tells when the last build that compiled anything ran.)
  const builtAt = Math.max(...DEPLOYED_ARTIFACTS.filter((a) => a.startsWith("contracts/")).map((a) => statSync(path.join(root, "artifacts", a)).mtimeMs));
  const dir = path.join(root, "contracts");
  const sources = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".sol")) : [];
  return sources.some((f) => statSync(path.join(dir, f)).mtimeMs > builtAt);
}

export class ContractsBuildError extends CtkError {
  constructor(readonly output: string) {
    super(`compiling the contracts failed (npx hardhat build):\n${output.trim().split("\n").slice(-15).join("\n")}`);
    this.name = "ContractsBuildError";
  }
}

/**
 * Runs `hardhat build --no-tests` in `root` when {@link contractsNeedBuild} says so. Returns whether
 * it built. Hardhat's own cache keeps the build incremental.
 */
export async function ensureContractsBuilt(root: string, log: (line: string) => void = () => {}): Promise<boolean> {
  if (!contractsNeedBuild(root)) return false;
  log("compiling the contracts (hardhat build; needed once after a fresh clone or a contract change)");
  const require = createRequire(path.join(root, "package.json"));
  const cli = path.join(path.dirname(require.resolve("hardhat/package.json")), "dist", "src", "cli.js");
  const output: string[] = [];
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(process.execPath, [cli, "build", "--no-tests"], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.on("data", (d: Buffer) => output.push(d.toString()));
    child.stderr.on("data", (d: Buffer) => output.push(d.toString()));
    child.on("error", reject);
    child.on("close", resolve);
  });
  // (An artifact may stay older than a source touched without a change: Hardhat's cache skips it.)
  const missing = DEPLOYED_ARTIFACTS.some((a) => !existsSync(path.join(root, "artifacts", a)));
  if (code !== 0 || missing) throw new ContractsBuildError(output.join(""));
  return true;
}
