/**
 * Hostile HTTP/2 (issue 16): each abuse a public TLS port sees meets a documented limit
 * (http2-budget.ts, README "HTTP/2"), closes or refuses only the abuser, and shows in a metric.
 * Frames are written raw, as an attacker writes them, not through a well-behaved client.
 */
import { connect } from 'node:http2';
import { describe, expect, it, onTestFinished } from 'vitest';
import { HTTP2_LIMITS } from '../../src/data/http2-budget.js';
import { startBalancer, waitFor } from '../helpers/balancer.js';
import { makeCert, type TestCert } from '../helpers/certs.js';
import { type FakeNode, startFakeNode } from '../helpers/fake-node.js';
import { openH2Socket } from '../helpers/h2-websocket.js';
import { headers, ping, rawH2, rstStream, settings } from '../helpers/raw-h2.js';

const ENHANCE_YOUR_CALM = 11;
const REFUSED_STREAM = 7;

async function tlsBalancer(nodes: FakeNode[], cert: TestCert, extra: Record<string, unknown> = {}) {
  const lb = await startBalancer(nodes, {
    listen: { host: '127.0.0.1', port: 0, tls: { cert: cert.certFile, key: cert.keyFile } },
    ...extra,
  });
  return { lb, port: Number(new URL(lb.url).port), authority: new URL(lb.url).host };
}

const metric = async (lb: { app: { metrics: { text(): Promise<string> } } }, line: string) =>
  Number(new RegExp(`^${line.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(await lb.app.metrics.text())?.[1]);

/** Odd client stream ids 1, 3, 5, ... */
const ids = (n: number) => Array.from({ length: n }, (_, i) => 2 * i + 1);

describe('hostile HTTP/2', () => {
  it('rapid reset (CVE-2023-44487): the abuser gets GOAWAY once its resets pass the budget', async () => {
    const cert = makeCert();
    const a = await startFakeNode('a');
    const { lb, port, authority } = await tlsBalancer([a], cert);
    const h2 = await rawH2(port, cert.cert);
    const streams = ids(HTTP2_LIMITS.resets + 100);
    h2.write(streams.flatMap((id) => [headers(id, authority, '/slow?ms=1000'), rstStream(id)]));
    const seen = await h2.ended;
    expect(seen.goaway).toBe(ENHANCE_YOUR_CALM);
    expect(await metric(lb, 'stickylb_http2_sessions_closed_total{reason="rapid_reset"}')).toBe(1);
    expect(await metric(lb, 'stickylb_http2_client_resets_total')).toBeGreaterThan(HTTP2_LIMITS.resets);
    // A stream reset in the read that brought it is never routed: no node saw these requests (a
    // read boundary between a HEADERS and its reset could let one through).
    const routed = (await metric(lb, 'stickylb_requests_total{upstream="a",code="499"}')) || 0;
    expect(routed).toBeLessThanOrEqual(1);
    // Another client on the same port is served.
    await expectServed(lb.url, cert);
  });

  it.each([
    ['PING', 'ping_flood', () => ids(HTTP2_LIMITS.pings + 50).map((n) => ping(n))],
    ['SETTINGS', 'settings_flood', () => ids(HTTP2_LIMITS.settings + 50).map(() => settings())],
  ])('a %s flood closes the session with GOAWAY (%s)', async (_what, reason, flood) => {
    const cert = makeCert();
    const a = await startFakeNode('a');
    const { lb, port } = await tlsBalancer([a], cert);
    const h2 = await rawH2(port, cert.cert);
    h2.write(flood());
    const seen = await h2.ended;
    expect(seen.goaway).toBe(ENHANCE_YOUR_CALM);
    expect(await metric(lb, `stickylb_http2_sessions_closed_total{reason="${reason}"}`)).toBe(1);
    await expectServed(lb.url, cert);
  });

  it('streams beyond the concurrent limit are refused; a flood of them closes the session', async () => {
    const cert = makeCert();
    const a = await startFakeNode('a');
    const { lb, port, authority } = await tlsBalancer([a], cert);
    const h2 = await rawH2(port, cert.cert);
    // Bodies never sent: every stream stays open.
    const open = ids(HTTP2_LIMITS.maxConcurrentStreams + 20);
    h2.write(open.map((id) => headers(id, authority, '/echo', false)));
    await waitFor(() => h2.frames.resets.size >= 20, 3000, 'refused streams');
    expect([...h2.frames.resets.values()].every((code) => code === REFUSED_STREAM)).toBe(true);
    expect(h2.frames.goaway).toBeUndefined();
    const more = ids(open.length + HTTP2_LIMITS.maxRejectedStreams + 50).slice(open.length);
    h2.write(more.map((id) => headers(id, authority, '/echo', false)));
    // node:http2 ends such a session at once, without a GOAWAY.
    await h2.ended;
    expect(await metric(lb, 'stickylb_http2_sessions_closed_total{reason="protocol_error"}')).toBe(1);
    await expectServed(lb.url, cert);
  });

  it('a header list over limits.maxHeaderSize is refused without reaching a node', async () => {
    const cert = makeCert();
    const a = await startFakeNode('a');
    const { lb, port, authority } = await tlsBalancer([a], cert, { limits: { maxHeaderSize: '8KiB' } });
    const h2 = await rawH2(port, cert.cert);
    h2.write(headers(1, authority, '/echo', true, [['x-big', 'x'.repeat(16 * 1024)]]));
    await waitFor(() => h2.frames.resets.has(1) || h2.frames.goaway !== undefined, 3000, 'refusal');
    expect(h2.frames.answered.has(1)).toBe(false);
    expect((await metric(lb, 'stickylb_requests_total{upstream="a",code="200"}')) || 0).toBe(0);
    await expectServed(lb.url, cert);
  });

  it('an idle session gets GOAWAY after timeouts.clientIdle; one holding a quiet WebSocket stays open', async () => {
    const cert = makeCert();
    const a = await startFakeNode('a');
    const { lb, port } = await tlsBalancer([a], cert, { timeouts: { clientIdle: '300ms' } });
    const idle = await rawH2(port, cert.cert);
    const busy = connect(lb.url, { ca: cert.cert });
    busy.on('error', () => {});
    onTestFinished(() => {
      busy.destroy();
    });
    const ws = await openH2Socket(busy, '/ws');
    await ws.next();
    const seen = await idle.ended;
    expect(seen.goaway).toBe(0);
    expect(await metric(lb, 'stickylb_http2_sessions_closed_total{reason="idle"}')).toBe(1);
    // Another idle session opened now is closed one idle period later: by then the WebSocket's
    // session has been quiet for longer than the limit too, and still works.
    const later = await rawH2(port, cert.cert);
    expect((await later.ended).goaway).toBe(0);
    expect(await metric(lb, 'stickylb_http2_sessions_closed_total{reason="idle"}')).toBe(2);
    ws.send('quiet but alive');
    expect(await ws.next()).toBe('quiet but alive');
    expect(await metric(lb, 'stickylb_http2_sessions')).toBe(1);
  });
});

/** A well-behaved client is served on the same port. */
async function expectServed(url: string, cert: TestCert): Promise<void> {
  const s = connect(url, { ca: cert.cert });
  onTestFinished(() => {
    s.destroy();
  });
  const status = await new Promise<number>((resolve, reject) => {
    const req = s.request({ ':path': '/echo' });
    req.on('response', (h) => resolve(Number(h[':status'])));
    req.on('error', reject);
    req.resume();
  });
  expect(status).toBe(200);
}
