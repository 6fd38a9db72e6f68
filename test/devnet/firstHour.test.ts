/**
 * The first hour of a new user, from the README alone, on the devnet `npm start` runs: an employee
 * creates a wallet and uses it with no ETH; `ctk redeem` refuses before burning what the redeemer
 * would refuse; a spec names a secret instead of carrying it; `ctk status` explains every outcome;
 * every signing command says which address it signs as. The commands run as a user types them
 * (`npx ctk …` with CTK_RPC / CTK_DEPLOYMENT pointing at this devnet, HOME a fresh one).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { privateKeyToAccount } from "viem/accounts";
import { LOCAL_ROLE_KEYS, localEmployeeKey } from "../../devkit/localAccounts.js";
import { rpcAt } from "../../devkit/localChain.js";
import { freePort } from "../../devkit/startAnvil.js";
import { describeJob } from "../../scripts/wallet/statusCommand.js";
import { type DevnetProcess, runCtk, startDevnetProcess } from "../support/cli.js";

const PASSWORD = "first hour password";
const HR = privateKeyToAccount(LOCAL_ROLE_KEYS.HR).address;
const COLLEAGUE = privateKeyToAccount(localEmployeeKey(1)).address;
const DIGEST = "sha256:e1fb58aa2ed4d09f3a611a0000693ea03d70c2b4be84d1ad3584cde593db27db";
const HF_TOKEN = `hf_${"Ab3".repeat(11)}`;

describe("the first hour of a new user on the devnet", function () {
  this.timeout(300_000);
  let dir: string;
  let home: string;
  let devnet: DevnetProcess | undefined;
  let env: Record<string, string>;
  let keystore: string;
  let me: `0x${string}`;

  const ctk = (args: string[], extra: Record<string, string | undefined> = {}) => runCtk(args, { env: { ...env, ...extra }, npx: true });
  const ethOf = async (a: string) => BigInt((await rpcAt(env.CTK_RPC!, "eth_getBalance", [a, "latest"])) as string);
  const writeSpec = (name: string, over: Record<string, unknown>) => {
    const file = path.join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify({ name, image: `registry.example.com/ctk/${name}@${DIGEST}`, command: ["node"], gpus: 1, hours: 0.01, ...over }));
    return file;
  };
  const redeemableH100 = async () => {
    const run = await ctk(["--json", "balance", "--keystore", keystore]);
    expect(run.code, run.stderr).to.equal(0);
    return (JSON.parse(run.stdout) as { classes: { class: string; redeemableHours: unknown }[] }).classes.find((c) => c.class === "H100-80GB")?.redeemableHours;
  };
  const redeemedId = (stdout: string) => /redemption (\d+) requested/.exec(stdout)![1]!;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "ctk-firsthour-"));
    home = mkdtempSync(path.join(tmpdir(), "ctk-firsthour-home-"));
    // The machine's named secrets for jobs (README: "Secrets never go on-chain").
    writeFileSync(path.join(dir, "secrets.json"), JSON.stringify({ "hf-token": HF_TOKEN }));
    const port = await freePort();
    devnet = await startDevnetProcess(["--port", String(port), "--dir", dir, "--redeemer-port", "0", "--no-demo"], { timeoutMs: 120_000 });
    env = { CTK_RPC: `http://127.0.0.1:${port}`, CTK_DEPLOYMENT: path.join(dir, "deployment.json"), HOME: home, CTK_PASSWORD: PASSWORD };
    keystore = path.join(home, ".ctk", "keystore");
  });
  after(async () => {
    await devnet?.stop();
    for (const d of [dir, home]) if (d) rmSync(d, { recursive: true, force: true });
  });

  it("a wallet from `ctk wallet create` gets hours from HR, transfers them and never holds ETH (a zero-gas chain)", async () => {
    const created = await ctk(["--json", "wallet", "create", "--keystore", keystore]);
    expect(created.code, created.stderr).to.equal(0);
    me = (JSON.parse(created.stdout) as { address: `0x${string}` }).address;
    expect(await ethOf(me)).to.equal(0n);

    const employees = path.join(dir, "employees.csv");
    writeFileSync(employees, `employee_id,wallet\nE100,${me}\nE101,${COLLEAGUE}\n`);
    const grants = path.join(dir, "grants.csv");
    writeFileSync(grants, `employee_id,wallet,class,gpu_hours,expires_at,transferable\nE100,${me},H100-80GB,2,2030-12-31,true\n`);
    const asHr = { CTK_PRIVATE_KEY: LOCAL_ROLE_KEYS.HR };
    const onboard = await ctk(["hr", "onboard", "--csv", employees], asHr);
    expect(onboard.code, onboard.stderr).to.equal(0);
    expect(onboard.stderr).to.include(`signing as ${HR} (the key in CTK_PRIVATE_KEY)`);
    const grant = await ctk(["hr", "grant", "--csv", grants], asHr);
    expect(grant.code, grant.stderr).to.equal(0);

    const sent = await ctk(["transfer", "--to", COLLEAGUE, "--class", "H100-80GB", "--hours", "0.5", "--keystore", keystore]);
    expect(sent.code, sent.stderr).to.equal(0);
    expect(sent.stderr).to.match(new RegExp(`^signing as ${me} \\(keystore ${keystore}/\\S+\\)$`, "m"));
    expect(await ethOf(me), "the employee's ETH").to.equal(0n);
  });

  it("`ctk balance --keystore` shows the keystore's wallet, with no password asked", async () => {
    const run = await ctk(["balance", "--keystore", keystore], { CTK_PASSWORD: undefined });
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout.split("\n")[0]).to.match(new RegExp(`^${me} at `));
    expect(run.stdout).to.match(/H100-80GB\s+1\.5\b/);
  });

  it("an employee command with HR's CTK_PRIVATE_KEY in the environment signs as the employee, or refuses; never silently as HR", async () => {
    const withKeystore = await ctk(["transfer", "--to", COLLEAGUE, "--class", "H100-80GB", "--hours", "0.25"], { CTK_PRIVATE_KEY: LOCAL_ROLE_KEYS.HR });
    expect(withKeystore.code, withKeystore.stderr).to.equal(0);
    expect(withKeystore.stderr).to.include(`signing as ${me} (keystore `);
    expect(withKeystore.stderr).not.to.include(HR);

    const emptyHome = mkdtempSync(path.join(tmpdir(), "ctk-firsthour-empty-"));
    try {
      const noKeystore = await ctk(["redeem", "--class", "H100-80GB", "--spec", "config/demo-job.json", "--yes"], { CTK_PRIVATE_KEY: LOCAL_ROLE_KEYS.HR, HOME: emptyHome });
      expect(noKeystore.code).to.equal(1);
      expect(noKeystore.stderr).to.equal(
        "error: no keystore in ~/.ctk/keystore; CTK_PRIVATE_KEY is set (HR's key in the devnet's instructions), but employee commands do not sign with it unless told: pass --keystore <dir>, or --key-env CTK_PRIVATE_KEY\n",
      );
    } finally {
      rmSync(emptyHome, { recursive: true, force: true });
    }
  });

  it("`ctk redeem` checks the spec against the redeemer's published policy and burns nothing it would refuse, naming every field", async () => {
    const before = await redeemableH100();
    const spec = writeSpec("bad", {
      image: "registry.example.com/ctk/train:latest",
      command: ["bash", "-c", "python train.py"],
      gpus: 16,
      env: { HF_TOKEN },
    });
    const run = await ctk(["redeem", "--class", "H100-80GB", "--spec", spec, "--yes", "--keystore", keystore]);
    expect(run.code).to.equal(1);
    expect(run.stderr).to.include("error: the redeemer would refuse this spec (4 problems); nothing was burned\n");
    expect(run.stderr).to.include(
      `  image: the image must be pinned by digest (registry.example.com/ctk/train@sha256:<64 hex digits>); it names the tag "latest", which can move\n`,
    );
    expect(run.stderr).to.include(`  command: command "bash" is not allowed by this redeemer; allowed: node, python3, sleep, sh\n`);
    expect(run.stderr).to.include(`  env.HF_TOKEN: the value of HF_TOKEN looks like a credential, and a job spec is public on-chain`);
    expect(run.stderr).to.include(`  gpus: the spec asks for 16 GPUs; H100-80GB allows at most 8 per job\n`);
    expect(run.stderr).not.to.include(HF_TOKEN);
    expect(await redeemableH100()).to.equal(before);

    const json = await ctk(["--json", "redeem", "--class", "H100-80GB", "--spec", spec, "--yes", "--keystore", keystore]);
    const doc = JSON.parse(json.stdout) as { problems: { field: string; reason: string }[] };
    expect(doc.problems.map((p) => p.field)).to.deep.equal(["image", "command", "env.HF_TOKEN", "gpus"]);
  });

  it("a spec names a secret the machine holds: the job gets its value, the chain and the API only the name", async () => {
    const spec = writeSpec("with-secret", {
      args: ["-e", "console.log('HF_TOKEN has ' + process.env.HF_TOKEN.length + ' characters')"],
      secrets: { HF_TOKEN: "hf-token" },
    });
    const run = await ctk(["redeem", "--class", "H100-80GB", "--spec", spec, "--yes", "--keystore", keystore]);
    expect(run.code, run.stderr).to.equal(0);
    const id = redeemedId(run.stdout);
    const status = await ctk(["status", id, "--follow", "--interval", "0.5"]);
    expect(status.code, status.stderr).to.equal(0);
    expect(status.stdout).to.match(new RegExp(`^  job ctk-redemption-${id} succeeded \\(exit code 0\\)$`, "m"));
    const log = /^ {2}job log: (\S+)$/m.exec(status.stdout)?.[1];
    expect(log, status.stdout).to.equal(path.join(dir, "redeemer", "executor", "logs", `ctk-redemption-${id}.log`));
    expect(readFileSync(log!, "utf8")).to.include(`HF_TOKEN has ${HF_TOKEN.length} characters`);
    // What every participant can read: the event's spec bytes, and the API's copy.
    const receipt = (await rpcAt(env.CTK_RPC!, "eth_getTransactionReceipt", [/tx (0x[0-9a-f]{64})/.exec(run.stdout)![1]])) as { logs: { data: string }[] };
    expect(JSON.stringify(receipt)).not.to.include(Buffer.from(HF_TOKEN).toString("hex"));
    expect(JSON.stringify(receipt)).to.include(Buffer.from('"secrets":{"HF_TOKEN":"hf-token"}').toString("hex"));
  });

  it("`ctk status` shows a job that exited 3 as failed with exit code 3 and where its log is; --json carries the same", async () => {
    const spec = writeSpec("exits-three", { args: ["-e", "console.log('about to fail'); process.exit(3)"] });
    const run = await ctk(["redeem", "--class", "H100-80GB", "--spec", spec, "--yes", "--keystore", keystore]);
    expect(run.code, run.stderr).to.equal(0);
    const id = redeemedId(run.stdout);
    const status = await ctk(["status", id, "--follow", "--interval", "0.5"]);
    expect(status.code, status.stderr).to.equal(0);
    expect(status.stdout).to.match(/^redemption \d+: settled/m);
    expect(status.stdout).to.include(`  job ctk-redemption-${id} failed with exit code 3: charged for the time it ran\n`);
    const json = await ctk(["--json", "status", id]);
    const doc = JSON.parse(json.stdout) as { job: { phase: string; exitCode: number; log: string; interrupted: boolean } };
    expect(doc.job).to.include({ phase: "failed", exitCode: 3, interrupted: false });
    expect(readFileSync(doc.job.log, "utf8")).to.include("about to fail");
  });

  it("`ctk status` gives the redeemer's own words for a rejection, not only its code", async () => {
    const spec = writeSpec("wants-bash", { command: ["bash"], args: ["-c", "echo hi"] });
    const run = await ctk(["redeem", "--class", "H100-80GB", "--spec", spec, "--yes", "--keystore", keystore, "--no-policy-check"]);
    expect(run.code, run.stderr).to.equal(0);
    const id = redeemedId(run.stdout);
    const status = await ctk(["status", id, "--follow", "--interval", "0.5"]);
    expect(status.code, status.stderr).to.equal(0);
    expect(status.stdout).to.match(/rejected .*: COMMAND_NOT_ALLOWED: the executor does not run this command; refunded 0\.01 GPU-hours/);
    expect(status.stdout).to.include('  why: command "bash" is not allowed by this redeemer; allowed: node, python3, sleep, sh\n');
    const json = JSON.parse((await ctk(["--json", "status", id])).stdout) as { rejectionDetail: string };
    expect(json.rejectionDetail).to.equal('command "bash" is not allowed by this redeemer; allowed: node, python3, sleep, sh');
  });

  it("says a job was interrupted, in words", () => {
    const job = { name: "ctk-redemption-9", phase: "failed", exitCode: null, reason: "Interrupted", interrupted: true, log: null, gpuSeconds: 10 };
    expect(describeJob(job)).to.equal("was interrupted: its process was stopped while it ran (the redeemer or its machine stopped); charged for the time it ran");
  });
});
