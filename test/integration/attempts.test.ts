/**
 * The attempt policy against real nodes: how far redispatch goes, what a connect timeout does for
 * HTTP and WebSocket alike, and the idle cap on tunnels.
 */
import { describe, expect, it } from 'vitest';
import { affinityToken } from '../../src/affinity/token.js';
import { startBalancer } from '../helpers/balancer.js';
import { startFakeNode, unreachableNode } from '../helpers/fake-node.js';
import { Client } from '../helpers/http.js';
import { closed, openSocket, roundTrip } from '../helpers/ws.js';

const pin = (name: string) => `stickylb=${affinityToken('test-secret-0123456789abcdef', name)}`;

describe('attempts', () => {
  it.each([0, 1, 2])(
    'failover.redispatchAttempts %i: a request meeting only refusals tries 1 + that many nodes, then gets 503',
    async (attempts) => {
      const nodes = await Promise.all(['a', 'b', 'c', 'd'].map((n) => startFakeNode(n)));
      const lb = await startBalancer(
        nodes,
        { failover: { redispatchAttempts: attempts }, healthCheck: { passiveFailures: 0 } },
        { manualHealth: true },
      );
      await Promise.all(nodes.map((n) => n.kill()));
      const client = new Client(lb.url);
      client.cookie = pin('a');
      const res = await client.get('/', { accept: 'application/json' });
      expect(res.status).toBe(503);
      expect(res.headers['x-stickylb-error']).toBe('NO_AVAILABLE_NODE');
      const metrics = await lb.app.metrics.text();
      const sum = (name: string) =>
        [...metrics.matchAll(new RegExp(`^${name}\\{upstream="[a-d]"\\} (\\d+)`, 'gm'))].reduce(
          (n, m) => n + Number(m[1]),
          0,
        );
      expect(sum('stickylb_upstream_connect_errors_total')).toBe(1 + attempts);
      expect(sum('stickylb_retries_total')).toBe(attempts);
    },
  );

  it('a connect timeout sends an idempotent request once to another node and keeps the pin; a POST gets 504', async () => {
    const [a, slow] = await Promise.all([startFakeNode('a'), unreachableNode('slow')]);
    const lb = await startBalancer([a, slow], { timeouts: { connect: '300ms' } }, { manualHealth: true });
    const client = new Client(lb.url);
    client.cookie = pin('slow');
    const get = await client.get('/');
    expect(get.status).toBe(200);
    expect(get.json.node).toBe('a');
    expect(get.setCookie).toEqual([]);
    const post = await client.send('POST', '/echo', 'deploy', { accept: 'application/json' });
    expect(post.status).toBe(504);
    expect(post.headers['x-stickylb-error']).toBe('UPSTREAM_CONNECT_TIMEOUT');
  });

  it('a WebSocket handshake meeting a connect timeout is retried the same way (one policy): 101 from another node, pin kept', async () => {
    const [a, slow] = await Promise.all([startFakeNode('a'), unreachableNode('slow')]);
    const lb = await startBalancer([a, slow], { timeouts: { connect: '300ms' } }, { manualHealth: true });
    const sock = await openSocket(`${lb.url}/ws`, pin('slow'));
    expect(sock.hello.hello).toBe('a');
    expect(sock.setCookie).toEqual([]);
  });

  it('timeouts.websocketIdle cuts a silent tunnel without a clean close and keeps a talking one', async () => {
    const a = await startFakeNode('a');
    const lb = await startBalancer([a], { timeouts: { websocketIdle: '400ms' } });
    const node = lb.app.pool.get('a')!;
    const [silent, talking] = [await openSocket(`${lb.url}/ws`), await openSocket(`${lb.url}/ws`)];
    const silentClosed = closed(silent.ws);
    // Round trips 100 ms apart (traffic paced, nothing waited on) until well past the idle cap.
    for (let i = 0; i < 10; i++) {
      expect((await roundTrip(talking.ws, `ping ${i}`)).data.toString()).toBe(`ping ${i}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await silentClosed).toBe(1006);
    expect(talking.ws.readyState).toBe(talking.ws.OPEN);
    expect(node.websockets).toBe(1);
  });
});
