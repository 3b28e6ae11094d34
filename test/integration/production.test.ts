import { writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { Agent, request } from 'undici';
import { describe, expect, it, onTestFinished } from 'vitest';
import { affinityToken } from '../../src/affinity/token.js';
import { parseConfig } from '../../src/config/load.js';
import { startBalancer, testConfig, waitFor } from '../helpers/balancer.js';
import { makeCert } from '../helpers/certs.js';
import {
  adminNodes,
  metricValue,
  nodesWith,
  runCli,
  startCliBalancer,
  writeConfig,
} from '../helpers/cli-process.js';
import { type FakeNode, startFakeNode } from '../helpers/fake-node.js';
import { Client } from '../helpers/http.js';
import { freePort } from '../helpers/ports.js';
import { rawExchange } from '../helpers/raw.js';
import { closed, openSocket, roundTrip } from '../helpers/ws.js';

/** An https "Connect node" in this process, answering with its name. */
async function httpsNode(name: string, cert: { cert: string; key: string }): Promise<FakeNode> {
  const server = createHttpsServer({ cert: cert.cert, key: cert.key }, (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ node: name, url: req.url }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  onTestFinished(() => {
    server.closeAllConnections();
    server.close();
  });
  const port = (server.address() as AddressInfo).port;
  return { name, port, url: `https://127.0.0.1:${port}` } as FakeNode;
}

describe('TLS', () => {
  it('terminates TLS with a generated certificate; the cookie is Secure; the redirect port sends 308 to https', async () => {
    const cert = makeCert();
    const node = await startFakeNode('a');
    const lb = await startBalancer([node], {
      listen: {
        host: '127.0.0.1',
        port: 0,
        tls: { cert: cert.certFile, key: cert.keyFile },
        redirectPort: 0,
      },
    });
    expect(lb.url).toMatch(/^https:/);
    const agent = new Agent({ connect: { ca: cert.cert } });
    onTestFinished(() => agent.destroy());
    const res = await request(`${lb.url}/x`, { dispatcher: agent, headers: { accept: 'application/json' } });
    const body = (await res.body.json()) as { node: string; headers: Record<string, string> };
    expect(res.statusCode).toBe(200);
    expect(body.headers['x-forwarded-proto']).toBe('https');
    expect(body.headers['x-rsc-request']).toMatch(/^https:\/\//);
    expect(String(res.headers['set-cookie'])).toMatch(/; HttpOnly; Secure; SameSite=Lax$/);
  });

  it('a reload that names a new certificate serves it to new connections; a reload with an unreadable key changes nothing', async () => {
    const [first, second] = [makeCert('first'), makeCert('second')];
    const node = await startFakeNode('a');
    const tree = (cert: { certFile: string; keyFile: string }) =>
      testConfig([node], {
        listen: { host: '127.0.0.1', port: 0, tls: { cert: cert.certFile, key: cert.keyFile } },
      });
    const lb = await startBalancer([node], { listen: tree(first).listen });
    const served = () =>
      new Promise<string>((resolve, reject) => {
        const { port } = new URL(lb.url);
        const s = tlsConnect({ host: '127.0.0.1', port: Number(port), rejectUnauthorized: false }, () => {
          resolve(s.getPeerCertificate().subject.CN as string);
          s.destroy();
        });
        s.on('error', reject);
      });
    expect(await served()).toBe('first');
    lb.app.apply(parseConfig(tree(second)));
    expect(await served()).toBe('second');
    expect(() =>
      lb.app.apply(parseConfig(tree({ certFile: first.certFile, keyFile: '/nonexistent/key.pem' }))),
    ).toThrow(/listen\.tls\.key: cannot read/);
    expect(await served()).toBe('second');
  });

  it('redirects plain HTTP to HTTPS on the redirect port', async () => {
    const cert = makeCert();
    const node = await startFakeNode('a');
    const redirectPort = await freePort();
    const lb = await startBalancer([node], {
      listen: { host: '127.0.0.1', port: 0, tls: { cert: cert.certFile, key: cert.keyFile }, redirectPort },
    });
    const res = await request(`http://127.0.0.1:${redirectPort}/content/abc/?x=1`, {
      headers: { host: 'connect.example.org' },
    });
    expect(res.statusCode).toBe(308);
    expect(res.headers.location).toBe(`https://connect.example.org:${new URL(lb.url).port}/content/abc/?x=1`);
  });

  it('proxies to an https upstream with a custom CA, and refuses an unknown CA', async () => {
    const cert = makeCert();
    const upstream = await httpsNode('secure', cert);
    const lb = await startBalancer([], {
      upstreams: [{ name: 'secure', url: upstream.url, tls: { ca: cert.certFile } }],
      healthCheck: { path: '/health', interval: '200ms', timeout: '150ms' },
    });
    expect(lb.app.pool.get('secure')!.health).toBe('up');
    const ok = await new Client(lb.url).get('/');
    expect(ok.json.node).toBe('secure');
    const strict = await startBalancer([], {
      upstreams: [{ name: 'secure', url: upstream.url }],
      healthCheck: { path: '/health', interval: '200ms', timeout: '150ms', unhealthyThreshold: 1 },
    });
    expect(strict.app.pool.get('secure')!.health).toBe('down');
    const skip = await startBalancer([], {
      upstreams: [{ name: 'secure', url: upstream.url, tls: { insecureSkipVerify: true } }],
      healthCheck: { path: '/health', interval: '200ms', timeout: '150ms' },
    });
    expect((await new Client(skip.url).get('/')).json.node).toBe('secure');
  });

  it('a missing certificate file is a config problem with its key path', () => {
    const file = writeConfig({
      upstreams: [{ name: 'a', url: 'http://127.0.0.1:1' }],
      listen: { tls: { cert: '/nonexistent/cert.pem', key: '/nonexistent/key.pem' } },
    });
    const r = runCli(['--config', file, '--check']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('listen.tls.cert: cannot read /nonexistent/cert.pem (ENOENT)');
  });
});

describe('hot reload', () => {
  it('under live traffic: nothing dropped, a removed node is drained and its clients re-pinned, new nodes serve', async () => {
    const [a, b, c] = await Promise.all([startFakeNode('a'), startFakeNode('b'), startFakeNode('c')]);
    const tree = (nodes: FakeNode[]) => ({
      listen: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0, token: 'test-admin-token-0123456789' },
      upstreams: nodes.map((n) => ({ name: n.name, url: n.url })),
      affinity: { secret: 'reload-secret-0123456789' },
      healthCheck: { interval: '200ms', timeout: '150ms' },
      // This test drives reloads by signal and API and counts them: no file watching.
      watchConfig: false,
    });
    const file = writeConfig(tree([a, b]));
    const lb = await startCliBalancer(file);
    await nodesWith(lb.adminUrl, 'up', 2);
    // Clients pinned to both nodes, one WebSocket on each.
    const clients: Client[] = [];
    for (let i = 0; i < 4; i++) {
      const cl = new Client(lb.url);
      await cl.get('/');
      clients.push(cl);
    }
    const pin = (name: string) => `stickylb=${affinityToken('reload-secret-0123456789', name)}`;
    const aSocket = await openSocket(`${lb.url}/ws`, pin('a'));
    const bSocket = await openSocket(`${lb.url}/ws`, pin('b'));
    expect([aSocket.hello.hello, bSocket.hello.hello]).toEqual(['a', 'b']);
    const onB = clients.filter((cl) => cl.cookie === pin('b'));
    expect(onB.length).toBeGreaterThan(0);
    let failures = 0;
    let stop = false;
    const traffic = (async () => {
      const cl = new Client(lb.url);
      cl.cookie = clients[0]!.cookie;
      while (!stop) if ((await cl.get('/slow?ms=20')).status !== 200) failures++;
    })();
    const slow = new Client(lb.url).get('/slow?ms=800');
    // Replace b by c: SIGHUP.
    writeFileSync(file, JSON.stringify(tree([a, c])));
    lb.child.kill('SIGHUP');
    await expect
      .poll(() => metricValue(lb.adminUrl, 'stickylb_config_reloads_total{result="success"}'))
      .toBe(1);
    expect((await slow).status).toBe(200);
    expect(await closed(bSocket.ws)).toBe(1006);
    expect((await roundTrip(aSocket.ws, 'still open')).data.toString()).toBe('still open');
    for (const cl of onB) {
      const res = await cl.get('/');
      expect(['a', 'c']).toContain(res.json.node);
    }
    await expect
      .poll(async () => (await adminNodes(lb.adminUrl)).find((n) => n.name === 'c')?.health)
      .toBe('up');
    const seen = new Set<unknown>();
    for (let i = 0; i < 6; i++) seen.add((await new Client(lb.url).get('/')).json.node);
    expect(seen.has('c')).toBe(true);
    expect(seen.has('b')).toBe(false);
    stop = true;
    await traffic;
    expect(failures).toBe(0);

    // An invalid file keeps the running configuration and says why.
    writeFileSync(file, 'upstreams: []\nbogus: 1\n');
    const res = await request(`${lb.adminUrl}/api/reload`, {
      method: 'POST',
      headers: { authorization: 'Bearer test-admin-token-0123456789' },
    });
    expect(res.statusCode).toBe(400);
    const body = (await res.body.json()) as { problems: string[] };
    expect(body.problems).toEqual(expect.arrayContaining(['bogus: unknown key']));
    expect((await new Client(lb.url).get('/')).status).toBe(200);
    const metrics = await (await request(`${lb.adminUrl}/metrics`)).body.text();
    expect(metrics).toContain('stickylb_config_reloads_total{result="success"} 1');
    expect(metrics).toContain('stickylb_config_reloads_total{result="failure"} 1');
  });

  it('apply() keeps the health state of unchanged nodes', async () => {
    const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
    const lb = await startBalancer([a, b], {}, { manualHealth: true });
    const nodeA = lb.app.pool.get('a')!;
    expect(nodeA.health).toBe('up');
    lb.app.apply(
      parseConfig(
        testConfig([a, b], {
          upstreams: [
            { name: 'a', url: a.url, weight: 5 },
            { name: 'b', url: b.url },
          ],
        }),
      ),
    );
    expect(lb.app.pool.get('a')).toBe(nodeA);
    expect(nodeA.health).toBe('up');
    expect(nodeA.weight).toBe(5);
  });
});

/**
 * A balancer whose node `a` may have one connection (`limits.upstreamConnections: 1`), which a slow
 * request holds for `holdMs` from about when this resolves (the node is serving it).
 */
async function oneBusyConnection(queue: string, holdMs: number) {
  const node = await startFakeNode('a');
  const lb = await startBalancer([node], { limits: { upstreamConnections: 1 }, timeouts: { queue } });
  const slow = new Client(lb.url).get(`/slow?ms=${holdMs}`);
  await node.serving(1);
  return { lb, slow };
}

describe('timeouts and limits', () => {
  it('cuts a client that sends its headers one byte a second', async () => {
    const node = await startFakeNode('a');
    const lb = await startBalancer([node], { timeouts: { clientHeaders: '1s' } });
    const { port } = new URL(lb.url);
    const answer = await new Promise<string>((resolve) => {
      // One header byte per second, for ever: the balancer must give up after clientHeaders.
      const s = connect(Number(port), '127.0.0.1');
      let out = '';
      const text = `GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(100)}`;
      let i = 0;
      const timer = setInterval(() => {
        if (!s.destroyed) s.write(text[i++ % text.length]!);
      }, 1000);
      s.on('data', (d) => (out += d));
      s.on('close', () => {
        clearInterval(timer);
        resolve(out);
      });
      s.on('error', () => {});
    });
    expect(answer).toMatch(/^HTTP\/1.1 408|^$/);
    expect(await lb.app.metrics.text()).toMatch(/^stickylb_client_errors_total\{reason="timeout"\} 1$/m);
  });

  it('answers 431 to 100 KiB of headers and keeps serving', async () => {
    const node = await startFakeNode('a');
    const lb = await startBalancer([node]);
    const res = await rawExchange(
      lb.url,
      `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(100 * 1024)}\r\n\r\n`,
    );
    expect(res).toMatch(/^HTTP\/1.1 431/);
    expect((await new Client(lb.url).get('/')).status).toBe(200);
  });

  it('answers 413 to a body over maxBodySize, declared or streamed', async () => {
    const node = await startFakeNode('a');
    const lb = await startBalancer([node], { limits: { maxBodySize: '1KiB' } });
    const declared = await new Client(lb.url).send('POST', '/upload', 'x'.repeat(2048));
    expect(declared.status).toBe(413);
    const chunked = await rawExchange(
      lb.url,
      `POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n${'y'.repeat(2048)}\r\n0\r\n\r\n`,
    );
    expect(chunked).toMatch(/^HTTP\/1.1 413/);
    expect((await new Client(lb.url).send('POST', '/upload', 'small')).status).toBe(200);
  });

  it('bodies under maxBodySize arrive intact (regression: counting with a data listener lost bytes)', async () => {
    const node = await startFakeNode('a');
    const lb = await startBalancer([node], { limits: { maxBodySize: '1MiB' } });
    for (const size of [5, 1000, 200_000]) {
      const res = await new Client(lb.url).send('POST', '/upload', 'z'.repeat(size));
      expect(res.status).toBe(200);
      expect(res.json.bytes).toBe(size);
    }
  });

  it('limits.maxConnections turns away connections beyond the limit and serves again below it', async () => {
    const node = await startFakeNode('a');
    const lb = await startBalancer([node], { limits: { maxConnections: 2 } });
    const held = [new Client(lb.url), new Client(lb.url)];
    for (const c of held) expect((await c.get('/')).status).toBe(200);
    const extra = new Client(lb.url);
    await expect(extra.get('/')).rejects.toThrow();
    await held[0]!.dispatcher.destroy();
    // Served again once the balancer has seen the connection close.
    await expect
      .poll(async () => (await new Client(lb.url).get('/').catch(() => ({ status: 0 }))).status)
      .toBe(200);
  });

  it('with limits.upstreamConnections, a request waits for a free connection at most timeouts.queue', async () => {
    const { lb, slow } = await oneBusyConnection('300ms', 1500);
    const t0 = Date.now();
    const queued = await new Client(lb.url).get('/status?code=200', { accept: 'application/json' });
    expect(queued.status).toBe(503);
    expect(queued.headers['retry-after']).toBeDefined();
    expect(queued.json).toMatchObject({ error: { code: 'QUEUE_TIMEOUT', status: 503 } });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect((await slow).status).toBe(200);
    // The queued request was dropped before it reached the node; the connection serves again.
    expect((await new Client(lb.url).get('/')).status).toBe(200);
    const text = await lb.app.metrics.text();
    expect(text).toContain('stickylb_queue_timeouts_total{upstream="a"} 1');
    expect(lb.app.pool.get('a')!.inFlight).toBe(0);
  });

  it('a WebSocket handshake does not wait behind the cap: it takes a connection of its own, which becomes its tunnel', async () => {
    const { lb, slow } = await oneBusyConnection('300ms', 3000);
    const node = lb.app.pool.get('a')!;
    // The node's only pooled connection is busy for 3 s; the handshake is answered meanwhile.
    const sock = await openSocket(`${lb.url}/ws`);
    expect(sock.hello.hello).toBe('a');
    expect(node.inFlight).toBe(1);
    expect(node.websockets).toBe(1);
    sock.ws.close();
    expect((await slow).status).toBe(200);
    expect(await lb.app.metrics.text()).toContain('stickylb_queue_timeouts_total{upstream="a"} 0');
  });

  it('a client that leaves while its request is queued counts as 499, not as a queue timeout', async () => {
    const { lb, slow } = await oneBusyConnection('300ms', 1000);
    // Hangs up after 100 ms, while the request still waits for the node's only connection.
    expect(await rawExchange(lb.url, 'GET /status HTTP/1.1\r\nHost: x\r\n\r\n', 100)).toBe('');
    await expect
      .poll(() => lb.app.metrics.text())
      .toMatch(/stickylb_requests_total\{[^}]*code="499"[^}]*\} 1/);
    // The slow request (1 s) ends after the queue timeout (300 ms) would have fired for it.
    expect((await slow).status).toBe(200);
    expect(await lb.app.metrics.text()).toContain('stickylb_queue_timeouts_total{upstream="a"} 0');
    await waitFor(() => lb.app.pool.get('a')!.inFlight === 0, 2000, 'no request left in flight');
  });

  it('a queued request within timeouts.queue is served once the connection is free', async () => {
    const { lb, slow } = await oneBusyConnection('5s', 400);
    const t0 = Date.now();
    const queued = await new Client(lb.url).get('/');
    expect(queued.status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(200);
    expect((await slow).status).toBe(200);
    expect(await lb.app.metrics.text()).toContain('stickylb_queue_timeouts_total{upstream="a"} 0');
  });

  it('an upstream that never answers gets 504 after timeouts.response', async () => {
    const node = await startFakeNode('a');
    const lb = await startBalancer([node], { timeouts: { response: '500ms' } });
    const t0 = Date.now();
    const res = await new Client(lb.url).get('/hang');
    expect(res.status).toBe(504);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
  });
});
