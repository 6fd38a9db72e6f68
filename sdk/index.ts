/**
 * The compute-tokens SDK: one typed client (viem) for ComputeToken. Everything that talks to the
 * contracts — the `ctk` CLI, the redeemer, the tests — goes through here.
 */
export * from "./client.js";
export * from "./errors.js";
export * from "./write.js";
export * from "./format.js";
export * from "./lotId.js";
export * from "./classes.js";
export * from "./balances.js";
export * from "./holders.js";
export * from "./grants.js";
export * from "./csv.js";
export * from "./deployment.js";
export * from "./jobSpec.js";
export * from "./reasons.js";
export * from "./policy.js";
export * from "./redeemerApi.js";
export * from "./imageRef.js";
export * from "./logs/fetchLogRanges.js";
export * from "./logs/decodeLogs.js";
export * from "./events.js";
export * from "./receipt.js";
export * from "./credits/index.js";
export { accessManagerAbi, computeTokenAbi, inferenceCreditAbi } from "./generated/abi.js";
