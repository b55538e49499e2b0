// Opens a self-contained HTML report (the on-call report) in headless Chromium and checks that
// it renders without an error and that each selector matches the expected number of elements
// (tests/it/oncall.rs works the counts out from the report's JSON).
//
//   node report.test.mjs REPORT.html '{"rect.mark": 3, ...}' [SCREENSHOT.png]
//
// Chromium is the system's: $CHROMIUM, else /usr/bin/chromium. Exits non-zero, saying why.
import { chromium } from "playwright-core";
import { pathToFileURL } from "node:url";

const [file, expectedJson, screenshot] = process.argv.slice(2);

function fail(message) {
  console.error("report test failed: " + message);
  process.exit(1);
}
setTimeout(() => fail("took over 60 s"), 60000).unref();

const expected = JSON.parse(expectedJson || "{}");
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
const errors = [];
page.on("pageerror", (error) => errors.push(error.message));
page.on("console", (message) => { if (message.type() === "error") errors.push(message.text()); });
// One file: nothing may be fetched.
page.on("request", (request) => {
  if (!request.url().startsWith("file:")) errors.push("fetched " + request.url());
});
await page.goto(pathToFileURL(file).href, { waitUntil: "load" });
const found = {};
for (const selector of Object.keys(expected)) found[selector] = await page.locator(selector).count();
const wrong = Object.keys(expected).filter((selector) => found[selector] !== expected[selector]);
if (wrong.length) fail("marks: expected " + JSON.stringify(expected) + ", found " + JSON.stringify(found));
// Every chart mark has a size and a place.
const bad = await page.$$eval("svg.chart .mark", (marks) =>
  marks.filter((mark) => { const box = mark.getBBox(); return !(box.width > 0 && box.height > 0); }).length);
if (bad) fail(`${bad} chart marks are empty`);
if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
await browser.close();
if (errors.length) fail("errors in the page: " + errors.join("; "));
console.log("report ok " + JSON.stringify(found));
