// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title LotIds
/// @notice Lot ids are derived, not allocated: an ERC-1155 id encodes `(classId, expiresAt, transferPolicy)`
/// so that every grant of one class, expiry and policy is one fungible lot, and anyone can decode an id.
/// @dev Layout, from the least significant bit:
///   bits   0..7    transfer policy (0 = soulbound, 1 = transferable)
///   bits   8..71   expiresAt (unix seconds, uint64)
///   bits  72..103  classId (uint32, never 0)
///   bits 104..255  zero
/// The SDK's `encodeLotId`/`decodeLotId` implement the same layout and are tested against this library.
library LotIds {
    enum TransferPolicy {
        Soulbound,
        Transferable
    }

    /// @notice The id is not a well-formed lot id (high bits set, class 0 or unknown policy).
    error InvalidLotId(uint256 lotId);

    uint256 internal constant POLICY_BITS = 8;
    uint256 internal constant EXPIRY_BITS = 64;
    uint256 internal constant CLASS_SHIFT = POLICY_BITS + EXPIRY_BITS; // 72
    uint256 internal constant ID_BITS = CLASS_SHIFT + 32; // 104

    function encode(uint32 classId, uint64 expiresAt, TransferPolicy policy) internal pure returns (uint256) {
        if (classId == 0) revert InvalidLotId(0);
        return (uint256(classId) << CLASS_SHIFT) | (uint256(expiresAt) << POLICY_BITS) | uint256(uint8(policy));
    }

    function decode(
        uint256 lotId
    ) internal pure returns (uint32 classId, uint64 expiresAt, TransferPolicy policy) {
        uint256 rawPolicy = lotId & 0xff;
        classId = uint32(lotId >> CLASS_SHIFT);
        if (lotId >> ID_BITS != 0 || classId == 0 || rawPolicy > uint8(TransferPolicy.Transferable)) {
            revert InvalidLotId(lotId);
        }
        expiresAt = uint64(lotId >> POLICY_BITS);
        policy = TransferPolicy(rawPolicy);
    }

    /// @dev The class of a lot, without validating the rest of the id.
    function classOf(uint256 lotId) internal pure returns (uint32) {
        return uint32(lotId >> CLASS_SHIFT);
    }
}
