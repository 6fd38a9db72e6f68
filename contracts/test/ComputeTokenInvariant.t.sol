// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";
import {ComputeToken} from "../ComputeToken.sol";
import {IComputeToken} from "../IComputeToken.sol";
import {LotIds} from "../LotIds.sol";
import {ComputeTokenBase} from "./utils/ComputeTokenBase.t.sol";
import {TestBase} from "./utils/TestBase.t.sol";

/// @notice What the invariant fuzzer drives: every action bounds its inputs into a call that must
/// succeed (the campaign fails on any revert), and keeps ghost totals per class. Attacker actions
/// and forbidden moves are made with try/catch and counted if they ever succeed.
/// @dev Lives in this file (not utils/) so that running this file alone still emits the handler's
/// artifact, which the invariant runner needs to resolve `targetSelectors`.
/// Time is the handler's own clock (`currentTime`), re-applied with `warp` at the start of
/// every action, so it never depends on whether the runner keeps block time between calls.
contract ComputeTokenHandler is TestBase {
    using LotIds for uint256;

    uint32 public constant CLASS_COUNT = 3;
    uint16 public constant MAX_GPUS = 8;
    uint256 private constant MAX_GRANT = 200_000;
    uint256 private constant MAX_JOB_SECONDS = 3 days;

    ComputeToken public immutable token;
    address public immutable hr;
    address public immutable redeemer;
    address public immutable pauser;
    address public immutable attacker;
    address public immutable anyone;
    address public immutable admin;
    address public immutable ops;
    /// @notice Where the handler recovered a lost key to (its own record, to check the contract's).
    mapping(address lost => address replacement) public successor;
    uint256 private _people;
    address[] public holders;

    uint256 public currentTime;

    // Ghost totals by class id (1..CLASS_COUNT), in that class's units.
    mapping(uint32 classId => uint256) public granted;
    mapping(uint32 classId => uint256) public convertedIn;
    mapping(uint32 classId => uint256) public convertedOut;
    mapping(uint32 classId => uint256) public consumed;
    mapping(uint32 classId => uint256) public expiredSwept;
    mapping(uint32 classId => uint256) public clawedBack;
    mapping(uint32 classId => uint256) public reservedInFlight;

    /// @notice Calls by the attacker (no role, not a holder) that went through. Must stay 0.
    uint256 public attackerSuccesses;
    /// @notice Forbidden moves by holders (soulbound, expired, to a non-holder, replayed batch,
    /// value-moving calls while paused) that went through. Must stay 0.
    uint256 public forbiddenSuccesses;
    /// @notice Successful calls per action, for a look at what a campaign exercised.
    mapping(bytes32 action => uint256) public calls;

    enum Filter {
        Any,
        Unexpired,
        Expired,
        Transferable
    }

    uint256[] private _open; // redemption ids in Requested or Running
    bytes32[] private _refs; // batch refs that landed
    uint256 private _nonce;

    constructor(
        ComputeToken token_,
        address hr_,
        address redeemer_,
        address pauser_,
        address attacker_,
        address[] memory holders_,
        uint256 startTime,
        address admin_,
        address ops_
    ) {
        admin = admin_;
        ops = ops_;
        token = token_;
        hr = hr_;
        redeemer = redeemer_;
        pauser = pauser_;
        attacker = attacker_;
        anyone = makeAddr("anyone");
        holders = holders_;
        currentTime = startTime;
    }

    /// @dev Re-applies the handler's clock; `calls[action]` counts the calls that did something.
    modifier step() {
        vm.warp(currentTime);
        _;
    }

    // ───────────────────────────── HR ────────────────────────────────

    /// @notice HR grants a batch of up to 8 entries in random classes, expiries (on a daily grid,
    /// so grants share lots) and policies.
    function grant(uint256 seed, uint256 size) external step {
        uint256 n = bound(size, 1, 8);
        address[] memory recipients = new address[](n);
        uint256[] memory lotIds = new uint256[](n);
        uint256[] memory amounts = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            recipients[i] = holders[r % holders.length];
            uint32 classId = uint32(1 + ((r >> 8) % CLASS_COUNT));
            uint256 expiresAt = (currentTime / 1 days + 1 + ((r >> 16) % 4) * 7) * 1 days;
            lotIds[i] = _lotId(classId, expiresAt, (r >> 24) & 1 == 1);
            amounts[i] = bound(r >> 32, 1, MAX_GRANT);
        }
        bytes32 ref = keccak256(abi.encode("grant", ++_nonce));
        vm.prank(hr);
        token.grantBatch(ref, recipients, lotIds, amounts);
        _refs.push(ref);
        for (uint256 i; i < n; ++i) granted[lotIds[i].classOf()] += amounts[i];
        ++calls["grant"];
    }

    /// @notice HR runs a batch that already landed again: it must mint nothing.
    function replayBatch(uint256 refSeed, uint256 holderSeed) external step {
        if (_refs.length == 0) return;
        bytes32 ref = _refs[refSeed % _refs.length];
        address[] memory recipients = new address[](1);
        recipients[0] = _holder(holderSeed);
        uint256 lotId = _lotId(1, currentTime + 1 days, true);
        vm.prank(hr);
        try token.grantBatch(ref, recipients, _one(lotId), _one(1)) {
            ++forbiddenSuccesses;
        } catch {}
        ++calls["replayBatch"];
    }

    /// @notice HR claws back a holder's whole balance in a lot (offboarding, one lot at a time).
    function clawback(uint256 holderSeed, uint256 lotSeed) external step {
        (address holder, uint256 lotId, uint256 balance) = _pick(holderSeed, lotSeed, Filter.Any);
        if (balance == 0) return;
        vm.prank(hr);
        token.clawback(holder, _one(lotId));
        clawedBack[lotId.classOf()] += balance;
        ++calls["clawback"];
    }

    // ─────────────────────────── holders ─────────────────────────────

    /// @notice A holder moves part of an unexpired transferable lot to another holder.
    function transfer(uint256 fromSeed, uint256 toSeed, uint256 lotSeed, uint256 amount) external step {
        (address from, uint256 lotId, uint256 balance) = _pick(fromSeed, lotSeed, Filter.Transferable);
        if (balance == 0) return;
        address to = _holder(toSeed);
        amount = bound(amount, 1, balance);
        vm.prank(from);
        token.safeTransferFrom(from, to, lotId, amount, "");
        ++calls["transfer"];
    }

    /// @notice A holder tries what must fail: move a soulbound or expired lot, or send units to the attacker.
    function forbiddenTransfer(uint256 fromSeed, uint256 toSeed, uint256 lotSeed, uint256 kind) external step {
        (address from, uint256 lotId, uint256 balance) = _pick(fromSeed, lotSeed, Filter.Any);
        if (balance == 0) return;
        address to = _holder(toSeed);
        (, uint64 expiresAt, LotIds.TransferPolicy policy) = lotId.decode();
        bool allowed = policy == LotIds.TransferPolicy.Transferable && currentTime < expiresAt;
        if (allowed || kind % 2 == 0) to = attacker; // a legal lot still cannot reach a non-holder
        vm.prank(from);
        try token.safeTransferFrom(from, to, lotId, balance, "") {
            ++forbiddenSuccesses;
        } catch {}
        ++calls["forbiddenTransfer"];
    }

    /// @notice A holder redeems a job they can afford from up to 16 unexpired lots of one class
    /// (the class of a lot they hold), listed in random order.
    function redeem(
        uint256 holderSeed,
        uint256 lotSeed,
        uint256 gpus,
        uint256 seconds_,
        uint8 priorityRaw,
        uint256 orderSeed
    ) external step {
        (address holder, uint256 someLot, uint256 balance) = _pick(holderSeed, lotSeed, Filter.Unexpired);
        if (balance == 0) return;
        uint32 classId = someLot.classOf();
        (uint256[] memory lots, uint256 available) = _redeemableLots(holder, classId, orderSeed);
        if (available == 0) return;
        IComputeToken.Priority priority = IComputeToken.Priority(priorityRaw % 4);
        uint256 bps = token.priorityMultiplier(priority);
        gpus = bound(gpus, 1, MAX_GPUS);
        uint256 maxSeconds = (available * 10_000) / (gpus * bps); // ceil(g·s·bps/1e4) ≤ available
        if (maxSeconds == 0) {
            gpus = 1;
            maxSeconds = (available * 10_000) / bps;
            if (maxSeconds == 0) return;
        }
        seconds_ = bound(seconds_, 1, maxSeconds < MAX_JOB_SECONDS ? maxSeconds : MAX_JOB_SECONDS);

        vm.prank(holder);
        uint256 id = token.redeem(classId, lots, uint16(gpus), uint32(seconds_), priority, bytes('{"gpus":1}'));

        uint256 scaled = gpus * seconds_ * bps;
        uint256 expected = scaled / 10_000 + (scaled % 10_000 == 0 ? 0 : 1);
        uint256 reserved = token.getRedemption(id).reserved;
        assertEq(reserved, expected, "reserved == ceil(gpus*seconds*bps/10000)");
        reservedInFlight[classId] += reserved;
        _open.push(id);
        ++calls["redeem"];
    }

    /// @notice A holder converts an exactly-convertible part of an unexpired lot into another class.
    function convert(uint256 holderSeed, uint256 lotSeed, uint256 toSeed, uint256 multiple) external step {
        (address holder, uint256 lotId, uint256 balance) = _pick(holderSeed, lotSeed, Filter.Unexpired);
        if (balance == 0) return;
        uint32 fromClass = lotId.classOf();
        uint32 toClass = uint32(1 + ((fromClass + (toSeed % (CLASS_COUNT - 1))) % CLASS_COUNT));
        (uint64 numerator, uint64 denominator) = token.conversionRate(fromClass, toClass);
        if (numerator == 0) return;
        uint256 stepSize = denominator / _gcd(numerator, denominator);
        if (balance < stepSize) return;
        uint256 amount = stepSize * bound(multiple, 1, balance / stepSize);

        vm.prank(holder);
        (, uint256 amountOut) = token.convert(lotId, amount, toClass);

        assertEq(amountOut * denominator, amount * numerator, "conversion at the rate");
        convertedOut[fromClass] += amount;
        convertedIn[toClass] += amountOut;
        ++calls["convert"];
    }

    /// @notice The holder (or, after a recovery, the replacement) of a redemption nobody launched, or
    /// launched and never settled, waits out its time (the launch timeout of its request; its run time
    /// plus the settle grace) and reclaims it: the full reserve comes back redeemable, or is clawed back
    /// from a leaver.
    function reclaim(uint256 idSeed) external step {
        (uint256 index, bool found) = _pickOpen(idSeed, false);
        if (!found) return;
        uint256 id = _open[index];
        IComputeToken.RedemptionView memory r = token.getRedemption(id);
        if (currentTime < r.reclaimableAt) _warpTo(r.reclaimableAt);
        (address to, bool keeps, uint256 before) = _beforeRefund(r);
        vm.prank(keeps ? to : r.holder);
        token.reclaim(id);
        _afterRefund(r, to, keeps, before, r.reserved);
        _close(index, r.classId, r.reserved);
        ++calls["reclaim"];
    }

    // ─────────────────────────── redeemer ────────────────────────────

    function markRunning(uint256 idSeed) external step {
        (uint256 index, bool found) = _pickOpen(idSeed, true);
        if (!found) return;
        vm.prank(redeemer);
        token.markRunning(_open[index], keccak256(abi.encode("job", _open[index])));
        ++calls["markRunning"];
    }

    /// @notice The redeemer claims up to four open redemptions and an unknown id in one batch: the
    /// Requested ones become Running, the others (Running already, unknown) are skipped, nothing reverts.
    function markRunningBatch(uint256 idSeed, uint256 count) external step {
        uint256 n = _open.length;
        if (n == 0) return;
        count = bound(count, 1, n < 4 ? n : 4);
        uint256[] memory ids = new uint256[](count + 1);
        bytes32[] memory jobRefs = new bytes32[](count + 1);
        uint256 requested;
        for (uint256 i; i < count; ++i) {
            ids[i] = _open[(idSeed % n + i) % n];
            jobRefs[i] = keccak256(abi.encode("job", ids[i]));
            if (token.getRedemption(ids[i]).status == IComputeToken.RedemptionStatus.Requested) ++requested;
        }
        ids[count] = type(uint128).max; // no redemption has this id
        vm.prank(redeemer);
        uint256 claimed = token.markRunningBatch(ids, jobRefs);
        assertEq(claimed, requested, "claims one per requested redemption");
        for (uint256 i; i < count; ++i) {
            assertEq(uint8(token.getRedemption(ids[i]).status), uint8(IComputeToken.RedemptionStatus.Running), "claimed or already running");
        }
        ++calls["markRunningBatch"];
    }

    /// @notice The redeemer settles an open redemption (launching it first if needed) with any used ≤ reserved.
    function settle(uint256 idSeed, uint256 used) external step {
        (uint256 index, bool found) = _pickOpen(idSeed, false);
        if (!found) return;
        uint256 id = _open[index];
        IComputeToken.RedemptionView memory r = token.getRedemption(id);
        vm.startPrank(redeemer);
        if (r.status == IComputeToken.RedemptionStatus.Requested) token.markRunning(id, bytes32(id));
        used = bound(used, 0, r.reserved);
        (address to, bool keeps, uint256 before) = _beforeRefund(r);
        token.settle(id, used, keccak256(abi.encode("receipt", id)));
        vm.stopPrank();
        _afterRefund(r, to, keeps, before, r.reserved - used);
        consumed[r.classId] += used;
        _close(index, r.classId, r.reserved);
        ++calls["settle"];
    }

    function reject(uint256 idSeed, uint16 reasonCode) external step {
        (uint256 index, bool found) = _pickOpen(idSeed, false);
        if (!found) return;
        uint256 id = _open[index];
        IComputeToken.RedemptionView memory r = token.getRedemption(id);
        (address to, bool keeps, uint256 before) = _beforeRefund(r);
        vm.prank(redeemer);
        token.reject(id, reasonCode);
        _afterRefund(r, to, keeps, before, r.reserved);
        _close(index, r.classId, r.reserved);
        ++calls["reject"];
    }

    // ─────────────────────────── anyone ──────────────────────────────

    /// @notice Time passes (up to three days).
    function warp(uint256 dt) external step {
        _warpTo(currentTime + bound(dt, 1, 3 days));
        ++calls["warp"];
    }

    /// @notice Anyone sweeps a holder's expired balances; if nobody holds an expired lot, time
    /// first runs on to the expiry of a held lot.
    function sweepExpired(uint256 holderSeed, uint256 lotSeed) external step {
        (address holder, uint256 lotId, uint256 balance) = _pick(holderSeed, lotSeed, Filter.Expired);
        if (balance == 0) {
            (holder, lotId, balance) = _pick(holderSeed, lotSeed, Filter.Any);
            if (balance == 0) return;
            (, uint64 expiresAt, ) = lotId.decode();
            _warpTo(expiresAt);
        }

        uint256[] memory expired = new uint256[](256);
        uint256[] memory amounts = new uint256[](256);
        uint256 k;
        for (uint32 c = 1; c <= CLASS_COUNT; ++c) {
            uint256[] memory lots = token.lotsOfClass(c);
            for (uint256 i; i < lots.length && k < 256; ++i) {
                (, uint64 lotExpiry, ) = lots[i].decode();
                if (currentTime < lotExpiry) continue;
                expired[k] = lots[i];
                amounts[k] = token.balanceOf(holder, lots[i]);
                ++k;
            }
        }
        assembly ("memory-safe") {
            mstore(expired, k)
        }
        vm.prank(anyone);
        token.sweepExpired(holder, expired);
        for (uint256 i; i < k; ++i) expiredSwept[expired[i].classOf()] += amounts[i];
        ++calls["sweepExpired"];
    }

    /// @notice A pause: value-moving calls stop (grant, transfer, redeem, convert) while the
    /// redeemer and holders can still finish work in flight (settle, reject, reclaim); then it lifts.
    function pauseAndDrain(uint256 idSeed, uint256 holderSeed, uint256 lotSeed) external step {
        vm.prank(pauser);
        token.pause();

        (address holder, uint256 lotId, uint256 balance) = _pick(holderSeed, lotSeed, Filter.Transferable);
        if (balance != 0) {
            vm.prank(holder);
            try token.safeTransferFrom(holder, _otherHolder(holderSeed), lotId, 1, "") {
                ++forbiddenSuccesses;
            } catch {}
            vm.prank(holder);
            try token.redeem(lotId.classOf(), _one(lotId), 1, 1, IComputeToken.Priority.Low, "") {
                ++forbiddenSuccesses;
            } catch {}
            vm.prank(holder);
            try token.convert(lotId, 1, 1 + (lotId.classOf() % CLASS_COUNT)) {
                ++forbiddenSuccesses;
            } catch {}
        }
        vm.prank(hr);
        try token.grantBatch(keccak256(abi.encode("paused", ++_nonce)), _oneAddr(holder), _one(_lotId(1, currentTime + 1 days, true)), _one(1)) {
            ++forbiddenSuccesses;
        } catch {}

        // Work in flight finishes while paused: one redemption is settled, rejected or reclaimed.
        (uint256 index, bool found) = _pickOpen(idSeed, false);
        if (found) {
            uint256 id = _open[index];
            IComputeToken.RedemptionView memory r = token.getRedemption(id);
            uint256 how = (idSeed >> 128) % 3;
            uint256 used;
            if (how == 0 && r.status == IComputeToken.RedemptionStatus.Requested) {
                if (currentTime < r.reclaimableAt) _warpTo(r.reclaimableAt);
            }
            (address to, bool keeps, uint256 before) = _beforeRefund(r);
            if (how == 0 && r.status == IComputeToken.RedemptionStatus.Requested) {
                vm.prank(r.holder);
                token.reclaim(id);
            } else if (how == 1 && r.status == IComputeToken.RedemptionStatus.Running) {
                used = r.reserved / 2;
                vm.prank(redeemer);
                token.settle(id, used, bytes32(0));
                consumed[r.classId] += used;
            } else {
                vm.prank(redeemer);
                token.reject(id, 503);
            }
            _afterRefund(r, to, keeps, before, r.reserved - used);
            _close(index, r.classId, r.reserved);
        }

        vm.prank(pauser);
        token.unpause();
        ++calls["pauseAndDrain"];
    }

    // ─────────────────────── recoveries and leavers ──────────────────

    /// @notice The admin recovers a holder's lost key to a new account (onboarded by HR), with the
    /// holder's redemptions possibly still in flight: their refunds must reach the replacement.
    function recoverHolder(uint256 holderSeed) external step {
        uint256 i = holderSeed % holders.length;
        address lost = holders[i];
        address replacement = makeAddr(string.concat("replacement-", Strings.toString(++_people)));
        vm.prank(hr);
        token.onboard(_oneAddr(replacement));
        uint256[] memory lots = _heldLots(lost);
        if (lots.length == 0) lots = _one(_lotId(1, currentTime + 1 days, true)); // nothing held: a lot with no balance
        vm.prank(admin);
        token.recover(lost, replacement, lots);
        successor[lost] = replacement;
        holders[i] = replacement;
        ++calls["recoverHolder"];
    }

    /// @notice HR offboards a leaver and claws back everything they hold, with their redemptions
    /// possibly still in flight: refunds of those must be clawed back as they land.
    function offboardLeaver(uint256 holderSeed) external step {
        if (holders.length < 3) return;
        uint256 i = holderSeed % holders.length;
        address leaver = holders[i];
        vm.prank(hr);
        token.offboard(leaver);
        uint256[] memory lots = _heldLots(leaver);
        if (lots.length != 0) {
            for (uint256 k; k < lots.length; ++k) clawedBack[lots[k].classOf()] += token.balanceOf(leaver, lots[k]);
            vm.prank(hr);
            token.clawback(leaver, lots);
        }
        holders[i] = holders[holders.length - 1];
        holders.pop();
        ++calls["offboardLeaver"];
    }

    // ─────────────────────────── operations ──────────────────────────

    /// @notice Operations schedule a new class value within the bounds (at most double or half); it
    /// applies after the delay, and conversions keep happening at the value in force.
    function changeClassValue(uint256 classSeed, uint256 valueSeed) external step {
        uint32 classId = uint32(1 + (classSeed % CLASS_COUNT));
        (uint64 value, , ) = token.classValue(classId);
        if (value == 0) return;
        uint256 next = bound(valueSeed, (uint256(value) + 1) / 2, uint256(value) * 2);
        if (next > 1_000_000) next = 1_000_000;
        vm.prank(ops);
        token.setClassValue(classId, uint64(next));
        ++calls["changeClassValue"];
    }

    // ─────────────────────────── attacker ────────────────────────────

    /// @notice The attacker (no role, not a holder) tries to mint, to itself or to a holder.
    function attackerGrant(uint256 holderSeed, uint256 amount, bool toSelf) external step {
        address[] memory recipients = _oneAddr(toSelf ? attacker : _holder(holderSeed));
        uint256 lotId = _lotId(2, currentTime + 7 days, true);
        bytes32 ref = keccak256(abi.encode("attack", ++_nonce));
        amount = bound(amount, 1, type(uint128).max);
        vm.prank(attacker);
        try token.grantBatch(ref, recipients, _one(lotId), _one(amount)) {
            ++attackerSuccesses;
        } catch {}
        address[] memory self = _oneAddr(attacker);
        vm.prank(attacker);
        try token.onboard(self) {
            ++attackerSuccesses;
        } catch {}
        ++calls["attackerGrant"];
    }

    /// @notice The attacker tries to drive someone's redemption: launch (alone or in a batch), settle, reject, reclaim.
    function attackerRedemption(uint256 idSeed, uint256 used, uint8 how) external step {
        (uint256 index, bool found) = _pickOpen(idSeed, false);
        if (!found) return;
        uint256 id = _open[index];
        how = how % 5;
        vm.prank(attacker);
        if (how == 0) {
            try token.markRunning(id, bytes32("evil")) {
                ++attackerSuccesses;
            } catch {}
        } else if (how == 4) {
            bytes32[] memory refs = new bytes32[](1);
            refs[0] = bytes32("evil");
            try token.markRunningBatch(_one(id), refs) {
                ++attackerSuccesses;
            } catch {}
        } else if (how == 1) {
            try token.settle(id, used, bytes32("evil")) {
                ++attackerSuccesses;
            } catch {}
        } else if (how == 2) {
            try token.reject(id, 1) {
                ++attackerSuccesses;
            } catch {}
        } else {
            try token.reclaim(id) {
                ++attackerSuccesses;
            } catch {}
        }
        ++calls["attackerRedemption"];
    }

    /// @notice The attacker tries to claw back or recover a holder's units.
    function attackerClawback(uint256 holderSeed, uint256 classSeed, bool viaRecover) external step {
        address holder = _holder(holderSeed);
        uint256[] memory lots = _lotsOf(uint32(bound(classSeed, 1, CLASS_COUNT)));
        if (lots.length == 0) return;
        vm.prank(attacker);
        if (viaRecover) {
            try token.recover(holder, attacker, lots) {
                ++attackerSuccesses;
            } catch {}
        } else {
            try token.clawback(holder, lots) {
                ++attackerSuccesses;
            } catch {}
        }
        ++calls["attackerClawback"];
    }

    /// @notice The attacker tries to move a holder's units, to itself or to another holder, one lot
    /// or a batch, or to take approval for them.
    function attackerMove(uint256 holderSeed, uint256 lotSeed, uint256 amount, uint8 how) external step {
        (address holder, uint256 lotId, uint256 balance) = _pick(holderSeed, lotSeed, Filter.Any);
        if (balance == 0) return;
        amount = bound(amount, 1, balance);
        address to = how % 2 == 0 ? attacker : _otherHolder(holderSeed);
        how = how % 3;
        vm.prank(attacker);
        if (how == 0) {
            try token.safeTransferFrom(holder, to, lotId, amount, "") {
                ++attackerSuccesses;
            } catch {}
        } else if (how == 1) {
            try token.safeBatchTransferFrom(holder, to, _one(lotId), _one(amount), "") {
                ++attackerSuccesses;
            } catch {}
        } else {
            try token.setApprovalForAll(attacker, true) {
                ++attackerSuccesses;
            } catch {}
        }
        ++calls["attackerMove"];
    }

    /// @notice The attacker tries to redeem or convert a holder's lot as itself.
    function attackerRedeem(uint256 holderSeed, uint256 lotSeed) external step {
        (, uint256 lotId, uint256 balance) = _pick(holderSeed, lotSeed, Filter.Unexpired);
        if (balance == 0) return;
        vm.prank(attacker);
        try token.redeem(lotId.classOf(), _one(lotId), 1, 1, IComputeToken.Priority.Low, "") {
            ++attackerSuccesses;
        } catch {}
        vm.prank(attacker);
        try token.convert(lotId, 1, 1 + (lotId.classOf() % CLASS_COUNT)) {
            ++attackerSuccesses;
        } catch {}
        ++calls["attackerRedeem"];
    }

    // ──────────────────────── views for invariants ───────────────────

    function openRedemptions() external view returns (uint256[] memory) {
        return _open;
    }

    function holderCount() external view returns (uint256) {
        return holders.length;
    }

    // ──────────────────────────── internals ──────────────────────────

    /// @dev Where a refund of `holder`'s redemption should land (following the handler's recoveries)
    /// and whether that account is a holder (if not, the refund is clawed back).
    function _recipient(address holder) private view returns (address to, bool keeps) {
        to = holder;
        while (!token.isHolder(to) && successor[to] != address(0)) to = successor[to];
        keeps = token.isHolder(to);
    }

    function _beforeRefund(
        IComputeToken.RedemptionView memory r
    ) private view returns (address to, bool keeps, uint256 before) {
        (to, keeps) = _recipient(r.holder);
        before = token.redeemableBalanceOf(to, r.classId);
    }

    /// @dev A refund lands redeemable with the holder or their replacement, or is clawed back from a leaver.
    function _afterRefund(IComputeToken.RedemptionView memory r, address to, bool keeps, uint256 before, uint256 refund) private {
        uint256 afterRefund = token.redeemableBalanceOf(to, r.classId);
        if (keeps) {
            assertEq(afterRefund, before + refund, "a refund lands redeemable, with the holder or the replacement");
        } else {
            assertEq(afterRefund, before, "a leaver's refund is clawed back");
            clawedBack[r.classId] += refund;
        }
    }

    /// @dev The lots (of every class) in which an account holds units, at most MAX_BATCH.
    function _heldLots(address account) private view returns (uint256[] memory held) {
        held = new uint256[](256);
        uint256 k;
        for (uint32 c = 1; c <= CLASS_COUNT; ++c) {
            uint256[] memory lots = token.lotsOfClass(c);
            for (uint256 i; i < lots.length && k < 256; ++i) {
                if (token.balanceOf(account, lots[i]) != 0) held[k++] = lots[i];
            }
        }
        assembly ("memory-safe") {
            mstore(held, k)
        }
    }

    function _warpTo(uint256 t) private {
        currentTime = t;
        vm.warp(t);
    }

    function _holder(uint256 seed) private view returns (address) {
        return holders[seed % holders.length];
    }

    /// @dev The holder after `_holder(seed)` (a different one).
    function _otherHolder(uint256 seed) private view returns (address) {
        return holders[(seed % holders.length + 1) % holders.length];
    }

    /// @dev Every lot of a class, cut to MAX_BATCH (what one clawback may list).
    function _lotsOf(uint32 classId) private view returns (uint256[] memory lots) {
        lots = token.lotsOfClass(classId);
        uint256 max = token.MAX_BATCH();
        if (lots.length > max) {
            assembly ("memory-safe") {
                mstore(lots, max)
            }
        }
    }

    function _lotId(uint32 classId, uint256 expiresAt, bool transferable) private pure returns (uint256) {
        return
            LotIds.encode(
                classId,
                uint64(expiresAt),
                transferable ? LotIds.TransferPolicy.Transferable : LotIds.TransferPolicy.Soulbound
            );
    }

    /// @dev A holder (the one `holderSeed` names, or the next one that qualifies) and a lot of any
    /// class they have a balance in that passes `filter`; balance 0 if nobody qualifies.
    function _pick(
        uint256 holderSeed,
        uint256 lotSeed,
        Filter filter
    ) private view returns (address holder, uint256 lotId, uint256 balance) {
        uint256 n = holders.length;
        for (uint256 h; h < n; ++h) {
            holder = holders[(holderSeed % n + h) % n];
            (lotId, balance) = _pickLot(holder, lotSeed, filter);
            if (balance != 0) return (holder, lotId, balance);
        }
        return (holders[holderSeed % n], 0, 0);
    }

    function _pickLot(address holder, uint256 seed, Filter filter) private view returns (uint256 lotId, uint256 balance) {
        uint256 listed;
        for (uint32 c = 1; c <= CLASS_COUNT; ++c) listed += token.lotsOfClass(c).length;
        uint256[] memory candidates = new uint256[](listed);
        uint256 k;
        for (uint32 c = 1; c <= CLASS_COUNT; ++c) {
            uint256[] memory lots = token.lotsOfClass(c);
            for (uint256 i; i < lots.length; ++i) {
                if (token.balanceOf(holder, lots[i]) == 0) continue;
                (, uint64 expiresAt, LotIds.TransferPolicy policy) = lots[i].decode();
                bool expired = currentTime >= expiresAt;
                if (filter == Filter.Expired && !expired) continue;
                if (filter == Filter.Unexpired && expired) continue;
                if (filter == Filter.Transferable && (expired || policy != LotIds.TransferPolicy.Transferable)) {
                    continue;
                }
                candidates[k++] = lots[i];
            }
        }
        if (k == 0) return (0, 0);
        lotId = candidates[seed % k];
        balance = token.balanceOf(holder, lotId);
    }

    /// @dev The holder's unexpired lots of a class with a balance (at most 16), shuffled.
    function _redeemableLots(
        address holder,
        uint32 classId,
        uint256 orderSeed
    ) private view returns (uint256[] memory lots, uint256 available) {
        uint256[] memory all = token.lotsOfClass(classId);
        lots = new uint256[](16);
        uint256 k;
        for (uint256 i; i < all.length && k < 16; ++i) {
            uint256 balance = token.balanceOf(holder, all[i]);
            (, uint64 expiresAt, ) = all[i].decode();
            if (balance == 0 || currentTime >= expiresAt) continue;
            lots[k++] = all[i];
            available += balance;
        }
        for (uint256 i = k; i > 1; --i) {
            uint256 j = uint256(keccak256(abi.encode(orderSeed, i))) % i;
            (lots[i - 1], lots[j]) = (lots[j], lots[i - 1]);
        }
        assembly ("memory-safe") {
            mstore(lots, k)
        }
    }

    /// @dev An open redemption (only Requested ones if `requestedOnly`).
    function _pickOpen(uint256 seed, bool requestedOnly) private view returns (uint256 index, bool found) {
        uint256 n = _open.length;
        for (uint256 i; i < n; ++i) {
            index = (seed % n + i) % n;
            if (!requestedOnly) return (index, true);
            if (token.getRedemption(_open[index]).status == IComputeToken.RedemptionStatus.Requested) {
                return (index, true);
            }
        }
        return (0, false);
    }

    function _close(uint256 index, uint32 classId, uint256 reserved) private {
        reservedInFlight[classId] -= reserved;
        _open[index] = _open[_open.length - 1];
        _open.pop();
    }

    function _one(uint256 x) private pure returns (uint256[] memory a) {
        a = new uint256[](1);
        a[0] = x;
    }

    function _oneAddr(address x) private pure returns (address[] memory a) {
        a = new address[](1);
        a[0] = x;
    }

    function _gcd(uint256 a, uint256 b) private pure returns (uint256) {
        while (b != 0) (a, b) = (b, a % b);
        return a;
    }
}

/// @notice Invariants over random sequences of grants, transfers, redemptions and their lifecycle,
/// expiry sweeps, clawbacks, conversions, pauses and attacker attempts (see ComputeTokenHandler), and
/// (issue 11) recoveries and offboardings with redemptions in flight, refunds landing after their
/// lots expired, stalled runs closed by their holder and class-value changes.
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
        // Rates derive from one value per class: 2 A100-seconds → 1 H100-second, 3 H100 → 2 B200, …
        token.setClassValue(a100, 1);
        token.setClassValue(h100, 2);
        token.setClassValue(b200, 3);
        vm.stopPrank();
        _warp(now_ + 3 days); // the class values apply after their delay

        handler = new ComputeTokenHandler(token, hr, redeemer, pauser, attacker, employees, now_, address(this), ops);
        vm.label(address(handler), "handler");
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    function targetSelectors() public view returns (FuzzSelector[] memory targets) {
        bytes4[] memory selectors = new bytes4[](23);
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
        selectors[19] = ComputeTokenHandler.recoverHolder.selector;
        selectors[20] = ComputeTokenHandler.offboardLeaver.selector;
        selectors[21] = ComputeTokenHandler.changeClassValue.selector;
        selectors[22] = ComputeTokenHandler.markRunningBatch.selector;
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
            IComputeToken.RedemptionView memory r = token.getRedemption(id);
            if (
                r.status == IComputeToken.RedemptionStatus.Requested ||
                r.status == IComputeToken.RedemptionStatus.Running
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
