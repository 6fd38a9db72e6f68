/**
 * The GPUs this machine offers: from configuration, or detected with nvidia-smi where that is
 * installed (detection is optional: a machine without it simply has no GPUs unless configured).
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { findExecutable } from "./findExecutable.js";
import type { LocalExecutorConfig } from "./localExecutorConfig.js";

export interface GpuSlot {
  /** CUDA device index, what CUDA_VISIBLE_DEVICES lists. */
  index: number;
  className: string;
  productLabel: string;
  simulated: boolean;
}

export interface DetectedGpu {
  index: number;
  /** As nvidia-smi prints it: "NVIDIA H100 80GB HBM3". */
  name: string;
}

/** Parses `nvidia-smi --query-gpu=index,name --format=csv,noheader`. */
export function parseNvidiaSmiCsv(text: string): DetectedGpu[] {
  const gpus: DetectedGpu[] = [];
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*(\d+)\s*,\s*(.+?)\s*$/.exec(line);
    if (m) gpus.push({ index: Number(m[1]), name: m[2]! });
  }
  return gpus;
}

/** GPU Feature Discovery's product label for an nvidia-smi name: spaces become dashes. */
export const productLabelOf = (name: string): string => name.trim().replace(/\s+/g, "-");

/** Runs nvidia-smi if it is installed; [] when it is not. @throws when it is installed but fails. */
export async function detectNvidiaGpus(nvidiaSmi: string, path?: string): Promise<DetectedGpu[]> {
  const binary = await findExecutable(nvidiaSmi, path);
  if (binary === undefined) return [];
  const { stdout } = await promisify(execFile)(binary, ["--query-gpu=index,name", "--format=csv,noheader"], { timeout: 15_000 });
  return parseNvidiaSmiCsv(stdout);
}

/** The configured slots, with simulated entries expanded and given indexes; or the detected GPUs. */
export async function resolveGpuInventory(
  config: Pick<LocalExecutorConfig, "gpus" | "nvidiaSmi" | "productClasses" | "path">,
  onWarning: (message: string) => void = () => {},
): Promise<GpuSlot[]> {
  if (config.gpus !== undefined) return expandConfiguredSlots(config.gpus);
  let detected: DetectedGpu[] = [];
  try {
    detected = await detectNvidiaGpus(config.nvidiaSmi, config.path);
  } catch (err) {
    onWarning(`GPU detection with ${config.nvidiaSmi} failed, continuing with no GPUs: ${(err as Error).message}`);
  }
  return detected.map(({ index, name }) => {
    const productLabel = productLabelOf(name);
    const className = config.productClasses[name] ?? config.productClasses[productLabel] ?? productLabel;
    return { index, className, productLabel, simulated: false };
  });
}

export function expandConfiguredSlots(gpus: NonNullable<LocalExecutorConfig["gpus"]>): GpuSlot[] {
  const slots: GpuSlot[] = [];
  const used = new Set<number>();
  for (const g of gpus) {
    if (!("simulated" in g)) {
      slots.push({ index: g.index, className: g.class, productLabel: g.productLabel ?? g.class, simulated: false });
      used.add(g.index);
    }
  }
  let next = 0;
  for (const g of gpus) {
    if (!("simulated" in g)) continue;
    for (let i = 0; i < g.count; i++) {
      let index = g.index !== undefined ? g.index + i : next;
      while (used.has(index)) index++;
      used.add(index);
      next = Math.max(next, index + 1);
      slots.push({ index, className: g.class, productLabel: g.productLabel ?? g.class, simulated: true });
    }
  }
  return slots.sort((a, b) => a.index - b.index);
}
