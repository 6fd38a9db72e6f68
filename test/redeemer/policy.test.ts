import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { encodeSpec, jobSpecSchema, priorityIndex, unitsFor } from "../../sdk/jobSpec.js";
import { REJECT_REASONS } from "../../sdk/reasons.js";
import { ConfigError, checkRedemption, parseImageRef, parsePolicyConfig, type PolicyConfig, type RedemptionCheckInput } from "../../redeemer/policy/index.js";
import { BAD_SPECS, BASE_SPEC, DIGEST, FIXTURE_CLASS, FIXTURE_MULTIPLIERS_BPS, FIXTURE_POLICY, GOOD_SPECS, type SpecCase, onChainOf, specBytesOf } from "../fixtures/badSpecs.js";
import { loadRedeemerConfig } from "../../redeemer/config.js";

const policy: PolicyConfig = parsePolicyConfig(FIXTURE_POLICY);

/** The check input for a corpus case, as the watcher would build it from the chain. */
function inputFor(c: SpecCase): RedemptionCheckInput {
  const chain = onChainOf(c);
  const p = priorityIndex(chain.priority);
  const bps = FIXTURE_MULTIPLIERS_BPS[p]!;
  return {
    specBytes: specBytesOf(c),
    gpus: chain.gpus,
    seconds: chain.seconds,
    priority: p,
    reservedUnits: unitsFor(chain.gpus, chain.seconds, bps),
    classMaxGpus: FIXTURE_CLASS.maxGpus,
    multiplierBps: bps,
  };
}

const baseInput = (): RedemptionCheckInput => inputFor({ name: "base", spec: { ...BASE_SPEC } });

describe("redeemer policy: checkRedemption", () => {
  describe("refuses every spec in the bad-spec corpus with its exact reason", () => {
    for (const c of BAD_SPECS) {
      it(`${c.name} → ${c.expectedReason}`, () => {
        const result = checkRedemption(inputFor(c), policy);
        if (result.ok) expect.fail(`accepted ${c.name}`);
        expect(result.reason, result.detail).to.equal(c.expectedReason);
        expect(result.code).to.equal(REJECT_REASONS[c.expectedReason]);
        expect(result.detail).to.be.a("string").and.not.equal("");
        if (c.expectedField !== undefined) expect(result.field).to.equal(c.expectedField);
      });
    }
  });

  describe("accepts the good specs", () => {
    for (const c of GOOD_SPECS) {
      it(`accepts ${c.name}`, () => {
        const result = checkRedemption(inputFor(c), policy);
        if (!result.ok) expect.fail(`${result.reason}: ${result.detail}`);
        expect(result.spec).to.deep.equal(jobSpecSchema.parse(c.spec));
      });
    }
  });

  it("accepts the canonical encoding the CLI sends and returns the parsed spec and image", () => {
    const spec = jobSpecSchema.parse(BASE_SPEC);
    const result = checkRedemption({ ...baseInput(), specBytes: encodeSpec(spec) }, policy);
    expect(result).to.deep.equal({
      ok: true,
      spec,
      image: { registry: "registry.example.com", repository: "team/train", digest: DIGEST },
    });
  });

  it("covers every reject reason the policy can produce", () => {
    const covered = new Set(BAD_SPECS.map((c) => c.expectedReason));
    for (const reason of [
      "INVALID_SPEC",
      "SPEC_TOO_LARGE",
      "NOT_UTF8",
      "IMAGE_NOT_ALLOWED",
      "IMAGE_NOT_PINNED",
      "TOO_MANY_GPUS",
      "HOURS_MISMATCH",
      "PRIORITY_MISMATCH",
      "PRIVILEGED",
    ] as const) {
      expect(covered.has(reason), reason).to.equal(true);
    }
  });

  it("refuses when the reserved units do not match GPUs × seconds × the priority multiplier", () => {
    const input = baseInput();
    const result = checkRedemption({ ...input, reservedUnits: (input.reservedUnits as bigint) - 1n }, policy);
    expect(result).to.include({ ok: false, reason: "HOURS_MISMATCH", code: REJECT_REASONS.HOURS_MISMATCH });
  });

  it("refuses when the multiplier changed since the units were reserved", () => {
    const result = checkRedemption({ ...baseInput(), multiplierBps: 11000 }, policy);
    expect(result).to.include({ ok: false, reason: "HOURS_MISMATCH" });
  });

  it("rounds reserved units up the way the contract does (urgent, odd seconds)", () => {
    const spec = { ...BASE_SPEC, gpus: 3, hours: 7 / 3600, priority: "urgent" };
    const input: RedemptionCheckInput = {
      specBytes: new TextEncoder().encode(JSON.stringify(spec)),
      gpus: 3,
      seconds: 7,
      priority: 3,
      reservedUnits: 32n, // ceil(3 × 7 × 1.5) = ceil(31.5)
      classMaxGpus: 8,
      multiplierBps: 15000,
    };
    expect(checkRedemption(input, policy).ok).to.equal(true);
  });

  it("accepts on-chain numbers as bigints, as viem decodes uint64", () => {
    const input = baseInput();
    const result = checkRedemption({ ...input, gpus: BigInt(input.gpus), seconds: BigInt(input.seconds), priority: 1n, classMaxGpus: 8n, multiplierBps: 10000n }, policy);
    expect(result.ok).to.equal(true);
  });

  it("refuses an on-chain priority index outside low..urgent", () => {
    expect(checkRedemption({ ...baseInput(), priority: 4 }, policy)).to.include({ ok: false, reason: "PRIORITY_MISMATCH" });
  });

  it("checks the class maximum before the on-chain numbers", () => {
    const spec = { ...BASE_SPEC, gpus: 9 };
    const c: SpecCase = { name: "9 gpus", spec, onChain: { gpus: 2 } };
    expect(checkRedemption({ ...inputFor(c), classMaxGpus: 8 }, policy)).to.include({ reason: "TOO_MANY_GPUS" });
  });

  it("reports PRIVILEGED rather than INVALID_SPEC when a spec is wrong in both ways", () => {
    const bytes = new TextEncoder().encode(JSON.stringify({ name: "BAD NAME", privileged: true }));
    expect(checkRedemption({ ...baseInput(), specBytes: bytes }, policy)).to.include({ reason: "PRIVILEGED", field: "privileged" });
  });

  it("honours a smaller maxSpecBytes from the policy", () => {
    const small = parsePolicyConfig({ ...FIXTURE_POLICY, maxSpecBytes: 100 });
    expect(checkRedemption(baseInput(), small)).to.include({ reason: "SPEC_TOO_LARGE" });
  });

  it("accepts a tag-only image when requireDigest is false", () => {
    const lax = parsePolicyConfig({ ...FIXTURE_POLICY, requireDigest: false });
    const spec = { ...BASE_SPEC, image: "registry.example.com/team/train:latest" };
    expect(checkRedemption({ ...baseInput(), specBytes: new TextEncoder().encode(JSON.stringify(spec)) }, lax).ok).to.equal(true);
  });

  it("accepts Docker Hub images only when docker.io is on the allow-list", () => {
    const hub = parsePolicyConfig({ ...FIXTURE_POLICY, allowedRegistries: ["docker.io"] });
    const spec = { ...BASE_SPEC, image: `pytorch/pytorch@${DIGEST}` };
    const input = { ...baseInput(), specBytes: new TextEncoder().encode(JSON.stringify(spec)) };
    expect(checkRedemption(input, hub).ok).to.equal(true);
    expect(checkRedemption(input, policy)).to.include({ reason: "IMAGE_NOT_ALLOWED" });
  });

  it("narrows an allow-list entry with a repository path to that path", () => {
    const team = parsePolicyConfig({ ...FIXTURE_POLICY, allowedRegistries: ["registry.example.com:5000/team"] });
    const check = (image: string) => checkRedemption({ ...baseInput(), specBytes: new TextEncoder().encode(JSON.stringify({ ...BASE_SPEC, image })) }, team);
    expect(check(`registry.example.com:5000/team/train@${DIGEST}`).ok).to.equal(true);
    expect(check(`registry.example.com:5000/team@${DIGEST}`).ok).to.equal(true);
    expect(check(`registry.example.com:5000/teammate/train@${DIGEST}`)).to.include({ reason: "IMAGE_NOT_ALLOWED" });
    expect(check(`registry.example.com/team/train@${DIGEST}`)).to.include({ reason: "IMAGE_NOT_ALLOWED" });
  });
});

describe("redeemer policy: parseImageRef", () => {
  const cases: [string, ReturnType<typeof parseImageRef>][] = [
    ["ubuntu", { registry: "docker.io", repository: "library/ubuntu" }],
    ["ubuntu:22.04", { registry: "docker.io", repository: "library/ubuntu", tag: "22.04" }],
    ["docker.io/ubuntu", { registry: "docker.io", repository: "library/ubuntu" }],
    ["index.docker.io/pytorch/pytorch:2.3", { registry: "docker.io", repository: "pytorch/pytorch", tag: "2.3" }],
    ["localhost/app", { registry: "localhost", repository: "app" }],
    ["localhost:5000/a/b:c", { registry: "localhost:5000", repository: "a/b", tag: "c" }],
    ["Registry.Example.COM/team/train", { registry: "registry.example.com", repository: "team/train" }],
    ["[::1]:5000/app", { registry: "[::1]:5000", repository: "app" }],
    [`registry.example.com/a/b_c.d--e:v1@${DIGEST}`, { registry: "registry.example.com", repository: "a/b_c.d--e", tag: "v1", digest: DIGEST }],
    ["team/train", { registry: "docker.io", repository: "team/train" }],
  ];
  for (const [ref, expected] of cases) {
    it(`parses ${ref}`, () => expect(parseImageRef(ref)).to.deep.equal(expected));
  }

  for (const ref of ["", "UPPER/case", "registry.example.com/", "a//b", "a:b:c", "host:99999/app", "a b", "a@", "a@sha256", "-lead/app", "a:-tag"]) {
    it(`rejects ${JSON.stringify(ref)}`, () => expect(() => parseImageRef(ref)).to.throw(/invalid image reference/));
  }
});

describe("redeemer policy: read with the redeemer's configuration", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "ctk-policy-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, content: string): string => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };
  /** A redeemer configuration file whose policy section is `policy`. */
  const configWith = (policy: unknown): string =>
    write(
      "redeemer.json",
      JSON.stringify({
        rpcUrl: "http://127.0.0.1:8545",
        deployment: {
          chainId: 31337,
          computeToken: "0x5fbdb2315678afecb367f032d93f642f64180aa3",
          accessManager: "0xe7f1725e7734ce288f8367e1bb143e90bb3f0512",
          deployBlock: 1,
        },
        privateKey: `0x${"11".repeat(32)}`,
        executor: { kind: "local", local: { dataDir: "data/local" } },
        policy,
      }),
    );

  it("reads the policy section and fills in the defaults", () => {
    const file = configWith({ allowedRegistries: ["Registry.Example.com", "docker.io/pytorch/"] });
    expect(loadRedeemerConfig({ file, env: {}, envFile: false }).policy).to.deep.equal({
      allowedRegistries: ["registry.example.com", "docker.io/pytorch"],
      requireDigest: true,
      maxSpecBytes: 8192,
      allowedSecrets: [],
    });
  });

  it("lets the environment override the file", () => {
    const file = configWith({ allowedRegistries: ["registry.example.com"], maxSpecBytes: 4096 });
    const env = { CTK_ALLOWED_REGISTRIES: "a.example.com, b.example.com:5000", CTK_REQUIRE_DIGEST: "false", CTK_ALLOWED_SECRETS: "hf-token, wandb" };
    expect(loadRedeemerConfig({ file, env, envFile: false }).policy).to.deep.equal({
      allowedRegistries: ["a.example.com", "b.example.com:5000"],
      requireDigest: false,
      maxSpecBytes: 4096,
      allowedSecrets: ["hf-token", "wandb"],
    });
  });

  it("reads a .env file (dotenv) below the process environment", () => {
    const file = configWith({ allowedRegistries: ["registry.example.com"] });
    const envFile = write(".env", "CTK_MAX_SPEC_BYTES=2048\nCTK_REQUIRE_DIGEST=false\n");
    const config = loadRedeemerConfig({ file, env: { CTK_REQUIRE_DIGEST: "yes" }, envFile });
    expect(config.policy).to.deep.equal({ allowedRegistries: ["registry.example.com"], requireDigest: true, maxSpecBytes: 2048, allowedSecrets: [] });
  });

  it("throws a ConfigError listing every invalid setting", () => {
    const file = configWith({ allowedRegistries: ["not a host"], maxSpecBytes: -1, extra: 1 });
    try {
      loadRedeemerConfig({ file, env: {}, envFile: false });
      expect.fail("no error");
    } catch (err) {
      expect(err).to.be.instanceOf(ConfigError);
      const e = err as ConfigError;
      expect(e.issues.map((i) => i.path)).to.have.members(["policy.allowedRegistries.0", "policy.maxSpecBytes", "policy"]);
    }
  });

  it("throws a ConfigError for an empty allow-list and a bad env value", () => {
    expect(() => loadRedeemerConfig({ file: configWith({}), env: {}, envFile: false })).to.throw(ConfigError, /allowedRegistries: Required/);
    const file = configWith({ allowedRegistries: ["registry.example.com"] });
    expect(() => loadRedeemerConfig({ file, env: { CTK_REQUIRE_DIGEST: "maybe" }, envFile: false })).to.throw(ConfigError, /CTK_REQUIRE_DIGEST/);
    expect(() => loadRedeemerConfig({ file, env: { CTK_MAX_SPEC_BYTES: "lots" }, envFile: false })).to.throw(ConfigError, /CTK_MAX_SPEC_BYTES/);
  });
});
