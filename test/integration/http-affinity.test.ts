import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { affinityToken } from '../../src/affinity/token.js';
import { startBalancer } from '../helpers/balancer.js';
import { startFakeNode } from '../helpers/fake-node.js';
import { Client } from '../helpers/http.js';
import { rawExchange, rawJsonBody } from '../helpers/raw.js';

describe('sticky HTTP', () => {
  it('pins a client to one node for 100 requests and sets the cookie only once', async () => {
    const nodes = await Promise.all([startFakeNode('a'), startFakeNode('b'), startFakeNode('c')]);
    const lb = await startBalancer(nodes);
    const client = new Client(lb.url);
    const first = await client.get('/app/');
    expect(first.status).toBe(200);
    expect(first.setCookie).toHaveLength(1);
    const pinned = first.json.node;
    for (let i = 0; i < 99; i++) {
      const res = await client.get(`/app/${i}`);
      expect(res.json.node).toBe(pinned);
      expect(res.setCookie).toEqual([]);
    }
  });

  it('splits 100 new clients by weight', async () => {
    const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
    const lb = await startBalancer([a!, b!], {
      upstreams: [
        { name: 'a', url: a!.url, weight: 3 },
        { name: 'b', url: b!.url, weight: 1 },
      ],
    });
    const counts: Record<string, number> = { a: 0, b: 0 };
    for (let i = 0; i < 100; i++) {
      const res = await new Client(lb.url).get('/');
      counts[res.json.node as string]!++;
    }
    expect(counts).toEqual({ a: 75, b: 25 });
  });

  it('sets the cookie on every response to an unpinned request: any method, any status', async () => {
    const node = await startFakeNode('a');
    const lb = await startBalancer([node]);
    for (const [method, path] of [
      ['GET', '/status?code=404'],
      ['POST', '/__api__/v1/content'],
      ['PUT', '/status?code=500'],
      ['DELETE', '/x'],
      ['HEAD', '/'],
      ['OPTIONS', '/'],
      ['GET', '/status?code=302'],
    ] as const) {
      const res = await new Client(lb.url).send(method, path);
      expect(res.setCookie, `${method} ${path}`).toHaveLength(1);
    }
  });

  it('writes the cookie attributes rule 1 asks for (docs/design.md)', async () => {
    const node = await startFakeNode('a');
    const lb = await startBalancer([node], { affinity: { cookie: 'CONNECTLB', maxAge: '1h' } });
    const res = await new Client(lb.url, 'CONNECTLB').get('/');
    const line = res.setCookie[0]!;
    const token = affinityToken('test-secret-0123456789abcdef', 'a');
    expect(line).toBe(`CONNECTLB=${token}; Max-Age=3600; Path=/; HttpOnly; SameSite=Lax`);
    expect(line).not.toMatch(/Domain|Partitioned|Secure/);
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it('Secure when the client side is HTTPS per a trusted proxy, SameSite=None forces it', async () => {
    const node = await startFakeNode('a');
    const lb = await startBalancer([node], { trustedProxies: ['127.0.0.1'] });
    const res = await new Client(lb.url).get('/', { 'x-forwarded-proto': 'https' });
    expect(res.setCookie[0]).toMatch(/; Secure; SameSite=Lax$/);
    const lb2 = await startBalancer([node], { affinity: { sameSite: 'None' } });
    expect((await new Client(lb2.url).get('/')).setCookie[0]).toMatch(/; Secure; SameSite=None$/);
  });

  it('removes only the affinity cookie from the upstream Cookie header', async () => {
    const node = await startFakeNode('a');
    const lb = await startBalancer([node]);
    const client = new Client(lb.url);
    await client.get('/');
    const res = await client.get('/', { cookie: 'rsconnect=s3cr3t; other="a=b"' });
    expect(res.json.headers?.cookie).toBe('rsconnect=s3cr3t; other="a=b"');
    const only = await new Client(lb.url).get('/', { cookie: client.cookie! });
    expect(only.json.headers?.cookie).toBeUndefined();
  });

  it.each([
    ['garbage', 'stickylb=%%%garbage%%%'],
    ['empty', 'stickylb='],
    ['quoted garbage', 'stickylb="abc"'],
    ['tampered', 'stickylb=AAAAAAAAAAAAAAAAAAAAAA'],
    ['many duplicates', 'stickylb=x; stickylb=y; stickylb=; stickylb="z"'],
    ['no value', 'stickylb'],
  ])('a %s cookie is treated as no cookie: 200 and a fresh pin', async (_name, cookie) => {
    const node = await startFakeNode('a');
    const lb = await startBalancer([node]);
    const res = await new Client(lb.url).get('/', { cookie });
    expect(res.status).toBe(200);
    expect(res.setCookie[0]).toMatch(/^stickylb=[A-Za-z0-9_-]{22};/);
  });

  it('a quoted valid token still pins (rsconnect-python quotes some values)', async () => {
    const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
    const lb = await startBalancer([a, b]);
    const token = affinityToken('test-secret-0123456789abcdef', 'b');
    const res = await new Client(lb.url).get('/', { cookie: `stickylb="${token}"` });
    expect(res.json.node).toBe('b');
    expect(res.setCookie).toEqual([]);
  });

  it('replicas with the same config agree on every cookie', async () => {
    const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
    const one = await startBalancer([a, b]);
    const two = await startBalancer([a, b]);
    for (let i = 0; i < 6; i++) {
      const client = new Client(one.url);
      const first = await client.get('/');
      const other = new Client(two.url);
      other.cookie = client.cookie;
      expect((await other.get('/')).json.node).toBe(first.json.node);
    }
  });

  it('sets X-Forwarded-* and X-RSC-Request, overwriting client copies from untrusted peers', async () => {
    const node = await startFakeNode('a');
    const lb = await startBalancer([node]);
    const port = new URL(lb.url).port;
    const res = await new Client(lb.url).get('/content/abc/?x=1', {
      'x-forwarded-for': '6.6.6.6',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'evil.example',
      'x-rsc-request': 'http://evil.example/',
      host: 'connect.example.org',
    });
    const h = res.json.headers!;
    expect(h['x-forwarded-for']).toBe('127.0.0.1');
    expect(h['x-forwarded-proto']).toBe('http');
    expect(h['x-forwarded-host']).toBe('connect.example.org');
    expect(h['x-forwarded-port']).toBe(port);
    expect(h['x-rsc-request']).toBe('http://connect.example.org/content/abc/?x=1');
    expect(h.host).toBe('connect.example.org');
  });

  it('keeps and extends X-Forwarded-* from a trusted proxy', async () => {
    const node = await startFakeNode('a');
    const lb = await startBalancer([node], { trustedProxies: ['127.0.0.0/8'] });
    const res = await new Client(lb.url).get('/p', {
      'x-forwarded-for': '203.0.113.9',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'connect.example.org',
      'x-forwarded-port': '443',
    });
    const h = res.json.headers!;
    expect(h['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
    expect(h['x-rsc-request']).toBe('https://connect.example.org/p');
    expect(h['x-forwarded-port']).toBe('443');
  });

  it('a garbage Host is refused (RFC 9112 3.2); a trusted garbage X-Forwarded-Host falls back to Host', async () => {
    const node = await startFakeNode('a');
    const lb = await startBalancer([node], { trustedProxies: ['127.0.0.0/8'] });
    const refused = await new Client(lb.url).get('/x', { host: 'bad host<>' });
    expect(refused.status).toBe(400);
    expect(refused.headers['x-stickylb-error']).toBe('INVALID_HOST');
    expect(lb.app.pool.nodes[0]!.requests).toBe(0);
    const res = await new Client(lb.url).get('/x', {
      host: 'connect.example.org',
      'x-forwarded-host': 'bad host<>',
    });
    expect(res.json.headers!['x-rsc-request']).toBe('http://connect.example.org/x');
  });

  it('strips hop-by-hop headers, including those named in Connection', async () => {
    const node = await startFakeNode('a');
    const lb = await startBalancer([node]);
    const response = await rawExchange(
      lb.url,
      'GET / HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\nConnection: close, X-Hop\r\nX-Hop: secret\r\n' +
        'Proxy-Connection: keep-alive\r\nTE: trailers\r\nKeep-Alive: timeout=5\r\nX-End-To-End: kept\r\n\r\n',
    );
    const h = rawJsonBody(response).headers as Record<string, string>;
    expect(h['x-hop']).toBeUndefined();
    expect(h['proxy-connection']).toBeUndefined();
    expect(h.te).toBeUndefined();
    expect(h['keep-alive']).toBeUndefined();
    expect(h['x-end-to-end']).toBe('kept');
  });

  it('keeps Content-Length framing and streams chunked responses chunk by chunk', async () => {
    const node = await startFakeNode('a');
    const lb = await startBalancer([node]);
    const fixed = await request(`${lb.url}/fixed?size=5000`);
    expect(fixed.headers['content-length']).toBe('5000');
    expect(fixed.headers['transfer-encoding']).toBeUndefined();
    expect((await fixed.body.text()).length).toBe(5000);

    const t0 = Date.now();
    const res = await request(`${lb.url}/stream?chunks=5&delay=300`);
    const times: number[] = [];
    for await (const _chunk of res.body) times.push(Date.now() - t0);
    expect(times.length).toBeGreaterThanOrEqual(4);
    // The first chunk arrives long before the end (1.2 s of delays upstream).
    expect(times[0]!).toBeLessThan(times.at(-1)! - 800);
  });

  it('a GET carrying a Trailer header does not crash the process (http-proxy #1647)', async () => {
    const node = await startFakeNode('a');
    const lb = await startBalancer([node]);
    const res = await new Client(lb.url).get('/', { trailer: 'x-checksum' });
    expect(res.status).toBe(200);
    expect((await new Client(lb.url).get('/')).status).toBe(200);
  });
});
