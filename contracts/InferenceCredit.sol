// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessManaged} from "@openzeppelin/contracts/access/manager/AccessManaged.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {BatchGrants} from "./BatchGrants.sol";
import {IHolderRegistry, IInferenceCredit} from "./IInferenceCredit.sol";

/// @title InferenceCredit
/// @notice Expiring, permissioned ERC-20 credits ("CRED", 6 decimals) that employees spend on the
/// company's LLMs through a metering gateway. HR grants credits into expiry buckets; `balanceOf` counts
/// only unexpired credits; spending and transfers draw the soonest-expiring bucket first. Employees sign
/// spending authorizations (EIP-712, no gas); the gateway settles usage against them in batches and the
/// contract guarantees that no authorization is ever charged past its cap.
/// @dev The allow-list is ComputeToken's `isHolder` (one source of truth for both tokens: onboarding or
/// offboarding once covers GPU-hours and credits, with no migration of the deployed ComputeToken).
/// Balances live in per-holder buckets, not in ERC20's `_balances`: grants and burns write the buckets
/// directly and emit the ERC-20 `Transfer`; holder transfers go through ERC20's `_transfer` → `_update`,
/// which is overridden to move buckets. `totalSupply` counts credits not burned yet, i.e. it includes
/// expired credits nobody has swept.
contract InferenceCredit is IInferenceCredit, BatchGrants, ERC20, AccessManaged, Pausable, EIP712 {
    /// @dev One slot per bucket: amount | expiresAt | transferable | count | debt. `count` (the holder's
    /// number of buckets) and `debt` (usage served but not paid, see {UsageDebtIncurred}) are meaningful
    /// in bucket 0 only, so a fresh holder costs exactly one fresh slot and a deposit reads its debt free.
    /// Buckets 0..count-1 are kept sorted by (expiresAt, soulbound before transferable), none empty.
    /// A holder in debt holds no unexpired credits: debt is incurred only by a charge that emptied them,
    /// and credits arriving pay it first.
    struct PackedBucket {
        uint96 amount;
        uint40 expiresAt;
        bool transferable;
        uint8 count;
        uint96 debt;
    }

    /// @dev One slot: cap | charged | expiresAt | status.
    struct PackedAuthorization {
        uint96 cap;
        uint96 charged;
        uint40 expiresAt;
        AuthorizationStatus status;
    }

    // ─────────────────────────── constants ───────────────────────────

    /// @notice Most live buckets (distinct expiry × policy) one holder may have. A grant into a full
    /// holder first sweeps its expired buckets; if none has expired it reverts with {TooManyBuckets}.
    uint256 public constant MAX_BUCKETS = 8;
    /// @notice Most model names one authorization may list.
    uint256 public constant MAX_MODELS = 16;
    /// @notice Largest amount a bucket, a cap or a charge counter holds, base units.
    uint256 public constant MAX_AMOUNT = type(uint96).max;
    /// @notice How long after an authorization's end — its expiry, or its revocation if sooner — usage
    /// served under it is still charged. Settlement runs in batches behind the serving: without it, a
    /// holder who revoked an authorization (or signed one expiring soon) before its batch landed would
    /// have been served for nothing, again and again. The gateway serves nothing under an authorization
    /// from its end on (it cuts its keys within a block of the revocation); a usage record of a request
    /// started after the end is the auditor's finding.
    uint256 public constant SETTLEMENT_GRACE = 1 days;

    bytes32 public constant AUTHORIZATION_TYPEHASH =
        keccak256(
            "Authorization(address holder,address gateway,uint256 cap,uint64 expiresAt,uint64 nonce,string[] models)"
        );

    // ──────────────────────────── storage ────────────────────────────

    /// @notice The ComputeToken whose `isHolder` is the allow-list of both tokens.
    IHolderRegistry public immutable computeToken;

    uint256 private _supply;
    mapping(address holder => PackedBucket[MAX_BUCKETS]) private _buckets;
    mapping(bytes32 authId => PackedAuthorization) private _authorizations;
    mapping(bytes32 modelHash => ModelPrice) private _prices;
    uint64[4] private _priorityFees;
    /// @notice Bumped by every price change; settlements name the version they priced with.
    uint64 public priceVersion;
    mapping(bytes32 batchId => bool) public usageBatchSettled;

    // ─────────────────────────── constructor ─────────────────────────

    /// @param initialAuthority the AccessManager shared with ComputeToken
    /// @param computeToken_ the ComputeToken whose allow-list this token reads
    constructor(
        address initialAuthority,
        address computeToken_
    ) ERC20("Inference Credit", "CRED") AccessManaged(initialAuthority) EIP712("InferenceCredit", "1") {
        if (computeToken_.code.length == 0) revert InvalidComputeToken(computeToken_);
        computeToken = IHolderRegistry(computeToken_);
    }

    // ─────────────────────────── grants (HR) ─────────────────────────

    /// @notice Grants credits to allow-listed holders, all with one expiry and transfer policy.
    /// A `batchRef` (e.g. the hash of a payroll file's rows) lands once.
    /// @dev Emits an ERC-20 `Transfer(0, to, amount)` per row and one {CreditsGranted}.
    function grantBatch(
        bytes32 batchRef,
        uint40 expiresAt,
        bool transferable,
        address[] calldata to,
        uint256[] calldata amounts
    ) external restricted whenNotPaused {
        uint256 n = to.length;
        _checkBatchLengths(n, amounts.length);
        _recordBatchRef(batchRef);
        if (expiresAt <= block.timestamp) revert InvalidExpiry(expiresAt, block.timestamp);

        uint256 total;
        uint256 paid;
        for (uint256 i; i < n; ++i) {
            address holder = to[i];
            uint256 amount = amounts[i];
            if (amount == 0) revert ZeroAmount(i);
            if (amount > MAX_AMOUNT) revert AmountTooLarge(amount, MAX_AMOUNT);
            if (!computeToken.isHolder(holder)) revert NotHolder(holder);
            uint256 p = _deposit(holder, expiresAt, transferable, amount);
            total += amount;
            emit Transfer(address(0), holder, amount);
            if (p != 0) {
                _debtPaid(holder, expiresAt, transferable, p, _buckets[holder][0].debt);
                paid += p;
            }
        }
        _supply += total - paid;
        emit CreditsGranted(batchRef, _msgSender(), expiresAt, transferable, n, total);
    }

    /// @notice Burns all of a holder's credits (offboarding): unexpired ones are clawed back, expired
    /// ones are recorded as expired. Returns the amount clawed back.
    function clawback(address holder) external restricted returns (uint256 clawed) {
        PackedBucket[MAX_BUCKETS] storage bs = _buckets[holder];
        uint256 raw0 = _rawBucket(bs[0]);
        uint256 n = uint8(raw0 >> 144);
        uint256 expired;
        for (uint256 i; i < n; ++i) {
            PackedBucket memory b = bs[i];
            if (b.expiresAt <= block.timestamp) {
                expired += b.amount;
                emit CreditsExpired(holder, b.expiresAt, b.amount);
            } else {
                clawed += b.amount;
            }
            delete bs[i];
        }
        if (n == 0) return 0;
        // A debt stays owed (paid by credits arriving if the holder is ever allow-listed again).
        if (raw0 >> 152 != 0) bs[0].debt = uint96(raw0 >> 152);
        _supply -= clawed + expired;
        if (clawed != 0) emit CreditsClawedBack(holder, clawed);
        emit Transfer(holder, address(0), clawed + expired);
    }

    // ───────────────────────────── expiry ────────────────────────────

    /// @notice Burns a holder's expired buckets so supply tells the truth. Anyone may call it.
    /// @return swept the amount burned (0 if nothing had expired)
    function sweepExpired(address holder) external returns (uint256 swept) {
        swept = _sweep(holder);
    }

    // ───────────────────────── prices (operations) ───────────────────

    /// @notice Sets a model's prices in base units: `inputPerMTok`/`outputPerMTok` per million tokens,
    /// `requestCharge` per request (model_weight × C_model). All three zero removes the model.
    function setModelPrice(
        string calldata model,
        uint64 inputPerMTok,
        uint64 outputPerMTok,
        uint64 requestCharge
    ) external restricted {
        uint256 len = bytes(model).length;
        if (len == 0 || len > 64) revert InvalidModelName(model);
        ModelPrice storage p = _prices[keccak256(bytes(model))];
        bool remove = inputPerMTok == 0 && outputPerMTok == 0 && requestCharge == 0;
        if (remove && !p.listed) revert UnknownModel(model);
        p.inputPerMTok = inputPerMTok;
        p.outputPerMTok = outputPerMTok;
        p.requestCharge = requestCharge;
        p.listed = !remove;
        uint64 version = ++priceVersion;
        emit ModelPriceSet(version, model, inputPerMTok, outputPerMTok, requestCharge);
    }

    /// @notice Sets the fee per request of each priority tier (Low, Normal, High, Urgent), base units.
    function setPriorityFees(uint64[4] calldata fees) external restricted {
        _priorityFees = fees;
        uint64 version = ++priceVersion;
        emit PriorityFeesSet(version, fees);
    }

    // ─────────────────────────────── pause ───────────────────────────

    /// @notice Stops grants, transfers and holder transfers. Settlement of usage already served goes on.
    function pause() external restricted {
        _pause();
    }

    /// @notice Lets grants and transfers through again.
    function unpause() external restricted {
        _unpause();
    }

    // ───────────────────────── authorizations ────────────────────────

    /// @notice Revokes the caller's authorization for `gateway` under `nonce`, before or after the
    /// gateway activated it: it ends now (its `expiresAt` becomes now, if later). The gateway serves
    /// nothing under it once it sees the revocation; the usage it served before is charged within
    /// {SETTLEMENT_GRACE}, as after an expiry (a revoked authorization not activated yet is activated by
    /// its first batch, ending at the revocation). Works while paused.
    function revokeAuthorization(address gateway, uint64 nonce) external {
        address holder = _msgSender();
        bytes32 authId = authorizationId(holder, gateway, nonce);
        PackedAuthorization storage a = _authorizations[authId];
        if (a.status == AuthorizationStatus.Revoked) revert AuthorizationAlreadyRevoked(holder, gateway, nonce);
        a.status = AuthorizationStatus.Revoked;
        // Not activated yet (an empty slot): the revocation's time, for its activation to end at.
        if (a.cap == 0 || a.expiresAt > block.timestamp) a.expiresAt = uint40(block.timestamp);
        emit AuthorizationRevoked(authId, holder, gateway, nonce);
    }

    /// @notice Settles a batch of usage the caller (the gateway) served. `activations` register new
    /// authorizations first (signature checked once); then each charge burns
    /// `min(amount, cap − charged so far, unexpired balance)`, soonest-expiring credits first — 0 if
    /// the authorization is unknown or ended (expired or revoked) more than {SETTLEMENT_GRACE} ago, or
    /// the holder is offboarded. One bad holder never reverts the batch: the shortfall shows in
    /// {UsageCharged}. A `batchId` lands once.
    /// @dev Works while paused (usage already served is always settled). An activation whose nonce the
    /// holder revoked beforehand activates it ending at the revocation (revoked after activation: skipped);
    /// a second activation of an active nonce, a wrong signature or another gateway's authorization
    /// reverts (the gateway's own mistakes).
    function settleUsage(
        bytes32 batchId,
        uint64 priceVersion_,
        bytes32 usageRoot,
        SignedAuthorization[] calldata activations,
        Charge[] calldata charges
    ) external restricted {
        uint256 nActivations = activations.length;
        uint256 nCharges = charges.length;
        if (nActivations + nCharges == 0) revert EmptyBatch();
        if (nActivations > MAX_BATCH) revert BatchTooLarge(nActivations, MAX_BATCH);
        if (nCharges > MAX_BATCH) revert BatchTooLarge(nCharges, MAX_BATCH);
        if (batchId == bytes32(0)) revert InvalidBatchId(batchId);
        if (usageBatchSettled[batchId]) revert UsageBatchAlreadySettled(batchId);
        if (priceVersion_ > priceVersion) revert UnknownPriceVersion(priceVersion_, priceVersion);
        usageBatchSettled[batchId] = true;

        address gateway = _msgSender();
        for (uint256 i; i < nActivations; ++i) _activate(gateway, activations[i]);

        uint256 requested;
        uint256 charged;
        for (uint256 i; i < nCharges; ++i) {
            Charge calldata c = charges[i];
            bytes32 authId = authorizationId(c.holder, gateway, c.nonce);
            uint256 taken = _charge(c.holder, authId, c.amount);
            requested += c.amount;
            charged += taken;
            emit UsageCharged(batchId, authId, c.holder, c.amount, taken);
        }
        _supply -= charged;
        emit UsageBatchSettled(batchId, gateway, priceVersion_, usageRoot, nCharges, requested, charged);
    }

    // ────────────────────────────── views ────────────────────────────

    /// @notice 6: one credit is 1,000,000 base units.
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice Credits not burned yet (including expired credits nobody has swept).
    function totalSupply() public view override returns (uint256) {
        return _supply;
    }

    /// @notice The holder's unexpired credits, base units.
    function balanceOf(address holder) public view override returns (uint256 total) {
        PackedBucket[MAX_BUCKETS] storage bs = _buckets[holder];
        uint256 n = bs[0].count;
        for (uint256 i; i < n; ++i) {
            PackedBucket storage b = bs[i];
            if (b.expiresAt > block.timestamp) total += b.amount;
        }
    }

    /// @notice What the holder owes for usage served but not paid when its batch landed (the credits had
    /// moved out or expired in between), base units. Credits arriving pay it first.
    function usageDebtOf(address holder) external view returns (uint256) {
        return _buckets[holder][0].debt;
    }

    /// @notice The holder's buckets, soonest expiry first, including expired ones not swept yet.
    function bucketsOf(address holder) external view returns (Bucket[] memory out) {
        PackedBucket[MAX_BUCKETS] storage bs = _buckets[holder];
        uint256 n = bs[0].count;
        out = new Bucket[](n);
        for (uint256 i; i < n; ++i) {
            PackedBucket memory b = bs[i];
            out[i] = Bucket(b.amount, b.expiresAt, b.transferable);
        }
    }

    /// @notice The id of the authorization `holder` gave `gateway` under `nonce`.
    function authorizationId(address holder, address gateway, uint64 nonce) public pure returns (bytes32) {
        return keccak256(abi.encode(holder, gateway, nonce));
    }

    /// @notice An authorization's cap, what was charged under it, its end and status (Revoked also for
    /// a nonce revoked before the gateway activated it). The end (`expiresAt`) is its signed expiry, or
    /// its revocation if sooner; charges are taken until {SETTLEMENT_GRACE} after it.
    function authorizationOf(bytes32 authId) external view returns (AuthorizationState memory) {
        PackedAuthorization memory a = _authorizations[authId];
        return AuthorizationState(a.cap, a.charged, a.expiresAt, a.status);
    }

    /// @notice The EIP-712 digest the holder signs for `auth` (domain: this contract on this chain).
    function hashAuthorization(Authorization calldata auth) public view returns (bytes32) {
        uint256 m = auth.models.length;
        bytes32[] memory modelHashes = new bytes32[](m);
        for (uint256 i; i < m; ++i) modelHashes[i] = keccak256(bytes(auth.models[i]));
        return
            _hashTypedDataV4(
                keccak256(
                    abi.encode(
                        AUTHORIZATION_TYPEHASH,
                        auth.holder,
                        auth.gateway,
                        auth.cap,
                        auth.expiresAt,
                        auth.nonce,
                        keccak256(abi.encodePacked(modelHashes))
                    )
                )
            );
    }

    /// @notice A model's prices in base units (`listed` false: no price, the gateway refuses the model).
    function modelPrice(string calldata model) external view returns (ModelPrice memory) {
        return _prices[keccak256(bytes(model))];
    }

    /// @notice Fee per request of each priority tier (Low, Normal, High, Urgent), base units.
    function priorityFees() external view returns (uint64[4] memory) {
        return _priorityFees;
    }

    // ───────────────────────────── internals ─────────────────────────

    /// @dev Holder transfers (ERC20 `transfer`/`transferFrom` → `_transfer` → here; grants and burns do
    /// not come through this path). Both ends must be allow-listed; only unexpired transferable buckets
    /// move, soonest first, each keeping its expiry.
    function _update(address from, address to, uint256 value) internal override whenNotPaused {
        if (!computeToken.isHolder(from)) revert NotHolder(from);
        if (!computeToken.isHolder(to)) revert NotHolder(to);
        if (value == 0) {
            // Nothing moves: no bucket is touched (an empty one would count against the receiver's 8).
            emit Transfer(from, to, 0);
            return;
        }
        PackedBucket[MAX_BUCKETS] storage bs = _buckets[from];
        // Fast path: the soonest bucket is unexpired, transferable and covers the value with some left.
        uint256 raw0 = _rawBucket(bs[0]);
        uint40 expiresAt0 = uint40(raw0 >> 96);
        if (from != to && uint96(raw0) > value && expiresAt0 > block.timestamp && (raw0 >> 136) & 0xff != 0) {
            _storeRawBucket(bs[0], raw0 - value); // amount is the low 96 bits and exceeds value: no borrow
            uint256 p = _deposit(to, expiresAt0, true, value);
            emit BucketTransferred(from, to, expiresAt0, value);
            emit Transfer(from, to, value);
            if (p != 0) {
                _debtPaid(to, expiresAt0, true, p, _buckets[to][0].debt);
                _supply -= p;
            }
            return;
        }
        uint256 n = uint8(raw0 >> 144);
        uint40[MAX_BUCKETS] memory expiries;
        uint256[MAX_BUCKETS] memory moved;
        uint256 parts;
        uint256 remaining = value;
        uint256 available;
        bool emptied;
        for (uint256 i; i < n && remaining != 0; ++i) {
            PackedBucket storage b = bs[i];
            (uint96 amount, uint40 expiresAt, bool transferable) = (b.amount, b.expiresAt, b.transferable);
            if (!transferable || expiresAt <= block.timestamp) continue;
            available += amount;
            uint256 take = amount < remaining ? amount : remaining;
            b.amount = uint96(amount - take);
            if (take == amount) emptied = true;
            remaining -= take;
            expiries[parts] = expiresAt;
            moved[parts] = take;
            ++parts;
        }
        if (remaining != 0) revert ERC20InsufficientBalance(from, available, value);
        if (emptied) _compact(from);
        uint256[MAX_BUCKETS] memory paid;
        uint256 paidTotal;
        for (uint256 i; i < parts; ++i) {
            paid[i] = _deposit(to, expiries[i], true, moved[i]);
            paidTotal += paid[i];
            emit BucketTransferred(from, to, expiries[i], moved[i]);
        }
        emit Transfer(from, to, value);
        if (paidTotal != 0) {
            // The debt as each part left it: what is owed now plus what the later parts paid.
            uint256 left = _buckets[to][0].debt + paidTotal;
            for (uint256 i; i < parts; ++i) {
                if (paid[i] == 0) continue;
                left -= paid[i];
                _debtPaid(to, expiries[i], true, paid[i], left);
            }
            _supply -= paidTotal;
        }
    }

    /// @dev Registers a signed authorization for `gateway` (signature checked here, once).
    function _activate(address gateway, SignedAuthorization calldata s) private {
        Authorization calldata auth = s.auth;
        if (auth.gateway != gateway) revert AuthorizationGatewayMismatch(auth.holder, auth.nonce, auth.gateway);
        if (auth.models.length > MAX_MODELS) revert TooManyModels(auth.models.length, MAX_MODELS);
        if (!SignatureChecker.isValidSignatureNow(auth.holder, hashAuthorization(auth), s.signature)) {
            revert InvalidAuthorizationSignature(auth.holder, auth.nonce);
        }
        bytes32 authId = authorizationId(auth.holder, gateway, auth.nonce);
        PackedAuthorization storage a = _authorizations[authId];
        AuthorizationStatus status = a.status;
        if (status == AuthorizationStatus.Active) revert AuthorizationNonceUsed(auth.holder, gateway, auth.nonce);
        // Caps and expiries beyond what the slot holds mean "unlimited" / "never" in practice.
        uint96 cap = auth.cap > MAX_AMOUNT ? type(uint96).max : uint96(auth.cap);
        uint40 expiresAt = auth.expiresAt > type(uint40).max ? type(uint40).max : uint40(auth.expiresAt);
        // Nothing can be charged under a cap of 0: never activated, so that a slot of cap 0 is one not activated.
        if (cap == 0) return;
        if (status == AuthorizationStatus.Revoked) {
            // Activated before its revocation: nothing to do.
            if (a.cap != 0) return;
            // Revoked before its first batch: activated for the usage served until the revocation, ending there.
            if (a.expiresAt < expiresAt) expiresAt = a.expiresAt;
        }
        _authorizations[authId] = PackedAuthorization(cap, 0, expiresAt, status == AuthorizationStatus.None ? AuthorizationStatus.Active : status);
        emit AuthorizationActivated(authId, auth.holder, gateway, cap, expiresAt, auth.nonce, auth.models);
    }

    /// @dev One charge: burns up to `amount` within the authorization's cap and the holder's unexpired
    /// balance, soonest-expiring first. Never reverts for the holder's state.
    function _charge(address holder, bytes32 authId, uint256 amount) private returns (uint256 taken) {
        PackedAuthorization storage a = _authorizations[authId];
        (uint96 cap, uint96 chargedSoFar, uint40 expiresAt, AuthorizationStatus status) = (
            a.cap,
            a.charged,
            a.expiresAt,
            a.status
        );
        // Activated (a revoked one too), and within the grace after its end (see SETTLEMENT_GRACE).
        if (status == AuthorizationStatus.None || uint256(expiresAt) + SETTLEMENT_GRACE <= block.timestamp || amount == 0) return 0;
        uint256 want = cap - chargedSoFar;
        if (amount < want) want = amount;
        if (want == 0 || !computeToken.isHolder(holder)) return 0;
        taken = _burnSoonestFirst(holder, want);
        // What the holder no longer has (moved out or expired since the serving) is owed, within the cap.
        a.charged = chargedSoFar + uint96(want); // ≤ cap, so it fits
        if (taken != 0) emit Transfer(holder, address(0), taken);
        if (taken != want) _incurDebt(holder, authId, want - taken);
    }

    /// @dev Adds `amount` to the holder's debt (bucket 0's `debt`; saturating: caps beyond it are not
    /// real). The holder has no unexpired credits left: the charge that owes it emptied them.
    function _incurDebt(address holder, bytes32 authId, uint256 amount) private {
        PackedBucket storage b0 = _buckets[holder][0];
        uint256 debt = uint256(b0.debt) + amount;
        if (debt > MAX_AMOUNT) debt = MAX_AMOUNT;
        b0.debt = uint96(debt);
        emit UsageDebtIncurred(holder, authId, amount, debt);
    }

    /// @dev Emits what a deposit paid of the holder's debt (`debtLeft` owed after it): {UsageDebtPaid} and
    /// the ERC-20 burn. Called after the arrival's own `Transfer`, so that indexers see the credits arrive,
    /// then leave.
    function _debtPaid(address holder, uint40 expiresAt, bool transferable, uint256 paid, uint256 debtLeft) private {
        emit UsageDebtPaid(holder, expiresAt, transferable, paid, debtLeft);
        emit Transfer(holder, address(0), paid);
    }

    /// @dev Burns up to `want` from the holder's unexpired buckets, soonest first; returns what it burned.
    function _burnSoonestFirst(address holder, uint256 want) private returns (uint256 burned) {
        PackedBucket[MAX_BUCKETS] storage bs = _buckets[holder];
        uint256 raw0 = _rawBucket(bs[0]);
        // Fast path: the soonest bucket is unexpired and covers the charge with some left.
        if (uint96(raw0) > want && uint40(raw0 >> 96) > block.timestamp) {
            _storeRawBucket(bs[0], raw0 - want);
            return want;
        }
        uint256 n = uint8(raw0 >> 144);
        bool emptied;
        for (uint256 i; i < n && want != 0; ++i) {
            PackedBucket storage b = bs[i];
            (uint96 amount, uint40 expiresAt) = (b.amount, b.expiresAt);
            if (expiresAt <= block.timestamp) continue;
            uint256 take = amount < want ? amount : want;
            b.amount = uint96(amount - take);
            if (take == amount) emptied = true;
            want -= take;
            burned += take;
        }
        if (emptied) _compact(holder);
    }

    /// @dev Adds `amount` to the holder's bucket of (expiresAt, transferable), creating it in sorted
    /// position if needed, after paying the holder's debt from it; returns what it paid (the caller
    /// emits it with {_debtPaid} and takes it from the supply). A full holder first has its expired
    /// buckets swept.
    function _deposit(address holder, uint40 expiresAt, bool transferable, uint256 amount) private returns (uint256 paid) {
        PackedBucket[MAX_BUCKETS] storage bs = _buckets[holder];
        uint256 raw0 = _rawBucket(bs[0]);
        if (raw0 >> 152 != 0) {
            // In debt: the arrival pays it first. Then either nothing is left to deposit or the debt is 0.
            uint256 debt = raw0 >> 152;
            paid = amount < debt ? amount : debt;
            raw0 -= paid << 152;
            _storeRawBucket(bs[0], raw0);
            amount -= paid;
            if (amount == 0) return paid;
        }
        uint256 n = uint8(raw0 >> 144);
        if (n == 0) {
            // Fresh holder: one slot holds the bucket and the count.
            if (amount > MAX_AMOUNT) revert AmountTooLarge(amount, MAX_AMOUNT);
            // One word (debt is 0 here, see above): amount | expiresAt | transferable | count 1.
            uint256 word = amount | (uint256(expiresAt) << 96) | (uint256(1) << 144);
            if (transferable) word |= uint256(1) << 136;
            _storeRawBucket(bs[0], word);
            return paid;
        }
        if (uint40(raw0 >> 96) == expiresAt && ((raw0 >> 136) & 0xff != 0) == transferable) {
            // Fast path: the soonest bucket has this expiry and policy.
            uint256 sum = uint256(uint96(raw0)) + amount;
            if (sum > MAX_AMOUNT) revert AmountTooLarge(sum, MAX_AMOUNT);
            _storeRawBucket(bs[0], raw0 + amount); // sum fits 96 bits: no carry into expiresAt
            return paid;
        }
        uint256 at = n;
        for (uint256 i; i < n; ++i) {
            PackedBucket storage b = bs[i];
            (uint40 e, bool t) = (b.expiresAt, b.transferable);
            if (e == expiresAt && t == transferable) {
                uint256 sum = uint256(b.amount) + amount;
                if (sum > MAX_AMOUNT) revert AmountTooLarge(sum, MAX_AMOUNT);
                b.amount = uint96(sum);
                return paid;
            }
            if (e > expiresAt || (e == expiresAt && t && !transferable)) {
                at = i;
                break;
            }
        }
        if (n == MAX_BUCKETS) {
            _sweep(holder);
            n = bs[0].count;
            if (n == MAX_BUCKETS) revert TooManyBuckets(holder, MAX_BUCKETS);
            _deposit(holder, expiresAt, transferable, amount); // positions moved; one more (bounded) pass, debt 0
            return paid;
        }
        if (amount > MAX_AMOUNT) revert AmountTooLarge(amount, MAX_AMOUNT);
        for (uint256 i = n; i > at; --i) {
            PackedBucket memory prev = bs[i - 1];
            bs[i] = PackedBucket(prev.amount, prev.expiresAt, prev.transferable, 0, 0);
        }
        uint8 count = uint8(n + 1);
        if (at == 0) {
            bs[0] = PackedBucket(uint96(amount), expiresAt, transferable, count, 0);
        } else {
            bs[at] = PackedBucket(uint96(amount), expiresAt, transferable, 0, 0);
            bs[0].count = count;
        }
    }

    /// @dev Burns every expired bucket of `holder` (they sort first), with an event each.
    function _sweep(address holder) private returns (uint256 swept) {
        PackedBucket[MAX_BUCKETS] storage bs = _buckets[holder];
        uint256 n = bs[0].count;
        uint256 k;
        for (; k < n; ++k) {
            PackedBucket storage b = bs[k];
            (uint96 amount, uint40 expiresAt) = (b.amount, b.expiresAt);
            if (expiresAt > block.timestamp) break;
            swept += amount;
            emit CreditsExpired(holder, expiresAt, amount);
        }
        if (k == 0) return 0;
        _supply -= swept;
        emit Transfer(holder, address(0), swept);
        _removeFront(holder, n, k);
    }

    /// @dev Removes the first `k` of `n` buckets, shifting the rest down (count kept in bucket 0).
    /// Bucket 0's debt is kept.
    function _removeFront(address holder, uint256 n, uint256 k) private {
        PackedBucket[MAX_BUCKETS] storage bs = _buckets[holder];
        uint96 debt = bs[0].debt;
        uint256 left = n - k;
        for (uint256 i; i < left; ++i) {
            PackedBucket memory b = bs[i + k];
            bs[i] = PackedBucket(b.amount, b.expiresAt, b.transferable, i == 0 ? uint8(left) : 0, i == 0 ? debt : 0);
        }
        for (uint256 i = left; i < n; ++i) delete bs[i];
        if (left == 0 && debt != 0) bs[0].debt = debt;
    }

    /// @dev Drops the empty buckets, keeping the order (count kept in bucket 0).
    /// Bucket 0's debt is kept.
    function _compact(address holder) private {
        PackedBucket[MAX_BUCKETS] storage bs = _buckets[holder];
        uint256 raw0 = _rawBucket(bs[0]);
        uint256 n = uint8(raw0 >> 144);
        uint96 debt = uint96(raw0 >> 152);
        PackedBucket[MAX_BUCKETS] memory keep;
        uint256 left;
        for (uint256 i; i < n; ++i) {
            PackedBucket memory b = bs[i];
            if (b.amount != 0) keep[left++] = b;
        }
        for (uint256 i; i < left; ++i) {
            PackedBucket memory b = keep[i];
            bs[i] = PackedBucket(b.amount, b.expiresAt, b.transferable, i == 0 ? uint8(left) : 0, i == 0 ? debt : 0);
        }
        for (uint256 i = left; i < n; ++i) delete bs[i];
        if (left == 0 && debt != 0) bs[0].debt = debt;
    }

    /// @dev A bucket's slot as one word: amount (bits 0–95) | expiresAt (96–135) | transferable (136–143) |
    /// count (144–151) | debt (152–247), the layout Solidity gives {PackedBucket}. One SLOAD instead of one per field.
    function _rawBucket(PackedBucket storage b) private view returns (uint256 raw) {
        assembly ("memory-safe") {
            raw := sload(b.slot)
        }
    }

    function _storeRawBucket(PackedBucket storage b, uint256 raw) private {
        assembly ("memory-safe") {
            sstore(b.slot, raw)
        }
    }
}
