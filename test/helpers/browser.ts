/** Headless Debian Chromium through playwright-core (no browser download). */
import { existsSync } from 'node:fs';
import { type Browser, chromium, type Page } from 'playwright-core';
import { onTestFinished } from 'vitest';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** True when the Debian chromium binary is installed. */
export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM);
}

/** Launches a headless Chromium closed after the test. */
export async function launchBrowser(): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
  onTestFinished(() => browser.close());
  return browser;
}

/** Whether e2e prerequisites are present; CI sets STICKYLB_REQUIRE_E2E=1 so a missing one fails. */
export function e2eReady(...checks: Array<[string, boolean]>): boolean {
  const missing = checks.filter(([, ok]) => !ok).map(([what]) => what);
  if (missing.length === 0) return true;
  const message = `end-to-end prerequisites missing: ${missing.join(', ')} (apt-get install -y chromium r-cran-shiny)`;
  if (process.env.STICKYLB_REQUIRE_E2E === '1') throw new Error(message);
  console.warn(`skipping: ${message}`);
  return false;
}

/** Polls an element's text from the test side (page-side polling stalls while Shiny is disconnected). */
export async function waitForText(
  page: Page,
  selector: string,
  text: string,
  timeoutMs: number,
  context: () => string = () => '',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    last =
      (await page
        .locator(selector)
        .textContent({ timeout: 1000 })
        .catch(() => '')) ?? '';
    if (last === text) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  const body = (
    (await page
      .locator('body')
      .textContent()
      .catch(() => '')) ?? ''
  ).slice(0, 200);
  throw new Error(
    `${selector} still reads "${last}", not "${text}", after ${timeoutMs} ms; page: ${body}; ${context()}`,
  );
}
