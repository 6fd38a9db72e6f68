import type { GpuSlot } from "./gpuInventory.js";

/** Which GPU slots are held by which job. Lowest free indexes are handed out first. */
export class GpuPool {
  private readonly holder = new Map<number, string>();

  constructor(readonly slots: readonly GpuSlot[]) {}

  /** Slots of the class, busy or not. */
  capacity(className: string): number {
    return this.slots.filter((s) => s.className === className).length;
  }

  freeCount(className: string): number {
    return this.slots.filter((s) => s.className === className && !this.holder.has(s.index)).length;
  }

  /** Free slots of the class for `job`, or undefined (nothing taken) when too few are free. */
  allocate(className: string, count: number, job: string): GpuSlot[] | undefined {
    const free = this.slots.filter((s) => s.className === className && !this.holder.has(s.index)).slice(0, count);
    if (free.length < count) return undefined;
    for (const s of free) this.holder.set(s.index, job);
    return free;
  }

  /** Frees whatever `job` holds. */
  release(job: string): void {
    for (const [index, holder] of this.holder) if (holder === job) this.holder.delete(index);
  }
}
