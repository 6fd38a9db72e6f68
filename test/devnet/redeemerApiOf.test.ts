/**
 * Which redeemer the CLI asks (`ctk redeem`'s policy check, `ctk status`'s job details): the one
 * given, else the one the devnet noted beside its deployment file — or that it runs none, or that
 * the devnet which noted one is gone — and only with no note the default port.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { readProcStat } from "../../redeemer/executor/local/processControl.js";
import { redeemerApiOf } from "../../scripts/cli/globals.js";
import { DEFAULT_REDEEMER_API } from "../../sdk/policy.js";

describe("the redeemer's API the CLI asks", () => {
  let dir: string;
  let deployment: string;
  const saved = process.env.CTK_REDEEMER_API;
  const note = (v: unknown) => writeFileSync(path.join(dir, "redeemer-api.json"), `${JSON.stringify(v)}\n`);
  const of = (explicit?: string) => redeemerApiOf({ rpc: "http://127.0.0.1:1", deployment, json: false }, explicit);

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), "ctk-redeemer-api-"));
    deployment = path.join(dir, "deployment.json");
    delete process.env.CTK_REDEEMER_API;
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
    if (saved === undefined) delete process.env.CTK_REDEEMER_API;
    else process.env.CTK_REDEEMER_API = saved;
  });

  const self = { pid: process.pid, pidStart: readProcStat(process.pid)?.startTime, host: hostname() };

  it("takes the devnet's note: its redeemer's URL, or that it started none", () => {
    expect(of()).to.deep.equal({ url: DEFAULT_REDEEMER_API });
    note({ url: "http://127.0.0.1:9999", ...self });
    expect(of()).to.deep.equal({ url: "http://127.0.0.1:9999" });
    note({ url: null, note: "not started (--no-redeemer)", ...self });
    expect(of()).to.deep.equal({ none: `no redeemer runs beside the devnet of ${deployment} (its note: "not started (--no-redeemer)")` });
  });

  it("takes a note left by a devnet that was killed as no redeemer, not as its URL, whoever has its process id since", () => {
    const gone = spawnSync(process.execPath, ["-e", ""]).pid;
    note({ url: "http://127.0.0.1:8787", pid: gone, host: hostname() });
    expect(of()).to.deep.equal({ none: `no redeemer runs beside the devnet of ${deployment} (the devnet that noted one, process ${gone}, has stopped)` });
    // Its id taken by another process since (here this one, which started at another time).
    note({ url: "http://127.0.0.1:8787", ...self, pidStart: "1" });
    expect(of()).to.deep.equal({ none: `no redeemer runs beside the devnet of ${deployment} (the devnet that noted one, process ${process.pid}, has stopped)` });
    // Noted on another host (a container): its processes are not this one's to see.
    note({ url: "http://127.0.0.1:8787", pid: gone, host: "elsewhere" });
    expect(of()).to.deep.equal({ url: "http://127.0.0.1:8787" });
  });

  it("takes --redeemer-api, then CTK_REDEEMER_API, over the note", () => {
    note({ url: null, note: "not started (--no-redeemer)", ...self });
    process.env.CTK_REDEEMER_API = "http://127.0.0.1:7001";
    expect(of()).to.deep.equal({ url: "http://127.0.0.1:7001" });
    expect(of("http://127.0.0.1:7002")).to.deep.equal({ url: "http://127.0.0.1:7002" });
  });
});
