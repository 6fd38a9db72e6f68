/**
 * The one spec-vs-policy check (sdk/policy.ts) that the redeemer, `ctk redeem` and the web app run:
 * every refusal at once, each with the field at fault and words a user can act on.
 */
import { expect } from "chai";
import { jobSpecSchema } from "../../sdk/jobSpec.js";
import { checkSpecPolicy, looksLikeCredential, type RedeemerPolicy } from "../../sdk/policy.js";

const DIGEST = `sha256:${"ab12".repeat(16)}`;
const POLICY: RedeemerPolicy = {
  allowedRegistries: ["registry.example.com", "ghcr.io"],
  requireDigest: true,
  maxSpecBytes: 8192,
  executor: "local",
  allowedCommands: ["node", "python3"],
  commandRequired: true,
  allowedSecrets: ["hf-token"],
  classes: [
    { classId: 1, name: "A100-80GB", maxGpusPerJob: 8, active: true },
    { classId: 2, name: "H100-80GB", maxGpusPerJob: 8, active: true },
    { classId: 3, name: "V100", maxGpusPerJob: 4, active: false },
  ],
};
const spec = (over: object) => jobSpecSchema.parse({ name: "job", image: `registry.example.com/t/x@${DIGEST}`, command: ["node"], gpus: 1, hours: 1, ...over });

describe("checkSpecPolicy: the spec against the redeemer's published policy", () => {
  it("accepts a spec that follows the policy", () => {
    expect(checkSpecPolicy(spec({ secrets: { HF_TOKEN: "hf-token" } }), POLICY, { className: "H100-80GB" })).to.deep.equal([]);
  });

  it("returns every refusal with the field at fault: unpinned image, command not allowed, class GPU limit, secrets", () => {
    const bad = spec({
      image: "docker.io/library/python:latest",
      command: ["bash", "-c", "train"],
      gpus: 64,
      env: { HF_TOKEN: "hf_abcdefghijklmnopqrstuvwxyz0123" },
      secrets: { WANDB_API_KEY: "wandb" },
    });
    const refusals = checkSpecPolicy(bad, POLICY, { className: "H100-80GB" });
    expect(refusals.map((r) => [r.field, r.reason])).to.deep.equal([
      ["image", "IMAGE_NOT_ALLOWED"],
      ["image", "IMAGE_NOT_PINNED"],
      ["command", "COMMAND_NOT_ALLOWED"],
      ["secrets.WANDB_API_KEY", "SECRET_NOT_ALLOWED"],
      ["env.HF_TOKEN", "CREDENTIAL_IN_SPEC"],
      ["gpus", "TOO_MANY_GPUS"],
    ]);
    const say = Object.fromEntries(refusals.map((r) => [`${r.field}/${r.reason}`, r.message]));
    expect(say["image/IMAGE_NOT_ALLOWED"]).to.equal("images from docker.io/library/python are not allowed here; allowed registries: registry.example.com, ghcr.io");
    expect(say["image/IMAGE_NOT_PINNED"]).to.contain('it names the tag "latest", which can move');
    expect(say["command/COMMAND_NOT_ALLOWED"]).to.equal('command "bash" is not allowed by this redeemer; allowed: node, python3');
    // The class's own limit, not the schema's 1,024.
    expect(say["gpus/TOO_MANY_GPUS"]).to.equal("the spec asks for 64 GPUs; H100-80GB allows at most 8 per job");
    expect(say["env.HF_TOKEN/CREDENTIAL_IN_SPEC"]).to.contain("public on-chain").and.contain('"secrets": { "HF_TOKEN": "<name>" }').and.not.contain("hf_abc");
    expect(say["secrets.WANDB_API_KEY/SECRET_NOT_ALLOWED"]).to.equal('secret "wandb" is not one this redeemer provides; available: hf-token');
  });

  it("needs a command when the executor cannot run an image's entrypoint, and not otherwise", () => {
    expect(checkSpecPolicy(spec({ command: [] }), POLICY).map((r) => r.field)).to.deep.equal(["command"]);
    const kubernetes: RedeemerPolicy = { ...POLICY, executor: "kubernetes", allowedCommands: null, commandRequired: false };
    expect(checkSpecPolicy(spec({ command: [] }), kubernetes)).to.deep.equal([]);
  });

  it("refuses a retired or unknown class, and a spec larger than the redeemer reads", () => {
    expect(checkSpecPolicy(spec({}), POLICY, { className: "V100" })[0]).to.include({ field: "class", reason: "CLASS_UNAVAILABLE" });
    expect(checkSpecPolicy(spec({}), POLICY, { className: "TPU" })[0]!.message).to.contain("classes: A100-80GB, H100-80GB");
    expect(checkSpecPolicy(spec({ args: ["x".repeat(900)] }), { ...POLICY, maxSpecBytes: 512 })[0]).to.include({ field: "spec", reason: "SPEC_TOO_LARGE" });
  });

  it("tells credentials from configuration", () => {
    for (const [name, value] of [
      ["HF_TOKEN", "hf_abcdefghijklmnopqrstuvwxyz0123"],
      ["X", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"],
      ["OPENAI_API_KEY", "sk-proj-abcdefghijklmnopqrstuvwx"],
      ["AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"],
      ["DB_PASSWORD", "correct horse battery"],
      ["DATABASE_URL", "postgres://user:pa55word@db.internal/x"],
      ["KEY", "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"],
    ])
      expect(looksLikeCredential(name!, value!), `${name}=${value}`).to.equal(true);
    for (const [name, value] of [
      ["TOKENIZERS_PARALLELISM", "false"],
      ["HF_TOKEN_PATH", "/var/run/secrets/hf"],
      ["DEMO_SECONDS", "3"],
      ["MODEL", "meta-llama/Llama-3.1-8B"],
      ["AUTH_ENABLED", "true"],
      ["DATABASE_URL", "postgres://db.internal/x"],
    ])
      expect(looksLikeCredential(name!, value!), `${name}=${value}`).to.equal(false);
  });
});
