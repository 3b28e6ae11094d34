/**
 * WebSockets over HTTP/2 (RFC 8441, issue 16): the TLS listener advertises extended CONNECT; a
 * `:protocol websocket` stream is sticky like an HTTP/1.1 upgrade, bridged to the node as an
 * HTTP/1.1 upgrade, and reset (no close frame) when its node is lost.
 */
import { type ClientHttp2Session, connect, constants } from 'node:http2';
import { describe, expect, it, onTestFinished } from 'vitest';
import { affinityToken } from '../../src/affinity/token.js';
import { startBalancer, waitFor } from '../helpers/balancer.js';
import { makeCert, type TestCert } from '../helpers/certs.js';
import { type FakeNode, startFakeNode } from '../helpers/fake-node.js';
import { connectProtocolEnabled, openH2Socket } from '../helpers/h2-websocket.js';

const SECRET = 'test-secret-0123456789abcdef';
const pin = (name: string) => `stickylb=${affinityToken(SECRET, name)}`;

async function tlsBalancer(nodes: FakeNode[], cert: TestCert, extra: Record<string, unknown> = {}) {
  return startBalancer(nodes, {
    listen: { host: '127.0.0.1', port: 0, tls: { cert: cert.certFile, key: cert.keyFile } },
    ...extra,
  });
}

function session(url: string, cert: TestCert): ClientHttp2Session {
  const s = connect(url, { ca: cert.cert });
  s.on('error', () => {});
  onTestFinished(() => {
    s.destroy();
  });
  return s;
}

const helloOf = (text: string) =>
  JSON.parse(text) as { hello: string; cookie: string | null; protocol: string };

describe('WebSockets over HTTP/2 (RFC 8441)', () => {
  it('advertises extended CONNECT; a handshake pins, echoes, and is counted while open', async () => {
    const cert = makeCert();
    const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
    const lb = await tlsBalancer([a, b], cert);
    const s = session(lb.url, cert);
    expect(await connectProtocolEnabled(s)).toBe(true);
    const ws = await openH2Socket(s, '/ws', { 'sec-websocket-protocol': 'shiny, other', cookie: 'app=1' });
    expect(ws.headers[':status']).toBe(200);
    expect(String(ws.headers['set-cookie'])).toMatch(/^stickylb=[\w-]{22}; Path=\/; HttpOnly; Secure/);
    expect(ws.headers['sec-websocket-protocol']).toBe('shiny');
    expect(ws.headers['x-request-id']).toEqual(expect.any(String));
    expect(ws.headers['sec-websocket-accept']).toBeUndefined();
    expect(ws.headers.upgrade).toBeUndefined();
    const hello = helloOf(await ws.next());
    expect(hello.protocol).toBe('shiny');
    // The node sees the client's cookies without the pin.
    expect(hello.cookie).toBe('app=1');
    ws.send('ping over h2');
    expect(await ws.next()).toBe('ping over h2');
    const text = await lb.app.metrics.text();
    expect(text).toContain(`stickylb_active_websockets{upstream="${hello.hello}"} 1`);
    expect(text).toContain('stickylb_http2_websockets_total 1');
    // The pin the 200 set holds for the next handshake, on the same session.
    const cookie = String(ws.headers['set-cookie']).split(';')[0]!;
    const again = await openH2Socket(s, '/ws', { cookie });
    expect(again.headers['set-cookie']).toBeUndefined();
    expect(helloOf(await again.next()).hello).toBe(hello.hello);
    // A client's END_STREAM ends the tunnel; the node's socket goes with it.
    ws.stream.end();
    again.stream.close(constants.NGHTTP2_CANCEL);
    await waitFor(() => lb.app.pool.nodes.every((n) => n.websockets === 0), 3000, 'tunnels closed');
  });

  it('streams on one session reach the node each one is pinned to', async () => {
    const cert = makeCert();
    const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
    const lb = await tlsBalancer([a, b], cert);
    const s = session(lb.url, cert);
    const sockets = await Promise.all(
      ['a', 'b', 'a', 'b'].map((n) => openH2Socket(s, '/ws', { cookie: pin(n) })),
    );
    const hellos = await Promise.all(sockets.map(async (w) => helloOf(await w.next()).hello));
    expect(hellos).toEqual(['a', 'b', 'a', 'b']);
    expect(sockets.every((w) => w.headers['set-cookie'] === undefined)).toBe(true);
  });

  it('a killed node resets its streams without a close frame; the reconnect re-pins to the other node', async () => {
    const cert = makeCert();
    const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
    const lb = await tlsBalancer([a, b], cert);
    const s = session(lb.url, cert);
    const ws = await openH2Socket(s, '/ws', { cookie: pin('a') });
    expect(helloOf(await ws.next()).hello).toBe('a');
    const other = await openH2Socket(s, '/ws', { cookie: pin('b') });
    await other.next();
    await a.kill();
    expect(await ws.closed).toBe(constants.NGHTTP2_CANCEL);
    // stickylb's own reset is not counted against the client's reset budget.
    expect(await lb.app.metrics.text()).toContain('stickylb_http2_client_resets_total 0');
    // The session and the other node's stream live on.
    other.send('still here');
    expect(await other.next()).toBe('still here');
    const back = await openH2Socket(s, '/ws', { cookie: pin('a') });
    expect(back.headers[':status']).toBe(200);
    expect(String(back.headers['set-cookie'])).toContain(`stickylb=${affinityToken(SECRET, 'b')}`);
    expect(helloOf(await back.next()).hello).toBe('b');
  });

  it('a node head repeating a field HTTP/2 sends once is answered, refusal or 101, and the balancer lives on', async () => {
    const cert = makeCert();
    const a = await startFakeNode('a');
    const lb = await tlsBalancer([a], cert);
    const s = session(lb.url, cert);
    const refused = await openH2Socket(s, '/ws-sloppy-reject');
    expect(refused.headers[':status']).toBe(403);
    expect(refused.headers['content-type']).toBe('text/plain');
    expect(refused.headers['x-content-type-options']).toBe('nosniff');
    expect(await refused.body).toBe('no');
    const accepted = await openH2Socket(s, '/ws-sloppy-accept');
    expect(accepted.headers[':status']).toBe(200);
    expect(accepted.headers['content-type']).toBe('text/plain');
    expect(helloOf(await accepted.next()).hello).toBe('a');
    // The same session still serves: nothing threw out of a listener.
    const again = await openH2Socket(s, '/ws');
    expect(again.headers[':status']).toBe(200);
  });

  it("relays a node's refusal, and answers what it cannot bridge itself", async () => {
    const cert = makeCert();
    const a = await startFakeNode('a');
    const lb = await tlsBalancer([a], cert);
    const s = session(lb.url, cert);
    const refused = await openH2Socket(s, '/ws-reject');
    expect(refused.headers[':status']).toBe(401);
    expect(refused.headers['x-node']).toBe('a');
    expect(await refused.body).toBe('no way');
    const other = await openH2Socket(s, '/ws', {}, 'connect-udp');
    expect(other.headers[':status']).toBe(501);
    expect(other.headers['x-stickylb-error']).toBe('METHOD_NOT_SUPPORTED');
    await a.kill();
    await waitFor(() => lb.app.pool.nodes[0]!.health === 'down', 3000, 'node a down');
    const none = await openH2Socket(s, '/ws', { accept: 'application/json' });
    expect(none.headers[':status']).toBe(503);
    expect(JSON.parse(await none.body).error.code).toBe('NO_AVAILABLE_NODE');
  });
});
