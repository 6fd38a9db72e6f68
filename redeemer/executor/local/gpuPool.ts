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

  /**
   * Marks the given slots as held by `job` (a job re-adopted after a restart keeps the GPUs it
   * runs on). False, and nothing taken, when another job holds one of them.
   */
  take(indexes: readonly number[], job: string): boolean {
    if (indexes.some((i) => this.holder.has(i) && this.holder.get(i) !== job)) return false;
    for (const i of indexes) this.holder.set(i, job);
    return true;
  }

  /** Who holds a slot. */
  holderOf(index: number): string | undefined {
    return this.holder.get(index);
  }

  /** Frees whatever `job` holds. */
  release(job: string): void {
    for (const [index, holder] of this.holder) if (holder === job) this.holder.delete(index);
  }
}
