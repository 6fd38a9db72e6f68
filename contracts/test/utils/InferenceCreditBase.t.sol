// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IInferenceCredit} from "../../IInferenceCredit.sol";
import {InferenceCredit} from "../../InferenceCredit.sol";
import {ComputeTokenBase} from "./ComputeTokenBase.t.sol";

/// @notice ComputeTokenBase plus an InferenceCredit on the same AccessManager, wired as sdk/roles.ts
/// (CREDIT_RESTRICTED_FUNCTIONS) says, with a gateway actor and signing helpers for authorizations.
/// Employees' private keys are `keccak256(name)` (see TestBase.makeAddr), so tests can sign as them.
abstract contract InferenceCreditBase is ComputeTokenBase {
    uint64 internal constant GATEWAY_ROLE = 5;

    InferenceCredit internal credit;
    address internal gateway;
    uint256 private _refNonce;
    uint256 private _usageNonce;

    function setUp() public virtual override {
        super.setUp();
        credit = new InferenceCredit(address(manager), address(token));
        gateway = makeAddr("gateway");

        bytes4[] memory hrFns = new bytes4[](2);
        hrFns[0] = InferenceCredit.grantBatch.selector;
        hrFns[1] = InferenceCredit.clawback.selector;
        bytes4[] memory opsFns = new bytes4[](2);
        opsFns[0] = InferenceCredit.setModelPrice.selector;
        opsFns[1] = InferenceCredit.setPriorityFees.selector;
        bytes4[] memory pauserFns = new bytes4[](2);
        pauserFns[0] = InferenceCredit.pause.selector;
        pauserFns[1] = InferenceCredit.unpause.selector;
        bytes4[] memory gatewayFns = new bytes4[](1);
        gatewayFns[0] = InferenceCredit.settleUsage.selector;
        manager.setTargetFunctionRole(address(credit), hrFns, HR_ROLE);
        manager.setTargetFunctionRole(address(credit), opsFns, OPERATIONS_ROLE);
        manager.setTargetFunctionRole(address(credit), pauserFns, PAUSER_ROLE);
        manager.setTargetFunctionRole(address(credit), gatewayFns, GATEWAY_ROLE);
        manager.labelRole(GATEWAY_ROLE, "GATEWAY");
        manager.grantRole(GATEWAY_ROLE, gateway, 0);
    }

    function _employeeKey(uint256 i) internal pure returns (uint256) {
        return uint256(keccak256(bytes(string.concat("employee", string(abi.encodePacked(bytes1(uint8(48 + i))))))));
    }

    function _nextCreditRef() internal returns (bytes32) {
        return keccak256(abi.encode("credit-batch", ++_refNonce));
    }

    function _nextUsageId() internal returns (bytes32) {
        return keccak256(abi.encode("usage", ++_usageNonce));
    }

    function _grantCredits(address to, uint256 amount, uint256 expiresAt, bool transferable) internal {
        address[] memory recipients = new address[](1);
        uint256[] memory amounts = new uint256[](1);
        recipients[0] = to;
        amounts[0] = amount;
        vm.prank(hr);
        credit.grantBatch(_nextCreditRef(), uint40(expiresAt), transferable, recipients, amounts);
    }

    function _authorization(
        address holder,
        uint256 cap,
        uint256 expiresAt,
        uint64 nonce
    ) internal view returns (IInferenceCredit.Authorization memory a) {
        a = IInferenceCredit.Authorization(holder, gateway, cap, uint64(expiresAt), nonce, new string[](0));
    }

    function _sign(uint256 key, IInferenceCredit.Authorization memory a) internal view returns (IInferenceCredit.SignedAuthorization memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, credit.hashAuthorization(a));
        return IInferenceCredit.SignedAuthorization(a, abi.encodePacked(r, s, v));
    }

    function _charge(address holder, uint64 nonce, uint256 amount) internal pure returns (IInferenceCredit.Charge[] memory c) {
        c = new IInferenceCredit.Charge[](1);
        c[0] = IInferenceCredit.Charge(holder, nonce, amount);
    }

    function _settle(IInferenceCredit.SignedAuthorization[] memory activations, IInferenceCredit.Charge[] memory charges) internal {
        bytes32 id = _nextUsageId();
        uint64 version = credit.priceVersion();
        vm.prank(gateway);
        credit.settleUsage(id, version, bytes32(0), activations, charges);
    }

    function _noActivations() internal pure returns (IInferenceCredit.SignedAuthorization[] memory) {
        return new IInferenceCredit.SignedAuthorization[](0);
    }

    function _sumBuckets(address holder) internal view returns (uint256 total, uint256 expired) {
        IInferenceCredit.Bucket[] memory bs = credit.bucketsOf(holder);
        for (uint256 i; i < bs.length; ++i) {
            total += bs[i].amount;
            if (bs[i].expiresAt <= now_) expired += bs[i].amount;
        }
    }
}
