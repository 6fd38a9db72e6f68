// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC1155Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ComputeToken} from "../ComputeToken.sol";
import {IBatchErrors} from "../BatchGrants.sol";
import {IComputeToken} from "../IComputeToken.sol";
import {ComputeTokenBase} from "./utils/ComputeTokenBase.t.sol";

/// @notice Fuzz tests of holder-to-holder moves: transferable vs soulbound lots, expiry, non-holders,
/// third parties; and of sweeping expired balances.
contract TransferFuzzTest is ComputeTokenBase {
    uint256 private constant MAX_AMOUNT = 1e15;
    uint256 private constant MAX_EXPIRY_AHEAD = 10 * 365 days;

    address private alice;
    address private bob;

    function setUp() public override {
        super.setUp();
        alice = employees[0];
        bob = employees[1];
    }

    /// @notice A transferable lot moves between allow-listed holders any time before expiry, and
    /// the move neither creates nor destroys units.
    function testFuzz_transfer_transferableLotMovesBetweenHolders(
        uint256 granted,
        uint256 sent,
        uint256 expiresIn,
        uint256 elapsed
    ) public {
        granted = bound(granted, 1, MAX_AMOUNT);
        sent = bound(sent, 0, granted);
        expiresIn = bound(expiresIn, 1, MAX_EXPIRY_AHEAD);
        uint256 lotId = _lot(h100, now_ + expiresIn, true);
        _grant(alice, lotId, granted);
        _warp(now_ + bound(elapsed, 0, expiresIn - 1));

        vm.prank(alice);
        token.safeTransferFrom(alice, bob, lotId, sent, "");

        assertEq(token.balanceOf(alice, lotId), granted - sent, "sender balance");
        assertEq(token.balanceOf(bob, lotId), sent, "receiver balance");
        assertEq(token.totalSupply(lotId), granted, "lot supply unchanged");
        assertEq(token.redeemableBalanceOf(bob, h100), sent, "receiver can redeem what arrived");
    }

    /// @notice Batch moves of several transferable lots conserve every lot.
    function testFuzz_transfer_batchOfTransferableLotsConservesEachLot(
        uint256 a,
        uint256 b,
        uint256 sentA,
        uint256 sentB
    ) public {
        a = bound(a, 1, MAX_AMOUNT);
        b = bound(b, 1, MAX_AMOUNT);
        uint256[] memory ids = new uint256[](2);
        uint256[] memory values = new uint256[](2);
        ids[0] = _lot(a100, now_ + 30 days, true);
        ids[1] = _lot(b200, now_ + 90 days, true);
        values[0] = bound(sentA, 0, a);
        values[1] = bound(sentB, 0, b);
        _grant(alice, ids[0], a);
        _grant(alice, ids[1], b);

        vm.prank(alice);
        token.safeBatchTransferFrom(alice, bob, ids, values, "");

        assertEq(token.balanceOf(alice, ids[0]) + token.balanceOf(bob, ids[0]), a, "lot 0 conserved");
        assertEq(token.balanceOf(alice, ids[1]) + token.balanceOf(bob, ids[1]), b, "lot 1 conserved");
        assertEq(token.balanceOf(bob, ids[0]), values[0], "lot 0 moved");
        assertEq(token.balanceOf(bob, ids[1]), values[1], "lot 1 moved");
    }

    /// @notice A soulbound lot never moves, alone or hidden in a batch.
    function testFuzz_transfer_soulboundLotNeverMoves(uint256 granted, uint256 sent, uint256 toSeed) public {
        granted = bound(granted, 1, MAX_AMOUNT);
        sent = bound(sent, 0, granted);
        address to = employees[bound(toSeed, 1, EMPLOYEE_COUNT - 1)];
        uint256 soulbound = _lot(h100, now_ + 30 days, false);
        uint256 transferable = _lot(h100, now_ + 30 days, true);
        _grant(alice, soulbound, granted);
        _grant(alice, transferable, granted);

        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IComputeToken.LotSoulbound.selector, soulbound));
        token.safeTransferFrom(alice, to, soulbound, sent, "");

        uint256[] memory ids = new uint256[](2);
        uint256[] memory values = new uint256[](2);
        ids[0] = transferable;
        ids[1] = soulbound;
        values[0] = sent;
        values[1] = sent;
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IComputeToken.LotSoulbound.selector, soulbound));
        token.safeBatchTransferFrom(alice, to, ids, values, "");

        assertEq(token.balanceOf(alice, soulbound), granted, "soulbound balance stays");
    }

    /// @notice From its expiry on, a lot moves no more and counts for nothing redeemable.
    function testFuzz_transfer_expiredLotDoesNotMove(uint256 granted, uint256 expiresIn, uint256 lateBy) public {
        granted = bound(granted, 1, MAX_AMOUNT);
        uint256 expiresAt = now_ + bound(expiresIn, 1, MAX_EXPIRY_AHEAD);
        uint256 lotId = _lot(a100, expiresAt, true);
        _grant(alice, lotId, granted);
        _warp(expiresAt + bound(lateBy, 0, 365 days));

        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IComputeToken.LotExpired.selector, lotId, uint64(expiresAt)));
        token.safeTransferFrom(alice, bob, lotId, granted, "");
        assertEq(token.redeemableBalanceOf(alice, a100), 0, "expired units are not redeemable");
        assertEq(token.balanceOf(alice, lotId), granted, "expired units stay until swept");
    }

    /// @notice Units only reach allow-listed accounts.
    function testFuzz_transfer_toNonHolderReverts(address to, uint256 granted) public {
        vm.assume(to != address(0) && !token.isHolder(to));
        granted = bound(granted, 1, MAX_AMOUNT);
        uint256 lotId = _lot(h100, now_ + 7 days, true);
        _grant(alice, lotId, granted);

        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IBatchErrors.NotHolder.selector, to));
        token.safeTransferFrom(alice, to, lotId, granted, "");
    }

    /// @notice An offboarded account can no longer move what it still holds.
    function testFuzz_transfer_fromOffboardedHolderReverts(uint256 granted, uint256 sent) public {
        granted = bound(granted, 1, MAX_AMOUNT);
        sent = bound(sent, 1, granted);
        uint256 lotId = _lot(h100, now_ + 7 days, true);
        _grant(alice, lotId, granted);
        vm.prank(hr);
        token.offboard(alice);

        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IBatchErrors.NotHolder.selector, alice));
        token.safeTransferFrom(alice, bob, lotId, sent, "");
    }

    /// @notice Nobody moves a holder's units but the holder: approvals are disabled, so a third
    /// party (another holder, a role holder, anyone) is refused.
    function testFuzz_transfer_othersCannotMoveAHoldersUnits(address caller, uint256 granted, bool toCaller) public {
        vm.assume(caller != alice);
        granted = bound(granted, 1, MAX_AMOUNT);
        uint256 lotId = _lot(h100, now_ + 7 days, true);
        _grant(alice, lotId, granted);

        vm.prank(caller);
        vm.expectRevert(
            abi.encodeWithSelector(IERC1155Errors.ERC1155MissingApprovalForAll.selector, caller, alice)
        );
        token.safeTransferFrom(alice, toCaller ? caller : bob, lotId, granted, "");

        vm.prank(caller);
        vm.expectRevert(IComputeToken.ApprovalsDisabled.selector);
        token.setApprovalForAll(caller, true);
        assertEq(token.balanceOf(alice, lotId), granted, "holder keeps every unit");
    }

    /// @notice A pause stops transfers.
    function testFuzz_transfer_whilePausedReverts(uint256 granted, uint256 sent) public {
        granted = bound(granted, 1, MAX_AMOUNT);
        sent = bound(sent, 0, granted);
        uint256 lotId = _lot(h100, now_ + 7 days, true);
        _grant(alice, lotId, granted);
        vm.prank(pauser);
        token.pause();

        vm.prank(alice);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        token.safeTransferFrom(alice, bob, lotId, sent, "");
    }

    /// @notice Anyone may sweep expired balances; the sweep burns exactly the expired balance and
    /// refuses lots that have not expired yet.
    function testFuzz_sweepExpired_burnsExactlyTheExpiredBalance(
        address sweeper,
        uint256 expiredAmount,
        uint256 liveAmount,
        uint256 lateBy
    ) public {
        expiredAmount = bound(expiredAmount, 1, MAX_AMOUNT);
        liveAmount = bound(liveAmount, 1, MAX_AMOUNT);
        uint256 expiresAt = now_ + 30 days;
        uint256 expiring = _lot(b200, expiresAt, false);
        uint256 live = _lot(b200, expiresAt + 365 days, true);
        _grant(alice, expiring, expiredAmount);
        _grant(alice, live, liveAmount);

        vm.prank(sweeper);
        vm.expectRevert(abi.encodeWithSelector(IComputeToken.LotNotExpired.selector, expiring, uint64(expiresAt)));
        token.sweepExpired(alice, _one(expiring));

        _warp(expiresAt + bound(lateBy, 0, 364 days));
        uint256 supplyBefore = token.totalSupply();
        vm.prank(sweeper);
        token.sweepExpired(alice, _one(expiring));
        assertEq(token.balanceOf(alice, expiring), 0, "expired balance burnt");
        assertEq(token.totalSupply(), supplyBefore - expiredAmount, "supply tells the truth");

        vm.prank(sweeper);
        vm.expectRevert(abi.encodeWithSelector(IComputeToken.LotNotExpired.selector, live, uint64(expiresAt + 365 days)));
        token.sweepExpired(alice, _one(live));
        assertEq(token.balanceOf(alice, live), liveAmount, "live balance untouched");
    }
}
