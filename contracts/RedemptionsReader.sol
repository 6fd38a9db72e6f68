// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IComputeToken} from "./IComputeToken.sol";

/// @notice The one ComputeToken function the reader calls.
interface IRedemptionSource {
    function getRedemption(uint256 id) external view returns (IComputeToken.RedemptionView memory);
}

/// @title RedemptionsReader
/// @notice Reads many redemptions in one `eth_call`, never deployed: the call carries this contract's
/// creation code and its arguments with no `to`, the constructor reads every redemption and returns
/// the ABI-encoded `(bool[] known, RedemptionView[] views)` as the call's result. The audit compares
/// each redemption the events describe with the chain's; one call per id was most of that comparison.
/// @dev Works on any EVM node (no state override, no deployed helper). An id the token does not know
/// (`getRedemption` reverts) comes back with `known[i] = false` and an empty view.
contract RedemptionsReader {
    constructor(IRedemptionSource token, uint256[] memory ids) {
        bool[] memory known = new bool[](ids.length);
        IComputeToken.RedemptionView[] memory views = new IComputeToken.RedemptionView[](ids.length);
        for (uint256 i = 0; i < ids.length; ++i) {
            try token.getRedemption(ids[i]) returns (IComputeToken.RedemptionView memory v) {
                known[i] = true;
                views[i] = v;
            } catch {}
        }
        bytes memory result = abi.encode(known, views);
        assembly ("memory-safe") {
            return(add(result, 32), mload(result))
        }
    }
}
