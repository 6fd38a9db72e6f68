/**
 * Bad input end to end: every case of the bad-spec corpus (test/fixtures/badSpecs.ts) is redeemed
 * on a real anvil; the redeemer rejects each on-chain with its exact reason code and the holder is
 * refunded in full. Cases the contract itself refuses at redeem time (too many GPUs for the class,
 * a spec over the size limit) never reach the redeemer; that is checked too.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { priorityIndex } from "../../sdk/jobSpec.js";
import { REJECT_REASONS } from "../../sdk/reasons.js";
import { type Redeemer, startRedeemer } from "../../redeemer/index.js";
import { BAD_SPECS, FIXTURE_CLASS, FIXTURE_POLICY, onChainOf, specBytesOf } from "../fixtures/badSpecs.js";
import { CLASS, type ChainFixture, lifecycleOf, startChainFixture, redeemerConfigFor } from "./support/chainFixture.js";
import { MemoryExecutor } from "./support/memoryExecutor.js";
import { waitFor } from "./support/waitFor.js";

describe("redeemer: the bad-spec corpus on-chain", function () {
  this.timeout(300_000);
  let f: ChainFixture;
  let dir: string;
  let redeemer: Redeemer;
  let executor: MemoryExecutor;

  before(async () => {
    expect(FIXTURE_CLASS.maxGpus).to.equal(CLASS.maxGpus);
    f = await startChainFixture({ holders: 1, grantPerHolder: 10n ** 12n });
    dir = mkdtempSync(join(tmpdir(), "ctk-badspecs-"));
    executor = new MemoryExecutor();
    redeemer = await startRedeemer(
      redeemerConfigFor(f, dir, {
        logLevel: "silent",
        policy: { ...FIXTURE_POLICY, allowedRegistries: [...FIXTURE_POLICY.allowedRegistries] },
      }),
      { executor },
    );
    await redeemer.ready;
  });
  after(async () => {
    await redeemer?.stop();
    await f?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`rejects each of the ${BAD_SPECS.length} bad specs with its reason and refunds it in full`, async () => {
    const before = await f.balance(0);
    const sent: { name: string; id: bigint; code: number }[] = [];
    const refusedByContract: string[] = [];
    for (const c of BAD_SPECS) {
      const shape = onChainOf(c);
      try {
        const id = await f.redeem(0, { bytes: specBytesOf(c), gpus: shape.gpus, seconds: shape.seconds, priority: priorityIndex(shape.priority) });
        sent.push({ name: c.name, id, code: REJECT_REASONS[c.expectedReason] });
      } catch {
        refusedByContract.push(c.name);
      }
    }
    // Only shapes the contract checks itself may be refused before the redeemer sees them.
    for (const name of refusedByContract) {
      const c = BAD_SPECS.find((x) => x.name === name)!;
      expect(["SPEC_TOO_LARGE", "TOO_MANY_GPUS"], `${name} refused by the contract`).to.include(c.expectedReason);
    }
    expect(sent.length).to.be.greaterThan(BAD_SPECS.length / 2);

    await waitFor(
      "every bad spec rejected",
      async () => {
        const { rejected } = await lifecycleOf(f);
        return sent.every((s) => rejected.has(s.id));
      },
      120_000,
      200,
    );
    const { rejected, settled, running } = await lifecycleOf(f);
    for (const s of sent) {
      expect(rejected.get(s.id), s.name).to.deep.equal([s.code]);
      expect(settled.has(s.id) || running.has(s.id), s.name).to.equal(false);
    }
    expect(executor.launches, "nothing launched").to.deep.equal([]);
    expect(await f.balance(0)).to.equal(before);
  });
});
