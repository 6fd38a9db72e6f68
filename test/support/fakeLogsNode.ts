/**
 * A fake JSON-RPC node over real HTTP for tests that read logs without a chain (the SDK's streaming
 * reader, the redeemer's history read): it answers eth_getLogs from a function of the range asked,
 * and can behave as real nodes do when it hurts — refuse a range of too many blocks, send its answer
 * a few bytes at a time, drop the connection half-way through an answer. It also answers
 * eth_blockNumber and eth_getBlockByNumber, enough for a viem client to find the head.
 * Listens on 127.0.0.1 on a free port; the test that starts it closes it.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Hex } from "viem";

/** One eth_getLogs request as the node received it. */
export interface LogsCall {
  from: number;
  to: number;
  topics: (Hex | Hex[] | null)[];
}

/** What eth_getLogs answers: the logs (hex, as a node sends them, see hexLog) or an error. */
export type LogsAnswer = unknown[] | { error: { code: number; message: string; data?: unknown } };

/** The error a node answers for a range of too many blocks (the text the SDK's range splitter knows). */
export const RANGE_TOO_LARGE = { code: -32005, message: "query returned more than 10000 results" };

export interface FakeLogsNodeOptions {
  /** The answer to an eth_getLogs request (not called for a range refused as too large). */
  getLogs: (call: LogsCall) => LogsAnswer;
  /** At most this many blocks an eth_getLogs answer; a longer range is refused with {@link RANGE_TOO_LARGE}. */
  maxBlocks?: number;
  /** eth_blockNumber's answer. */
  head?: number;
}

export interface FakeLogsNode {
  url: string;
  /** Every eth_getLogs request, in the order received (empty it with `calls.length = 0`). */
  readonly calls: LogsCall[];
  /** Bytes a write, each in its own turn of the event loop: the answer arrives cut there. Whole if unset. */
  chunk?: number;
  /** The first eth_getLogs answer `when` holds for is sent up to `at` (a fraction of its length), then the connection is dropped; once. */
  dropOnce?: { when: (call: LogsCall) => boolean; at: number };
  close(): Promise<void>;
}

export async function startFakeLogsNode(opts: FakeLogsNodeOptions): Promise<FakeLogsNode> {
  const server = createServer((req, res) => {
    const body: Buffer[] = [];
    req.on("data", (b: Buffer) => body.push(b));
    req.on("end", async () => {
      const { id, method, params } = JSON.parse(Buffer.concat(body).toString());
      res.writeHead(200, { "content-type": "application/json" });
      const send = (answer: object) => res.end(JSON.stringify({ jsonrpc: "2.0", id, ...answer }));
      if (method === "eth_blockNumber") return send({ result: `0x${(opts.head ?? 0).toString(16)}` });
      if (method === "eth_getBlockByNumber") return send({ result: { number: params[0], hash: `0x${"0a".repeat(32)}`, timestamp: "0x1", transactions: [] } });
      if (method !== "eth_getLogs") return send({ error: { code: -32601, message: `the method ${method} does not exist` } });
      const call: LogsCall = { from: Number(params[0].fromBlock), to: Number(params[0].toBlock), topics: params[0].topics ?? [] };
      node.calls.push(call);
      if (opts.maxBlocks !== undefined && call.to - call.from + 1 > opts.maxBlocks) return send({ error: RANGE_TOO_LARGE });
      const answer = opts.getLogs(call);
      let bytes = Buffer.from(JSON.stringify({ jsonrpc: "2.0", id, ...(Array.isArray(answer) ? { result: answer } : answer) }));
      const drop = node.dropOnce?.when(call) ? node.dropOnce : undefined;
      if (drop) {
        node.dropOnce = undefined;
        bytes = bytes.subarray(0, Math.floor(bytes.length * drop.at));
      }
      const chunk = node.chunk ?? Math.max(bytes.length, 1);
      for (let i = 0; i + chunk < bytes.length; i += chunk) {
        res.write(bytes.subarray(i, i + chunk));
        await new Promise((r) => setImmediate(r));
      }
      const last = bytes.subarray(Math.floor(Math.max(bytes.length - 1, 0) / chunk) * chunk);
      if (drop) res.write(last, () => res.destroy());
      else res.end(last);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const node: FakeLogsNode = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls: [],
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
  return node;
}
