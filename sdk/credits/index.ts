/**
 * Inference credits (InferenceCredit): units, the price formula, authorizations (EIP-712), reads,
 * writes and events. Used by the CLI, the gateway, the web app and the audit.
 */
export * from "./units.js";
export * from "./price.js";
export * from "./priceTable.js";
export * from "./authorization.js";
export * from "./contract.js";
export * from "./reads.js";
export * from "./write.js";
export * from "./events.js";
export * from "./grants.js";
export * from "./audit.js";
export * from "./spendByModel.js";
