/** `ctk hr offboard --wallet 0x… [--clawback]`: takes a leaver off the allow-list. */
import type { Command } from "commander";
import type { Address } from "viem";
import { chainTime } from "../../sdk/client.js";
import { readCreditBuckets } from "../../sdk/credits/reads.js";
import { formatCredits } from "../../sdk/credits/units.js";
import { clawbackCredits } from "../../sdk/credits/write.js";
import { formatHours, lotLabel } from "../../sdk/format.js";
import { isParsedWallet, offboardHolder, parseWallet } from "../../sdk/holders.js";
import { decodeLotId } from "../../sdk/lotId.js";
import { UserError } from "../cli/output.js";
import { membershipCommand, type MembershipSpec } from "./membershipCommand.js";

const offboard: MembershipSpec<Address> = {
  description: "remove a wallet from the holder allow-list (GPU-hours and inference credits); --clawback also burns everything it holds",
  who: ["--wallet <address>", "the leaver's wallet"],
  widen: ["--clawback", "burn the wallet's whole balance in every lot and all its inference credits"],
  parse(text) {
    const wallet = parseWallet(text);
    if (!isParsedWallet(wallet)) throw new UserError(wallet.replace(/^wallet/, "--wallet"));
    return wallet;
  },
  async act(hr, wallet, clawback) {
    const result = await offboardHolder(hr, wallet, { clawback });
    const human = [result.offboarded ? `offboarded ${wallet}` : `${wallet} was not onboarded`];
    if (clawback) {
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
    if (clawback && hr.deployment.inferenceCredit) {
      const buckets = await readCreditBuckets(hr, wallet, await chainTime(hr));
      if (buckets.length) {
        creditsClawedBack = buckets.filter((b) => !b.expired).reduce((s, b) => s + b.amount, 0n);
        await clawbackCredits(hr, wallet);
        human.push(`clawed back ${formatCredits(creditsClawedBack)} inference credits`);
      }
    }
    return { human, json: { ...result, creditsClawedBack } };
  },
};

export const offboardCommand = (): Command => membershipCommand("offboard", offboard);
