// The board through nginx in front of two instances (docs/operations.md, "Two instances on one host"), in real
// headless Chromium driven by playwright-core.
//
//   node cluster.test.mjs <nginx base URL> <page loads>
//
// Each page load is a new person in a fresh browser context: the board gets a token from POST /auth/dev-token and
// connects to the hub, both through nginx. Every load must reach "connected" (a token one instance signed and the
// other refused would leave it on "Connecting…" with 401s), and a note added on the first page must show on the
// last. Any console error or warning fails the run.
//
// The last line printed is a JSON summary: {"ok":true,...} or {"ok":false,"error":...}. Exit code 0 only when ok.

import { chromium } from "playwright-core";
import { Failure, assert, eventually } from "./checks.mjs";

const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

const [base, loadsArg] = process.argv.slice(2);
if (!base || !loadsArg) {
  console.error("usage: node cluster.test.mjs <nginx base URL> <page loads>");
  process.exit(2);
}
const BASE = new URL(base);
const LOADS = Number(loadsArg);
const started = Date.now();
const log = text => console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${text}`);


const statusOf = page => page.$eval("#status", el => ({ connection: el.dataset.connection, text: el.textContent.trim() }));
const noteTexts = page => page.$$eval(".note textarea", els => els.map(el => el.value));

const problems = [];
const summary = { ok: false, loads: LOADS };
let browser;
try {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60000 });
  const roomId = `cluster-${Date.now().toString(36)}`;
  const pages = [];
  for (let i = 0; i < LOADS; i++) {
    const who = `Person ${i + 1}`;
    const context = await browser.newContext({ viewport: { width: 1024, height: 700 } });
    await context.addInitScript(name => localStorage.setItem("collabhub.name", name), who);
    const page = await context.newPage();
    page.on("console", m => ["error", "warning"].includes(m.type()) && problems.push(`${who}: console.${m.type()}: ${m.text()}`));
    page.on("pageerror", error => problems.push(`${who}: uncaught ${error?.stack ?? error}`));
    const unauthorized = [];
    page.on("response", r => r.status() === 401 && unauthorized.push(new URL(r.url()).pathname));
    await page.goto(`${BASE.origin}/#room=${roomId}`);
    await page.waitForSelector("body[data-ready=true]");
    await eventually(`${who}'s board to connect (401s: ${unauthorized.join(", ") || "none"})`, () => statusOf(page), s => s.connection === "connected");
    assert(unauthorized.length === 0, `${who}: requests answered 401: ${unauthorized.join(", ")}`);
    pages.push(page);
    log(`${who}: connected`);
  }

  await pages[0].click("#add-note");
  await eventually("the new note's text to have focus", () => pages[0].evaluate(() => document.activeElement?.closest(".note") !== null));
  await pages[0].keyboard.type("Seen on every instance");
  await pages[0].keyboard.press("Escape");
  await eventually("the last page to show the first page's note", () => noteTexts(pages.at(-1)), texts => texts.includes("Seen on every instance"));
  assert(problems.length === 0, `console errors or warnings:\n  ${problems.join("\n  ")}`);
  summary.ok = true;
} catch (error) {
  summary.error = error instanceof Failure ? error.message : String(error?.stack ?? error);
  if (problems.length > 0) {
    summary.consoleProblems = problems;
  }
  console.error(`FAILED: ${summary.error}`);
} finally {
  await browser?.close().catch(() => {});
  summary.seconds = Math.round((Date.now() - started) / 100) / 10;
  console.log(JSON.stringify(summary));
  process.exitCode = summary.ok ? 0 : 1;
}
