/**
 * Checks that the code deployed at the deployment's addresses is the code compiled in this
 * repository: the runtime bytecode on chain against the artifacts' `deployedBytecode`
 * (immutable slots masked, none today).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Address, PublicClient } from "viem";
import { ACCESS_MANAGER_ARTIFACT, COMPUTE_TOKEN_ARTIFACT } from "../deploy.js";
import type { Finding } from "./replay.js";

export const DEFAULT_ARTIFACTS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../artifacts");

interface Artifact {
  deployedBytecode: string;
  immutableReferences?: Record<string, { start: number; length: number }[]>;
}

function strip(hex: string): string {
  return (hex.startsWith("0x") ? hex.slice(2) : hex).toLowerCase();
}

function mask(code: string, refs: Artifact["immutableReferences"]): string {
  let out = code;
  for (const list of Object.values(refs ?? {})) {
    for (const { start, length } of list) {
      out = out.slice(0, start * 2) + "00".repeat(length) + out.slice((start + length) * 2);
    }
  }
  return out;
}

/** Length in bytes of the CBOR metadata solc appends (its last two bytes say how long it is). */
function metadataLength(code: string): number {
  if (code.length < 4) return 0;
  return parseInt(code.slice(-4), 16) + 2;
}

/** Compares two runtime codes; undefined when equal, else a description of the first difference. */
export function describeCodeDifference(onChain: string, compiled: string): string | undefined {
  const a = strip(onChain);
  const b = strip(compiled);
  if (a === b) return undefined;
  if (a.length === 0) return "no code at the address";
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  const byte = Math.floor(i / 2);
  const sizes = `${a.length / 2} bytes on chain, ${b.length / 2} compiled`;
  const meta = metadataLength(b);
  const onlyMetadata = a.length === b.length && byte >= b.length / 2 - meta;
  return `${sizes}, first difference at byte ${byte}${onlyMetadata ? " (in the metadata hash only: built from different sources or settings)" : ""}`;
}

export interface BytecodeCheck {
  contract: string;
  address: Address;
  artifact: string;
  ok: boolean;
  detail?: string;
}

export async function checkBytecode(opts: {
  client: PublicClient;
  token: Address;
  manager: Address;
  blockNumber: bigint;
  artifactsDir?: string;
}): Promise<{ checks: BytecodeCheck[]; findings: Finding[] }> {
  const dir = opts.artifactsDir ?? DEFAULT_ARTIFACTS_DIR;
  const checks: BytecodeCheck[] = [];
  const findings: Finding[] = [];
  for (const [contract, address, rel] of [
    ["ComputeToken", opts.token, COMPUTE_TOKEN_ARTIFACT],
    ["AccessManager", opts.manager, ACCESS_MANAGER_ARTIFACT],
  ] as const) {
    const file = path.join(dir, rel);
    let artifact: Artifact;
    try {
      artifact = JSON.parse(readFileSync(file, "utf8")) as Artifact;
    } catch {
      const detail = `cannot read the compiled artifact ${file} (run \`npx hardhat compile\`)`;
      checks.push({ contract, address, artifact: file, ok: false, detail });
      findings.push({ code: "bytecode", message: `${contract} at ${address}: ${detail}` });
      continue;
    }
    const code = (await opts.client.getCode({ address, blockNumber: opts.blockNumber })) ?? "0x";
    const refs = artifact.immutableReferences;
    const detail = describeCodeDifference(mask(strip(code), refs), mask(strip(artifact.deployedBytecode), refs));
    const shown = path.relative(process.cwd(), file) || file;
    checks.push({ contract, address, artifact: shown, ok: !detail, detail });
    if (detail) findings.push({ code: "bytecode", message: `${contract} at ${address}: runtime bytecode differs from ${shown}: ${detail}` });
  }
  return { checks, findings };
}
