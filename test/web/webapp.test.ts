/**
 * The web app in real Chromium against a real devnet (anvil, the contracts, the redeemer with the
 * local executor on simulated GPUs) and `ctk web serve`'s server, with a test wallet announced
 * through EIP-6963 that signs with anvil keys and sends real transactions. Journeys: a wallet on the
 * wrong chain is asked to switch; a bad spec is refused inline and nothing is sent; an employee
 * redeems the demo job and watches it settle and the refund land; HR uploads CSVs with bad lines,
 * then good ones, and balances change; the auditor's charts are drawn and a tampered receipt is a
 * finding. Every page passes axe (no serious or critical violation), fits 360 px, and loads nothing
 * from outside this machine. The screenshots it takes are the README's tour (docs/web/).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { keccak256, toHex } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { getBalances } from "../../sdk/balances.js";
import { createCtkClient, type CtkClient } from "../../sdk/client.js";
import { formatHours } from "../../sdk/format.js";
import { getRedemption, getRedemptionCount } from "../../sdk/redemptions.js";
import { redeemJob } from "../../sdk/redeem.js";
import { REJECT_REASONS, describeReason } from "../../sdk/reasons.js";
import { localEmployeeKey, LOCAL_ROLE_KEYS } from "../../devkit/localAccounts.js";
import { increaseTimeAt } from "../../devkit/localChain.js";
import { DEMO_EMPLOYEE, DEMO_EMPLOYEE_KEY, DEMO_GRANT_UNITS, grantDemoHours } from "../../scripts/devnet/runDemo.js";
import { startDevnet, type Devnet } from "../../scripts/devnet/runDevnet.js";
import { freePort } from "../../devkit/startAnvil.js";
import { loadSpec } from "../../scripts/wallet/redeemCommand.js";
import { startWebServer, type WebServer } from "../../scripts/web/server.js";
import { type Gateway, parseGatewayConfig, startGateway } from "../../gateway/index.js";
import { formatCredits, parseCredits } from "../../sdk/credits/units.js";
import { grantCredits, settleUsage } from "../../sdk/credits/write.js";
import { authorizationTypedData } from "../../sdk/credits/authorization.js";
import { readPriceVersion } from "../../sdk/credits/reads.js";
import { onboardHolders } from "../../sdk/holders.js";
import { inferenceCreditAbi } from "../../sdk/generated/abi.js";
import { MODEL, MODEL_PATH, MODEL_SHA256, jsonLinesInto, requireModel } from "../gateway/support/gatewayFixture.js";
import { PALETTE } from "../../scripts/audit/renderReport.js";
import { countColor, readPng } from "../audit/support/png.js";
import { ROOT } from "../support/cli.js";
import { CHROMIUM, launchChromium, pageWithWallet, seriousA11yViolations, watchRequests, type BrowserContext, type Page } from "./support.js";

const DEMO_SPEC = path.join(ROOT, "config", "demo-job.json");
const SHOTS = path.join(ROOT, "docs", "web");
const EMPLOYEE_1 = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"; // examples/employees.csv, E1001 (anvil account 5)

/** The page is no wider than the viewport (nothing to scroll sideways): the elements that stick out, if any. */
async function fitsWidth(page: Page, width: number): Promise<string[]> {
  await page.setViewportSize({ width, height: 800 });
  await page.waitForTimeout(100);
  return page.evaluate((w) => {
    if (document.documentElement.scrollWidth <= w) return [];
    return [...document.querySelectorAll("body *")]
      .filter((e) => e.getBoundingClientRect().right > w + 1 && !e.closest(".table-wrap"))
      .slice(0, 8)
      .map((e) => `${e.tagName.toLowerCase()}.${e.className} right=${Math.round(e.getBoundingClientRect().right)}`);
  }, width);
}

describe("the web app (Chromium, a test EIP-6963 wallet, anvil, the redeemer)", function () {
  this.timeout(180_000);
  let dir: string;
  let devnet: Devnet | undefined;
  let web: WebServer | undefined;
  let context: BrowserContext | undefined;
  let gateway: Gateway | undefined;
  let reader: CtkClient;
  const foreign: string[] = [];

  before(async function () {
    if (!CHROMIUM) this.skip(); // chromium is not installed: `apt-get install chromium` (.ci/run does)
    dir = mkdtempSync(path.join(tmpdir(), "ctk-web-"));
    devnet = await startDevnet({ port: await freePort(), dir: path.join(dir, "devnet"), redeemerApiPort: 0 });
    expect(devnet.redeemer.started, devnet.redeemer.note).to.equal(true);
    await grantDemoHours({ rpcUrl: devnet.rpcUrl, deployment: devnet.deployment, spec: loadSpec(DEMO_SPEC), className: "H100-80GB" });
    // Inference credits for the demo employee, and the metering gateway with the real test model.
    requireModel();
    const hr = createCtkClient({ rpcUrl: devnet.rpcUrl, deployment: devnet.deployment, account: LOCAL_ROLE_KEYS.HR });
    const now = (await hr.publicClient.getBlock({ blockTag: "latest" })).timestamp;
    await grantCredits(hr, {
      batchRef: keccak256(toHex("web test credits")),
      expiresAt: now + 30n * 86_400n,
      transferable: false,
      to: [DEMO_EMPLOYEE],
      amounts: [parseCredits("80")],
    });
    gateway = await startGateway(
      parseGatewayConfig({
        chain: { rpcUrl: devnet.rpcUrl, deployment: devnet.deployment, privateKey: LOCAL_ROLE_KEYS.GATEWAY, pollIntervalMs: 50, balanceRefreshMs: 60_000 },
        port: 0,
        replica: "web-test",
        database: { kind: "sqlite", file: path.join(dir, "ledger.sqlite") },
        models: [{ name: MODEL, upstream: "embedded", maxOutputTokens: 16, concurrency: 2 }],
        embedded: { modelPath: MODEL_PATH, sha256: MODEL_SHA256, sequences: 2, contextSize: 256 },
        settlement: { intervalMs: 3_600_000, maxCharges: 200 },
        recordsDir: path.join(dir, "records"),
        logLevel: "warn",
      }),
      { logStream: jsonLinesInto([]) },
    );
    web = await startWebServer({
      rpcUrl: devnet.rpcUrl,
      deployment: devnet.deployment,
      redeemerApi: devnet.redeemer.apiUrl,
      receipts: [devnet.redeemer.receiptsDir!],
      gateway: gateway.url,
      port: 0,
    });
    reader = createCtkClient({ rpcUrl: devnet.rpcUrl, deployment: devnet.deployment });
    context = await launchChromium(path.join(dir, "chromium-profile"));
    mkdirSync(SHOTS, { recursive: true });
  });

  after(async () => {
    await context?.close();
    await web?.close();
    await gateway?.stop({ settle: false }).catch(() => undefined);
    await devnet?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  afterEach(() => {
    expect(foreign, "requests that left the machine").to.deep.equal([]);
  });

  const open = async (key: `0x${string}` | undefined, hash: string, chainId?: number, knownChains?: number[]) => {
    const origin = web!.url.replace(/\/$/, "");
    if (!key) {
      const page = await context!.newPage();
      const seen = watchRequests(page, origin);
      page.on("close", () => foreign.push(...seen));
      await page.goto(`${web!.url}${hash}`);
      return { page, wallet: undefined };
    }
    const { page, wallet } = await pageWithWallet(context!, { key, rpcUrl: devnet!.rpcUrl, anvilChainId: devnet!.chainId, chainId, knownChains });
    const seen = watchRequests(page, origin);
    page.on("close", () => foreign.push(...seen));
    if (process.env.CTK_WEB_DEBUG) {
      page.on("console", (m) => console.error("console:", m.text()));
      page.on("request", (r) => console.error("request:", r.method(), r.url()));
      page.on("requestfinished", async (r) => console.error("finished:", r.url(), (await r.response())?.status()));
    }
    await page.goto(`${web!.url}${hash}`);
    await page.getByRole("button", { name: "Connect Test Wallet" }).click();
    await page.getByTestId("account").waitFor();
    return { page, wallet };
  };

  it("serves a first load of at most 300 KB of JavaScript (gzipped) with no reference to another host", async () => {
    const kb = web!.bundle.firstLoadJsGzip / 1024;
    expect(kb, `first load ${kb.toFixed(1)} KB gzipped`).to.be.at.most(300);
    const html = await (await fetch(web!.url)).text();
    const css = await (await fetch(new URL("app.css", web!.url))).text();
    expect(html + css).to.not.match(/https?:\/\/|\/\/[a-z0-9.-]+\.[a-z]{2,}\//i);
    expect((await fetch(new URL("app.js", web!.url))).headers.get("content-security-policy")).to.contain("default-src 'self'");
  });

  describe("the employee", () => {
    let page: Page;
    let wallet: Awaited<ReturnType<typeof open>>["wallet"];

    it("is asked to switch chains when the wallet is on another chain, and can sign once it has", async () => {
      ({ page, wallet } = await open(DEMO_EMPLOYEE_KEY, "#/wallet", 1));
      const notice = page.getByTestId("wrong-chain");
      await notice.waitFor();
      expect(await notice.textContent()).to.contain(`Your wallet is on chain 1; this deployment is on chain ${devnet!.chainId}`);
      expect(await page.getByRole("button", { name: "Redeem" }).isDisabled()).to.equal(true);
      await page.getByRole("button", { name: `Switch to chain ${devnet!.chainId}` }).click();
      await notice.waitFor({ state: "detached" });
      expect(wallet!.calls).to.include("wallet_switchEthereumChain");
      expect(wallet!.chainId).to.equal(devnet!.chainId);
      expect(await page.getByTestId(`redeemable-H100-80GB`).textContent()).to.equal(formatHours(DEMO_GRANT_UNITS));
    });

    it("asks a wallet that does not know the chain (4902) to add it with the chain's parameters, then to switch, and signs", async () => {
      const { page: p, wallet: w } = await open(DEMO_EMPLOYEE_KEY, "#/wallet", 1, [1]);
      await p.getByTestId("wrong-chain").waitFor();
      await p.getByRole("button", { name: `Switch to chain ${devnet!.chainId}` }).click();
      await p.getByTestId("wrong-chain").waitFor({ state: "detached" });
      const asked = w!.calls.filter((c) => c.startsWith("wallet_"));
      expect(asked).to.deep.equal(["wallet_switchEthereumChain", "wallet_addEthereumChain", "wallet_switchEthereumChain"]);
      expect(w!.added).to.deep.equal([
        { chainId: `0x${devnet!.chainId.toString(16)}`, chainName: "ctk devnet", rpcUrls: [devnet!.rpcUrl], nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 } },
      ]);
      expect(w!.chainId).to.equal(devnet!.chainId);
      // and the page proceeds: the balances, and a Redeem button that can sign once the spec is right.
      await p.waitForFunction((want) => document.querySelector('[data-testid="redeemable-H100-80GB"]')?.textContent === want, formatHours(DEMO_GRANT_UNITS));
      await p.locator("#spec-file").setInputFiles(DEMO_SPEC);
      await p.getByLabel("Hardware class").selectOption("H100-80GB");
      await p.getByTestId("spec-problems").waitFor({ state: "detached" });
      expect(await p.getByRole("button", { name: "Redeem" }).isEnabled()).to.equal(true);
      expect(w!.sent).to.deep.equal([]);
      await p.close();
    });

    it("says why when the wallet declines to switch, and keeps signing off", async () => {
      const { page: p, wallet: w } = await open(DEMO_EMPLOYEE_KEY, "#/wallet", 1, [1]);
      w!.declines.add("wallet_addEthereumChain"); // the user turns the request down: 4001 (EIP-1193)
      await p.getByRole("button", { name: `Switch to chain ${devnet!.chainId}` }).click();
      await p.getByText("Could not switch: you declined the request in your wallet").waitFor();
      expect(w!.chainId).to.equal(1);
      expect(await p.getByTestId("wrong-chain").count()).to.equal(1);
      expect(await p.getByRole("button", { name: "Redeem" }).isDisabled()).to.equal(true);
      await p.close();
    });

    it("refuses a bad spec inline, naming each problem, and sends nothing", async () => {
      await page.getByLabel("Hardware class").selectOption("H100-80GB");
      await page.locator("#spec-file").setInputFiles(DEMO_SPEC);
      await page.getByTestId("cost").waitFor();
      await page.getByLabel("Job name").fill("Bad_Name");
      await page.getByLabel("GPUs").fill("64");
      const problems = page.getByTestId("spec-problems");
      await problems.waitFor();
      const text = (await problems.textContent()) ?? "";
      expect(text).to.contain("name: must be lower-case letters, digits and '-' (a DNS label)");
      expect(text).to.contain("gpus: the spec asks for 64 GPUs; H100-80GB allows at most 8 per job");
      // A spec the schema accepts but the redeemer's policy (GET /v1/policy, sdk/policy.ts) would refuse.
      await page.getByLabel("Job name").fill("cpu-demo");
      await page.getByLabel("Image (pinned: registry/…@sha256:…)").fill("registry.example.com/ctk/cpu-demo:latest");
      await page.getByLabel("Environment (KEY=value per line)").fill("DEMO_SECONDS=3\nHF_TOKEN=hf_abcdefghijklmnopqrstuvwxyz0123");
      await page.waitForFunction(() => document.querySelector('[data-testid="spec-problems"]')?.textContent?.includes("image:"));
      const policyText = (await problems.textContent()) ?? "";
      expect(policyText).to.not.contain("name:");
      expect(policyText).to.contain(
        'image: the image must be pinned by digest (registry.example.com/ctk/cpu-demo@sha256:<64 hex digits>); it names the tag "latest", which can move',
      );
      expect(policyText).to.contain("env.HF_TOKEN: the value of HF_TOKEN looks like a credential");
      expect(policyText).to.contain("gpus: the spec asks for 64 GPUs; H100-80GB allows at most 8 per job");
      await page.screenshot({ path: path.join(SHOTS, "employee-refused.png"), fullPage: true });
      const button = page.getByRole("button", { name: "Redeem" });
      expect(await button.isDisabled()).to.equal(true);
      await page
        .locator("form")
        .first()
        .evaluate((f) => (f as HTMLFormElement).requestSubmit());
      await page.waitForTimeout(300);
      expect(wallet!.calls).to.not.include("eth_sendTransaction");
      expect(wallet!.sent).to.deep.equal([]);
      expect(await getRedemptionCount({ publicClient: reader.publicClient, address: reader.computeToken.address })).to.equal(0n);
    });

    it("redeems the demo job, shows the cost first, watches it run and settle, and sees the refund in the balance", async () => {
      await page.locator("#spec-file").setInputFiles(DEMO_SPEC);
      await page.getByLabel("Hardware class").selectOption("H100-80GB");
      await page.getByTestId("spec-problems").waitFor({ state: "detached" });
      expect(await page.getByTestId("cost").textContent()).to.equal("Cost: 2 GPUs × 0.01 h × 1 (normal) = 0.02 H100-80GB GPU-hours");
      await page.getByRole("button", { name: "Redeem" }).click();
      const result = page.getByTestId("redeem-result");
      await result.waitFor({ timeout: 30_000 });
      expect(await result.textContent()).to.match(/^Redemption 1 requested \(transaction 0x[0-9a-f]{64}\)\.$/);
      expect(wallet!.sent).to.have.length(1);

      await page.locator('[data-testid="redemption-1"][data-status="Running"]').waitFor({ timeout: 60_000 });
      expect(await page.getByTestId("redemption-1").textContent()).to.match(/running: \d+ s of 36 s allotted/);
      await page.screenshot({ path: path.join(SHOTS, "employee-running.png"), fullPage: true });
      await page.locator('[data-testid="redemption-1"][data-status="Settled"]').waitFor({ timeout: 60_000 });

      const r = (await getRedemption({ publicClient: reader.publicClient, address: reader.computeToken.address }, 1n))!;
      expect(r.status).to.equal("Settled");
      expect(r.used > 0n && r.used < r.reserved).to.equal(true);
      expect(await page.getByTestId("redemption-1").textContent()).to.contain(`settled: used ${formatHours(r.used)} h, refunded ${formatHours(r.reserved - r.used)} h`);
      // The balance: the hour granted, less what the job used (the rest came back).
      const expected = formatHours(DEMO_GRANT_UNITS - r.used);
      await page.waitForFunction((want) => document.querySelector('[data-testid="redeemable-H100-80GB"]')?.textContent === want, expected, { timeout: 15_000 });
      await page.screenshot({ path: path.join(SHOTS, "employee.png"), fullPage: true });
    });

    it("sees a redemption the redeemer rejected, with the reason in words and the full refund", async () => {
      // Sent around the web app's check (as an older client might): the redeemer refuses it on-chain.
      const employee = createCtkClient({ rpcUrl: devnet!.rpcUrl, deployment: devnet!.deployment, account: DEMO_EMPLOYEE_KEY });
      const spec = { ...loadSpec(DEMO_SPEC), name: "unpinned", image: "registry.example.com/ctk/cpu-demo:latest", gpus: 1 };
      const h100 = (await getBalances(reader, DEMO_EMPLOYEE)).classes[0]!;
      const { id } = await redeemJob(employee, h100.classId, [h100.lots[0]!.lotId], spec);
      const row = page.getByTestId(`redemption-${id}`);
      await page.locator(`[data-testid="redemption-${id}"][data-status="Rejected"]`).waitFor({ timeout: 60_000 });
      expect(await row.textContent()).to.contain(`rejected: ${describeReason(REJECT_REASONS.IMAGE_NOT_PINNED)}; refunded 0.01 h`);
    });

    it("sees credits per expiry bucket, signs a spending authorization for an API key (shown once) and sees each request's charge, page by page", async () => {
      // Two usage records a page (the page address's usage-page-size, read when usage is fetched), so that three requests make two pages.
      await page.evaluate(() => history.replaceState(history.state, "", `?usage-page-size=2${location.hash}`));
      await page.getByTestId("credits-balance").filter({ hasText: "80" }).waitFor();
      expect(await page.getByTestId("credit-buckets").locator("tbody tr").count()).to.equal(1);
      await page.getByLabel("Cap (credits)").fill("50");
      await page.getByRole("button", { name: "Sign and get an API key" }).click();
      const shown = page.getByTestId("api-key-value");
      await page.locator('[data-testid="api-key-value"], #credits-h ~ form .problems').first().waitFor({ timeout: 30_000 });
      expect(await page.locator("#credits-h ~ form .problems").count(), (await page.locator("#credits-h ~ form .problems").allTextContents()).join()).to.equal(0);
      const key = (await shown.textContent())!;
      expect(wallet!.calls).to.include("eth_signTypedData_v4");
      expect(wallet!.sent, "signing costs no transaction").to.have.length(1);
      expect(await page.getByTestId("api-key").textContent()).to.contain("Cap 50 credits");
      // The key works with the gateway's OpenAI-compatible API.
      for (const prompt of ["Once upon a time", "The cat", "A dog"]) {
        const res = await fetch(`${gateway!.url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
          body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: prompt }], max_tokens: 8 }),
        });
        expect(res.status, await res.clone().text()).to.equal(200);
      }
      await page.getByRole("button", { name: "Show usage" }).click();
      const usage = page.getByTestId("usage");
      await usage.waitFor();
      const direct = (await (await fetch(`${gateway!.url}/v1/usage`, { headers: { authorization: `Bearer ${key}` } })).json()) as {
        records: { requestId: string; charge: string; model: string }[];
      };
      expect(direct.records).to.have.length(3);
      const shownIds = () => usage.locator("tbody tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-request-id")));
      // The newest page: two records, newest first, and a way to the older one.
      const older = page.getByRole("button", { name: "Show older usage" });
      await older.waitFor();
      expect(await shownIds()).to.deep.equal(direct.records.slice(0, 2).map((r) => r.requestId));
      expect(await page.getByTestId("usage-count").textContent()).to.equal("2 requests, newest first; older ones not shown yet.");
      const row = (await usage.locator("tbody tr").first().textContent()) ?? "";
      expect(row)
        .to.contain(MODEL)
        .and.to.contain(formatCredits(BigInt(direct.records[0]!.charge)));
      expect(await seriousA11yViolations(page)).to.deep.equal([]);
      await page.screenshot({ path: path.join(SHOTS, "employee-credits.png"), fullPage: true });
      // The next page is appended below; on the last page the button goes.
      await older.click();
      await older.waitFor({ state: "detached" });
      expect(await shownIds()).to.deep.equal(direct.records.map((r) => r.requestId));
      expect(await page.getByTestId("usage-count").textContent()).to.equal("3 requests, newest first.");
      // The button that had the keyboard's focus is gone: the focus is on the status line, not lost to the page.
      expect(await page.evaluate(() => document.activeElement?.getAttribute("data-testid"))).to.equal("usage-count");
      // Show usage again starts over from the newest page.
      await page.getByRole("button", { name: "Show usage" }).click();
      await older.waitFor();
      expect(await shownIds()).to.deep.equal(direct.records.slice(0, 2).map((r) => r.requestId));

      // Shown once: the page keeps it nowhere. No storage holds it, and after leaving the page it is gone.
      const stored = () =>
        page.evaluate(async () =>
          JSON.stringify({
            local: { ...localStorage },
            session: { ...sessionStorage },
            cookie: document.cookie,
            indexedDb: (await indexedDB.databases()).map((d) => d.name),
            caches: "caches" in window ? await caches.keys() : [],
            history: history.state,
            url: location.href,
          }),
        );
      expect(await stored()).to.not.contain(key.slice(8));
      // Leaving the page into the back-forward cache (pagehide, persisted) forgets it too.
      await page.evaluate(() => window.dispatchEvent(new PageTransitionEvent("pagehide", { persisted: true })));
      await page.getByTestId("api-key").waitFor({ state: "detached" });
      await page.getByLabel("Cap (credits)").fill("5");
      await page.getByRole("button", { name: "Sign and get an API key" }).click();
      await page.getByTestId("api-key").filter({ hasText: "Cap 5 credits" }).waitFor({ timeout: 30_000 });
      const keys = [key, (await page.getByTestId("api-key-value").textContent())!].map((k) => k.slice(8));
      expect(keys[1]).to.not.equal(keys[0]);
      const nowhere = async () => {
        const [html, storage] = [await page.content(), await stored()];
        for (const k of keys) expect(html + storage).to.not.contain(k);
      };
      await page.evaluate(() => (location.hash = "#/hr"));
      await page.getByRole("heading", { name: "HR grant desk" }).waitFor();
      await page.evaluate(() => (location.hash = "#/wallet"));
      await page.getByTestId("credits-balance").waitFor();
      expect(await page.getByTestId("api-key").count()).to.equal(0);
      await nowhere();
      await page.reload();
      await page.getByRole("button", { name: "Connect Test Wallet" }).click();
      await page.getByTestId("credits-balance").waitFor();
      await nowhere();
    });

    it("sees a usage debt, what a batch charged after the credits had gone, paid from the next credits received", async () => {
      // A wallet of its own (not in any example file): onboarded, no credits, one batch charges it 0.002102.
      const key = generatePrivateKey();
      const holder = privateKeyToAccount(key);
      const hr = createCtkClient({ rpcUrl: devnet!.rpcUrl, deployment: devnet!.deployment, account: LOCAL_ROLE_KEYS.HR });
      const gw = createCtkClient({ rpcUrl: devnet!.rpcUrl, deployment: devnet!.deployment, account: LOCAL_ROLE_KEYS.GATEWAY });
      await onboardHolders(hr, [holder.address]);
      const now = (await reader.publicClient.getBlock({ blockTag: "latest" })).timestamp;
      const auth = { holder: holder.address, gateway: gw.account!.address, cap: parseCredits("1"), expiresAt: now + 86_400n, nonce: 1n, models: [] as string[] } as const;
      const signature = await holder.signTypedData(authorizationTypedData(devnet!.deployment.chainId, devnet!.deployment.inferenceCredit!, auth));
      await settleUsage(gw, {
        batchId: keccak256(toHex("web test debt")),
        priceVersion: await readPriceVersion(reader),
        usageRoot: keccak256(toHex("web test debt records")),
        activations: [{ authorization: auth, signature }],
        charges: [{ holder: holder.address, nonce: 1n, amount: 2_102n }],
      });
      const { page: p } = await open(key, "#/wallet");
      await p.getByTestId("credits-debt").waitFor();
      expect(await p.getByTestId("credits-debt").textContent()).to.contain("You owe 0.002102 credits for usage served before");
      expect(await p.getByTestId("credits-balance").textContent()).to.equal("0");
      await p.close();
    });

    it("has no serious accessibility violation and fits a 360 px screen", async () => {
      expect(await seriousA11yViolations(page)).to.deep.equal([]);
      expect(await fitsWidth(page, 360)).to.deep.equal([]);
      await page.screenshot({ path: path.join(SHOTS, "employee-360.png"), fullPage: true });
      await page.close();
    });
  });

  describe("HR", () => {
    let page: Page;

    it("is only for accounts holding the HR role", async () => {
      const { page: employee } = await open(DEMO_EMPLOYEE_KEY, "#/hr");
      await employee.getByText("does not hold the HR role").waitFor();
      expect(await employee.getByRole("link", { name: "HR desk" }).count()).to.equal(1); // the current page stays in the menu
      await employee.getByRole("link", { name: "My compute" }).click();
      await employee.getByRole("heading", { name: "My compute" }).waitFor();
      expect(await employee.getByRole("link", { name: "HR desk" }).count()).to.equal(0);
      await employee.close();
    });

    it("names every bad line of a grants file and sends nothing", async () => {
      ({ page } = await open(LOCAL_ROLE_KEYS.HR, "#/hr"));
      await page.getByRole("link", { name: "HR desk" }).waitFor();
      const bad = [
        "employee_id,wallet,class,gpu_hours,expires_at,transferable",
        `E1001,${EMPLOYEE_1},H100-80GB,40,2030-12-31,false`,
        "E2001,0x1234,H100-80GB,4,2030-12-31,false",
        `E2002,0x976EA74026E726554dB657fA54763abd0C3a0aa9,H100-80GB,-3,2030-12-31,true`,
        `E2003,0x14dC79964da2C08b23698B3D3cc7Ca32193d9955,B200,8,31/12/2030,false`,
        `E2004,0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f,Z9000,8,2030-12-31,false`,
      ].join("\n");
      await page.locator("#grants-csv").setInputFiles({ name: "bad-grants.csv", mimeType: "text/csv", buffer: Buffer.from(`${bad}\n`) });
      const problems = page.getByTestId("csv-problems");
      await problems.waitFor();
      const text = (await problems.textContent()) ?? "";
      expect(text).to.contain("line 3: wallet");
      expect(text).to.contain('line 4: gpu_hours "-3" is negative');
      expect(text).to.contain('line 5: expires_at "31/12/2030" is not an ISO-8601 date');
      expect(text).to.contain('line 6: unknown class "Z9000"');
      expect(await page.getByRole("button", { name: "Confirm and grant" }).count()).to.equal(0);
      await page.screenshot({ path: path.join(SHOTS, "hr-bad-lines.png"), fullPage: true });
    });

    it("onboards the employees file, grants the grants file with progress, and the same file again grants nothing", async () => {
      await page.locator("#employees-csv").setInputFiles(path.join(ROOT, "examples", "employees.csv"));
      await page.getByRole("button", { name: "Confirm and onboard" }).click();
      await page.getByTestId("hr-done").filter({ hasText: "Onboarded 3 wallets." }).waitFor({ timeout: 30_000 });

      const before = await getBalances(reader, EMPLOYEE_1);
      expect(before.totals.redeemable).to.equal(0n);
      await page.locator("#grants-csv").setInputFiles(path.join(ROOT, "examples", "grants.csv"));
      const dry = page.getByTestId("dry-run");
      await dry.waitFor();
      expect(await dry.textContent()).to.contain("Dry run of grants.csv: 4 rows of run grants");
      await page.screenshot({ path: path.join(SHOTS, "hr.png"), fullPage: true });
      expect(await seriousA11yViolations(page)).to.deep.equal([]);
      await page.getByRole("button", { name: "Confirm and grant" }).click();
      await page.getByTestId("hr-done").filter({ hasText: "Granted 160.5 GPU-hours in 4 rows (1 batch)." }).waitFor({ timeout: 30_000 });
      expect(await page.getByText("Rows landed: 4 of 4").count()).to.equal(1);
      const after = await getBalances(reader, EMPLOYEE_1);
      expect(after.classes.map((c) => [c.name, formatHours(c.redeemable)])).to.deep.equal([
        ["A100-80GB", "100"],
        ["H100-80GB", "40"],
      ]);

      await page.locator("#grants-csv").setInputFiles(path.join(ROOT, "examples", "grants.csv"));
      await page.getByTestId("already-granted").waitFor();
      expect(await page.getByTestId("already-granted").textContent()).to.equal("grants.csv was granted already: sending it again grants nothing.");
      expect(await fitsWidth(page, 360)).to.deep.equal([]);
      await page.close();

      // The employee sees the hours HR granted.
      const { page: employee } = await open(localEmployeeKey(0), "#/wallet");
      await employee.waitForFunction(() => document.querySelector('[data-testid="redeemable-H100-80GB"]')?.textContent === "40");
      expect(await employee.getByTestId("redeemable-A100-80GB").textContent()).to.equal("100");

      // and gives a colleague transferable hours; soulbound ones are refused with the reason.
      const colleague = "0x976EA74026E726554dB657fA54763abd0C3a0aa9";
      await employee.getByLabel("Colleague's wallet").fill(colleague);
      await employee.getByLabel("Class", { exact: true }).selectOption("H100-80GB");
      await employee.getByRole("textbox", { name: "GPU-hours" }).fill("1");
      await employee.getByRole("button", { name: "Transfer" }).click();
      await employee.getByText("Not sent: you can transfer 0 H100-80GB GPU-hours (transferable, unexpired lots only; soulbound hours stay with you)").waitFor();
      await employee.getByLabel("Class", { exact: true }).selectOption("A100-80GB");
      await employee.getByRole("textbox", { name: "GPU-hours" }).fill("2");
      await employee.getByRole("button", { name: "Transfer" }).click();
      await employee.getByText(`Sent 2 A100-80GB GPU-hours to ${colleague}`).waitFor({ timeout: 30_000 });
      await employee.waitForFunction(() => document.querySelector('[data-testid="redeemable-A100-80GB"]')?.textContent === "98", undefined, { timeout: 15_000 });
      const theirs = await getBalances(reader, colleague);
      expect(theirs.classes.find((c) => c.name === "A100-80GB")?.redeemable).to.equal(2n * 3600n);
      await employee.close();
    });

    it("names every bad line of an inference-credits file, then grants a good one (balances change), and the same file again grants nothing", async () => {
      ({ page } = await open(LOCAL_ROLE_KEYS.HR, "#/hr"));
      const bad = [
        "employee_id,wallet,credits,expires_at,transferable",
        `E1001,${EMPLOYEE_1},100,2030-12-31,false`,
        "E2001,0x1234,5,2030-12-31,false",
        "E2002,0x976EA74026E726554dB657fA54763abd0C3a0aa9,-3,2030-12-31,true",
        "E2003,0x14dC79964da2C08b23698B3D3cc7Ca32193d9955,8,31/12/2030,false",
        "E2004,0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f,1.0000001,2030-12-31,maybe",
        "E2005,0x000000000000000000000000000000000000dEaD,5,2030-12-31,false",
      ].join("\n");
      await page.locator("#credits-csv").setInputFiles({ name: "bad-credits.csv", mimeType: "text/csv", buffer: Buffer.from(`${bad}\n`) });
      const problems = page.getByTestId("csv-problems");
      await problems.waitFor();
      const items = await problems.locator("li").allTextContents();
      expect(items).to.deep.equal([
        'line 3: wallet "0x1234" is not a 0x-prefixed 20-byte address',
        'line 4: credits "-3" is negative',
        'line 5: expires_at "31/12/2030" is not an ISO-8601 date (e.g. 2027-03-31 or 2027-03-31T18:00:00Z)',
        'line 6: credits "1.0000001" has more than 6 decimals (1 base unit = 0.000001 credit)',
        'line 6: transferable "maybe" must be true or false',
        "line 7: wallet 0x000000000000000000000000000000000000dEaD (employee E2005) is not onboarded",
      ]);
      expect(await problems.locator("strong").textContent()).to.equal("bad-credits.csv: 6 problems; nothing will be sent until every line is right.");
      expect(await page.getByRole("button", { name: "Confirm and grant credits" }).count()).to.equal(0);
      await page.screenshot({ path: path.join(SHOTS, "hr-credits-bad-lines.png"), fullPage: true });

      const credit = { publicClient: reader.publicClient, address: reader.deployment.inferenceCredit! };
      const balanceOf = (w: `0x${string}`) => reader.publicClient.readContract({ ...credit, abi: inferenceCreditAbi, functionName: "balanceOf", args: [w] });
      const colleague = "0x976EA74026E726554dB657fA54763abd0C3a0aa9";
      const before = [await balanceOf(EMPLOYEE_1), await balanceOf(colleague)];
      const file = path.join(ROOT, "examples", "credits.csv");
      await page.locator("#credits-csv").setInputFiles(file);
      const dry = page.getByTestId("dry-run");
      await dry.waitFor();
      expect(await dry.locator("p").first().textContent()).to.equal("Dry run of credits.csv: 3 rows of inference credits. Nothing is sent until you confirm.");
      const totals = await page
        .getByTestId("credit-totals")
        .locator("tbody tr, tfoot tr")
        .evaluateAll((trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent)));
      expect(totals).to.deep.equal([
        ["2030-06-30", "transferable", "1", "1", "20"],
        ["2030-12-31", "soulbound", "2", "2", "150"],
        ["total", "", "3", "2", "170"],
      ]);
      expect(await seriousA11yViolations(page)).to.deep.equal([]);
      await page.screenshot({ path: path.join(SHOTS, "hr-credits.png"), fullPage: true });
      await page.getByRole("button", { name: "Confirm and grant credits" }).click();
      await page.getByTestId("hr-done").filter({ hasText: "Granted 170 credits in 3 rows (2 batches)." }).waitFor({ timeout: 30_000 });
      expect(await page.getByText("Rows landed: 3 of 3").count()).to.equal(1);
      expect(await balanceOf(EMPLOYEE_1)).to.equal(before[0]! + parseCredits("120"));
      expect(await balanceOf(colleague)).to.equal(before[1]! + parseCredits("50"));

      await page.locator("#credits-csv").setInputFiles(file);
      await page.getByTestId("already-granted").waitFor();
      expect(await page.getByTestId("already-granted").textContent()).to.equal("credits.csv was granted already: sending it again grants nothing.");
      expect(await page.getByRole("button", { name: "Confirm and grant credits" }).count()).to.equal(0);
      expect(await balanceOf(EMPLOYEE_1)).to.equal(before[0]! + parseCredits("120"));
      expect(await fitsWidth(page, 360)).to.deep.equal([]);
      await page.close();
    });

    it("offboards a leaver and claws back what it held", async () => {
      ({ page } = await open(LOCAL_ROLE_KEYS.HR, "#/hr"));
      const leaver = "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955"; // E1003: 8 B200 hours
      await page.getByLabel("Wallet", { exact: true }).fill(leaver);
      await page.getByRole("button", { name: "Offboard" }).click();
      await page.getByText(`${leaver} is offboarded; clawed back 8 h of B200.`).waitFor({ timeout: 30_000 });
      const after = await getBalances(reader, leaver);
      expect(after.onboarded).to.equal(false);
      expect(after.totals.raw).to.equal(0n);
      await page.close();
    });
  });

  describe("the auditor", () => {
    let page: Page;

    it("sees the history reconcile and the charts drawn: usage, expiry waste, top consumers and the Lorenz curve", async () => {
      ({ page } = await open(undefined, "#/audit"));
      await page.locator('[data-testid="verify"][data-ok="true"]').waitFor({ timeout: 60_000 });
      expect(await page.getByText("Reconciles: every balance").count()).to.equal(1);
      await page.locator("#chart-usage").waitFor();
      const bars = async (id: string) =>
        page.locator(`#${id} rect.bar`).evaluateAll((els) => els.filter((e) => e.getBoundingClientRect().width > 0 && e.getBoundingClientRect().height > 0).length);
      expect(await bars("chart-usage"), "usage bars").to.be.greaterThan(0);
      expect(await bars("chart-top"), "top consumer bars").to.equal(1);
      // The pixels: H100 (the second class) in the usage chart, the top consumer's bar, the Lorenz curve.
      const usage = readPng(await page.locator("#chart-usage svg").screenshot());
      expect(countColor(usage, PALETTE[1]!), "H100 usage bar pixels").to.be.greaterThan(200);
      const top = readPng(await page.locator("#chart-top svg").screenshot());
      expect(countColor(top, PALETTE[0]!), "top consumer bar pixels").to.be.greaterThan(200);
      const lorenz = readPng(await page.locator("#chart-lorenz svg").screenshot());
      expect(countColor(lorenz, PALETTE[0]!), "Lorenz curve pixels").to.be.greaterThan(100);
      // One employee of the four with hours used any this month: Gini (n − 1)/n = 0.75.
      const gini = (await page.getByTestId("gini").locator("tbody tr").last().textContent()) ?? "";
      // month, 4 employees, the GPU-hours used (sdk/format.ts formatHours: "~" when rounded), Gini.
      expect(gini).to.match(/^\d{4}-\d{2}4~?\d+(\.\d{1,6})?0\.750$/);
      await page.screenshot({ path: path.join(SHOTS, "auditor.png"), fullPage: true });
      expect(await seriousA11yViolations(page)).to.deep.equal([]);
      expect(await fitsWidth(page, 360)).to.deep.equal([]);
      await page.setViewportSize({ width: 1280, height: 900 });
    });

    it("downloads the report and an employee's statement", async () => {
      const html = await page.request.get(`${web!.url}api/audit/report?format=html&download=1`);
      expect(html.status()).to.equal(200);
      expect(html.headers()["content-disposition"]).to.match(/^attachment; filename="?ctk-audit-report-\d+\.html"?$/);
      expect(await html.text()).to.contain('id="chart-usage"');
      const st = await page.request.get(`${web!.url}api/audit/statement?wallet=${DEMO_EMPLOYEE}&format=csv&download=1`);
      expect(st.status()).to.equal(200);
      const csv = await st.text();
      expect(csv.split("\n")[0]).to.equal("date,block,event,class,lot_id,lot_expires,policy,gpu_hours,gpu_seconds,redemption_id,counterparty,note,tx_hash");
      expect(csv).to.contain(",granted,H100-80GB,").and.to.contain(",redeemed,H100-80GB,").and.to.contain(",refunded,H100-80GB,");
      expect((await page.request.get(`${web!.url}api/audit/statement?wallet=0x12`)).status()).to.equal(400);
    });

    it("shows a finding when the redeemer's receipt is tampered with", async () => {
      const file = path.join(devnet!.redeemer.receiptsDir!, "1.json");
      const original = readFileSync(file);
      try {
        writeFileSync(
          file,
          original.toString().replace(/"usedUnits":\s*"(\d+)"/, (_m, n: string) => `"usedUnits": "${BigInt(n) - 1n}"`),
        );
        await page.getByRole("button", { name: "Verify again" }).click();
        await page.locator('[data-testid="verify"][data-ok="false"]').waitFor({ timeout: 60_000 });
        const findings = (await page.getByTestId("findings").textContent()) ?? "";
        expect(findings).to.match(/receipt/i);
        expect(findings).to.contain("1");
        await page.screenshot({ path: path.join(SHOTS, "auditor-finding.png") });
      } finally {
        writeFileSync(file, original);
      }
      await page.close();
    });
  });

  describe("reclaim", () => {
    it("offers Reclaim once a running redemption is past its allotted time plus the settle grace, and the hours come back", async () => {
      const { page, wallet } = await open(DEMO_EMPLOYEE_KEY, "#/wallet");
      // A job that runs far longer (in real time) than this test: the redeemer launches it and it stays Running.
      const employee = createCtkClient({ rpcUrl: devnet!.rpcUrl, deployment: devnet!.deployment, account: DEMO_EMPLOYEE_KEY });
      const spec = { ...loadSpec(DEMO_SPEC), name: "long-run", env: { DEMO_SECONDS: "600" }, gpus: 1, hours: 0.25 };
      const h100 = (await getBalances(reader, DEMO_EMPLOYEE)).classes[0]!;
      const { id } = await redeemJob(employee, h100.classId, [h100.lots[0]!.lotId], spec);
      const row = page.getByTestId(`redemption-${id}`);
      await page.locator(`[data-testid="redemption-${id}"][data-status="Running"]`).waitFor({ timeout: 60_000 });
      const held = await getBalances(reader, DEMO_EMPLOYEE);
      expect(held.classes[0]!.redeemable).to.equal(h100.redeemable - 900n);
      // Not yet: the contract's reclaimableAt is a day (the settle grace) and 900 s away.
      await page.waitForFunction(
        (i) => /if it is not settled, you can reclaim it in 1 d 0 h/.test(document.querySelector(`[data-testid="redemption-${i}"]`)?.textContent ?? ""),
        String(id),
      );
      expect(await row.getByRole("button", { name: /^Reclaim/ }).count()).to.equal(0);

      // The chain's clock moves on past it (the redeemer never settles in time).
      const r = (await getRedemption({ publicClient: reader.publicClient, address: reader.computeToken.address }, id))!;
      const now = (await reader.publicClient.getBlock({ blockTag: "latest" })).timestamp;
      await increaseTimeAt(devnet!.rpcUrl, Number(r.reclaimableAt - now) + 1);
      await row.getByTestId(`reclaimable-${id}`).waitFor({ timeout: 15_000 });
      expect(await row.getByTestId(`reclaimable-${id}`).textContent()).to.equal("not settled in time:");
      expect(await row.textContent()).to.match(/running: its 900 s allotted ended 1 d 0 h ago, not settled yet/);
      expect(await seriousA11yViolations(page)).to.deep.equal([]);
      await page.screenshot({ path: path.join(SHOTS, "employee-reclaim.png"), fullPage: true });
      const sentBefore = wallet!.sent.length;
      await row.getByRole("button", { name: `Reclaim (full refund): redemption ${id}, 0.25 h` }).click();
      await page.locator(`[data-testid="redemption-${id}"][data-status="Reclaimed"]`).waitFor({ timeout: 30_000 });
      expect(wallet!.sent).to.have.length(sentBefore + 1);
      expect(await row.textContent()).to.contain("reclaimed: refunded 0.25 h");
      expect((await getRedemption({ publicClient: reader.publicClient, address: reader.computeToken.address }, id))!.status).to.equal("Reclaimed");
      // The balance shows the hours back.
      await page.waitForFunction((want) => document.querySelector('[data-testid="redeemable-H100-80GB"]')?.textContent === want, formatHours(h100.redeemable), { timeout: 15_000 });
      expect((await getBalances(reader, DEMO_EMPLOYEE)).classes[0]!.redeemable).to.equal(h100.redeemable);
      await page.close();
    });
  });
});

describe("the web app when no redeemer launches a redemption (Chromium, a test wallet, anvil)", function () {
  this.timeout(180_000);
  let dir: string;
  let devnet: Devnet | undefined;
  let web: WebServer | undefined;
  let context: BrowserContext | undefined;

  before(async function () {
    if (!CHROMIUM) this.skip(); // chromium is not installed: `apt-get install chromium` (.ci/run does)
    dir = mkdtempSync(path.join(tmpdir(), "ctk-web-noredeemer-"));
    devnet = await startDevnet({ port: await freePort(), dir: path.join(dir, "devnet"), redeemer: false, gateway: false });
    await grantDemoHours({ rpcUrl: devnet.rpcUrl, deployment: devnet.deployment, spec: loadSpec(DEMO_SPEC), className: "H100-80GB" });
    web = await startWebServer({ rpcUrl: devnet.rpcUrl, deployment: devnet.deployment, port: 0 });
    context = await launchChromium(path.join(dir, "chromium-profile"));
  });

  after(async () => {
    await context?.close();
    await web?.close();
    await devnet?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("offers Reclaim once the launch timeout has passed on the chain's clock, and the employee gets every hour back", async () => {
    const { page, wallet } = await pageWithWallet(context!, { key: DEMO_EMPLOYEE_KEY, rpcUrl: devnet!.rpcUrl, anvilChainId: devnet!.chainId });
    const foreign = watchRequests(page, web!.url.replace(/\/$/, ""));
    await page.goto(`${web!.url}#/wallet`);
    await page.getByRole("button", { name: "Connect Test Wallet" }).click();
    await page.waitForFunction((want) => document.querySelector('[data-testid="redeemable-H100-80GB"]')?.textContent === want, formatHours(DEMO_GRANT_UNITS));
    // Redeemed in the page; nobody launches it.
    await page.locator("#spec-file").setInputFiles(DEMO_SPEC);
    await page.getByLabel("Hardware class").selectOption("H100-80GB");
    await page.getByTestId("spec-problems").waitFor({ state: "detached" });
    await page.getByRole("button", { name: "Redeem" }).click();
    await page.getByTestId("redeem-result").filter({ hasText: "Redemption 1 requested" }).waitFor({ timeout: 30_000 });
    const row = page.getByTestId("redemption-1");
    await page.locator('[data-testid="redemption-1"][data-status="Requested"]').waitFor();
    await page.waitForFunction(() => document.querySelector('[data-testid="redeemable-H100-80GB"]')?.textContent === "0.98");
    const launchTimeout = await reader().publicClient.readContract({ ...reader().computeToken, functionName: "launchTimeout" });
    expect(Number(launchTimeout)).to.equal(3600);
    await page.waitForFunction(() =>
      /if it is not launched, you can reclaim it in (59 min|1 h 0 min)/.test(document.querySelector('[data-testid="redemption-1"]')?.textContent ?? ""),
    );
    expect(await row.getByRole("button", { name: /^Reclaim/ }).count()).to.equal(0);

    // An hour passes on the chain without a launch: the contract's reclaimableAt comes.
    const r = (await getRedemption({ publicClient: reader().publicClient, address: reader().computeToken.address }, 1n))!;
    const now = (await reader().publicClient.getBlock({ blockTag: "latest" })).timestamp;
    await increaseTimeAt(devnet!.rpcUrl, Number(r.reclaimableAt - now) + 1);
    await row.getByTestId("reclaimable-1").waitFor({ timeout: 15_000 });
    expect(await row.getByTestId("reclaimable-1").textContent()).to.equal("not launched in time:");
    expect(await seriousA11yViolations(page)).to.deep.equal([]);
    expect(await fitsWidth(page, 360)).to.deep.equal([]);
    await page.setViewportSize({ width: 1280, height: 900 });
    await row.getByRole("button", { name: "Reclaim (full refund): redemption 1, 0.02 h" }).click();
    await page.locator('[data-testid="redemption-1"][data-status="Reclaimed"]').waitFor({ timeout: 30_000 });
    expect(wallet.sent).to.have.length(2);
    expect(await row.textContent()).to.contain("reclaimed: refunded 0.02 h");
    await page.waitForFunction((want) => document.querySelector('[data-testid="redeemable-H100-80GB"]')?.textContent === want, formatHours(DEMO_GRANT_UNITS), { timeout: 15_000 });
    expect((await getBalances(reader(), DEMO_EMPLOYEE)).totals.redeemable).to.equal(DEMO_GRANT_UNITS);
    await page.close();
    expect(foreign, "requests that left the machine").to.deep.equal([]);
  });

  it("refuses to check a spec against another local chain's redeemer (same chain id and contract), and sends nothing", async () => {
    // A redeemer of another devnet: its chain has this one's id and addresses, not its deployment block.
    const policy = {
      allowedRegistries: ["registry.example.com"],
      requireDigest: true,
      maxSpecBytes: 8192,
      executor: "local",
      allowedCommands: null,
      commandRequired: false,
      allowedSecrets: [],
      classes: [{ classId: 1, name: "H100-80GB", maxGpusPerJob: 8, active: true }],
      computeToken: devnet!.deployment.computeToken,
      chainId: devnet!.chainId,
      deployBlockHash: `0x${"ab".repeat(32)}`,
    };
    const other = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(policy));
    });
    await new Promise<void>((r) => other.listen(0, "127.0.0.1", r));
    const otherWeb = await startWebServer({
      rpcUrl: devnet!.rpcUrl,
      deployment: devnet!.deployment,
      port: 0,
      redeemerApi: `http://127.0.0.1:${(other.address() as AddressInfo).port}`,
    });
    try {
      const { page, wallet } = await pageWithWallet(context!, { key: DEMO_EMPLOYEE_KEY, rpcUrl: devnet!.rpcUrl, anvilChainId: devnet!.chainId });
      await page.goto(`${otherWeb.url}#/wallet`);
      await page.getByRole("button", { name: "Connect Test Wallet" }).click();
      await page.locator("#spec-file").setInputFiles(DEMO_SPEC);
      await page.getByLabel("Hardware class").selectOption("H100-80GB");
      const problems = page.getByTestId("spec-problems");
      const here = (await reader().publicClient.getBlock({ blockNumber: BigInt(devnet!.deployment.deployBlock) })).hash;
      await page.waitForFunction(
        (want) => document.querySelector('[data-testid="spec-problems"]')?.textContent?.includes(want),
        `it is not this deployment's: the redeemer reads another chain with the same id and contract (its deployment block is ${policy.deployBlockHash}, here ${here})`,
      );
      expect(await problems.textContent()).to.contain("the spec cannot be checked, so nothing will be sent");
      expect(await page.getByRole("button", { name: "Redeem" }).isDisabled()).to.equal(true);
      expect(wallet.sent).to.have.length(0);
      await page.close();
    } finally {
      await otherWeb.close();
      other.closeAllConnections();
      await new Promise<void>((r) => other.close(() => r()));
    }
  });

  const reader = () => createCtkClient({ rpcUrl: devnet!.rpcUrl, deployment: devnet!.deployment });
});
