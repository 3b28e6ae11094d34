import { readFileSync } from 'node:fs';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { startBalancer, testConfig, waitFor } from '../helpers/balancer.js';
import { startFakeNode } from '../helpers/fake-node.js';
import { Client } from '../helpers/http.js';

/** Parses Prometheus text exposition strictly enough to catch malformed output. */
function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# HELP ')) continue;
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      expect(['counter', 'gauge', 'histogram', 'summary', 'untyped']).toContain(type);
      types.set(name!, type!);
      continue;
    }
    // prom-client writes NaN as `Nan` (the event loop lag before its first sample); Prometheus reads
    // either spelling (Go's ParseFloat ignores case).
    const m =
      /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.eE+-]+|NaN|Nan|\+Inf|-Inf)$/.exec(
        line,
      );
    expect(m, `malformed metrics line: ${line}`).not.toBeNull();
    samples.set(`${m![1]}${m![2] ?? ''}`, Number(m![3]));
  }
  expect(types.size).toBeGreaterThan(10);
  return samples;
}

const metricsOf = async (adminUrl: string) =>
  parseMetrics(await (await request(`${adminUrl}/metrics`)).body.text());

describe('admin server', () => {
  it('the status history counts re-pins from the counters (every client moved off a killed node)', async () => {
    const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
    const lb = await startBalancer([a, b], {}, { historySampleMs: 50 });
    const onA = new Client(lb.url);
    for (let i = 0; i < 10 && (await onA.get('/')).json.node !== 'a'; i++) onA.cookie = undefined;
    await a.kill();
    await waitFor(() => lb.app.pool.get('a')!.health === 'down', 5000, 'a down');
    expect((await onA.get('/')).json.node).toBe('b');
    await expect
      .poll(async () => {
        const history = (await (await request(`${lb.adminUrl}/api/history`)).body.json()) as {
          events: Array<{ node?: string; text: string }>;
        };
        return history.events.some((e) => e.node === 'a' && e.text === '1 clients re-pinned (down)');
      })
      .toBe(true);
  });

  it('a reload that changes restart-only keys applies the rest and warns, naming every ignored key', async () => {
    const a = await startFakeNode('a');
    const lb = await startBalancer([a]);
    /** The file with restart-only changes (admin port, log level, workers) and node a at `weight`. */
    const reloadWith = (weight: number) =>
      lb.app.apply(
        parseConfig(
          testConfig([a], {
            admin: { host: '127.0.0.1', port: 1, token: 'test-admin-token-0123456789' },
            workers: 2,
            logging: { level: 'warn' },
            upstreams: [{ name: 'a', url: a.url, weight }],
          }),
        ),
      );
    reloadWith(3);
    const warned = lb.logs.find((l) => Array.isArray(l.keys));
    expect(warned?.keys).toEqual(['admin.port', 'logging.level', 'workers']);
    expect(lb.app.pool.get('a')!.weight).toBe(3);
    expect((await request(`${lb.adminUrl}/healthz`)).statusCode).toBe(200);
    // The same file again: what runs still differs from it, so it still says so (issue 31).
    reloadWith(2);
    const again = lb.logs.filter((l) => Array.isArray(l.keys));
    expect(again).toHaveLength(2);
    expect(again[1]!.keys).toEqual(['admin.port', 'logging.level', 'workers']);
    expect(lb.app.pool.get('a')!.weight).toBe(2);
  });

  it('serves healthz, readyz, nodes and a valid /metrics with zero-valued series from start', async () => {
    const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
    const lb = await startBalancer([a, b]);
    expect((await request(`${lb.adminUrl}/healthz`)).statusCode).toBe(200);
    expect((await request(`${lb.adminUrl}/readyz`)).statusCode).toBe(200);
    const nodes = (await (await request(`${lb.adminUrl}/api/nodes`)).body.json()) as Array<
      Record<string, unknown>
    >;
    expect(nodes.map((n) => n.name)).toEqual(['a', 'b']);
    expect(nodes[0]).toMatchObject({ url: a.url, health: 'up', state: 'active', inFlight: 0, websockets: 0 });
    const m = await metricsOf(lb.adminUrl);
    expect(m.get('stickylb_upstream_up{upstream="a"}')).toBe(1);
    expect(m.get('stickylb_retries_total{upstream="b"}')).toBe(0);
    expect(m.get('stickylb_health_checks_total{upstream="a",result="failure"}')).toBe(0);
    expect(m.has('process_cpu_user_seconds_total')).toBe(true);
    expect(m.has(`stickylb_build_info{version="0.1.0",node_version="${process.version}"}`)).toBe(true);
    // The data port never serves admin paths.
    const proxied = await new Client(lb.url).get('/metrics');
    expect(proxied.json.node).toBeDefined();
  });

  it('metric values move across a failover', async () => {
    const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
    const lb = await startBalancer([a, b], { healthCheck: { interval: '100ms', timeout: '80ms' } });
    const clients = [new Client(lb.url), new Client(lb.url)];
    for (const c of clients) await c.get('/');
    await clients[0]!.get('/status?code=404');
    const before = await metricsOf(lb.adminUrl);
    expect(
      (before.get('stickylb_requests_total{upstream="a",code="200"}') ?? 0) +
        (before.get('stickylb_requests_total{upstream="b",code="200"}') ?? 0),
    ).toBe(2);
    expect(
      before.get('stickylb_requests_total{upstream="a",code="404"}') ??
        before.get('stickylb_requests_total{upstream="b",code="404"}'),
    ).toBe(1);
    await a.kill();
    await waitFor(() => lb.app.pool.get('a')!.health === 'down', 3000);
    for (const c of clients) await c.get('/');
    const after = await metricsOf(lb.adminUrl);
    expect(after.get('stickylb_upstream_up{upstream="a"}')).toBe(0);
    expect(after.get('stickylb_upstream_up{upstream="b"}')).toBe(1);
    expect(after.get('stickylb_affinity_repins_total{from="a",reason="down"}')).toBe(1);
    expect(after.get('stickylb_upstream_transitions_total{upstream="a",to="down"}')).toBe(1);
    const bBefore = before.get('stickylb_requests_total{upstream="b",code="200"}') ?? 0;
    expect(after.get('stickylb_requests_total{upstream="b",code="200"}')).toBe(bBefore + 2);
    expect(after.get('stickylb_request_duration_seconds_count{upstream="b"}')).toBeGreaterThanOrEqual(2);
  });

  it('mutating calls need the bearer token', async () => {
    const a = await startFakeNode('a');
    const lb = await startBalancer([a]);
    const post = (path: string, token?: string) =>
      request(`${lb.adminUrl}${path}`, {
        method: 'POST',
        headers: token ? { authorization: `Bearer ${token}` } : {},
      });
    expect((await post('/api/nodes/a/drain')).statusCode).toBe(401);
    expect((await post('/api/nodes/a/drain', 'wrong-token-0123456789')).statusCode).toBe(401);
    expect(lb.app.pool.get('a')!.state).toBe('active');
    const ok = await post('/api/nodes/a/drain', 'test-admin-token-0123456789');
    expect(ok.statusCode).toBe(200);
    expect(((await ok.body.json()) as { state: string }).state).toBe('draining');
    expect((await post('/api/nodes/zzz/drain', 'test-admin-token-0123456789')).statusCode).toBe(404);
    // A malformed percent-encoding is just an unknown node, not a server error.
    expect((await post('/api/nodes/%E0%A4%A/drain', 'test-admin-token-0123456789')).statusCode).toBe(404);
    expect((await request(`${lb.adminUrl}/api/nodes/%E0%A4%A`)).statusCode).toBe(404);
    const noToken = await startBalancer([a], { admin: { host: '127.0.0.1', port: 0, token: undefined } });
    const refused = await request(`${noToken.adminUrl}/api/nodes/a/drain`, { method: 'POST' });
    expect(refused.statusCode).toBe(403);
    expect(await refused.body.text()).toContain('admin.token');
  });

  it('drain through the API changes routing: pinned clients stay, new ones go elsewhere', async () => {
    const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
    // Slow start off: an activated node takes its full share of new clients at once.
    const lb = await startBalancer([a, b], { healthCheck: { slowStart: 0 } });
    const pinned = new Client(lb.url);
    let node = (await pinned.get('/')).json.node;
    if (node !== 'a') {
      pinned.cookie = undefined;
      node = (await pinned.get('/')).json.node;
    }
    expect(node).toBe('a');
    await request(`${lb.adminUrl}/api/nodes/a/drain`, {
      method: 'POST',
      headers: { authorization: 'Bearer test-admin-token-0123456789' },
    });
    expect((await pinned.get('/')).json.node).toBe('a');
    for (let i = 0; i < 4; i++) expect((await new Client(lb.url).get('/')).json.node).toBe('b');
    await request(`${lb.adminUrl}/api/nodes/a/activate`, {
      method: 'POST',
      headers: { authorization: 'Bearer test-admin-token-0123456789' },
    });
    const seen = new Set<unknown>();
    for (let i = 0; i < 4; i++) seen.add((await new Client(lb.url).get('/')).json.node);
    expect(seen.has('a')).toBe(true);
  });

  it('serves a status page without external resources', async () => {
    const a = await startFakeNode('a');
    const lb = await startBalancer([a]);
    const page = await (await request(`${lb.adminUrl}/`)).body.text();
    expect(page).toContain('<table id="nodes"');
    expect(page).not.toMatch(/https?:\/\/(?!127\.0\.0\.1)/);
  });
});

describe('config/grafana-dashboard.json', () => {
  it('uses only metrics that /metrics exports', async () => {
    const dashboard = readFileSync(new URL('../../config/grafana-dashboard.json', import.meta.url), 'utf8');
    const used = new Set(dashboard.match(/stickylb_[a-z_]+/g) ?? []);
    expect(used.size).toBeGreaterThan(8);
    const a = await startFakeNode('a');
    const lb = await startBalancer([a]);
    await new Client(lb.url).get('/');
    const text = await (await request(`${lb.adminUrl}/metrics`)).body.text();
    for (const name of used) expect(text, `${name} is not exported`).toContain(`${name}`);
  });
});

describe('admin server access', () => {
  it.each<[string, string, number]>([
    ['an IP literal', '127.0.0.1:9090', 200],
    ['localhost', 'localhost:9090', 200],
    ['IPv6 loopback', '[::1]:9090', 200],
    ['a listed name, any case', 'Stickylb-Admin.Posit.svc:9090', 200],
    ['any other name (DNS rebinding)', 'attacker.example.com', 421],
    ['a name that only ends like a listed one', 'evil-stickylb-admin.posit.svc', 421],
  ])('answers only known Host values: %s', async (_what, host, status) => {
    const a = await startFakeNode('a');
    const lb = await startBalancer([a], { admin: { allowedHosts: ['stickylb-admin.posit.svc'] } });
    const res = await request(`${lb.adminUrl}/api/nodes`, { headers: { host } });
    expect(res.statusCode).toBe(status);
    await res.body.dump();
  });

  it('admin.readToken guards /metrics and /api/nodes (either token reads); liveness and readiness stay open', async () => {
    const a = await startFakeNode('a');
    const lb = await startBalancer([a], { admin: { readToken: 'read-token-0123456789' } });
    const get = async (path: string, token?: string) => {
      const res = await request(`${lb.adminUrl}${path}`, {
        headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      });
      await res.body.dump();
      return res.statusCode;
    };
    expect(await get('/metrics')).toBe(401);
    expect(await get('/api/nodes')).toBe(401);
    expect(await get('/api/nodes/a', 'wrong-token-0123456789')).toBe(401);
    expect(await get('/metrics', 'read-token-0123456789')).toBe(200);
    expect(await get('/api/nodes', 'test-admin-token-0123456789')).toBe(200);
    expect(await get('/healthz')).toBe(200);
    expect(await get('/readyz')).toBe(200);
    expect(await get('/')).toBe(200);
  });
});
