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
/// @dev The landed refs live in ERC-7201 namespaced storage, as OpenZeppelin 5.x keeps a base's state:
/// the tokens' sequential layouts stay as they were (ERC1155's balances at slot 0, Pausable's flag
/// packed with the AccessManager's slot).
abstract contract BatchGrants is IBatchErrors {
    /// @notice Most entries in one batch (grant, onboarding list, sweep, clawback, recovery, usage batch).
    uint256 public constant MAX_BATCH = 256;

    /// @custom:storage-location erc7201:compute-tokens.storage.BatchGrants
    struct BatchGrantsStorage {
        mapping(bytes32 batchRef => bool) granted;
    }

    // keccak256(abi.encode(uint256(keccak256("compute-tokens.storage.BatchGrants")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant BATCH_GRANTS_STORAGE = 0x1a9c8da330f57e6003b4c7da2da110cf9e5a640041a0ffa02a22a7dbb3413e00;

    /// @notice Whether a grant batch of this reference has landed.
    function batchGranted(bytes32 batchRef) external view returns (bool) {
        return _batchGrantsStorage().granted[batchRef];
    }

    /// @dev Reverts unless a batch has 1 to {MAX_BATCH} entries.
    function _checkBatchLength(uint256 n) internal pure {
        if (n == 0) revert EmptyBatch();
        if (n > MAX_BATCH) revert BatchTooLarge(n, MAX_BATCH);
    }

    /// @dev Reverts unless a batch has 1 to {MAX_BATCH} rows and its parallel array (`length` entries) one a row.
    function _checkBatchLengths(uint256 n, uint256 length) internal pure {
        _checkBatchLength(n);
        if (length != n) revert LengthMismatch(n, length);
    }

    /// @dev Reverts unless `batchRef` is non-zero and has not landed; then records that it has.
    function _recordBatchRef(bytes32 batchRef) internal {
        if (batchRef == bytes32(0)) revert InvalidBatchRef(batchRef);
        BatchGrantsStorage storage $ = _batchGrantsStorage();
        if ($.granted[batchRef]) revert BatchAlreadyGranted(batchRef);
        $.granted[batchRef] = true;
    }

    function _batchGrantsStorage() private pure returns (BatchGrantsStorage storage $) {
        assembly ("memory-safe") {
            $.slot := BATCH_GRANTS_STORAGE
        }
    }
}
