/**
 * HTTP/2 at the TLS front door (issue 16): h2 and HTTP/1.1 by ALPN on one port, every stream routed
 * on its own by the same affinity rules, bodies streamed, WebSockets on HTTP/1.1 connections.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { type ClientHttp2Session, connect, type IncomingHttpHeaders } from 'node:http2';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';
import { describe, expect, it, onTestFinished } from 'vitest';
import WebSocket from 'ws';
import { affinityToken } from '../../src/affinity/token.js';
import { startBalancer } from '../helpers/balancer.js';
import { makeCert, type TestCert } from '../helpers/certs.js';
import { type FakeNode, startFakeNode } from '../helpers/fake-node.js';

const run = promisify(execFile);
const SECRET = 'test-secret-0123456789abcdef';
const pin = (name: string) => `stickylb=${affinityToken(SECRET, name)}`;

async function tlsBalancer(nodes: FakeNode[], cert: TestCert) {
  return startBalancer(nodes, {
    listen: { host: '127.0.0.1', port: 0, tls: { cert: cert.certFile, key: cert.keyFile } },
  });
}

function session(url: string, cert: TestCert): ClientHttp2Session {
  // The client buffers what it sends too: room for the 32 MB upload (node's default is 10 MB).
  const s = connect(url, { ca: cert.cert, maxSessionMemory: 100 });
  onTestFinished(() => {
    s.destroy();
  });
  return s;
}

/** One HTTP/2 request; resolves with its response headers and body. */
function h2(s: ClientHttp2Session, headers: Record<string, string | string[]>, body?: Buffer) {
  return new Promise<{ headers: IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
    const stream = s.request({ accept: 'application/json', ...headers }, { endStream: body === undefined });
    const chunks: Buffer[] = [];
    let head: IncomingHttpHeaders = {};
    stream.on('response', (h) => {
      head = h;
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve({ headers: head, body: Buffer.concat(chunks) }));
    stream.on('error', reject);
    if (body !== undefined) stream.end(body);
  });
}

describe('HTTP/2 over TLS', () => {
  it('negotiates h2; the first answer pins, later streams stick; streams of one connection route on their own', async () => {
    const cert = makeCert();
    const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
    const lb = await tlsBalancer([a, b], cert);
    const s = session(lb.url, cert);
    const first = await h2(s, { ':path': '/echo' });
    expect(s.alpnProtocol).toBe('h2');
    expect(first.headers[':status']).toBe(200);
    expect(String(first.headers['set-cookie'])).toMatch(
      /^stickylb=[\w-]{22}; Path=\/; HttpOnly; Secure; SameSite=Lax$/,
    );
    expect(first.headers['x-request-id']).toEqual(expect.any(String));
    const seen = JSON.parse(first.body.toString()) as { node: string; headers: Record<string, string> };
    expect(seen.headers.host).toBe(new URL(lb.url).host);
    expect(seen.headers['x-forwarded-proto']).toBe('https');
    // Concurrent streams on the one connection, each with its own pin.
    const answers = await Promise.all(
      ['a', 'b', 'a', 'b', 'a', 'b'].map((n) => h2(s, { ':path': '/echo', cookie: pin(n) })),
    );
    expect(answers.map((r) => JSON.parse(r.body.toString()).node)).toEqual(['a', 'b', 'a', 'b', 'a', 'b']);
    expect(answers.every((r) => r.headers['set-cookie'] === undefined)).toBe(true);
  });

  it('sees every cookie field (RFC 9113 8.2.3) and sends the node one Cookie without the pin', async () => {
    const cert = makeCert();
    const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
    const lb = await tlsBalancer([a, b], cert);
    const s = session(lb.url, cert);
    for (const n of ['a', 'b']) {
      const res = await h2(s, { ':path': '/echo', cookie: ['app=1', pin(n), 'other=2'] });
      const seen = JSON.parse(res.body.toString()) as { node: string; headers: Record<string, string> };
      expect(seen.node).toBe(n);
      expect(seen.headers.cookie).toBe('app=1; other=2');
    }
  });

  it('the node sees Host and X-RSC-Request from :authority, not from a host field sent beside it (issue 22.8)', async () => {
    const cert = makeCert();
    const a = await startFakeNode('a');
    const lb = await tlsBalancer([a], cert);
    const s = session(lb.url, cert);
    const port = new URL(lb.url).port;
    const answer = await h2(s, {
      ':path': '/echo',
      ':authority': `good.example:${port}`,
      host: 'evil.example',
    });
    const seen = JSON.parse(answer.body.toString()) as {
      headers: Record<string, string>;
      rawHeaders: string[];
    };
    expect(seen.headers.host).toBe(`good.example:${port}`);
    expect(seen.headers['x-rsc-request']).toBe(`https://good.example:${port}/echo`);
    expect(seen.rawHeaders.filter((h) => h.toLowerCase() === 'host')).toHaveLength(1);
  });

  it('HEAD, 204 and 304 answers end their streams with no body; headers a node repeats stay separate', async () => {
    const cert = makeCert();
    const a = await startFakeNode('a');
    const lb = await tlsBalancer([a], cert);
    const s = session(lb.url, cert);
    const head = await h2(s, { ':path': '/fixed?size=1000', ':method': 'HEAD' });
    expect(head.headers[':status']).toBe(200);
    expect(head.headers['content-length']).toBe('1000');
    expect(head.body.length).toBe(0);
    for (const code of [204, 304]) {
      const r = await h2(s, { ':path': `/status?code=${code}` });
      expect(r.headers[':status']).toBe(code);
      expect(r.body.length).toBe(0);
    }
    const first = await h2(s, { ':path': '/echo' });
    const pinned = await h2(s, {
      ':path': '/fixed?size=10',
      cookie: String(first.headers['set-cookie']).split(';')[0]!,
    });
    expect(pinned.body.toString()).toBe('x'.repeat(10));
    expect(pinned.headers['x-node']).toBe('a');
  });

  it('a node head HTTP/2 cannot carry as it is (a single-value field twice, HTTP2-Settings, Connection naming :status) is served: its status, the first value, no connection-specific field', async () => {
    const cert = makeCert();
    const a = await startFakeNode('a');
    const lb = await tlsBalancer([a], cert);
    const r = await h2(session(lb.url, cert), { ':path': '/sloppy-head' });
    expect(r.headers[':status']).toBe(201);
    expect(r.headers['content-type']).toBe('text/plain');
    expect(r.headers['http2-settings']).toBeUndefined();
    expect(r.headers['set-cookie']).toEqual(['a=1', 'b=2', expect.stringMatching(/^stickylb=/)]);
    expect(r.body.toString()).toBe('ok');
  });

  it('streams a 64 MB upload and a 64 MB download on one connection; a stalled stream stalls no other', async () => {
    const cert = makeCert();
    const a = await startFakeNode('a');
    const lb = await tlsBalancer([a], cert);
    const s = session(lb.url, cert);
    // A browser-sized connection window, so one unread stream cannot hold the whole connection's.
    await new Promise((resolve) => s.once('connect', resolve));
    s.setLocalWindowSize(16 * 1024 * 1024);
    const body = randomBytes(64 * 1024 * 1024);
    const upload = h2(
      s,
      { ':path': '/upload', ':method': 'POST', 'content-type': 'application/octet-stream' },
      body,
    );
    const download = s.request({ ':path': '/download?mb=64' });
    const hash = createHash('sha256');
    let bytes = 0;
    download.on('data', (c: Buffer) => {
      bytes += c.length;
      hash.update(c);
    });
    const downloaded = new Promise<void>((resolve) => download.on('end', resolve));
    // The download stops being read: its flow-control window fills, the node is held back, and the
    // other streams of the connection go on.
    await new Promise<void>((resolve) => download.once('data', () => resolve()));
    download.pause();
    const others = await Promise.all(Array.from({ length: 5 }, () => h2(s, { ':path': '/echo' })));
    expect(others.map((r) => r.headers[':status'])).toEqual([200, 200, 200, 200, 200]);
    expect(bytes).toBeLessThan(64 * 1024 * 1024);
    download.resume();
    await downloaded;
    const expected = createHash('sha256');
    for (let i = 0; i < 64 * 16; i++) expected.update(Buffer.alloc(65536, i % 251));
    expect(bytes).toBe(64 * 1024 * 1024);
    expect(hash.digest('hex')).toBe(expected.digest('hex'));
    const done = JSON.parse((await upload).body.toString()) as { bytes: number; sha256: string };
    expect(done.bytes).toBe(body.length);
    expect(done.sha256).toBe(createHash('sha256').update(body).digest('hex'));
  });

  it('HTTP/1.1 clients and WebSockets share the TLS port', async () => {
    const cert = makeCert();
    const a = await startFakeNode('a');
    const lb = await tlsBalancer([a], cert);
    const agent = new Agent({ connect: { ca: cert.cert } });
    onTestFinished(() => agent.destroy());
    const res = await request(`${lb.url}/echo`, {
      dispatcher: agent,
      headers: { accept: 'application/json' },
    });
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    const hello = await new Promise<string>((resolve, reject) => {
      const ws = new WebSocket(`${lb.url.replace('https', 'wss')}/ws`, { ca: cert.cert });
      onTestFinished(() => ws.terminate());
      ws.once('message', (d) => resolve(String(d)));
      ws.once('error', reject);
    });
    expect(JSON.parse(hello).hello).toBe('a');
  });

  it('curl --http2 gets HTTP/2 200 with the affinity cookie', async () => {
    const cert = makeCert();
    const a = await startFakeNode('a');
    const lb = await tlsBalancer([a], cert);
    // Asynchronously: the balancer runs in this process and must keep serving meanwhile.
    const { stdout: out } = await run(
      'curl',
      ['--http2', '--max-time', '10', '-sS', '-i', '--cacert', cert.certFile, `${lb.url}/`],
      {
        encoding: 'utf8',
      },
    );
    expect(out).toMatch(/^HTTP\/2 200/);
    expect(out).toMatch(/\r\nset-cookie: stickylb=/i);
  });

  it("the balancer's own answers and Expect, over streams: 413 before any 100, 100 then the answer, 417, 400, 503, OPTIONS *", async () => {
    const cert = makeCert();
    const a = await startFakeNode('a');
    const lb = await startBalancer([a], {
      listen: { host: '127.0.0.1', port: 0, tls: { cert: cert.certFile, key: cert.keyFile } },
      limits: { maxBodySize: '1KiB' },
    });
    const s = session(lb.url, cert);
    /** A request with a body held until the node's 100 (or any answer); resolves with what came back. */
    const expecting = (headers: Record<string, string>, body: Buffer) =>
      new Promise<{ status: number; continued: boolean; error: string | undefined }>((resolve, reject) => {
        const stream = s.request({ ':method': 'POST', ':path': '/upload', ...headers }, { endStream: false });
        let continued = false;
        stream.on('continue', () => {
          continued = true;
          stream.end(body);
        });
        stream.on('response', (h) => {
          if (!continued) stream.close();
          resolve({
            status: Number(h[':status']),
            continued,
            error: h['x-stickylb-error'] as string | undefined,
          });
        });
        stream.resume();
        stream.on('error', reject);
      });
    const tooLarge = await expecting(
      { expect: '100-continue', 'content-length': '5000' },
      Buffer.alloc(5000),
    );
    expect(tooLarge).toEqual({ status: 413, continued: false, error: 'BODY_TOO_LARGE' });
    const fits = await expecting({ expect: '100-continue', 'content-length': '10' }, Buffer.alloc(10));
    expect(fits).toEqual({ status: 200, continued: true, error: undefined });
    const unknown = await expecting({ expect: 'something-else' }, Buffer.alloc(1));
    expect(unknown.status).toBe(417);
    // A body with no length over the limit: 413 once it passes it, on its own stream only.
    const chunked = await h2(s, { ':path': '/upload', ':method': 'POST' }, Buffer.alloc(4096));
    expect(chunked.headers[':status']).toBe(413);
    const badHost = await h2(s, { ':path': '/echo', ':authority': 'h'.repeat(300) });
    expect(badHost.headers[':status']).toBe(400);
    expect(JSON.parse(badHost.body.toString()).error.code).toBe('INVALID_HOST');
    const options = await h2(s, { ':path': '*', ':method': 'OPTIONS' });
    expect(options.headers[':status']).toBe(200);
    const maintenance = await fetch(`${lb.adminUrl}/api/nodes/a/maintenance`, {
      method: 'POST',
      headers: { authorization: 'Bearer test-admin-token-0123456789' },
    });
    expect(maintenance.status).toBe(200);
    const none = await h2(s, { ':path': '/echo' });
    expect(none.headers[':status']).toBe(503);
    expect(none.headers['retry-after']).toEqual(expect.any(String));
    expect(JSON.parse(none.body.toString()).error.code).toBe('NO_AVAILABLE_NODE');
  });

  it('listen.http2: false keeps the TLS port HTTP/1.1 only', async () => {
    const cert = makeCert();
    const a = await startFakeNode('a');
    const lb = await startBalancer([a], {
      listen: { host: '127.0.0.1', port: 0, tls: { cert: cert.certFile, key: cert.keyFile }, http2: false },
    });
    const s = session(lb.url, cert);
    const failed = await new Promise<boolean>((resolve) => {
      s.on('error', () => resolve(true));
      s.on('connect', () => resolve(false));
    });
    expect(failed).toBe(true);
  });
});
