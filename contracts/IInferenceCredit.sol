// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IBatchErrors} from "./BatchGrants.sol";

/// @notice The one allow-list: ComputeToken's public `isHolder` mapping, read by InferenceCredit.
interface IHolderRegistry {
    function isHolder(address account) external view returns (bool);
}

/// @title IInferenceCredit
/// @notice Types, events and errors of the inference-credit token (the interface agreed with the
/// metering gateway and the web app: /work/wt/CREDITS_SPEC.md), as OpenZeppelin 5.x keeps them apart
/// from the implementation.
interface IInferenceCredit is IBatchErrors {
    // ───────────────────────────── types ─────────────────────────────

    /// @notice A holder's credits of one expiry and transfer policy, as returned by `bucketsOf`.
    struct Bucket {
        uint256 amount;
        uint40 expiresAt;
        bool transferable;
    }

    /// @notice What an employee signs (EIP-712, no gas): the most `gateway` may ever charge under `nonce`.
    /// `models` empty = any model (the gateway enforces them; the auditor checks usage records against them).
    struct Authorization {
        address holder;
        address gateway;
        uint256 cap;
        uint64 expiresAt;
        uint64 nonce;
        string[] models;
    }

    struct SignedAuthorization {
        Authorization auth;
        bytes signature;
    }

    /// @notice One settled charge: burns up to `amount` base units of `holder` under the authorization
    /// `authorizationId(holder, gateway = caller, nonce)`.
    struct Charge {
        address holder;
        uint64 nonce;
        uint256 amount;
    }

    enum AuthorizationStatus {
        None,
        Active,
        Revoked
    }

    struct AuthorizationState {
        uint256 cap;
        uint256 charged;
        uint40 expiresAt;
        AuthorizationStatus status;
    }

    /// @notice Prices in base units (1 credit = 1e6): input/output per million tokens, and the model's
    /// per-request charge (model_weight × C_model).
    struct ModelPrice {
        uint64 inputPerMTok;
        uint64 outputPerMTok;
        uint64 requestCharge;
        bool listed;
    }

    // ───────────────────────────── events ────────────────────────────

    event CreditsGranted(
        bytes32 indexed batchRef,
        address indexed operator,
        uint40 expiresAt,
        bool transferable,
        uint256 recipients,
        uint256 amount
    );
    event CreditsExpired(address indexed holder, uint40 expiresAt, uint256 amount);
    event CreditsClawedBack(address indexed holder, uint256 amount);
    event BucketTransferred(address indexed from, address indexed to, uint40 expiresAt, uint256 amount);
    event ModelPriceSet(
        uint64 indexed priceVersion,
        string model,
        uint64 inputPerMTok,
        uint64 outputPerMTok,
        uint64 requestCharge
    );
    event PriorityFeesSet(uint64 indexed priceVersion, uint64[4] fees);
    /// @notice `expiresAt` is the authorization's end: its signed expiry, or, revoked before its first
    /// batch, the revocation if sooner.
    event AuthorizationActivated(
        bytes32 indexed authId,
        address indexed holder,
        address indexed gateway,
        uint256 cap,
        uint40 expiresAt,
        uint64 nonce,
        string[] models
    );
    event AuthorizationRevoked(bytes32 indexed authId, address indexed holder, address indexed gateway, uint64 nonce);
    event UsageCharged(
        bytes32 indexed batchId,
        bytes32 indexed authId,
        address indexed holder,
        uint256 requested,
        uint256 charged
    );
    /// @notice A charge found less than it asked for in the holder's unexpired credits (moved out or
    /// expired between the serving and the batch): the rest, `amount`, is owed; `debt` is the holder's
    /// whole debt after it. Counted in the authorization's `charged`, so its cap bounds it.
    event UsageDebtIncurred(address indexed holder, bytes32 indexed authId, uint256 amount, uint256 debt);
    /// @notice Credits arriving (a grant or a transfer in, into the bucket `expiresAt`/`transferable`)
    /// paid `amount` of the holder's debt first; `debt` is what is still owed. The credits are burnt
    /// (an ERC-20 `Transfer` to zero follows the arrival's own).
    event UsageDebtPaid(address indexed holder, uint40 expiresAt, bool transferable, uint256 amount, uint256 debt);
    event UsageBatchSettled(
        bytes32 indexed batchId,
        address indexed gateway,
        uint64 priceVersion,
        bytes32 usageRoot,
        uint256 charges,
        uint256 requested,
        uint256 charged
    );

    // ───────────────────────────── errors ────────────────────────────

    error InvalidComputeToken(address computeToken);
    /// @notice A grant must expire after the block it lands in.
    error InvalidExpiry(uint40 expiresAt, uint256 nowTimestamp);
    /// @notice An amount that does not fit a bucket (2^96 − 1 base units).
    error AmountTooLarge(uint256 amount, uint256 max);
    /// @notice `holder` already has `max` live buckets and none of them has expired.
    error TooManyBuckets(address holder, uint256 max);
    error InvalidBatchId(bytes32 batchId);
    error UsageBatchAlreadySettled(bytes32 batchId);
    error UnknownPriceVersion(uint64 priceVersion, uint64 current);
    error InvalidAuthorizationSignature(address holder, uint64 nonce);
    /// @notice An activation names a gateway other than the caller.
    error AuthorizationGatewayMismatch(address holder, uint64 nonce, address gateway);
    /// @notice The authorization (holder, gateway, nonce) was activated before: a nonce serves once.
    error AuthorizationNonceUsed(address holder, address gateway, uint64 nonce);
    error AuthorizationAlreadyRevoked(address holder, address gateway, uint64 nonce);
    error TooManyModels(uint256 count, uint256 max);
    error InvalidModelName(string model);
    error UnknownModel(string model);
}
