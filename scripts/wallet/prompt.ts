/**
 * Reading what the user types without echoing it: keystore passwords and imported secrets.
 * Non-interactive use: the password comes from `CTK_PASSWORD`, an imported secret from stdin.
 */
import { createInterface } from "node:readline";
import { Writable } from "node:stream";
import { CtkError } from "../../sdk/ctkError.js";

export class PromptError extends CtkError {
  constructor(message: string) {
    super(message);
    this.name = "PromptError";
  }
}

/** Asks on the terminal (stderr) with echo off; rejects when stdin is not a terminal. */
export async function askHidden(question: string): Promise<string> {
  if (!process.stdin.isTTY) throw new PromptError(`cannot ask "${question.trim()}" without a terminal`);
  let muted = false;
  const output = new Writable({
    write(chunk, _enc, done) {
      if (!muted) process.stderr.write(chunk);
      done();
    },
  });
  const rl = createInterface({ input: process.stdin, output, terminal: true });
  try {
    return await new Promise<string>((resolve, reject) => {
      rl.question(question, (answer) => resolve(answer));
      rl.once("SIGINT", () => reject(new PromptError("cancelled")));
      muted = true;
    });
  } finally {
    muted = false;
    process.stderr.write("\n");
    rl.close();
  }
}

/** Asks a yes/no question on the terminal; without one, refuses (use --yes). */
export async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) throw new PromptError("no terminal to confirm on: pass --yes to proceed without asking");
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  try {
    const answer = await new Promise<string>((resolve) => rl.question(`${question} [y/N] `, resolve));
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

/** The keystore password: `CTK_PASSWORD`, else a hidden prompt (twice when creating). */
export async function readPassword(opts: { confirm?: boolean; purpose?: string } = {}): Promise<string> {
  const fromEnv = process.env.CTK_PASSWORD;
  if (fromEnv !== undefined) return fromEnv;
  if (!process.stdin.isTTY) throw new PromptError("no password: set CTK_PASSWORD or run in a terminal");
  const password = await askHidden(`${opts.purpose ?? "Keystore password"}: `);
  if (opts.confirm) {
    const again = await askHidden("Repeat the password: ");
    if (again !== password) throw new PromptError("the passwords do not match");
  }
  return password;
}

/** Reads all of stdin (a piped secret), without ever echoing it. */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks).toString("utf8");
}

/** An imported secret: a hidden prompt on a terminal, else stdin. */
export async function readSecret(): Promise<string> {
  if (process.stdin.isTTY) return askHidden("Private key or mnemonic: ");
  const text = await readStdin();
  if (!text.trim()) throw new PromptError("no secret on stdin: pipe the private key or mnemonic in, or run in a terminal");
  return text;
}
