// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessManager} from "@openzeppelin/contracts/access/manager/AccessManager.sol";
import {ComputeToken} from "../../ComputeToken.sol";
import {IComputeToken} from "../../IComputeToken.sol";
import {LotIds} from "../../LotIds.sol";
import {TestBase} from "./TestBase.t.sol";

/// @notice Deploys an AccessManager and a ComputeToken wired the way sdk/roles.ts says, defines
/// three hardware classes and onboards a set of employees (plain EOAs, so mints make no receiver call).
/// @dev This contract is the AccessManager's admin (role 0, which also holds `recover`); every other
/// role is held by a labelled actor address the tests prank as.
abstract contract ComputeTokenBase is TestBase {
    // sdk/roles.ts → ROLES
    uint64 internal constant ADMIN_ROLE = 0;
    uint64 internal constant HR_ROLE = 1;
    uint64 internal constant OPERATIONS_ROLE = 2;
    uint64 internal constant REDEEMER_ROLE = 3;
    uint64 internal constant PAUSER_ROLE = 4;

    uint256 internal constant T0 = 1_700_000_000;
    uint32 internal constant LAUNCH_TIMEOUT = 1 hours;
    uint256 internal constant EMPLOYEE_COUNT = 6;
    uint16 internal constant MAX_GPUS = 8;

    AccessManager internal manager;
    ComputeToken internal token;

    address internal hr;
    address internal ops;
    address internal redeemer;
    address internal pauser;
    address internal attacker;
    address[] internal employees;

    uint32 internal a100;
    uint32 internal h100;
    uint32 internal b200;

    /// @dev The block time as the tests set it (read back from here, not `block.timestamp`, which
    /// the via-IR optimizer may treat as constant within a call).
    uint256 internal now_;
    uint256 private _batchNonce;

    function setUp() public virtual {
        _warp(T0);

        manager = new AccessManager(address(this));
        token = new ComputeToken(address(manager), LAUNCH_TIMEOUT);

        hr = makeAddr("hr");
        ops = makeAddr("operations");
        redeemer = makeAddr("redeemer");
        pauser = makeAddr("pauser");
        attacker = makeAddr("attacker");
        for (uint256 i; i < EMPLOYEE_COUNT; ++i) {
            employees.push(makeAddr(string.concat("employee", _digit(i))));
        }

        _wireRoles();

        vm.startPrank(ops);
        a100 = token.defineClass("A100-80GB", "NVIDIA-A100-SXM4-80GB", 80, MAX_GPUS);
        h100 = token.defineClass("H100-80GB", "NVIDIA-H100-80GB-HBM3", 80, MAX_GPUS);
        b200 = token.defineClass("B200", "NVIDIA-B200", 192, MAX_GPUS);
        vm.stopPrank();

        vm.prank(hr);
        token.onboard(employees);
    }

    /// @dev sdk/roles.ts → RESTRICTED_FUNCTIONS, selector by selector.
    function _wireRoles() private {
        bytes4[] memory hrFns = new bytes4[](5);
        hrFns[0] = ComputeToken.onboard.selector;
        hrFns[1] = ComputeToken.offboard.selector;
        hrFns[2] = ComputeToken.grantBatch.selector;
        hrFns[3] = ComputeToken.clawback.selector;
        hrFns[4] = ComputeToken.readmit.selector;

        bytes4[] memory opsFns = new bytes4[](7);
        opsFns[0] = ComputeToken.defineClass.selector;
        opsFns[1] = ComputeToken.updateClass.selector;
        opsFns[2] = ComputeToken.retireClass.selector;
        opsFns[3] = ComputeToken.setPriorityMultiplier.selector;
        opsFns[4] = ComputeToken.setLaunchTimeout.selector;
        opsFns[5] = ComputeToken.setClassValue.selector;
        opsFns[6] = ComputeToken.setRefundGrace.selector;

        bytes4[] memory redeemerFns = new bytes4[](4);
        redeemerFns[0] = ComputeToken.markRunning.selector;
        redeemerFns[1] = ComputeToken.settle.selector;
        redeemerFns[2] = ComputeToken.reject.selector;
        redeemerFns[3] = ComputeToken.markRunningBatch.selector;

        bytes4[] memory pauserFns = new bytes4[](2);
        pauserFns[0] = ComputeToken.pause.selector;
        pauserFns[1] = ComputeToken.unpause.selector;

        bytes4[] memory adminFns = new bytes4[](1);
        adminFns[0] = ComputeToken.recover.selector;

        address target = address(token);
        manager.setTargetFunctionRole(target, hrFns, HR_ROLE);
        manager.setTargetFunctionRole(target, opsFns, OPERATIONS_ROLE);
        manager.setTargetFunctionRole(target, redeemerFns, REDEEMER_ROLE);
        manager.setTargetFunctionRole(target, pauserFns, PAUSER_ROLE);
        manager.setTargetFunctionRole(target, adminFns, ADMIN_ROLE);

        manager.labelRole(HR_ROLE, "HR");
        manager.labelRole(OPERATIONS_ROLE, "OPERATIONS");
        manager.labelRole(REDEEMER_ROLE, "REDEEMER");
        manager.labelRole(PAUSER_ROLE, "PAUSER");

        manager.grantRole(HR_ROLE, hr, 0);
        manager.grantRole(OPERATIONS_ROLE, ops, 0);
        manager.grantRole(REDEEMER_ROLE, redeemer, 0);
        manager.grantRole(PAUSER_ROLE, pauser, 0);
    }

    // ──────────────────────────── helpers ────────────────────────────

    function _warp(uint256 timestamp) internal {
        vm.warp(timestamp);
        now_ = timestamp;
    }

    function _lot(uint32 classId, uint256 expiresAt, bool transferable) internal pure returns (uint256) {
        return
            LotIds.encode(
                classId,
                uint64(expiresAt),
                transferable ? LotIds.TransferPolicy.Transferable : LotIds.TransferPolicy.Soulbound
            );
    }

    /// @dev Whether a lot is in its class's list (`lotsOfClass`).
    function _listed(uint32 classId, uint256 lotId) internal view returns (bool) {
        uint256[] memory lots = token.lotsOfClass(classId);
        for (uint256 i; i < lots.length; ++i) if (lots[i] == lotId) return true;
        return false;
    }

    function _nextBatchRef() internal returns (bytes32) {
        return keccak256(abi.encode("batch", ++_batchNonce));
    }

    /// @dev One grant by HR, in a batch of its own.
    function _grant(address to, uint256 lotId, uint256 amount) internal {
        address[] memory recipients = new address[](1);
        uint256[] memory lotIds = new uint256[](1);
        uint256[] memory amounts = new uint256[](1);
        recipients[0] = to;
        lotIds[0] = lotId;
        amounts[0] = amount;
        bytes32 ref = _nextBatchRef();
        vm.prank(hr);
        token.grantBatch(ref, recipients, lotIds, amounts);
    }

    function _redeem(
        address holder,
        uint32 classId,
        uint256[] memory lotIds,
        uint16 gpus,
        uint32 seconds_,
        IComputeToken.Priority priority
    ) internal returns (uint256 id) {
        vm.prank(holder);
        id = token.redeem(classId, lotIds, gpus, seconds_, priority, bytes('{"name":"fuzz"}'));
    }

    function _one(uint256 x) internal pure returns (uint256[] memory a) {
        a = new uint256[](1);
        a[0] = x;
    }

    /// @dev What `redeem` must reserve: ceil(gpus × seconds × bps / 10000), computed independently.
    function _expectedReserve(uint256 gpus, uint256 seconds_, uint256 bps) internal pure returns (uint256) {
        uint256 scaled = gpus * seconds_ * bps;
        return scaled / 10_000 + (scaled % 10_000 == 0 ? 0 : 1);
    }

    function _status(uint256 id) internal view returns (IComputeToken.RedemptionStatus) {
        return token.getRedemption(id).status;
    }

    function _digit(uint256 i) private pure returns (string memory) {
        return string(abi.encodePacked(bytes1(uint8(48 + i))));
    }
}
