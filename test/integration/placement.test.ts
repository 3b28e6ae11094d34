/**
 * Content-aware placement and pins per content (issue 23, rules 10-11) against real fake-Connect
 * nodes: an app's sessions go to its preferred node (the same from every replica), are pinned per
 * app with a cookie scoped to the app's path, spill within the load bound, move when their node is
 * lost, and leave the global pin and the API-key rules as they were.
 */
import { describe, expect, it } from 'vitest';
import { affinityToken } from '../../src/affinity/token.js';
import { startBalancer, type TestBalancer, waitFor } from '../helpers/balancer.js';
import { BrowserClient } from '../helpers/browser-client.js';
import { contentOrder, contentPreferring as preferring } from '../helpers/content-order.js';
import { type FakeNode, startFakeNode } from '../helpers/fake-node.js';
import { postgresBin, startPostgres } from '../helpers/postgres.js';
import { openSocket } from '../helpers/ws.js';

const SECRET = 'test-secret-0123456789abcdef';

const order = (content: string, names: readonly string[]) => contentOrder(content, names, SECRET);
const contentPreferring = (first: string, names: readonly string[], skip = 0) =>
  preferring(first, names, SECRET, skip);

const placements = async (lb: { app: { metrics: { text(): Promise<string> } } }, outcome: string) =>
  Number(
    new RegExp(`^stickylb_placements_total\\{outcome="${outcome}"\\} (\\d+)`, 'm').exec(
      await lb.app.metrics.text(),
    )?.[1],
  );

describe('content-aware placement', () => {
  it("a client pinned to one node by the dashboard opens an app on the app's preferred node; the app's requests and WebSocket follow its app pin", async () => {
    const nodes: FakeNode[] = await Promise.all(['a', 'b', 'c'].map((n) => startFakeNode(n)));
    const lb = await startBalancer(nodes);
    const names = nodes.map((n) => n.name);
    const app = contentPreferring('c', names);
    const tab = new BrowserClient(lb.url);
    // The dashboard: a global pin to some node, not c.
    tab.store([`stickylb=${affinityToken(SECRET, 'a')}; Path=/`]);
    const page = await tab.get(`/content/${app}/`, 'navigate');
    expect(page.node).toBe('c');
    const appPin = page.setCookie.find((l) => l.startsWith('stickylb_content='));
    expect(appPin).toMatch(
      new RegExp(`^stickylb_content=[\\w-]{22}; Path=/content/${app}/; HttpOnly; SameSite=Lax$`),
    );
    // The global pin is kept (the client had a valid one).
    expect(page.setCookie.some((l) => l.startsWith('stickylb='))).toBe(false);
    // The app's own requests, its SockJS-style and session endpoints, and its WebSocket follow the app pin.
    for (const path of [`/content/${app}/__sockjs__/info`, `/content/${app}/session/x/download/d?w=`]) {
      const res = await tab.get(path);
      expect(res.node).toBe('c');
      expect(res.setCookie).toEqual([]);
      // Rule 7: neither pin reaches the node.
      expect(res.json.headers?.cookie).toBeUndefined();
    }
    const ws = await openSocket(
      `${lb.url}/content/${app}/websocket/`,
      tab.cookieHeader(`/content/${app}/websocket/`),
    );
    expect(ws.hello.hello).toBe('c');
    const view = (await (await fetch(`${lb.adminUrl}/api/nodes/c`)).json()) as {
      busiestContents: Array<{ content: string; sessions: number }>;
    };
    expect(view.busiestContents).toEqual([{ content: app, sessions: 1 }]);
    // Elsewhere the client still goes to its global node.
    expect((await tab.get('/connect/')).node).toBe('a');
    expect(await placements(lb, 'preferred')).toBe(1);
    expect(await placements(lb, 'pinned')).toBeGreaterThanOrEqual(3);
  });

  it("an upper-case GUID's app pin is scoped to the path the client used, so the app's requests carry it (issue 32.10)", async () => {
    const nodes: FakeNode[] = await Promise.all(['a', 'b'].map((n) => startFakeNode(n)));
    const lb = await startBalancer(nodes);
    const app = contentPreferring('b', ['a', 'b']).toUpperCase();
    const tab = new BrowserClient(lb.url);
    tab.store([`stickylb=${affinityToken(SECRET, 'a')}; Path=/`]);
    const page = await tab.get(`/content/${app}/`, 'navigate');
    expect(page.node).toBe('b');
    expect(page.setCookie.find((l) => l.startsWith('stickylb_content='))).toContain(`Path=/content/${app}/;`);
    expect((await tab.get(`/content/${app}/session/x`)).node).toBe('b');
    const ws = await openSocket(
      `${lb.url}/content/${app}/websocket/`,
      tab.cookieHeader(`/content/${app}/websocket/`),
    );
    expect(ws.hello.hello).toBe('b');
  });

  it('a fetch with no pin at all is placed by content and gets both pins; a fetch with a global pin follows it', async () => {
    const nodes = await Promise.all(['a', 'b'].map((n) => startFakeNode(n)));
    const lb = await startBalancer(nodes);
    const app = contentPreferring('b', ['a', 'b']);
    const fresh = new BrowserClient(lb.url);
    const first = await fresh.get(`/content/${app}/api/data`);
    expect(first.node).toBe('b');
    expect(first.setCookie.map((l) => l.split('=')[0]).sort()).toEqual(['stickylb', 'stickylb_content']);
    const pinnedToA = new BrowserClient(lb.url);
    pinnedToA.store([`stickylb=${affinityToken(SECRET, 'a')}; Path=/`]);
    const followed = await pinnedToA.get(`/content/${app}/api/data`);
    expect(followed.node).toBe('a');
    expect(followed.setCookie).toEqual([]);
  });

  it('every replica prefers the same node for an app, with nothing shared', async () => {
    const nodes = await Promise.all(['a', 'b', 'c'].map((n) => startFakeNode(n)));
    const [one, two] = [await startBalancer(nodes), await startBalancer(nodes)];
    /** A session as a browser makes it: the page, then its WebSocket, closed again (no load left). */
    const session = async (lb: TestBalancer, app: string) => {
      const tab = new BrowserClient(lb.url);
      const page = await tab.get(`/content/${app}/`, 'navigate');
      const path = `/content/${app}/websocket/`;
      const ws = await openSocket(`${lb.url}${path}`, tab.cookieHeader(path));
      ws.ws.close();
      await waitFor(() => lb.app.pool.nodes.every((n) => n.websockets === 0), 3000, 'session closed');
      return page.node;
    };
    for (let i = 0; i < 6; i++) {
      const app = `11111111-2222-4333-8444-${String(i).padStart(12, '0')}`;
      const viaOne = await session(one, app);
      const viaTwo = await session(two, app);
      expect(viaTwo).toBe(viaOne);
      expect(viaOne).toBe(order(app, ['a', 'b', 'c'])[0]);
    }
  });

  it("the bound: sessions beyond the preferred node's cap spill to the next node in the app's order", async () => {
    const nodes = await Promise.all(['a', 'b'].map((n) => startFakeNode(n)));
    const lb = await startBalancer(nodes, { placement: { balanceFactor: 1.25 } });
    const app = contentPreferring('a', ['a', 'b']);
    const landed: string[] = [];
    // Each session keeps its WebSocket open: the load the bound counts.
    for (let i = 0; i < 8; i++) {
      const tab = new BrowserClient(lb.url);
      const page = await tab.get(`/content/${app}/`, 'navigate');
      const ws = await openSocket(
        `${lb.url}/content/${app}/websocket/`,
        tab.cookieHeader(`/content/${app}/websocket/`),
      );
      expect(ws.hello.hello).toBe(page.node);
      landed.push(page.node!);
    }
    // ceil(1.25 x (total + 1) / 2): a takes 1, 2, 2, 3, 4, 4, 5 ... b the rest.
    expect(landed.filter((n) => n === 'a').length).toBe(5);
    expect(landed.filter((n) => n === 'b').length).toBe(3);
    expect(await placements(lb, 'spilled')).toBe(3);
  });

  it("an app's node lost: its next page load re-pins the app to the next node of its order; the node back takes no session back", async () => {
    const nodes = await Promise.all(['a', 'b', 'c'].map((n) => startFakeNode(n)));
    const lb = await startBalancer(nodes, { healthCheck: { slowStart: 0 } }, { manualHealth: true });
    const app = contentPreferring('b', ['a', 'b', 'c']);
    const tab = new BrowserClient(lb.url);
    expect((await tab.get(`/content/${app}/`, 'navigate')).node).toBe('b');
    const b = nodes[1]!;
    await b.setPing(503);
    for (let i = 0; i < 3; i++) await lb.app.checker.checkOnce();
    await waitFor(() => lb.app.pool.get('b')!.health === 'down', 3000, 'b down');
    const moved = await tab.get(`/content/${app}/`, 'navigate');
    expect(moved.node).toBe(order(app, ['a', 'b', 'c'])[1]);
    expect(moved.setCookie.some((l) => l.startsWith('stickylb_content='))).toBe(true);
    expect(await lb.app.metrics.text()).toMatch(
      /stickylb_affinity_repins_total\{from="b",reason="down"\} [1-9]/,
    );
    await b.setPing(200);
    for (let i = 0; i < 3; i++) await lb.app.checker.checkOnce();
    expect((await tab.get(`/content/${app}/x`)).node).toBe(moved.node);
  });

  it("a page load its preferred node refuses is redispatched to the next node of the app's order (issue 31)", async () => {
    const nodes: FakeNode[] = await Promise.all(['a', 'b', 'c'].map((n) => startFakeNode(n)));
    // Probes too slow to notice the kill: every refusal is a redispatch.
    const lb = await startBalancer(nodes, {
      healthCheck: { interval: '60s', timeout: '1s', passiveFailures: 0 },
    });
    await nodes[0]!.kill();
    for (let i = 0; i < 6; i++) {
      const app = contentPreferring('a', ['a', 'b', 'c'], i);
      const page = await new BrowserClient(lb.url).get(`/content/${app}/`, 'navigate');
      expect(page.node).toBe(order(app, ['a', 'b', 'c'])[1]);
      expect(page.setCookie.some((l) => l.startsWith('stickylb_content='))).toBe(true);
    }
  });

  it('a draining preferred node keeps its app sessions and gets no new ones', async () => {
    const nodes = await Promise.all(['a', 'b'].map((n) => startFakeNode(n)));
    const lb = await startBalancer(nodes);
    const app = contentPreferring('a', ['a', 'b']);
    const before = new BrowserClient(lb.url);
    expect((await before.get(`/content/${app}/`, 'navigate')).node).toBe('a');
    lb.app.pool.setState(lb.app.pool.get('a')!, 'draining', 'admin');
    expect((await before.get(`/content/${app}/`, 'navigate')).node).toBe('a');
    expect((await new BrowserClient(lb.url).get(`/content/${app}/`, 'navigate')).node).toBe('b');
  });

  it('placement.strategy leastLoad: one pin per client, no app pins', async () => {
    const nodes = await Promise.all(['a', 'b'].map((n) => startFakeNode(n)));
    const lb = await startBalancer(nodes, { placement: { strategy: 'leastLoad' } });
    const app = contentPreferring('b', ['a', 'b']);
    const tab = new BrowserClient(lb.url);
    tab.store([`stickylb=${affinityToken(SECRET, 'a')}; Path=/`]);
    const page = await tab.get(`/content/${app}/`, 'navigate');
    expect(page.node).toBe('a');
    expect(page.setCookie).toEqual([]);
    expect(await placements(lb, 'preferred')).toBe(0);
  });

  describe.runIf(postgresBin() !== undefined || process.env.STICKYLB_REQUIRE_E2E === '1')(
    'a fleet sharing PostgreSQL',
    () => {
      it("the bound is the fleet's: sessions held through one replica push another replica's placements on", async () => {
        const pg = await startPostgres();
        const nodes = await Promise.all(['a', 'b'].map((n) => startFakeNode(n)));
        const shared = { sharedState: { url: pg.url } };
        const [one, two] = [await startBalancer(nodes, shared), await startBalancer(nodes, shared)];
        // Four sessions on a, all through replica one, of an app that runs there now.
        const running = contentPreferring('b', ['a', 'b'], 2);
        for (let i = 0; i < 4; i++) {
          const ws = await openSocket(
            `${one.url}/content/${running}/websocket/`,
            `stickylb=${affinityToken(SECRET, 'a')}`,
          );
          expect(ws.hello.hello).toBe('a');
        }
        // Replica two learns them (about once a second) ...
        await expect.poll(() => two.app.pool.get('a')!.externalLoad, { timeout: 10_000 }).toBe(4);
        expect(two.app.pool.get('a')!.websockets).toBe(0);
        // ... so an app preferring a spills to b there: 4 + 1 > ceil(1.25 x 5 / 2).
        const app = contentPreferring('a', ['a', 'b']);
        expect((await new BrowserClient(two.url).get(`/content/${app}/`, 'navigate')).node).toBe('b');
        expect(await placements(two, 'spilled')).toBe(1);
      }, 30_000);

      it("during a PostgreSQL outage the other replicas' loads age out as the SQL ages them (issue 32.11)", async () => {
        const pg = await startPostgres();
        const nodes = await Promise.all(['a', 'b'].map((n) => startFakeNode(n)));
        const shared = { sharedState: { url: pg.url } };
        const [one, two] = [await startBalancer(nodes, shared), await startBalancer(nodes, shared)];
        const running = contentPreferring('b', ['a', 'b'], 2);
        for (let i = 0; i < 4; i++)
          await openSocket(
            `${one.url}/content/${running}/websocket/`,
            `stickylb=${affinityToken(SECRET, 'a')}`,
          );
        await expect.poll(() => two.app.pool.get('a')!.externalLoad, { timeout: 10_000 }).toBe(4);
        // Replica one goes, and the store with it: nothing can say its sessions still hold.
        await one.close();
        pg.stop();
        await expect.poll(() => two.app.pool.get('a')!.externalLoad, { timeout: 15_000 }).toBe(0);
        const app = contentPreferring('a', ['a', 'b']);
        expect((await new BrowserClient(two.url).get(`/content/${app}/`, 'navigate')).node).toBe('a');
      }, 40_000);
    },
  );

  describe("with connect.apiKey (Connect's own processes)", () => {
    const KEY = 'test-connect-key-0123456789';
    interface View {
      connect: { processes: number; jobs: number } | null;
      safeToStop: boolean;
      waitingFor: string[];
    }
    const viewOf = async (lb: { adminUrl: string }, name: string) =>
      (await (await fetch(`${lb.adminUrl}/api/nodes/${name}`)).json()) as View;

    it('a node already running an app takes its new sessions while under the bound; the key reaches only the nodes', async () => {
      const nodes = await Promise.all(['a', 'b'].map((n) => startFakeNode(n)));
      const app = contentPreferring('b', ['a', 'b']);
      await nodes[0]!.setProcs([{ appGuid: app, type: 'shiny', ram: 2 ** 27 }]);
      const lb = await startBalancer(nodes, { connect: { apiKey: KEY, procsInterval: '200ms' } });
      await expect.poll(async () => (await viewOf(lb, 'a')).connect?.processes).toBe(1);
      expect((await viewOf(lb, 'b')).connect).toMatchObject({ processes: 0, jobs: 0 });
      expect((await new BrowserClient(lb.url).get(`/content/${app}/`, 'navigate')).node).toBe('a');
      // Another app, running nowhere: its preferred node.
      const other = contentPreferring('b', ['a', 'b'], 1);
      expect((await new BrowserClient(lb.url).get(`/content/${other}/`, 'navigate')).node).toBe('b');
      expect(JSON.stringify(lb.logs)).not.toContain(KEY);
      expect(await lb.app.metrics.text()).not.toContain(KEY);
    });

    it("a vanity path from Connect's content list is placed and pinned as its content, the pin scoped to that path", async () => {
      const nodes = await Promise.all(['a', 'b'].map((n) => startFakeNode(n)));
      const app = contentPreferring('b', ['a', 'b']);
      for (const n of nodes)
        await n.setContents([{ guid: app, content_url: 'https://connect.example/sales/dashboard/' }]);
      const lb = await startBalancer(nodes, { connect: { apiKey: KEY, procsInterval: '200ms' } });
      await expect.poll(() => lb.app.pool.vanity.get('/sales/dashboard/')).toBe(app);
      const tab = new BrowserClient(lb.url);
      const page = await tab.get('/sales/dashboard/', 'navigate');
      expect(page.node).toBe('b');
      expect(page.setCookie.find((l) => l.startsWith('stickylb_content='))).toMatch(
        /; Path=\/sales\/dashboard\/;/,
      );
      expect((await tab.get('/sales/dashboard/session/x/upload')).node).toBe('b');
      // Without the list (another path), the path follows rule 1.
      expect((await tab.get('/other/app/')).setCookie.some((l) => l.startsWith('stickylb_content='))).toBe(
        false,
      );
    });

    it('an app pin on a vanity path holds through a replica that has not read the content list yet (issue 32.5); a path with cookie attributes in it is never a vanity path (issue 32.13)', async () => {
      const nodes = await Promise.all(['a', 'b'].map((n) => startFakeNode(n)));
      const app = contentPreferring('b', ['a', 'b']);
      const other = contentPreferring('a', ['a', 'b']);
      const hostile = 'https://connect.example/x;Domain=example.org;Max-Age=31536000;y=/';
      for (const n of nodes)
        await n.setContents([
          { guid: app, content_url: 'https://connect.example/sales/dashboard/' },
          { guid: other, content_url: hostile },
        ]);
      const reader = await startBalancer(nodes, { connect: { apiKey: KEY, procsInterval: '200ms' } });
      await expect.poll(() => reader.app.pool.vanity.get('/sales/dashboard/')).toBe(app);
      expect([...reader.app.pool.vanity.keys()]).toEqual(['/sales/dashboard/']);
      const tab = new BrowserClient(reader.url);
      tab.store([`stickylb=${affinityToken(SECRET, 'a')}; Path=/`]);
      expect((await tab.get('/sales/dashboard/', 'navigate')).node).toBe('b');
      // A replica that knows no vanity path (its list not read): the app pin still holds.
      const fresh = await startBalancer(nodes);
      expect(fresh.app.pool.vanity.size).toBe(0);
      const path = '/sales/dashboard/websocket/';
      const ws = await openSocket(`${fresh.url}${path}`, tab.cookieHeader(path));
      expect(ws.hello.hello).toBe('b');
      // Elsewhere the global pin.
      const elsewhere = await fetch(`${fresh.url}/other/`, {
        headers: { cookie: tab.cookieHeader('/other/')! },
      });
      expect(elsewhere.headers.get('x-node')).toBe('a');
    });

    it('a render running on a node keeps it from being safe to stop (rule 12)', async () => {
      const nodes = await Promise.all(['a', 'b'].map((n) => startFakeNode(n)));
      const lb = await startBalancer(nodes, { connect: { apiKey: KEY, procsInterval: '200ms' } });
      await nodes[0]!.setProcs([{ appGuid: '00000000-0000-4000-8000-000000000001', type: 'render' }]);
      lb.app.pool.setState(lb.app.pool.get('a')!, 'draining', 'admin');
      await expect
        .poll(async () => (await viewOf(lb, 'a')).waitingFor)
        .toEqual(['1 Connect job (renders, builds)']);
      expect((await viewOf(lb, 'a')).safeToStop).toBe(false);
      await nodes[0]!.setProcs([]);
      await expect.poll(async () => (await viewOf(lb, 'a')).safeToStop).toBe(true);
    });

    it('a node whose procs endpoint refuses the key costs nothing: placement goes by what the balancer sees', async () => {
      const nodes = await Promise.all(['a', 'b'].map((n) => startFakeNode(n)));
      const app = contentPreferring('b', ['a', 'b']);
      await nodes[0]!.setProcs([{ appGuid: app, type: 'shiny' }]);
      const lb = await startBalancer(nodes, {
        connect: { apiKey: 'a-wrong-key-0123456789', procsInterval: '200ms' },
      });
      expect((await new BrowserClient(lb.url).get(`/content/${app}/`, 'navigate')).node).toBe('b');
      expect((await viewOf(lb, 'a')).connect).toBeNull();
    });
  });
});
