import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { affinityToken } from '../../src/affinity/token.js';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/logger.js';
import { startPrimary } from '../../src/modes/primary.js';
import { startBalancer, testConfig, waitFor } from '../helpers/balancer.js';
import { type FakeNode, startFakeNode } from '../helpers/fake-node.js';
import { Client } from '../helpers/http.js';
import { openSocket } from '../helpers/ws.js';

describe('upstreams from DNS (resolver controlled by the test)', () => {
  it('each address is a node with a stable token; new addresses join; a vanished one drains, then leaves', async () => {
    // Three "pods" on three loopback addresses, one port, as behind a headless Service.
    const first = await startFakeNode('pod-2', { host: '127.0.0.2' });
    const port = first.port;
    const [second, third] = await Promise.all([
      startFakeNode('pod-3', { host: '127.0.0.3', port }),
      startFakeNode('pod-4', { host: '127.0.0.4', port }),
    ]);
    let addresses = ['127.0.0.2', '127.0.0.3'];
    let failing = false;
    let failures = 0;
    const resolver = async (host: string) => {
      expect(host).toBe('connect-headless.posit.svc');
      if (failing) {
        failures++;
        throw Object.assign(new Error('SERVFAIL'), { code: 'ESERVFAIL' });
      }
      return addresses;
    };
    const lb = await startBalancer(
      [] as FakeNode[],
      {
        upstreams: [{ name: 'connect', dns: `connect-headless.posit.svc:${port}`, resolveInterval: '100ms' }],
      },
      { resolver },
    );
    const names = () => lb.app.pool.nodes.map((n) => `${n.name}:${n.state}`).sort();
    expect(names()).toEqual(['connect-127-0-0-2:active', 'connect-127-0-0-3:active']);

    const pinned = new Client(lb.url);
    for (let i = 0; i < 5 && (await pinned.get('/')).json.node !== 'pod-2'; i++) pinned.cookie = undefined;
    expect(pinned.cookie).toBe(
      `stickylb=${affinityToken('test-secret-0123456789abcdef', 'connect-127-0-0-2')}`,
    );
    const sock = await openSocket(`${lb.url}/ws`, pinned.cookie);
    expect(sock.hello.hello).toBe('pod-2');

    // A lookup failure keeps the last addresses.
    failing = true;
    await waitFor(() => failures >= 3, 3000, 'three failed lookups');
    expect(names()).toEqual(['connect-127-0-0-2:active', 'connect-127-0-0-3:active']);
    failing = false;

    // 127.0.0.2 leaves DNS, 127.0.0.4 joins: .2 drains while its WebSocket is open.
    addresses = ['127.0.0.3', '127.0.0.4'];
    await waitFor(() => names().includes('connect-127-0-0-4:active'), 3000, 'new address joins');
    await waitFor(() => lb.app.pool.get('connect-127-0-0-4')?.health === 'up', 3000, 'new node up');
    expect(names()).toContain('connect-127-0-0-2:draining');
    expect((await pinned.get('/')).json.node).toBe('pod-2');
    const fresh = new Set<unknown>();
    for (let i = 0; i < 6; i++) fresh.add((await new Client(lb.url).get('/')).json.node);
    expect([...fresh].sort()).toEqual(['pod-3', 'pod-4']);

    // Idle now: it leaves the pool, and its client is re-pinned.
    sock.ws.close();
    await waitFor(
      () => !names().some((n) => n.startsWith('connect-127-0-0-2')),
      3000,
      'vanished node removed',
    );
    const moved = await pinned.get('/');
    expect(['pod-3', 'pod-4']).toContain(moved.json.node);
    expect(moved.setCookie).toHaveLength(1);
    expect(second.port).toBe(third.port);

    // Its metric series left with it (pod churn must not grow /metrics), the others' stay.
    const metrics = await (await fetch(`${lb.adminUrl}/metrics`)).text();
    expect(metrics).not.toContain('upstream="connect-127-0-0-2"');
    expect(metrics).toMatch(/stickylb_requests_total\{upstream="connect-127-0-0-3",code="200"\} \d+/);
    expect(metrics).toContain('stickylb_health_checks_total{upstream="connect-127-0-0-4",result="success"}');
  });

  it('with workers, a vanished address drains while a worker holds its WebSocket, then leaves', async () => {
    // The primary resolves DNS and the workers (real forked processes running dist/cli.js) hold the
    // connections: the primary must learn from them that the node is still busy.
    const first = await startFakeNode('pod-2', { host: '127.0.0.2' });
    const port = first.port;
    await startFakeNode('pod-3', { host: '127.0.0.3', port });
    let addresses = ['127.0.0.2', '127.0.0.3'];
    let lookups = 0;
    const config = parseConfig(
      testConfig([], {
        upstreams: [{ name: 'connect', dns: `connect-headless.posit.svc:${port}`, resolveInterval: '100ms' }],
        logging: { level: 'silent' },
      }),
    );
    const primary = await startPrimary(config, 2, createLogger('silent'), undefined, {
      resolver: async () => {
        lookups++;
        return addresses;
      },
      exec: fileURLToPath(new URL('../../dist/cli.js', import.meta.url)),
    });
    onTestFinished(() => primary.close());
    const url = await primary.proxyUrl;
    const names = () => primary.pool.nodes.map((n) => `${n.name}:${n.state}`).sort();
    await waitFor(() => primary.pool.nodes.every((n) => n.health === 'up'), 5000, 'nodes up');

    const cookie = `stickylb=${affinityToken('test-secret-0123456789abcdef', 'connect-127-0-0-2')}`;
    const sock = await openSocket(`${url}/ws`, cookie);
    expect(sock.hello.hello).toBe('pod-2');
    // The primary's /api/nodes sums the workers' counters: the socket shows there.
    await expect
      .poll(async () => {
        const nodes = (await (await fetch(`${primary.adminUrl}/api/nodes`)).json()) as Array<{
          name: string;
          websockets: number;
        }>;
        return nodes.find((n) => n.name === 'connect-127-0-0-2')?.websockets;
      })
      .toBe(1);

    addresses = ['127.0.0.3'];
    await waitFor(() => names().includes('connect-127-0-0-2:draining'), 3000, 'vanished node drains');
    // It stays while the socket is open (ten DNS rounds and two polls of the workers later) and the socket lives.
    const seen = lookups;
    await waitFor(() => lookups >= seen + 20, 5000, 'twenty more lookups');
    expect(names()).toEqual(['connect-127-0-0-2:draining', 'connect-127-0-0-3:active']);
    expect(sock.ws.readyState).toBe(sock.ws.OPEN);

    sock.ws.close();
    await waitFor(() => names().join() === 'connect-127-0-0-3:active', 5000, 'idle vanished node removed');
  });

  it('rejects a dns entry that is not host:port, and an entry with both url and dns', async () => {
    const { parseConfig } = await import('../../src/config/load.js');
    expect(() => parseConfig({ upstreams: [{ name: 'c', dns: 'no-port' }] }, {})).toThrow(
      /upstreams\[0\]\.dns: must be host:port/,
    );
    expect(() => parseConfig({ upstreams: [{ name: 'c', dns: 'h:1', url: 'http://h:1' }] }, {})).toThrow(
      /upstreams\[0\]: needs exactly one of url or dns/,
    );
  });
});
