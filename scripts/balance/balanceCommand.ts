/**
 * `ctk balance [--wallet 0x…]`: hours per class (redeemable and expired) and per lot. Without
 * --wallet: the address of CTK_PRIVATE_KEY, else of the only keystore in ~/.ctk/keystore.
 */
import { Command } from "commander";
import type { Address } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { getBalances } from "../../sdk/balances.js";
import { readCreditBuckets, type CreditBucket } from "../../sdk/credits/reads.js";
import { formatCredits } from "../../sdk/credits/units.js";
import { formatExpiry, formatHours } from "../../sdk/format.js";
import { isParsedWallet, parseWallet } from "../../sdk/holders.js";
import { findKeystore } from "../../sdk/keystore.js";
import { clientFor, globalsOf } from "../cli/globals.js";
import { UserError, output, table } from "../cli/output.js";

function defaultWallet(): Address {
  const key = process.env.CTK_PRIVATE_KEY?.trim();
  if (key && /^(0x)?[0-9a-fA-F]{64}$/.test(key)) {
    return privateKeyToAccount((key.startsWith("0x") ? key : `0x${key}`) as `0x${string}`).address;
  }
  try {
    return findKeystore().address;
  } catch {
    throw new UserError("which wallet? pass --wallet 0x… (or set CTK_PRIVATE_KEY, or create a keystore with `ctk wallet create`)");
  }
}

/** "expires in 12 days", "expires in 5 h", "expired 3 days ago", judged against chain time. */
export function countdown(expiresAt: bigint, now: bigint): string {
  const delta = Number(expiresAt - now);
  const abs = Math.abs(delta);
  const span =
    abs >= 2 * 86400 ? `${Math.floor(abs / 86400)} days` : abs >= 2 * 3600 ? `${Math.floor(abs / 3600)} h` : `${Math.max(1, Math.floor(abs / 60))} min`;
  return delta > 0 ? `expires in ${span}` : `expired ${span} ago`;
}

export function balanceCommand(): Command {
  return new Command("balance")
    .description("GPU-hours (per class and lot) and inference credits (per expiry bucket) held by a wallet")
    .option("--wallet <address>", "the wallet (default: your key's address)")
    .action(async function (this: Command, opts: { wallet?: string }) {
      const globals = globalsOf(this);
      let wallet: Address;
      if (opts.wallet) {
        const parsed = parseWallet(opts.wallet);
        if (!isParsedWallet(parsed)) throw new UserError(parsed.replace(/^wallet/, "--wallet"));
        wallet = parsed;
      } else wallet = defaultWallet();
      const client = await clientFor(globals);
      const b = await getBalances(client, wallet);
      const human = [`${wallet}${b.onboarded ? "" : " (not onboarded)"} at ${formatExpiry(b.at)}`];
      if (!b.classes.length) human.push("no GPU-hours");
      else {
        human.push(
          ...table(
            ["class", "redeemable_h", "in_flight_h", "expired_h"],
            b.classes.map((c) => [
              c.name + (c.active ? "" : " (retired)"),
              formatHours(c.redeemable),
              formatHours(c.inFlight),
              formatHours(c.expired),
            ]),
          ),
          "",
          ...table(
            ["class", "expires_at", "expires", "policy", "gpu_hours", "gpu_seconds", "state"],
            b.classes.flatMap((c) =>
              c.lots.map((l) => [
                c.name,
                formatExpiry(l.expiresAt),
                countdown(l.expiresAt, b.at),
                l.policy,
                formatHours(l.balance),
                l.balance.toString(),
                l.expired ? "expired, not yet swept" : "redeemable",
              ]),
            ),
          ),
        );
      }
      let buckets: CreditBucket[] | undefined;
      if (client.deployment.inferenceCredit) {
        buckets = await readCreditBuckets(client, wallet, b.at);
        const live = buckets.filter((k) => !k.expired).reduce((s, k) => s + k.amount, 0n);
        human.push("", buckets.length ? `inference credits: ${formatCredits(live)} spendable` : "no inference credits");
        if (buckets.length) {
          human.push(
            ...table(
              ["expires_at", "expires", "policy", "credits", "state"],
              buckets.map((k) => [
                formatExpiry(k.expiresAt),
                countdown(k.expiresAt, b.at),
                k.transferable ? "transferable" : "soulbound",
                formatCredits(k.amount),
                k.expired ? "expired, not yet swept" : "spendable",
              ]),
            ),
          );
        }
      }
      output(globals.json, human, {
        credits: buckets && {
          balance: buckets.filter((k) => !k.expired).reduce((s, k) => s + k.amount, 0n),
          buckets: buckets.map((k) => ({ expiresAt: formatExpiry(k.expiresAt), transferable: k.transferable, amount: k.amount, credits: formatCredits(k.amount), expired: k.expired })),
        },
        wallet,
        onboarded: b.onboarded,
        at: formatExpiry(b.at),
        classes: b.classes.map((c) => ({
          class: c.name,
          classId: c.classId,
          active: c.active,
          raw: c.raw,
          redeemable: c.redeemable,
          expired: c.expired,
          inFlight: c.inFlight,
          redeemableHours: formatHours(c.redeemable),
          inFlightHours: formatHours(c.inFlight),
          lots: c.lots.map((l) => ({ lotId: l.lotId, expiresAt: formatExpiry(l.expiresAt), policy: l.policy, balance: l.balance, expired: l.expired })),
        })),
        totals: b.totals,
      });
    });
}
