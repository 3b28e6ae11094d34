import { describe, expect, it } from 'vitest';
import { startBalancer, waitFor } from '../helpers/balancer.js';
import { chromiumAvailable, e2eReady, launchBrowser, waitForText } from '../helpers/browser.js';
import type { FakeNode } from '../helpers/fake-node.js';
import { shinyAvailable, startShiny } from '../helpers/shiny.js';

const ready = e2eReady(['chromium', chromiumAvailable()], ['r-cran-shiny', shinyAvailable()]);

describe.runIf(ready)('real Shiny apps behind stickylb in headless Chromium', () => {
  it('renders and reacts, sticks across reloads, fails over on reload and reconnects by itself', async () => {
    const [one, two] = await Promise.all([startShiny('shiny-1'), startShiny('shiny-2')]);
    const lb = await startBalancer([one, two] as unknown as FakeNode[], {
      // Probes patient enough for R under the full suite's load: a kill is seen by the refused
      // connection, not by a timeout.
      healthCheck: { path: '/', interval: '2s', timeout: '1500ms' },
    });
    const browser = await launchBrowser();
    const page = await browser.newPage();
    const nodeText = () => page.locator('#node').textContent();

    await page.goto(`${lb.url}/`);
    await page.waitForFunction(() => document.querySelector('#node')?.textContent?.startsWith('shiny-'));
    const first = await nodeText();
    // It reacts: an input change round-trips over the WebSocket.
    await page.evaluate(() =>
      (window as unknown as { Shiny: { setInputValue(k: string, v: number): void } }).Shiny.setInputValue(
        'n',
        21,
      ),
    );
    await page.waitForFunction(() => document.querySelector('#double')?.textContent === '42');

    for (let i = 0; i < 5; i++) {
      await page.reload();
      await page.waitForFunction(() => document.querySelector('#node')?.textContent?.startsWith('shiny-'));
      expect(await nodeText()).toBe(first);
    }

    // The serving node dies with the page open: the page reconnects to the other node by itself.
    const serving = first === one.name ? one : two;
    const other = serving === one ? two : one;
    await page.evaluate(() =>
      (window as unknown as { Shiny: { setInputValue(k: string, v: number): void } }).Shiny.setInputValue(
        'n',
        33,
      ),
    );
    await waitForText(page, '#double', '66', 10_000);
    const session = await page.locator('#session').textContent();
    await serving.kill();
    await waitForText(page, '#node', other.name, 30_000);
    expect(await page.locator('#session').textContent()).not.toBe(session);
    // The client re-sent its inputs to the new session.
    await waitForText(page, '#double', '66', 10_000);

    // Bring the first node back (on its port), then kill the other one: a reload lands on the first.
    const back = await startShiny(serving.name, serving.port);
    await waitFor(() => lb.app.pool.get(back.name)?.health === 'up', 10_000, 'restarted node up');
    await page.reload();
    await page.waitForFunction(() => document.querySelector('#node')?.textContent?.startsWith('shiny-'));
    expect(await nodeText()).toBe(other.name);
    await other.kill();
    await page.reload();
    await waitForText(page, '#node', back.name, 15_000, () =>
      JSON.stringify({
        nodes: lb.app.pool.nodes.map((n) => [n.name, n.health, n.state]),
        logs: lb.logs
          .slice(-12)
          .map((l) => [
            l.msg,
            l.upstream,
            l.err === undefined ? undefined : String((l.err as { message?: string }).message),
          ]),
      }),
    );
    expect(await nodeText()).toBe(back.name);
  }, 120_000);
});
