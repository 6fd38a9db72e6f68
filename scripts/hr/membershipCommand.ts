/**
 * The allow-list commands, `ctk hr onboard` and `ctk hr offboard`, declared and wired once: one required
 * option names whom the command applies to (`--csv`, `--wallet`), one opt-in flag widens what it does
 * (`--readmit`, `--clawback`). The input is checked before HR's key is loaded (a mistake costs no password
 * prompt and no RPC call); the act signs as HR; what it did is printed, or with --json its document.
 */
import { Command, Option } from "commander";
import type { CtkClient } from "../../sdk/client.js";
import { clientFor, globalsOf } from "../cli/globals.js";
import { loadAccount, withKeyOptions, type KeyOptions } from "../cli/keys.js";
import { output } from "../cli/output.js";

/** What an allow-list command did: the lines a person reads, and the --json document. */
interface MembershipResult {
  human: string[];
  json: object;
}

/** What differs between the allow-list commands. */
export interface MembershipSpec<Who> {
  description: string;
  /** The required option naming whom the command applies to: its flags and help. */
  who: readonly [flags: string, help: string];
  /** The opt-in flag that widens the act: its flags and help. */
  widen: readonly [flags: string, help: string];
  /** Checks the `who` option's text before any key is loaded (a UserError for a mistake). */
  parse(text: string): Who;
  /** Does it, signing as HR; `text` is the `who` option as given (for messages). */
  act(hr: CtkClient, who: Who, widen: boolean, text: string): Promise<MembershipResult>;
}

export function membershipCommand<Who>(name: string, spec: MembershipSpec<Who>): Command {
  const who = new Option(...spec.who).makeOptionMandatory();
  const widen = new Option(...spec.widen);
  return withKeyOptions(new Command(name).description(spec.description).addOption(who).addOption(widen)).action(async function (
    this: Command,
    opts: KeyOptions & Record<string, unknown>,
  ) {
    const globals = globalsOf(this);
    const text = String(opts[who.attributeName()]);
    const parsed = spec.parse(text);
    const hr = await clientFor(globals, await loadAccount(opts, "HR"));
    const { human, json } = await spec.act(hr, parsed, Boolean(opts[widen.attributeName()]), text);
    output(globals.json, human, json);
  });
}
