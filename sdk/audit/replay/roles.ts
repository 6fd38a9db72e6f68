/**
 * The replay of the AccessManager: who holds which role since when, the roles' labels, which role
 * each of ComputeToken's functions requires, and notes on the manager's other changes.
 */
import type { Address, Hex } from "viem";
import type { ManagerEvent } from "../events.js";
import type { FindFn, RoleChange, RoleMember } from "./types.js";

export class Roles {
  readonly roleMembers = new Map<bigint, Map<Address, RoleMember>>();
  readonly roleLabels = new Map<bigint, string>();
  readonly roleHistory: RoleChange[] = [];
  /** Selector → role required to call it on the token. */
  readonly functionRoles = new Map<Hex, bigint>();
  readonly managerNotes: string[] = [];
  targetClosed = false;

  constructor(
    private readonly token: Address,
    private readonly find: FindFn,
  ) {}

  /** Members of a role effective at `at` (unix seconds). */
  membersOf(roleId: bigint, at: bigint): Address[] {
    return [...(this.roleMembers.get(roleId) ?? new Map<Address, RoleMember>()).entries()].filter(([, m]) => m.since <= at).map(([a]) => a);
  }

  apply(e: ManagerEvent): void {
    switch (e.eventName) {
      case "RoleGranted": {
        const { roleId, account, delay, since, newMember } = e.args;
        let members = this.roleMembers.get(roleId);
        if (!members) {
          members = new Map();
          this.roleMembers.set(roleId, members);
        }
        members.set(account, { since: BigInt(since), delay });
        this.roleHistory.push({
          action: "granted",
          roleId,
          account,
          delay,
          since: BigInt(since),
          newMember,
          blockNumber: e.blockNumber,
          timestamp: e.timestamp,
          txHash: e.transactionHash,
        });
        return;
      }
      case "RoleRevoked": {
        const { roleId, account } = e.args;
        if (!this.roleMembers.get(roleId)?.delete(account)) this.find("roles", `role ${roleId} revoked from ${account}, who did not hold it`, e);
        this.roleHistory.push({ action: "revoked", roleId, account, blockNumber: e.blockNumber, timestamp: e.timestamp, txHash: e.transactionHash });
        return;
      }
      case "RoleLabel":
        this.roleLabels.set(e.args.roleId, e.args.label);
        return;
      case "TargetFunctionRoleUpdated":
        if (e.args.target === this.token) this.functionRoles.set(e.args.selector, e.args.roleId);
        return;
      case "TargetClosed":
        if (e.args.target === this.token) {
          this.targetClosed = e.args.closed;
          this.managerNotes.push(`block ${e.blockNumber}: ComputeToken ${e.args.closed ? "closed" : "reopened"} by the AccessManager admin`);
        }
        return;
      case "RoleAdminChanged":
        this.managerNotes.push(`block ${e.blockNumber}: admin of role ${e.args.roleId} set to role ${e.args.admin}`);
        return;
      case "RoleGuardianChanged":
        this.managerNotes.push(`block ${e.blockNumber}: guardian of role ${e.args.roleId} set to role ${e.args.guardian}`);
        return;
      case "RoleGrantDelayChanged":
        this.managerNotes.push(`block ${e.blockNumber}: grant delay of role ${e.args.roleId} set to ${e.args.delay} s`);
        return;
      case "TargetAdminDelayUpdated":
        this.managerNotes.push(`block ${e.blockNumber}: admin delay of ${e.args.target} set to ${e.args.delay} s`);
        return;
      default:
        return;
    }
  }
}
