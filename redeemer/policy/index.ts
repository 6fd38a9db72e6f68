export {
  checkRedemption,
  type RedemptionCheck,
  type RedemptionCheckInput,
  type RedemptionAccepted,
  type RedemptionRefused,
} from "./checkRedemption.js";
export { ConfigError, type ConfigIssue } from "../../sdk/ctkError.js";
export { findPrivilegedKey } from "./findPrivilegedKey.js";
export { policyOverridesFromEnv } from "./policyFromEnv.js";
export {
  DOCKER_HUB,
  type ImageRef,
  InvalidImageRef,
  isPinned,
  isRegistryHost,
  normalizeRegistry,
  parseImageRef,
  registryAllows,
  SHA256_DIGEST_RE,
} from "../../sdk/imageRef.js";
export { type PolicyConfig, type PolicyConfigInput, parsePolicyConfig, policyConfigSchema } from "./policyConfig.js";
