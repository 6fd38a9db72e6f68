/**
 * `ctk transfer --to 0x… --class H100-80GB --hours 2`: gives GPU-hours to a colleague, from the
 * soonest-expiring transferable lots. Soulbound and expired units never move; the recipient must be
 * on the allow-list.
 */
import { Command } from "commander";
import type { Address } from "viem";
import { getBalances } from "../../sdk/balances.js";
import { findClass } from "../../sdk/classes.js";
import { formatExpiry, formatHours, parseHours } from "../../sdk/format.js";
import { isParsedWallet, parseWallet } from "../../sdk/holders.js";
import { writeComputeToken } from "../../sdk/write.js";
import { chainTime } from "../../sdk/client.js";
import { globalsOf } from "../cli/globals.js";
import { UserError, output } from "../cli/output.js";
import { employeeClient, withKeyOptions, type KeyOptions } from "./context.js";
import { pickLots } from "../../sdk/pickLots.js";

export function transferCommand(): Command {
  return withKeyOptions(
    new Command("transfer")
      .description("give GPU-hours of one class to a colleague (transferable lots, soonest-expiring first)")
      .requiredOption("--to <address>", "the colleague's wallet")
      .requiredOption("--class <name>", "hardware class, e.g. H100-80GB")
      .requiredOption("--hours <hours>", "GPU-hours to give (decimal, whole GPU-seconds)"),
  ).action(async function (this: Command, opts: KeyOptions & { to: string; class: string; hours: string }) {
    const globals = globalsOf(this);
    const to = parseWallet(opts.to);
    if (!isParsedWallet(to)) throw new UserError(to.replace(/^wallet/, "--to"));
    const amount = parseHours(opts.hours);
    const client = await employeeClient(this, opts);
    const me = client.account.address as Address;
    if (to === me) throw new UserError("--to is your own wallet");
    const cls = await findClass(client, opts.class);
    if (!cls) throw new UserError(`no hardware class named ${opts.class}`);
    const [balances, now, recipientAllowed, senderAllowed] = await Promise.all([
      getBalances(client, me),
      chainTime(client),
      client.publicClient.readContract({ ...client.computeToken, functionName: "isHolder", args: [to] }),
      client.publicClient.readContract({ ...client.computeToken, functionName: "isHolder", args: [me] }),
    ]);
    if (!senderAllowed) throw new UserError(`your wallet ${me} is not on the allow-list: it can no longer move units`);
    if (!recipientAllowed) throw new UserError(`${to} is not on the allow-list: GPU-hours can only move between onboarded employees`);
    const lots = balances.classes.find((c) => c.classId === cls.classId)?.lots ?? [];
    const { picks, available } = pickLots(lots, amount, { now, transferableOnly: true });
    if (!picks.length) {
      const soulbound = lots.filter((l) => l.policy === "soulbound" && l.expiresAt > now).reduce((s, l) => s + l.balance, 0n);
      const expired = lots.filter((l) => l.expiresAt <= now).reduce((s, l) => s + l.balance, 0n);
      const parts = [`you have ${formatHours(available)} transferable ${cls.name} hours`];
      if (soulbound) parts.push(`${formatHours(soulbound)} h soulbound (cannot be transferred)`);
      if (expired) parts.push(`${formatHours(expired)} h expired (can no longer move)`);
      throw new UserError(`cannot transfer ${formatHours(amount)} h: ${parts.join(", ")}`);
    }
    const receipt =
      picks.length === 1
        ? await writeComputeToken(client, "safeTransferFrom", [me, to, picks[0]!.lotId, picks[0]!.amount, "0x"])
        : await writeComputeToken(client, "safeBatchTransferFrom", [me, to, picks.map((p) => p.lotId), picks.map((p) => p.amount), "0x"]);
    output(
      globals.json,
      [
        `sent ${formatHours(amount)} h of ${cls.name} to ${to}`,
        ...picks.map((p) => `  ${formatHours(p.amount)} h from the lot expiring ${formatExpiry(p.expiresAt)}`),
        `tx ${receipt.transactionHash}`,
      ],
      { from: me, to, class: cls.name, units: amount, lots: picks, txHash: receipt.transactionHash },
    );
  });
}
