// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title PlainERC20
/// @notice Gas baseline for `npm run bench:gas`: a plain OpenZeppelin ERC-20, compiled with the same
/// settings as InferenceCredit. Not part of the product.
/// @dev No access control and no extensions on purpose: it is what InferenceCredit's grant, settlement
/// burn and transfer are compared against. `mintMany` has the calldata shape of
/// `InferenceCredit.grantBatch` minus batchRef, expiry and policy; `burnMany` burns from many holders.
contract PlainERC20 is ERC20 {
    error LengthMismatch(uint256 a, uint256 b);

    constructor() ERC20("Plain", "PLN") {}

    /// @notice Mints `amounts[i]` to `to[i]`, one `_mint` (and one Transfer) per entry.
    function mintMany(address[] calldata to, uint256[] calldata amounts) external {
        uint256 n = to.length;
        if (amounts.length != n) revert LengthMismatch(n, amounts.length);
        for (uint256 i; i < n; ++i) {
            _mint(to[i], amounts[i]);
        }
    }

    /// @notice Burns `amounts[i]` from `from[i]`, one `_burn` per entry (what a settlement's charges do).
    function burnMany(address[] calldata from, uint256[] calldata amounts) external {
        uint256 n = from.length;
        if (amounts.length != n) revert LengthMismatch(n, amounts.length);
        for (uint256 i; i < n; ++i) {
            _burn(from[i], amounts[i]);
        }
    }
}
