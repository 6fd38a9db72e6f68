/**
 * `ctk web serve`: the web app for employees, HR and auditors, against any deployment
 * (`--rpc`, `--deployment`), with the redeemer's API and the gateway when given. `ctk web build`
 * writes the bundle out and prints its size.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Command } from "commander";
import { readDeployment } from "../../sdk/deployment.js";
import { globalsOf } from "../cli/globals.js";
import { UserError, note, output } from "../cli/output.js";
import { buildWebApp } from "./build.js";
import { startWebServer } from "./server.js";

const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;

export function webCommand(): Command {
  const web = new Command("web").description("the web app: employees' wallet, HR's grant desk, the auditor's dashboard");
  web
    .command("serve")
    .description("serve the web app on this machine (read-only RPC proxy, redeemer API, audit endpoints) until Ctrl-C")
    .option("--port <n>", "port to listen on (0: any free port)", "8080")
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("--redeemer-api <url>", "the redeemer's HTTP API (live job status, policy)")
    .option("--gateway <url>", "the metering gateway (API keys, usage)")
    .option("--receipts <paths...>", "the redeemer's receipt files or directories, for the audit")
    .action(async function (this: Command, opts: { port: string; host: string; redeemerApi?: string; gateway?: string; receipts?: string[] }) {
      const globals = globalsOf(this);
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UserError("--port must be a port number (0..65535)");
      const deployment = readDeployment(globals.deployment);
      let server;
      try {
        server = await startWebServer({ rpcUrl: globals.rpc, deployment, redeemerApi: opts.redeemerApi, gateway: opts.gateway, receipts: opts.receipts, host: opts.host, port });
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        if (err.code === "EADDRINUSE") throw new UserError(`port ${port} is already in use: pass --port <n> (0: any free port)`);
        throw e;
      }
      output(globals.json, [`web app: ${server.url}`, `(first load ${kb(server.bundle.firstLoadJsGzip)} of JavaScript gzipped; Ctrl-C stops)`], {
        url: server.url,
        firstLoadJsGzip: server.bundle.firstLoadJsGzip,
      });
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
          void server.close().then(resolve, resolve);
        };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
      });
      if (!globals.json) note("web app stopped");
    });
  web
    .command("build")
    .description("write the web app's files to a directory and print the size of its first load")
    .requiredOption("--out <dir>", "directory to write")
    .action(async function (this: Command, opts: { out: string }) {
      const bundle = await buildWebApp();
      mkdirSync(opts.out, { recursive: true });
      for (const a of bundle.assets.values()) writeFileSync(path.join(opts.out, a.path.slice(1)), a.bytes);
      output(
        globalsOf(this).json,
        [
          ...[...bundle.assets.values()].map((a) => `${a.path.slice(1)}: ${kb(a.bytes.length)} (${kb(a.gzipBytes)} gzipped)`),
          `first load: ${kb(bundle.firstLoadJs)} of JavaScript, ${kb(bundle.firstLoadJsGzip)} gzipped`,
        ],
        {
          files: [...bundle.assets.values()].map((a) => ({ file: a.path.slice(1), bytes: a.bytes.length, gzipBytes: a.gzipBytes })),
          firstLoadJs: bundle.firstLoadJs,
          firstLoadJsGzip: bundle.firstLoadJsGzip,
        },
      );
    });
  return web;
}
