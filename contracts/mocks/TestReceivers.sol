// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC1155Holder} from "@openzeppelin/contracts/token/ERC1155/utils/ERC1155Holder.sol";

/// @notice Test doubles of allow-listed contract holders (a Safe, a team vault): one that accepts
/// ERC-1155 units, one whose receiver hook reverts and one whose hook burns all the gas it gets.
/// Not deployed anywhere but in tests.
contract AcceptingReceiver is ERC1155Holder {}

contract RevertingReceiver {
    error NotAccepting();

    function onERC1155Received(address, address, uint256, uint256, bytes calldata) external pure returns (bytes4) {
        revert NotAccepting();
    }

    function onERC1155BatchReceived(
        address,
        address,
        uint256[] calldata,
        uint256[] calldata,
        bytes calldata
    ) external pure returns (bytes4) {
        revert NotAccepting();
    }
}

contract GasBurningReceiver {
    uint256 public spins;

    function onERC1155Received(address, address, uint256, uint256, bytes calldata) external returns (bytes4) {
        for (;;) ++spins;
    }
}
