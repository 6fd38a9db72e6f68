/** The one retry policy (sdk/retry.ts) and the one concurrency limiter (sdk/limiter.ts). */
import { expect } from "chai";
import { Limiter, mapLimit } from "../../sdk/limiter.js";
import { backoffMs, retry, sleep } from "../../sdk/retry.js";

describe("sdk retry and limiter", () => {
  it("doubles the back-off from the base up to the cap; half jitter waits between half and all of it", () => {
    const policy = { baseMs: 100, maxMs: 1_000 };
    expect([1, 2, 3, 4, 5, 60].map((n) => backoffMs(n, policy))).to.deep.equal([100, 200, 400, 800, 1_000, 1_000]);
    expect(backoffMs(0, policy)).to.equal(100);
    expect(backoffMs(3, { ...policy, jitter: "half" }, () => 0)).to.equal(200);
    const top = backoffMs(3, { ...policy, jitter: "half" }, () => 0.999999);
    expect(top > 399.99 && top < 400, `${top}`).to.equal(true);
  });

  it("retries a retryable failure until it succeeds, and gives up on one that is not", async () => {
    let calls = 0;
    const value = await retry(
      async (n) => {
        calls++;
        if (n < 3) throw new Error(`try ${n}`);
        return "ok";
      },
      { baseMs: 1, maxMs: 2, maxAttempts: 5 },
    );
    expect([value, calls]).to.deep.equal(["ok", 3]);
    calls = 0;
    const err = await retry(
      async () => {
        calls++;
        throw new Error("bad input");
      },
      { baseMs: 1, maxMs: 2, maxAttempts: 5, retryable: () => false, giveUp: (e, n, retryable) => new Error(`${(e as Error).message} after ${n} (retryable: ${retryable})`) },
    ).catch((e: Error) => e.message);
    expect([err, calls]).to.deep.equal(["bad input after 1 (retryable: false)", 1]);
    const exhausted = await retry(async () => Promise.reject(new Error("down")), { baseMs: 1, maxMs: 1, maxAttempts: 3, giveUp: (_e, n, r) => new Error(`${n} ${r}`) }).catch(
      (e: Error) => e.message,
    );
    expect(exhausted).to.equal("3 true");
  });

  it("stops waiting when its signal aborts, with the caller's error", async () => {
    const stop = new AbortController();
    const started = Date.now();
    setTimeout(() => stop.abort(), 20);
    const err = await retry(async () => Promise.reject(new Error("down")), {
      baseMs: 60_000,
      maxMs: 60_000,
      maxAttempts: 10,
      signal: stop.signal,
      aborted: () => new Error("closed"),
    }).catch((e: Error) => e.message);
    expect(err).to.equal("closed");
    expect(Date.now() - started).to.be.below(5_000);
    await sleep(60_000, stop.signal); // already aborted: returns at once
  });

  it("never runs more than its limit at once, and says when nothing waits for a slot", async () => {
    const limiter = new Limiter(3);
    let running = 0;
    let most = 0;
    const order: number[] = [];
    const task = (i: number) =>
      limiter.run(async () => {
        running++;
        most = Math.max(most, running);
        await sleep(i % 2 ? 5 : 1);
        order.push(i);
        running--;
        return i;
      });
    const all = Promise.all(Array.from({ length: 20 }, (_, i) => task(i)));
    expect(limiter.inFlight).to.equal(3);
    expect(limiter.queued).to.equal(17);
    await limiter.drained();
    expect(limiter.queued).to.equal(0);
    expect(await all).to.deep.equal(Array.from({ length: 20 }, (_, i) => i));
    expect(most).to.equal(3);
    expect(limiter.inFlight).to.equal(0);
    expect(() => new Limiter(0)).to.throw(RangeError);
  });

  it("maps with at most `limit` in flight, keeping the order", async () => {
    let running = 0;
    let most = 0;
    const out = await mapLimit([5, 1, 4, 2, 3], 2, async (x, i) => {
      running++;
      most = Math.max(most, running);
      await sleep(x);
      running--;
      return `${i}:${x}`;
    });
    expect(out).to.deep.equal(["0:5", "1:1", "2:4", "3:2", "4:3"]);
    expect(most).to.equal(2);
  });
});
