// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ComputeToken} from "../ComputeToken.sol";
import {ComputeTokenBase} from "./utils/ComputeTokenBase.t.sol";
import {ComputeTokenHandler} from "./utils/ComputeTokenHandler.t.sol";

/// @notice Invariants over random sequences of grants, transfers, redemptions and their lifecycle,
/// expiry sweeps, clawbacks, conversions, pauses and attacker attempts (see ComputeTokenHandler).
/// @dev Runs and depth: hardhat.config.ts `test.solidity.invariant`. Every handler action must
/// succeed (failOnRevert), so a legitimate call the contract wrongly refuses fails the campaign too.
contract ComputeTokenInvariantTest is ComputeTokenBase {
    /// @dev Foundry's target-selector shape, read by the invariant runner.
    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    ComputeTokenHandler internal handler;

    function setUp() public override {
        super.setUp();
        vm.startPrank(ops);
        token.setConversionRate(a100, h100, 1, 2); // 2 A100-seconds → 1 H100-second
        token.setConversionRate(h100, a100, 2, 1);
        token.setConversionRate(h100, b200, 2, 3);
        token.setConversionRate(b200, h100, 3, 2);
        token.setConversionRate(a100, b200, 1, 3); // no B200 → A100 rate: that conversion is refused
        vm.stopPrank();

        handler = new ComputeTokenHandler(token, hr, redeemer, pauser, attacker, employees, now_);
        vm.label(address(handler), "handler");
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    function targetSelectors() public view returns (FuzzSelector[] memory targets) {
        bytes4[] memory selectors = new bytes4[](19);
        selectors[0] = ComputeTokenHandler.grant.selector;
        selectors[1] = ComputeTokenHandler.replayBatch.selector;
        selectors[2] = ComputeTokenHandler.clawback.selector;
        selectors[3] = ComputeTokenHandler.transfer.selector;
        selectors[4] = ComputeTokenHandler.forbiddenTransfer.selector;
        selectors[5] = ComputeTokenHandler.redeem.selector;
        selectors[6] = ComputeTokenHandler.convert.selector;
        selectors[7] = ComputeTokenHandler.reclaim.selector;
        selectors[8] = ComputeTokenHandler.markRunning.selector;
        selectors[9] = ComputeTokenHandler.settle.selector;
        selectors[10] = ComputeTokenHandler.reject.selector;
        selectors[11] = ComputeTokenHandler.warp.selector;
        selectors[12] = ComputeTokenHandler.sweepExpired.selector;
        selectors[13] = ComputeTokenHandler.pauseAndDrain.selector;
        selectors[14] = ComputeTokenHandler.attackerGrant.selector;
        selectors[15] = ComputeTokenHandler.attackerRedemption.selector;
        selectors[16] = ComputeTokenHandler.attackerClawback.selector;
        selectors[17] = ComputeTokenHandler.attackerMove.selector;
        selectors[18] = ComputeTokenHandler.attackerRedeem.selector;
        targets = new FuzzSelector[](1);
        targets[0] = FuzzSelector(address(handler), selectors);
    }

    /// @notice For every class: granted + converted in == live supply + consumed + expired-swept +
    /// clawed-back + reserved in flight + converted out.
    function invariant_unitsAreConservedPerClass() public view {
        for (uint32 c = 1; c <= handler.CLASS_COUNT(); ++c) {
            uint256 sources = handler.granted(c) + handler.convertedIn(c);
            uint256 sinks = _liveSupply(c) +
                handler.consumed(c) +
                handler.expiredSwept(c) +
                handler.clawedBack(c) +
                handler.reservedInFlight(c) +
                handler.convertedOut(c);
            assertEq(sources, sinks, "granted + convertedIn == live + consumed + swept + clawed + inFlight + convertedOut");
        }
    }

    /// @notice The ghost reserved-in-flight of each class is what the open (Requested or Running)
    /// redemptions on-chain have reserved.
    function invariant_reservedInFlightMatchesOpenRedemptions() public view {
        uint256 count = token.redemptionCount();
        uint256[4] memory onChain;
        uint256 open;
        for (uint256 id = 1; id <= count; ++id) {
            ComputeToken.RedemptionView memory r = token.getRedemption(id);
            if (
                r.status == ComputeToken.RedemptionStatus.Requested ||
                r.status == ComputeToken.RedemptionStatus.Running
            ) {
                onChain[r.classId] += r.reserved;
                ++open;
            }
            assertLe(r.used, r.reserved, "used <= reserved");
        }
        for (uint32 c = 1; c <= handler.CLASS_COUNT(); ++c) {
            assertEq(onChain[c], handler.reservedInFlight(c), "reserved in flight");
        }
        assertEq(open, handler.openRedemptions().length, "open redemptions");
    }

    /// @notice No action by an account without a role ever succeeded, nor any forbidden move, and
    /// the attacker never holds a unit or gets on the allow-list.
    function invariant_attackerNeverSucceeds() public view {
        assertEq(handler.attackerSuccesses(), 0, "attacker calls that went through");
        assertEq(handler.forbiddenSuccesses(), 0, "forbidden moves that went through");
        assertFalse(token.isHolder(attacker), "attacker not allow-listed");
        for (uint32 c = 1; c <= handler.CLASS_COUNT(); ++c) {
            uint256[] memory lots = token.lotsOfClass(c);
            for (uint256 i; i < lots.length; ++i) {
                assertEq(token.balanceOf(attacker, lots[i]), 0, "attacker balance");
            }
        }
    }

    /// @notice totalSupply() is the sum of the supplies of every registered lot (no units outside lots).
    function invariant_totalSupplyIsTheSumOfLots() public view {
        uint256 sum;
        for (uint32 c = 1; c <= handler.CLASS_COUNT(); ++c) sum += _liveSupply(c);
        assertEq(token.totalSupply(), sum, "totalSupply() == sum over lots");
    }

    function _liveSupply(uint32 classId) private view returns (uint256 supply) {
        uint256[] memory lots = token.lotsOfClass(classId);
        for (uint256 i; i < lots.length; ++i) supply += token.totalSupply(lots[i]);
    }
}
