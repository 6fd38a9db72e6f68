/**
 * Hardware classes and their lots: reads, the classes file (config/classes.json), the difference
 * between that file and the chain, and applying it (operations role).
 */
import { z } from "zod";
import { type CtkClient, chainTime } from "./client.js";
import { toCtkError } from "./errors.js";
import { decodeLotId, type TransferPolicyName } from "./lotId.js";
import { writeComputeToken } from "./write.js";
import { FileError, firstIssue } from "./ctkError.js";
import { readJsonFile } from "./jsonFile.js";

export interface ClassInfo {
  classId: number;
  name: string;
  /** GPU Feature Discovery `nvidia.com/gpu.product` label. */
  productLabel: string;
  memoryGiB: number;
  maxGpusPerJob: number;
  active: boolean;
}

export interface LotInfo {
  lotId: bigint;
  classId: number;
  className: string;
  expiresAt: bigint;
  policy: TransferPolicyName;
  /** Units in existence (ERC1155Supply). */
  totalSupply: bigint;
  /** Expired at the latest block. */
  expired: boolean;
}

export async function getClass(client: CtkClient, classId: number): Promise<ClassInfo> {
  try {
    const [name, productLabel, memoryGiB, maxGpusPerJob, active] = await client.publicClient.readContract({
      ...client.computeToken,
      functionName: "getClass",
      args: [classId],
    });
    return { classId, name, productLabel, memoryGiB, maxGpusPerJob, active };
  } catch (e) {
    throw await toCtkError(client, e, { functionName: "getClass" });
  }
}

/** Every class ever defined (retired ones included, `active: false`), by id. */
export async function listClasses(client: CtkClient): Promise<ClassInfo[]> {
  let count: number;
  try {
    count = await client.publicClient.readContract({ ...client.computeToken, functionName: "classCount" });
  } catch (e) {
    throw await toCtkError(client, e, { functionName: "classCount" });
  }
  return Promise.all(Array.from({ length: count }, (_, i) => getClass(client, i + 1)));
}

/** The class with this name, or undefined. */
export async function findClass(client: CtkClient, name: string): Promise<ClassInfo | undefined> {
  const id = await client.publicClient.readContract({ ...client.computeToken, functionName: "classIdOf", args: [name] });
  return id === 0 ? undefined : getClass(client, id);
}

/** Every lot ever granted in a class, oldest first, with its supply and whether it has expired. */
export async function lotsOfClass(client: CtkClient, classInfo: Pick<ClassInfo, "classId" | "name">): Promise<LotInfo[]> {
  const [ids, now] = await Promise.all([client.publicClient.readContract({ ...client.computeToken, functionName: "lotsOfClass", args: [classInfo.classId] }), chainTime(client)]);
  const supplies = await Promise.all(ids.map((id) => client.publicClient.readContract({ ...client.computeToken, functionName: "totalSupply", args: [id] })));
  return ids.map((lotId, i) => {
    const parts = decodeLotId(lotId);
    return {
      lotId,
      classId: parts.classId,
      className: classInfo.name,
      expiresAt: parts.expiresAt,
      policy: parts.policy,
      totalSupply: supplies[i],
      expired: now >= parts.expiresAt,
    };
  });
}

// ───────────────────────── the classes file ─────────────────────────

/** What the contract accepts in names and labels: printable ASCII without `"` or `\` (JSON-safe). */
const PLAIN_TEXT = /^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/;

export const classSpecSchema = z
  .object({
    name: z.string().min(1).max(32).regex(PLAIN_TEXT, "must be printable ASCII without quotes or backslashes"),
    productLabel: z.string().min(1).max(64).regex(PLAIN_TEXT, "must be printable ASCII without quotes or backslashes"),
    memoryGiB: z
      .number()
      .int()
      .nonnegative()
      .max(2 ** 32 - 1),
    maxGpusPerJob: z.number().int().min(1).max(65535),
    /** Set to retire the class on-chain (no new grants or redemptions); it is never deleted. */
    retired: z.boolean().default(false),
  })
  .strict();

export const classesFileSchema = z
  .object({
    $comment: z.string().optional(),
    classes: z.array(classSpecSchema),
  })
  .strict()
  .superRefine((f, ctx) => {
    const seen = new Set<string>();
    f.classes.forEach((c, i) => {
      if (seen.has(c.name)) ctx.addIssue({ code: "custom", path: ["classes", i, "name"], message: `"${c.name}" is listed twice` });
      seen.add(c.name);
    });
  });

export type ClassSpec = z.infer<typeof classSpecSchema>;
export type ClassesFile = z.infer<typeof classesFileSchema>;

export class ClassesFileError extends FileError {
  constructor(file: string, detail: string) {
    super("classes file", file, detail);
  }
}

export function readClassesFile(file: string): ClassesFile {
  const parsed = classesFileSchema.safeParse(readJsonFile(file, (detail) => new ClassesFileError(file, detail)));
  if (!parsed.success) throw new ClassesFileError(file, firstIssue(parsed.error));
  return parsed.data;
}

export type ClassChange =
  | { kind: "define"; spec: ClassSpec }
  | { kind: "update"; classId: number; spec: ClassSpec; before: ClassInfo }
  | { kind: "retire"; classId: number; name: string };

export interface ClassesDiff {
  changes: ClassChange[];
  /** Classes the file lists that already match the chain. */
  unchanged: string[];
  /** Classes on chain the file does not mention (left as they are). */
  notInFile: string[];
  /** Retired on chain but listed as active in the file: a class cannot be reactivated. */
  cannotReactivate: string[];
}

/** What applying the file would change on chain. Pure: the chain state comes in as `onChain`. */
export function diffClasses(file: ClassesFile, onChain: readonly ClassInfo[]): ClassesDiff {
  const byName = new Map(onChain.map((c) => [c.name, c]));
  const diff: ClassesDiff = { changes: [], unchanged: [], notInFile: [], cannotReactivate: [] };
  for (const spec of file.classes) {
    const current = byName.get(spec.name);
    if (!current) {
      if (!spec.retired) diff.changes.push({ kind: "define", spec });
      continue;
    }
    if (!current.active) {
      if (spec.retired) diff.unchanged.push(spec.name);
      else diff.cannotReactivate.push(spec.name);
      continue;
    }
    const differs = current.productLabel !== spec.productLabel || current.memoryGiB !== spec.memoryGiB || current.maxGpusPerJob !== spec.maxGpusPerJob;
    if (differs) diff.changes.push({ kind: "update", classId: current.classId, spec, before: current });
    if (spec.retired) diff.changes.push({ kind: "retire", classId: current.classId, name: spec.name });
    if (!differs && !spec.retired) diff.unchanged.push(spec.name);
  }
  const listed = new Set(file.classes.map((c) => c.name));
  diff.notInFile = onChain.filter((c) => !listed.has(c.name)).map((c) => c.name);
  return diff;
}

/** One line per change, e.g. `define B200 (NVIDIA-B200, 192 GiB, max 8 GPUs/job)`. */
export function describeClassChange(c: ClassChange): string {
  const shape = (s: ClassSpec) => `${s.productLabel}, ${s.memoryGiB} GiB, max ${s.maxGpusPerJob} GPUs/job`;
  switch (c.kind) {
    case "define":
      return `define ${c.spec.name} (${shape(c.spec)})`;
    case "update":
      return `update ${c.spec.name}: (${shape({ ...c.before, retired: false })}) -> (${shape(c.spec)})`;
    case "retire":
      return `retire ${c.name}`;
  }
}

/** Sends each change in order (operations role). `onApplied` is called after each receipt. */
export async function applyClassChanges(client: CtkClient, changes: readonly ClassChange[], onApplied?: (change: ClassChange, index: number) => void): Promise<void> {
  for (const [i, c] of changes.entries()) {
    if (c.kind === "define") {
      await writeComputeToken(client, "defineClass", [c.spec.name, c.spec.productLabel, c.spec.memoryGiB, c.spec.maxGpusPerJob]);
    } else if (c.kind === "update") {
      await writeComputeToken(client, "updateClass", [c.classId, c.spec.productLabel, c.spec.memoryGiB, c.spec.maxGpusPerJob]);
    } else {
      await writeComputeToken(client, "retireClass", [c.classId]);
    }
    onApplied?.(c, i);
  }
}
