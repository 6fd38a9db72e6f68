/**
 * sdk/events.ts and sdk/redemptions.ts without a chain: decoding logs into typed events, range
 * splitting when a node refuses a range, and mapping contract reverts to error classes.
 */
import { expect } from "chai";
import { BaseError, ContractFunctionRevertedError, encodeErrorResult, type Hex } from "viem";
import { decodeComputeTokenLogs, iterateComputeTokenEvents, REDEMPTION_EVENT_NAMES } from "../../sdk/events.js";
import { computeTokenAbi } from "../../sdk/generated/abi.js";
import { RedemptionStatusConflict, redemptionErrorFrom, SettleExceedsReserveError, UnknownRedemptionError } from "../../sdk/redemptions.js";
import { hexLog, LOG_ADDRESS, LOG_HOLDER, rejectedLog, requestedLog } from "../support/redemptionLogs.js";

describe("sdk events and redemption errors", () => {
  it("decodes lifecycle logs into typed events in chain order", () => {
    const events = decodeComputeTokenLogs([rejectedLog(1n, 12n, 0), requestedLog(1n, 10n, 3), requestedLog(2n, 10n, 1)], REDEMPTION_EVENT_NAMES);
    expect(events.map((e) => `${e.eventName}:${e.args.id}`)).to.deep.equal(["RedemptionRequested:2", "RedemptionRequested:1", "RedemptionRejected:1"]);
    const first = events[0]!;
    if (first.eventName !== "RedemptionRequested") throw new Error("unexpected");
    expect(first.args).to.include({ holder: LOG_HOLDER, classId: 1, priority: 1, gpus: 2, seconds_: 3600, reserved: 7200n });
    expect(first.blockNumber).to.equal(10n);
  });

  it("skips events it was not asked for", () => {
    expect(decodeComputeTokenLogs([rejectedLog(1n, 12n, 0)], ["RedemptionRequested"])).to.deep.equal([]);
  });

  it("asks for at most maxBlockRange blocks at a time and halves a range the node refuses", async () => {
    const calls: [bigint, bigint][] = [];
    const publicClient = {
      async request({ params }: { params: [{ fromBlock: Hex; toBlock: Hex }] }) {
        const from = BigInt(params[0].fromBlock);
        const to = BigInt(params[0].toBlock);
        calls.push([from, to]);
        if (to - from + 1n > 40n) throw new Error("query returned more than 10000 results");
        return [requestedLog(from, from, 0)].map(hexLog);
      },
    };
    const ranges = [];
    for await (const r of iterateComputeTokenEvents({
      publicClient: publicClient as never,
      address: LOG_ADDRESS,
      names: REDEMPTION_EVENT_NAMES,
      fromBlock: 0n,
      toBlock: 199n,
      maxBlockRange: 100n,
    }))
      ranges.push(r);
    expect(calls[0]).to.deep.equal([0n, 99n]);
    expect(calls[1]).to.deep.equal([0n, 49n]);
    expect(calls[2]).to.deep.equal([0n, 24n]);
    // Covered without gaps or overlaps, up to the last block.
    let next = 0n;
    for (const r of ranges) {
      expect(r.fromBlock).to.equal(next);
      next = r.toBlock + 1n;
    }
    expect(next).to.equal(200n);
  });

  it("passes other RPC errors through", async () => {
    const publicClient = { request: async () => Promise.reject(new Error("connection refused")) };
    const it = iterateComputeTokenEvents({ publicClient: publicClient as never, address: LOG_ADDRESS, names: REDEMPTION_EVENT_NAMES, fromBlock: 0n, toBlock: 10n });
    let error: unknown;
    try {
      await it.next();
    } catch (err) {
      error = err;
    }
    expect((error as Error).message).to.equal("connection refused");
  });

  it("maps the contract's custom errors to error classes that carry the numbers", () => {
    const revert = (errorName: string, args: readonly unknown[]) =>
      new BaseError("reverted", {
        cause: new ContractFunctionRevertedError({ abi: computeTokenAbi, data: encodeErrorResult({ abi: computeTokenAbi, errorName, args } as never), functionName: "settle" }),
      });
    const conflict = redemptionErrorFrom(revert("InvalidRedemptionStatus", [5n, 3]));
    expect(conflict).to.be.instanceOf(RedemptionStatusConflict);
    expect(conflict).to.include({ id: 5n, status: "Settled" });
    const exceeds = redemptionErrorFrom(revert("SettleExceedsReserve", [5n, 10n, 9n]));
    expect(exceeds).to.be.instanceOf(SettleExceedsReserveError);
    expect(exceeds).to.include({ used: 10n, reserved: 9n });
    expect(redemptionErrorFrom(revert("UnknownRedemption", [77n]))).to.be.instanceOf(UnknownRedemptionError);
    const other = new Error("socket hang up");
    expect(redemptionErrorFrom(other)).to.equal(other);
  });
});
