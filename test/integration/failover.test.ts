import { Agent, request } from 'undici';
import { describe, expect, it } from 'vitest';
import { affinityToken } from '../../src/affinity/token.js';
import { parseConfig } from '../../src/config/load.js';
import { startBalancer, testConfig, waitFor } from '../helpers/balancer.js';
import { startFakeNode } from '../helpers/fake-node.js';
import { Client } from '../helpers/http.js';
import { twoNodesOneToStop } from '../helpers/stopped-node.js';

describe('failover and re-pinning', () => {
  it('SIGKILL of the pinned node: the next GET succeeds elsewhere and re-pins the client', async () => {
    const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
    // Slow probes: the redispatch must do the work before the checker notices.
    const lb = await startBalancer([a, b], { healthCheck: { interval: '10s', timeout: '1s' } });
    const client = new Client(lb.url);
    const first = await client.get('/');
    const pinned = first.json.node === 'a' ? a : b;
    const other = pinned === a ? b : a;
    const oldCookie = client.cookie;
    await pinned.kill();
    const res = await client.get('/after-kill');
    expect(res.status).toBe(200);
    expect(res.json.node).toBe(other.name);
    expect(res.setCookie).toHaveLength(1);
    expect(client.cookie).not.toBe(oldCookie);
    const again = await client.get('/again');
    expect(again.json.node).toBe(other.name);
    expect(again.setCookie).toEqual([]);
    const repins = await (await request(`${lb.adminUrl}/metrics`)).body.text();
    expect(repins).toMatch(
      new RegExp(`stickylb_affinity_repins_total\\{from="${pinned.name}",reason="redispatch"\\} 1`),
    );
  });

  it('marks a killed node down within interval x unhealthyThreshold + timeout, and re-pins its clients', async () => {
    const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
    const lb = await startBalancer([a, b], {
      healthCheck: { interval: '200ms', timeout: '100ms', unhealthyThreshold: 3 },
    });
    const clients: Client[] = [];
    for (let i = 0; i < 6; i++) {
      const c = new Client(lb.url);
      await c.get('/');
      clients.push(c);
    }
    const onA = clients.filter((c) => c.cookie && lb.app.pool.byToken(c.cookie.split('=')[1]!)?.name === 'a');
    expect(onA.length).toBe(3);
    await a.kill();
    const node = lb.app.pool.get('a')!;
    await waitFor(() => node.health === 'down', 3000, 'a down');
    for (const c of onA) {
      const res = await c.get('/');
      expect(res.json.node).toBe('b');
      expect(res.setCookie).toHaveLength(1);
    }
    const metrics = await lb.app.metrics.text();
    expect(metrics).toContain('stickylb_upstream_transitions_total{upstream="a",to="down"} 1');
    expect(metrics).toMatch(/stickylb_affinity_repins_total\{from="a",reason="down"\} 3/);
  });

  it('8 keep-alive clients issuing GETs while a node is killed: zero failed GETs', async () => {
    const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
    const lb = await startBalancer([a, b]);
    let failures = 0;
    let ok = 0;
    let stop = false;
    const workers = Array.from({ length: 8 }, async () => {
      const client = new Client(lb.url);
      while (!stop) {
        try {
          const res = await client.get('/work');
          if (res.status === 200) ok++;
          else failures++;
        } catch {
          failures++;
        }
      }
    });
    await waitFor(() => ok >= 50, 5000, 'load running');
    await a.kill();
    const atKill = ok;
    // Through the kill, the passive or active marking of a as down, and well past it.
    await waitFor(
      () => lb.app.pool.get('a')!.health === 'down' && ok >= atKill + 200,
      10_000,
      'load after the kill',
    );
    stop = true;
    await Promise.all(workers);
    expect(ok).toBeGreaterThan(100);
    expect(failures).toBe(0);
  });

  it('a POST whose body reached the dying node gets 502, never a silent retry', async () => {
    const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
    const lb = await startBalancer([a, b], { healthCheck: { interval: '10s', timeout: '1s' } });
    const client = new Client(lb.url);
    const pinned = (await client.get('/')).json.node === 'a' ? a : b;
    const pending = client.send('POST', '/hang', 'payload that has an effect');
    await pinned.serving(1);
    await pinned.kill();
    const res = await pending;
    expect(res.status).toBe(502);
    expect(res.headers['x-stickylb-error']).toBe('UPSTREAM_RESET');
  });

  it('a POST refused at connect is redispatched with its body intact', async () => {
    const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
    const lb = await startBalancer([a, b], { healthCheck: { interval: '10s', timeout: '1s' } });
    // Pinned by its cookie alone: the balancer holds no keep-alive connection to the node, so the
    // POST meets a refused connection, not a dead pooled one.
    const pinned = a;
    const client = new Client(lb.url);
    client.cookie = `stickylb=${affinityToken('test-secret-0123456789abcdef', 'a')}`;
    await pinned.kill();
    const res = await client.send('POST', '/echo', 'deploy bundle', { 'content-type': 'text/plain' });
    expect(res.status).toBe(200);
    expect(res.json.body).toBe('deploy bundle');
    expect(res.json.node).not.toBe(pinned.name);
    expect(res.setCookie).toHaveLength(1);
  });

  it('a node marked down under waiting requests: a GET goes to another node and re-pins (as a handshake does), a POST that reached it gets 502', async () => {
    // No response timeout within the test: only the lost-node policy can answer these requests.
    const { lb, nodeA, stopA } = await twoNodesOneToStop({ response: '60s' });
    const [reader, writer] = [new Client(lb.url), new Client(lb.url)];
    for (const c of [reader, writer])
      c.cookie = `stickylb=${affinityToken('test-secret-0123456789abcdef', 'a')}`;
    stopA();
    const get = reader.get('/');
    const post = writer.send('POST', '/echo', 'has an effect', { 'content-type': 'text/plain' });
    await waitFor(() => nodeA.inFlight === 2, 3000, 'both requests waiting on a');
    await lb.app.checker.checkOnce();
    expect(nodeA.health).toBe('down');
    const got = await get;
    expect(got.status).toBe(200);
    expect(got.json.node).toBe('b');
    expect(got.setCookie[0]).toContain(`stickylb=${affinityToken('test-secret-0123456789abcdef', 'b')}`);
    const posted = await post;
    expect(posted.status).toBe(502);
    expect(posted.headers['x-stickylb-error']).toBe('UPSTREAM_RESET');
    expect(nodeA.inFlight).toBe(0);
  });

  it('a GET reset after it was sent is retried once on another node, the pin kept', async () => {
    const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
    const lb = await startBalancer([a, b], { healthCheck: { interval: '10s', timeout: '1s' } });
    const client = new Client(lb.url);
    const pinned = (await client.get('/')).json.node === 'a' ? a : b;
    const pending = client.get('/slow?ms=600');
    await pinned.serving(1);
    await pinned.kill();
    const res = await pending;
    expect(res.status).toBe(200);
    expect(res.json.node).not.toBe(pinned.name);
    expect(res.setCookie).toEqual([]);
  });

  it('all nodes down: 503 with Retry-After (HTML for browsers, JSON for API clients); one back: service resumes', async () => {
    const a = await startFakeNode('a');
    const lb = await startBalancer([a], {
      healthCheck: { interval: '100ms', timeout: '80ms', healthyThreshold: 1 },
    });
    const port = a.port;
    await a.kill();
    await waitFor(() => lb.app.pool.get('a')!.health === 'down', 3000);
    const json = await new Client(lb.url).get('/__api__/v1/content');
    expect(json.status).toBe(503);
    expect(json.headers['retry-after']).toBe('5');
    expect(json.json).toMatchObject({ error: { code: 'NO_AVAILABLE_NODE', status: 503 } });
    const html = await new Client(lb.url).get('/', { accept: 'text/html' });
    expect(html.status).toBe(503);
    expect(html.text).toContain('Service unavailable');
    expect((await request(`${lb.adminUrl}/readyz`)).statusCode).toBe(503);
    await startFakeNode('a', { port });
    await waitFor(() => lb.app.pool.get('a')!.health === 'up', 3000);
    expect((await new Client(lb.url).get('/')).status).toBe(200);
    expect((await request(`${lb.adminUrl}/readyz`)).statusCode).toBe(200);
  });

  it('whenAllDown: tryPinned sends pinned clients to their node anyway', async () => {
    const a = await startFakeNode('a');
    const lb = await startBalancer([a], { failover: { whenAllDown: 'tryPinned' } }, { manualHealth: true });
    const client = new Client(lb.url);
    await client.get('/');
    await a.setPing(503);
    for (let i = 0; i < 3; i++) await lb.app.checker.checkOnce();
    expect(lb.app.pool.get('a')!.health).toBe('down');
    const res = await client.get('/');
    expect(res.status).toBe(200);
    expect(res.json.node).toBe('a');
  });

  it('draining from YAML keeps pinned clients and takes no new ones; maintenance moves them', async () => {
    const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
    const lb = await startBalancer([a, b], {}, { manualHealth: true });
    const clients: Client[] = [];
    for (let i = 0; i < 4; i++) {
      const c = new Client(lb.url);
      await c.get('/');
      clients.push(c);
    }
    const onA = clients.filter((c) => lb.app.pool.byToken(c.cookie!.split('=')[1]!)?.name === 'a');
    expect(onA).toHaveLength(2);
    lb.app.apply(
      parseConfig(
        testConfig([a, b], {
          upstreams: [
            { name: 'a', url: a.url, state: 'draining' },
            { name: 'b', url: b.url },
          ],
        }),
      ),
    );
    for (const c of onA) expect((await c.get('/')).json.node).toBe('a');
    for (let i = 0; i < 5; i++) expect((await new Client(lb.url).get('/')).json.node).toBe('b');
    lb.app.apply(
      parseConfig(
        testConfig([a, b], {
          upstreams: [
            { name: 'a', url: a.url, state: 'maintenance' },
            { name: 'b', url: b.url },
          ],
        }),
      ),
    );
    for (const c of onA) {
      const res = await c.get('/');
      expect(res.json.node).toBe('b');
      expect(res.setCookie).toHaveLength(1);
    }
  });

  it('upstream response timeout maps to 504', async () => {
    const a = await startFakeNode('a');
    const lb = await startBalancer([a], { timeouts: { response: '300ms' } });
    const res = await new Client(lb.url).get('/hang');
    expect(res.status).toBe(504);
    expect(res.headers['x-stickylb-error']).toBe('UPSTREAM_TIMEOUT');
  });

  it('survives a client that resets mid-request and keeps serving', async () => {
    const a = await startFakeNode('a');
    const lb = await startBalancer([a]);
    const agent = new Agent();
    const ac = new AbortController();
    const p = request(`${lb.url}/slow?ms=500`, { dispatcher: agent, signal: ac.signal }).catch(
      () => 'aborted',
    );
    setTimeout(() => ac.abort(), 100);
    expect(await p).toBe('aborted');
    await agent.destroy();
    await waitFor(() => lb.app.pool.get('a')!.inFlight === 0, 2000, 'in-flight back to 0');
    expect((await new Client(lb.url).get('/')).status).toBe(200);
  });
});
