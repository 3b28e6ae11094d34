/**
 * A WebSocket is finished like every other request (request-record.ts), over HTTP/1.1 and HTTP/2:
 * its handshake counted with the time the node took to accept it, its session traced and
 * access-logged at its close with its length and bytes, and the balancer's own answers logged too.
 */
import { connect } from 'node:http2';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startBalancer, waitFor } from '../helpers/balancer.js';
import { makeCert } from '../helpers/certs.js';
import { startFakeNode } from '../helpers/fake-node.js';
import { openH2Socket } from '../helpers/h2-websocket.js';
import { rawExchange } from '../helpers/raw.js';
import { closed, openSocket, roundTrip } from '../helpers/ws.js';

/** `stickylb_request_duration_seconds_{sum,count}` of `upstream`, from the exposition. */
async function durations(text: Promise<string>, upstream: string) {
  const body = await text;
  const read = (what: string) =>
    Number(
      new RegExp(`^stickylb_request_duration_seconds_${what}\\{upstream="${upstream}"\\} (\\S+)$`, 'm').exec(
        body,
      )?.[1] ?? 0,
    );
  return { sum: read('sum'), count: read('count') };
}

const accessLines = (logs: Array<Record<string, unknown>>) => logs.filter((l) => l.msg === 'request');

describe('a WebSocket is finished like every request', () => {
  it('HTTP/1.1: the handshake is timed as the node took it, the session logged at its close', async () => {
    const a = await startFakeNode('a');
    const lb = await startBalancer([a], { logging: { access: true } });
    const sock = await openSocket(`${lb.url}/ws-slow-accept`);
    // The node accepted 400 ms after the handshake arrived: the histogram has those 400 ms.
    const counted = await durations(lb.app.metrics.text(), 'a');
    expect(counted.count).toBe(1);
    expect(counted.sum).toBeGreaterThanOrEqual(0.4);
    expect(accessLines(lb.logs)).toEqual([]);
    await roundTrip(sock.ws, 'hello');
    sock.ws.close();
    await closed(sock.ws);
    await waitFor(() => accessLines(lb.logs).length === 1, 3000, 'the session line');
    const line = accessLines(lb.logs)[0]!;
    expect(line).toMatchObject({ kind: 'websocket', status: 101, upstream: 'a', path: '/ws-slow-accept' });
    expect(line.handshakeMs).toBeGreaterThanOrEqual(400);
    expect(line.ms).toBeGreaterThanOrEqual(line.handshakeMs as number);
    expect(line.bytes).toBeGreaterThan(0);
    expect(line.bytesIn).toBeGreaterThan(0);
    // Counted once: the close adds nothing to the histogram.
    expect((await durations(lb.app.metrics.text(), 'a')).count).toBe(1);
  });

  it("a node's refusal and the balancer's own 503 each have their access line", async () => {
    const a = await startFakeNode('a');
    const lb = await startBalancer([a], { logging: { access: true } });
    const handshake = (path: string) =>
      `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;
    expect(await rawExchange(lb.url, handshake('/ws-reject'))).toMatch(/^HTTP\/1.1 401/);
    await a.kill();
    await waitFor(() => lb.app.pool.get('a')!.health === 'down', 3000, 'a down');
    expect(await rawExchange(lb.url, handshake('/ws'))).toMatch(/^HTTP\/1.1 503/);
    expect(await rawExchange(lb.url, 'GET /page HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).toMatch(
      /^HTTP\/1.1 503/,
    );
    const lines = accessLines(lb.logs).map((l) => [l.kind, l.path, l.status]);
    expect(lines).toEqual([
      ['websocket', '/ws-reject', 401],
      ['websocket', '/ws', 503],
      ['http', '/page', 503],
    ]);
  });

  it('HTTP/2: the handshake is timed as the node took it, the session logged at its close', async () => {
    const cert = makeCert();
    const a = await startFakeNode('a');
    const lb = await startBalancer([a], {
      listen: { host: '127.0.0.1', port: 0, tls: { cert: cert.certFile, key: cert.keyFile } },
      logging: { access: true },
    });
    const s = connect(lb.url, { ca: cert.cert });
    s.on('error', () => {});
    onTestFinished(() => {
      s.destroy();
    });
    const ws = await openH2Socket(s, '/ws-slow-accept');
    expect(ws.headers[':status']).toBe(200);
    await ws.next();
    const counted = await durations(lb.app.metrics.text(), 'a');
    expect(counted.count).toBe(1);
    expect(counted.sum).toBeGreaterThanOrEqual(0.4);
    ws.stream.end();
    await waitFor(() => accessLines(lb.logs).length === 1, 3000, 'the session line');
    expect(accessLines(lb.logs)[0]).toMatchObject({ kind: 'websocket', status: 200, upstream: 'a' });
    expect(accessLines(lb.logs)[0]!.handshakeMs).toBeGreaterThanOrEqual(400);
  });
});
