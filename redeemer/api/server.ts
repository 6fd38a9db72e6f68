/**
 * The redeemer's HTTP API (express):
 *
 *   GET /healthz                         the process is up
 *   GET /readyz                          chain and executor answer, history read (503 otherwise)
 *   GET /v1/policy                       what every spec is checked against (sdk/policy.ts RedeemerPolicy)
 *   GET /v1/redemptions/:id              status, spec, job, usage, receipt, transaction hashes
 *   GET /v1/redemptions/:id/receipt      the receipt file, byte for byte (its keccak256 is on-chain)
 *   GET /v1/redemptions?holder=0x…       a holder's redemptions (also &status=, &limit=)
 *   GET /metrics                         Prometheus
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import express, { type NextFunction, type Request, type Response } from "express";
import type { Logger } from "pino";
import { isAddress } from "viem";
import type { RedeemerPolicy } from "../../sdk/policy.js";
import type { ReceiptStore } from "../settler/receiptStore.js";
import type { RedemptionBook } from "../state/redemptionBook.js";
import type { RedemptionRecord } from "../state/types.js";
import type { RedeemerMetrics } from "../engine/metrics.js";
import { type JobLogLocator, redemptionView } from "./redemptionView.js";

export interface ReadinessCheck {
  name: string;
  check: () => Promise<boolean>;
}

export interface ApiOptions {
  book: RedemptionBook;
  receipts: ReceiptStore;
  metrics: RedeemerMetrics;
  contract: `0x${string}`;
  readiness: ReadinessCheck[];
  log: Logger;
  /** The published policy (hardware classes read from the chain at each call). */
  policy: () => Promise<RedeemerPolicy>;
  /** Where a job's log is (shown in each redemption's `job.log`). */
  jobLog?: JobLogLocator;
  /** Redemptions no longer in memory, read from the chain on demand (see RedemptionBook). */
  archive?: {
    get(id: bigint): Promise<RedemptionRecord | undefined>;
    /** A holder's redemptions that are not in memory. */
    ofHolder(holder: `0x${string}`): Promise<RedemptionRecord[]>;
  };
}

const withTimeout = <T>(p: Promise<T>, ms: number, fallback: T): Promise<T> =>
  Promise.race([p.catch(() => fallback), new Promise<T>((r) => setTimeout(() => r(fallback), ms).unref())]);

export function createApi(o: ApiOptions): express.Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("json replacer", (_key: string, value: unknown) => (typeof value === "bigint" ? value.toString() : value));

  app.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });

  app.get("/readyz", async (_req, res) => {
    const results = await Promise.all(o.readiness.map(async (c) => [c.name, await withTimeout(c.check(), 3_000, false)] as const));
    const checks = Object.fromEntries(results);
    const ready = results.every(([, ok]) => ok);
    res.status(ready ? 200 : 503).json({ status: ready ? "ready" : "not ready", checks });
  });

  app.get("/metrics", async (_req, res, next) => {
    try {
      res.set("content-type", o.metrics.registry.contentType).send(await o.metrics.registry.metrics());
    } catch (err) {
      next(err);
    }
  });

  app.get("/v1/policy", async (_req, res, next) => {
    try {
      res.json(await o.policy());
    } catch (err) {
      next(err);
    }
  });

  const parseId = (raw: string | undefined): bigint | undefined => (raw && /^\d{1,78}$/.test(raw) ? BigInt(raw) : undefined);

  app.get("/v1/redemptions/:id", async (req, res, next) => {
    try {
      const id = parseId(req.params.id);
      if (id === undefined) return void res.status(400).json({ error: "the redemption id must be a decimal integer" });
      const record = o.book.get(id) ?? (await o.archive?.get(id));
      if (!record || (record.chain === "None" && !record.request)) return void res.status(404).json({ error: `redemption ${id} is not known to this redeemer` });
      const receipt = await o.receipts.read(id, o.contract);
      res.json(redemptionView(record, receipt, o.jobLog));
    } catch (err) {
      next(err);
    }
  });

  app.get("/v1/redemptions/:id/receipt", async (req, res, next) => {
    try {
      const id = parseId(req.params.id);
      if (id === undefined) return void res.status(400).json({ error: "the redemption id must be a decimal integer" });
      const receipt = await o.receipts.read(id, o.contract);
      if (!receipt) return void res.status(404).json({ error: `no receipt for redemption ${id}` });
      res.set("content-type", "application/json").set("x-receipt-hash", receipt.hash).send(Buffer.from(receipt.bytes));
    } catch (err) {
      next(err);
    }
  });

  app.get("/v1/redemptions", async (req, res, next) => {
    const holder = typeof req.query.holder === "string" ? req.query.holder : undefined;
    const status = typeof req.query.status === "string" ? req.query.status : undefined;
    const limitRaw = typeof req.query.limit === "string" ? Number(req.query.limit) : 100;
    if (holder !== undefined && !isAddress(holder, { strict: false })) return void res.status(400).json({ error: "holder must be a 0x-prefixed 20-byte address" });
    if (!Number.isInteger(limitRaw) || limitRaw < 1 || limitRaw > 1_000) return void res.status(400).json({ error: "limit must be an integer from 1 to 1000" });
    let records: RedemptionRecord[];
    try {
      records = holder
        ? [...o.book.ofHolder(holder), ...((await o.archive?.ofHolder(holder)) ?? [])].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
        : [...o.book.all()].filter((r) => r.request).sort((a, b) => (a.id < b.id ? -1 : 1));
    } catch (err) {
      return next(err);
    }
    if (status) records = records.filter((r) => r.chain.toLowerCase() === status.toLowerCase());
    const page = records.slice(-limitRaw);
    res.json({ redemptions: page.map((r) => redemptionView(r, undefined, o.jobLog)), total: records.length });
  });

  app.use((_req, res) => {
    res.status(404).json({ error: "not found" });
  });

  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    o.log.error({ err }, "API request failed");
    res.status(500).json({ error: "internal error" });
  });

  return app;
}

export interface ApiServer {
  port: number;
  close(): Promise<void>;
}

export function listen(app: express.Express, host: string, port: number): Promise<ApiServer> {
  return new Promise((resolve, reject) => {
    const server: Server = app.listen(port, host);
    server.once("error", reject);
    server.once("listening", () => {
      server.off("error", reject);
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeIdleConnections();
            setTimeout(() => server.closeAllConnections(), 2_000).unref();
          }),
      });
    });
  });
}
