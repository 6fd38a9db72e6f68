// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessManaged} from "@openzeppelin/contracts/access/manager/AccessManaged.sol";
import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";
import {ERC1155Supply} from "@openzeppelin/contracts/token/ERC1155/extensions/ERC1155Supply.sol";
import {IERC1155Receiver} from "@openzeppelin/contracts/token/ERC1155/IERC1155Receiver.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {BatchGrants} from "./BatchGrants.sol";
import {IComputeToken} from "./IComputeToken.sol";
import {LotIds} from "./LotIds.sol";
import {LotMetadataRenderer} from "./LotMetadata.sol";

/// @title ComputeToken
/// @notice Expiring, hardware-class-specific GPU compute tokens. 1 unit = 1 GPU-second of the lot's class.
/// Holders redeem by burning units for a job; the redeemer settles actual usage and refunds the rest.
/// @dev Permissions come from an OpenZeppelin AccessManager (`restricted`); which role may call which
/// function is configured there (see deploy/). Roles: HR (holders, grants, clawback), operations
/// (classes, priorities, class values, launch timeout, refund grace), redeemer (lifecycle), pauser, admin (recover).
///
/// What a holder can always get back: units of a redemption that is rejected, reclaimed or settled
/// below its reserve are refunded into a lot that stays redeemable for at least the refund grace; a
/// redemption nobody launched can be reclaimed after the launch timeout in force when it was made, and
/// one that was launched but never settled after its allotted time plus {SETTLE_GRACE}. After a
/// {recover}, refunds and reclaims of the lost key's redemptions go to (and are open to) the replacement.
contract ComputeToken is IComputeToken, BatchGrants, ERC1155Supply, AccessManaged, Pausable {
    using LotIds for uint256;

    // ───────────────────────────── types ─────────────────────────────
    // Storage layouts; the types callers see (enums, RedemptionView), the events and the errors are
    // in IComputeToken.

    /// @dev Slot 0: active | maxGpusPerJob | memoryGiB | lotCount | newestLot, read together by grants.
    /// The class's lots form a list through `_olderLot`, newest first. Strings take their own slots.
    struct HardwareClass {
        bool active;
        uint16 maxGpusPerJob;
        uint32 memoryGiB;
        uint16 lotCount;
        uint104 newestLot;
        string name;
        string productLabel;
    }

    /// @dev One slot: the next redemption id, the launch timeout, the four priority multipliers
    /// (basis points; 10000 = 1.0x) read together by `redeem`, and the refund grace.
    struct Config {
        uint64 nextRedemptionId;
        uint32 launchTimeout;
        uint16 lowBps;
        uint16 normalBps;
        uint16 highBps;
        uint16 urgentBps;
        uint32 refundGrace;
    }

    /// @dev Slot 0 (immutable after redeem): holder | classId | priority | gpus | requestedAt | lotCount.
    /// Slot 1 (what settle/reject/reclaim touch): status | reserved | used | first lot's share |
    /// launchTimeout (the one in force at the request) | deadline. `deadline` holds the run allowance
    /// (seconds + SETTLE_GRACE) while Requested and, from markRunning on, the time after which the holder
    /// may close the redemption. Slot 2: specHash. Further lots (rare) live in `_extraLots`, one slot each.
    struct Redemption {
        address holder;
        uint32 classId;
        Priority priority;
        uint16 gpus;
        uint32 requestedAt;
        uint8 lotCount;
        RedemptionStatus status;
        uint48 reserved;
        uint48 used;
        uint48 firstLotAmount;
        uint40 firstLotExpiresAt;
        LotIds.TransferPolicy firstLotPolicy;
        uint24 launchTimeout;
        uint32 deadline;
        bytes32 specHash;
    }

    /// @dev One slot: a class's value (conversion rates derive from it), the scheduled value and when it applies.
    struct ClassValue {
        uint64 value;
        uint64 pending;
        uint64 effectiveAt;
    }

    /// @dev One slot: a lot of the redemption's class and the units taken from it.
    struct LotShare {
        uint64 expiresAt;
        LotIds.TransferPolicy policy;
        uint56 amount;
    }

    // ─────────────────────────── constants ───────────────────────────

    /// @notice Most lots one redemption may draw from.
    uint256 public constant MAX_REDEMPTION_LOTS = 16;
    /// @dev Most lots (expiry × policy) a class lists for grants (refunds may add one per day past it); bounds
    /// {redeemableBalanceOf}. Conversions may register up to MAX_LOTS_PER_CLASS − GRANT_RESERVED_LOTS.
    uint256 internal constant MAX_LOTS_PER_CLASS = 1024;
    /// @notice Largest job spec carried by a redemption, in bytes.
    uint256 public constant MAX_SPEC_BYTES = 8192;
    /// @dev Priority multiplier bounds, basis points.
    uint16 internal constant MIN_MULTIPLIER_BPS = 1000;
    uint16 internal constant MAX_MULTIPLIER_BPS = 50000;
    /// @notice Longest launch timeout operations may set: a holder can always reclaim an unlaunched job by then.
    uint32 internal constant MAX_LAUNCH_TIMEOUT = 7 days;
    /// @notice After its allotted time plus this, a launched redemption nobody settled can be closed by its holder.
    uint32 internal constant SETTLE_GRACE = 1 days;
    /// @notice Bounds of the refund grace: a refund stays redeemable at least this long after it lands.
    uint32 internal constant MIN_REFUND_GRACE = 1 days;
    uint32 internal constant MAX_REFUND_GRACE = 30 days;
    /// @notice Lots a class keeps for grants: conversions may not register a class's last 256 lots.
    uint256 internal constant GRANT_RESERVED_LOTS = 256;
    /// @notice Largest class value; a change may at most double or halve it, and applies after VALUE_DELAY.
    uint64 internal constant MAX_CLASS_VALUE = 1_000_000;
    uint64 internal constant VALUE_DELAY = 3 days;
    /// @notice Gas an allow-listed contract's ERC-1155 receiver hook gets when it is granted units.
    uint256 internal constant RECEIVER_GAS = 100_000;
    /// @notice Most recoveries a refund follows from a lost key to its current replacement.
    uint256 private constant MAX_RECOVERY_HOPS = 8;
    uint256 private constant BPS = 10000;
    uint256 private constant LOT_REGISTERED = 1 << 255;

    // ──────────────────────────── storage ────────────────────────────

    /// @dev Deployed by the constructor; renders {uri}.
    LotMetadataRenderer private immutable _metadata;
    /// @dev When a holder last left the allow-list ({offboard}, {recover}). Declared first so that it shares
    /// the slot of AccessManaged's authority and Pausable's flag, which settle and reject read anyway: a
    /// refund of a redemption requested after it needs no look at the holder's standing.
    uint40 private _lastDepartureAt;
    Config private _config;
    uint32 public classCount;
    mapping(uint32 classId => HardwareClass) private _classes;
    mapping(bytes32 nameHash => uint32 classId) private _classIdByName;
    /// @dev For a registered lot: `LOT_REGISTERED | the lot registered before it in its class` (0 for the
    /// first); 0 for a lot never registered. One slot per lot both answers "registered?" and links the list.
    mapping(uint256 lotId => uint256 link) private _olderLot;
    mapping(address account => Standing) public standingOf;
    /// @dev The account a lost key's balances and in-flight redemptions were recovered to (AccountRecovered).
    mapping(address lost => address replacement) private _recoveredTo;
    mapping(uint32 classId => ClassValue) private _values;
    mapping(uint256 id => Redemption) private _redemptions;
    mapping(uint256 id => mapping(uint256 index => LotShare)) private _extraLots;

    // ─────────────────────────── constructor ─────────────────────────

    /// @param initialAuthority the AccessManager that decides who may call restricted functions
    /// @param launchTimeout_ seconds after which a holder may reclaim a redemption nobody launched
    constructor(address initialAuthority, uint32 launchTimeout_) ERC1155("") AccessManaged(initialAuthority) {
        _checkLaunchTimeout(launchTimeout_);
        _metadata = new LotMetadataRenderer();
        _config = Config({
            nextRedemptionId: 1,
            launchTimeout: launchTimeout_,
            lowBps: 8000,
            normalBps: 10000,
            highBps: 12500,
            urgentBps: 15000,
            refundGrace: 7 days
        });
        emit LaunchTimeoutSet(launchTimeout_);
        emit RefundGraceSet(7 days);
        emit PriorityMultiplierSet(Priority.Low, 8000);
        emit PriorityMultiplierSet(Priority.Normal, 10000);
        emit PriorityMultiplierSet(Priority.High, 12500);
        emit PriorityMultiplierSet(Priority.Urgent, 15000);
    }

    // ─────────────────────── hardware classes (ops) ──────────────────

    /// @notice Defines a hardware class (e.g. "H100-80GB") that lots can be granted in.
    /// @dev Class ids are sequential from 1; names are unique.
    /// @param name the class name shown to users (1..32 bytes of printable ASCII without `"` or `\`)
    /// @param productLabel the GPU Feature Discovery `nvidia.com/gpu.product` label (≤ 64 bytes, same alphabet)
    /// @param memoryGiB GPU memory per device
    /// @param maxGpusPerJob most GPUs one job of this class may ask for
    function defineClass(
        string calldata name,
        string calldata productLabel,
        uint32 memoryGiB,
        uint16 maxGpusPerJob
    ) external restricted returns (uint32 classId) {
        uint256 len = bytes(name).length;
        if (len == 0 || len > 32 || !_isPlainText(name)) revert InvalidClassName(name);
        if (!_isPlainText(productLabel)) revert InvalidProductLabel(productLabel);
        bytes32 key = keccak256(bytes(name));
        uint32 existing = _classIdByName[key];
        if (existing != 0) revert ClassNameTaken(name, existing);
        if (maxGpusPerJob == 0) revert InvalidMaxGpus(maxGpusPerJob);
        classId = ++classCount;
        _classIdByName[key] = classId;
        _classes[classId] = HardwareClass({
            active: true,
            maxGpusPerJob: maxGpusPerJob,
            memoryGiB: memoryGiB,
            lotCount: 0,
            newestLot: 0,
            name: name,
            productLabel: productLabel
        });
        emit ClassDefined(classId, name, productLabel, memoryGiB, maxGpusPerJob);
    }

    /// @notice Updates an active class's product label, memory and per-job GPU limit.
    function updateClass(
        uint32 classId,
        string calldata productLabel,
        uint32 memoryGiB,
        uint16 maxGpusPerJob
    ) external restricted {
        HardwareClass storage c = _activeClass(classId);
        if (!_isPlainText(productLabel)) revert InvalidProductLabel(productLabel);
        if (maxGpusPerJob == 0) revert InvalidMaxGpus(maxGpusPerJob);
        c.productLabel = productLabel;
        c.memoryGiB = memoryGiB;
        c.maxGpusPerJob = maxGpusPerJob;
        emit ClassUpdated(classId, productLabel, memoryGiB, maxGpusPerJob);
    }

    /// @notice Retires a class: no new grants, redemptions or conversions into it. Existing units
    /// stay held and can be converted out where operations set a rate.
    function retireClass(uint32 classId) external restricted {
        _activeClass(classId).active = false;
        emit ClassRetired(classId);
    }

    // ───────────────────────── holders (HR) ──────────────────────────

    /// @notice Adds accounts to the holder allow-list. Accounts already on it are skipped; an account
    /// that was offboarded (or recovered away from) is refused: only {readmit} brings it back.
    function onboard(address[] calldata accounts) external restricted {
        _admit(accounts, false);
    }

    /// @notice Puts accounts back on the allow-list, including ones that were offboarded: HR's explicit decision.
    function readmit(address[] calldata accounts) external restricted {
        _admit(accounts, true);
    }

    /// @notice Removes an account from the allow-list: it can no longer receive, move or redeem.
    /// @dev Balances stay until {clawback}; refunds of its redemptions in flight are clawed back as they land.
    function offboard(address account) external restricted {
        if (standingOf[account] != Standing.Holder) revert NotHolder(account);
        standingOf[account] = Standing.Offboarded;
        _lastDepartureAt = uint40(block.timestamp);
        emit HolderOffboarded(account);
    }

    /// @notice Whether an account is on the allow-list.
    function isHolder(address account) public view returns (bool) {
        return standingOf[account] == Standing.Holder;
    }

    // ─────────────────────────── grants (HR) ─────────────────────────

    /// @notice Mints a batch of grants. A `batchRef` (e.g. the hash of a payroll run's rows in the chunk) lands once.
    /// @dev Every recipient must be allow-listed; every lot must be of an active class and unexpired.
    /// A contract recipient's ERC-1155 hook gets {RECEIVER_GAS}; if it reverts, runs out of gas or does not
    /// accept, its row is not minted ({GrantRefused}) and the rest of the batch is.
    function grantBatch(
        bytes32 batchRef,
        address[] calldata recipients,
        uint256[] calldata lotIds,
        uint256[] calldata amounts
    ) external restricted whenNotPaused {
        uint256 n = recipients.length;
        _checkBatchLengths(n, lotIds.length);
        if (amounts.length != n) revert LengthMismatch(n, amounts.length);
        _recordBatchRef(batchRef);

        uint256 checkedLot;
        uint256 total;
        uint256 paid;
        for (uint256 i; i < n; ++i) {
            address to = recipients[i];
            uint256 lotId = lotIds[i];
            uint256 amount = amounts[i];
            if (standingOf[to] != Standing.Holder) revert NotHolder(to);
            if (amount == 0) revert ZeroAmount(i);
            // `i == 0`: lot id 0 must not pass as "already checked" (it is malformed: class 0).
            if (i == 0 || lotId != checkedLot) {
                _checkGrantableLot(lotId);
                checkedLot = lotId;
            }
            if (to.code.length != 0 && !_accepts(to, lotId, amount)) {
                emit GrantRefused(batchRef, to, lotId, amount);
                continue;
            }
            // Cannot overflow: every amount is also added, checked, to totalSupply() by `_update`.
            unchecked {
                total += amount;
                ++paid;
            }
            (uint256[] memory ids, uint256[] memory values) = _pair(lotId, amount);
            _update(address(0), to, ids, values);
        }
        emit BatchGranted(batchRef, _msgSender(), paid, total);
    }

    // ───────────────────── clawback and recovery ─────────────────────

    /// @notice Burns a holder's whole balance in each listed lot (offboarding).
    function clawback(address holder, uint256[] calldata lotIds) external restricted {
        uint256 n = lotIds.length;
        _checkBatchLength(n);
        for (uint256 i; i < n; ++i) {
            uint256 lotId = lotIds[i];
            uint256 balance = balanceOf(holder, lotId);
            if (balance != 0) {
                _burn(holder, lotId, balance);
                emit ClawedBack(holder, lotId, balance);
            }
        }
    }

    /// @notice Moves every balance a lost key holds in the listed lots to a replacement account, whatever
    /// the lots' transfer policy, and takes the lost account off the allow-list.
    /// Refunds of the lost key's redemptions still in flight go to the replacement, who may also reclaim them.
    function recover(address lost, address replacement, uint256[] calldata lotIds) external restricted {
        uint256 n = lotIds.length;
        _checkBatchLength(n);
        if (standingOf[replacement] != Standing.Holder || replacement == lost) revert NotHolder(replacement);
        uint256[] memory ids = new uint256[](n);
        uint256[] memory values = new uint256[](n);
        uint256 moved;
        for (uint256 i; i < n; ++i) {
            uint256 lotId = lotIds[i];
            uint256 balance = balanceOf(lost, lotId);
            if (balance != 0) {
                for (uint256 j; j < moved; ++j) if (ids[j] == lotId) revert DuplicateLot(lotId);
                ids[moved] = lotId;
                values[moved] = balance;
                ++moved;
            }
        }
        _shrink(ids, moved);
        _shrink(values, moved);
        _recoveredTo[lost] = replacement;
        _lastDepartureAt = uint40(block.timestamp);
        if (standingOf[lost] == Standing.Holder) {
            standingOf[lost] = Standing.Offboarded;
            emit HolderOffboarded(lost);
        }
        emit AccountRecovered(lost, replacement, moved);
        // A privileged move: bypasses the transfer-policy hook on purpose.
        if (moved != 0) ERC1155Supply._update(lost, replacement, ids, values);
    }

    // ───────────────────────────── expiry ────────────────────────────

    /// @notice Burns expired balances so supply tells the truth. Anyone may call it.
    function sweepExpired(address holder, uint256[] calldata lotIds) external {
        uint256 n = lotIds.length;
        _checkBatchLength(n);
        for (uint256 i; i < n; ++i) {
            uint256 lotId = lotIds[i];
            (, uint64 expiresAt, ) = lotId.decode();
            if (block.timestamp < expiresAt) revert LotNotExpired(lotId, expiresAt);
            uint256 balance = balanceOf(holder, lotId);
            if (balance != 0) {
                _burn(holder, lotId, balance);
                emit Expired(holder, lotId, balance);
            }
        }
    }

    // ─────────────────────── priorities and timing ───────────────────

    /// @notice Sets the price multiplier of a priority, in basis points (10000 = 1.0x).
    function setPriorityMultiplier(Priority priority, uint16 bps) external restricted {
        if (bps < MIN_MULTIPLIER_BPS || bps > MAX_MULTIPLIER_BPS) revert InvalidMultiplier(bps);
        if (priority == Priority.Low) _config.lowBps = bps;
        else if (priority == Priority.Normal) _config.normalBps = bps;
        else if (priority == Priority.High) _config.highBps = bps;
        else _config.urgentBps = bps;
        emit PriorityMultiplierSet(priority, bps);
    }

    /// @notice Sets how long a new redemption may wait for a launch before its holder may reclaim it
    /// (1 s .. {MAX_LAUNCH_TIMEOUT}). Redemptions already made keep the timeout they were made under.
    function setLaunchTimeout(uint32 launchTimeout_) external restricted {
        _checkLaunchTimeout(launchTimeout_);
        _config.launchTimeout = launchTimeout_;
        emit LaunchTimeoutSet(launchTimeout_);
    }

    /// @notice Sets how long a refund stays redeemable after it lands ({MIN_REFUND_GRACE}..{MAX_REFUND_GRACE}):
    /// a refund into a lot that expires sooner goes into a lot of the same class and policy that expires
    /// at the end of the UTC day the grace ends.
    function setRefundGrace(uint32 refundGrace_) external restricted {
        if (refundGrace_ < MIN_REFUND_GRACE || refundGrace_ > MAX_REFUND_GRACE) revert InvalidRefundGrace(refundGrace_);
        _config.refundGrace = refundGrace_;
        emit RefundGraceSet(refundGrace_);
    }

    // ─────────────────────────── conversions ─────────────────────────

    /// @notice Schedules a class's value: one unit of class A converts into `value(A) / value(B)` units of
    /// class B, so no chain of conversions can gain units. Zero takes the class out of conversions.
    /// @dev Applies {VALUE_DELAY} after the call, so holders see it coming ({classValue}). A change from a
    /// non-zero value may at most double or halve it; values are at most {MAX_CLASS_VALUE}. A new schedule
    /// replaces one not yet applied.
    function setClassValue(uint32 classId, uint64 value) external restricted {
        _existingClass(classId);
        ClassValue storage v = _values[classId];
        uint64 current = _valueOf(v);
        if (
            value > MAX_CLASS_VALUE ||
            (current != 0 && value != 0 && (value > 2 * current || 2 * value < current))
        ) revert InvalidClassValue(classId, value, current);
        uint64 effectiveAt = uint64(block.timestamp) + VALUE_DELAY;
        _values[classId] = ClassValue(current, value, effectiveAt);
        emit ClassValueScheduled(classId, value, effectiveAt);
    }

    /// @notice Converts unexpired units of a lot into another class at the set rate, keeping the lot's
    /// expiry and transfer policy. The amount must convert exactly (no unit is lost to rounding).
    function convert(
        uint256 lotId,
        uint256 amount,
        uint32 toClassId
    ) external whenNotPaused returns (uint256 toLotId, uint256 amountOut) {
        address holder = _msgSender();
        if (standingOf[holder] != Standing.Holder) revert NotHolder(holder);
        if (amount == 0) revert ZeroAmount(0);
        (uint32 fromClassId, uint64 expiresAt, LotIds.TransferPolicy policy) = lotId.decode();
        if (block.timestamp >= expiresAt) revert LotExpired(lotId, expiresAt);
        HardwareClass storage toClass = _activeClass(toClassId);
        if (fromClassId == toClassId) revert SameClass(fromClassId);
        (uint64 numerator, uint64 denominator) = _rate(fromClassId, toClassId);
        if (numerator == 0) revert ConversionNotAvailable(fromClassId, toClassId);
        uint256 scaled = amount * numerator;
        if (scaled % denominator != 0) revert InexactConversion(amount, numerator, denominator);
        amountOut = scaled / denominator;
        toLotId = LotIds.encode(toClassId, expiresAt, policy);
        // Conversions leave a class's last GRANT_RESERVED_LOTS lots to grants.
        _registerLot(toClass, toLotId, toClassId, expiresAt, policy, MAX_LOTS_PER_CLASS - GRANT_RESERVED_LOTS);
        _burn(holder, lotId, amount);
        emit Converted(holder, lotId, toLotId, amount, amountOut);
        _mint(holder, toLotId, amountOut, "");
    }

    // ──────────────────────────── pausing ────────────────────────────

    /// @notice Stops grants, transfers, redemptions and conversions. Settle, reject and reclaim go on.
    function pause() external restricted {
        _pause();
    }

    /// @notice Lifts a pause.
    function unpause() external restricted {
        _unpause();
    }

    // ─────────────────────────── redemption ──────────────────────────

    /// @notice Redeems units for a job: burns `ceil(gpus × seconds × multiplier)` units of one class,
    /// drawing from `lotIds` in the order given, and records the redemption for the redeemer.
    /// @dev The spec bytes (UTF-8 JSON) travel in the event; their keccak256 is stored.
    /// @return id the sequential redemption id
    function redeem(
        uint32 classId,
        uint256[] calldata lotIds,
        uint16 gpus,
        uint32 seconds_,
        Priority priority,
        bytes calldata spec
    ) external whenNotPaused returns (uint256 id) {
        address holder = _msgSender();
        _checkRedeemable(holder, classId, gpus, seconds_, spec.length, lotIds.length);
        Config memory cfg = _config;
        uint256 reserved = (uint256(gpus) * seconds_ * _bps(cfg, priority) + BPS - 1) / BPS;
        (uint256[] memory ids, uint256[] memory takes) = _draw(holder, classId, lotIds, reserved);
        if (reserved > type(uint48).max) revert InvalidJobShape(gpus, seconds_);

        // Effects.
        id = cfg.nextRedemptionId;
        _config.nextRedemptionId = cfg.nextRedemptionId + 1;
        bytes32 specHash = keccak256(spec);
        emit RedemptionRequested(id, holder, classId, priority, gpus, seconds_, reserved, specHash, spec);
        _record(id, holder, classId, priority, gpus, reserved, specHash, ids, takes, seconds_);
        // The burn (burning makes no external call).
        ERC1155Supply._update(holder, address(0), ids, takes);
    }

    /// @notice The redeemer claims a redemption for its job (before launching it): the holder can no longer
    /// reclaim it until its allotted time plus {SETTLE_GRACE} has passed without a settle.
    /// @param jobRef an executor reference (e.g. the hash of the Kubernetes Job's name)
    function markRunning(uint256 id, bytes32 jobRef) external restricted {
        Redemption storage r = _redemptions[id];
        _requireStatus(id, r.status, RedemptionStatus.Requested);
        _claim(id, r, jobRef);
    }

    /// @notice {markRunning} for up to {MAX_BATCH} redemptions in one transaction. A redemption no longer
    /// Requested (reclaimed, rejected, already claimed, or unknown) is skipped, not reverted on, so one
    /// moved meanwhile does not sink the others: each one claimed emits {RedemptionRunning}, and the
    /// ids without that event in the receipt were skipped.
    /// @dev Bounded by MAX_BATCH; `jobRefs[i]` goes with `ids[i]`.
    /// @return claimed how many of `ids` were claimed
    function markRunningBatch(
        uint256[] calldata ids,
        bytes32[] calldata jobRefs
    ) external restricted returns (uint256 claimed) {
        uint256 n = ids.length;
        _checkBatchLengths(n, jobRefs.length);
        for (uint256 i; i < n; ++i) {
            Redemption storage r = _redemptions[ids[i]];
            if (r.status != RedemptionStatus.Requested) continue;
            _claim(ids[i], r, jobRefs[i]);
            ++claimed;
        }
    }

    /// @notice The job ended: `used` units are consumed and `reserved − used` refunded into the lots
    /// they came from (the latest-drawn lots first).
    /// @param receiptHash keccak256 of the redeemer's usage receipt (JSON)
    function settle(uint256 id, uint256 used, bytes32 receiptHash) external restricted {
        Redemption storage r = _redemptions[id];
        _requireStatus(id, r.status, RedemptionStatus.Running);
        uint256 reserved = r.reserved;
        if (used > reserved) revert SettleExceedsReserve(id, used, reserved);
        r.status = RedemptionStatus.Settled;
        r.used = uint48(used);
        uint256 refund = reserved - used;
        address holder = r.holder;
        emit RedemptionSettled(id, holder, used, refund, receiptHash);
        if (refund != 0) _refund(id, r, holder, refund);
    }

    /// @notice The job cannot run (refused by policy or failed to launch): full refund.
    function reject(uint256 id, uint16 reasonCode) external restricted {
        Redemption storage r = _redemptions[id];
        RedemptionStatus status = r.status;
        if (status != RedemptionStatus.Requested && status != RedemptionStatus.Running) {
            if (status == RedemptionStatus.None) revert UnknownRedemption(id);
            revert InvalidRedemptionStatus(id, status);
        }
        r.status = RedemptionStatus.Rejected;
        uint256 refund = r.reserved;
        address holder = r.holder;
        emit RedemptionRejected(id, holder, reasonCode, refund);
        _refund(id, r, holder, refund);
    }

    /// @notice The holder takes back a redemption, with a full refund: one nobody launched within the launch
    /// timeout in force when it was made, or one launched but not settled within its allotted time plus
    /// {SETTLE_GRACE}. After a {recover}, the replacement account may do it for the lost key's redemptions.
    function reclaim(uint256 id) external {
        Redemption storage r = _redemptions[id];
        RedemptionStatus status = r.status;
        if (status != RedemptionStatus.Running) _requireStatus(id, status, RedemptionStatus.Requested);
        address holder = r.holder;
        address sender = _msgSender();
        if (sender != holder) {
            (address successor, ) = _successor(holder);
            if (successor != sender) revert NotRedemptionHolder(id, sender);
        }
        uint64 availableAt = _reclaimableAt(r, status);
        if (block.timestamp < availableAt) revert ReclaimTooEarly(id, availableAt);
        r.status = RedemptionStatus.Reclaimed;
        uint256 refund = r.reserved;
        emit RedemptionReclaimed(id, holder, refund);
        _refund(id, r, holder, refund);
    }

    // ───────────────────────────── views ─────────────────────────────

    /// @notice Encodes a lot id from its parts.
    function encodeLotId(
        uint32 classId,
        uint64 expiresAt,
        LotIds.TransferPolicy policy
    ) external pure returns (uint256) {
        return LotIds.encode(classId, expiresAt, policy);
    }

    /// @notice Decodes a lot id into its parts; reverts {LotIds.InvalidLotId} on a malformed id.
    function decodeLotId(
        uint256 lotId
    ) external pure returns (uint32 classId, uint64 expiresAt, LotIds.TransferPolicy policy) {
        return lotId.decode();
    }

    /// @notice A hardware class.
    function getClass(
        uint32 classId
    )
        external
        view
        returns (
            string memory name,
            string memory productLabel,
            uint32 memoryGiB,
            uint16 maxGpusPerJob,
            bool active
        )
    {
        HardwareClass storage c = _existingClass(classId);
        return (c.name, c.productLabel, c.memoryGiB, c.maxGpusPerJob, c.active);
    }

    /// @notice The id of a class by name, or 0.
    function classIdOf(string calldata name) external view returns (uint32) {
        return _classIdByName[keccak256(bytes(name))];
    }

    /// @notice The lots of a class (granted, converted or refunded into), in registration order; a lot that
    /// expired with no units left is unlisted when the class needs room (LotUnlisted).
    function lotsOfClass(uint32 classId) external view returns (uint256[] memory lots) {
        HardwareClass storage c = _classes[classId];
        uint256 n = c.lotCount;
        lots = new uint256[](n);
        uint256 lotId = c.newestLot;
        for (uint256 i = n; i > 0; --i) {
            lots[i - 1] = lotId;
            lotId = _olderLot[lotId] & ~LOT_REGISTERED;
        }
    }

    /// @notice Units a holder can redeem now in a class: the sum of their unexpired lots.
    function redeemableBalanceOf(address holder, uint32 classId) external view returns (uint256 total) {
        HardwareClass storage c = _classes[classId];
        uint256 lotId = c.newestLot;
        for (uint256 i = c.lotCount; i > 0; --i) {
            (, uint64 expiresAt, ) = lotId.decode();
            if (block.timestamp < expiresAt) total += balanceOf(holder, lotId);
            lotId = _olderLot[lotId] & ~LOT_REGISTERED;
        }
    }

    /// @notice Price multiplier of a priority, basis points.
    function priorityMultiplier(Priority priority) external view returns (uint16) {
        return uint16(_bps(_config, priority));
    }

    /// @notice Seconds after which a new unlaunched redemption can be reclaimed.
    function launchTimeout() external view returns (uint32) {
        return _config.launchTimeout;
    }

    /// @notice A class's value now, the value scheduled for it and when that applies (0: none scheduled).
    function classValue(uint32 classId) external view returns (uint64 value, uint64 scheduled, uint64 effectiveAt) {
        ClassValue storage v = _values[classId];
        value = _valueOf(v);
        if (v.effectiveAt > block.timestamp) (scheduled, effectiveAt) = (v.pending, v.effectiveAt);
    }

    /// @notice Number of redemptions made so far (ids run from 1 to this).
    function redemptionCount() external view returns (uint256) {
        return _config.nextRedemptionId - 1;
    }

    /// @notice The conversion rate between two classes now: `value(from) / value(to)` (zero numerator: none).
    function conversionRate(
        uint32 fromClassId,
        uint32 toClassId
    ) external view returns (uint64 numerator, uint64 denominator) {
        return _rate(fromClassId, toClassId);
    }

    /// @notice A redemption with the lots it drew from.
    function getRedemption(uint256 id) external view returns (RedemptionView memory v) {
        Redemption storage r = _redemptions[id];
        if (r.status == RedemptionStatus.None) revert UnknownRedemption(id);
        (v.lotIds, v.amounts) = _lotsOf(id, r);
        v.holder = r.holder;
        v.classId = r.classId;
        v.priority = r.priority;
        v.gpus = r.gpus;
        v.status = r.status;
        v.requestedAt = r.requestedAt;
        if (r.status == RedemptionStatus.Requested || r.status == RedemptionStatus.Running) {
            v.reclaimableAt = _reclaimableAt(r, r.status);
        }
        v.reserved = r.reserved;
        v.used = r.used;
        v.specHash = r.specHash;
    }

    /// @notice ERC-1155 metadata for a lot: class, GPU product, expiry and policy as a data: URI.
    /// @dev Rendered by the {LotMetadataRenderer} this contract deployed.
    function uri(uint256 lotId) public view override returns (string memory) {
        return _metadata.uri(lotId);
    }

    /// @notice Operator approvals are disabled: only a holder moves their own units.
    function setApprovalForAll(address, bool) public pure override {
        revert ApprovalsDisabled();
    }

    // ──────────────────────────── internals ──────────────────────────

    /// @dev Transfer rules between holders: both allow-listed, lot transferable and unexpired, not paused.
    /// Mints and burns are checked by the functions that make them.
    function _update(
        address from,
        address to,
        uint256[] memory ids,
        uint256[] memory values
    ) internal override {
        if (from != address(0) && to != address(0)) {
            _requireNotPaused();
            if (standingOf[from] != Standing.Holder) revert NotHolder(from);
            if (standingOf[to] != Standing.Holder) revert NotHolder(to);
            for (uint256 i; i < ids.length; ++i) {
                (, uint64 expiresAt, LotIds.TransferPolicy policy) = ids[i].decode();
                if (policy == LotIds.TransferPolicy.Soulbound) revert LotSoulbound(ids[i]);
                if (block.timestamp >= expiresAt) revert LotExpired(ids[i], expiresAt);
            }
        }
        super._update(from, to, ids, values);
    }

    function _checkRedeemable(
        address holder,
        uint32 classId,
        uint16 gpus,
        uint32 seconds_,
        uint256 specLength,
        uint256 lotCount
    ) private view {
        if (standingOf[holder] != Standing.Holder) revert NotHolder(holder);
        HardwareClass storage c = _classes[classId];
        if (!c.active) {
            _existingClass(classId);
            revert ClassNotActive(classId);
        }
        if (gpus == 0 || seconds_ == 0) revert InvalidJobShape(gpus, seconds_);
        if (gpus > c.maxGpusPerJob) revert GpuCountOutOfRange(classId, gpus, c.maxGpusPerJob);
        if (specLength > MAX_SPEC_BYTES) revert SpecTooLarge(specLength, MAX_SPEC_BYTES);
        if (lotCount == 0 || lotCount > MAX_REDEMPTION_LOTS) revert LotCountOutOfRange(lotCount, MAX_REDEMPTION_LOTS);
    }

    /// @dev Draws `reserved` units from the lots in the order given; returns only the lots drawn from.
    function _draw(
        address holder,
        uint32 classId,
        uint256[] calldata lotIds,
        uint256 reserved
    ) private view returns (uint256[] memory ids, uint256[] memory takes) {
        uint256 n = lotIds.length;
        ids = new uint256[](n);
        takes = new uint256[](n);
        uint256 remaining = reserved;
        uint256 k;
        for (uint256 i; i < n && remaining != 0; ++i) {
            uint256 lotId = lotIds[i];
            (uint32 lotClass, uint64 expiresAt, ) = lotId.decode();
            if (lotClass != classId) revert LotClassMismatch(lotId, classId);
            if (block.timestamp >= expiresAt) revert LotExpired(lotId, expiresAt);
            for (uint256 j; j < k; ++j) if (ids[j] == lotId) revert DuplicateLot(lotId);
            uint256 balance = balanceOf(holder, lotId);
            if (balance == 0) continue;
            uint256 take = balance < remaining ? balance : remaining;
            ids[k] = lotId;
            takes[k] = take;
            ++k;
            remaining -= take;
        }
        if (remaining != 0) revert InsufficientBalance(classId, reserved, reserved - remaining);
        _shrink(ids, k);
        _shrink(takes, k);
    }

    function _record(
        uint256 id,
        address holder,
        uint32 classId,
        Priority priority,
        uint16 gpus,
        uint256 reserved,
        bytes32 specHash,
        uint256[] memory ids,
        uint256[] memory takes,
        uint32 seconds_
    ) private {
        (, uint64 firstExpiry, LotIds.TransferPolicy firstPolicy) = ids[0].decode();
        uint256 allowance = uint256(seconds_) + SETTLE_GRACE;
        _redemptions[id] = Redemption({
            holder: holder,
            classId: classId,
            priority: priority,
            gpus: gpus,
            requestedAt: uint32(block.timestamp),
            lotCount: uint8(ids.length),
            status: RedemptionStatus.Requested,
            reserved: uint48(reserved),
            used: 0,
            firstLotAmount: uint48(takes[0]),
            // Grants refuse expiries past uint40 (LotIds.InvalidLotId), so this never truncates.
            firstLotExpiresAt: uint40(firstExpiry),
            firstLotPolicy: firstPolicy,
            // The launch timeout in force now (≤ MAX_LAUNCH_TIMEOUT < 2^24) and the run allowance, kept with
            // the redemption so a later change of either setting cannot shorten its holder's recourse.
            launchTimeout: uint24(_config.launchTimeout),
            deadline: allowance > type(uint32).max ? type(uint32).max : uint32(allowance),
            specHash: specHash
        });
        for (uint256 i = 1; i < ids.length; ++i) {
            (, uint64 expiresAt, LotIds.TransferPolicy policy) = ids[i].decode();
            _extraLots[id][i] = LotShare(expiresAt, policy, uint56(takes[i]));
        }
    }

    /// @dev Refunds go to the holder or, after a {recover}, to the replacement; into the lots they came from
    /// or, for a lot that expires within the refund grace, into the class's lot that outlasts the grace.
    /// A refund to an account that is no longer a holder (offboarded, not recovered) is clawed back.
    function _refund(uint256 id, Redemption storage r, address holder, uint256 refund) private {
        uint256[] memory ids;
        uint256[] memory amounts;
        if (r.lotCount == 1) {
            // One lot (the common case): it holds the whole reserve, so the whole refund goes back to it.
            (ids, amounts) = _pair(_refundLot(r.classId, r.firstLotExpiresAt, r.firstLotPolicy), refund);
        } else {
            (uint256[] memory lots, uint256[] memory taken) = _lotsOf(id, r);
            uint256 n = lots.length;
            ids = new uint256[](n);
            amounts = new uint256[](n);
            uint256 k;
            // Used units are charged to the first-drawn lots; refunds go back to the last-drawn first.
            for (uint256 i = n; i > 0 && refund != 0; --i) {
                uint256 back = taken[i - 1] < refund ? taken[i - 1] : refund;
                refund -= back;
                (, uint64 expiresAt, LotIds.TransferPolicy policy) = lots[i - 1].decode();
                ids[k] = _refundLot(r.classId, expiresAt, policy);
                amounts[k] = back;
                ++k;
            }
            _shrink(ids, k);
            _shrink(amounts, k);
        }
        // The holder was on the allow-list when it redeemed; only offboard and recover take anyone off it.
        (address to, bool holds) = r.requestedAt > _lastDepartureAt ? (holder, true) : _successor(holder);
        // A refund re-mints into lots of the holder's class; no receiver hook, no policy check.
        ERC1155Supply._update(address(0), to, ids, amounts);
        if (!holds) {
            for (uint256 i; i < ids.length; ++i) {
                (uint256[] memory one, uint256[] memory value) = _pair(ids[i], amounts[i]);
                ERC1155Supply._update(to, address(0), one, value);
                emit ClawedBack(to, ids[i], amounts[i]);
            }
        }
    }

    /// @dev The lot a refund of `(classId, expiresAt, policy)` units goes into now.
    function _refundLot(uint32 classId, uint64 expiresAt, LotIds.TransferPolicy policy) private returns (uint256) {
        // Far from expiry (the common case): no need to read the grace.
        if (expiresAt < block.timestamp + MAX_REFUND_GRACE) {
            uint256 until = block.timestamp + _config.refundGrace;
            if (expiresAt < until) {
                uint64 graced = uint64((until / 1 days + 1) * 1 days);
                uint256 lotId = LotIds.encode(classId, graced, policy);
                // A refund must never fail for lack of room: no cap (one such lot per class, policy and day).
                _registerLot(_classes[classId], lotId, classId, graced, policy, type(uint16).max);
                return lotId;
            }
        }
        return LotIds.encode(classId, expiresAt, policy);
    }

    /// @dev The account now answering for `account`: itself while a holder, else where it was recovered to
    /// (followed up to MAX_RECOVERY_HOPS); `holds` says whether that account is a holder.
    function _successor(address account) private view returns (address, bool holds) {
        for (uint256 i; i <= MAX_RECOVERY_HOPS; ++i) {
            if (standingOf[account] == Standing.Holder) return (account, true);
            address next = _recoveredTo[account];
            if (next == address(0)) break;
            account = next;
        }
        return (account, false);
    }

    function _reclaimableAt(Redemption storage r, RedemptionStatus status) private view returns (uint64) {
        if (status == RedemptionStatus.Running) return r.deadline;
        return uint64(r.requestedAt) + r.launchTimeout;
    }

    /// @dev A class's value as of now (the scheduled one once its time has come).
    function _valueOf(ClassValue storage v) private view returns (uint64) {
        uint64 effectiveAt = v.effectiveAt;
        return effectiveAt != 0 && block.timestamp >= effectiveAt ? v.pending : v.value;
    }

    function _rate(uint32 fromClassId, uint32 toClassId) private view returns (uint64, uint64) {
        uint64 a = _valueOf(_values[fromClassId]);
        uint64 b = _valueOf(_values[toClassId]);
        if (a == 0 || b == 0) return (0, 0);
        return (a, b);
    }

    /// @dev The ERC-1155 acceptance check of a grant to a contract, with bounded gas: true if it accepted.
    function _accepts(address to, uint256 lotId, uint256 amount) private returns (bool ok) {
        bytes memory data = abi.encodeCall(
            IERC1155Receiver.onERC1155Received,
            (_msgSender(), address(0), lotId, amount, "")
        );
        // The hook must get all of RECEIVER_GAS (63/64 rule), or a short gas limit could pass as a refusal.
        uint256 left = gasleft();
        if (left < RECEIVER_GAS + RECEIVER_GAS / 63 + 5000) revert ReceiverGasTooLow(to, left);
        bytes32 answer;
        assembly ("memory-safe") {
            ok := call(RECEIVER_GAS, to, 0, add(data, 0x20), mload(data), 0, 0x20)
            if and(ok, gt(returndatasize(), 0x1f)) {
                answer := mload(0)
            }
        }
        return ok && bytes4(answer) == IERC1155Receiver.onERC1155Received.selector;
    }

    /// @dev Two one-element arrays (as OpenZeppelin's ERC1155 builds them for a single mint).
    function _pair(uint256 id, uint256 value) private pure returns (uint256[] memory ids, uint256[] memory values) {
        assembly ("memory-safe") {
            ids := mload(0x40)
            mstore(ids, 1)
            mstore(add(ids, 0x20), id)
            values := add(ids, 0x40)
            mstore(values, 1)
            mstore(add(values, 0x20), value)
            mstore(0x40, add(values, 0x40))
        }
    }

    function _admit(address[] calldata accounts, bool readmit_) private {
        uint256 n = accounts.length;
        _checkBatchLength(n);
        for (uint256 i; i < n; ++i) {
            address account = accounts[i];
            if (account == address(0)) revert InvalidHolder(account);
            Standing standing = standingOf[account];
            if (standing == Standing.Holder) continue;
            if (standing == Standing.Offboarded && !readmit_) revert HolderWasOffboarded(account);
            standingOf[account] = Standing.Holder;
            emit HolderOnboarded(account);
        }
    }

    function _checkLaunchTimeout(uint32 launchTimeout_) private pure {
        if (launchTimeout_ == 0 || launchTimeout_ > MAX_LAUNCH_TIMEOUT) revert InvalidLaunchTimeout(launchTimeout_);
    }

    function _lotsOf(
        uint256 id,
        Redemption storage r
    ) private view returns (uint256[] memory ids, uint256[] memory amounts) {
        uint256 n = r.lotCount;
        uint32 classId = r.classId;
        ids = new uint256[](n);
        amounts = new uint256[](n);
        ids[0] = LotIds.encode(classId, r.firstLotExpiresAt, r.firstLotPolicy);
        amounts[0] = r.firstLotAmount;
        for (uint256 i = 1; i < n; ++i) {
            LotShare memory s = _extraLots[id][i];
            ids[i] = LotIds.encode(classId, s.expiresAt, s.policy);
            amounts[i] = s.amount;
        }
    }

    function _checkGrantableLot(uint256 lotId) private {
        (uint32 classId, uint64 expiresAt, LotIds.TransferPolicy policy) = lotId.decode();
        HardwareClass storage c = _activeClass(classId);
        if (block.timestamp >= expiresAt) revert LotExpired(lotId, expiresAt);
        _registerLot(c, lotId, classId, expiresAt, policy, MAX_LOTS_PER_CLASS);
    }

    /// @dev Adds a lot to the front of its class's list, once. `c` is the lot's class. When the class has
    /// `cap` lots, the expired and empty ones are unlisted first. A redemption stores expiries in 40 bits:
    /// a later expiry is not a lot id this contract takes.
    function _registerLot(
        HardwareClass storage c,
        uint256 lotId,
        uint32 classId,
        uint64 expiresAt,
        LotIds.TransferPolicy policy,
        uint256 cap
    ) private {
        if (_olderLot[lotId] != 0) return;
        if (expiresAt > type(uint40).max) revert LotIds.InvalidLotId(lotId);
        uint16 count = c.lotCount;
        if (count >= cap) {
            count = _unlistDeadLots(c, classId, count);
            if (count >= cap) revert TooManyLots(classId, cap);
        }
        _olderLot[lotId] = LOT_REGISTERED | c.newestLot;
        c.lotCount = count + 1;
        c.newestLot = uint104(lotId); // a valid lot id fits in 104 bits (LotIds.ID_BITS)
        emit LotRegistered(lotId, classId, expiresAt, policy);
    }

    /// @dev Takes every expired lot with no supply out of the class's list (bounded by the list's length).
    /// Such a lot can never hold units again: grants and conversions refuse expired lots, and refunds
    /// into a lot that expires within the refund grace go to a later lot.
    function _unlistDeadLots(HardwareClass storage c, uint32 classId, uint16 count) private returns (uint16) {
        uint256 lotId = c.newestLot;
        uint256 newer;
        for (uint256 i = count; i > 0; --i) {
            uint256 older = _olderLot[lotId] & ~LOT_REGISTERED;
            (, uint64 expiresAt, ) = lotId.decode();
            if (block.timestamp >= expiresAt && totalSupply(lotId) == 0) {
                if (newer == 0) c.newestLot = uint104(older);
                else _olderLot[newer] = LOT_REGISTERED | older;
                delete _olderLot[lotId];
                --count;
                emit LotUnlisted(lotId, classId);
            } else {
                newer = lotId;
            }
            lotId = older;
        }
        c.lotCount = count;
        return count;
    }

    function _existingClass(uint32 classId) private view returns (HardwareClass storage c) {
        if (classId == 0 || classId > classCount) revert UnknownClass(classId);
        return _classes[classId];
    }

    /// @dev Only a defined class can be active, so an active class needs no check against `classCount`.
    function _activeClass(uint32 classId) private view returns (HardwareClass storage c) {
        c = _classes[classId];
        if (!c.active) {
            _existingClass(classId);
            revert ClassNotActive(classId);
        }
    }

    /// @dev Requested → Running: `deadline` held the allowance (seconds + SETTLE_GRACE); from now on it is a time.
    function _claim(uint256 id, Redemption storage r, bytes32 jobRef) private {
        r.status = RedemptionStatus.Running;
        uint256 deadline = block.timestamp + r.deadline;
        r.deadline = deadline > type(uint32).max ? type(uint32).max : uint32(deadline);
        emit RedemptionRunning(id, jobRef);
    }

    function _requireStatus(uint256 id, RedemptionStatus status, RedemptionStatus expected) private pure {
        if (status != expected) {
            if (status == RedemptionStatus.None) revert UnknownRedemption(id);
            revert InvalidRedemptionStatus(id, status);
        }
    }

    /// @dev Printable ASCII without `"` or `\`, at most 64 bytes: safe to embed in the metadata JSON.
    function _isPlainText(string calldata text) private pure returns (bool) {
        bytes calldata b = bytes(text);
        if (b.length > 64) return false;
        for (uint256 i; i < b.length; ++i) {
            bytes1 ch = b[i];
            if (ch < 0x20 || ch > 0x7e || ch == '"' || ch == "\\") return false;
        }
        return true;
    }

    function _bps(Config memory cfg, Priority priority) private pure returns (uint256) {
        if (priority == Priority.Low) return cfg.lowBps;
        if (priority == Priority.Normal) return cfg.normalBps;
        if (priority == Priority.High) return cfg.highBps;
        return cfg.urgentBps;
    }

    /// @dev Shortens a memory array in place (never lengthens it).
    function _shrink(uint256[] memory a, uint256 length) private pure {
        assembly ("memory-safe") {
            mstore(a, length)
        }
    }
}
