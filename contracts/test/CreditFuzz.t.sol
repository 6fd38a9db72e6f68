// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IInferenceCredit} from "../IInferenceCredit.sol";
import {InferenceCreditBase} from "./utils/InferenceCreditBase.t.sol";

/// @notice Fuzz tests of InferenceCredit: grants into buckets, charges within caps and unexpired balance,
/// transfers of transferable buckets, expiry.
contract CreditFuzzTest is InferenceCreditBase {
    uint256 private constant MAX_GRANT = 1e15;

    /// @notice Any grants (amounts, expiries on a small grid, policies) sum into sorted buckets whose
    /// total is the balance, and total supply is what was granted.
    function testFuzz_grantsSumIntoSortedBuckets(uint256 seed, uint8 rounds) public {
        uint256 n = bound(rounds, 1, 12);
        address holder = employees[0];
        uint256 total;
        for (uint256 i; i < n; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            uint256 amount = bound(r, 1, MAX_GRANT);
            uint256 expiresAt = now_ + 1 days + ((r >> 64) % 4) * 1 days;
            _grantCredits(holder, amount, expiresAt, (r >> 128) & 1 == 1);
            total += amount;
        }
        IInferenceCredit.Bucket[] memory bs = credit.bucketsOf(holder);
        assertLe(bs.length, 8, "at most 8 buckets");
        for (uint256 i = 1; i < bs.length; ++i) {
            bool ordered = bs[i - 1].expiresAt < bs[i].expiresAt ||
                (bs[i - 1].expiresAt == bs[i].expiresAt && !bs[i - 1].transferable && bs[i].transferable);
            assertTrue(ordered, "buckets sorted by (expiry, soulbound first), no duplicates");
        }
        assertEq(credit.balanceOf(holder), total, "balance == granted");
        assertEq(credit.totalSupply(), total, "supply == granted");
    }

    /// @notice Charges under one authorization never exceed its cap, never burn more than the unexpired
    /// balance (the rest is owed as debt), whatever the requested amounts, and never touch an expired bucket.
    function testFuzz_chargesStayWithinCapAndBalance(uint256 cap, uint256 granted, uint256[4] memory amounts, uint256 warpBy) public {
        cap = bound(cap, 1, 10 * MAX_GRANT);
        granted = bound(granted, 1, MAX_GRANT);
        address holder = employees[1];
        _grantCredits(holder, granted, now_ + 10 days, false);
        _grantCredits(holder, 7, now_ + 1 days, false);
        IInferenceCredit.SignedAuthorization[] memory act = new IInferenceCredit.SignedAuthorization[](1);
        act[0] = _sign(_employeeKey(1), _authorization(holder, cap, now_ + 20 days, 1));
        _settle(act, new IInferenceCredit.Charge[](0));
        _warp(now_ + bound(warpBy, 0, 2 days));
        (, uint256 expiredBefore) = _sumBuckets(holder);
        uint256 charged;
        for (uint256 i; i < 4; ++i) {
            uint256 before = credit.balanceOf(holder);
            _settle(_noActivations(), _charge(holder, 1, bound(amounts[i], 0, 2 * MAX_GRANT)));
            charged += before - credit.balanceOf(holder);
        }
        bytes32 authId = credit.authorizationId(holder, gateway, 1);
        uint256 owed = credit.usageDebtOf(holder);
        assertEq(credit.authorizationOf(authId).charged, charged + owed, "charged counter == burned + owed");
        assertLe(charged + owed, cap, "charged + owed <= cap");
        if (owed != 0) assertEq(credit.balanceOf(holder), 0, "debt only once the unexpired balance is spent");
        (, uint256 expiredAfter) = _sumBuckets(holder);
        assertEq(expiredAfter, expiredBefore, "expired credits are never spent");
    }

    /// @notice A transfer moves exactly `amount` of unexpired transferable credits and nothing else.
    function testFuzz_transferMovesOnlyTransferable(uint256 soulbound, uint256 transferable, uint256 amount) public {
        soulbound = bound(soulbound, 1, MAX_GRANT);
        transferable = bound(transferable, 1, MAX_GRANT);
        amount = bound(amount, 1, transferable + soulbound);
        (address from, address to) = (employees[2], employees[3]);
        _grantCredits(from, soulbound, now_ + 2 days, false);
        _grantCredits(from, transferable, now_ + 3 days, true);
        vm.prank(from);
        if (amount > transferable) {
            vm.expectRevert();
            credit.transfer(to, amount);
            return;
        }
        credit.transfer(to, amount);
        assertEq(credit.balanceOf(to), amount, "receiver got amount");
        assertEq(credit.balanceOf(from), soulbound + transferable - amount, "sender lost amount");
        IInferenceCredit.Bucket[] memory bs = credit.bucketsOf(to);
        assertEq(bs.length, 1, "one bucket");
        assertTrue(bs[0].transferable, "received credits stay transferable");
        assertEq(bs[0].expiresAt, now_ + 3 days, "received credits keep their expiry");
    }

    /// @notice An authorization signed by any key but the holder's is refused.
    function testFuzz_foreignSignatureRefused(uint256 key) public {
        key = bound(key, 1, 1e30);
        vm.assume(key != _employeeKey(4));
        address holder = employees[4];
        IInferenceCredit.SignedAuthorization[] memory act = new IInferenceCredit.SignedAuthorization[](1);
        act[0] = _sign(key, _authorization(holder, 100, now_ + 1 days, 3));
        bytes32 id = _nextUsageId();
        vm.prank(gateway);
        vm.expectRevert(abi.encodeWithSelector(IInferenceCredit.InvalidAuthorizationSignature.selector, holder, uint64(3)));
        credit.settleUsage(id, 0, bytes32(0), act, new IInferenceCredit.Charge[](0));
    }
}
