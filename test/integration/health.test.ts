import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { startBalancer } from '../helpers/balancer.js';
import { startFakeNode, unreachableNode } from '../helpers/fake-node.js';
import { Client } from '../helpers/http.js';
import { openSocket } from '../helpers/ws.js';

describe('active health checks (driven by checkOnce, no sleeping)', () => {
  it.each([503, 402])(
    'a live node whose /__ping__ answers %d is taken out; back to 200 it returns for new clients only',
    async (status) => {
      const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
      // Slow start off: the returning node takes its full share of new clients at once.
      const lb = await startBalancer([a, b], { healthCheck: { slowStart: 0 } }, { manualHealth: true });
      const node = lb.app.pool.get('a')!;
      const onA = new Client(lb.url);
      for (let i = 0; i < 10 && (await onA.get('/')).json.node !== 'a'; i++) onA.cookie = undefined;
      await a.setPing(status);
      await lb.app.checker.checkOnce();
      await lb.app.checker.checkOnce();
      expect(node.health).toBe('up');
      await lb.app.checker.checkOnce();
      expect(node.health).toBe('down');
      // An expired licence (402) is named as such in /api/nodes, the metrics and the log, once.
      const view = (await (await request(`${lb.adminUrl}/api/nodes/a`)).body.json()) as {
        unlicensed: boolean;
      };
      expect(view.unlicensed).toBe(status === 402);
      expect(await lb.app.metrics.text()).toContain(
        `stickylb_upstream_unlicensed{upstream="a"} ${status === 402 ? 1 : 0}`,
      );
      const errors = lb.logs.filter((l) => l.level === 50 && l.upstream === 'a' && l.status === 402);
      expect(errors).toHaveLength(status === 402 ? 1 : 0);
      const moved = await onA.get('/');
      expect(moved.json.node).toBe('b');
      expect(moved.setCookie).toHaveLength(1);

      await a.setPing(200);
      await lb.app.checker.checkOnce();
      expect(node.health).toBe('down');
      await lb.app.checker.checkOnce();
      expect(node.health).toBe('up');
      // Moved clients stay where they are (rule 6) ...
      for (let i = 0; i < 3; i++) expect((await onA.get('/')).json.node).toBe('b');
      // ... and the recovered node gets new clients.
      const seen = new Set<string>();
      for (let i = 0; i < 4; i++) seen.add((await new Client(lb.url).get('/')).json.node as string);
      expect(seen.has('a')).toBe(true);
    },
  );

  it('a node failing every other probe is never marked down with the default thresholds', async () => {
    const a = await startFakeNode('a');
    const lb = await startBalancer(
      [a],
      { healthCheck: { interval: '2s', timeout: '1s' } },
      { manualHealth: true },
    );
    await a.setPing(200, true);
    for (let i = 0; i < 20; i++) await lb.app.checker.checkOnce();
    expect(lb.app.pool.get('a')!.health).toBe('up');
    const metrics = await (await request(`${lb.adminUrl}/metrics`)).body.text();
    expect(metrics).toMatch(/stickylb_health_checks_total\{upstream="a",result="failure"\} 10/);
  });

  it('a probe of a node that accepts no connection fails within healthCheck.timeout (regression: held 10 s by the default connect timeout)', async () => {
    const [a, gone] = await Promise.all([startFakeNode('a'), unreachableNode('gone')]);
    const lb = await startBalancer(
      [a, gone],
      { healthCheck: { interval: '1s', timeout: '200ms' } },
      { manualHealth: true },
    );
    await lb.app.checker.checkOnce();
    expect(lb.app.pool.get('gone')!.lastProbe).toMatchObject({ ok: false, error: 'UND_ERR_CONNECT_TIMEOUT' });
  });

  it('counts consecutive connection failures from real traffic as passive evidence', async () => {
    const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
    const lb = await startBalancer([a, b], { healthCheck: { passiveFailures: 2 } }, { manualHealth: true });
    await a.kill();
    for (let i = 0; i < 4; i++) expect((await new Client(lb.url).get('/')).status).toBe(200);
    // No probe ran since the start (manual health): only passive evidence can have marked it down.
    expect(lb.app.pool.get('a')!.health).toBe('down');
    const metrics = await lb.app.metrics.text();
    expect(metrics).toContain('stickylb_upstream_connect_errors_total{upstream="a"} 2');
    expect(metrics).toContain('stickylb_health_checks_total{upstream="a",result="failure"} 0');
  });

  it('reports a node whose clock is 5 s off, with one warning', async () => {
    const [a, b] = await Promise.all([startFakeNode('a', { skewMs: 5000 }), startFakeNode('b')]);
    const lb = await startBalancer([a, b], {}, { manualHealth: true });
    await lb.app.checker.checkOnce();
    await lb.app.checker.checkOnce();
    const skew = lb.app.pool.get('a')!.clockSkewMs!;
    expect(Math.abs(skew - 5000)).toBeLessThan(1100);
    expect(Math.abs(lb.app.pool.get('b')!.clockSkewMs!)).toBeLessThan(1100);
    // A warning is a log line by nature: matched by its fields, not its wording.
    const warnings = lb.logs.filter((l) => l.level === 40 && l.upstream === 'a' && 'skewSeconds' in l);
    expect(warnings).toHaveLength(1);
    const metrics = await (await request(`${lb.adminUrl}/metrics`)).body.text();
    expect(metrics).toMatch(/stickylb_upstream_clock_skew_seconds\{upstream="a"\} [45]\.\d+/);
  });

  it('warns when nodes run different Connect versions; requireSameVersion keeps the older one from new clients', async () => {
    const [a, b] = await Promise.all([
      startFakeNode('a', { version: '2025.01.0' }),
      startFakeNode('b', { version: '2025.03.1' }),
    ]);
    const lb = await startBalancer([a, b], { connect: { requireSameVersion: true } }, { manualHealth: true });
    await lb.app.checker.checkVersionsOnce();
    expect(lb.logs.filter((l) => l.level === 40 && l.component === 'health' && 'nodes' in l)).toHaveLength(1);
    expect(lb.app.pool.get('a')!.outdated).toBe(true);
    for (let i = 0; i < 5; i++) expect((await new Client(lb.url).get('/')).json.node).toBe('b');
    const metrics = await (await request(`${lb.adminUrl}/metrics`)).body.text();
    expect(metrics).toContain('stickylb_upstream_info{upstream="a",version="2025.01.0"} 1');
    const nodes = (await (await request(`${lb.adminUrl}/api/nodes`)).body.json()) as Array<{
      name: string;
      version: string;
    }>;
    expect(nodes.find((n) => n.name === 'b')!.version).toBe('2025.03.1');
  });
});

describe('slow start', () => {
  it('a returning node takes a minority of new WebSocket clients in its first seconds, and its full share after slowStart', async () => {
    const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
    const lb = await startBalancer(
      [a, b],
      {
        healthCheck: {
          interval: '1s',
          timeout: '500ms',
          unhealthyThreshold: 1,
          healthyThreshold: 1,
          slowStart: '3s',
        },
      },
      { manualHealth: true },
    );
    const nodeA = lb.app.pool.get('a')!;
    await a.setPing(503);
    await lb.app.checker.checkOnce();
    expect(nodeA.health).toBe('down');
    await a.setPing(200);
    await lb.app.checker.checkOnce();
    expect(nodeA.health).toBe('up');
    const landOnA = async () => {
      let n = 0;
      for (let i = 0; i < 20; i++) if ((await openSocket(`${lb.url}/ws`)).hello.hello === 'a') n++;
      return n;
    };
    // Its first seconds: b already holds none of these sockets either, yet a takes few of them.
    expect(await landOnA()).toBeLessThan(7);
    const view = async () =>
      ((await (await request(`${lb.adminUrl}/api/nodes/a`)).body.json()) as { slowStartShare: number | null })
        .slowStartShare;
    await expect.poll(view, { timeout: 6000 }).toBeNull();
    // Ramped: a holds fewer sockets than b now, and least-loaded gives it most of the next ones.
    expect(await landOnA()).toBeGreaterThan(10);
  });
});
