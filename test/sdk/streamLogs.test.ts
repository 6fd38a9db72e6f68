/**
 * sdk/logs/streamLogs.ts against a real HTTP server that sends its answer a few bytes at a
 * time: the logs, cut anywhere by the network, come out decoded exactly as the SDK's decoder does,
 * in groups; a node's error answer comes out as its message.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import { decodeComputeTokenLogs, REDEMPTION_EVENT_NAMES } from "../../sdk/events.js";
import { LogsRequestError, streamComputeTokenEvents } from "../../sdk/logs/streamLogs.js";
import { hexLog, LOG_ADDRESS, rejectedLog, requestedLog as requestedLogWith } from "../support/redemptionLogs.js";

const requestedLog = (id: bigint, block: bigint, logIndex: number) => requestedLogWith(id, block, logIndex, `{"name":"job-${id}","args":["}{[\\""]}`);

describe("redeemer: eth_getLogs read as a stream", () => {
  let server: Server;
  let url: string;
  let answer = "";
  /** Bytes per write: the answer arrives cut at every possible place across the tests. */
  let chunk = 7;

  before(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on("end", async () => {
        res.writeHead(200, { "content-type": "application/json" });
        const bytes = Buffer.from(answer);
        for (let i = 0; i < bytes.length; i += chunk) {
          res.write(bytes.subarray(i, i + chunk));
          await new Promise((r) => setImmediate(r));
        }
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  const read = async (groupSize: number) => {
    const groups = [];
    for await (const g of streamComputeTokenEvents({ rpcUrl: url, address: LOG_ADDRESS, names: REDEMPTION_EVENT_NAMES, fromBlock: 1n, toBlock: 9n, groupSize })) groups.push(g);
    return groups;
  };

  it("decodes every log as the SDK's decoder does, however the answer is cut, in groups of the size asked", async () => {
    const logs = [requestedLog(1n, 2n, 0), rejectedLog(1n, 2n, 1), requestedLog(2n, 3n, 0), requestedLog(3n, 3n, 4), rejectedLog(3n, 5n, 0)];
    answer = JSON.stringify({ jsonrpc: "2.0", id: 1, result: logs.map(hexLog) });
    const expected = decodeComputeTokenLogs(logs, REDEMPTION_EVENT_NAMES);
    for (chunk of [1, 7, 64, 100_000]) {
      const groups = await read(2);
      expect(
        groups.map((g) => g.length),
        `chunks of ${chunk}`,
      ).to.deep.equal([2, 2, 1]);
      expect(groups.flat(), `chunks of ${chunk}`).to.deep.equal(expected);
    }
    answer = JSON.stringify({ jsonrpc: "2.0", id: 1, result: [] });
    expect(await read(2)).to.deep.equal([]);
  });

  it("throws the node's error message (so a range too large can be split), with its data", async () => {
    chunk = 5;
    answer = JSON.stringify({ jsonrpc: "2.0", id: 1, error: { code: -32005, message: "query returned more than 10000 results", data: { ranges: [{ from: "0x1" }] } } });
    const err = await read(2).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(LogsRequestError);
    expect((err as LogsRequestError).message).to.equal("query returned more than 10000 results");
    expect((err as LogsRequestError).details).to.equal('{"ranges":[{"from":"0x1"}]}');
  });

  it("refuses an answer whose logs are not in chain order", async () => {
    answer = JSON.stringify({ jsonrpc: "2.0", id: 1, result: [requestedLog(2n, 3n, 0), requestedLog(1n, 2n, 0)].map(hexLog) });
    const err = await read(10).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(LogsRequestError);
    expect((err as Error).message).to.equal("eth_getLogs answered logs out of chain order");
  });
});
