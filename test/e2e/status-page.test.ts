import { describe, expect, it } from 'vitest';
import { startBalancer } from '../helpers/balancer.js';
import { chromiumAvailable, e2eReady, launchBrowser } from '../helpers/browser.js';
import { BrowserClient } from '../helpers/browser-client.js';
import { contentPreferring } from '../helpers/content-order.js';
import { startFakeNode } from '../helpers/fake-node.js';

const ready = e2eReady(['chromium', chromiumAvailable()]);

describe.runIf(ready)('status page in headless Chromium', () => {
  it('renders every node, shows a killed node down within 2 probe intervals, drains with the token', async () => {
    const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
    const lb = await startBalancer(
      [a, b],
      { healthCheck: { interval: '1s', timeout: '500ms', unhealthyThreshold: 1 } },
      { historySampleMs: 300 },
    );
    const browser = await launchBrowser();
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${lb.adminUrl}/`);
    const row = (name: string) => page.locator(`#nodes tbody tr[data-node="${name}"]`);
    await row('a').waitFor();
    await row('b').waitFor();
    expect(await row('a').getAttribute('data-health')).toBe('up');
    expect(await page.locator('#summary').textContent()).toContain('2 of 2 nodes up');

    // Killed: the page (refreshing itself every 2 s) shows it down within 2 probe intervals + a refresh.
    await a.kill();
    await page.waitForSelector('#nodes tbody tr[data-node="a"][data-health="down"]', {
      timeout: 2 * 1000 + 500 + 2500,
    });
    expect(await row('a').locator('.badge').textContent()).toBe('down');
    // The recent events name it, and each node has its 15-minute sparklines.
    await page.waitForFunction(
      () => document.querySelector('#events')?.textContent?.includes('down (probe)'),
      undefined,
      {
        timeout: 8000,
      },
    );
    await page.waitForSelector('#nodes tbody tr[data-node="b"] svg.spark[data-series="rps"]', {
      timeout: 8000,
    });

    // Drain b: the button asks for the token.
    page.once('dialog', (dialog) => void dialog.accept('test-admin-token-0123456789'));
    await row('b').locator('button[data-act="drain"]').click();
    await page.waitForSelector('#nodes tbody tr[data-node="b"][data-state="draining"]', { timeout: 5000 });
    expect(lb.app.pool.get('b')!.state).toBe('draining');
    // Where the state came from, and that the drained node holds nothing any more.
    await page.waitForFunction(() =>
      document.querySelector('#nodes tbody tr[data-node="b"]')?.textContent?.includes('safe to stop'),
    );
    expect(await row('b').textContent()).toContain('API');
    // The token is remembered for the session: activate needs no second prompt.
    await row('b').locator('button[data-act="activate"]').click();
    await page.waitForSelector('#nodes tbody tr[data-node="b"][data-state="active"]', { timeout: 5000 });
    expect(errors).toEqual([]);
  }, 60_000);

  it('shows an app failing on one node and gives it back with the token (rule 13)', async () => {
    const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
    const lb = await startBalancer([a, b]);
    const app = contentPreferring('a', ['a', 'b'], 'test-secret-0123456789abcdef', 0);
    await a.breakContent(app, '500');
    // Three page loads fail on a (each served by b): the app leaves a's order.
    for (let i = 0; i < 3; i++) {
      const tab = new BrowserClient(lb.url);
      expect((await tab.get(`/content/${app}/`, 'navigate')).status).toBe(200);
      await tab.close();
    }
    const browser = await launchBrowser();
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${lb.adminUrl}/`);
    const failing = page.locator('#nodes tbody tr[data-node="a"] .failing');
    await failing.waitFor({ timeout: 5000 });
    // No API key: the app is named by its GUID's start, with its failures and its trial's time.
    const text = await failing.textContent();
    expect(text).toContain(`failing here: ${app.slice(0, 8)} (3, trial at `);
    expect(await page.locator('#nodes tbody tr[data-node="b"] .failing').count()).toBe(0);
    page.once('dialog', (dialog) => void dialog.accept('test-admin-token-0123456789'));
    await page.locator('#nodes tbody tr[data-node="a"] button[data-act="clear-ejections"]').click();
    await failing.waitFor({ state: 'detached', timeout: 5000 });
    const view = (await (await fetch(`${lb.adminUrl}/api/nodes/a`)).json()) as { failingContents: unknown[] };
    expect(view.failingContents).toEqual([]);
    expect(errors).toEqual([]);
  }, 60_000);

  it('fits a 1280 px wide window: every column, the actions included, is visible without scrolling', async () => {
    // Names and URLs as long as DNS-discovered nodes get, one node failing its probes.
    const nodes = await Promise.all([startFakeNode('a'), startFakeNode('b'), startFakeNode('c')]);
    const lb = await startBalancer([], {
      upstreams: nodes.map((n, i) => ({ name: `connect-headless-10-244-${i}-17`, url: n.url })),
    });
    await nodes[2]!.kill();
    const browser = await launchBrowser();
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`${lb.adminUrl}/`);
    await page.waitForSelector(
      '#nodes tbody tr[data-node="connect-headless-10-244-2-17"] td:nth-child(7):not(:empty)',
    );
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(1280);
    for (const button of await page.locator('button[data-act]').all()) {
      const box = await button.boundingBox();
      expect(box).not.toBeNull();
      expect(box!.x + box!.width).toBeLessThanOrEqual(1280);
    }
  });

  it('a wrong token is refused and says so', async () => {
    const a = await startFakeNode('a');
    const lb = await startBalancer([a]);
    const browser = await launchBrowser();
    const page = await browser.newPage();
    await page.goto(`${lb.adminUrl}/`);
    await page.locator('#nodes tbody tr[data-node="a"]').waitFor();
    page.once('dialog', (dialog) => void dialog.accept('not-the-token'));
    await page.locator('tr[data-node="a"] button[data-act="maintenance"]').click();
    await page.waitForFunction(() =>
      document.querySelector('#error')?.textContent?.includes('Wrong admin token'),
    );
    expect(lb.app.pool.get('a')!.state).toBe('active');
  });
});
