// The operator's status page (wwwroot/status/) in real headless Chromium, driven by playwright-core, against a
// running cluster (Hub.Tests/StatusPageTests.cs starts it: two instances on one Redis, one client writing).
//
//   node status.test.mjs <server base URL> <busy room> <instances> [output folder] [--update-docs]
//
// Opens /status, which must come under the board's Content-Security-Policy, and waits until it shows every instance
// with its figures, writes and events per second above zero and drawn on the chart, the busy room among the busiest,
// the store and Redis healthy, and a warning. Any console error or warning (a CSP violation among them) or uncaught
// page error fails the run. A screenshot goes to the output folder (default: TestResults/browser) as status.png;
// --update-docs also copies it to docs/status.png.
//
// The last line printed is a JSON summary: {"ok":true,...} or {"ok":false,"error":...}. Exit code 0 only when ok.

import { chromium } from "playwright-core";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { assert, eventually as poll } from "./checks.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, "..", "..");
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

const argv = process.argv.slice(2);
const updateDocs = argv.includes("--update-docs");
const positional = argv.filter(a => !a.startsWith("--"));
if (positional.length < 3) {
  console.error("usage: node status.test.mjs <server base URL> <busy room> <instances> [output folder] [--update-docs]");
  process.exit(2);
}
const BASE = new URL(positional[0]);
const ROOM = positional[1];
const INSTANCES = Number(positional[2]);
const OUT = path.resolve(positional[3] ?? path.join(REPO, "TestResults", "browser"));
fs.mkdirSync(OUT, { recursive: true });

// The page draws a sample every 2 s: poll less often, and wait longer, than the board's tests.
const eventually = (description, probe, accept = Boolean) => poll(description, probe, accept, 20000, 200);

const problems = [];
let browser;
try {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await context.newPage();
  page.on("console", message => {
    if (message.type() === "error" || message.type() === "warning") {
      problems.push(`console.${message.type()}: ${message.text()}`);
    }
  });
  page.on("pageerror", error => problems.push(`uncaught ${error?.stack ?? error}`));

  // /status redirects to /status/ (the static page); the CSP must forbid inline scripts and styles.
  const response = await page.goto(new URL("/status", BASE).href);
  assert(response?.ok(), `GET /status answered ${response?.status()}`);
  assert(new URL(page.url()).pathname === "/status/", `GET /status ended at ${page.url()}`);
  const csp = response.headers()["content-security-policy"] ?? "";
  for (const name of ["script-src", "style-src"]) {
    const directive = csp.split(";").map(d => d.trim()).find(d => d.startsWith(`${name} `)) ?? "";
    assert(directive && !directive.includes("unsafe-"), `the CSP's ${name} must be there without unsafe-*: ${csp}`);
  }

  await eventually("the page to be live", () => page.textContent("#state"), text => text?.startsWith("Live"));
  const instances = await eventually(`${INSTANCES} instances, each with its figures`,
    () => page.$$eval("#instances tr", rows => rows.map(row => [...row.cells].map(cell => cell.textContent))),
    rows => rows.length === INSTANCES && rows.every(cells => cells.length === 6 && cells[1] !== "–"));
  assert(instances.filter(cells => cells[0].endsWith("this one")).length === 1, `exactly one row is this instance: ${JSON.stringify(instances)}`);

  const writes = await eventually("writes per second above zero", async () => Number(await page.textContent("#now-writes")), value => value > 0);
  const events = await eventually("events per second above zero", async () => Number(await page.textContent("#now-events")), value => value > 0);
  await eventually(`room ${ROOM} among the busiest`, () => page.$$eval("#rooms td.id", cells => cells.map(cell => cell.textContent)),
    rooms => rooms.includes(ROOM));
  const health = await eventually("the store and Redis healthy", () => page.$$eval("#health li", items => Object.fromEntries(
    items.map(item => [item.dataset.check, item.dataset.status]))), checks => checks.store === "Healthy" && checks.redis === "Healthy");
  const warnings = await eventually("a warning listed", () => page.$$eval("#warnings li", items => items.map(item => item.textContent)),
    items => items.some(text => text.includes("Rate limit")));

  // The chart: pixels of the writes colour (#4f46e5) and of the events colour (#0e9f6e) are drawn.
  const drawn = await eventually("both lines drawn on the chart", () => page.$eval("#chart", canvas => {
    // Read from a copy, so the page's own canvas is never read back (Chromium warns after a few readbacks).
    const copy = document.createElement("canvas");
    copy.width = canvas.width;
    copy.height = canvas.height;
    const context = copy.getContext("2d", { willReadFrequently: true });
    context.drawImage(canvas, 0, 0);
    const { data } = context.getImageData(0, 0, copy.width, copy.height);
    const near = (i, [r, g, b]) => Math.abs(data[i] - r) < 40 && Math.abs(data[i + 1] - g) < 40 && Math.abs(data[i + 2] - b) < 40 && data[i + 3] > 200;
    let writes = 0, events = 0;
    for (let i = 0; i < data.length; i += 4) {
      writes += near(i, [0x4f, 0x46, 0xe5]) ? 1 : 0;
      events += near(i, [0x0e, 0x9f, 0x6e]) ? 1 : 0;
    }
    return { writes, events };
  }), counts => counts.writes > 8 && counts.events > 8); // a line of a few samples, or one along the axis, is still a few pixels

  const screenshot = path.join(OUT, "status.png");
  await page.screenshot({ path: screenshot, fullPage: true });
  if (updateDocs) {
    fs.copyFileSync(screenshot, path.join(REPO, "docs", "status.png"));
  }
  assert(problems.length === 0, `the page logged problems:\n${problems.join("\n")}`);
  console.log(JSON.stringify({ ok: true, instances: instances.length, writes, events, health, warnings: warnings.length, drawn, screenshot }));
  await browser.close();
  process.exit(0);
} catch (error) {
  console.log(JSON.stringify({ ok: false, error: String(error?.stack ?? error), problems }));
  await browser?.close().catch(() => {});
  process.exit(1);
}
