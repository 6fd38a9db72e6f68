export { decide } from "./decide.js";
export { emptyRecord, isFinishedPhase, isTerminal, reduce, verdictFor } from "./reduce.js";
export { type DoneCounts, isDone, phaseOf, RedemptionBook, type RedemptionBookOptions, type RedemptionPhase } from "./redemptionBook.js";
export type { Action, ActionType, MachineConfig, MachineEvent, RedemptionRecord, RedemptionRequest, Rejection, Verdict } from "./types.js";
export { usedUnits, wholeGpuSeconds } from "./usage.js";
