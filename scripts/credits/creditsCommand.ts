/**
 * `ctk credits …`: the employee's inference credits.
 *   authorize --cap 25 --expires 2030-06-01 [--models a,b] [--gateway 0x…] [--nonce n] [--out file]
 *       signs a spending authorization with the wallet's key (EIP-712, no gas, nothing sent) and writes it
 *       as JSON: the gateway turns it into an API key and can never charge more than the cap.
 *   revoke <nonce> [--gateway 0x…]   revokes it on-chain (before or after the gateway first used it).
 *   transfer --to 0x… --amount N      gives transferable credits to a colleague (soonest-expiring first).
 */
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { Command } from "commander";
import type { Address, TransactionReceipt } from "viem";
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
      .requiredOption("--expires <date>", "when it ends: the gateway serves nothing under it after (ISO-8601, e.g. 2030-06-01)")
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
        `  gateway ${gateway} may spend up to ${formatCredits(cap)} credits until ${formatExpiry(expiresAt)}${models.length ? ` on ${models.join(", ")}` : " on any model"}`,
        `  nonce ${nonce} (revoke it with: ctk credits revoke ${nonce})`,
        `written to ${opts.out}`,
      ],
      { file: opts.out, authorizationId: id, holder, gateway, cap, expiresAt: formatExpiry(expiresAt), nonce, models },
    );
  });
}

/** What a credits transaction did: one line for a person, its receipt, and the --json document (`txHash` is added). */
interface CreditTransaction {
  said: string;
  receipt: TransactionReceipt;
  json: object;
}

/** What differs between the credits subcommands that send one transaction as the employee. */
interface CreditTransactionSpec<Params extends unknown[], Input> {
  description: string;
  /** Declares its arguments and options (the key options are added after them). */
  declare(cmd: Command): Command;
  /** Checks the command's arguments, then options, before any key is loaded (a UserError for a mistake). */
  parse(...params: Params): Input;
  /** Sends it, signing as the employee, on a deployment that has InferenceCredit. */
  send(client: Awaited<ReturnType<typeof creditClient>>, input: Input): Promise<CreditTransaction>;
}

/** A credits subcommand that sends one transaction: it prints what it did and `tx <hash>` (or, with --json, the document and its txHash). */
function creditTransactionCommand<Params extends unknown[], Input>(name: string, spec: CreditTransactionSpec<Params, Input>): Command {
  return withKeyOptions(spec.declare(new Command(name).description(spec.description))).action(async function (this: Command, ...params: unknown[]) {
    const globals = globalsOf(this);
    // commander passes the arguments, the options, then the command
    const input = spec.parse(...(params.slice(0, -1) as Params));
    const { said, receipt, json } = await spec.send(await creditClient(this, params.at(-2) as KeyOptions), input);
    output(globals.json, [said, `tx ${receipt.transactionHash}`], { ...json, txHash: receipt.transactionHash });
  });
}

const revokeCommand = (): Command =>
  creditTransactionCommand("revoke", {
    description: "revoke an authorization on-chain: the gateway serves nothing more under it (what it served before is still charged)",
    declare: (cmd) =>
      cmd
        .argument("<nonce>", "the authorization's nonce (printed by `ctk credits authorize`)")
        .option("--gateway <address>", "the gateway it was given to (default: the deployment's gateway)"),
    parse: (nonceText: string, opts: { gateway?: string }) => ({ nonce: parseNonce(nonceText), gatewayFlag: opts.gateway }),
    async send(client, { nonce, gatewayFlag }) {
      const gateway = gatewayOf(client, gatewayFlag);
      const holder = client.account.address as Address;
      const id = authorizationId(holder, gateway, nonce);
      const before = await readAuthorization(client, id);
      if (before.status === "revoked") throw new UserError(`authorization ${nonce} for gateway ${gateway} is already revoked`);
      const receipt = await revokeAuthorization(client, gateway, nonce);
      const wasActive = before.status === "active";
      return {
        said: `revoked authorization ${nonce} for gateway ${gateway}${wasActive ? ` (charged ${formatCredits(before.charged)} of ${formatCredits(before.cap)} credits)` : " (nothing settled under it yet: what the gateway served before is charged when its batch lands)"}`,
        receipt,
        json: { holder, gateway, nonce, authorizationId: id, wasActive, charged: before.charged },
      };
    },
  });

const transferCommand = (): Command =>
  creditTransactionCommand("transfer", {
    description: "give transferable credits to a colleague (soonest-expiring first)",
    declare: (cmd) => cmd.requiredOption("--to <address>", "the colleague's wallet").requiredOption("--amount <credits>", "credits to give"),
    parse(opts: { to: string; amount: string }) {
      const to = parseWallet(opts.to);
      if (!isParsedWallet(to)) throw new UserError(to.replace(/^wallet/, "--to"));
      return { to, amount: inputs(() => parseCredits(opts.amount, "--amount")) };
    },
    async send(client, { to, amount }) {
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
      return { said: `sent ${formatCredits(amount)} credits to ${to}`, receipt, json: { from: me, to, amount, credits: formatCredits(amount) } };
    },
  });

export function creditsCommand(): Command {
  return new Command("credits")
    .description("inference credits: authorize the gateway to spend them, revoke, transfer")
    .addCommand(authorizeCommand())
    .addCommand(revokeCommand())
    .addCommand(transferCommand());
}
