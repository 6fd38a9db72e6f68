// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IBatchErrors} from "./BatchGrants.sol";
import {LotIds} from "./LotIds.sol";

/// @title IComputeToken
/// @notice Types, events and errors of the compute token, as OpenZeppelin 5.x keeps them apart from the
/// implementation (ComputeToken.sol): what a caller, an indexer or an auditor reads.
interface IComputeToken is IBatchErrors {
    // ───────────────────────────── types ─────────────────────────────

    enum Priority {
        Low,
        Normal,
        High,
        Urgent
    }

    /// @dev Where an account stands on the allow-list. `Offboarded` accounts are not re-admitted by
    /// {onboard} (a re-run of an old employee list), only by {readmit}.
    enum Standing {
        None,
        Holder,
        Offboarded
    }

    enum RedemptionStatus {
        None,
        Requested,
        Running,
        Settled,
        Rejected,
        Reclaimed
    }

    /// @notice A redemption as returned by {getRedemption}.
    struct RedemptionView {
        address holder;
        uint32 classId;
        Priority priority;
        uint16 gpus;
        RedemptionStatus status;
        uint32 requestedAt;
        uint64 reclaimableAt;
        uint256 reserved;
        uint256 used;
        bytes32 specHash;
        uint256[] lotIds;
        uint256[] amounts;
    }

    // ───────────────────────────── events ────────────────────────────

    event ClassDefined(
        uint32 indexed classId,
        string name,
        string productLabel,
        uint32 memoryGiB,
        uint16 maxGpusPerJob
    );
    event ClassUpdated(uint32 indexed classId, string productLabel, uint32 memoryGiB, uint16 maxGpusPerJob);
    event ClassRetired(uint32 indexed classId);
    event ClassValueScheduled(uint32 indexed classId, uint64 value, uint64 effectiveAt);
    event LotUnlisted(uint256 indexed lotId, uint32 indexed classId);
    event RefundGraceSet(uint32 refundGrace);
    event GrantRefused(bytes32 indexed batchRef, address indexed recipient, uint256 indexed lotId, uint256 amount);
    event LotRegistered(
        uint256 indexed lotId,
        uint32 indexed classId,
        uint64 expiresAt,
        LotIds.TransferPolicy policy
    );
    event HolderOnboarded(address indexed account);
    event HolderOffboarded(address indexed account);
    event BatchGranted(bytes32 indexed batchRef, address indexed operator, uint256 recipients, uint256 units);
    event Expired(address indexed holder, uint256 indexed lotId, uint256 amount);
    event ClawedBack(address indexed holder, uint256 indexed lotId, uint256 amount);
    event AccountRecovered(address indexed lost, address indexed replacement, uint256 lots);
    event PriorityMultiplierSet(Priority indexed priority, uint16 bps);
    event LaunchTimeoutSet(uint32 launchTimeout);
    event Converted(
        address indexed holder,
        uint256 indexed fromLotId,
        uint256 indexed toLotId,
        uint256 amountIn,
        uint256 amountOut
    );
    event RedemptionRequested(
        uint256 indexed id,
        address indexed holder,
        uint32 indexed classId,
        Priority priority,
        uint16 gpus,
        uint32 seconds_,
        uint256 reserved,
        bytes32 specHash,
        bytes spec
    );
    event RedemptionRunning(uint256 indexed id, bytes32 jobRef);
    event RedemptionSettled(
        uint256 indexed id,
        address indexed holder,
        uint256 used,
        uint256 refunded,
        bytes32 receiptHash
    );
    event RedemptionRejected(uint256 indexed id, address indexed holder, uint16 reasonCode, uint256 refunded);
    event RedemptionReclaimed(uint256 indexed id, address indexed holder, uint256 refunded);

    // ───────────────────────────── errors ────────────────────────────

    error UnknownClass(uint32 classId);
    error ClassNotActive(uint32 classId);
    error ClassNameTaken(string name, uint32 classId);
    error InvalidClassName(string name);
    error InvalidProductLabel(string productLabel);
    error InvalidMaxGpus(uint16 maxGpusPerJob);
    error TooManyLots(uint32 classId, uint256 max);
    error InvalidHolder(address account);
    error LotExpired(uint256 lotId, uint64 expiredAt);
    error LotNotExpired(uint256 lotId, uint64 expiresAt);
    error LotSoulbound(uint256 lotId);
    error LotClassMismatch(uint256 lotId, uint32 classId);
    error DuplicateLot(uint256 lotId);
    error LotCountOutOfRange(uint256 count, uint256 max);
    error ApprovalsDisabled();
    error InvalidMultiplier(uint16 bps);
    error InvalidLaunchTimeout(uint32 launchTimeout);
    error InvalidClassValue(uint32 classId, uint64 value, uint64 current);
    error InvalidRefundGrace(uint32 refundGrace);
    error HolderWasOffboarded(address account);
    error ReceiverGasTooLow(address recipient, uint256 gasLeft);
    error SameClass(uint32 classId);
    error ConversionNotAvailable(uint32 fromClassId, uint32 toClassId);
    error InexactConversion(uint256 amountIn, uint64 numerator, uint64 denominator);
    error InvalidJobShape(uint16 gpus, uint32 seconds_);
    error GpuCountOutOfRange(uint32 classId, uint16 gpus, uint16 maxGpusPerJob);
    error SpecTooLarge(uint256 size, uint256 max);
    error InsufficientBalance(uint32 classId, uint256 required, uint256 available);
    error UnknownRedemption(uint256 id);
    error InvalidRedemptionStatus(uint256 id, RedemptionStatus status);
    error SettleExceedsReserve(uint256 id, uint256 used, uint256 reserved);
    error NotRedemptionHolder(uint256 id, address account);
    error ReclaimTooEarly(uint256 id, uint64 availableAt);
}
