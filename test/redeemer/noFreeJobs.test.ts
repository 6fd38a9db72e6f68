/**
 * Issue 11, item 5 — no free jobs: the redeemer claims a redemption on-chain (markRunning) before it
 * creates the job, so the holder cannot reclaim a redemption whose job runs, and a reclaimed or rejected
 * one is never launched. Real anvil, in-memory executor that records the chain status at each launch.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import type { LaunchRequest, LaunchResult } from "../../redeemer/executor/types.js";
import { type Redeemer, startRedeemer } from "../../redeemer/index.js";
import { type ChainFixture, nodeJob, startChainFixture, redeemerConfigFor } from "./support/chainFixture.js";
import { MemoryExecutor } from "./support/memoryExecutor.js";
import { waitFor } from "./support/waitFor.js";

const RUNNING = 2; // ComputeToken.RedemptionStatus.Running

/** Records, for every launch, the redemption's status on chain at that moment. */
class ClaimCheckingExecutor extends MemoryExecutor {
  readonly statusAtLaunch = new Map<bigint, number>();
  constructor(private readonly f: ChainFixture) {
    super();
  }
  override async launch(req: LaunchRequest): Promise<LaunchResult> {
    this.statusAtLaunch.set(req.redemptionId, (await this.f.redemption(req.redemptionId)).status);
    return super.launch(req);
  }
}

describe("redeemer: no free jobs (issue 11 · 5)", function () {
  this.timeout(120_000);
  let f: ChainFixture;
  let dir: string;
  let redeemer: Redeemer;
  let executor: ClaimCheckingExecutor;

  before(async () => {
    f = await startChainFixture();
    dir = mkdtempSync(join(tmpdir(), "ctk-claim-"));
    executor = new ClaimCheckingExecutor(f);
    const config = redeemerConfigFor(f, dir, {
      retry: { baseMs: 20, maxMs: 200 },
    });
    redeemer = await startRedeemer(config, { executor });
    await redeemer.ready;
  });
  after(async () => {
    await redeemer?.stop();
    await f?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("marks a redemption running on-chain before it creates its job", async () => {
    const ids = [await f.redeem(0, nodeJob("1", { name: "claimed-1" })), await f.redeem(1, nodeJob("1", { name: "claimed-2" }))];
    await waitFor("both launched", async () => ids.every((id) => executor.statusAtLaunch.has(id)));
    for (const id of ids) expect(executor.statusAtLaunch.get(id), `redemption ${id} at launch`).to.equal(RUNNING);
  });
});
