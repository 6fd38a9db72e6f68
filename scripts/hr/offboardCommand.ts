/** `ctk hr offboard --wallet 0x… [--clawback]`: takes a leaver off the allow-list. */
import { Command } from "commander";
import { formatHours, lotLabel } from "../../sdk/format.js";
import { isParsedWallet, offboardHolder, parseWallet } from "../../sdk/holders.js";
import { decodeLotId } from "../../sdk/lotId.js";
import { clientFor, globalsOf } from "../cli/globals.js";
import { readCreditBuckets } from "../../sdk/credits/reads.js";
import { formatCredits } from "../../sdk/credits/units.js";
import { clawbackCredits } from "../../sdk/credits/write.js";
import { chainTime } from "../../sdk/client.js";
import { loadAccount, withKeyOptions, type KeyOptions } from "../cli/keys.js";
import { UserError, output } from "../cli/output.js";

export function offboardCommand(): Command {
  return withKeyOptions(
    new Command("offboard")
      .description("remove a wallet from the holder allow-list (GPU-hours and inference credits); --clawback also burns everything it holds")
      .requiredOption("--wallet <address>", "the leaver's wallet")
      .option("--clawback", "burn the wallet's whole balance in every lot and all its inference credits"),
  ).action(async function (this: Command, opts: KeyOptions & { wallet: string; clawback?: boolean }) {
    const globals = globalsOf(this);
    const wallet = parseWallet(opts.wallet);
    if (!isParsedWallet(wallet)) throw new UserError(wallet.replace(/^wallet/, "--wallet"));
    const client = await clientFor(globals, await loadAccount(opts, "HR"));
    const result = await offboardHolder(client, wallet, { clawback: opts.clawback });
    const human = [result.offboarded ? `offboarded ${wallet}` : `${wallet} was not onboarded`];
    if (opts.clawback) {
      if (!result.clawedBack.length) human.push("nothing to claw back");
      for (const c of result.clawedBack) {
        const p = decodeLotId(c.lotId);
        human.push(`clawed back ${formatHours(c.amount)} GPU-hours of ${lotLabel(c.className, p.expiresAt, p.policy)}`);
      }
      const total = result.clawedBack.reduce((s, c) => s + c.amount, 0n);
      if (result.clawedBack.length) human.push(`total clawed back: ${formatHours(total)} GPU-hours (${total} GPU-seconds)`);
    }
    // Inference credits: offboarding already stops every charge and transfer (one allow-list);
    // --clawback also burns the credits.
    let creditsClawedBack: bigint | undefined;
    if (opts.clawback && client.deployment.inferenceCredit) {
      const buckets = await readCreditBuckets(client, wallet, await chainTime(client));
      if (buckets.length) {
        creditsClawedBack = buckets.filter((b) => !b.expired).reduce((s, b) => s + b.amount, 0n);
        await clawbackCredits(client, wallet);
        human.push(`clawed back ${formatCredits(creditsClawedBack)} inference credits`);
      }
    }
    output(globals.json, human, { ...result, creditsClawedBack });
  });
}
