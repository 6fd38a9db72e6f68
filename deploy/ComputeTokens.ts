/**
 * Hardhat Ignition module: AccessManager + ComputeToken + InferenceCredit, every restricted selector wired to its role
 * from sdk/roles.ts, and the roles granted. The same table sdk/deploy.ts applies on the devnet
 * (a test deploys both and compares the wiring).
 *
 *   npx hardhat --build-profile default ignition deploy ignition/modules/ComputeTokens.ts \
 *     --network <net> --parameters deploy/parameters/<net>.json
 *   npx tsx scripts/ignition-to-deployment.ts ignition/deployments/chain-<id> --out deployment.json
 *
 * (Ignition loads modules from ignition/modules/, which re-exports this file.)
 *
 * Parameters: admin, hr, operations, redeemer, pauser, gateway (addresses), launchTimeout (seconds),
 * lowBps/normalBps/highBps/urgentBps (priority multipliers, 10000 = 1.0x), adminExecutionDelay
 * (seconds an admin's calls wait; 0 on a local chain).
 *
 * The deploying account (account 0) is the AccessManager's initial admin: it wires everything and
 * keeps ADMIN, like sdk/deploy.ts. For production, deploy deploy/ComputeTokensHandover.ts instead:
 * the same, then the deployer renounces ADMIN once `admin` holds it (so `admin` must differ from it).
 * The deployer briefly holds OPERATIONS to set the multipliers; `operations` is granted after that.
 */
import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";
import { LABELLED_ROLES, ROLES, type RoleName, creditSelectorsFor, selectorsFor } from "../sdk/roles.js";

type ModuleBuilder = Parameters<Parameters<typeof buildModule>[1]>[0];

const ROLE_LABELS = LABELLED_ROLES;
const PRIORITIES = [
  ["lowBps", 0, 8000],
  ["normalBps", 1, 10000],
  ["highBps", 2, 12500],
  ["urgentBps", 3, 15000],
] as const;

/** Adds the whole deployment to a module; returns the contracts and the ADMIN grant (for ordering). */
export function addComputeTokens(m: ModuleBuilder) {
  const deployer = m.getAccount(0);
  const admin = m.getParameter("admin", deployer);
  const holders = {
    HR: m.getParameter("hr"),
    OPERATIONS: m.getParameter("operations"),
    REDEEMER: m.getParameter("redeemer"),
    PAUSER: m.getParameter("pauser"),
    GATEWAY: m.getParameter("gateway"),
  };
  const launchTimeout = m.getParameter("launchTimeout", 3600);
  const adminExecutionDelay = m.getParameter("adminExecutionDelay", 0);

  const accessManager = m.contract("AccessManager", [deployer]);
  const computeToken = m.contract("ComputeToken", [accessManager, launchTimeout]);
  const inferenceCredit = m.contract("InferenceCredit", [accessManager, computeToken]);

  const roles = Object.keys(ROLES) as RoleName[];
  const wiring = [
    ...roles
      .filter((role) => selectorsFor(role).length > 0)
      .map((role) => m.call(accessManager, "setTargetFunctionRole", [computeToken, selectorsFor(role), ROLES[role]], { id: `wire_${role}` })),
    ...roles
      .filter((role) => creditSelectorsFor(role).length > 0)
      .map((role) =>
        m.call(accessManager, "setTargetFunctionRole", [inferenceCredit, creditSelectorsFor(role), ROLES[role]], {
          id: `wire_credit_${role}`,
        }),
      ),
  ];
  for (const role of ROLE_LABELS) m.call(accessManager, "labelRole", [ROLES[role], role], { id: `label_${role}` });

  // Multipliers: the deployer holds OPERATIONS just long enough to set them.
  const opsForDeployer = m.call(accessManager, "grantRole", [ROLES.OPERATIONS, deployer, 0], {
    id: "grant_OPERATIONS_deployer",
    after: wiring,
  });
  const multipliers = PRIORITIES.map(([param, priority, fallback]) =>
    m.call(computeToken, "setPriorityMultiplier", [priority, m.getParameter(param, fallback)], {
      id: `multiplier_${param}`,
      after: [opsForDeployer],
    }),
  );
  const opsRevoked = m.call(accessManager, "revokeRole", [ROLES.OPERATIONS, deployer], {
    id: "revoke_OPERATIONS_deployer",
    after: multipliers,
  });
  const grants = ROLE_LABELS.map((role) =>
    m.call(accessManager, "grantRole", [ROLES[role], holders[role], 0], {
      id: `grant_${role}`,
      after: role === "OPERATIONS" ? [opsRevoked] : wiring,
    }),
  );
  const adminGranted = m.call(accessManager, "grantRole", [ROLES.ADMIN, admin, adminExecutionDelay], {
    id: "grant_ADMIN",
    after: [opsRevoked, ...grants],
  });
  return { accessManager, computeToken, inferenceCredit, deployer, adminGranted };
}

export default buildModule("ComputeTokens", (m) => {
  const { accessManager, computeToken, inferenceCredit } = addComputeTokens(m);
  return { accessManager, computeToken, inferenceCredit };
});
