/**
 * Employee keys at rest: one encrypted JSON keystore per account in the standard Web3
 * secret-storage format (scrypt KDF, AES-128-CTR, what geth and ethers write), under
 * `~/.ctk/keystore/` unless a directory is given. A private key or mnemonic only exists
 * in memory: it is never printed, logged, put in an error message, or written unencrypted.
 */
import { scrypt as nodeScrypt } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";
import { HDNodeWallet, Mnemonic, Wallet, decryptKeystoreJson, encryptKeystoreJson, isKeystoreJson, scrypt as ethersScrypt, type KeystoreAccount } from "ethers";
import { getAddress, isAddress, type Address, type Hex } from "viem";
import { privateKeyToAccount, type PrivateKeyAccount } from "viem/accounts";
import { CtkError } from "./ctkError.js";

// ethers reads and writes the format; node's native scrypt does the key derivation (the
// standard cost, N = 2^17, is about twice as fast as the pure-JS one and needs 128 MiB).
let nativeScryptRegistered = false;
function useNativeScrypt(): void {
  if (nativeScryptRegistered) return;
  nativeScryptRegistered = true;
  try {
    ethersScrypt.register(
      (passwd, salt, N, r, p, dkLen) =>
        new Promise((resolve, reject) =>
          nodeScrypt(passwd, salt, dkLen, { N, r, p, maxmem: 128 * N * r * 2 + (1 << 20) }, (err, key) => (err ? reject(err) : resolve(new Uint8Array(key)))),
        ),
    );
  } catch {
    // another module locked ethers' scrypt: keep its implementation
  }
}

/** Default keystore directory: `$CTK_HOME/keystore`, else `~/.ctk/keystore`. */
export function defaultKeystoreDir(): string {
  const home = process.env.CTK_HOME ?? path.join(homedir(), ".ctk");
  return path.join(home, "keystore");
}

/** The standard derivation path of the first Ethereum account of a mnemonic. */
export const DEFAULT_DERIVATION_PATH = "m/44'/60'/0'/0/0";

/** scrypt cost used for new keystores (ethers' and geth's standard: N = 2^17, r = 8, p = 1). */
export const STANDARD_SCRYPT = { N: 1 << 17, r: 8, p: 1 } as const;

export class KeystoreError extends CtkError {
  constructor(message: string) {
    super(message);
    this.name = "KeystoreError";
  }
}

/** The password does not open the keystore. */
export class WrongPasswordError extends KeystoreError {
  constructor(readonly file: string) {
    super(`wrong password for keystore ${file}`);
    this.name = "WrongPasswordError";
  }
}

/** What the user gave is neither a 32-byte private key nor a valid BIP-39 mnemonic. The value is never echoed. */
export class InvalidSecretError extends KeystoreError {
  constructor() {
    super("not a valid private key (0x + 64 hex digits) or BIP-39 mnemonic");
    this.name = "InvalidSecretError";
  }
}

export class KeystoreExistsError extends KeystoreError {
  constructor(
    readonly address: Address,
    readonly file: string,
  ) {
    super(`a keystore for ${address} already exists: ${file}`);
    this.name = "KeystoreExistsError";
  }
}

export class KeystoreNotFoundError extends KeystoreError {
  constructor(
    readonly dir: string,
    readonly address?: Address,
  ) {
    super(address ? `no keystore for ${address} in ${dir}` : `no keystore in ${dir}: create one with \`ctk wallet create\` or \`ctk wallet import\``);
    this.name = "KeystoreNotFoundError";
  }
}

export class AmbiguousKeystoreError extends KeystoreError {
  constructor(
    readonly dir: string,
    readonly addresses: Address[],
  ) {
    super(`${addresses.length} keystores in ${dir} (${addresses.join(", ")}): choose one with --from <address>`);
    this.name = "AmbiguousKeystoreError";
  }
}

export interface KeystoreEntry {
  address: Address;
  file: string;
}

export interface WriteOptions {
  /** Directory (created 0700 if missing). Default {@link defaultKeystoreDir}. */
  dir?: string;
  /** scrypt parameters; default {@link STANDARD_SCRYPT}. Lower only in tests. */
  scrypt?: { N: number; r?: number; p?: number };
}

/** A secret the user typed or piped: a private key or a mnemonic (with an optional derivation path). */
export type Secret = { kind: "privateKey"; privateKey: string } | { kind: "mnemonic"; phrase: string; path?: string; password?: string };

/** Tells a private key from a mnemonic; throws {@link InvalidSecretError} (without the value) otherwise. */
export function parseSecret(input: string, derivationPath?: string): Secret {
  const text = input.trim();
  const hex = text.startsWith("0x") || text.startsWith("0X") ? text.slice(2) : text;
  if (/^[0-9a-fA-F]{64}$/.test(hex)) return { kind: "privateKey", privateKey: `0x${hex.toLowerCase()}` };
  const phrase = text.split(/\s+/).join(" ").toLowerCase();
  if (phrase.split(" ").length >= 12 && Mnemonic.isValidMnemonic(phrase)) {
    return { kind: "mnemonic", phrase, path: derivationPath };
  }
  throw new InvalidSecretError();
}

function accountOf(secret: Secret): KeystoreAccount {
  try {
    if (secret.kind === "privateKey") {
      const w = new Wallet(secret.privateKey);
      return { address: w.address, privateKey: w.privateKey };
    }
    const pathUsed = secret.path ?? DEFAULT_DERIVATION_PATH;
    const w = HDNodeWallet.fromPhrase(secret.phrase, secret.password, pathUsed);
    return {
      address: w.address,
      privateKey: w.privateKey,
      mnemonic: { entropy: w.mnemonic!.entropy, path: pathUsed, locale: "en" },
    };
  } catch {
    // ethers' messages quote the value: never let them through.
    throw new InvalidSecretError();
  }
}

/** The file name geth uses: `UTC--<ISO time>--<address, lower case, no 0x>`. */
export function keystoreFileName(address: Address, at = new Date()): string {
  const iso = at.toISOString().replace(/:/g, "-");
  return `UTC--${iso}--${address.slice(2).toLowerCase()}`;
}

function ensureDir(dir: string): void {
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
  }
}

function checkPassword(password: string): void {
  if (password.length === 0) throw new KeystoreError("the keystore password must not be empty");
}

async function writeKeystore(account: KeystoreAccount, password: string, opts: WriteOptions): Promise<KeystoreEntry> {
  checkPassword(password);
  const dir = opts.dir ?? defaultKeystoreDir();
  const address = getAddress(account.address);
  const existing = listKeystores(dir).find((e) => e.address === address);
  if (existing) throw new KeystoreExistsError(address, existing.file);
  const scrypt = { ...STANDARD_SCRYPT, ...(opts.scrypt ?? {}) };
  useNativeScrypt();
  const json = await encryptKeystoreJson(account, password, { scrypt });
  ensureDir(dir);
  const file = path.join(dir, keystoreFileName(address));
  // wx: never overwrite; 0600: only the owner reads it.
  writeFileSync(file, json, { mode: 0o600, flag: "wx" });
  return { address, file };
}

/** Creates a new random account and writes its encrypted keystore. */
export async function createKeystore(password: string, opts: WriteOptions = {}): Promise<KeystoreEntry> {
  const wallet = Wallet.createRandom();
  return writeKeystore(
    {
      address: wallet.address,
      privateKey: wallet.privateKey,
      mnemonic: { entropy: wallet.mnemonic!.entropy, path: wallet.path ?? DEFAULT_DERIVATION_PATH, locale: "en" },
    },
    password,
    opts,
  );
}

/** Encrypts an existing private key or mnemonic into a keystore. */
export async function importKeystore(secret: Secret, password: string, opts: WriteOptions = {}): Promise<KeystoreEntry> {
  return writeKeystore(accountOf(secret), password, opts);
}

function addressOfFile(file: string): Address | undefined {
  try {
    const json = readFileSync(file, "utf8");
    if (!isKeystoreJson(json)) return undefined;
    const raw = JSON.parse(json).address as string | undefined;
    if (!raw) return undefined;
    const a = raw.startsWith("0x") ? raw : `0x${raw}`;
    return isAddress(a, { strict: false }) ? getAddress(a) : undefined;
  } catch {
    return undefined;
  }
}

/** Every keystore in a directory (missing directory: none), sorted by address. */
export function listKeystores(dir: string = defaultKeystoreDir()): KeystoreEntry[] {
  if (!existsSync(dir)) return [];
  const out: KeystoreEntry[] = [];
  for (const name of readdirSync(dir)) {
    const file = path.join(dir, name);
    const address = addressOfFile(file);
    if (address) out.push({ address, file });
  }
  return out.sort((a, b) => a.address.localeCompare(b.address));
}

/**
 * The keystore to use: a file path, an address in the directory, or the only keystore there.
 */
export function findKeystore(opts: { dir?: string; from?: string } = {}): KeystoreEntry {
  const dir = opts.dir ?? defaultKeystoreDir();
  if (opts.from && !isAddress(opts.from, { strict: false })) {
    const address = addressOfFile(opts.from);
    if (!address) throw new KeystoreError(`${opts.from} is neither an address nor a keystore file`);
    return { address, file: opts.from };
  }
  const entries = listKeystores(dir);
  if (opts.from) {
    const want = getAddress(opts.from);
    const hit = entries.find((e) => e.address === want);
    if (!hit) throw new KeystoreNotFoundError(dir, want);
    return hit;
  }
  if (entries.length === 0) throw new KeystoreNotFoundError(dir);
  if (entries.length > 1)
    throw new AmbiguousKeystoreError(
      dir,
      entries.map((e) => e.address),
    );
  return entries[0]!;
}

/** Opens a keystore: a viem account that signs in memory. Wrong password: {@link WrongPasswordError}. */
export async function decryptKeystore(file: string, password: string): Promise<PrivateKeyAccount> {
  let json: string;
  try {
    json = readFileSync(file, "utf8");
  } catch (e) {
    throw new KeystoreError(`cannot read keystore ${file}: ${(e as NodeJS.ErrnoException).code ?? "error"}`);
  }
  if (!isKeystoreJson(json)) throw new KeystoreError(`${file} is not a Web3 secret-storage keystore`);
  let account: KeystoreAccount;
  try {
    useNativeScrypt();
    account = await decryptKeystoreJson(json, password);
  } catch (e) {
    const err = e as { code?: string; argument?: string; message?: string };
    if (err.argument === "password" || /incorrect password/i.test(err.message ?? "")) throw new WrongPasswordError(file);
    throw new KeystoreError(`cannot decrypt keystore ${file}: unsupported or corrupt file`);
  }
  return privateKeyToAccount(account.privateKey as Hex);
}
