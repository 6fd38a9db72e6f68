/**
 * Production deployment: everything deploy/ComputeTokens.ts does, then the deploying account
 * renounces ADMIN, leaving it to the `admin` parameter (with its execution delay). `admin` must not be
 * the deploying account, or nobody would be left to administer the AccessManager.
 * Parameters go under "ComputeTokensHandover" (same names as ComputeTokens).
 */
import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";
import { addComputeTokens } from "./ComputeTokens.js";
import { ROLES } from "../sdk/roles.js";

export default buildModule("ComputeTokensHandover", (m) => {
  const { accessManager, computeToken, inferenceCredit, deployer, adminGranted } = addComputeTokens(m);
  m.call(accessManager, "renounceRole", [ROLES.ADMIN, deployer], { id: "renounce_ADMIN_deployer", after: [adminGranted] });
  return { accessManager, computeToken, inferenceCredit };
});
