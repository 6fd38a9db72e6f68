// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Base64} from "@openzeppelin/contracts/utils/Base64.sol";
import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";
import {LotIds} from "./LotIds.sol";

/// @title LotMetadata
/// @notice Renders ERC-1155 metadata JSON for a lot, so a wallet can show class, expiry and policy.
/// @dev Returned as a `data:application/json;base64,` URI; no off-chain server is needed.
library LotMetadata {
    using Strings for uint256;

    function render(
        uint256 lotId,
        string memory className,
        string memory productLabel,
        uint32 memoryGiB,
        uint64 expiresAt,
        LotIds.TransferPolicy policy
    ) internal pure returns (string memory) {
        string memory expiry = isoDate(expiresAt);
        string memory policyName = policy == LotIds.TransferPolicy.Soulbound ? "soulbound" : "transferable";
        bytes memory json = abi.encodePacked(
            '{"name":"',
            className,
            " GPU-seconds, expires ",
            expiry,
            '","description":"Compute token: 1 unit = 1 GPU-second on ',
            className,
            '; 3600 units = 1 GPU-hour. Lot ',
            lotId.toString(),
            ".",
            '","decimals":0,"properties":{"class":"',
            className,
            '","gpu_product":"',
            productLabel,
            '","gpu_memory_gib":',
            uint256(memoryGiB).toString(),
            ',"expires_at":',
            uint256(expiresAt).toString(),
            ',"expires_at_iso":"',
            expiry,
            '","transfer_policy":"',
            policyName,
            '","units_per_hour":3600}}'
        );
        return string.concat("data:application/json;base64,", Base64.encode(json));
    }

    /// @notice Formats unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian, UTC).
    /// @dev Howard Hinnant's days-to-civil algorithm.
    function isoDate(uint64 timestamp) internal pure returns (string memory) {
        uint256 secs = timestamp;
        uint256 z = secs / 86400 + 719468;
        uint256 era = z / 146097;
        uint256 doe = z - era * 146097;
        uint256 yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        uint256 doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        uint256 mp = (5 * doy + 2) / 153;
        uint256 day = doy - (153 * mp + 2) / 5 + 1;
        uint256 month = mp < 10 ? mp + 3 : mp - 9;
        uint256 year = yoe + era * 400 + (month <= 2 ? 1 : 0);
        uint256 sod = secs % 86400;
        return
            string.concat(
                year.toString(),
                "-",
                _two(month),
                "-",
                _two(day),
                "T",
                _two(sod / 3600),
                ":",
                _two((sod / 60) % 60),
                ":",
                _two(sod % 60),
                "Z"
            );
    }

    function _two(uint256 v) private pure returns (string memory) {
        return v < 10 ? string.concat("0", v.toString()) : v.toString();
    }
}

/// @notice What the renderer reads of a class from the token (ComputeToken.getClass).
interface IClassSource {
    function getClass(
        uint32 classId
    )
        external
        view
        returns (string memory name, string memory productLabel, uint32 memoryGiB, uint16 maxGpusPerJob, bool active);
}

/// @title LotMetadataRenderer
/// @notice Renders a lot's metadata for ComputeToken's `uri`. The token deploys it from its constructor,
/// so the rendering code lives beside the token instead of inside it (the token's runtime code stays
/// under the 24,576-byte limit). It holds no state and reads the lot's class from the token.
contract LotMetadataRenderer {
    IClassSource private immutable _token;

    constructor() {
        _token = IClassSource(msg.sender);
    }

    /// @notice ERC-1155 metadata for a lot of the token that deployed this renderer.
    /// @dev Reverts as the token does: {LotIds.InvalidLotId} on a malformed id, `UnknownClass` on an unknown class.
    function uri(uint256 lotId) external view returns (string memory) {
        (uint32 classId, uint64 expiresAt, LotIds.TransferPolicy policy) = LotIds.decode(lotId);
        (string memory name, string memory productLabel, uint32 memoryGiB, , ) = _token.getClass(classId);
        return LotMetadata.render(lotId, name, productLabel, memoryGiB, expiresAt, policy);
    }
}
