// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";
import {Vm, VM} from "./Vm.t.sol";

/// @notice Minimal assertion and fuzz-input helpers (a small stand-in for forge-std's `Test`).
/// A failed assertion reverts with a message that carries both sides, which fails the test.
abstract contract TestBase {
    Vm internal constant vm = VM;

    // ─────────────────────────── assertions ──────────────────────────

    function fail(string memory message) internal pure {
        revert(message);
    }

    function assertTrue(bool condition, string memory message) internal pure {
        if (!condition) fail(message);
    }

    function assertFalse(bool condition, string memory message) internal pure {
        if (condition) fail(message);
    }

    function assertEq(uint256 left, uint256 right, string memory message) internal pure {
        if (left != right) {
            fail(string.concat(message, ": ", Strings.toString(left), " != ", Strings.toString(right)));
        }
    }

    function assertEq(address left, address right, string memory message) internal pure {
        if (left != right) {
            fail(string.concat(message, ": ", Strings.toHexString(left), " != ", Strings.toHexString(right)));
        }
    }

    function assertEq(bytes32 left, bytes32 right, string memory message) internal pure {
        if (left != right) {
            fail(
                string.concat(
                    message,
                    ": ",
                    Strings.toHexString(uint256(left), 32),
                    " != ",
                    Strings.toHexString(uint256(right), 32)
                )
            );
        }
    }

    function assertEq(bool left, bool right, string memory message) internal pure {
        if (left != right) fail(string.concat(message, left ? ": true != false" : ": false != true"));
    }

    function assertLe(uint256 left, uint256 right, string memory message) internal pure {
        if (left > right) {
            fail(string.concat(message, ": ", Strings.toString(left), " > ", Strings.toString(right)));
        }
    }

    function assertGe(uint256 left, uint256 right, string memory message) internal pure {
        if (left < right) {
            fail(string.concat(message, ": ", Strings.toString(left), " < ", Strings.toString(right)));
        }
    }

    // ─────────────────────────── fuzz inputs ─────────────────────────

    /// @dev Maps `x` into [min, max]; values already inside are kept, so boundary values the fuzzer
    /// finds stay boundary values.
    function bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        if (min > max) fail("bound: min > max");
        if (x >= min && x <= max) return x;
        uint256 size = max - min + 1; // 0 only for the full uint256 range, which keeps every x above
        return min + (x % size);
    }

    /// @dev A deterministic, labelled address with no code (an EOA: ERC-1155 mints to it make no call).
    function makeAddr(string memory name) internal returns (address account) {
        account = vm.addr(uint256(keccak256(bytes(name))));
        vm.label(account, name);
    }
}
