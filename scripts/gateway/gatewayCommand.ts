/**
 * `ctk gateway serve`: the metering gateway in front of OpenAI-compatible upstreams, paid in
 * inference credits. `--model file.gguf` also runs the embedded llama.cpp upstream for that model;
 * `--upstream name=url` (repeatable) points a priced model at a server such as vLLM.
 */
import { readFileSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { Command } from "commander";
import { readDeployment } from "../../sdk/deployment.js";
import { type GatewayConfigInput, parseGatewayConfig } from "../../gateway/config.js";
import { startGateway } from "../../gateway/index.js";
import { globalsOf } from "../cli/globals.js";
import { UserError, note, output } from "../cli/output.js";
import { LOCAL_CHAIN_ID, LOCAL_ROLE_KEYS } from "../../devkit/localAccounts.js";

export interface ServeOptions {
  config?: string;
  model?: string;
  modelSha256?: string;
  upstream?: string[];
  host?: string;
  port?: string;
  database?: string;
  records?: string;
}

/**
 * How to call a gateway: the lines `ctk gateway serve` and `ctk devnet up` print. `expires`: the
 * authorization's expiry (default: a placeholder); `authorize`: more options for `ctk credits authorize`
 * (who signs, which chain). The key lands in CTK_API_KEY, which the curl and openai lines use.
 */
export function howToCall(url: string, model: string, o: { expires?: string; authorize?: string } = {}): string[] {
  return [
    `get a key:  npx ctk credits authorize --cap 5 --expires ${o.expires ?? "<date>"} --out auth.json${o.authorize ?? ""} && export CTK_API_KEY=$(npx ctk credits key create --authorization auth.json --gateway ${url})`,
    `curl:       curl ${url}/v1/chat/completions -H "Authorization: Bearer $CTK_API_KEY" -H 'content-type: application/json' -d '{"model":"${model}","messages":[{"role":"user","content":"Once upon a time"}],"max_tokens":32}'`,
    `openai:     new OpenAI({ apiKey: process.env.CTK_API_KEY, baseURL: "${url}/v1" }).chat.completions.create({ model: "${model}", messages: [{ role: "user", content: "Once upon a time" }] })`,
  ];
}

/** The gateway configuration from the command line (and an optional file under it). */
function serveConfig(o: ServeOptions, g: { rpc: string; deployment: string }, env: NodeJS.ProcessEnv = process.env): GatewayConfigInput {
  let base: Record<string, unknown> = {};
  let baseDir = process.cwd();
  if (o.config) {
    try {
      base = JSON.parse(readFileSync(o.config, "utf8"));
      baseDir = dirname(resolve(o.config));
    } catch (err) {
      throw new UserError(`cannot read ${o.config}: ${(err as Error).message}`);
    }
  }
  const deployment = readDeployment(g.deployment);
  const key = env.CTK_GATEWAY_KEY?.trim() || (deployment.chainId === LOCAL_CHAIN_ID ? LOCAL_ROLE_KEYS.GATEWAY : undefined);
  if (!key) throw new UserError("the gateway needs its account's key (the GATEWAY role): set CTK_GATEWAY_KEY");
  const models = [...((base.models as Record<string, unknown>[] | undefined) ?? [])];
  let embedded = base.embedded as Record<string, unknown> | undefined;
  if (o.model) {
    const name = basename(o.model).replace(/\.gguf$/i, "");
    embedded = { ...(embedded ?? {}), modelPath: resolve(o.model), ...(o.modelSha256 && { sha256: o.modelSha256 }) };
    if (!models.some((m) => m.name === name)) models.push({ name, upstream: "embedded" });
  }
  for (const u of o.upstream ?? []) {
    const m = /^([^=]+)=(https?:\/\/.+)$/.exec(u);
    if (!m) throw new UserError(`--upstream ${u}: expected model=url, e.g. llama-3-8b=http://vllm:8000/v1`);
    const i = models.findIndex((x) => x.name === m[1]);
    const entry = { ...(i >= 0 ? models[i] : {}), name: m[1], upstream: m[2] };
    if (i >= 0) models[i] = entry;
    else models.push(entry);
  }
  if (models.length === 0) throw new UserError("no model to serve: pass --model file.gguf (embedded llama.cpp) or --upstream model=url (an OpenAI-compatible server such as vLLM)");
  const database = o.database ? (/^postgres(ql)?:\/\//.test(o.database) ? { kind: "postgres", url: o.database } : { kind: "sqlite", file: resolve(o.database) }) : base.database;
  const raw = {
    ...base,
    chain: { ...((base.chain as object) ?? {}), rpcUrl: g.rpc, deployment, privateKey: key },
    models,
    ...(embedded && { embedded }),
    ...(o.host && { host: o.host }),
    ...(o.port !== undefined && { port: Number(o.port) }),
    ...(database !== undefined && { database }),
    ...(o.records && { recordsDir: resolve(o.records) }),
  };
  // Validate here so a mistake reads as one line.
  try {
    parseGatewayConfig(raw, baseDir);
  } catch (err) {
    throw new UserError((err as Error).message);
  }
  return raw as GatewayConfigInput;
}

export function gatewayCommand(): Command {
  const gateway = new Command("gateway").description("the metering gateway: an OpenAI-compatible API paid in inference credits");
  gateway
    .command("serve")
    .description("serve the OpenAI-compatible API (until Ctrl-C), metering every request against the caller's credits")
    .option("--config <file>", "gateway configuration (see config/gateway.example.json)")
    .option("--model <file.gguf>", "run this GGUF model with the embedded llama.cpp upstream (model name = file name)")
    .option("--model-sha256 <hex>", "expected SHA-256 of --model")
    .option("--upstream <model=url...>", "an OpenAI-compatible upstream for a priced model (repeatable), e.g. llama-3-8b=http://vllm:8000/v1")
    .option("--host <host>", "listen address (default 127.0.0.1)")
    .option("--port <n>", "port (default 8788; 0 = any free port)")
    .option("--database <file|url>", "the ledger: a SQLite file (default data/gateway/ledger.sqlite) or a postgres:// URL")
    .option("--records <dir>", "where usage records are kept (default data/gateway/records)")
    .action(async (o: ServeOptions, cmd: Command) => {
      const g = globalsOf(cmd);
      const raw = serveConfig(o, g);
      const config = parseGatewayConfig(raw, o.config ? dirname(resolve(o.config)) : process.cwd());
      const gw = await startGateway(config);
      const models = gw.prices() ? [...gw.prices()!.models.keys()] : [];
      const unpriced = config.models.map((m) => m.name).filter((m) => !models.includes(m));
      output(
        g.json,
        [
          `gateway listening on ${gw.url} (account ${gw.address}, ledger ${config.database.kind})`,
          `models: ${models.join(", ") || "(none priced on-chain)"}`,
          ...howToCall(gw.url, models[0] ?? config.models[0].name),
        ],
        {
          url: gw.url,
          gateway: gw.address,
          models,
          database: config.database.kind,
        },
      );
      if (unpriced.length)
        note(
          `note: ${unpriced.join(", ")} ${unpriced.length === 1 ? "has" : "have"} no price on-chain and ${unpriced.length === 1 ? "is" : "are"} not served (operations sets prices)`,
        );
      await new Promise<void>((done) => {
        process.once("SIGINT", () => done());
        process.once("SIGTERM", () => done());
      });
      note("stopping the gateway (settling what is waiting)");
      await gw.stop();
    });
  return gateway;
}
