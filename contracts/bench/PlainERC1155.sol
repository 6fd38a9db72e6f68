// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";

/// @title PlainERC1155
/// @notice Gas baseline for `npm run bench:gas`: a plain OpenZeppelin ERC-1155, compiled with the same
/// settings as ComputeToken. Not part of the product.
/// @dev No access control and no extensions on purpose: it is what ComputeToken's grant, transfer and burn
/// are compared against. `mintMany` has the calldata shape of `ComputeToken.grantBatch` minus `batchRef`.
contract PlainERC1155 is ERC1155 {
    error LengthMismatch(uint256 a, uint256 b);

    constructor() ERC1155("") {}

    /// @notice Mints `amounts[i]` of `ids[i]` to `to[i]`, one `_mint` (and one TransferSingle) per entry.
    function mintMany(address[] calldata to, uint256[] calldata ids, uint256[] calldata amounts) external {
        uint256 n = to.length;
        if (ids.length != n) revert LengthMismatch(n, ids.length);
        if (amounts.length != n) revert LengthMismatch(n, amounts.length);
        for (uint256 i; i < n; ++i) {
            _mint(to[i], ids[i], amounts[i], "");
        }
    }

    /// @notice Mints `amount` of `id` to `to`.
    function mint(address to, uint256 id, uint256 amount) external {
        _mint(to, id, amount, "");
    }

    /// @notice Burns `amount` of `id` from the caller.
    function burn(uint256 id, uint256 amount) external {
        _burn(_msgSender(), id, amount);
    }
}
