// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessManager} from "@openzeppelin/contracts/access/manager/AccessManager.sol";
import {ComputeToken} from "../ComputeToken.sol";
import {IInferenceCredit} from "../IInferenceCredit.sol";
import {InferenceCredit} from "../InferenceCredit.sol";
import {InferenceCreditBase} from "./utils/InferenceCreditBase.t.sol";
import {TestBase} from "./utils/TestBase.t.sol";

/// @notice What the invariant fuzzer drives on InferenceCredit: grants, transfers, authorizations,
/// settlements (with unknown, revoked, expired and offboarded cases), revocations, offboarding,
/// sweeps, clawbacks, pauses and time. Every action must succeed (failOnRevert); forbidden moves are
/// tried with try/catch and counted if they go through. Ghost totals follow where credits went.
/// @dev Lives in this file so running it alone emits the handler's artifact (targetSelectors).
contract CreditHandler is TestBase {
    uint256 private constant MAX_GRANT = 1e12;
    uint256 public constant NONCES = 3;

    InferenceCredit public immutable credit;
    ComputeToken public immutable token;
    address public immutable hr;
    address public immutable gateway;
    address public immutable pauser;
    address public immutable attacker;
    address[] public holders;
    uint256[] private _keys;

    uint256 public currentTime;

    uint256 public granted;
    uint256 public spent;
    uint256 public expiredSwept;
    uint256 public clawedBack;
    /// @notice Usage debt paid by credits arriving (grants, transfers in): burnt, like `spent`.
    uint256 public debtPaid;
    /// @notice Arrivals that paid other than min(debt, what arrived): must stay 0.
    uint256 public debtMispaid;
    uint256 public forbiddenSuccesses;
    /// @notice Expired credits a settlement or transfer spent (must stay 0).
    uint256 public expiredSpent;
    /// @notice Charges taken under an authorization more than SETTLEMENT_GRACE after its end (expiry or revocation): must stay 0.
    uint256 public chargedAfterGrace;
    /// @dev When each authorization was revoked, as this handler saw it (0: not revoked).
    mapping(bytes32 authId => uint256) private _revokedAt;
    mapping(bytes32 action => uint256) public calls;

    bytes32[] public authIds;
    mapping(bytes32 authId => bool) private _known;
    uint256 private _nonce;

    constructor(
        InferenceCredit credit_,
        ComputeToken token_,
        address hr_,
        address gateway_,
        address pauser_,
        address attacker_,
        address[] memory holders_,
        uint256[] memory keys_,
        uint256 startTime
    ) {
        credit = credit_;
        token = token_;
        hr = hr_;
        gateway = gateway_;
        pauser = pauser_;
        attacker = attacker_;
        holders = holders_;
        _keys = keys_;
        currentTime = startTime;
    }

    modifier step() {
        vm.warp(currentTime);
        if (credit.paused()) {
            vm.prank(pauser);
            credit.unpause();
        }
        _;
    }

    function holderCount() external view returns (uint256) {
        return holders.length;
    }

    function authCount() external view returns (uint256) {
        return authIds.length;
    }

    // ───────────────────────────── HR ────────────────────────────────

    /// @notice HR grants up to 4 holders one amount each, at one expiry (daily grid) and policy. A holder
    /// whose 8 buckets are all live is left out (the contract would refuse, as tested elsewhere).
    function grant(uint256 seed, uint256 size, uint256 amount, uint256 expirySeed, bool transferable) external step {
        uint256 n = bound(size, 1, 4);
        uint40 expiresAt = uint40((currentTime / 1 days + 1 + (expirySeed % 6)) * 1 days);
        address[] memory to = new address[](n);
        uint256[] memory amounts = new uint256[](n);
        uint256 k;
        for (uint256 i; i < n; ++i) {
            address h = holders[uint256(keccak256(abi.encode(seed, i))) % holders.length];
            if (!token.isHolder(h) || !_hasRoom(h, expiresAt, transferable)) continue;
            bool dup;
            for (uint256 j; j < k; ++j) dup = dup || to[j] == h;
            if (dup) continue;
            to[k] = h;
            amounts[k] = bound(uint256(keccak256(abi.encode(amount, i))), 1, MAX_GRANT);
            ++k;
        }
        if (k == 0) return;
        assembly {
            mstore(to, k)
            mstore(amounts, k)
        }
        uint256 supplyBefore = credit.totalSupply();
        uint256 total;
        uint256[] memory debtBefore = new uint256[](k);
        for (uint256 i; i < k; ++i) {
            total += amounts[i];
            debtBefore[i] = credit.usageDebtOf(to[i]);
        }
        vm.prank(hr);
        credit.grantBatch(keccak256(abi.encode("grant", ++_nonce)), expiresAt, transferable, to, amounts);
        granted += total;
        uint256 paid;
        for (uint256 i; i < k; ++i) paid += _checkDebtPaid(to[i], debtBefore[i], amounts[i]);
        debtPaid += paid;
        expiredSwept += supplyBefore + total - paid - credit.totalSupply(); // a full holder's expired buckets
        ++calls["grant"];
    }

    /// @notice HR claws back a holder's credits (offboarding).
    function clawback(uint256 holderSeed) external step {
        address h = holders[holderSeed % holders.length];
        (uint256 total, uint256 expired) = _sums(h);
        if (total == 0) return;
        vm.prank(hr);
        uint256 clawed = credit.clawback(h);
        assertEq(clawed, total - expired, "clawback returns the unexpired part");
        clawedBack += clawed;
        expiredSwept += expired;
        ++calls["clawback"];
    }

    /// @notice HR offboards or re-onboards a holder in ComputeToken (the one allow-list).
    function toggleHolder(uint256 holderSeed) external step {
        address h = holders[holderSeed % holders.length];
        address[] memory one = new address[](1);
        one[0] = h;
        bool isHolder = token.isHolder(h);
        vm.prank(hr);
        if (isHolder) token.offboard(h);
        else token.readmit(one); // readmit: an offboarded wallet comes back only on purpose
        ++calls["toggleHolder"];
    }

    // ─────────────────────────── holders ─────────────────────────────

    /// @notice A holder moves some unexpired transferable credits to another holder.
    function transfer(uint256 fromSeed, uint256 toSeed, uint256 amount) external step {
        address from = holders[fromSeed % holders.length];
        address to = holders[toSeed % holders.length];
        uint256 available = _transferable(from);
        if (available == 0 || !token.isHolder(from) || !token.isHolder(to) || !_hasRoomForTransfer(from, to)) return;
        amount = bound(amount, 1, available);
        (, uint256 expiredFrom) = _sums(from);
        uint256 supplyBefore = credit.totalSupply();
        uint256 debtBefore = credit.usageDebtOf(to);
        if (credit.usageDebtOf(from) != 0) ++debtMispaid; // a holder in debt holds nothing to send
        vm.prank(from);
        credit.transfer(to, amount);
        (, uint256 expiredFromAfter) = _sums(from);
        if (expiredFromAfter < expiredFrom && from != to) expiredSpent += expiredFrom - expiredFromAfter;
        uint256 paid = _checkDebtPaid(to, debtBefore, amount);
        debtPaid += paid;
        expiredSwept += supplyBefore - paid - credit.totalSupply(); // a full receiver's expired buckets
        ++calls["transfer"];
    }

    /// @notice A holder tries to move more than its transferable credits, or to the attacker: must fail.
    function forbiddenTransfer(uint256 fromSeed, uint256 kind) external step {
        address from = holders[fromSeed % holders.length];
        uint256 available = _transferable(from);
        address to = kind % 2 == 0 ? attacker : holders[(fromSeed % holders.length + 1) % holders.length];
        uint256 amount = kind % 2 == 0 ? (available == 0 ? 1 : available) : available + 1;
        vm.prank(from);
        try credit.transfer(to, amount) {
            ++forbiddenSuccesses;
        } catch {}
        ++calls["forbiddenTransfer"];
    }

    /// @notice A holder signs an authorization (nonce 0..2) and the gateway activates it in a batch that
    /// also charges it. A nonce already active or revoked is skipped or left out.
    function authorizeAndCharge(uint256 holderSeed, uint256 nonceSeed, uint256 cap, uint256 life, uint256 amount) external step {
        uint256 i = holderSeed % holders.length;
        address h = holders[i];
        uint64 nonce = uint64(nonceSeed % NONCES);
        bytes32 authId = credit.authorizationId(h, gateway, nonce);
        IInferenceCredit.AuthorizationState memory s = credit.authorizationOf(authId);
        IInferenceCredit.SignedAuthorization[] memory act;
        if (s.status == IInferenceCredit.AuthorizationStatus.Active) {
            act = new IInferenceCredit.SignedAuthorization[](0);
        } else {
            IInferenceCredit.Authorization memory a = IInferenceCredit.Authorization(
                h,
                gateway,
                bound(cap, 1, 2 * MAX_GRANT),
                uint64(currentTime + bound(life, 1 hours, 10 days)),
                nonce,
                new string[](0)
            );
            (uint8 v, bytes32 r, bytes32 sig) = vm.sign(_keys[i], credit.hashAuthorization(a));
            act = new IInferenceCredit.SignedAuthorization[](1);
            act[0] = IInferenceCredit.SignedAuthorization(a, abi.encodePacked(r, sig, v));
        }
        _track(authId);
        IInferenceCredit.Charge[] memory c = new IInferenceCredit.Charge[](1);
        c[0] = IInferenceCredit.Charge(h, nonce, bound(amount, 0, MAX_GRANT));
        _settleTracked(act, c);
        ++calls["authorizeAndCharge"];
    }

    /// @notice The gateway settles up to 4 charges against random (holder, nonce) pairs: known, unknown,
    /// revoked, expired or offboarded alike. It must never revert for a holder's state.
    function charge(uint256 seed, uint256 size) external step {
        uint256 n = bound(size, 1, 4);
        IInferenceCredit.Charge[] memory c = new IInferenceCredit.Charge[](n);
        for (uint256 i; i < n; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            address h = holders[r % holders.length];
            uint64 nonce = uint64((r >> 8) % (NONCES + 1));
            c[i] = IInferenceCredit.Charge(h, nonce, bound(r >> 16, 0, MAX_GRANT));
            _track(credit.authorizationId(h, gateway, nonce));
        }
        _settleTracked(new IInferenceCredit.SignedAuthorization[](0), c);
        ++calls["charge"];
    }

    /// @notice A holder revokes one of its nonces (before or after activation).
    function revoke(uint256 holderSeed, uint256 nonceSeed) external step {
        address h = holders[holderSeed % holders.length];
        uint64 nonce = uint64(nonceSeed % NONCES);
        bytes32 authId = credit.authorizationId(h, gateway, nonce);
        if (credit.authorizationOf(authId).status == IInferenceCredit.AuthorizationStatus.Revoked) return;
        vm.prank(h);
        credit.revokeAuthorization(gateway, nonce);
        _revokedAt[authId] = currentTime;
        _track(authId);
        ++calls["revoke"];
    }

    /// @notice A holder revokes an active authorization, and its batch lands up to two days later: charged within
    /// SETTLEMENT_GRACE of the revocation, nothing after (the ghost `chargedAfterGrace` counts a breach).
    function revokeThenSettleLate(uint256 holderSeed, uint256 nonceSeed, uint256 late, uint256 amount) external step {
        address h = holders[holderSeed % holders.length];
        uint64 nonce = uint64(nonceSeed % NONCES);
        bytes32 authId = credit.authorizationId(h, gateway, nonce);
        if (credit.authorizationOf(authId).status != IInferenceCredit.AuthorizationStatus.Active) return;
        vm.prank(h);
        credit.revokeAuthorization(gateway, nonce);
        _revokedAt[authId] = currentTime;
        currentTime += bound(late, 0, 2 days);
        vm.warp(currentTime);
        IInferenceCredit.Charge[] memory c = new IInferenceCredit.Charge[](1);
        c[0] = IInferenceCredit.Charge(h, nonce, bound(amount, 1, MAX_GRANT));
        _settleTracked(new IInferenceCredit.SignedAuthorization[](0), c);
        ++calls["revokeThenSettleLate"];
    }

    /// @notice The hole usage debt closes: a holder served under an active authorization moves all its
    /// transferable credits to a colleague before the batch lands; the batch owes what it cannot burn, and
    /// the colleague sending them back pays it (the ghosts check min(debt, arrived) was paid).
    function moveOutThenSettle(uint256 fromSeed, uint256 toSeed, uint256 nonceSeed, uint256 amount, bool sendBack) external step {
        address from = holders[fromSeed % holders.length];
        address to = holders[toSeed % holders.length];
        uint64 nonce = uint64(nonceSeed % NONCES);
        bytes32 authId = credit.authorizationId(from, gateway, nonce);
        if (credit.authorizationOf(authId).status != IInferenceCredit.AuthorizationStatus.Active) return;
        uint256 moved = _transferable(from);
        if (from == to || moved == 0 || !token.isHolder(from) || !token.isHolder(to) || !_hasRoomForTransfer(from, to)) return;
        uint256 supplyBefore = credit.totalSupply();
        uint256 debtBefore = credit.usageDebtOf(to);
        vm.prank(from);
        credit.transfer(to, moved);
        uint256 paid = _checkDebtPaid(to, debtBefore, moved);
        debtPaid += paid;
        expiredSwept += supplyBefore - paid - credit.totalSupply();
        IInferenceCredit.Charge[] memory c = new IInferenceCredit.Charge[](1);
        c[0] = IInferenceCredit.Charge(from, nonce, bound(amount, 1, MAX_GRANT));
        _settleTracked(new IInferenceCredit.SignedAuthorization[](0), c);
        uint256 back = _transferable(to);
        if (back > moved) back = moved;
        if (sendBack && back != 0 && token.isHolder(to) && _hasRoomForTransfer(to, from)) {
            supplyBefore = credit.totalSupply();
            debtBefore = credit.usageDebtOf(from);
            vm.prank(to);
            credit.transfer(from, back);
            paid = _checkDebtPaid(from, debtBefore, back);
            debtPaid += paid;
            expiredSwept += supplyBefore - paid - credit.totalSupply();
        }
        ++calls["moveOutThenSettle"];
    }

    /// @notice The attacker tries to settle, grant or claw back: must fail.
    function attackerCall(uint256 kind) external step {
        vm.startPrank(attacker);
        if (kind % 3 == 0) {
            try credit.settleUsage(keccak256(abi.encode("a", ++_nonce)), 0, bytes32(0), new IInferenceCredit.SignedAuthorization[](0), new IInferenceCredit.Charge[](1)) {
                ++forbiddenSuccesses;
            } catch {}
        } else if (kind % 3 == 1) {
            address[] memory to = new address[](1);
            to[0] = attacker;
            uint256[] memory amounts = new uint256[](1);
            amounts[0] = 1;
            try credit.grantBatch(keccak256(abi.encode("a", ++_nonce)), uint40(currentTime + 1 days), true, to, amounts) {
                ++forbiddenSuccesses;
            } catch {}
        } else {
            try credit.clawback(holders[kind % holders.length]) {
                ++forbiddenSuccesses;
            } catch {}
        }
        vm.stopPrank();
        ++calls["attacker"];
    }

    // ───────────────────────── anyone, time ──────────────────────────

    function sweep(uint256 holderSeed) external step {
        address h = holders[holderSeed % holders.length];
        (, uint256 expired) = _sums(h);
        uint256 swept = credit.sweepExpired(h);
        assertEq(swept, expired, "sweep burns exactly the expired buckets");
        expiredSwept += swept;
        ++calls["sweep"];
    }

    function warp(uint256 by) external step {
        currentTime += bound(by, 1, 3 days);
        ++calls["warp"];
    }

    /// @notice The pauser pauses; a settlement still lands while paused (the next action unpauses).
    function pauseAndSettle(uint256 seed) external step {
        vm.prank(pauser);
        credit.pause();
        address h = holders[seed % holders.length];
        _track(credit.authorizationId(h, gateway, 0));
        IInferenceCredit.Charge[] memory c = new IInferenceCredit.Charge[](1);
        c[0] = IInferenceCredit.Charge(h, 0, bound(seed, 0, MAX_GRANT));
        _settleTracked(new IInferenceCredit.SignedAuthorization[](0), c);
        ++calls["pauseAndSettle"];
    }

    // ──────────────────────────── helpers ────────────────────────────

    function _settleTracked(IInferenceCredit.SignedAuthorization[] memory act, IInferenceCredit.Charge[] memory c) private {
        uint256[] memory expiredBefore = new uint256[](c.length);
        for (uint256 i; i < c.length; ++i) (, expiredBefore[i]) = _sums(c[i].holder);
        // Each charged authorization as it was: one activated and past its grace must take nothing.
        IInferenceCredit.AuthorizationState[] memory before = new IInferenceCredit.AuthorizationState[](c.length);
        for (uint256 i; i < c.length; ++i) before[i] = credit.authorizationOf(credit.authorizationId(c[i].holder, gateway, c[i].nonce));
        uint256 supplyBefore = credit.totalSupply();
        uint64 version = credit.priceVersion();
        bytes32 batchId = keccak256(abi.encode("usage", ++_nonce));
        vm.prank(gateway);
        credit.settleUsage(batchId, version, bytes32(0), act, c);
        spent += supplyBefore - credit.totalSupply();
        for (uint256 i; i < c.length; ++i) {
            (, uint256 after_) = _sums(c[i].holder);
            if (after_ < expiredBefore[i]) expiredSpent += expiredBefore[i] - after_;
            bytes32 id = credit.authorizationId(c[i].holder, gateway, c[i].nonce);
            // Its end as the handler knows it (the revocation it made, if sooner), not only as the contract stores it.
            uint256 end = before[i].expiresAt;
            if (_revokedAt[id] != 0 && _revokedAt[id] < end) end = _revokedAt[id];
            bool ended = before[i].status != IInferenceCredit.AuthorizationStatus.None && end + credit.SETTLEMENT_GRACE() <= currentTime;
            uint256 chargedNow = credit.authorizationOf(id).charged;
            if (ended && chargedNow > before[i].charged) chargedAfterGrace += chargedNow - before[i].charged;
        }
    }

    /// @dev What an arrival of `amount` paid of `holder`'s debt; counts a payment other than min(debt, amount).
    function _checkDebtPaid(address holder, uint256 debtBefore, uint256 amount) private returns (uint256 paid) {
        paid = debtBefore - credit.usageDebtOf(holder);
        if (paid != (amount < debtBefore ? amount : debtBefore)) ++debtMispaid;
    }

    function _track(bytes32 authId) private {
        if (_known[authId]) return;
        _known[authId] = true;
        authIds.push(authId);
    }

    function _sums(address h) private view returns (uint256 total, uint256 expired) {
        IInferenceCredit.Bucket[] memory bs = credit.bucketsOf(h);
        for (uint256 i; i < bs.length; ++i) {
            total += bs[i].amount;
            if (bs[i].expiresAt <= currentTime) expired += bs[i].amount;
        }
    }

    function _transferable(address h) private view returns (uint256 total) {
        IInferenceCredit.Bucket[] memory bs = credit.bucketsOf(h);
        for (uint256 i; i < bs.length; ++i) if (bs[i].transferable && bs[i].expiresAt > currentTime) total += bs[i].amount;
    }

    /// @dev A grant of (expiresAt, transferable) fits: a matching bucket, a free slot, or an expired one to sweep.
    function _hasRoom(address h, uint40 expiresAt, bool transferable) private view returns (bool) {
        IInferenceCredit.Bucket[] memory bs = credit.bucketsOf(h);
        if (bs.length < 8) return true;
        for (uint256 i; i < bs.length; ++i) {
            if (bs[i].expiresAt == expiresAt && bs[i].transferable == transferable) return true;
            if (bs[i].expiresAt <= currentTime) return true;
        }
        return false;
    }

    /// @dev Conservative: the receiver has at least as many free (or sweepable) slots as the sender has buckets.
    function _hasRoomForTransfer(address from, address to) private view returns (bool) {
        IInferenceCredit.Bucket[] memory bs = credit.bucketsOf(to);
        uint256 free = 8 - bs.length;
        for (uint256 i; i < bs.length; ++i) if (bs[i].expiresAt <= currentTime) ++free;
        return free >= credit.bucketsOf(from).length || from == to;
    }
}

/// @notice Invariants of InferenceCredit over random call sequences (see CreditHandler).
contract InferenceCreditInvariantTest is InferenceCreditBase {
    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    CreditHandler internal handler;

    function setUp() public override {
        super.setUp();
        uint256[] memory keys = new uint256[](EMPLOYEE_COUNT);
        for (uint256 i; i < EMPLOYEE_COUNT; ++i) keys[i] = _employeeKey(i);
        handler = new CreditHandler(credit, token, hr, gateway, pauser, attacker, employees, keys, now_);
        vm.label(address(handler), "handler");
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    function targetSelectors() public view returns (FuzzSelector[] memory targets) {
        bytes4[] memory s = new bytes4[](14);
        s[0] = CreditHandler.grant.selector;
        s[1] = CreditHandler.clawback.selector;
        s[2] = CreditHandler.toggleHolder.selector;
        s[3] = CreditHandler.transfer.selector;
        s[4] = CreditHandler.forbiddenTransfer.selector;
        s[5] = CreditHandler.authorizeAndCharge.selector;
        s[6] = CreditHandler.charge.selector;
        s[7] = CreditHandler.revoke.selector;
        s[8] = CreditHandler.attackerCall.selector;
        s[9] = CreditHandler.sweep.selector;
        s[10] = CreditHandler.warp.selector;
        s[11] = CreditHandler.pauseAndSettle.selector;
        s[12] = CreditHandler.revokeThenSettleLate.selector;
        s[13] = CreditHandler.moveOutThenSettle.selector;
        targets = new FuzzSelector[](1);
        targets[0] = FuzzSelector(address(handler), s);
    }

    /// @notice granted == live balances (incl. expired not swept) + spent + expired swept + clawed back.
    function invariant_creditsAreConserved() public view {
        uint256 live;
        for (uint256 i; i < handler.holderCount(); ++i) {
            IInferenceCredit.Bucket[] memory bs = credit.bucketsOf(handler.holders(i));
            for (uint256 j; j < bs.length; ++j) live += bs[j].amount;
        }
        assertEq(credit.totalSupply(), live, "totalSupply == sum of buckets");
        assertEq(
            handler.granted(),
            live + handler.spent() + handler.debtPaid() + handler.expiredSwept() + handler.clawedBack(),
            "granted == live + spent + debt paid + swept + clawed"
        );
    }

    /// @notice Usage debt: a holder who owes holds no unexpired credits (a charge incurs debt only once it
    /// has emptied them, and credits arriving pay it first, exactly min(debt, what arrived)).
    function invariant_debtOnlyWithoutCredits() public view {
        assertEq(handler.debtMispaid(), 0, "arrivals that paid other than min(debt, arrived), or a debtor that sent credits");
        for (uint256 i; i < handler.holderCount(); ++i) {
            address h = handler.holders(i);
            if (credit.usageDebtOf(h) != 0) assertEq(credit.balanceOf(h), 0, "a holder in debt holds no unexpired credits");
        }
    }

    /// @notice Per authorization, charged <= cap; all charged counters together are what was spent at
    /// settlement, plus the debt incurred (paid since, or still owed).
    function invariant_chargesWithinCaps() public view {
        uint256 charged;
        for (uint256 i; i < handler.authCount(); ++i) {
            IInferenceCredit.AuthorizationState memory s = credit.authorizationOf(handler.authIds(i));
            assertLe(s.charged, s.cap, "charged <= cap");
            charged += s.charged;
        }
        uint256 owed;
        for (uint256 i; i < handler.holderCount(); ++i) owed += credit.usageDebtOf(handler.holders(i));
        assertEq(charged, handler.spent() + handler.debtPaid() + owed, "sum of charged counters == spent + debt paid + debt owed");
    }

    /// @notice No bucket past its expiry was ever spent; buckets stay sorted, bounded and non-empty.
    function invariant_bucketsWellFormedAndExpiredNeverSpent() public view {
        assertEq(handler.expiredSpent(), 0, "expired credits spent");
        assertEq(handler.chargedAfterGrace(), 0, "charged more than SETTLEMENT_GRACE after an authorization's end");
        for (uint256 i; i < handler.holderCount(); ++i) {
            IInferenceCredit.Bucket[] memory bs = credit.bucketsOf(handler.holders(i));
            assertLe(bs.length, 8, "bucket bound");
            for (uint256 j; j < bs.length; ++j) {
                assertTrue(bs[j].amount > 0, "no empty bucket");
                if (j > 0) {
                    bool ordered = bs[j - 1].expiresAt < bs[j].expiresAt ||
                        (bs[j - 1].expiresAt == bs[j].expiresAt && !bs[j - 1].transferable && bs[j].transferable);
                    assertTrue(ordered, "sorted, one bucket per key");
                }
            }
        }
    }

    function invariant_forbiddenNeverSucceeds() public view {
        assertEq(handler.forbiddenSuccesses(), 0, "forbidden moves that went through");
    }
}
