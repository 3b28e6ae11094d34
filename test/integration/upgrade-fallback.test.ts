import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { startBalancer } from '../helpers/balancer.js';
import { makeCert } from '../helpers/certs.js';
import { startFakeNode } from '../helpers/fake-node.js';
import { proxiedTlsExchange, rawExchange, rawJsonBody } from '../helpers/raw.js';

/** What `curl --http2` and Java's HttpClient put on a plain-HTTP request. */
const H2C =
  'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n';
const CLOSE = 'GET /echo?second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';

/** Splits a raw keep-alive answer into its responses and parses each JSON body. */
function responses(answer: string): Array<{ status: string; body: Record<string, unknown> }> {
  return answer.split(/(?=HTTP\/1\.1 \d{3} )/).map((r) => ({ status: r.slice(0, 12), body: rawJsonBody(r) }));
}

describe('upgrades other than WebSocket are served as plain HTTP/1.1', () => {
  it.each([
    ['GET with Upgrade: h2c', `GET /echo HTTP/1.1\r\nHost: x\r\n${H2C}\r\n`, 'GET', ''],
    [
      'POST with a body and Upgrade: h2c',
      `POST /echo HTTP/1.1\r\nHost: x\r\n${H2C}Content-Length: 5\r\n\r\nhello`,
      'POST',
      'hello',
    ],
    [
      'chunked POST with Upgrade: h2c',
      `POST /echo HTTP/1.1\r\nHost: x\r\n${H2C}Transfer-Encoding: chunked\r\n\r\n2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n`,
      'POST',
      'hello',
    ],
    [
      'POST naming websocket (a handshake is a GET)',
      'POST /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 5\r\n\r\nhello',
      'POST',
      'hello',
    ],
  ])(
    '%s: body delivered, no Upgrade upstream, the connection stays open for the next request',
    async (_what, request, method, body) => {
      const node = await startFakeNode('a');
      const lb = await startBalancer([node]);
      const answer = await rawExchange(lb.url, request + CLOSE, 5000);
      const [first, second] = responses(answer);
      expect(first?.status).toBe('HTTP/1.1 200');
      expect(first?.body.method).toBe(method);
      expect(first?.body.body).toBe(body);
      const headers = first?.body.headers as Record<string, string>;
      expect(headers.upgrade).toBeUndefined();
      expect(headers['http2-settings']).toBeUndefined();
      expect(headers['x-forwarded-for']).toBe('127.0.0.1');
      expect(second?.status).toBe('HTTP/1.1 200');
      expect(second?.body.url).toBe('/echo?second');
      expect(lb.app.pool.nodes[0]!.requests).toBe(2);
    },
  );

  it('streams a 4 MB chunked body of an h2c POST intact', async () => {
    const node = await startFakeNode('a');
    const lb = await startBalancer([node]);
    const chunk = Buffer.alloc(64 * 1024, 7);
    const parts: Buffer[] = [
      Buffer.from(`POST /upload HTTP/1.1\r\nHost: x\r\n${H2C}Transfer-Encoding: chunked\r\n\r\n`),
    ];
    const hash = createHash('sha256');
    for (let i = 0; i < 64; i++) {
      parts.push(Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n'));
      hash.update(chunk);
    }
    parts.push(Buffer.from('0\r\n\r\n'), Buffer.from(CLOSE));
    const [first] = responses(await rawExchange(lb.url, Buffer.concat(parts), 10_000));
    expect(first?.body.bytes).toBe(64 * chunk.length);
    expect(first?.body.sha256).toBe(hash.digest('hex'));
  });

  it('behind a PROXY header and TLS terminated here', async () => {
    const node = await startFakeNode('a');
    const cert = makeCert();
    const lb = await startBalancer([node], {
      listen: {
        host: '127.0.0.1',
        port: 0,
        proxyProtocol: true,
        tls: { cert: cert.certFile, key: cert.keyFile },
      },
    });
    const answer = await proxiedTlsExchange(
      lb.url,
      'PROXY TCP4 203.0.113.5 127.0.0.1 40000 443\r\n',
      `POST /echo HTTP/1.1\r\nHost: x\r\n${H2C}Content-Length: 5\r\n\r\nhello${CLOSE}`,
      cert.cert,
    );
    const [first, second] = responses(answer);
    expect(first?.body.body).toBe('hello');
    const headers = first?.body.headers as Record<string, string>;
    expect(headers['x-forwarded-for']).toBe('203.0.113.5');
    expect(headers['x-forwarded-proto']).toBe('https');
    expect(second?.status).toBe('HTTP/1.1 200');
  });
});
