/**
 * Production deployment: everything deploy/ComputeTokens.ts does, then the deploying account
 * renounces ADMIN, leaving it to the `admin` parameter (with its execution delay). `admin` must not be
 * the deploying account, or nobody would be left to administer the AccessManager.
 */
import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";
import ComputeTokens from "./ComputeTokens.js";
import { ROLES } from "./roles.js";

export default buildModule("ComputeTokensHandover", (m) => {
  const { accessManager, computeToken } = m.useModule(ComputeTokens);
  m.call(accessManager, "renounceRole", [ROLES.ADMIN, m.getAccount(0)], { id: "renounce_ADMIN_deployer", after: [ComputeTokens] });
  return { accessManager, computeToken };
});
