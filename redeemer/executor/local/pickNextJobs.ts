/**
 * Which queued jobs to start now. Per hardware class, jobs go in priority order
 * (urgent > high > normal > low), then arrival. The first job of a class that does not fit
 * blocks the ones behind it, so a large urgent job is never starved by a stream of small ones.
 */
import { PRIORITIES, type PriorityName } from "../../../sdk/jobSpec.js";

export interface QueuedJob {
  key: string;
  className: string;
  gpus: number;
  priority: PriorityName;
  /** Arrival order. */
  seq: number;
}

export const compareQueued = (a: QueuedJob, b: QueuedJob): number => PRIORITIES.indexOf(b.priority) - PRIORITIES.indexOf(a.priority) || a.seq - b.seq;

export function pickNextJobs<J extends QueuedJob>(queued: readonly J[], freeByClass: ReadonlyMap<string, number>): J[] {
  const free = new Map(freeByClass);
  const blocked = new Set<string>();
  const picked: J[] = [];
  for (const job of [...queued].sort(compareQueued)) {
    if (blocked.has(job.className)) continue;
    const available = free.get(job.className) ?? 0;
    if (job.gpus <= available) {
      picked.push(job);
      free.set(job.className, available - job.gpus);
    } else {
      blocked.add(job.className);
    }
  }
  return picked;
}
