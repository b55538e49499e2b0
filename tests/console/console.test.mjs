// Drives the web console of a running noisegate in headless Chromium (tests/it/console.rs
// starts the service, feeds it an incident, runs this, then checks the silence took effect).
//
//   node console.test.mjs ADMIN_URL [SCREENSHOT_DIR]
//
// Chromium is the system's: $CHROMIUM, else /usr/bin/chromium. Exits non-zero, saying why,
// when the console does not show what it should.
import { chromium } from "playwright-core";

const [url, screenshots] = process.argv.slice(2);
const STEP = 20000;

function fail(message) {
  console.error("console test failed: " + message);
  process.exit(1);
}
setTimeout(() => fail("took over 90 s"), 90000).unref();

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
const page = await browser.newPage({ viewport: { width: 1200, height: 860 } });
const errors = [];
page.on("pageerror", (error) => errors.push(error.message));
page.on("requestfailed", (request) => {
  const reason = request.failure()?.errorText ?? "";
  // Navigating to another view cancels the poll in flight: that is the browser, not the page.
  if (reason !== "net::ERR_ABORTED") errors.push(`request failed: ${request.url()} (${reason})`);
});
const shot = async (name) => {
  if (screenshots) await page.screenshot({ path: `${screenshots}/${name}.png`, fullPage: true });
};

// The incident list shows the incident the test opened.
await page.goto(url + "/console/?interval=200");
await page.waitForSelector("#incidents tbody tr", { timeout: STEP }).catch(() => fail("no incident listed"));
const list = await page.textContent("#incidents tbody");
if (!list.includes("DiskFull")) fail("the incident list lacks DiskFull: " + list);
if (!list.includes("page high")) fail("the incident list lacks its urgency: " + list);

// The live chart draws alerts in and pages out.
await page
  .waitForFunction(() => (document.querySelector("#chart path.alerts").getAttribute("d") || "").split("L").length > 2, null, { timeout: STEP })
  .catch(() => fail("the chart was not drawn"));
const noise = await page.textContent("#noise");
if (!/noise ratio|no alert events/.test(noise)) fail("no noise ratio: " + noise);
await shot("console-incidents");

// An incident: its alerts, explanation and timeline.
await page.click("#incidents tbody tr");
await page.waitForSelector("#incident-alerts tbody tr", { timeout: STEP }).catch(() => fail("no incident detail"));
const alerts = await page.textContent("#incident-alerts");
if (!alerts.includes('alertname="DiskFull"')) fail("the incident's alerts lack DiskFull: " + alerts);
const why = await page.textContent("#incident-why");
if (!why.includes("severity")) fail("no explanation: " + why);
await page.waitForSelector("#incident-timeline li", { timeout: STEP }).catch(() => fail("no timeline"));
const timeline = await page.textContent("#incident-timeline");
if (!timeline.includes("paged")) fail("the timeline lacks the page: " + timeline);
// Nothing like it happened before on a fresh instance: the "Seen before" list says so.
if (!(await page.isVisible("#incident-similar-empty"))) fail("no 'seen before' section drawn");
await shot("console-incident");

// A silence created in the page.
await page.goto(url + "/console/?interval=200#/silences");
await page.waitForSelector("#silence-form");
await page.fill("#silence-matchers", 'alertname="Muted"');
await page.fill("#silence-duration", "1h");
await page.fill("#silence-comment", "console test");
await page.click("#silence-create");
await page
  .waitForFunction(
    () => [...document.querySelectorAll("#silences tbody tr")].some(
      (row) => row.textContent.includes('alertname="Muted"') && row.dataset.state === "active"),
    null, { timeout: STEP })
  .catch(async () => fail("the silence is not listed as active: " + (await page.textContent("#silence-result"))));
await shot("console-silences");

// The on-call report of the last 7 days: the page, a plain route's page, in the frame.
await page.goto(url + "/console/?interval=200#/oncall");
const report = page.frameLocator("#oncall-report");
await report.locator("svg.days rect.mark").first().waitFor({ timeout: STEP }).catch(() => fail("no on-call report shown"));
const reportText = await report.locator("body").textContent();
if (!reportText.includes("Without noisegate")) fail("the on-call report lacks the plain route's pages: " + reportText);
const dayBars = await report.locator("svg.days rect.mark.high").count();
const shiftBars = await report.locator("svg.shifts rect.mark").count();
if (dayBars !== 1 || shiftBars !== 1) fail(`the on-call charts have ${dayBars} day and ${shiftBars} shift bars, not 1 and 1`);
const download = await page.getAttribute("#oncall-download", "href");
if (!download.startsWith("blob:")) fail("no report to download: " + download);
await shot("console-oncall");

// The config in force, secrets redacted.
await page.goto(url + "/console/#/config");
await page.waitForFunction(() => document.querySelector("#config").textContent.includes("route"), null, { timeout: STEP })
  .catch(() => fail("no config shown"));
const config = await page.textContent("#config");
if (!config.includes("<redacted>")) fail("the routing key is not redacted: " + config);

await browser.close();
if (errors.length) fail("errors in the page: " + errors.join("; "));
console.log("console ok");
