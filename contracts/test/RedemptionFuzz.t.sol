// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IAccessManaged} from "@openzeppelin/contracts/access/manager/IAccessManaged.sol";
import {ComputeToken} from "../ComputeToken.sol";
import {IBatchErrors} from "../BatchGrants.sol";
import {IComputeToken} from "../IComputeToken.sol";
import {ComputeTokenBase} from "./utils/ComputeTokenBase.t.sol";

/// @notice Fuzz tests of the redemption lifecycle: what `redeem` reserves and from which lots,
/// what `settle` consumes and refunds, and the full refunds of `reject` and `reclaim`.
contract RedemptionFuzzTest is ComputeTokenBase {
    uint256 private constant LOTS = 3;

    address private alice;

    /// @dev A holder's position in three H100 lots, and a redemption drawn from them.
    struct Draw {
        uint256[] lotIds; // in the order given to `redeem`
        uint256[] before; // balances before the redemption, same order
        uint256[] takes; // what the redemption must take from each, same order
        uint256 total;
        uint256 reserved;
        uint256 id;
    }

    function setUp() public override {
        super.setUp();
        alice = employees[0];
    }

    // ─────────────────────────── helpers ─────────────────────────────

    /// @dev Grants alice up to three H100 lots (different expiries and policies; a zero balance
    /// means that lot is not granted), orders them by `orderSeed`, and redeems `need` GPU-seconds
    /// at normal priority (1 GPU, so reserved == need) with `need` in [1, total].
    function _drawFrom(uint256[3] memory balances, uint256 orderSeed, uint256 need) private returns (Draw memory d) {
        d.lotIds = new uint256[](LOTS);
        d.before = new uint256[](LOTS);
        d.takes = new uint256[](LOTS);
        for (uint256 i; i < LOTS; ++i) {
            d.lotIds[i] = _lot(h100, now_ + (i + 1) * 30 days, i % 2 == 0);
            d.before[i] = bound(balances[i], i == 0 ? 1 : 0, 1e9); // never all zero; total fits uint32 seconds
            if (d.before[i] != 0) _grant(alice, d.lotIds[i], d.before[i]);
            d.total += d.before[i];
        }
        // A permutation of the three lots (and their balances).
        for (uint256 i = LOTS - 1; i > 0; --i) {
            uint256 j = uint256(keccak256(abi.encode(orderSeed, i))) % (i + 1);
            (d.lotIds[i], d.lotIds[j]) = (d.lotIds[j], d.lotIds[i]);
            (d.before[i], d.before[j]) = (d.before[j], d.before[i]);
        }
        d.reserved = bound(need, 1, d.total);
        uint256 remaining = d.reserved;
        for (uint256 i; i < LOTS; ++i) {
            d.takes[i] = d.before[i] < remaining ? d.before[i] : remaining;
            remaining -= d.takes[i];
        }
        // reserved seconds at 1 GPU, normal priority (1.0x) → reserved units == seconds.
        d.id = _redeem(alice, h100, d.lotIds, 1, uint32(d.reserved), IComputeToken.Priority.Normal);
    }

    function _sumBalances(Draw memory d) private view returns (uint256 sum) {
        for (uint256 i; i < LOTS; ++i) sum += token.balanceOf(alice, d.lotIds[i]);
    }

    function _assertRefundedInFull(Draw memory d) private view {
        for (uint256 i; i < LOTS; ++i) {
            assertEq(token.balanceOf(alice, d.lotIds[i]), d.before[i], "each lot back to its balance before");
        }
    }

    function _oneLotRedemption(uint256 amount, uint32 seconds_) private returns (uint256 id, uint256 lotId) {
        lotId = _lot(h100, now_ + 30 days, false);
        _grant(alice, lotId, amount);
        id = _redeem(alice, h100, _one(lotId), 1, seconds_, IComputeToken.Priority.Normal);
    }

    // ─────────────────────────── redeem ──────────────────────────────

    /// @notice redeem reserves ceil(gpus × seconds × bps / 10000) and burns exactly that.
    function testFuzz_redeem_reservesCeilOfGpuSecondsAtPriority(
        uint256 gpus,
        uint256 seconds_,
        uint8 priorityRaw,
        uint256 bps,
        bool customMultiplier,
        uint256 extra
    ) public {
        gpus = bound(gpus, 1, MAX_GPUS);
        seconds_ = bound(seconds_, 1, 30 days);
        IComputeToken.Priority priority = IComputeToken.Priority(priorityRaw % 4);
        if (customMultiplier) {
            bps = bound(bps, 1000, 50_000);
            vm.prank(ops);
            token.setPriorityMultiplier(priority, uint16(bps));
        }
        bps = token.priorityMultiplier(priority);
        uint256 expected = _expectedReserve(gpus, seconds_, bps);
        uint256 lotId = _lot(h100, now_ + 30 days, true);
        extra = bound(extra, 0, 1e12);
        _grant(alice, lotId, expected + extra);
        uint256 supplyBefore = token.totalSupply();

        uint256 id = _redeem(alice, h100, _one(lotId), uint16(gpus), uint32(seconds_), priority);

        IComputeToken.RedemptionView memory r = token.getRedemption(id);
        assertEq(r.reserved, expected, "reserved == ceil(gpus*seconds*bps/10000)");
        assertEq(token.balanceOf(alice, lotId), extra, "exactly the reserve is burnt");
        assertEq(token.totalSupply(), supplyBefore - expected, "supply shrinks by the reserve");
        assertEq(r.holder, alice, "holder");
        assertEq(r.classId, h100, "class");
        assertEq(r.gpus, gpus, "gpus");
        assertEq(uint256(r.priority), uint256(priority), "priority");
        assertEq(uint256(r.status), uint256(IComputeToken.RedemptionStatus.Requested), "status");
        assertEq(r.specHash, keccak256('{"name":"fuzz"}'), "spec hash");
        assertEq(token.redemptionCount(), id, "sequential id");
    }

    /// @notice At the edges of every input (65535 GPUs, 2^32−1 seconds, 5.0x) the reserve is still
    /// exact and survives storage, and settles back to the unit.
    function testFuzz_redeem_fullInputRangeFitsStorage(
        uint16 gpus,
        uint32 seconds_,
        uint256 bps,
        uint256 used
    ) public {
        gpus = uint16(bound(gpus, 1, type(uint16).max));
        seconds_ = uint32(bound(seconds_, 1, type(uint32).max));
        bps = bound(bps, 1000, 50_000);
        vm.startPrank(ops);
        token.updateClass(h100, "NVIDIA-H100-80GB-HBM3", 80, type(uint16).max);
        token.setPriorityMultiplier(IComputeToken.Priority.Urgent, uint16(bps));
        vm.stopPrank();
        uint256 expected = _expectedReserve(gpus, seconds_, bps);
        uint256 lotId = _lot(h100, now_ + 30 days, true);
        _grant(alice, lotId, expected);
        if (expected > type(uint48).max) {
            // Over 2^48 units (78 billion GPU-hours) in one job: refused, the storage is not stretched.
            vm.prank(alice);
            vm.expectRevert(abi.encodeWithSelector(IComputeToken.InvalidJobShape.selector, gpus, seconds_));
            token.redeem(h100, _one(lotId), gpus, seconds_, IComputeToken.Priority.Urgent, "");
            return;
        }

        uint256 id = _redeem(alice, h100, _one(lotId), gpus, seconds_, IComputeToken.Priority.Urgent);
        assertEq(token.getRedemption(id).reserved, expected, "reserve stored whole");

        used = bound(used, 0, expected);
        vm.startPrank(redeemer);
        token.markRunning(id, bytes32("job"));
        token.settle(id, used, bytes32("receipt"));
        vm.stopPrank();
        assertEq(token.balanceOf(alice, lotId), expected - used, "refund is reserve minus used");
        assertEq(token.getRedemption(id).used, used, "used stored whole");
    }

    /// @notice redeem draws from the lots in the order given, skipping empty ones, and stops as
    /// soon as the reserve is covered.
    function testFuzz_redeem_drawsLotsInTheOrderGiven(
        uint256[3] memory balances,
        uint256 orderSeed,
        uint256 need
    ) public {
        Draw memory d = _drawFrom(balances, orderSeed, need);

        IComputeToken.RedemptionView memory r = token.getRedemption(d.id);
        uint256 k;
        for (uint256 i; i < LOTS; ++i) {
            assertEq(token.balanceOf(alice, d.lotIds[i]), d.before[i] - d.takes[i], "lot drawn in order");
            if (d.takes[i] == 0) continue;
            assertEq(r.lotIds[k], d.lotIds[i], "recorded lot");
            assertEq(r.amounts[k], d.takes[i], "recorded take");
            ++k;
        }
        assertEq(r.lotIds.length, k, "only lots drawn from are recorded");
        assertEq(r.reserved, d.reserved, "reserved");
    }

    /// @notice Asking for more than the listed lots hold reverts with what is required and available.
    function testFuzz_redeem_insufficientBalanceReverts(uint256 held, uint256 seconds_) public {
        held = bound(held, 0, 1e9);
        seconds_ = bound(seconds_, held + 1, held + 30 days); // < 2^32
        uint256 lotId = _lot(h100, now_ + 30 days, true);
        if (held != 0) _grant(alice, lotId, held);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IComputeToken.InsufficientBalance.selector, h100, seconds_, held));
        token.redeem(h100, _one(lotId), 1, uint32(seconds_), IComputeToken.Priority.Normal, "");
    }

    /// @notice Expired units are never redeemed, whatever their place in the list.
    function testFuzz_redeem_expiredLotReverts(uint256 amount, uint256 lateBy) public {
        amount = bound(amount, 1, 1e12);
        uint256 expiresAt = now_ + 1 days;
        uint256 lotId = _lot(h100, expiresAt, true);
        _grant(alice, lotId, amount);
        _warp(expiresAt + bound(lateBy, 0, 365 days));
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IComputeToken.LotExpired.selector, lotId, uint64(expiresAt)));
        token.redeem(h100, _one(lotId), 1, 1, IComputeToken.Priority.Normal, "");
    }

    /// @notice Only allow-listed holders redeem.
    function testFuzz_redeem_nonHolderReverts(address caller) public {
        vm.assume(!token.isHolder(caller));
        uint256 lotId = _lot(h100, now_ + 1 days, true);
        vm.prank(caller);
        vm.expectRevert(abi.encodeWithSelector(IBatchErrors.NotHolder.selector, caller));
        token.redeem(h100, _one(lotId), 1, 1, IComputeToken.Priority.Normal, "");
    }

    // ─────────────────────────── settle ──────────────────────────────

    /// @notice Any used ≤ reserved: the holder ends with (balance before redeem − used), the used
    /// units charged to the first-drawn lots, the rest refunded to the lots they came from.
    function testFuzz_settle_consumesUsedAndRefundsTheRest(
        uint256[3] memory balances,
        uint256 orderSeed,
        uint256 need,
        uint256 used,
        uint256 elapsed
    ) public {
        Draw memory d = _drawFrom(balances, orderSeed, need);
        uint256 supplyAfterRedeem = token.totalSupply();
        used = bound(used, 0, d.reserved);

        vm.prank(redeemer);
        token.markRunning(d.id, bytes32("job"));
        _warp(now_ + bound(elapsed, 0, 200 days)); // jobs may end after some lots expired
        vm.prank(redeemer);
        token.settle(d.id, used, keccak256("receipt"));

        // A lot that expires within the refund grace (7 days) gets its refund in the class's lot of the
        // same policy that expires at the end of the day the grace ends.
        uint64 gracedAt = uint64(((now_ + 7 days) / 1 days + 1) * 1 days);
        uint256[2] memory graced; // refunds expected in the graced lot, by policy
        uint256 charge = used;
        for (uint256 i; i < LOTS; ++i) {
            uint256 charged = d.takes[i] < charge ? d.takes[i] : charge;
            charge -= charged;
            (, uint64 expiresAt, ) = token.decodeLotId(d.lotIds[i]);
            if (expiresAt < now_ + 7 days) {
                graced[d.lotIds[i] & 1] += d.takes[i] - charged;
                assertEq(token.balanceOf(alice, d.lotIds[i]), d.before[i] - d.takes[i], "no refund into a lot about to expire");
            } else {
                assertEq(token.balanceOf(alice, d.lotIds[i]), d.before[i] - charged, "refund lands in its lot");
            }
        }
        uint256 inGraced;
        for (uint256 p; p < 2; ++p) {
            uint256 gracedLot = _lot(h100, gracedAt, p == 1);
            assertEq(token.balanceOf(alice, gracedLot), graced[p], "refund of a lot about to expire lands in the graced lot");
            inGraced += graced[p];
        }
        assertEq(_sumBalances(d) + inGraced, d.total - used, "balance after == before redeem - used");
        assertEq(token.totalSupply(), supplyAfterRedeem + (d.reserved - used), "refund re-minted");
        IComputeToken.RedemptionView memory r = token.getRedemption(d.id);
        assertEq(uint256(r.status), uint256(IComputeToken.RedemptionStatus.Settled), "settled");
        assertEq(r.used, used, "used recorded");
    }

    /// @notice Settling more than was reserved reverts with the id, the amount and the reserve.
    function testFuzz_settle_aboveReserveReverts(uint256 seconds_, uint256 excess) public {
        seconds_ = bound(seconds_, 1, 30 days);
        (uint256 id, ) = _oneLotRedemption(seconds_, uint32(seconds_));
        uint256 used = seconds_ + bound(excess, 1, type(uint256).max - seconds_);
        vm.startPrank(redeemer);
        token.markRunning(id, bytes32("job"));
        vm.expectRevert(abi.encodeWithSelector(IComputeToken.SettleExceedsReserve.selector, id, used, seconds_));
        token.settle(id, used, bytes32(0));
        vm.stopPrank();
    }

    /// @notice Only a running redemption settles, only once.
    function testFuzz_settle_onlyFromRunningOnce(uint256 seconds_, uint256 used) public {
        seconds_ = bound(seconds_, 1, 30 days);
        used = bound(used, 0, seconds_);
        (uint256 id, ) = _oneLotRedemption(seconds_, uint32(seconds_));
        vm.startPrank(redeemer);
        vm.expectRevert(
            abi.encodeWithSelector(
                IComputeToken.InvalidRedemptionStatus.selector,
                id,
                IComputeToken.RedemptionStatus.Requested
            )
        );
        token.settle(id, used, bytes32(0));
        token.markRunning(id, bytes32("job"));
        token.settle(id, used, bytes32(0));
        vm.expectRevert(
            abi.encodeWithSelector(
                IComputeToken.InvalidRedemptionStatus.selector,
                id,
                IComputeToken.RedemptionStatus.Settled
            )
        );
        token.settle(id, 0, bytes32(0));
        vm.stopPrank();
    }

    /// @notice Only the redeemer role moves a redemption forward.
    function testFuzz_settle_onlyRedeemer(address caller, uint256 used) public {
        vm.assume(caller != redeemer);
        (uint256 id, ) = _oneLotRedemption(3600, 3600);
        vm.prank(redeemer);
        token.markRunning(id, bytes32("job"));
        used = bound(used, 0, 3600);
        vm.prank(caller);
        vm.expectRevert(abi.encodeWithSelector(IAccessManaged.AccessManagedUnauthorized.selector, caller));
        token.settle(id, used, bytes32(0));
    }

    // ─────────────────────── reject and reclaim ──────────────────────

    /// @notice A rejected redemption, requested or running, paused or not, refunds every unit to its lot.
    function testFuzz_reject_refundsInFull(
        uint256[3] memory balances,
        uint256 orderSeed,
        uint256 need,
        uint16 reasonCode,
        bool running,
        bool paused
    ) public {
        Draw memory d = _drawFrom(balances, orderSeed, need);
        uint256 supplyBefore = token.totalSupply() + d.reserved;
        if (running) {
            vm.prank(redeemer);
            token.markRunning(d.id, bytes32("job"));
        }
        if (paused) {
            vm.prank(pauser);
            token.pause();
        }
        vm.prank(redeemer);
        token.reject(d.id, reasonCode);

        _assertRefundedInFull(d);
        assertEq(token.totalSupply(), supplyBefore, "supply restored");
        assertEq(uint256(_status(d.id)), uint256(IComputeToken.RedemptionStatus.Rejected), "rejected");
    }

    /// @notice After the launch timeout the holder reclaims a redemption nobody launched, in full,
    /// even while paused.
    function testFuzz_reclaim_refundsInFullAfterTimeout(
        uint256[3] memory balances,
        uint256 orderSeed,
        uint256 need,
        uint256 wait,
        bool paused
    ) public {
        uint256 requestedAt = now_;
        Draw memory d = _drawFrom(balances, orderSeed, need);
        // (Up to 22 days: the first lot expires after 30, past the 7-day refund grace.)
        _warp(requestedAt + bound(wait, LAUNCH_TIMEOUT, 22 days));
        if (paused) {
            vm.prank(pauser);
            token.pause();
        }
        vm.prank(alice);
        token.reclaim(d.id);

        _assertRefundedInFull(d);
        assertEq(uint256(_status(d.id)), uint256(IComputeToken.RedemptionStatus.Reclaimed), "reclaimed");
    }

    /// @notice Before the launch timeout, reclaim names the time it becomes available.
    function testFuzz_reclaim_tooEarlyReverts(uint256 wait) public {
        uint256 requestedAt = now_;
        (uint256 id, ) = _oneLotRedemption(3600, 3600);
        _warp(requestedAt + bound(wait, 0, LAUNCH_TIMEOUT - 1));
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IComputeToken.ReclaimTooEarly.selector, id, uint64(requestedAt + LAUNCH_TIMEOUT))
        );
        token.reclaim(id);
    }

    /// @notice Only the redemption's holder reclaims it, and only while nobody launched it.
    function testFuzz_reclaim_onlyHolderOnlyWhileRequested(address caller) public {
        vm.assume(caller != alice);
        (uint256 id, ) = _oneLotRedemption(3600, 3600);
        _warp(now_ + LAUNCH_TIMEOUT);
        vm.prank(caller);
        vm.expectRevert(abi.encodeWithSelector(IComputeToken.NotRedemptionHolder.selector, id, caller));
        token.reclaim(id);

        vm.prank(redeemer);
        token.markRunning(id, bytes32("job"));
        // Launched: closed by its holder only once its time (3600 s) and the settle grace (1 day) passed.
        uint64 deadline = uint64(now_ + 3600 + 1 days);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IComputeToken.ReclaimTooEarly.selector, id, deadline));
        token.reclaim(id);
        _warp(deadline);
        vm.prank(caller);
        vm.expectRevert(abi.encodeWithSelector(IComputeToken.NotRedemptionHolder.selector, id, caller));
        token.reclaim(id);
        vm.prank(alice);
        token.reclaim(id);
        assertEq(uint256(_status(id)), uint256(IComputeToken.RedemptionStatus.Reclaimed), "a stalled run is closed");
    }
}
