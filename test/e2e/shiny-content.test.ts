/**
 * Content-aware placement with real R Shiny apps in Chromium (issue 23): the apps are served under
 * `/content/{guid}/` as Connect serves them (a prefix-stripping front per node). A client that
 * opened the dashboard first (a global pin) opens an app on that app's preferred node; the page
 * and its WebSocket land on one node; a reload sticks; a killed node's page reconnects elsewhere.
 */
import { describe, expect, it } from 'vitest';
import { contentKey } from '../../src/affinity/placement.js';
import { rendezvousScore, rendezvousSeed } from '../../src/affinity/rendezvous.js';
import { startBalancer } from '../helpers/balancer.js';
import { chromiumAvailable, e2eReady, launchBrowser, waitForText } from '../helpers/browser.js';
import { startContentFront } from '../helpers/content-front.js';
import type { FakeNode } from '../helpers/fake-node.js';
import { shinyAvailable, startShiny } from '../helpers/shiny.js';

const SECRET = 'test-secret-0123456789abcdef';
const ready = e2eReady(['chromium', chromiumAvailable()], ['r-cran-shiny', shinyAvailable()]);

/** A content GUID whose preferred node (of `names`) is `first`. */
function appPreferring(first: string, names: readonly string[]): string {
  for (let i = 0; ; i++) {
    const guid = `9b1c2d3e-4f5a-4b6c-8d7e-${String(i).padStart(12, '0')}`;
    const key = contentKey(guid);
    const best = [...names].sort(
      (x, y) =>
        rendezvousScore(key, rendezvousSeed(SECRET, y), 1) -
        rendezvousScore(key, rendezvousSeed(SECRET, x), 1),
    )[0];
    if (best === first) return guid;
  }
}

describe.runIf(ready)('real Shiny apps under /content/{guid}/ in Chromium', () => {
  it('after the dashboard, an app opens on its preferred node with page and WebSocket together; a reload sticks; its node killed, the page reconnects elsewhere', async () => {
    const shiny = await Promise.all([startShiny('shiny-1'), startShiny('shiny-2')]);
    const fronts = await Promise.all(shiny.map((s) => startContentFront(s.url)));
    const nodes = shiny.map((s, i) => ({ name: s.name, url: fronts[i]!.url }));
    const lb = await startBalancer(nodes as unknown as FakeNode[], {
      healthCheck: { path: '/', interval: '2s', timeout: '1500ms' },
      logging: { access: true },
    });
    const browser = await launchBrowser();
    const page = await browser.newPage();
    const nodeText = () => page.locator('#node').textContent();

    // The dashboard (here the app at /): the client's global pin.
    await page.goto(`${lb.url}/`);
    await page.waitForFunction(() => document.querySelector('#node')?.textContent?.startsWith('shiny-'));
    const dashboard = (await nodeText())!;
    const other = dashboard === 'shiny-1' ? 'shiny-2' : 'shiny-1';

    // An app whose preferred node is the other one: placed there despite the global pin.
    const app = appPreferring(other, ['shiny-1', 'shiny-2']);
    await page.goto(`${lb.url}/content/${app}/`);
    await waitForText(page, '#node', other, 15_000);
    const cookies = await page.context().cookies();
    expect(cookies.find((c) => c.name === 'stickylb_content')?.path).toBe(`/content/${app}/`);
    expect(cookies.find((c) => c.name === 'stickylb')?.path).toBe('/');
    // The page itself came from the node whose session (over the WebSocket) renders #node.
    const served = lb.logs.filter((l) => l.msg === 'request' && l.path === `/content/${app}/`);
    expect(served.map((l) => l.upstream)).toEqual([other]);

    for (let i = 0; i < 3; i++) {
      await page.reload();
      await waitForText(page, '#node', other, 15_000);
    }
    // Elsewhere the global pin still holds.
    const dashboardAgain = await browser.newPage();
    await dashboardAgain.context().addCookies(cookies);
    await dashboardAgain.goto(`${lb.url}/`);
    await waitForText(dashboardAgain, '#node', dashboard, 15_000);
    await dashboardAgain.close();

    // The app's node dies with the page open: the page reconnects by itself, to the dashboard's node.
    const victim = shiny.findIndex((s) => s.name === other);
    fronts[victim]!.close();
    await shiny[victim]!.kill();
    await waitForText(page, '#node', dashboard, 30_000);
  }, 120_000);
});
