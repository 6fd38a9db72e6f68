/**
 * A JSON-RPC proxy in front of anvil that fails a share of calls: some are answered 500 without
 * reaching the node, others reach the node and then lose their answer (the worst case for
 * `eth_sendRawTransaction`: the transaction is in, the sender does not know).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface FlakyRpc {
  url: string;
  stats: { calls: number; failedBefore: number; failedAfter: number };
  setFailureRate(rate: number): void;
  close(): Promise<void>;
}

export async function startFlakyRpc(upstream: string, options: { failureRate: number; seed?: number }): Promise<FlakyRpc> {
  let rate = options.failureRate;
  let s = options.seed ?? 7;
  const random = () => {
    s = (s * 1_103_515_245 + 12_345) % 2 ** 31;
    return s / 2 ** 31;
  };
  const stats = { calls: 0, failedBefore: 0, failedAfter: 0 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      stats.calls++;
      const body = Buffer.concat(chunks);
      const roll = random();
      if (roll < rate / 2) {
        stats.failedBefore++;
        res.writeHead(500).end("injected failure");
        return;
      }
      try {
        const answer = await fetch(upstream, { method: "POST", headers: { "content-type": "application/json" }, body });
        const text = await answer.text();
        if (roll < rate) {
          stats.failedAfter++;
          res.writeHead(502).end("injected failure after the call");
          return;
        }
        res.writeHead(answer.status, { "content-type": "application/json" }).end(text);
      } catch {
        res.writeHead(502).end("upstream unreachable");
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    setFailureRate(r) {
      rate = r;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
