/**
 * Rule 14 (issue 34): switching a running cluster to stickylb moves no session. Clients pinned by a
 * real HAProxy (`cookie SRV insert`, as Posit's HA guide shows) keep their node through stickylb;
 * Traefik's and ingress-nginx's cookies, as those balancers derive them from a node's address, do
 * too, over HTTP/1.1, HTTP/2 and WebSocket. A cookie naming a node that is down is placed as usual.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { type ClientHttp2Session, connect } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { describe, expect, it, onTestFinished } from 'vitest';
import { adoptValues } from '../../src/affinity/adopt.js';
import { affinityToken } from '../../src/affinity/token.js';
import { startBalancer, type TestBalancer, waitFor } from '../helpers/balancer.js';
import { makeCert } from '../helpers/certs.js';
import { type FakeNode, startFakeNode } from '../helpers/fake-node.js';
import { freePort } from '../helpers/ports.js';
import { openSocket } from '../helpers/ws.js';

const hasHaproxy = spawnSync('haproxy', ['-v']).status === 0;

interface Seen {
  status: number;
  node: string;
  cookie: string | undefined;
  setCookie: string[];
}

async function get(url: string, cookie?: string): Promise<Seen> {
  const res = await request(url, { headers: cookie === undefined ? {} : { cookie } });
  const body = (await res.body.json()) as { node: string; headers: Record<string, string> };
  const raw = res.headers['set-cookie'];
  return {
    status: res.statusCode,
    node: body.node,
    cookie: body.headers?.cookie,
    setCookie: raw === undefined ? [] : Array.isArray(raw) ? raw : [raw],
  };
}

/** HAProxy in HTTP mode inserting `SRV` with each server's cookie value, as Posit's HA guide shows. */
async function startHaproxy(nodes: readonly FakeNode[]): Promise<string> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'stickylb-haproxy-'));
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(
    file,
    [
      'defaults',
      '  mode http',
      '  timeout connect 2s',
      '  timeout client 30s',
      '  timeout server 30s',
      'frontend connect',
      `  bind 127.0.0.1:${port}`,
      '  default_backend nodes',
      'backend nodes',
      '  balance roundrobin',
      '  cookie SRV insert indirect nocache httponly',
      ...nodes.map((n) => `  server ${n.name} 127.0.0.1:${n.port} cookie ${n.name}`),
      '',
    ].join('\n'),
  );
  const child = spawn('haproxy', ['-f', file, '-db'], { stdio: 'ignore' });
  onTestFinished(() => {
    child.kill('SIGKILL');
  });
  const url = `http://127.0.0.1:${port}`;
  await expect
    .poll(async () => {
      try {
        return (await get(`${url}/echo`)).status;
      } catch {
        return 0;
      }
    })
    .toBe(200);
  return url;
}

/** GET /echo over an HTTP/2 session with `cookie`: the node that answered and the Set-Cookie lines. */
function h2Get(s: ClientHttp2Session, cookie: string) {
  return new Promise<{ node: string; setCookie: string[] }>((resolve, reject) => {
    const req = s.request({ ':path': '/echo', cookie, accept: 'application/json' });
    let body = '';
    let setCookie: string[] = [];
    req.on('response', (h) => {
      setCookie = (h['set-cookie'] as string[] | undefined) ?? [];
    });
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => resolve({ node: (JSON.parse(body) as { node: string }).node, setCookie }));
    req.on('error', reject);
  });
}

const SECRET = 'test-secret-0123456789abcdef';

const adoptedCount = async (lb: TestBalancer, kind: string) =>
  Number(
    new RegExp(`^stickylb_affinity_adopted_total\\{kind="${kind}"\\} (\\d+)`, 'm').exec(
      await lb.app.metrics.text(),
    )?.[1] ?? 0,
  );

describe('switching balancers moves no session (rule 14)', () => {
  describe.runIf(hasHaproxy || process.env.STICKYLB_REQUIRE_E2E === '1')('from HAProxy', () => {
    it('40 clients pinned by a real HAProxy keep their node through stickylb, and get its pin', async () => {
      const nodes = await Promise.all(['connect1', 'connect2', 'connect3'].map((n) => startFakeNode(n)));
      const haproxy = await startHaproxy(nodes);
      const clients: Array<{ node: string; srv: string }> = [];
      for (let i = 0; i < 40; i++) {
        const first = await get(`${haproxy}/echo`);
        const srv = first.setCookie.find((c) => c.startsWith('SRV='))!.split(';')[0]!;
        clients.push({ node: first.node, srv });
      }
      expect(new Set(clients.map((c) => c.node)).size).toBe(3);
      const lb = await startBalancer(nodes, { affinity: { adopt: [{ cookie: 'SRV', kind: 'haproxy' }] } });
      for (const c of clients) {
        const next = await get(`${lb.url}/echo`, `${c.srv}; app=1`);
        expect(next.node).toBe(c.node);
        // stickylb's own pin on the answer; the old cookie kept from the node.
        expect(next.setCookie.some((l) => l.startsWith('stickylb='))).toBe(true);
        expect(next.cookie).toBe('app=1');
      }
      expect(await adoptedCount(lb, 'haproxy')).toBe(40);
      // Shiny reconnects carrying only the old cookie land on their node too (10 of 10).
      for (const c of clients.slice(0, 10)) {
        const ws = await openSocket(`${lb.url}/ws`, c.srv);
        expect(ws.hello.hello).toBe(c.node);
        expect(ws.hello.cookie).toBeNull();
        ws.ws.close();
      }
      // Afterwards stickylb's own pin alone keeps each client there.
      for (const c of clients) {
        const pinned = await get(`${lb.url}/echo`, `stickylb=${affinityToken(SECRET, c.node)}`);
        expect(pinned.node).toBe(c.node);
        expect(pinned.setCookie).toEqual([]);
      }
      // Over HTTP/2 the old cookie does the same.
      const cert = makeCert();
      const tls = await startBalancer(nodes, {
        listen: { host: '127.0.0.1', port: 0, tls: { cert: cert.certFile, key: cert.keyFile } },
        affinity: { adopt: [{ cookie: 'SRV', kind: 'haproxy' }] },
      });
      const s = connect(tls.url, { ca: cert.cert });
      s.on('error', () => {});
      onTestFinished(() => {
        s.destroy();
      });
      for (const c of clients.slice(0, 10)) expect((await h2Get(s, c.srv)).node).toBe(c.node);
    });
  });

  it('Traefik and ingress-nginx cookies, derived from each node address, keep their node over HTTP/1.1', async () => {
    const nodes = await Promise.all(['a', 'b'].map((n) => startFakeNode(n)));
    const backend = 'connect-rstudio-connect-80';
    const traefik = { cookie: 'RSC-SESSION-COOKIE', kind: 'traefik' as const, values: {} };
    const nginx = { cookie: 'posit-connect', kind: 'ingress-nginx' as const, values: {}, backend };
    const lb = await startBalancer(nodes, { affinity: { adopt: [traefik, nginx] } });
    for (const n of nodes) {
      const [traefikValue] = adoptValues(traefik, n.name, n.url);
      expect((await get(`${lb.url}/echo`, `RSC-SESSION-COOKIE=${traefikValue}`)).node).toBe(n.name);
      // ingress-nginx writes KEY|BACKEND_KEY; only KEY names the endpoint.
      const [key] = adoptValues(nginx, n.name, n.url);
      const seen = await get(
        `${lb.url}/content/6a3b0c1d-2e4f-4a5b-9c6d-000000000001/`,
        `posit-connect=${key}|0123abcd`,
      );
      expect(seen.node).toBe(n.name);
      // On an app's path the app pin names that node too.
      expect(seen.setCookie.some((l) => l.startsWith('stickylb_content='))).toBe(true);
    }
    expect([await adoptedCount(lb, 'traefik'), await adoptedCount(lb, 'ingress-nginx')]).toEqual([2, 2]);
  });

  it('over HTTP/2 and WebSocket; a cookie naming a node that is down is placed as usual, never an error', async () => {
    const cert = makeCert();
    const nodes = await Promise.all(['a', 'b'].map((n) => startFakeNode(n)));
    const lb = await startBalancer(nodes, {
      listen: { host: '127.0.0.1', port: 0, tls: { cert: cert.certFile, key: cert.keyFile } },
      affinity: { adopt: [{ cookie: 'SRV', kind: 'haproxy', values: { a: 'c-a', b: 'c-b' } }] },
    });
    const s: ClientHttp2Session = connect(lb.url, { ca: cert.cert });
    s.on('error', () => {});
    onTestFinished(() => {
      s.destroy();
    });
    const h2 = (cookie: string) => h2Get(s, cookie);
    expect((await h2('SRV=c-b')).node).toBe('b');
    expect((await h2('SRV=c-a')).node).toBe('a');
    await nodes[1]!.kill();
    await waitFor(() => lb.app.pool.get('b')!.health === 'down', 5000, 'b down');
    const placed = await h2('SRV=c-b');
    expect(placed.node).toBe('a');
    expect(placed.setCookie.some((l) => l.startsWith('stickylb='))).toBe(true);
    // Garbage and unknown values: placed as usual.
    expect((await h2('SRV=nonsense; SRV=')).node).toBe('a');
  });
});
