// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @notice The few cheatcodes these tests use, served by Hardhat's Solidity test runner (EDR) at
/// the Foundry cheatcode address. (forge-std is not available here.)
/// @dev Named `.t.sol` so Hardhat treats it as test code: not deployed, not instrumented for coverage.
interface Vm {
    function warp(uint256 newTimestamp) external;
    function roll(uint256 newHeight) external;
    function getBlockTimestamp() external view returns (uint256);
    function prank(address msgSender) external;
    function startPrank(address msgSender) external;
    function stopPrank() external;
    function expectRevert(bytes calldata revertData) external;
    function expectRevert(bytes4 revertSelector) external;
    function expectRevert() external;
    function assume(bool condition) external pure;
    function label(address account, string calldata newLabel) external;
    function addr(uint256 privateKey) external pure returns (address);
    function sign(uint256 privateKey, bytes32 digest) external pure returns (uint8 v, bytes32 r, bytes32 s);
}

/// @dev The cheatcode address: address(uint160(uint256(keccak256("hevm cheat code")))).
Vm constant VM = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
