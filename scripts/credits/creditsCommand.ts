/**
 * `ctk credits …`: the employee's inference credits.
 *   authorize --cap 25 --expires 2027-01-31 [--models a,b] [--gateway 0x…] [--nonce n] [--out file]
 *       signs a spending authorization with the wallet's key (EIP-712, no gas, nothing sent) and writes it
 *       as JSON: the gateway turns it into an API key and can never charge more than the cap.
 *   revoke <nonce> [--gateway 0x…]   revokes it on-chain (before or after the gateway first used it).
 *   transfer --to 0x… --amount N      gives transferable credits to a colleague (soonest-expiring first).
 */
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { Command } from "commander";
import type { Address } from "viem";
import { chainTime, type CtkClient } from "../../sdk/client.js";
import {
  authorizationId,
  authorizationTypedData,
  AUTHORIZATION_FILE_VERSION,
  serializeSignedAuthorization,
  type Authorization,
  type SignedAuthorizationFile,
} from "../../sdk/credits/authorization.js";
import { creditContract } from "../../sdk/credits/contract.js";
import { readAuthorization, readCreditBuckets } from "../../sdk/credits/reads.js";
import { formatCredits, parseCredits } from "../../sdk/credits/units.js";
import { revokeAuthorization, transferCredits } from "../../sdk/credits/write.js";
import { formatExpiry, InputFormatError, parseExpiry } from "../../sdk/format.js";
import { isParsedWallet, parseWallet } from "../../sdk/holders.js";
import { globalsOf } from "../cli/globals.js";
import { UserError, output } from "../cli/output.js";
import { employeeClient, withKeyOptions, type KeyOptions } from "../wallet/context.js";

const U64_MAX = 2n ** 64n - 1n;

/** --gateway, else the deployment's gateway (the GATEWAY role holder it was deployed with). */
function gatewayOf(client: CtkClient, flag?: string): Address {
  if (flag) {
    const g = parseWallet(flag);
    if (!isParsedWallet(g)) throw new UserError(g.replace(/^wallet/, "--gateway"));
    return g;
  }
  const g = client.deployment.roles.GATEWAY?.[0];
  if (!g) throw new UserError("which gateway? pass --gateway 0x… (the deployment file names none)");
  return g;
}

function inputs<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof InputFormatError) throw new UserError(e.message);
    throw e;
  }
}

function parseNonce(text: string): bigint {
  if (!/^\d+$/.test(text.trim())) throw new UserError(`nonce "${text}" must be a whole number`);
  const n = BigInt(text.trim());
  if (n > U64_MAX) throw new UserError(`nonce "${text}" is more than 2^64 − 1`);
  return n;
}

/** The employee's signing client, on a deployment that has InferenceCredit. */
async function creditClient(cmd: Command, keys: KeyOptions): ReturnType<typeof employeeClient> {
  const client = await employeeClient(cmd, keys);
  if (!client.deployment.inferenceCredit) throw new UserError("this deployment has no InferenceCredit (redeploy the devnet with `ctk devnet up --fresh`)");
  return client;
}

function authorizeCommand(): Command {
  return withKeyOptions(
    new Command("authorize")
      .description("sign a spending authorization for the gateway (EIP-712, no gas) and write it as JSON")
      .requiredOption("--cap <credits>", "the most the gateway may ever charge under it, in credits")
      .requiredOption("--expires <date>", "when it stops taking charges (ISO-8601, e.g. 2027-01-31)")
      .option("--models <list>", "comma-separated model names it may be spent on (default: any model)")
      .option("--gateway <address>", "the gateway's address (default: the deployment's gateway)")
      .option("--nonce <n>", "its number, unique per gateway (default: random)")
      .option("--out <file>", "write the JSON here (default: stdout)"),
  ).action(async function (this: Command, opts: KeyOptions & { cap: string; expires: string; models?: string; gateway?: string; nonce?: string; out?: string }) {
    const globals = globalsOf(this);
    const cap = inputs(() => parseCredits(opts.cap, "--cap"));
    const expiresAt = inputs(() => parseExpiry(opts.expires));
    const models = (opts.models ?? "")
      .split(",")
      .map((m) => m.trim())
      .filter(Boolean);
    if (models.length > 16) throw new UserError(`--models lists ${models.length} models; at most 16`);
    const nonce = opts.nonce !== undefined ? parseNonce(opts.nonce) : BigInt(`0x${randomBytes(6).toString("hex")}`);
    const client = await creditClient(this, opts);
    const now = await chainTime(client);
    if (expiresAt <= now) throw new UserError(`--expires ${formatExpiry(expiresAt)} is not in the future (chain time ${formatExpiry(now)})`);
    const gateway = gatewayOf(client, opts.gateway);
    const holder = client.account.address as Address;
    const auth: Authorization = { holder, gateway, cap, expiresAt, nonce, models };
    const id = authorizationId(holder, gateway, nonce);
    const state = await readAuthorization(client, id);
    if (state.status !== "none") throw new UserError(`nonce ${nonce} for gateway ${gateway} is already ${state.status === "active" ? "in use" : "revoked"}: pick another --nonce`);
    const credit = creditContract(client);
    const signature = await client.account.signTypedData!(authorizationTypedData(client.deployment.chainId, credit.address, auth));
    const file: SignedAuthorizationFile = {
      version: AUTHORIZATION_FILE_VERSION,
      chainId: client.deployment.chainId,
      inferenceCredit: credit.address,
      authorizationId: id,
      authorization: auth,
      signature,
    };
    const text = serializeSignedAuthorization(file);
    if (!opts.out) {
      process.stdout.write(text);
      return;
    }
    writeFileSync(opts.out, text, { mode: 0o600 });
    output(
      globals.json,
      [
        `signed authorization ${id}`,
        `  gateway ${gateway} may charge up to ${formatCredits(cap)} credits until ${formatExpiry(expiresAt)}${models.length ? ` on ${models.join(", ")}` : " on any model"}`,
        `  nonce ${nonce} (revoke it with: ctk credits revoke ${nonce})`,
        `written to ${opts.out}`,
      ],
      { file: opts.out, authorizationId: id, holder, gateway, cap, expiresAt: formatExpiry(expiresAt), nonce, models },
    );
  });
}

function revokeCommand(): Command {
  return withKeyOptions(
    new Command("revoke")
      .description("revoke an authorization on-chain: the gateway can charge nothing more under it")
      .argument("<nonce>", "the authorization's nonce (printed by `ctk credits authorize`)")
      .option("--gateway <address>", "the gateway it was given to (default: the deployment's gateway)"),
  ).action(async function (this: Command, nonceText: string, opts: KeyOptions & { gateway?: string }) {
    const globals = globalsOf(this);
    const nonce = parseNonce(nonceText);
    const client = await creditClient(this, opts);
    const gateway = gatewayOf(client, opts.gateway);
    const holder = client.account.address as Address;
    const id = authorizationId(holder, gateway, nonce);
    const before = await readAuthorization(client, id);
    if (before.status === "revoked") throw new UserError(`authorization ${nonce} for gateway ${gateway} is already revoked`);
    const receipt = await revokeAuthorization(client, gateway, nonce);
    output(
      globals.json,
      [
        `revoked authorization ${nonce} for gateway ${gateway}${before.status === "active" ? ` (charged ${formatCredits(before.charged)} of ${formatCredits(before.cap)} credits)` : " (never used)"}`,
        `tx ${receipt.transactionHash}`,
      ],
      { holder, gateway, nonce, authorizationId: id, wasActive: before.status === "active", charged: before.charged, txHash: receipt.transactionHash },
    );
  });
}

function transferCommand(): Command {
  return withKeyOptions(
    new Command("transfer")
      .description("give transferable credits to a colleague (soonest-expiring first)")
      .requiredOption("--to <address>", "the colleague's wallet")
      .requiredOption("--amount <credits>", "credits to give"),
  ).action(async function (this: Command, opts: KeyOptions & { to: string; amount: string }) {
    const globals = globalsOf(this);
    const to = parseWallet(opts.to);
    if (!isParsedWallet(to)) throw new UserError(to.replace(/^wallet/, "--to"));
    const amount = inputs(() => parseCredits(opts.amount, "--amount"));
    const client = await creditClient(this, opts);
    const me = client.account.address as Address;
    if (to === me) throw new UserError("--to is your own wallet");
    const now = await chainTime(client);
    const [buckets, recipientAllowed, senderAllowed] = await Promise.all([
      readCreditBuckets(client, me, now),
      client.publicClient.readContract({ ...client.computeToken, functionName: "isHolder", args: [to] }),
      client.publicClient.readContract({ ...client.computeToken, functionName: "isHolder", args: [me] }),
    ]);
    if (!senderAllowed) throw new UserError(`your wallet ${me} is not on the allow-list: it can no longer move credits`);
    if (!recipientAllowed) throw new UserError(`${to} is not on the allow-list: credits can only move between onboarded employees`);
    const transferable = buckets.filter((b) => b.transferable && !b.expired).reduce((s, b) => s + b.amount, 0n);
    if (transferable < amount) {
      const soulbound = buckets.filter((b) => !b.transferable && !b.expired).reduce((s, b) => s + b.amount, 0n);
      throw new UserError(
        `cannot transfer ${formatCredits(amount)} credits: you have ${formatCredits(transferable)} transferable` +
          (soulbound ? `, ${formatCredits(soulbound)} soulbound (cannot be transferred)` : ""),
      );
    }
    const receipt = await transferCredits(client, to, amount);
    output(globals.json, [`sent ${formatCredits(amount)} credits to ${to}`, `tx ${receipt.transactionHash}`], {
      from: me,
      to,
      amount,
      credits: formatCredits(amount),
      txHash: receipt.transactionHash,
    });
  });
}

export function creditsCommand(): Command {
  return new Command("credits")
    .description("inference credits: authorize the gateway to spend them, revoke, transfer")
    .addCommand(authorizeCommand())
    .addCommand(revokeCommand())
    .addCommand(transferCommand());
}
