/**
 * `ctk balance [--wallet 0x… | --keystore <file|dir> [--from 0x…]]`: hours per class (redeemable and
 * expired) and per lot. Without either: the only keystore in ~/.ctk/keystore, else the address of
 * CTK_PRIVATE_KEY. A keystore names its address in clear, so no password is asked.
 */
import { statSync } from "node:fs";
import { Command } from "commander";
import type { Address } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { getBalances } from "../../sdk/balances.js";
import { readCreditBuckets, readUsageDebt, type CreditBucket, usageDebtText } from "../../sdk/credits/reads.js";
import { formatCredits } from "../../sdk/credits/units.js";
import { formatExpiry, formatHours, hoursNumber } from "../../sdk/format.js";
import { isParsedWallet, parseWallet } from "../../sdk/holders.js";
import { findKeystore } from "../../sdk/keystore.js";
import { clientFor, globalsOf } from "../cli/globals.js";
import { UserError, output, table } from "../cli/output.js";

function defaultWallet(): Address {
  try {
    return findKeystore().address;
  } catch {
    // no single keystore in ~/.ctk/keystore
  }
  const key = process.env.CTK_PRIVATE_KEY?.trim();
  if (key && /^(0x)?[0-9a-fA-F]{64}$/.test(key)) {
    return privateKeyToAccount((key.startsWith("0x") ? key : `0x${key}`) as `0x${string}`).address;
  }
  throw new UserError("which wallet? pass --wallet 0x… or --keystore <file|dir> (create one with `ctk wallet create`)");
}

/** The address a keystore file (or the one in a directory, or --from in it) belongs to. */
function keystoreWallet(keystore: string, from?: string): Address {
  let isDir = false;
  try {
    isDir = statSync(keystore).isDirectory();
  } catch {
    throw new UserError(`keystore ${keystore}: not found`);
  }
  return (isDir ? findKeystore({ dir: keystore, from }) : findKeystore({ from: keystore })).address;
}

/** "expires in 12 days", "expires in 5 h", "expired 3 days ago", judged against chain time. */
function countdown(expiresAt: bigint, now: bigint): string {
  const delta = Number(expiresAt - now);
  const abs = Math.abs(delta);
  const span = abs >= 2 * 86400 ? `${Math.floor(abs / 86400)} days` : abs >= 2 * 3600 ? `${Math.floor(abs / 3600)} h` : `${Math.max(1, Math.floor(abs / 60))} min`;
  return delta > 0 ? `expires in ${span}` : `expired ${span} ago`;
}

export function balanceCommand(): Command {
  return new Command("balance")
    .description("GPU-hours (per class and lot) and inference credits (per expiry bucket) held by a wallet")
    .option("--wallet <address>", "the wallet (default: your keystore's address)")
    .option("--keystore <file|dir>", "the wallet of this keystore file, or of the one in this directory (no password needed)")
    .option("--from <address>", "which keystore in the --keystore directory, when it holds several")
    .action(async function (this: Command, opts: { wallet?: string; keystore?: string; from?: string }) {
      const globals = globalsOf(this);
      let wallet: Address;
      if (opts.wallet && opts.keystore) throw new UserError("pass --wallet or --keystore, not both");
      if (opts.keystore) wallet = keystoreWallet(opts.keystore, opts.from);
      else if (opts.wallet) {
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
            b.classes.map((c) => [c.name + (c.active ? "" : " (retired)"), formatHours(c.redeemable), formatHours(c.inFlight), formatHours(c.expired)]),
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
      let debt = 0n;
      if (client.deployment.inferenceCredit) {
        [buckets, debt] = await Promise.all([readCreditBuckets(client, wallet, b.at), readUsageDebt(client, wallet)]);
        const live = buckets.filter((k) => !k.expired).reduce((s, k) => s + k.amount, 0n);
        // A debt (usage served after the credits had gone) is paid from the next credits received.
        human.push("", buckets.length || debt ? `inference credits: ${formatCredits(live)} spendable${debt ? `; ${usageDebtText(debt)}` : ""}` : "no inference credits");
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
          /** Usage debt, base units (0: none): paid from the next credits received. */
          debt,
          debtCredits: formatCredits(debt),
          buckets: buckets.map((k) => ({ expiresAt: k.expiresAt, transferable: k.transferable, amount: k.amount, credits: formatCredits(k.amount), expired: k.expired })),
        },
        wallet,
        onboarded: b.onboarded,
        at: b.at,
        classes: b.classes.map((c) => ({
          class: c.name,
          classId: c.classId,
          active: c.active,
          raw: c.raw,
          redeemable: c.redeemable,
          expired: c.expired,
          inFlight: c.inFlight,
          redeemableHours: hoursNumber(c.redeemable),
          inFlightHours: hoursNumber(c.inFlight),
          expiredHours: hoursNumber(c.expired),
          lots: c.lots.map((l) => ({ lotId: l.lotId, expiresAt: l.expiresAt, policy: l.policy, balance: l.balance, expired: l.expired })),
        })),
        totals: b.totals,
      });
    });
}
