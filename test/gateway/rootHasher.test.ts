/**
 * The settler hashes batches on a worker thread: the same Merkle root as sdk/credits/usageRecord.ts
 * computes, for batches sent together; and where the worker cannot run, the same root in-process.
 */
import { expect } from "chai";
import { RootHasher } from "../../gateway/settle/settler.js";
import { usageRoot } from "../../sdk/credits/usageRecord.js";

const batch = (n: number, tag: string) => Array.from({ length: n }, (_, i) => JSON.stringify({ requestId: `${tag}-${i}`, charge: String(i * 7) }));

describe("gateway settler: usage roots off the event loop", () => {
  it("gives the SDK's root for every batch, several in flight at once", async () => {
    const hasher = new RootHasher();
    try {
      const batches = [batch(1, "a"), batch(2, "b"), batch(7, "c"), batch(1000, "d")];
      const roots = await Promise.all(batches.map((b) => hasher.root(b)));
      expect(roots).to.deep.equal(batches.map((b) => usageRoot(b)));
      expect(hasher.threaded, "hashed on the worker thread").to.equal(true);
    } finally {
      await hasher.stop();
    }
  });

  it("gives the same root in-process when the worker cannot start, and after it is stopped", async () => {
    const hasher = new RootHasher(new URL("./no-such-worker.ts", import.meta.url));
    const b = batch(5, "e");
    expect(await hasher.root(b)).to.equal(usageRoot(b));
    expect(hasher.threaded).to.equal(false);
    expect(await hasher.root(batch(3, "f"))).to.equal(usageRoot(batch(3, "f")));
    await hasher.stop();
    expect(await hasher.root(b)).to.equal(usageRoot(b));
  });
});
