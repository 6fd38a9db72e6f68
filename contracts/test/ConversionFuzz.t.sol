// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC1155Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {ComputeToken} from "../ComputeToken.sol";
import {IComputeToken} from "../IComputeToken.sol";
import {ComputeTokenBase} from "./utils/ComputeTokenBase.t.sol";

/// @notice Fuzz tests of conversions between hardware generations: exact conversions conserve value
/// at the rate and keep expiry and policy; inexact ones revert.
contract ConversionFuzzTest is ComputeTokenBase {
    uint256 private constant MAX_RATE_TERM = 1e6;

    address private alice;

    function setUp() public override {
        super.setUp();
        alice = employees[0];
    }

    /// @dev Rates derive from class values: value(from) = numerator, value(to) = denominator, applied
    /// after the value delay.
    function _setRate(uint32 from, uint32 to, uint256 numerator, uint256 denominator) private {
        vm.startPrank(ops);
        token.setClassValue(from, uint64(numerator));
        token.setClassValue(to, uint64(denominator));
        vm.stopPrank();
        _warp(now_ + 3 days); // ComputeToken's VALUE_DELAY
    }

    function _gcd(uint256 a, uint256 b) private pure returns (uint256) {
        while (b != 0) (a, b) = (b, a % b);
        return a;
    }

    /// @notice An exact conversion burns `amount` from the lot and mints amount × n / d into the
    /// same expiry and policy of the target class: value is conserved at the rate.
    function testFuzz_convert_exactConversionConservesValueAtTheRate(
        uint256 numerator,
        uint256 denominator,
        uint256 multiple,
        uint256 extra,
        uint256 expiresIn,
        bool transferable
    ) public {
        numerator = bound(numerator, 1, MAX_RATE_TERM);
        denominator = bound(denominator, 1, MAX_RATE_TERM);
        uint256 step = denominator / _gcd(numerator, denominator); // smallest exactly-convertible amount
        uint256 amount = step * bound(multiple, 1, 1e6);
        extra = bound(extra, 0, 1e12);
        _setRate(h100, b200, numerator, denominator);
        uint256 expiresAt = now_ + bound(expiresIn, 1, 3650 days);
        uint256 fromLot = _lot(h100, expiresAt, transferable);
        _grant(alice, fromLot, amount + extra);

        vm.prank(alice);
        (uint256 toLot, uint256 amountOut) = token.convert(fromLot, amount, b200);

        assertEq(toLot, _lot(b200, expiresAt, transferable), "same expiry and policy, target class");
        assertEq(amountOut * denominator, amount * numerator, "out / in == numerator / denominator");
        assertEq(token.balanceOf(alice, fromLot), extra, "source burnt by amount");
        assertEq(token.balanceOf(alice, toLot), amountOut, "target minted amountOut");
        assertEq(token.totalSupply(fromLot), extra, "source lot supply");
        assertEq(token.totalSupply(toLot), amountOut, "target lot supply");
        assertTrue(_listed(b200, toLot), "target lot registered");
        assertEq(token.redeemableBalanceOf(alice, b200), amountOut, "converted units redeemable in the new class");
    }

    /// @notice Converting there and back (rates derive from one value per class) returns exactly what was converted.
    function testFuzz_convert_roundTripAtReciprocalRatesIsLossless(
        uint256 numerator,
        uint256 denominator,
        uint256 multiple
    ) public {
        numerator = bound(numerator, 1, MAX_RATE_TERM);
        denominator = bound(denominator, 1, MAX_RATE_TERM);
        uint256 g = _gcd(numerator, denominator);
        // amount × n / d must be exact, and so must its conversion back (× d / n).
        uint256 amount = (denominator / g) * bound(multiple, 1, 1e6);
        _setRate(a100, h100, numerator, denominator); // and so h100 → a100 at denominator / numerator
        uint256 fromLot = _lot(a100, now_ + 90 days, false);
        _grant(alice, fromLot, amount);

        vm.startPrank(alice);
        (uint256 toLot, uint256 out) = token.convert(fromLot, amount, h100);
        (uint256 backLot, uint256 back) = token.convert(toLot, out, a100);
        vm.stopPrank();

        assertEq(backLot, fromLot, "back into the very same lot");
        assertEq(back, amount, "round trip is lossless");
        assertEq(token.balanceOf(alice, fromLot), amount, "balance restored");
        assertEq(token.balanceOf(alice, toLot), 0, "nothing left in the target lot");
    }

    /// @notice An amount that does not convert exactly reverts with the amount and the rate.
    function testFuzz_convert_inexactConversionReverts(uint256 numerator, uint256 denominator, uint256 amount) public {
        numerator = bound(numerator, 1, MAX_RATE_TERM);
        denominator = bound(denominator, 2, MAX_RATE_TERM);
        amount = bound(amount, 1, 1e15);
        vm.assume((amount * numerator) % denominator != 0);
        _setRate(h100, b200, numerator, denominator);
        uint256 fromLot = _lot(h100, now_ + 30 days, true);
        _grant(alice, fromLot, amount);

        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(
                IComputeToken.InexactConversion.selector,
                amount,
                uint64(numerator),
                uint64(denominator)
            )
        );
        token.convert(fromLot, amount, b200);
        assertEq(token.balanceOf(alice, fromLot), amount, "nothing burnt");
    }

    /// @notice Expired units do not convert.
    function testFuzz_convert_expiredLotReverts(uint256 amount, uint256 lateBy) public {
        amount = bound(amount, 1, 1e15);
        _setRate(h100, b200, 1, 1);
        uint256 expiresAt = now_ + 1 days;
        uint256 fromLot = _lot(h100, expiresAt, true);
        _grant(alice, fromLot, amount);
        _warp(expiresAt + bound(lateBy, 0, 365 days));
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IComputeToken.LotExpired.selector, fromLot, uint64(expiresAt)));
        token.convert(fromLot, amount, b200);
    }

    /// @notice Without a rate (or with it switched off) there is no conversion.
    function testFuzz_convert_withoutRateReverts(uint256 amount, bool switchedOff) public {
        amount = bound(amount, 1, 1e15);
        uint256 fromLot = _lot(h100, now_ + 30 days, true);
        _grant(alice, fromLot, amount);
        if (switchedOff) {
            _setRate(h100, b200, 3, 2);
            _setRate(h100, b200, 0, 0);
        }
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IComputeToken.ConversionNotAvailable.selector, h100, b200));
        token.convert(fromLot, amount, b200);
    }

    /// @notice Converting more than the lot holds reverts and moves nothing.
    function testFuzz_convert_moreThanHeldReverts(uint256 held, uint256 amount) public {
        held = bound(held, 1, 1e15);
        amount = bound(amount, held + 1, 2e15);
        uint256 fromLot = _lot(h100, now_ + 30 days, true);
        _setRate(h100, b200, 1, 1);
        _grant(alice, fromLot, held);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IERC1155Errors.ERC1155InsufficientBalance.selector, alice, held, amount, fromLot)
        );
        token.convert(fromLot, amount, b200);
    }
}
