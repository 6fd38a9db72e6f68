import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { Wallet } from "ethers";
import {
  InvalidSecretError,
  KeystoreExistsError,
  WrongPasswordError,
  createKeystore,
  decryptKeystore,
  findKeystore,
  importKeystore,
  listKeystores,
  parseSecret,
} from "../../sdk/keystore.js";
import { runCtk } from "./support/runCtk.js";

// Light scrypt for library round trips; the CLI tests below use the standard cost.
const FAST = { N: 1 << 10 };
const KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const KEY_ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const MNEMONIC = "test test test test test test test test test test test junk";
const MNEMONIC_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
const PASSWORD = "correct horse battery staple 7";

describe("keystore (sdk/keystore.ts)", function () {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), "ctk-ks-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("creates a new account whose keystore decrypts to the same address", async function () {
    const entry = await createKeystore(PASSWORD, { dir, scrypt: FAST });
    const account = await decryptKeystore(entry.file, PASSWORD);
    expect(account.address).to.equal(entry.address);
    const json = JSON.parse(readFileSync(entry.file, "utf8"));
    expect(json.version).to.equal(3);
    expect((json.crypto ?? json.Crypto).kdf).to.equal("scrypt");
    expect(statSync(entry.file).mode & 0o777).to.equal(0o600);
    expect(path.basename(entry.file)).to.match(/^UTC--.*--[0-9a-f]{40}$/);
  });

  it("imports a private key and a mnemonic and round-trips both", async function () {
    const a = await importKeystore(parseSecret(KEY), PASSWORD, { dir, scrypt: FAST });
    expect(a.address).to.equal(KEY_ADDRESS);
    const b = await importKeystore(parseSecret(`  ${MNEMONIC.toUpperCase()}\n`), PASSWORD, { dir, scrypt: FAST });
    expect(b.address).to.equal(MNEMONIC_ADDRESS);
    expect((await decryptKeystore(a.file, PASSWORD)).address).to.equal(KEY_ADDRESS);
    expect((await decryptKeystore(b.file, PASSWORD)).address).to.equal(MNEMONIC_ADDRESS);
    // The file is standard: ethers (and so geth and other wallets) open it too.
    expect((await Wallet.fromEncryptedJson(readFileSync(a.file, "utf8"), PASSWORD)).address).to.equal(KEY_ADDRESS);
    expect(listKeystores(dir).map((e) => e.address)).to.deep.equal([MNEMONIC_ADDRESS, KEY_ADDRESS].sort((x, y) => x.localeCompare(y)));
    expect(findKeystore({ dir, from: KEY_ADDRESS.toLowerCase() }).file).to.equal(a.file);
  });

  it("refuses a wrong password with a WrongPasswordError naming the file", async function () {
    const entry = await importKeystore(parseSecret(KEY), PASSWORD, { dir, scrypt: FAST });
    const err = await decryptKeystore(entry.file, "not the password").then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(WrongPasswordError);
    expect((err as Error).message).to.equal(`wrong password for keystore ${entry.file}`);
  });

  it("refuses a second keystore for the same address and never overwrites", async function () {
    const first = await importKeystore(parseSecret(KEY), PASSWORD, { dir, scrypt: FAST });
    const before = readFileSync(first.file, "utf8");
    const err = await importKeystore(parseSecret(KEY), "other", { dir, scrypt: FAST }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(KeystoreExistsError);
    expect(readdirSync(dir)).to.have.length(1);
    expect(readFileSync(first.file, "utf8")).to.equal(before);
  });

  it("rejects a malformed secret without quoting it", function () {
    for (const bad of ["0x1234", "not a mnemonic at all but twelve words long ok fine yes no maybe", `${KEY.slice(0, -1)}g`]) {
      const err = (() => {
        try {
          parseSecret(bad);
        } catch (e) {
          return e as Error;
        }
      })();
      expect(err).to.be.instanceOf(InvalidSecretError);
      expect(err!.message).to.not.include(bad.slice(2, 12));
    }
  });
});

describe("ctk wallet create / import (CLI)", function () {
  this.timeout(120_000);
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), "ctk-ks-cli-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const secretsIn = (out: string, secrets: string[]) => secrets.filter((s) => out.toLowerCase().includes(s.toLowerCase()));

  it("imports a private key from stdin, prints only the address and file, and the keystore opens", async function () {
    const run = await runCtk(["wallet", "import", "--keystore", dir], { input: `${KEY}\n`, env: { CTK_PASSWORD: PASSWORD } });
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.include(`imported ${KEY_ADDRESS}`);
    const all = run.stdout + run.stderr;
    expect(secretsIn(all, [KEY, KEY.slice(2), PASSWORD])).to.deep.equal([]);
    const [entry] = listKeystores(dir);
    expect((await decryptKeystore(entry!.file, PASSWORD)).address).to.equal(KEY_ADDRESS);
    // Nothing unencrypted on disk either.
    const onDisk = readdirSync(dir)
      .map((f) => readFileSync(path.join(dir, f), "utf8"))
      .join("\n");
    expect(secretsIn(onDisk, [KEY.slice(2), PASSWORD])).to.deep.equal([]);
  });

  it("imports a mnemonic and creates a new account, with --json, never printing a secret", async function () {
    const imp = await runCtk(["--json", "wallet", "import", "--keystore", dir], { input: MNEMONIC, env: { CTK_PASSWORD: PASSWORD } });
    expect(imp.code, imp.stderr).to.equal(0);
    expect(JSON.parse(imp.stdout).address).to.equal(MNEMONIC_ADDRESS);
    const words = MNEMONIC.split(" ");
    expect(secretsIn(imp.stdout + imp.stderr, [MNEMONIC, PASSWORD, `${words[0]} ${words[1]}`])).to.deep.equal([]);

    const created = await runCtk(["--json", "wallet", "create", "--keystore", dir], { env: { CTK_PASSWORD: PASSWORD } });
    expect(created.code, created.stderr).to.equal(0);
    const { address, file } = JSON.parse(created.stdout) as { address: string; file: string };
    const account = await decryptKeystore(file, PASSWORD);
    expect(account.address).to.equal(address);
    // The new account's private key and mnemonic appear nowhere in the output.
    const full = await Wallet.fromEncryptedJson(readFileSync(file, "utf8"), PASSWORD);
    const phrase = "mnemonic" in full && full.mnemonic ? full.mnemonic.phrase : "";
    expect(phrase.split(" ")).to.have.length(12);
    expect(secretsIn(created.stdout + created.stderr, [full.privateKey.slice(2), phrase, PASSWORD])).to.deep.equal([]);
    const list = await runCtk(["wallet", "list", "--keystore", dir]);
    expect(list.stdout).to.include(address).and.include(MNEMONIC_ADDRESS);
  });

  it("fails with one clear line for a malformed secret, without echoing it", async function () {
    const bad = "0xdeadbeefdeadbeefdeadbeef";
    const run = await runCtk(["wallet", "import", "--keystore", dir], { input: bad, env: { CTK_PASSWORD: PASSWORD } });
    expect(run.code).to.equal(1);
    expect(run.stderr.trim().split("\n")).to.have.length(1);
    expect(run.stderr).to.include("not a valid private key");
    expect(run.stdout + run.stderr).to.not.include("deadbeef");
  });

  it("refuses a wrong password when a command opens the keystore: one clear line, nothing echoed", async function () {
    const entry = await importKeystore(parseSecret(KEY), PASSWORD, { dir, scrypt: FAST });
    const wrong = "hunter2-not-it";
    const run = await runCtk(["transfer", "--to", MNEMONIC_ADDRESS, "--class", "H100-80GB", "--hours", "1", "--keystore", dir], {
      env: { CTK_PASSWORD: wrong, CTK_PRIVATE_KEY: undefined },
    });
    expect(run.code).to.equal(1);
    expect(run.stderr).to.equal(`error: wrong password for keystore ${entry.file}\n`);
    expect(secretsIn(run.stdout + run.stderr, [wrong, PASSWORD, KEY.slice(2)])).to.deep.equal([]);
  });

  it("fails clearly without a terminal and without CTK_PASSWORD", async function () {
    const run = await runCtk(["wallet", "create", "--keystore", dir], { env: { CTK_PASSWORD: undefined } });
    expect(run.code).to.equal(1);
    expect(run.stderr.trim()).to.equal("error: no password: set CTK_PASSWORD or run in a terminal");
  });
});
