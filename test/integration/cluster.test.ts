import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:http2';
import { connect as tcpConnect } from 'node:net';
import { request } from 'undici';
import { describe, expect, it, onTestFinished } from 'vitest';
import { affinityToken } from '../../src/affinity/token.js';
import { waitFor } from '../helpers/balancer.js';
import { BrowserClient } from '../helpers/browser-client.js';
import { makeCert } from '../helpers/certs.js';
import { CLI, nodesWith, startCliBalancer, writeConfig } from '../helpers/cli-process.js';
import { contentPreferring } from '../helpers/content-order.js';
import { type FakeNode, startFakeNode } from '../helpers/fake-node.js';
import { openH2Socket } from '../helpers/h2-websocket.js';
import { Client } from '../helpers/http.js';
import { freePort } from '../helpers/ports.js';
import { rawExchange, rawJsonBody } from '../helpers/raw.js';
import { closed, openSocket } from '../helpers/ws.js';

const TOKEN = 'cluster-admin-token-0123456789';
const CLUSTER_SECRET = 'cluster-secret-0123456789';

/** A GET on a fresh connection (so successive calls can land on different workers). */
async function fresh(url: string, cookie?: string) {
  const c = new Client(url);
  c.cookie = cookie;
  const res = await c.get('/');
  await c.dispatcher.close();
  return { node: res.json.node as string, cookie: c.cookie, setCookie: res.setCookie };
}

function workerPids(primary: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(primary)], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map(Number);
  } catch {
    return [];
  }
}

/** The YAML of two workers in front of `nodes`. */
function twoWorkers(
  nodes: FakeNode[],
  listen: Record<string, unknown> = { host: '127.0.0.1', port: 0 },
  extra: Record<string, unknown> = {},
): string {
  return writeConfig({
    ...extra,
    listen,
    admin: { host: '127.0.0.1', port: 0, token: TOKEN },
    affinity: { secret: CLUSTER_SECRET },
    healthCheck: { interval: '200ms', timeout: '150ms' },
    workers: 2,
    upstreams: nodes.map((n) => ({ name: n.name, url: n.url })),
  });
}

describe('workers: 2 (node:cluster)', () => {
  it('every worker routes the same, drain reaches all of them, metrics and nodes are summed, a dead worker is replaced', async () => {
    const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
    const lb = await startCliBalancer(twoWorkers([a, b]));
    await waitFor(() => workerPids(lb.child.pid!).length === 2, 5000, 'two workers');
    await nodesWith(lb.adminUrl, 'up', 2);

    // Pins hold whichever worker a connection lands on.
    let requests = 0;
    const pinned: Array<{ node: string; cookie: string }> = [];
    for (let i = 0; i < 6; i++) {
      const first = await fresh(lb.url);
      requests++;
      pinned.push({ node: first.node, cookie: first.cookie! });
      for (let j = 0; j < 5; j++) {
        const again = await fresh(lb.url, first.cookie);
        requests++;
        expect(again.node).toBe(first.node);
        expect(again.setCookie).toEqual([]);
      }
    }

    // Drain through the primary's admin API: no worker gives node a new clients any more.
    const drained = await request(`${lb.adminUrl}/api/nodes/a/drain`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(drained.statusCode).toBe(200);
    await drained.body.dump();
    // The drain reaches each worker over IPC: wait until eight new clients in a row land on b.
    let inARow = 0;
    await expect
      .poll(async () => {
        inARow = (await fresh(lb.url)).node === 'b' ? inARow + 1 : 0;
        requests++;
        return inARow;
      })
      .toBeGreaterThanOrEqual(8);
    for (let i = 0; i < 10; i++) {
      expect((await fresh(lb.url)).node).toBe('b');
      requests++;
    }
    const onA = pinned.find((p) => p.node === 'a')!;
    expect((await fresh(lb.url, onA.cookie)).node).toBe('a');
    requests++;

    // /metrics and /api/nodes sum the workers; gauges are not doubled.
    const metrics = await (await request(`${lb.adminUrl}/metrics`)).body.text();
    const total = [
      ...metrics.matchAll(/^stickylb_requests_total\{upstream="[ab]",code="200"\} (\d+)$/gm),
    ].reduce((sum, m) => sum + Number(m[1]), 0);
    expect(total).toBe(requests);
    expect(metrics).toMatch(/^stickylb_upstream_up\{upstream="a"\} 1$/m);
    const nodes = (await (await request(`${lb.adminUrl}/api/nodes`)).body.json()) as Array<{
      name: string;
      requests: number;
      state: string;
    }>;
    expect(nodes.reduce((s, n) => s + n.requests, 0)).toBe(requests);
    expect(nodes.find((n) => n.name === 'a')!.state).toBe('draining');

    // A node killed: the primary's checker marks it down and every worker re-pins its clients.
    const sock = await openSocket(`${lb.url}/ws`, onA.cookie);
    const code = closed(sock.ws);
    await a.kill();
    expect(await code).toBe(1006);
    await nodesWith(lb.adminUrl, 'down', 1);
    for (let i = 0; i < 4; i++) expect((await fresh(lb.url, onA.cookie)).node).toBe('b');

    // A worker killed: the primary starts another; service goes on.
    const [victim] = workerPids(lb.child.pid!);
    process.kill(victim!, 'SIGKILL');
    await waitFor(
      () => workerPids(lb.child.pid!).length === 2 && !workerPids(lb.child.pid!).includes(victim!),
      5000,
    );
    for (let i = 0; i < 6; i++) expect((await fresh(lb.url)).node).toBe('b');

    // SIGTERM right away, while the new worker may still be starting: every worker stops, exit 0.
    lb.child.kill('SIGTERM');
    expect(await lb.exited).toBe(0);
  }, 60_000);

  it('with TLS every worker serves HTTP/2 and WebSockets over it; the HTTP/2 metrics are summed', async () => {
    const cert = makeCert();
    const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
    const lb = await startCliBalancer(
      twoWorkers([a, b], { host: '127.0.0.1', port: 0, tls: { cert: cert.certFile, key: cert.keyFile } }),
    );
    await waitFor(() => workerPids(lb.child.pid!).length === 2, 5000, 'two workers');
    await nodesWith(lb.adminUrl, 'up', 2);
    const pin = `stickylb=${affinityToken('cluster-secret-0123456789', 'b')}`;
    // Fresh sessions, so that both workers get some.
    for (let i = 0; i < 6; i++) {
      const session = connect(lb.url, { ca: cert.cert });
      session.on('error', () => {});
      try {
        const ws = await openH2Socket(session, '/ws', { cookie: pin });
        expect(ws.headers[':status']).toBe(200);
        expect(JSON.parse(await ws.next()).hello).toBe('b');
        ws.stream.close();
      } finally {
        session.destroy();
      }
    }
    const metrics = await (await request(`${lb.adminUrl}/metrics`)).body.text();
    expect(metrics).toMatch(/^stickylb_http2_websockets_total 6$/m);
  });

  it('with listen.proxyProtocol every worker reads the PROXY header of its connections', async () => {
    const a = await startFakeNode('a');
    const lb = await startCliBalancer(
      writeConfig({
        listen: { host: '127.0.0.1', port: 0, proxyProtocol: true },
        admin: { host: '127.0.0.1', port: 0 },
        affinity: { secret: CLUSTER_SECRET },
        workers: 2,
        upstreams: [{ name: 'a', url: a.url }],
      }),
    );
    await waitFor(() => workerPids(lb.child.pid!).length === 2, 5000, 'two workers');
    // Connections are dealt round-robin to the workers: eight of them reach both.
    for (let i = 1; i <= 8; i++) {
      const answer = await rawExchange(
        lb.url,
        `PROXY TCP4 203.0.113.${i} 127.0.0.1 4000${i} 8080\r\nGET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      );
      expect(answer).toMatch(/^HTTP\/1.1 200/);
      expect((rawJsonBody(answer).headers as Record<string, string>)['x-forwarded-for']).toBe(
        `203.0.113.${i}`,
      );
    }
    for (let i = 0; i < 2; i++) {
      expect(await rawExchange(lb.url, 'GET /echo HTTP/1.1\r\nHost: x\r\n\r\n')).toBe('');
    }
    const metrics = await (await request(`${lb.adminUrl}/metrics`)).body.text();
    expect(metrics).toMatch(/^stickylb_proxy_protocol_errors_total 2$/m);
  }, 30_000);

  it("a worker's passive evidence reaches the primary and every other worker", async () => {
    const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
    const lb = await startCliBalancer(
      writeConfig({
        listen: { host: '127.0.0.1', port: 0 },
        admin: { host: '127.0.0.1', port: 0, token: TOKEN },
        affinity: { secret: CLUSTER_SECRET },
        // Probes too slow to notice the kill within the test: only passive evidence can.
        healthCheck: { interval: '60s', timeout: '1s', passiveFailures: 1 },
        workers: 2,
        upstreams: [
          { name: 'a', url: a.url },
          { name: 'b', url: b.url },
        ],
      }),
    );
    await waitFor(() => workerPids(lb.child.pid!).length === 2, 5000, 'two workers');
    await nodesWith(lb.adminUrl, 'up', 2);
    await a.kill();
    const pinned = affinityToken('cluster-secret-0123456789', 'a');
    // One refused request in whichever worker gets it: redispatched to b, and a marked down.
    const moved = await fresh(lb.url, `stickylb=${pinned}`);
    expect(moved.node).toBe('b');
    const health = async () => {
      const res = await request(`${lb.adminUrl}/api/nodes/a`);
      return ((await res.body.json()) as { health: string }).health;
    };
    await expect.poll(health).toBe('down');
    // Every worker now re-pins a's clients at once, with no refused connection: every answer is
    // a re-pin with a Set-Cookie and no worker counts another connect error.
    for (let i = 0; i < 8; i++) {
      const again = await fresh(lb.url, `stickylb=${pinned}`);
      expect(again.node).toBe('b');
      expect(again.setCookie).toHaveLength(1);
    }
    const metrics = await (await request(`${lb.adminUrl}/metrics`)).body.text();
    expect(metrics).toContain('stickylb_upstream_connect_errors_total{upstream="a"} 1');
    expect(metrics).toMatch(/stickylb_affinity_repins_total\{from="a",reason="down"\} 8/);
  });

  it('with connect.apiKey every worker places a vanity path as its content, on the node Connect says runs it', async () => {
    const nodes = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
    // The app prefers b by rendezvous; Connect says a process of it runs on a (rule 10: a node
    // running the app first, while under the bound). Both facts reach the workers from the primary.
    const app = contentPreferring('b', ['a', 'b'], CLUSTER_SECRET);
    for (const n of nodes)
      await n.setContents([{ guid: app, content_url: 'https://connect.example/sales/dashboard/' }]);
    await nodes[0]!.setProcs([{ appGuid: app, type: 'shiny' }]);
    const connect = { apiKey: 'test-connect-key-0123456789', procsInterval: '200ms' };
    const lb = await startCliBalancer(twoWorkers(nodes, undefined, { connect }));
    /**
     * Where two page loads on fresh connections (spread over the workers) were placed, and their
     * pin's path. Each placed page counts on its node until its WebSocket opens (issue 32.7): two
     * keep a within its bound whatever came before.
     */
    const placed = async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 2; i++) {
        const tab = new BrowserClient(lb.url);
        const page = await tab.get('/sales/dashboard/', 'navigate');
        const pin = page.setCookie.find((l) => l.startsWith('stickylb_content='));
        seen.add(`${page.node} ${/; Path=([^;]+);/.exec(pin ?? '')?.[1] ?? 'no content pin'}`);
        await tab.close();
      }
      return [...seen];
    };
    await expect.poll(placed, { timeout: 15_000, interval: 200 }).toEqual(['a /sales/dashboard/']);
  });

  it('/readyz says 200 only once a worker accepts on the proxy port (issue 22.7)', async () => {
    const a = await startFakeNode('a');
    const [port, adminPort] = [await freePort(), await freePort()];
    const file = twoWorkers([a], { host: '127.0.0.1', port });
    const text = readFileSync(file, 'utf8').replace(
      /admin:\n(\s+)host: 127\.0\.0\.1\n\s+port: 0/,
      `admin:\n$1host: 127.0.0.1\n$1port: ${adminPort}`,
    );
    writeFileSync(file, text);
    const child = spawn(process.execPath, [CLI, '--config', file], { stdio: 'ignore' });
    onTestFinished(() => {
      child.kill('SIGKILL');
    });
    // The first 200 from /readyz, polled as fast as a load balancer's checker would.
    await expect
      .poll(
        async () => {
          try {
            return (await request(`http://127.0.0.1:${adminPort}/readyz`)).statusCode;
          } catch {
            return 0;
          }
        },
        { timeout: 15_000, interval: 20 },
      )
      .toBe(200);
    const accepted = await new Promise<boolean>((resolve) => {
      const socket = tcpConnect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    expect(accepted).toBe(true);
  });
});
