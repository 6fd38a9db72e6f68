/**
 * `ctk reclaim <id>`: the full refund of a redemption nobody launched within the launch timeout;
 * before then, a clear message with the time left.
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
      .description("take back a redemption nobody launched within the launch timeout (full refund)")
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
    if (r.holder.toLowerCase() !== client.account.address.toLowerCase()) {
      throw new UserError(`redemption ${id} belongs to ${r.holder}, not to you (${client.account.address})`);
    }
    if (r.status !== "Requested") {
      throw new UserError(`redemption ${id} is ${r.status.toLowerCase()}: only a redemption that was never launched can be reclaimed`);
    }
    const availableAt = t.requested.at + BigInt(t.launchTimeout);
    if (t.now < availableAt) {
      throw new UserError(
        `redemption ${id} can be reclaimed in ${duration(availableAt - t.now)} (from ${formatExpiry(availableAt)}), if the redeemer has not launched it by then`,
      );
    }
    const receipt = await writeComputeToken(client, "reclaim", [id]);
    output(
      globals.json,
      [`reclaimed redemption ${id}: ${formatHours(r.reserved)} GPU-hours refunded (tx ${receipt.transactionHash})`],
      { id, refunded: r.reserved, txHash: receipt.transactionHash },
    );
  });
}
