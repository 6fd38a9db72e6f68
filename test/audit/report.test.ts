import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { PALETTE } from "../../scripts/audit/renderReport.js";
import { runCtk } from "../wallet/support/runCtk.js";
import { buildHistory, type History } from "./support/history.js";
import { countColor, readPng } from "./support/png.js";

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));

describe("ctk audit report / statement", function () {
  this.timeout(300_000);
  let h: History;
  let dir: string;
  let deploymentFile: string;
  const ctk = (...args: string[]) => runCtk(["--rpc", h.chain.anvil.rpcUrl, "--deployment", deploymentFile, ...args]);

  before(async function () {
    h = await buildHistory();
    dir = mkdtempSync(path.join(tmpdir(), "ctk-report-"));
    deploymentFile = path.join(dir, "deployment.json");
    writeFileSync(deploymentFile, JSON.stringify(h.chain.deployment));
  });
  after(async function () {
    await h?.chain.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("reports per holder and class, in total and per month, as JSON (GPU-seconds) and CSV (GPU-hours)", async function () {
    const jsonFile = path.join(dir, "report.json");
    const run = await ctk("audit", "report", "--format", "json", "--out", jsonFile, "--no-progress");
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.match(/^wrote .*report\.json: 5 holders, 2 classes, \d{4}-\d{2} to \d{4}-\d{2} \(blocks \d+\.\.\d+\)\n$/);
    const doc = JSON.parse(readFileSync(jsonFile, "utf8")) as {
      holders: { holder: string; class: string; total: Record<string, number>; months: Record<string, Record<string, number>> }[];
    };
    const e0 = doc.holders.find((r) => r.holder === h.employees[0] && r.class === "H100-80GB")!;
    expect(e0.total).to.deep.include({
      granted: 396000,
      sent: 7200,
      redeemed: 46800,
      consumed: 30000,
      refunded: 13200,
      expired: 3600,
      convertedIn: 3600,
      clawedBack: 0,
    });
    const months = Object.values(e0.months);
    expect(months.reduce((s, m) => s + BigInt(m.granted!), 0n)).to.equal(396000n);
    const e2 = doc.holders.find((r) => r.holder === h.employees[2])!;
    expect(e2.total.clawedBack).to.equal(72000);
    const e1a100 = doc.holders.find((r) => r.holder === h.employees[1] && r.class === "A100-80GB")!;
    expect(e1a100.total.expired).to.equal(18000);

    const csvFile = path.join(dir, "report.csv");
    expect((await ctk("audit", "report", "--format", "csv", "--out", csvFile, "--no-progress")).code).to.equal(0);
    const csv = readFileSync(csvFile, "utf8").trim().split("\n");
    expect(csv[0]).to.equal(
      "holder,class,period,granted_h,received_h,sent_h,redeemed_h,consumed_h,refunded_h,expired_h,clawed_back_h,converted_in_h,converted_out_h,recovered_in_h,recovered_out_h," +
        "granted_s,received_s,sent_s,redeemed_s,consumed_s,refunded_s,expired_s,clawed_back_s,converted_in_s,converted_out_s,recovered_in_s,recovered_out_s",
    );
    expect(csv).to.include(`${h.employees[0]},H100-80GB,total,110,0,2,13,8.333333,3.666667,1,0,1,0,0,0,396000,0,7200,46800,30000,13200,3600,0,3600,0,0,0`);
  });

  it("writes a statement of one employee's history whose entries add up to the closing balance", async function () {
    const text = await ctk("audit", "statement", "--wallet", h.employees[0]!, "--no-progress");
    expect(text.code, text.stderr).to.equal(0);
    expect(text.stdout).to.include(`statement for ${h.employees[0]}`);
    for (const word of ["granted", "sent", "redeemed", "consumed", "refunded", "converted out", "converted in", "expired"]) expect(text.stdout).to.include(word);
    expect(text.stdout).to.match(/0x[0-9a-f]{64}/);

    const json = await ctk("--json", "audit", "statement", "--wallet", h.employees[0]!, "--no-progress");
    const doc = JSON.parse(json.stdout) as {
      entries: { event: string; timestamp: string; lotId: string; units: number; change: number | null; hours: number | null; txHash: string; redemptionId?: number }[];
      closingBalances: { lotId: string; units: number }[];
    };
    const byLot = new Map<string, number>();
    for (const e of doc.entries) {
      if (e.change === null) continue; // consumed: informational
      // (not chai's closeTo: hardhat's matchers make it bigint-only in the full suite)
      expect(Math.abs(e.hours! - e.change / 3600) < 1e-9, `hours ${e.hours} are the change ${e.change} as a number`).to.equal(true);
      byLot.set(e.lotId, (byLot.get(e.lotId) ?? 0) + e.change);
    }
    const closing = new Map(doc.closingBalances.map((c) => [c.lotId, c.units]));
    for (const [lot, units] of byLot) expect(units, `lot ${lot}`).to.equal(closing.get(lot) ?? 0);
    expect(doc.entries.every((e) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/.test(e.timestamp))).to.equal(true);
    expect(doc.entries.filter((e) => e.redemptionId === 1).map((e) => e.event)).to.deep.equal(["redeemed", "redeemed", "refunded", "refunded", "consumed"]);
  });

  it("shows exact amounts: every GPU-second, so no non-zero amount reads 0 and the rows add up", async function () {
    const text = await ctk("audit", "statement", "--wallet", h.employees[0]!, "--no-progress");
    expect(text.code, text.stderr).to.equal(0);
    // 30000 GPU-seconds consumed: 8.333333 h, not 8.33; and the exact seconds beside the hours.
    expect(text.stdout).to.match(/GPU-seconds/);
    expect(text.stdout).to.match(/\(8\.333333\)\s+\(30000\)/);
    expect(text.stdout).not.to.match(/\b8\.33\b(?!3)/);
    expect(text.stdout).to.match(/: [\d.,]+ h \(\d+ GPU-seconds\)/);
  });

  it("names holders by employee id when given HR's employees file; the month and class columns do not wrap; an empty chart has a 0-to-1 axis", async function () {
    const employees = path.join(dir, "employees.csv");
    writeFileSync(employees, `employee_id,wallet\nE-ALICE,${h.employees[0]}\nE-BOB,${h.employees[1]}\n`);
    const csvFile = path.join(dir, "named.csv");
    const run = await ctk("audit", "report", "--format", "csv", "--out", csvFile, "--employees", employees, "--no-progress");
    expect(run.code, run.stderr).to.equal(0);
    const csv = readFileSync(csvFile, "utf8").split("\n");
    expect(csv[0]).to.match(/^holder,employee_id,class,period,/);
    expect(csv).to.satisfy((rows: string[]) => rows.some((r) => r.startsWith(`${h.employees[0]},E-ALICE,H100-80GB,total,`)));
    const jsonFile = path.join(dir, "named.json");
    expect((await ctk("audit", "report", "--format", "json", "--out", jsonFile, "--employees", employees, "--no-progress")).code).to.equal(0);
    const doc = JSON.parse(readFileSync(jsonFile, "utf8")) as { holders: { holder: string; employee: string | null }[] };
    expect(doc.holders.find((r) => r.holder === h.employees[1])?.employee).to.equal("E-BOB");
    expect(doc.holders.find((r) => r.holder === h.employees[2])?.employee).to.equal(null);

    const htmlFile = path.join(dir, "named.html");
    expect((await ctk("audit", "report", "--format", "html", "--out", htmlFile, "--employees", employees, "--no-progress")).code).to.equal(0);
    const html = readFileSync(htmlFile, "utf8");
    expect(html).to.include(`E-ALICE <span class="addr">${h.employees[0]}</span>`);
    expect(html).to.include("th,td{white-space:nowrap}");

    const { stackedBars } = await import("../../scripts/audit/renderReport.js");
    const empty = stackedBars("e", "nothing", ["2026-01"], [{ name: "H100-80GB", color: "#000", values: [0] }], "GPU-hours");
    const ticks = [...empty.matchAll(/text-anchor="end" font-size="11">([^<]+)</g)].map((m) => m[1]);
    expect(ticks).to.deep.equal(["0", "0.2", "0.4", "0.6", "0.8", "1"]);
  });

  it("renders the HTML report in headless Chromium with no network and no errors, and draws the charts", async function () {
    if (!CHROMIUM) {
      this.skip(); // chromium is not installed: `apt-get install chromium` (.ci/run does) to run this test
    }
    const htmlFile = path.join(dir, "report.html");
    const run = await ctk("audit", "report", "--format", "html", "--out", htmlFile, "--no-progress");
    expect(run.code, run.stderr).to.equal(0);
    const html = readFileSync(htmlFile, "utf8");
    // Self-contained: no external URL to load (the SVG namespace is an identifier, not a fetch).
    expect(html.replace(/xmlns="http:\/\/www\.w3\.org\/2000\/svg"/g, "")).to.not.match(/(src|href)=|https?:\/\/|@import|<script/i);

    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    try {
      const context = await browser.newContext({ viewport: { width: 1600, height: 1200 }, offline: true });
      const page = await context.newPage();
      const problems: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
      });
      page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
      page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()}`));
      const requests: string[] = [];
      page.on("request", (r) => requests.push(r.url()));
      await page.goto(`file://${htmlFile}`, { waitUntil: "load" });
      expect(problems).to.deep.equal([]);
      expect(requests).to.deep.equal([`file://${htmlFile}`]);
      for (const id of ["chart-usage", "chart-expiry", "chart-top"]) {
        const bars = await page.locator(`#${id} rect.bar`).evaluateAll(
          (els) =>
            els.filter((e) => {
              const b = (e as SVGGraphicsElement).getBoundingClientRect();
              return b.width > 0 && b.height > 0;
            }).length,
        );
        expect(bars, `${id} bars`).to.be.greaterThan(0);
      }
      const shot = path.join(dir, "report.png");
      await page.screenshot({ path: shot, fullPage: true });
      // The pixels: each chart shows its series colours (A100 = palette 0, H100 = palette 1).
      const usage = readPng(await page.locator("#chart-usage svg").screenshot());
      expect(countColor(usage, PALETTE[1]!), "H100 usage bar pixels").to.be.greaterThan(500);
      const expiry = readPng(await page.locator("#chart-expiry svg").screenshot());
      expect(countColor(expiry, PALETTE[0]!), "A100 expiry bar pixels").to.be.greaterThan(500);
      expect(countColor(expiry, PALETTE[1]!), "H100 expiry bar pixels").to.be.greaterThan(100);
      const topChart = readPng(await page.locator("#chart-top svg").screenshot());
      expect(countColor(topChart, PALETTE[0]!), "top consumer bar pixels").to.be.greaterThan(500);
      expect(readPng(readFileSync(shot)).width).to.equal(1600);
    } finally {
      await browser.close();
    }
  });
});
