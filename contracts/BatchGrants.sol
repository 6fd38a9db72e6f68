// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IBatchErrors
/// @notice The errors of the batch entry points both tokens share (grants, allow-list changes, sweeps):
/// ComputeToken's and InferenceCredit's interfaces inherit them, so each is declared once.
interface IBatchErrors {
    /// @notice `account` is not on ComputeToken's allow-list.
    error NotHolder(address account);
    error BatchAlreadyGranted(bytes32 batchRef);
    error InvalidBatchRef(bytes32 batchRef);
    error EmptyBatch();
    error BatchTooLarge(uint256 length, uint256 max);
    error LengthMismatch(uint256 a, uint256 b);
    error ZeroAmount(uint256 index);
}

/// @title BatchGrants
/// @notice What both tokens' grant batches share: the bound on a batch's length, and a `batchRef`
/// (e.g. the hash of a payroll run's rows in the chunk) that lands once.
abstract contract BatchGrants is IBatchErrors {
    /// @notice Most entries in one batch (grant, onboarding list, sweep, clawback, recovery, usage batch).
    uint256 public constant MAX_BATCH = 256;

    /// @notice Whether a grant batch of this reference has landed.
    mapping(bytes32 batchRef => bool) public batchGranted;

    /// @dev Reverts unless a batch has 1 to {MAX_BATCH} entries.
    function _checkBatchLength(uint256 n) internal pure {
        if (n == 0) revert EmptyBatch();
        if (n > MAX_BATCH) revert BatchTooLarge(n, MAX_BATCH);
    }

    /// @dev Reverts unless `batchRef` is non-zero and has not landed; then records that it has.
    function _recordBatchRef(bytes32 batchRef) internal {
        if (batchRef == bytes32(0)) revert InvalidBatchRef(batchRef);
        if (batchGranted[batchRef]) revert BatchAlreadyGranted(batchRef);
        batchGranted[batchRef] = true;
    }
}
