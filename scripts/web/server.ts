/**
 * `ctk web serve`: the web app (employee wallet, HR desk, auditor dashboard) and what it needs from
 * this machine, on one origin:
 *
 *   GET  /, /app.js, /app.css, /icon.svg   the app (built with esbuild at start-up)
 *   GET  /config.json                      chain id, the deployment, which services are present
 *   POST /rpc                              read-only JSON-RPC, forwarded to --rpc (writes go through the user's wallet)
 *   GET  /redeemer/*                       the redeemer's API (--redeemer-api), read-only
 *   GET  /gateway/*, POST /gateway/*       the metering gateway (--gateway)
 *   GET  /api/audit/verify                 `audit verify` as JSON (bytecode and receipts checked here, where they are)
 *   GET  /api/audit/report?format=…        `audit report` as json, csv or html
 *   GET  /api/audit/statement?wallet=…     `audit statement` as csv, json or text
 *
 * The audit runs here rather than in the browser: it checks the deployed bytecode against this
 * checkout's compiled artifacts and the redeemer's receipt files, which a browser cannot read, and
 * it keeps the replay out of the page's first load.
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import express, { type NextFunction, type Request, type Response } from "express";
import { createChainClient, createCtkClient, isLoopback } from "../../sdk/client.js";
import type { Deployment } from "../../sdk/deployment.js";
import type { RpcRequest } from "../../sdk/logs/fetchLogRanges.js";
import { verifyDeployment } from "../../sdk/audit/verify.js";
import { isParsedWallet, parseWallet } from "../../sdk/holders.js";
import { toJson } from "../audit/format.js";
import { buildReport } from "../audit/reportCommand.js";
import { reportCsv, reportHtml, reportJson } from "../audit/renderReport.js";
import { buildStatement, renderStatement, type StatementFormat } from "../audit/statementCommand.js";
import { buildWebApp, type WebBundle } from "./build.js";
import { auditCredits, type CreditAudit } from "../../sdk/credits/audit.js";
import { creditCsv, creditHtml, creditReportOf } from "../audit/creditReport.js";

export interface WebServerOptions {
  rpcUrl: string;
  deployment: Deployment;
  /** The redeemer's HTTP API base URL (e.g. http://127.0.0.1:8787). */
  redeemerApi?: string;
  /** The metering gateway's base URL. */
  gateway?: string;
  /** Receipt files or directories `audit verify` checks. */
  receipts?: string[];
  artifactsDir?: string;
  host?: string;
  /** 0: any free port. */
  port?: number;
}

export interface WebServer {
  url: string;
  port: number;
  bundle: WebBundle;
  close(): Promise<void>;
}

/** JSON-RPC methods the browser may send through /rpc: reads only. */
const READ_METHODS = new Set([
  "eth_chainId",
  "net_version",
  "eth_blockNumber",
  "eth_call",
  "eth_estimateGas",
  "eth_getBalance",
  "eth_getBlockByNumber",
  "eth_getBlockByHash",
  "eth_getCode",
  "eth_getLogs",
  "eth_getStorageAt",
  "eth_getTransactionByHash",
  "eth_getTransactionCount",
  "eth_getTransactionReceipt",
  "eth_gasPrice",
  "eth_maxPriorityFeePerGas",
  "eth_feeHistory",
]);

interface RpcCall {
  jsonrpc?: string;
  id?: unknown;
  method?: unknown;
}

const bigintJson = (value: unknown) => toJson(value, 0);

export async function startWebServer(o: WebServerOptions): Promise<WebServer> {
  const bundle = await buildWebApp();
  const { chain } = createCtkClient({ rpcUrl: o.rpcUrl, deployment: o.deployment });
  const publicClient = createChainClient(o.rpcUrl, "audit", { chain, pollingInterval: isLoopback(o.rpcUrl) ? 100 : 1000 });
  const logClient = createChainClient(o.rpcUrl, "logs", { chain });
  const audit = { publicClient, logRequest: logClient.request.bind(logClient) as unknown as RpcRequest, deployment: o.deployment };

  const app = express();
  app.disable("x-powered-by");
  app.use((_req, res, next) => {
    // Nothing but this origin: no CDN, no remote font, no third-party connection.
    res.set("content-security-policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'");
    res.set("x-content-type-options", "nosniff");
    res.set("referrer-policy", "no-referrer");
    next();
  });

  const sendAsset = (res: Response, p: string) => {
    const a = bundle.assets.get(p)!;
    res.set("content-type", a.contentType).set("cache-control", "no-cache").send(Buffer.from(a.bytes));
  };
  app.get("/", (_req, res) => sendAsset(res, "/index.html"));
  for (const p of bundle.assets.keys()) app.get(p, (_req, res) => sendAsset(res, p));

  app.get("/config.json", (_req, res) => {
    res.type("application/json").send(
      bigintJson({
        chainId: o.deployment.chainId,
        rpcUrl: o.rpcUrl,
        deployment: o.deployment,
        redeemer: Boolean(o.redeemerApi),
        gateway: Boolean(o.gateway),
      }),
    );
  });

  app.post("/rpc", express.json({ limit: "1mb" }), async (req: Request, res: Response, next: NextFunction) => {
    try {
      const calls: RpcCall[] = Array.isArray(req.body) ? req.body : [req.body];
      const refused = calls.find((c) => typeof c?.method !== "string" || !READ_METHODS.has(c.method));
      if (refused) {
        const error = {
          jsonrpc: "2.0",
          id: refused?.id ?? null,
          error: { code: -32601, message: `${String(refused?.method)} is not served here: send transactions through your wallet` },
        };
        return void res.status(200).json(Array.isArray(req.body) ? calls.map((c) => ({ ...error, id: c?.id ?? null })) : error);
      }
      const upstream = await fetch(o.rpcUrl, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(req.body) });
      res
        .status(upstream.status)
        .type("application/json")
        .send(Buffer.from(await upstream.arrayBuffer()));
    } catch (e) {
      next(e);
    }
  });

  const proxy = (prefix: string, base: string | undefined, methods: string[]) => {
    app.use(prefix, express.raw({ type: "*/*", limit: "1mb" }), async (req: Request, res: Response) => {
      if (!base) return void res.status(404).json({ error: `no ${prefix.slice(1)} configured (ctk web serve ${prefix === "/redeemer" ? "--redeemer-api" : "--gateway"} <url>)` });
      if (!methods.includes(req.method)) return void res.status(405).json({ error: `${req.method} is not forwarded` });
      try {
        const headers: Record<string, string> = {};
        for (const h of ["content-type", "authorization", "accept"]) {
          const v = req.headers[h];
          if (typeof v === "string") headers[h] = v;
        }
        const upstream = await fetch(new URL(req.url.replace(/^\//, ""), base.endsWith("/") ? base : `${base}/`), {
          method: req.method,
          headers,
          ...(req.method !== "GET" && Buffer.isBuffer(req.body) && { body: new Uint8Array(req.body) }),
        });
        res.status(upstream.status);
        const type = upstream.headers.get("content-type");
        if (type) res.type(type);
        res.send(Buffer.from(await upstream.arrayBuffer()));
      } catch (e) {
        res.status(502).json({ error: `${prefix.slice(1)} unreachable: ${(e as Error).message}` });
      }
    });
  };
  proxy("/redeemer", o.redeemerApi, ["GET"]);
  proxy("/gateway", o.gateway, ["GET", "POST", "DELETE"]);

  // The credit half of the audit, as `audit verify` and `audit report` run it (when there is an InferenceCredit).
  const creditAudit = (toBlock: bigint, compare: boolean): Promise<CreditAudit | undefined> =>
    o.deployment.inferenceCredit
      ? auditCredits({
          client: publicClient,
          inferenceCredit: o.deployment.inferenceCredit,
          chainId: o.deployment.chainId,
          fromBlock: BigInt(o.deployment.deployBlock),
          toBlock,
          compare,
        })
      : Promise.resolve(undefined);

  app.get("/api/audit/verify", async (_req, res, next) => {
    try {
      const started = performance.now();
      const result = await verifyDeployment({ client: publicClient, logRequest: audit.logRequest, deployment: o.deployment, receipts: o.receipts, artifactsDir: o.artifactsDir });
      const credits = await creditAudit(result.summary.toBlock, true);
      const creditFindings = (credits?.findings ?? []).map((f) => ({ ...f, code: `credits/${f.code}` }));
      const findings = [...result.findings, ...creditFindings];
      res.type("application/json").send(bigintJson({ ...result, ok: findings.length === 0, findings, seconds: (performance.now() - started) / 1000 }));
    } catch (e) {
      next(e);
    }
  });

  app.get("/api/audit/report", async (req, res, next) => {
    const format = String(req.query.format ?? "json");
    if (!["json", "csv", "html"].includes(format)) return void res.status(400).json({ error: "format must be json, csv or html" });
    try {
      const report = await buildReport(publicClient, o.deployment, { logRequest: audit.logRequest });
      const name = `ctk-audit-report-${report.toBlock}.${format}`;
      const credits = await creditAudit(report.toBlock, false);
      const creditReport = credits && creditReportOf(credits, o.deployment.inferenceCredit!);
      if (req.query.download) res.attachment(name);
      if (format === "json") res.type("application/json").send(creditReport ? `${toJson({ ...JSON.parse(reportJson(report)), credits: creditReport })}\n` : reportJson(report));
      else if (format === "csv") res.type("text/csv").send(creditReport ? `${reportCsv(report).trimEnd()}\n${creditCsv(creditReport)}\n` : reportCsv(report));
      else res.type("text/html").send(creditReport ? reportHtml(report).replace("</body>", `${creditHtml(creditReport)}\n</body>`) : reportHtml(report));
    } catch (e) {
      next(e);
    }
  });

  app.get("/api/audit/statement", async (req, res, next) => {
    const wallet = parseWallet(String(req.query.wallet ?? ""));
    if (!isParsedWallet(wallet)) return void res.status(400).json({ error: wallet });
    const format = String(req.query.format ?? "json") as StatementFormat;
    if (!["json", "csv", "text"].includes(format)) return void res.status(400).json({ error: "format must be json, csv or text" });
    try {
      const text = renderStatement(await buildStatement(audit, wallet), format);
      if (req.query.download) res.attachment(`ctk-statement-${wallet}.${format === "text" ? "txt" : format}`);
      res.type(format === "json" ? "application/json" : format === "csv" ? "text/csv" : "text/plain").send(text);
    } catch (e) {
      next(e);
    }
  });

  app.use((_req, res) => {
    res.status(404).json({ error: "not found" });
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    res.status(500).json({ error: (err as Error).message?.split("\n")[0] ?? "internal error" });
  });

  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(o.port ?? 0, o.host ?? "127.0.0.1");
    s.once("listening", () => resolve(s));
    s.once("error", reject);
  });
  const { port } = server.address() as AddressInfo;
  const host = o.host ?? "127.0.0.1";
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}/`,
    port,
    bundle,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}
