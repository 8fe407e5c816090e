import { existsSync } from "node:fs";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";

/**
 * Debian's Chromium, driven by playwright-core (which ships no browser of its own). Tests that
 * need it skip, saying why, where it is not installed, as the SSH tests do without sshd.
 */
export const CHROMIUM = "/usr/bin/chromium";
export const chromiumAvailable = existsSync(CHROMIUM);
export const chromiumMissingMessage = `${CHROMIUM} is missing: install it with \`apt-get install -y chromium\` (.ci/run does) to run the browser tests`;

export function launchChromium(): Promise<Browser> {
  // Headless, and no sandbox of Chromium's own: CI runs as root, where Chromium refuses its sandbox.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, chromiumSandbox: false });
}

/**
 * A fresh browser profile (its own cookies and storage) with a page that records what went wrong
 * in it: uncaught errors, console errors (a Content-Security-Policy violation is one), and
 * requests that failed or were refused (4xx, 5xx). A test checks `problems` once it is done.
 */
export async function openPage(browser: Browser, baseURL: string): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
  const context = await browser.newContext({ baseURL, viewport: { width: 1280, height: 800 }, timezoneId: "UTC", locale: "en-GB" });
  // Every Playwright wait gives up (and throws) after this long, not its default 30 s.
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  const problems: string[] = [];
  watch(page, problems);
  return { context, page, problems };
}

export function watch(page: Page, problems: string[]): void {
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    // A refused request is reported below, with its method and path, which this message lacks.
    if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) problems.push(`console error: ${message.text()}`);
  });
  page.on("response", (response) => {
    if (response.status() >= 400) {
      const url = new URL(response.url());
      problems.push(`${response.status()} ${response.request().method()} ${url.pathname}${url.search}`);
    }
  });
  page.on("requestfailed", (request) => {
    // A stream or fetch the page itself abandons by navigating away is not a failure.
    if (request.failure()?.errorText !== "net::ERR_ABORTED") problems.push(`failed: ${request.method()} ${request.url()}: ${request.failure()?.errorText}`);
  });
}
