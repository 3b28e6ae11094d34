/** Request ids and W3C trace context on every forwarded request and every answer (issue 16). */
import { describe, expect, it } from 'vitest';
import { startBalancer } from '../helpers/balancer.js';
import { startFakeNode } from '../helpers/fake-node.js';
import { Client } from '../helpers/http.js';
import { rawExchange, rawJsonBody } from '../helpers/raw.js';
import { openSocket } from '../helpers/ws.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

describe('request id and trace context', () => {
  it('the node sees X-Request-Id and a traceparent continuing the client trace; the answer carries the id', async () => {
    const a = await startFakeNode('a');
    const lb = await startBalancer([a]);
    const res = await new Client(lb.url).get('/echo', {
      traceparent: `00-${TRACE}-00f067aa0ba902b7-01`,
      tracestate: 'congo=t61rcWkgMzE',
      'x-request-id': 'spoofed-by-the-client',
    });
    const seen = res.json.headers!;
    expect(seen.traceparent).toMatch(new RegExp(`^00-${TRACE}-[0-9a-f]{16}-01$`));
    expect(seen.traceparent).not.toContain('00f067aa0ba902b7');
    expect(seen.tracestate).toBe('congo=t61rcWkgMzE');
    // The client is not a trusted proxy: its id is replaced.
    expect(seen['x-request-id']).not.toBe('spoofed-by-the-client');
    expect(res.headers['x-request-id']).toBe(seen['x-request-id']);
  });

  it('a request with no or an invalid traceparent starts a new trace; each request gets its own id', async () => {
    const a = await startFakeNode('a');
    const lb = await startBalancer([a]);
    const client = new Client(lb.url);
    const first = (await client.get('/echo', { traceparent: `00-${'0'.repeat(32)}-00f067aa0ba902b7-01` }))
      .json.headers!;
    const second = (await client.get('/echo')).json.headers!;
    expect(first.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(first.traceparent!.slice(3, 35)).not.toBe('0'.repeat(32));
    expect(first.traceparent!.slice(3, 35)).not.toBe(second.traceparent!.slice(3, 35));
    expect(first['x-request-id']).not.toBe(second['x-request-id']);
  });

  it("a trusted proxy's X-Request-Id is kept", async () => {
    const a = await startFakeNode('a');
    const lb = await startBalancer([a], { trustedProxies: ['127.0.0.0/8'] });
    const res = await new Client(lb.url).get('/echo', { 'x-request-id': 'edge-7f3a' });
    expect(res.json.headers!['x-request-id']).toBe('edge-7f3a');
    expect(res.headers['x-request-id']).toBe('edge-7f3a');
  });

  it('error answers and access log lines name both ids; a WebSocket handshake carries them too', async () => {
    const a = await startFakeNode('a');
    const lb = await startBalancer([a], { logging: { access: true } });
    await new Client(lb.url).get('/echo', { traceparent: `00-${TRACE}-00f067aa0ba902b7-01` });
    const line = lb.logs.find((l) => l.msg === 'request');
    expect(line).toMatchObject({ traceId: TRACE, requestId: expect.any(String) });

    await a.kill();
    const answer = await rawExchange(
      lb.url,
      `GET /__api__/x HTTP/1.1\r\nHost: x\r\nTraceparent: 00-${TRACE}-00f067aa0ba902b7-01\r\n\r\n`,
    );
    const { error } = rawJsonBody(answer) as { error: { requestId: string; traceId: string } };
    expect(error.traceId).toBe(TRACE);
    expect(answer).toContain(`\r\nX-Request-Id: ${error.requestId}\r\n`);
  });

  it('a WebSocket handshake is forwarded with both ids and its 101 names the request id', async () => {
    const a = await startFakeNode('a');
    const lb = await startBalancer([a]);
    const answer = await rawExchange(
      lb.url,
      'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
      500,
    );
    expect(answer).toMatch(/^HTTP\/1.1 101 /);
    expect(answer).toMatch(/\r\nX-Request-Id: [0-9a-f]{12}-[0-9a-z]+\r\n/);
    const { hello } = await openSocket(`${lb.url}/ws`);
    expect(hello.requestId).toMatch(/^[0-9a-f]{12}-[0-9a-z]+$/);
    expect(hello.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });
});
