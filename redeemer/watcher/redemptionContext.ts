/**
 * What a redemption was made against — its hardware class and its priority's multiplier — as of
 * the very log that made it. Both are rebuilt from the contract's own events (ClassDefined,
 * ClassUpdated, ClassRetired, PriorityMultiplierSet), folded in chain order, so checking ten
 * thousand redemptions costs no call per redemption, and a multiplier changed after a
 * redemption does not make it look mispriced.
 */
import type { ClassInfo } from "../../sdk/classes.js";
import type { ComputeTokenEventOf, RedemptionRequestedEvent } from "../../sdk/events.js";
import type { RedemptionRequest } from "../state/types.js";

export type ContextEvent = ComputeTokenEventOf<"ClassDefined" | "ClassUpdated" | "ClassRetired" | "PriorityMultiplierSet">;

/** What the redeemer keeps of a hardware class (the SDK's {@link ClassInfo}, without what it does not use). */
export type ClassEntry = Pick<ClassInfo, "name" | "productLabel" | "maxGpusPerJob" | "active">;

/** The contract's constructor defaults, used until a PriorityMultiplierSet says otherwise. */
const DEFAULT_MULTIPLIERS_BPS: readonly number[] = [8000, 10000, 12500, 15000];

/** The context as plain JSON (for a checkpoint). */
export interface ContextSnapshot {
  classes: [number, ClassEntry][];
  multipliers: number[];
}

export class RedemptionContext {
  readonly classes = new Map<number, ClassEntry>();
  readonly multipliers: number[] = [...DEFAULT_MULTIPLIERS_BPS];

  static from(snapshot: ContextSnapshot): RedemptionContext {
    const c = new RedemptionContext();
    for (const [id, entry] of snapshot.classes) c.classes.set(id, { ...entry });
    c.multipliers.splice(0, c.multipliers.length, ...snapshot.multipliers);
    return c;
  }

  snapshot(): ContextSnapshot {
    return { classes: [...this.classes].map(([id, e]) => [id, { ...e }]), multipliers: [...this.multipliers] };
  }

  apply(e: ContextEvent): void {
    switch (e.eventName) {
      case "ClassDefined":
        this.classes.set(e.args.classId, { name: e.args.name, productLabel: e.args.productLabel, maxGpusPerJob: e.args.maxGpusPerJob, active: true });
        break;
      case "ClassUpdated": {
        const c = this.classes.get(e.args.classId);
        if (c) Object.assign(c, { productLabel: e.args.productLabel, maxGpusPerJob: e.args.maxGpusPerJob });
        break;
      }
      case "ClassRetired": {
        const c = this.classes.get(e.args.classId);
        if (c) c.active = false;
        break;
      }
      case "PriorityMultiplierSet":
        this.multipliers[e.args.priority] = e.args.bps;
        break;
    }
  }

  /** The request as the state machine takes it, with the context as it is now. */
  requestOf(e: RedemptionRequestedEvent): RedemptionRequest {
    const a = e.args;
    const c = this.classes.get(a.classId);
    return {
      id: a.id,
      holder: a.holder,
      classId: a.classId,
      priority: a.priority,
      gpus: a.gpus,
      seconds: a.seconds_,
      reserved: a.reserved,
      specHash: a.specHash,
      specBytes: hexToBytesFast(a.spec),
      blockNumber: e.blockNumber,
      transactionHash: e.transactionHash,
      ...(c && { hardwareClass: { name: c.name, productLabel: c.productLabel, maxGpusPerJob: c.maxGpusPerJob } }),
      multiplierBps: this.multipliers[a.priority] ?? 10_000,
    };
  }
}

function hexToBytesFast(hex: `0x${string}`): Uint8Array {
  return new Uint8Array(Buffer.from(hex.slice(2), "hex")); // one copy, out of Buffer's shared pool
}
