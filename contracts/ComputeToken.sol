// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessManaged} from "@openzeppelin/contracts/access/manager/AccessManaged.sol";
import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";
import {ERC1155Supply} from "@openzeppelin/contracts/token/ERC1155/extensions/ERC1155Supply.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {LotIds} from "./LotIds.sol";
import {LotMetadata} from "./LotMetadata.sol";

/// @title ComputeToken
/// @notice Expiring, hardware-class-specific GPU compute tokens. 1 unit = 1 GPU-second of the lot's class.
/// Holders redeem by burning units for a job; the redeemer settles actual usage and refunds the rest.
/// @dev Permissions come from an OpenZeppelin AccessManager (`restricted`); which role may call which
/// function is configured there (see deploy/). Roles: HR (holders, grants, clawback), operations
/// (classes, priorities, conversions, launch timeout), redeemer (lifecycle), pauser, admin (recover).
contract ComputeToken is ERC1155Supply, AccessManaged, Pausable {
    using LotIds for uint256;

    // ───────────────────────────── types ─────────────────────────────

    enum Priority {
        Low,
        Normal,
        High,
        Urgent
    }

    enum RedemptionStatus {
        None,
        Requested,
        Running,
        Settled,
        Rejected,
        Reclaimed
    }

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

    /// @dev One slot: the next redemption id, the launch timeout and the four priority multipliers
    /// (basis points; 10000 = 1.0x) are read together by `redeem`.
    struct Config {
        uint64 nextRedemptionId;
        uint32 launchTimeout;
        uint16 lowBps;
        uint16 normalBps;
        uint16 highBps;
        uint16 urgentBps;
    }

    /// @dev Slot 0 (immutable after redeem): holder | classId | priority | gpus | requestedAt | lotCount.
    /// Slot 1 (what settle/reject/reclaim touch): status | reserved | used | first lot's share.
    /// Slot 2: specHash. Further lots (rare) live in `_extraLots`, one slot each.
    struct Redemption {
        address holder;
        uint32 classId;
        Priority priority;
        uint16 gpus;
        uint32 requestedAt;
        uint8 lotCount;
        RedemptionStatus status;
        uint56 reserved;
        uint56 used;
        uint56 firstLotAmount;
        uint64 firstLotExpiresAt;
        LotIds.TransferPolicy firstLotPolicy;
        bytes32 specHash;
    }

    /// @dev One slot: a lot of the redemption's class and the units taken from it.
    struct LotShare {
        uint64 expiresAt;
        LotIds.TransferPolicy policy;
        uint56 amount;
    }

    struct ConversionRate {
        uint64 numerator;
        uint64 denominator;
    }

    /// @notice A redemption as returned by {getRedemption}.
    struct RedemptionView {
        address holder;
        uint32 classId;
        Priority priority;
        uint16 gpus;
        RedemptionStatus status;
        uint32 requestedAt;
        uint256 reserved;
        uint256 used;
        bytes32 specHash;
        uint256[] lotIds;
        uint256[] amounts;
    }

    // ─────────────────────────── constants ───────────────────────────

    /// @notice Most entries in one grant batch, onboarding list, sweep, clawback or recovery.
    uint256 public constant MAX_BATCH = 256;
    /// @notice Most lots one redemption may draw from.
    uint256 public constant MAX_REDEMPTION_LOTS = 16;
    /// @notice Most distinct lots (expiry × policy) a class may have; bounds {redeemableBalanceOf}.
    uint256 public constant MAX_LOTS_PER_CLASS = 1024;
    /// @notice Largest job spec carried by a redemption, in bytes.
    uint256 public constant MAX_SPEC_BYTES = 8192;
    /// @notice Priority multiplier bounds, basis points.
    uint16 public constant MIN_MULTIPLIER_BPS = 1000;
    uint16 public constant MAX_MULTIPLIER_BPS = 50000;
    uint256 private constant BPS = 10000;
    uint256 private constant LOT_REGISTERED = 1 << 255;

    // ──────────────────────────── storage ────────────────────────────

    Config private _config;
    uint32 public classCount;
    mapping(uint32 classId => HardwareClass) private _classes;
    mapping(bytes32 nameHash => uint32 classId) private _classIdByName;
    /// @dev For a registered lot: `LOT_REGISTERED | the lot registered before it in its class` (0 for the
    /// first); 0 for a lot never registered. One slot per lot both answers "registered?" and links the list.
    mapping(uint256 lotId => uint256 link) private _olderLot;
    mapping(address account => bool) public isHolder;
    mapping(bytes32 batchRef => bool) public batchGranted;
    mapping(uint32 fromClassId => mapping(uint32 toClassId => ConversionRate)) private _rates;
    mapping(uint256 id => Redemption) private _redemptions;
    mapping(uint256 id => mapping(uint256 index => LotShare)) private _extraLots;

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
    event ConversionRateSet(
        uint32 indexed fromClassId,
        uint32 indexed toClassId,
        uint64 numerator,
        uint64 denominator
    );
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
    error NotHolder(address account);
    error InvalidHolder(address account);
    error BatchAlreadyGranted(bytes32 batchRef);
    error InvalidBatchRef(bytes32 batchRef);
    error EmptyBatch();
    error BatchTooLarge(uint256 length, uint256 max);
    error LengthMismatch(uint256 a, uint256 b);
    error ZeroAmount(uint256 index);
    error LotExpired(uint256 lotId, uint64 expiredAt);
    error LotNotExpired(uint256 lotId, uint64 expiresAt);
    error LotSoulbound(uint256 lotId);
    error LotClassMismatch(uint256 lotId, uint32 classId);
    error DuplicateLot(uint256 lotId);
    error LotCountOutOfRange(uint256 count, uint256 max);
    error ApprovalsDisabled();
    error InvalidMultiplier(uint16 bps);
    error InvalidLaunchTimeout(uint32 launchTimeout);
    error InvalidConversionRate(uint64 numerator, uint64 denominator);
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

    // ─────────────────────────── constructor ─────────────────────────

    /// @param initialAuthority the AccessManager that decides who may call restricted functions
    /// @param launchTimeout_ seconds after which a holder may reclaim a redemption nobody launched
    constructor(address initialAuthority, uint32 launchTimeout_) ERC1155("") AccessManaged(initialAuthority) {
        if (launchTimeout_ == 0) revert InvalidLaunchTimeout(launchTimeout_);
        _config = Config({
            nextRedemptionId: 1,
            launchTimeout: launchTimeout_,
            lowBps: 8000,
            normalBps: 10000,
            highBps: 12500,
            urgentBps: 15000
        });
        emit LaunchTimeoutSet(launchTimeout_);
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

    /// @notice Adds accounts to the holder allow-list. Accounts already on it are skipped.
    function onboard(address[] calldata accounts) external restricted {
        uint256 n = accounts.length;
        _checkBatchLength(n);
        for (uint256 i; i < n; ++i) {
            address account = accounts[i];
            if (account == address(0)) revert InvalidHolder(account);
            if (!isHolder[account]) {
                isHolder[account] = true;
                emit HolderOnboarded(account);
            }
        }
    }

    /// @notice Removes an account from the allow-list: it can no longer receive, move or redeem.
    /// @dev Balances stay until {clawback}; redemptions in flight still settle and refund.
    function offboard(address account) external restricted {
        if (!isHolder[account]) revert NotHolder(account);
        isHolder[account] = false;
        emit HolderOffboarded(account);
    }

    // ─────────────────────────── grants (HR) ─────────────────────────

    /// @notice Mints a batch of grants. A `batchRef` (e.g. the hash of a payroll file chunk) lands once.
    /// @dev Every recipient must be allow-listed; every lot must be of an active class and unexpired.
    function grantBatch(
        bytes32 batchRef,
        address[] calldata recipients,
        uint256[] calldata lotIds,
        uint256[] calldata amounts
    ) external restricted whenNotPaused {
        uint256 n = recipients.length;
        _checkBatchLength(n);
        if (lotIds.length != n) revert LengthMismatch(n, lotIds.length);
        if (amounts.length != n) revert LengthMismatch(n, amounts.length);
        if (batchRef == bytes32(0)) revert InvalidBatchRef(batchRef);
        if (batchGranted[batchRef]) revert BatchAlreadyGranted(batchRef);
        batchGranted[batchRef] = true;

        uint256 checkedLot;
        uint256 total;
        for (uint256 i; i < n; ++i) {
            address to = recipients[i];
            uint256 lotId = lotIds[i];
            uint256 amount = amounts[i];
            if (!isHolder[to]) revert NotHolder(to);
            if (amount == 0) revert ZeroAmount(i);
            // `i == 0`: lot id 0 must not pass as "already checked" (it is malformed: class 0).
            if (i == 0 || lotId != checkedLot) {
                _checkGrantableLot(lotId);
                checkedLot = lotId;
            }
            // Cannot overflow: every amount is also added, checked, to totalSupply() by `_mint`.
            unchecked {
                total += amount;
            }
            _mint(to, lotId, amount, "");
        }
        emit BatchGranted(batchRef, _msgSender(), n, total);
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
    function recover(address lost, address replacement, uint256[] calldata lotIds) external restricted {
        uint256 n = lotIds.length;
        _checkBatchLength(n);
        if (!isHolder[replacement] || replacement == lost) revert NotHolder(replacement);
        uint256[] memory ids = new uint256[](n);
        uint256[] memory values = new uint256[](n);
        uint256 moved;
        for (uint256 i; i < n; ++i) {
            uint256 lotId = lotIds[i];
            uint256 balance = balanceOf(lost, lotId);
            if (balance != 0) {
                ids[moved] = lotId;
                values[moved] = balance;
                ++moved;
            }
        }
        _shrink(ids, moved);
        _shrink(values, moved);
        if (isHolder[lost]) {
            isHolder[lost] = false;
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

    /// @notice Sets how long a redemption may wait for a launch before its holder may reclaim it.
    function setLaunchTimeout(uint32 launchTimeout_) external restricted {
        if (launchTimeout_ == 0) revert InvalidLaunchTimeout(launchTimeout_);
        _config.launchTimeout = launchTimeout_;
        emit LaunchTimeoutSet(launchTimeout_);
    }

    // ─────────────────────────── conversions ─────────────────────────

    /// @notice Sets how many units of `toClassId` one unit of `fromClassId` converts into
    /// (`numerator / denominator`). A zero numerator disables the conversion.
    function setConversionRate(
        uint32 fromClassId,
        uint32 toClassId,
        uint64 numerator,
        uint64 denominator
    ) external restricted {
        _existingClass(fromClassId);
        _existingClass(toClassId);
        if (fromClassId == toClassId) revert SameClass(fromClassId);
        if (numerator != 0 && denominator == 0) revert InvalidConversionRate(numerator, denominator);
        _rates[fromClassId][toClassId] = ConversionRate(numerator, denominator);
        emit ConversionRateSet(fromClassId, toClassId, numerator, denominator);
    }

    /// @notice Converts unexpired units of a lot into another class at the set rate, keeping the lot's
    /// expiry and transfer policy. The amount must convert exactly (no unit is lost to rounding).
    function convert(
        uint256 lotId,
        uint256 amount,
        uint32 toClassId
    ) external whenNotPaused returns (uint256 toLotId, uint256 amountOut) {
        address holder = _msgSender();
        if (!isHolder[holder]) revert NotHolder(holder);
        if (amount == 0) revert ZeroAmount(0);
        (uint32 fromClassId, uint64 expiresAt, LotIds.TransferPolicy policy) = lotId.decode();
        if (block.timestamp >= expiresAt) revert LotExpired(lotId, expiresAt);
        HardwareClass storage toClass = _activeClass(toClassId);
        ConversionRate memory rate = _rates[fromClassId][toClassId];
        if (rate.numerator == 0) revert ConversionNotAvailable(fromClassId, toClassId);
        uint256 scaled = amount * rate.numerator;
        if (scaled % rate.denominator != 0) revert InexactConversion(amount, rate.numerator, rate.denominator);
        amountOut = scaled / rate.denominator;
        toLotId = LotIds.encode(toClassId, expiresAt, policy);
        _registerLot(toClass, toLotId, toClassId, expiresAt, policy);
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

        // Effects.
        id = cfg.nextRedemptionId;
        _config.nextRedemptionId = cfg.nextRedemptionId + 1;
        bytes32 specHash = keccak256(spec);
        _record(id, holder, classId, priority, gpus, reserved, specHash, ids, takes);
        emit RedemptionRequested(id, holder, classId, priority, gpus, seconds_, reserved, specHash, spec);
        // The burn (burning makes no external call).
        ERC1155Supply._update(holder, address(0), ids, takes);
    }

    /// @notice The redeemer launched the job for a redemption.
    /// @param jobRef an executor reference (e.g. the hash of the Kubernetes Job's uid)
    function markRunning(uint256 id, bytes32 jobRef) external restricted {
        Redemption storage r = _redemptions[id];
        _requireStatus(id, r.status, RedemptionStatus.Requested);
        r.status = RedemptionStatus.Running;
        emit RedemptionRunning(id, jobRef);
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
        r.used = uint56(used);
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

    /// @notice The holder takes back a redemption nobody launched within the launch timeout: full refund.
    function reclaim(uint256 id) external {
        Redemption storage r = _redemptions[id];
        _requireStatus(id, r.status, RedemptionStatus.Requested);
        address holder = r.holder;
        if (_msgSender() != holder) revert NotRedemptionHolder(id, _msgSender());
        uint64 availableAt = uint64(r.requestedAt) + _config.launchTimeout;
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

    /// @notice Every lot ever granted or converted into in a class, in registration order.
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

    /// @notice Whether a lot has been granted or converted into (and so is listed in {lotsOfClass}).
    function lotRegistered(uint256 lotId) external view returns (bool) {
        return _olderLot[lotId] != 0;
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

    /// @notice Seconds after which an unlaunched redemption can be reclaimed.
    function launchTimeout() external view returns (uint32) {
        return _config.launchTimeout;
    }

    /// @notice Number of redemptions made so far (ids run from 1 to this).
    function redemptionCount() external view returns (uint256) {
        return _config.nextRedemptionId - 1;
    }

    /// @notice The conversion rate between two classes (zero numerator: none).
    function conversionRate(
        uint32 fromClassId,
        uint32 toClassId
    ) external view returns (uint64 numerator, uint64 denominator) {
        ConversionRate memory rate = _rates[fromClassId][toClassId];
        return (rate.numerator, rate.denominator);
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
        v.reserved = r.reserved;
        v.used = r.used;
        v.specHash = r.specHash;
    }

    /// @notice ERC-1155 metadata for a lot: class, GPU product, expiry and policy as a data: URI.
    function uri(uint256 lotId) public view override returns (string memory) {
        (uint32 classId, uint64 expiresAt, LotIds.TransferPolicy policy) = lotId.decode();
        HardwareClass storage c = _existingClass(classId);
        return LotMetadata.render(lotId, c.name, c.productLabel, c.memoryGiB, expiresAt, policy);
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
            if (!isHolder[from]) revert NotHolder(from);
            if (!isHolder[to]) revert NotHolder(to);
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
        if (!isHolder[holder]) revert NotHolder(holder);
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
        uint256[] memory takes
    ) private {
        (, uint64 firstExpiry, LotIds.TransferPolicy firstPolicy) = ids[0].decode();
        _redemptions[id] = Redemption({
            holder: holder,
            classId: classId,
            priority: priority,
            gpus: gpus,
            requestedAt: uint32(block.timestamp),
            lotCount: uint8(ids.length),
            status: RedemptionStatus.Requested,
            reserved: uint56(reserved),
            used: 0,
            firstLotAmount: uint56(takes[0]),
            firstLotExpiresAt: firstExpiry,
            firstLotPolicy: firstPolicy,
            specHash: specHash
        });
        for (uint256 i = 1; i < ids.length; ++i) {
            (, uint64 expiresAt, LotIds.TransferPolicy policy) = ids[i].decode();
            _extraLots[id][i] = LotShare(expiresAt, policy, uint56(takes[i]));
        }
    }

    function _refund(uint256 id, Redemption storage r, address holder, uint256 refund) private {
        if (r.lotCount == 1) {
            // One lot (the common case): it holds the whole reserve, so the whole refund goes back to it.
            // Same mint and TransferSingle as the general path below, without building the lot list (~1.9k gas).
            uint256[] memory lotIds = new uint256[](1);
            uint256[] memory refunds = new uint256[](1);
            lotIds[0] = LotIds.encode(r.classId, r.firstLotExpiresAt, r.firstLotPolicy);
            refunds[0] = refund;
            ERC1155Supply._update(address(0), holder, lotIds, refunds);
            return;
        }
        (uint256[] memory lots, uint256[] memory taken) = _lotsOf(id, r);
        uint256 n = lots.length;
        uint256[] memory ids = new uint256[](n);
        uint256[] memory amounts = new uint256[](n);
        uint256 k;
        // Used units are charged to the first-drawn lots; refunds go back to the last-drawn first.
        for (uint256 i = n; i > 0 && refund != 0; --i) {
            uint256 back = taken[i - 1] < refund ? taken[i - 1] : refund;
            refund -= back;
            ids[k] = lots[i - 1];
            amounts[k] = back;
            ++k;
        }
        _shrink(ids, k);
        _shrink(amounts, k);
        // A refund re-mints into lots the holder already had; no receiver hook, no policy check.
        ERC1155Supply._update(address(0), holder, ids, amounts);
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
        _registerLot(c, lotId, classId, expiresAt, policy);
    }

    /// @dev Adds a lot to the front of its class's list, once. `c` is the lot's class.
    function _registerLot(
        HardwareClass storage c,
        uint256 lotId,
        uint32 classId,
        uint64 expiresAt,
        LotIds.TransferPolicy policy
    ) private {
        if (_olderLot[lotId] != 0) return;
        uint16 count = c.lotCount;
        if (count >= MAX_LOTS_PER_CLASS) revert TooManyLots(classId, MAX_LOTS_PER_CLASS);
        _olderLot[lotId] = LOT_REGISTERED | c.newestLot;
        c.lotCount = count + 1;
        c.newestLot = uint104(lotId); // a valid lot id fits in 104 bits (LotIds.ID_BITS)
        emit LotRegistered(lotId, classId, expiresAt, policy);
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

    function _checkBatchLength(uint256 n) private pure {
        if (n == 0) revert EmptyBatch();
        if (n > MAX_BATCH) revert BatchTooLarge(n, MAX_BATCH);
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
