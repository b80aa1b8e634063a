// Debian's Chromium through playwright-core, and helpers to read the admin
// page the way a person does (visible text) and to record its requests.
import { chromium } from "playwright-core";
import { ADMIN_TOKEN, CLOCK } from "./server.mjs";

/** Launches headless Chromium (CHROMIUM_PATH, from scripts/env.sh). */
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/**
 * A fresh tab (its own sessionStorage) on a laptop-sized screen, numbers in
 * en-US, living at the suite's instant (or `now`, ISO): the page's `Date` is
 * fixed at it (playwright-core's clock; timers still run), and every request
 * it sends carries `x-now` with the same instant, so the page and the Worker
 * agree.
 */
export async function newPage(browser, { width = 1280, height = 800, now = CLOCK.iso } = {}) {
  const context = await browser.newContext({
    locale: "en-US",
    viewport: { width, height },
    extraHTTPHeaders: { "x-now": now },
  });
  const page = await context.newPage();
  await page.clock.setFixedTime(new Date(now));
  page.errors = [];
  page.on("pageerror", (err) => page.errors.push(err.message));
  // Anything the page's Content-Security-Policy refused counts as an error.
  page.on("console", (msg) => {
    if (/Content Security Policy/i.test(msg.text())) page.errors.push(`CSP: ${msg.text()}`);
  });
  return page;
}

/** Opens the page and signs in with `token`; waits for the overview unless told not to. */
export async function signIn(page, origin, token = ADMIN_TOKEN, { wait = true } = {}) {
  await page.goto(`${origin}/`);
  await page.fill("#token", token);
  await page.click("#sign-in button[type=submit]");
  if (wait) await page.waitForSelector("#ports, #no-ports");
}

/** Opens a port's page from the overview and waits until it is interactive. */
export async function openPort(page, port) {
  await page.click(`tr[data-port="${port}"] a.port-link`);
  await page.waitForSelector("#budget-form");
  await page.waitForSelector('#main[data-ready="port"]');
}

/** Every request the page sends from now on, as `METHOD path`. */
export function recordRequests(page) {
  const seen = [];
  page.on("request", (req) => seen.push({ method: req.method(), path: new URL(req.url()).pathname, body: req.postData() }));
  return seen;
}

/** A token count as the page prints it (`12,345`, `unlimited`) back to a number (null for unlimited). */
export function parseTokens(text) {
  const t = text.trim();
  if (t === "unlimited") return null;
  if (!/^[0-9,]+$/.test(t)) throw new Error(`not a token count: ${JSON.stringify(t)}`);
  return Number(t.replace(/,/g, ""));
}

/** Dollars as the page prints them (`$1,234.50`, `$0.000125`) back to a number; null for `unpriced`. */
export function parseUsd(text) {
  const t = text.trim();
  if (t === "unpriced") return null;
  if (!/^\$[0-9,]+\.[0-9]+$/.test(t)) throw new Error(`not an amount of dollars: ${JSON.stringify(t)}`);
  return Number(t.slice(1).replace(/,/g, ""));
}

/** The token count shown in the element `[data-field=name]` under `scope`. */
export async function shownTokens(page, name, scope = "#summary") {
  return parseTokens(await page.textContent(`${scope} [data-field="${name}"]`));
}
