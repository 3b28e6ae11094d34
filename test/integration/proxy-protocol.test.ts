import { once } from 'node:events';
import { connect as http2Connect } from 'node:http2';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startBalancer } from '../helpers/balancer.js';
import { makeCert } from '../helpers/certs.js';
import { startFakeNode } from '../helpers/fake-node.js';
import { proxiedTlsExchange, rawExchange, rawJsonBody } from '../helpers/raw.js';

const GET = 'GET /echo HTTP/1.1\r\nHost: connect.example.org\r\nConnection: close\r\n\r\n';

function v2Tcp4(src: [number, number, number, number], port: number): Buffer {
  const b = Buffer.alloc(28);
  Buffer.from('0d0a0d0a000d0a515549540a', 'hex').copy(b, 0);
  b[12] = 0x21;
  b[13] = 0x11;
  b.writeUInt16BE(12, 14);
  Buffer.from(src).copy(b, 16);
  Buffer.from([127, 0, 0, 1]).copy(b, 20);
  b.writeUInt16BE(port, 24);
  b.writeUInt16BE(8080, 26);
  return b;
}

/** Sends `parts` with a pause between them; resolves with everything read until the server closes. */
function sendInParts(url: string, parts: Array<string | Buffer>): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.on('error', () => {});
    parts.forEach((p, i) => {
      setTimeout(() => socket.write(p), i * 60);
    });
  });
}

async function balancer(extra: Record<string, unknown> = {}) {
  const node = await startFakeNode('a');
  return startBalancer([node], { listen: { proxyProtocol: true }, ...extra });
}

/** A balancer reading PROXY headers on a TLS listener, with the certificate it serves. */
async function tlsBalancer() {
  const cert = makeCert();
  const lb = await balancer({
    listen: {
      host: '127.0.0.1',
      port: 0,
      proxyProtocol: true,
      tls: { cert: cert.certFile, key: cert.keyFile },
    },
  });
  return { cert, lb };
}

describe('PROXY protocol (listen.proxyProtocol)', () => {
  it('takes the client address from a v1 header, sent with the request or before it', async () => {
    const lb = await balancer();
    const header = 'PROXY TCP4 203.0.113.7 127.0.0.1 40000 8080\r\n';
    for (const answer of [
      await rawExchange(lb.url, header + GET),
      await sendInParts(lb.url, [header.slice(0, 10), header.slice(10), GET]),
    ]) {
      expect(answer).toMatch(/^HTTP\/1.1 200/);
      expect((rawJsonBody(answer).headers as Record<string, string>)['x-forwarded-for']).toBe('203.0.113.7');
    }
  });

  it('takes the client address from a v2 header, and keeps it for every request on the connection', async () => {
    const lb = await balancer();
    const keepAlive = 'GET /echo HTTP/1.1\r\nHost: x\r\n\r\n';
    const answer = await sendInParts(lb.url, [
      Buffer.concat([v2Tcp4([198, 51, 100, 9], 50000), Buffer.from(keepAlive)]),
      GET,
    ]);
    const responses = answer.split(/(?=HTTP\/1\.1 )/);
    expect(responses).toHaveLength(2);
    for (const r of responses) {
      expect((rawJsonBody(r).headers as Record<string, string>)['x-forwarded-for']).toBe('198.51.100.9');
    }
  });

  it('a trusted proxy behind the L4 balancer keeps its X-Forwarded-For chain', async () => {
    const lb = await balancer({ trustedProxies: ['10.0.0.0/8'] });
    const answer = await rawExchange(
      lb.url,
      `PROXY TCP4 10.1.2.3 127.0.0.1 40000 8080\r\nGET /echo HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.50\r\nConnection: close\r\n\r\n`,
    );
    expect((rawJsonBody(answer).headers as Record<string, string>)['x-forwarded-for']).toBe(
      '203.0.113.50, 10.1.2.3',
    );
  });

  it('closes connections without a valid header, counts them, and keeps serving', async () => {
    const lb = await balancer({ timeouts: { clientHeaders: '500ms' } });
    expect(await rawExchange(lb.url, GET)).toBe('');
    expect(await rawExchange(lb.url, `PROXY TCP4 999.0.0.1 127.0.0.1 1 2\r\n${GET}`)).toBe('');
    // A header trickled a byte at a time: closed once timeouts.clientHeaders has passed in all.
    expect(await sendInParts(lb.url, [...'PROXY TCP4 203.0.113.7 127.0.0.1 40000 8080'])).toBe('');
    expect(await lb.app.metrics.text()).toContain('stickylb_proxy_protocol_errors_total 3');
    expect(await rawExchange(lb.url, `PROXY UNKNOWN\r\n${GET}`)).toMatch(/^HTTP\/1.1 200/);
  });

  it('with timeouts.clientHeaders 0 the header has no deadline either', async () => {
    const lb = await balancer({ timeouts: { clientHeaders: '0' } });
    const answer = await sendInParts(lb.url, ['PROXY TCP4 203.0.113.7 ', '127.0.0.1 40000 8080\r\n', GET]);
    expect(answer).toMatch(/^HTTP\/1.1 200/);
  });

  it('a reload that turns the key off keeps using the headers until the restart it needs', async () => {
    const lb = await balancer();
    const current = lb.app.config();
    lb.app.apply({ ...current, listen: { ...current.listen, proxyProtocol: false } });
    const answer = await rawExchange(lb.url, `PROXY TCP4 203.0.113.8 127.0.0.1 40000 8080\r\n${GET}`);
    expect((rawJsonBody(answer).headers as Record<string, string>)['x-forwarded-for']).toBe('203.0.113.8');
  });

  it('upgrades a WebSocket after the header', async () => {
    const lb = await balancer();
    const answer = await rawExchange(
      lb.url,
      'PROXY TCP4 203.0.113.7 127.0.0.1 40000 8080\r\nGET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      500,
    );
    expect(answer).toMatch(/^HTTP\/1.1 101/);
  });

  it('reads the header before the TLS handshake when TLS terminates here', async () => {
    const { cert, lb } = await tlsBalancer();
    // The TLS hello in the same packet as the header, and in a later one.
    for (const delayMs of [0, 60]) {
      const answer = await proxiedTlsExchange(
        lb.url,
        'PROXY TCP4 203.0.113.77 127.0.0.1 40000 443\r\n',
        GET,
        cert.cert,
        delayMs,
      );
      expect(answer).toMatch(/^HTTP\/1.1 200/);
      const headers = rawJsonBody(answer).headers as Record<string, string>;
      expect(headers['x-forwarded-for']).toBe('203.0.113.77');
      expect(headers['x-forwarded-proto']).toBe('https');
    }
  });

  it('over HTTP/2 every stream of the connection carries the address of its PROXY header', async () => {
    const { cert, lb } = await tlsBalancer();
    const { hostname, port } = new URL(lb.url);
    const raw = connect(Number(port), hostname);
    await once(raw, 'connect');
    raw.write('PROXY TCP4 203.0.113.78 127.0.0.1 40001 443\r\n');
    const session = http2Connect(lb.url, {
      createConnection: () =>
        tlsConnect({ socket: raw, ca: cert.cert, servername: 'localhost', ALPNProtocols: ['h2'] }),
    });
    onTestFinished(() => {
      session.destroy();
    });
    const seen = await Promise.all(
      [1, 2, 3].map(
        () =>
          new Promise<Record<string, string>>((resolve, reject) => {
            const stream = session.request({ ':path': '/echo', accept: 'application/json' });
            let body = '';
            stream.on('data', (c: Buffer) => {
              body += c.toString();
            });
            stream.on('end', () =>
              resolve((JSON.parse(body) as { headers: Record<string, string> }).headers),
            );
            stream.on('error', reject);
          }),
      ),
    );
    expect(session.alpnProtocol).toBe('h2');
    for (const headers of seen) {
      expect(headers['x-forwarded-for']).toBe('203.0.113.78');
      expect(headers['x-forwarded-proto']).toBe('https');
    }
  });
});
