/**
 * The real Shiny apps behind stickylb's TLS port in Chromium (issue 16): the page loads over h2, the
 * app's WebSocket goes over the same HTTP/2 connection (RFC 8441 extended CONNECT), reloads stick,
 * and a killed node's session reconnects to the other node.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { startBalancer, waitFor } from '../helpers/balancer.js';
import { chromiumAvailable, e2eReady, launchBrowser } from '../helpers/browser.js';
import { makeCert } from '../helpers/certs.js';
import type { FakeNode } from '../helpers/fake-node.js';
import { shinyAvailable, startShiny } from '../helpers/shiny.js';

const ready = e2eReady(['chromium', chromiumAvailable()], ['r-cran-shiny', shinyAvailable()]);

const nodeShown = () => document.querySelector('#node')?.textContent?.startsWith('shiny-') === true;
const protocolOf = (page: Page) =>
  page.evaluate(
    () => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).nextHopProtocol,
  );

async function setInput(page: Page, n: number): Promise<void> {
  await page.evaluate(
    (v) =>
      (window as unknown as { Shiny: { setInputValue(k: string, v: number): void } }).Shiny.setInputValue(
        'n',
        v,
      ),
    n,
  );
}

describe.runIf(ready)('real Shiny apps behind stickylb over HTTP/2 in Chromium', () => {
  it('loads over h2 with its WebSocket on the same connection; sticks; reconnects after a kill', async () => {
    const cert = makeCert();
    const [one, two] = await Promise.all([startShiny('shiny-1'), startShiny('shiny-2')]);
    const lb = await startBalancer([one, two] as unknown as FakeNode[], {
      listen: { host: '127.0.0.1', port: 0, tls: { cert: cert.certFile, key: cert.keyFile } },
      healthCheck: { path: '/', interval: '2s', timeout: '1500ms' },
    });
    const browser = await launchBrowser();
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    await page.goto(`${lb.url}/`);
    await page.waitForFunction(nodeShown);
    expect(await protocolOf(page)).toBe('h2');
    const first = await page.locator('#node').textContent();
    await setInput(page, 21);
    await page.waitForFunction(() => document.querySelector('#double')?.textContent === '42');
    // Chromium opened the app's WebSocket as an extended CONNECT stream, not a new HTTP/1.1 connection.
    const text = await lb.app.metrics.text();
    expect(Number(/^stickylb_http2_websockets_total (\d+)/m.exec(text)?.[1])).toBeGreaterThanOrEqual(1);
    expect(text).toContain(`stickylb_active_websockets{upstream="${first}"} 1`);

    for (let i = 0; i < 3; i++) {
      await page.reload();
      await page.waitForFunction(nodeShown);
      expect(await page.locator('#node').textContent()).toBe(first);
      expect(await protocolOf(page)).toBe('h2');
    }

    const serving = first === one.name ? one : two;
    const other = serving === one ? two : one;
    await setInput(page, 33);
    await page.waitForFunction(() => document.querySelector('#double')?.textContent === '66');
    await serving.kill();
    // The stream reset (no close frame) makes Shiny reconnect; the new handshake re-pins.
    await waitFor(() => lb.app.pool.get(serving.name)?.health === 'down', 10_000, 'killed node down');
    await page.waitForFunction((name) => document.querySelector('#node')?.textContent === name, other.name, {
      timeout: 30_000,
      polling: 200,
    });
    await page.waitForFunction(() => document.querySelector('#double')?.textContent === '66', undefined, {
      timeout: 10_000,
    });
    await page.reload();
    await page.waitForFunction(nodeShown);
    expect(await page.locator('#node').textContent()).toBe(other.name);
  }, 120_000);
});
