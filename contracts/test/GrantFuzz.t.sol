// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IAccessManaged} from "@openzeppelin/contracts/access/manager/IAccessManaged.sol";
import {ComputeToken} from "../ComputeToken.sol";
import {IBatchErrors} from "../BatchGrants.sol";
import {IComputeToken} from "../IComputeToken.sol";
import {LotIds} from "../LotIds.sol";
import {ComputeTokenBase} from "./utils/ComputeTokenBase.t.sol";

/// @notice Fuzz tests of `grantBatch`: amounts, expiries, batch sizes, and a batchRef that lands once.
contract GrantFuzzTest is ComputeTokenBase {
    uint256 private constant MAX_EXPIRY_AHEAD = 10 * 365 days;

    struct Batch {
        bytes32 ref;
        address[] recipients;
        uint256[] lotIds;
        uint256[] amounts;
        uint256 total;
    }

    /// @dev A batch of `n` valid entries drawn from `seed`: random employees, classes, expiries,
    /// policies and amounts (entries may repeat a recipient and lot).
    function _batch(uint256 seed, uint256 n, uint256 maxAmount) private returns (Batch memory b) {
        b.ref = _nextBatchRef();
        b.recipients = new address[](n);
        b.lotIds = new uint256[](n);
        b.amounts = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            b.recipients[i] = employees[r % EMPLOYEE_COUNT];
            uint32 classId = uint32(1 + ((r >> 8) % 3));
            // Few distinct expiries so that entries share lots.
            uint256 expiresAt = now_ + 1 + ((r >> 16) % 4) * 30 days + ((seed >> 32) % MAX_EXPIRY_AHEAD);
            b.lotIds[i] = _lot(classId, expiresAt, (r >> 24) & 1 == 1);
            b.amounts[i] = bound(r >> 32, 1, maxAmount);
            b.total += b.amounts[i];
        }
    }

    function _expectedGain(Batch memory b, address holder, uint256 lotId) private pure returns (uint256 gain) {
        for (uint256 j; j < b.recipients.length; ++j) {
            if (b.recipients[j] == holder && b.lotIds[j] == lotId) gain += b.amounts[j];
        }
    }

    /// @notice Every entry of a valid batch lands, once; the same batchRef again mints nothing.
    function testFuzz_grantBatch_mintsEveryEntryAndLandsOnce(uint256 seed, uint256 size, uint256 maxAmount) public {
        uint256 n = bound(size, 1, 64);
        maxAmount = bound(maxAmount, 1, 1e15);
        Batch memory b = _batch(seed, n, maxAmount);

        uint256[] memory before = new uint256[](n);
        for (uint256 i; i < n; ++i) before[i] = token.balanceOf(b.recipients[i], b.lotIds[i]);
        uint256 supplyBefore = token.totalSupply();

        vm.prank(hr);
        token.grantBatch(b.ref, b.recipients, b.lotIds, b.amounts);

        assertTrue(token.batchGranted(b.ref), "batch recorded");
        assertEq(token.totalSupply(), supplyBefore + b.total, "supply grew by the batch total");
        for (uint256 i; i < n; ++i) {
            assertEq(
                token.balanceOf(b.recipients[i], b.lotIds[i]),
                before[i] + _expectedGain(b, b.recipients[i], b.lotIds[i]),
                "recipient balance"
            );
            assertTrue(_listed(LotIds.classOf(b.lotIds[i]), b.lotIds[i]), "lot registered");
        }

        // The same payroll file run twice mints nothing the second time.
        vm.prank(hr);
        vm.expectRevert(abi.encodeWithSelector(IBatchErrors.BatchAlreadyGranted.selector, b.ref));
        token.grantBatch(b.ref, b.recipients, b.lotIds, b.amounts);
        assertEq(token.totalSupply(), supplyBefore + b.total, "replay minted nothing");
    }

    /// @notice A batch holding one expired lot reverts whole, and its batchRef stays usable.
    function testFuzz_grantBatch_rejectsExpiredLotAndKeepsRefUnused(
        uint256 seed,
        uint256 size,
        uint256 badIndex,
        uint256 age
    ) public {
        uint256 n = bound(size, 1, 32);
        Batch memory b = _batch(seed, n, 1e12);
        uint256 k = bound(badIndex, 0, n - 1);
        uint256 expiredAt = now_ - bound(age, 0, now_ - 1); // expiresAt <= now: already expired
        uint256 goodLot = b.lotIds[k];
        b.lotIds[k] = _lot(a100, expiredAt, seed & 1 == 1);

        vm.prank(hr);
        vm.expectRevert(abi.encodeWithSelector(IComputeToken.LotExpired.selector, b.lotIds[k], uint64(expiredAt)));
        token.grantBatch(b.ref, b.recipients, b.lotIds, b.amounts);
        assertFalse(token.batchGranted(b.ref), "a failed batch does not use up its ref");

        b.lotIds[k] = goodLot;
        vm.prank(hr);
        token.grantBatch(b.ref, b.recipients, b.lotIds, b.amounts);
        assertTrue(token.batchGranted(b.ref), "ref lands on the corrected batch");
    }

    /// @notice Grants only reach allow-listed holders.
    function testFuzz_grantBatch_rejectsNonHolder(address who, uint256 amount) public {
        vm.assume(who != address(0) && !token.isHolder(who));
        amount = bound(amount, 1, 1e18);
        address[] memory recipients = new address[](1);
        recipients[0] = who;
        uint256[] memory amounts = new uint256[](1);
        amounts[0] = amount;
        bytes32 ref = _nextBatchRef();
        vm.prank(hr);
        vm.expectRevert(abi.encodeWithSelector(IBatchErrors.NotHolder.selector, who));
        token.grantBatch(ref, recipients, _one(_lot(h100, now_ + 30 days, true)), amounts);
    }

    /// @notice A zero amount anywhere in the batch is named by its index.
    function testFuzz_grantBatch_rejectsZeroAmount(uint256 seed, uint256 size, uint256 zeroIndex) public {
        uint256 n = bound(size, 1, 32);
        Batch memory b = _batch(seed, n, 1e12);
        uint256 k = bound(zeroIndex, 0, n - 1);
        b.amounts[k] = 0;
        vm.prank(hr);
        vm.expectRevert(abi.encodeWithSelector(IBatchErrors.ZeroAmount.selector, k));
        token.grantBatch(b.ref, b.recipients, b.lotIds, b.amounts);
    }

    /// @notice Batches are capped at MAX_BATCH entries.
    function testFuzz_grantBatch_rejectsBatchOverCap(uint256 size) public {
        uint256 max = token.MAX_BATCH();
        uint256 n = bound(size, max + 1, max + 64);
        address[] memory recipients = new address[](n);
        uint256[] memory lotIds = new uint256[](n);
        uint256[] memory amounts = new uint256[](n);
        bytes32 ref = _nextBatchRef();
        vm.prank(hr);
        vm.expectRevert(abi.encodeWithSelector(IBatchErrors.BatchTooLarge.selector, n, max));
        token.grantBatch(ref, recipients, lotIds, amounts);
    }

    /// @notice Arrays of different lengths are refused with both lengths.
    function testFuzz_grantBatch_rejectsLengthMismatch(uint256 size, uint256 otherSize) public {
        uint256 n = bound(size, 1, 16);
        uint256 m = bound(otherSize, 0, 16);
        vm.assume(m != n);
        bytes32 ref = _nextBatchRef();
        vm.prank(hr);
        vm.expectRevert(abi.encodeWithSelector(IBatchErrors.LengthMismatch.selector, n, m));
        token.grantBatch(ref, new address[](n), new uint256[](m), new uint256[](n));
    }

    /// @notice Only HR can grant (the AccessManager admin administers roles but holds none of them).
    function testFuzz_grantBatch_onlyHr(address caller) public {
        vm.assume(caller != hr);
        address[] memory recipients = new address[](1);
        recipients[0] = employees[0];
        bytes32 ref = _nextBatchRef();
        vm.prank(caller);
        vm.expectRevert(abi.encodeWithSelector(IAccessManaged.AccessManagedUnauthorized.selector, caller));
        token.grantBatch(ref, recipients, _one(_lot(h100, now_ + 1 days, true)), _one(3600));
    }

    /// @notice A lot id that does not decode (high bits, class 0, unknown policy) is refused.
    function testFuzz_grantBatch_rejectsMalformedLotId(uint256 raw, uint8 kind) public {
        uint256 lotId;
        kind = kind % 3;
        if (kind == 0) {
            lotId = raw | (uint256(1) << 255); // bits above 104 set
        } else if (kind == 1) {
            lotId = raw & ((uint256(1) << 72) - 1) & ~uint256(0xff); // class 0, soulbound
        } else {
            lotId = (raw & ~uint256(0xff)) | bound(raw & 0xff, 2, 0xff); // unknown policy
        }
        bytes32 ref = _nextBatchRef();
        vm.prank(hr);
        vm.expectRevert(abi.encodeWithSelector(LotIds.InvalidLotId.selector, lotId));
        token.grantBatch(ref, _holders(1), _one(lotId), _one(1));
    }

    /// @notice Lot id 0 (class 0) is malformed like any other; it must not slip past the lot check.
    function test_grantBatch_rejectsLotIdZero() public {
        bytes32 ref = _nextBatchRef();
        vm.prank(hr);
        vm.expectRevert(abi.encodeWithSelector(LotIds.InvalidLotId.selector, uint256(0)));
        token.grantBatch(ref, _holders(1), _one(0), _one(1));
    }

    /// @notice Retired classes take no new grants.
    function testFuzz_grantBatch_rejectsRetiredClass(uint256 classSeed, uint256 expiresIn) public {
        uint32 classId = uint32(bound(classSeed, 1, 3));
        uint256 lotId = _lot(classId, now_ + bound(expiresIn, 1, MAX_EXPIRY_AHEAD), true);
        vm.prank(ops);
        token.retireClass(classId);
        bytes32 ref = _nextBatchRef();
        vm.prank(hr);
        vm.expectRevert(abi.encodeWithSelector(IComputeToken.ClassNotActive.selector, classId));
        token.grantBatch(ref, _holders(1), _one(lotId), _one(1));
    }

    function _holders(uint256 n) private view returns (address[] memory a) {
        a = new address[](n);
        for (uint256 i; i < n; ++i) a[i] = employees[i % EMPLOYEE_COUNT];
    }
}
