/**
 * `ctk reclaim <id>`: the full refund of a redemption nobody launched within the launch timeout in
 * force when it was requested, or of one launched but never settled within its allotted time plus
 * the settle grace; before then, a clear message with the time left. The contract says when
 * (`getRedemption(id).reclaimableAt`); a recovered account's replacement may reclaim too.
 */
import { Command } from "commander";
import { formatExpiry, formatHours } from "../../sdk/format.js";
import { writeComputeToken } from "../../sdk/write.js";
import { globalsOf } from "../cli/globals.js";
import { UserError, output } from "../cli/output.js";
import { employeeClient, withKeyOptions, type KeyOptions } from "./context.js";
import { duration, loadTimeline, RedemptionNotFound } from "./redemptionTimeline.js";
import { parseRedemptionId } from "./statusCommand.js";

export function reclaimCommand(): Command {
  return withKeyOptions(
    new Command("reclaim")
      .description("take back a redemption nobody launched within the launch timeout, or one launched but never settled (full refund)")
      .argument("<id>", "redemption id"),
  ).action(async function (this: Command, idText: string, opts: KeyOptions) {
    const globals = globalsOf(this);
    const id = parseRedemptionId(idText);
    const client = await employeeClient(this, opts);
    let t;
    try {
      t = await loadTimeline(client, id);
    } catch (e) {
      if (e instanceof RedemptionNotFound) throw new UserError(e.message);
      throw e;
    }
    const r = t.redemption;
    // (Another wallet may be the recovered replacement of the holder: the contract decides.)
    if (r.status !== "Requested" && r.status !== "Running") {
      throw new UserError(`redemption ${id} is ${r.status.toLowerCase()}: only a redemption that is still requested or running can be reclaimed`);
    }
    const availableAt = r.reclaimableAt;
    if (t.now < availableAt) {
      throw new UserError(
        r.status === "Requested"
          ? `redemption ${id} can be reclaimed in ${duration(availableAt - t.now)} (from ${formatExpiry(availableAt)}), if the redeemer has not launched it by then`
          : `redemption ${id} is running: if it is not settled by ${formatExpiry(availableAt)} (in ${duration(availableAt - t.now)}), you can reclaim it in full`,
      );
    }
    const receipt = await writeComputeToken(client, "reclaim", [id]);
    output(globals.json, [`reclaimed redemption ${id}: ${formatHours(r.reserved)} GPU-hours refunded (tx ${receipt.transactionHash})`], {
      id,
      refunded: r.reserved,
      txHash: receipt.transactionHash,
    });
  });
}
