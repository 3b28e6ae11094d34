/**
 * Rule 13 (issue 33): an app that fails on one node while the node's ping says 200. New sessions of
 * the app leave that node after a few failures, the rest of the apps keep it, pinned clients move on
 * their next page load, a page load answered 5xx is retried once on the app's next node, and the
 * node gets the app back after the ejection time. Real fake-Connect nodes, over HTTP/1.1 and HTTP/2.
 */
import { connect } from 'node:http2';
import { describe, expect, it, onTestFinished } from 'vitest';
import { affinityToken } from '../../src/affinity/token.js';
import { startBalancer, type TestBalancer, waitFor } from '../helpers/balancer.js';
import { BrowserClient } from '../helpers/browser-client.js';
import { makeCert } from '../helpers/certs.js';
import { contentPreferring } from '../helpers/content-order.js';
import { type FakeNode, startFakeNode } from '../helpers/fake-node.js';
import { postgresBin, startPostgres } from '../helpers/postgres.js';
import { openSocket } from '../helpers/ws.js';

const SECRET = 'test-secret-0123456789abcdef';
const TOKEN = 'test-admin-token-0123456789';

/** A new visitor's session: the page, then (when it loaded) its WebSocket, closed again. */
async function session(lb: TestBalancer, app: string): Promise<{ status: number; node: string | undefined }> {
  const tab = new BrowserClient(lb.url);
  const page = await tab.get(`/content/${app}/`, 'navigate');
  if (page.status === 200) {
    const path = `/content/${app}/websocket/`;
    const ws = await openSocket(`${lb.url}${path}`, tab.cookieHeader(path));
    expect(ws.hello.hello).toBe(page.node);
    ws.ws.close();
    await waitFor(() => lb.app.pool.nodes.every((n) => n.websockets === 0), 3000, 'session closed');
  }
  await tab.close();
  return { status: page.status, node: page.node };
}

interface FailingView {
  failingContents: Array<{ content: string; failures: number; ejections: number; nextTrial: string | null }>;
  degraded: boolean;
}
const viewOf = async (lb: TestBalancer, node: string) =>
  (await (await fetch(`${lb.adminUrl}/api/nodes/${node}`)).json()) as FailingView;

async function twoNodes(extra: Record<string, unknown> = {}) {
  const nodes: FakeNode[] = await Promise.all(['a', 'b'].map((n) => startFakeNode(n)));
  const lb = await startBalancer(nodes, extra);
  return { a: nodes[0]!, b: nodes[1]!, lb };
}

describe('an app that fails on one node (rule 13)', () => {
  it('100 new sessions of an app broken on its preferred node: none fails, the node keeps another app', async () => {
    const { a, lb } = await twoNodes();
    const broken = contentPreferring('a', ['a', 'b'], SECRET, 0);
    const other = contentPreferring('a', ['a', 'b'], SECRET, 1);
    await a.breakContent(broken, '500');
    const outcomes = [];
    for (let i = 0; i < 100; i++) outcomes.push(await session(lb, broken));
    // Each 5xx page load was retried on b before any byte reached the visitor.
    expect(outcomes.filter((o) => o.status !== 200)).toEqual([]);
    expect(outcomes.every((o) => o.node === 'b')).toBe(true);
    // a saw the app fail a few times, then no more sessions of it (ejected).
    const hits = await a.contentHits();
    expect(hits[`${broken} failed`]).toBeLessThanOrEqual(3);
    const view = await viewOf(lb, 'a');
    expect(view.failingContents).toEqual([
      expect.objectContaining({ content: broken, failures: 3, ejections: 1, nextTrial: expect.any(String) }),
    ]);
    expect(view.degraded).toBe(false);
    expect(await lb.app.metrics.text()).toMatch(/^stickylb_content_ejections_total\{upstream="a"\} 1$/m);
    expect(await lb.app.metrics.text()).toMatch(/^stickylb_contents_ejected\{upstream="a"\} 1$/m);
    // Another app preferring a keeps it.
    const kept = [];
    for (let i = 0; i < 10; i++) kept.push((await session(lb, other)).node);
    expect(kept.filter((n) => n === 'a').length).toBeGreaterThanOrEqual(8);
    // One line per ejection, none per failure.
    expect(lb.logs.filter((l) => l.content === broken && l.level === 40)).toHaveLength(1);
  });

  it('clients pinned to the node before the app broke get the app on their next page load, re-pinned', async () => {
    const { a, lb } = await twoNodes();
    const app = contentPreferring('a', ['a', 'b'], SECRET, 0);
    const tabs = [];
    const path = `/content/${app}/websocket/`;
    for (let i = 0; i < 10; i++) {
      const tab = new BrowserClient(lb.url);
      expect((await tab.get(`/content/${app}/`, 'navigate')).node).toBe('a');
      // Its session, opened and ended (the tab keeps its pins).
      const ws = await openSocket(`${lb.url}${path}`, tab.cookieHeader(path));
      ws.ws.close();
      await waitFor(() => lb.app.pool.nodes.every((n) => n.websockets === 0), 3000, 'session closed');
      tabs.push(tab);
    }
    await a.breakContent(app, '500');
    const reloads = [];
    for (const tab of tabs) reloads.push(await tab.get(`/content/${app}/`, 'navigate'));
    expect(reloads.filter((r) => r.status === 200 && r.node === 'b').length).toBeGreaterThanOrEqual(9);
    // The new pin holds for the app's WebSocket.
    expect((await openSocket(`${lb.url}${path}`, tabs[0]!.cookieHeader(path))).hello.hello).toBe('b');
    expect(await lb.app.metrics.text()).toMatch(
      /stickylb_affinity_repins_total\{from="a",reason="app-failure"\} \d+/,
    );
  });

  it('a WebSocket refused or reset by the node counts too; the node gets the app back after the ejection time', async () => {
    const { a, lb } = await twoNodes({ placement: { contentEjection: { baseTime: '300ms' } } });
    const app = contentPreferring('a', ['a', 'b'], SECRET, 0);
    // A client pinned to a whose WebSocket a resets before a head: each handshake is sent again
    // to b (nothing reached the client), and each counts against the app on a.
    const pin = `stickylb_content=${affinityToken(SECRET, 'a')}`;
    await a.breakContent(app, 'reset');
    for (let i = 0; i < 3; i++) {
      const ws = await openSocket(`${lb.url}/content/${app}/websocket/`, pin);
      expect(ws.hello.hello).toBe('b');
      ws.ws.close();
    }
    await waitFor(() => lb.app.pool.nodes.every((n) => n.websockets === 0), 3000, 'sockets closed');
    await expect.poll(async () => (await viewOf(lb, 'a')).failingContents[0]?.ejections).toBe(1);
    // Mended: after the ejection time one trial session goes to a, succeeds, and ends it.
    await a.breakContent(app, 'off');
    await expect
      .poll(async () => (await session(lb, app)).node, { timeout: 10_000, interval: 100 })
      .toBe('a');
    await expect.poll(async () => (await viewOf(lb, 'a')).failingContents).toEqual([]);
    expect((await session(lb, app)).node).toBe('a');
    expect(lb.logs.some((l) => l.content === app && l.how === 'its trial session succeeded')).toBe(true);
  });

  it("a handshake the node refuses 5xx is retried on the app's next node before the client sees the refusal, and re-pins (one exchange for HTTP and WebSocket)", async () => {
    const { a, lb } = await twoNodes();
    const app = contentPreferring('a', ['a', 'b'], SECRET, 0);
    const pin = `stickylb_content=${affinityToken(SECRET, 'a')}`;
    await a.breakContent(app, '500');
    const ws = await openSocket(`${lb.url}/content/${app}/websocket/`, pin);
    expect(ws.hello.hello).toBe('b');
    // The 101 carries the content pin to b, so the session's next requests follow it.
    const token = affinityToken(SECRET, 'b');
    expect(ws.setCookie.some((c) => c.startsWith(`stickylb_content=${token}`))).toBe(true);
    ws.ws.close();
    expect((await a.contentHits())[`${app} failed`]).toBe(1);
    expect(await lb.app.metrics.text()).toMatch(/^stickylb_requests_total\{upstream="b",code="101"\} 1$/m);
    expect(await lb.app.metrics.text()).not.toMatch(/^stickylb_requests_total\{upstream="a",code="503"\}/m);
  });

  it('an API answering 500 to bad input on every node ejects nothing; an app failing everywhere is never ejected from all', async () => {
    const { a, b, lb } = await twoNodes();
    const api = contentPreferring('a', ['a', 'b'], SECRET, 0);
    await Promise.all([a.breakContent(api, '500'), b.breakContent(api, '500')]);
    const client = new BrowserClient(lb.url);
    for (let i = 0; i < 20; i++) expect((await client.get(`/content/${api}/predict`)).status).toBe(500);
    expect([(await viewOf(lb, 'a')).failingContents, (await viewOf(lb, 'b')).failingContents]).toEqual([
      [],
      [],
    ]);
    // Page loads of it fail on both nodes: a leaves its order once, b never (it would empty it).
    for (let i = 0; i < 10; i++) expect((await session(lb, api)).status).toBe(500);
    const ejected = [await viewOf(lb, 'a'), await viewOf(lb, 'b')].map(
      (v) => v.failingContents.filter((f) => f.nextTrial !== null).length,
    );
    expect(ejected.reduce((x, y) => x + y, 0)).toBeLessThanOrEqual(1);
  });

  it('an admin clears an ejection: the node takes the app again at once', async () => {
    const { a, lb } = await twoNodes();
    const app = contentPreferring('a', ['a', 'b'], SECRET, 0);
    await a.breakContent(app, '500');
    for (let i = 0; i < 3; i++) await session(lb, app);
    expect((await viewOf(lb, 'a')).failingContents).toHaveLength(1);
    await a.breakContent(app, 'off');
    const res = await fetch(`${lb.adminUrl}/api/nodes/a/clear-ejections`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(await res.json()).toEqual({ cleared: [app] });
    expect((await session(lb, app)).node).toBe('a');
  });

  it('over HTTP/2: a page load answered 500 is served by the next node, and the app leaves the node', async () => {
    const cert = makeCert();
    const nodes = await Promise.all(['a', 'b'].map((n) => startFakeNode(n)));
    const lb = await startBalancer(nodes, {
      listen: { host: '127.0.0.1', port: 0, tls: { cert: cert.certFile, key: cert.keyFile } },
    });
    const app = contentPreferring('a', ['a', 'b'], SECRET, 0);
    await nodes[0]!.breakContent(app, '500');
    const s = connect(lb.url, { ca: cert.cert });
    s.on('error', () => {});
    onTestFinished(() => {
      s.destroy();
    });
    const page = () =>
      new Promise<{ status: number; node: string }>((resolve, reject) => {
        const req = s.request({
          ':path': `/content/${app}/`,
          'sec-fetch-mode': 'navigate',
          accept: 'text/html',
        });
        let body = '';
        let status = 0;
        req.on('response', (h) => {
          status = Number(h[':status']);
        });
        req.on('data', (c: Buffer) => {
          body += c.toString();
        });
        req.on('end', () => resolve({ status, node: (JSON.parse(body) as { node: string }).node }));
        req.on('error', reject);
      });
    for (let i = 0; i < 5; i++) expect(await page()).toEqual({ status: 200, node: 'b' });
    expect((await nodes[0]!.contentHits())[`${app} failed`]).toBe(3);
  });
});

describe.runIf(postgresBin() !== undefined || process.env.STICKYLB_REQUIRE_E2E === '1')(
  'an app that fails on one node, across replicas sharing PostgreSQL (rule 13)',
  () => {
    it('one replica learns it, every replica stops placing the app there; a replica restarting does not forget', async () => {
      const pg = await startPostgres();
      const nodes: FakeNode[] = await Promise.all(['a', 'b'].map((n) => startFakeNode(n)));
      const shared = { sharedState: { url: pg.url } };
      const one = await startBalancer(nodes, shared);
      const two = await startBalancer(nodes, shared);
      const app = contentPreferring('a', ['a', 'b'], SECRET, 0);
      await nodes[0]!.breakContent(app, '500');
      for (let i = 0; i < 3; i++) expect((await session(one, app)).node).toBe('b');
      expect(one.app.pool.contentHealth.ejected(app, 'a', Date.now())).toBe(true);
      await expect
        .poll(() => two.app.pool.contentHealth.ejected(app, 'a', Date.now()), { timeout: 5000 })
        .toBe(true);
      for (let i = 0; i < 5; i++) expect((await session(two, app)).node).toBe('b');
      // Replica two never sent the app to a: a saw its 3 failures through replica one only.
      expect((await nodes[0]!.contentHits())[`${app} failed`]).toBe(3);
      // A replica started now (a restart) reads the ejection before it places anything there.
      await two.close();
      const three = await startBalancer(nodes, shared);
      await expect
        .poll(() => three.app.pool.contentHealth.ejected(app, 'a', Date.now()), { timeout: 5000 })
        .toBe(true);
      for (let i = 0; i < 5; i++) expect((await session(three, app)).node).toBe('b');
      expect((await nodes[0]!.contentHits())[`${app} failed`]).toBe(3);
    }, 60_000);
  },
);
