/**
 * One key loader for every role (scripts/cli/keys.ts): --key-env, then --keystore, then the role's
 * default. HR, operations and employees resolve the same options in the same order.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { privateKeyToAccount } from "viem/accounts";
import { type KeyRole, loadAccount } from "../../scripts/cli/keys.js";
import { UserError } from "../../scripts/cli/output.js";
import { importKeystore, parseSecret } from "../../sdk/keystore.js";

const FAST = { N: 1 << 10 };
const PASSWORD = "correct horse battery staple";
const KEYSTORE_KEY = `0x${"a1".repeat(32)}`;
const ENV_KEY = `0x${"b2".repeat(32)}`;
const DEFAULT_KEY = `0x${"c3".repeat(32)}`;
const ROLES: KeyRole[] = ["HR", "OPERATIONS", "EMPLOYEE"];
const VARS = ["CTK_PASSWORD", "CTK_HOME", "CTK_PRIVATE_KEY", "CTK_OPERATIONS_KEY", "CTK_TEST_SIGNING_KEY"];

describe("signing key: one loader, one precedence for every role", () => {
  let dir: string;
  let saved: Record<string, string | undefined>;
  const addressOf = (key: string) => privateKeyToAccount(key as `0x${string}`).address;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "ctk-keys-"));
    saved = Object.fromEntries(VARS.map((v) => [v, process.env[v]]));
    await importKeystore(parseSecret(KEYSTORE_KEY), PASSWORD, { dir: path.join(dir, "given"), scrypt: FAST });
    await importKeystore(parseSecret(DEFAULT_KEY), PASSWORD, { dir: path.join(dir, "home", "keystore"), scrypt: FAST });
  });
  beforeEach(() => {
    for (const v of VARS) delete process.env[v];
    process.env.CTK_PASSWORD = PASSWORD;
    process.env.CTK_HOME = path.join(dir, "home");
    process.env.CTK_TEST_SIGNING_KEY = ENV_KEY;
  });
  after(() => {
    for (const v of VARS) {
      if (saved[v] === undefined) delete process.env[v];
      else process.env[v] = saved[v];
    }
    rmSync(dir, { recursive: true, force: true });
  });

  for (const role of ROLES) {
    it(`${role}: --key-env wins over --keystore`, async () => {
      const account = await loadAccount({ keystore: path.join(dir, "given"), keyEnv: "CTK_TEST_SIGNING_KEY" }, role);
      expect(account.address).to.equal(addressOf(ENV_KEY));
    });

    it(`${role}: --keystore wins over the role's default`, async () => {
      process.env.CTK_PRIVATE_KEY = DEFAULT_KEY;
      process.env.CTK_OPERATIONS_KEY = DEFAULT_KEY;
      const account = await loadAccount({ keystore: path.join(dir, "given") }, role);
      expect(account.address).to.equal(addressOf(KEYSTORE_KEY));
    });

    it(`${role}: --key-env wins over the role's default`, async () => {
      process.env.CTK_PRIVATE_KEY = DEFAULT_KEY;
      process.env.CTK_OPERATIONS_KEY = DEFAULT_KEY;
      const account = await loadAccount({ keyEnv: "CTK_TEST_SIGNING_KEY" }, role);
      expect(account.address).to.equal(addressOf(ENV_KEY));
    });
  }

  it("without options: HR signs with CTK_PRIVATE_KEY, operations with CTK_OPERATIONS_KEY first", async () => {
    process.env.CTK_PRIVATE_KEY = ENV_KEY;
    expect((await loadAccount({}, "HR")).address).to.equal(addressOf(ENV_KEY));
    expect((await loadAccount({}, "OPERATIONS")).address).to.equal(addressOf(ENV_KEY));
    process.env.CTK_OPERATIONS_KEY = KEYSTORE_KEY;
    expect((await loadAccount({}, "OPERATIONS")).address).to.equal(addressOf(KEYSTORE_KEY));
  });

  it("without options: an employee signs with the keystore in CTK_HOME, never with CTK_PRIVATE_KEY", async () => {
    process.env.CTK_PRIVATE_KEY = ENV_KEY;
    expect((await loadAccount({}, "EMPLOYEE")).address).to.equal(addressOf(DEFAULT_KEY));
    process.env.CTK_HOME = path.join(dir, "nowhere");
    const err = await loadAccount({}, "EMPLOYEE").then(
      () => expect.fail("signed with CTK_PRIVATE_KEY"),
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(UserError);
    expect((err as Error).message).to.match(/^no keystore in ~\/\.ctk\/keystore; CTK_PRIVATE_KEY is set/);
  });

  it("names an unset --key-env variable, for every role", async () => {
    for (const role of ROLES) {
      await loadAccount({ keyEnv: "CTK_TEST_UNSET_KEY" }, role).then(
        () => expect.fail("loaded a key from an unset variable"),
        (e: unknown) => expect((e as Error).message).to.equal("--key-env CTK_TEST_UNSET_KEY: that environment variable is not set"),
      );
    }
  });
});
