/**
 * `timeouts.clientSend` (issue 22.3): a client that stops reading a response must not hold its
 * node's connection for good, over HTTP/1.1 or on an HTTP/2 stream with a closed window; an open
 * WebSocket tunnel that is merely quiet is never cut by it.
 */
import { connect as h2connect } from 'node:http2';
import { connect } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startBalancer, waitFor } from '../helpers/balancer.js';
import { makeCert } from '../helpers/certs.js';
import { startFakeNode } from '../helpers/fake-node.js';
import { Client } from '../helpers/http.js';
import { openSocket, roundTrip } from '../helpers/ws.js';

const sendTimeouts = (text: string) =>
  Number(/^stickylb_client_send_timeouts_total\{upstream="a"\} (\d+)/m.exec(text)?.[1] ?? 0);

describe('timeouts.clientSend', () => {
  it('HTTP/1.1: a client that stops reading a 20 MB response is cut and its node connection released; a quiet WebSocket stays', async () => {
    const a = await startFakeNode('a');
    const lb = await startBalancer([a], { timeouts: { clientSend: '500ms' } });
    const node = lb.app.pool.get('a')!;
    const quiet = await openSocket(`${lb.url}/ws`);

    const { port } = new URL(lb.url);
    const socket = connect(Number(port), '127.0.0.1');
    onTestFinished(() => {
      socket.destroy();
    });
    let closed = false;
    socket.on('error', () => {});
    socket.on('close', () => {
      closed = true;
    });
    socket.write('GET /download?mb=20 HTTP/1.1\r\nHost: x\r\n\r\n');
    socket.pause(); // never read: the socket's buffers fill, then stickylb's
    await waitFor(() => node.inFlight === 1, 5000, 'the download in flight');
    await waitFor(() => node.inFlight === 0, 10_000, 'the stalled response released');
    socket.resume(); // the close is seen after the bytes already received
    await waitFor(() => closed, 5000, 'the stalled client disconnected');
    expect(sendTimeouts(await lb.app.metrics.text())).toBe(1);
    expect((await new Client(lb.url).get('/')).status).toBe(200);
    // The WebSocket opened before, quiet all along, still carries messages.
    expect(node.websockets).toBe(1);
    expect((await roundTrip(quiet.ws, 'still here')).data.toString()).toContain('still here');
  });

  it('HTTP/2: a stream whose window the client never opens is reset and its node connection released; other streams go on', async () => {
    const cert = makeCert();
    const a = await startFakeNode('a');
    const lb = await startBalancer([a], {
      listen: { host: '127.0.0.1', port: 0, tls: { cert: cert.certFile, key: cert.keyFile } },
      timeouts: { clientSend: '500ms' },
    });
    const node = lb.app.pool.get('a')!;
    const session = h2connect(lb.url, { ca: cert.cert });
    onTestFinished(() => {
      session.destroy();
    });
    const stalled = session.request({ ':path': '/download?mb=20' });
    let ended = false;
    stalled.on('error', () => {});
    stalled.on('close', () => {
      ended = true;
    });
    stalled.pause(); // never read: no WINDOW_UPDATE, the stream's window closes
    await waitFor(() => node.inFlight === 1, 5000, 'the download in flight');
    await waitFor(() => node.inFlight === 0, 10_000, 'the stalled stream released');
    stalled.resume();
    await waitFor(() => ended, 5000, 'the stalled stream closed');
    expect(sendTimeouts(await lb.app.metrics.text())).toBe(1);
    const next = session.request({ ':path': '/' });
    const status = await new Promise<number>((resolve, reject) => {
      next.on('response', (h) => resolve(Number(h[':status'])));
      next.on('error', reject);
    });
    next.resume();
    expect(status).toBe(200);
  });
});
