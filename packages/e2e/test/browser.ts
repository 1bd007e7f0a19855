import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { ROOT } from "../src/index.js";

/**
 * Debian's `chromium` package, driven by playwright-core: nothing downloads a browser. CHROMIUM_PATH
 * points elsewhere. A missing browser is a failure with the fix in its message, never a skip.
 */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Where browser tests write screenshots (git-ignored). */
export const OUTPUT_DIR = join(ROOT, "packages/e2e/test-output");

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `the browser tests need Chromium at ${CHROMIUM} and it is not there: install Debian's package ` +
        "(sudo apt-get install -y chromium; .ci/run does this) or set CHROMIUM_PATH to a Chromium binary",
    );
  }
  mkdirSync(OUTPUT_DIR, { recursive: true });
  // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
}

/** A page at 1280 x 900 that records every console error and uncaught page error into `errors`. */
export async function openPage(browser: Browser, errors: string[]): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
  return page;
}

/** Opens the dashboard and signs in with `token` through the login form. */
export async function signIn(page: Page, baseUrl: string, token: string): Promise<void> {
  await page.goto(`${baseUrl}/ui/`);
  await page.fill("input[name=token]", token);
  await page.press("input[name=token]", "Enter");
  await page.waitForSelector("[data-testid=live]");
}
