/**
 * OpenTelemetry export (issue 16): with `tracing.otlp.endpoint` every request and WebSocket session
 * becomes a span whose ids are those of the `traceparent` the node received, received here by a
 * small OTLP/HTTP (JSON) receiver on loopback.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { affinityToken } from '../../src/affinity/token.js';
import { MAX_ATTRIBUTE_CHARS } from '../../src/data/tracing/otlp-sink.js';
import { startBalancer, waitFor } from '../helpers/balancer.js';
import { startFakeNode } from '../helpers/fake-node.js';
import { Client } from '../helpers/http.js';
import { openSocket } from '../helpers/ws.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN = '00f067aa0ba902b7';
const SECRET = 'test-secret-0123456789abcdef';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Array<{ key: string; value: Record<string, unknown> }>;
  status?: { code?: number };
}

/**
 * An OTLP/HTTP receiver: the spans of every POST to /v1/traces, the service names seen, and the
 * `authorization` and `x-scope-orgid` of each export.
 */
async function otlpReceiver() {
  const spans: OtlpSpan[] = [];
  const services = new Set<string>();
  const credentials = new Set<string>();
  const server = createServer((req, res) => {
    credentials.add(`${req.headers.authorization} ${req.headers['x-scope-orgid']}`);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      expect(req.url).toBe('/v1/traces');
      expect(req.headers['content-type']).toContain('application/json');
      const body = JSON.parse(Buffer.concat(chunks).toString()) as {
        resourceSpans: Array<{
          resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> };
          scopeSpans: Array<{ spans: OtlpSpan[] }>;
        }>;
      };
      for (const rs of body.resourceSpans) {
        for (const a of rs.resource.attributes)
          if (a.key === 'service.name') services.add(a.value.stringValue!);
        for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  onTestFinished(() => {
    server.close();
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
  return { spans, services, credentials, endpoint };
}

const attr = (span: OtlpSpan, key: string) => {
  const v = span.attributes.find((a) => a.key === key)?.value;
  return v === undefined ? undefined : (v.stringValue ?? Number(v.intValue ?? v.doubleValue));
};
const idsOf = (traceparent: string) => ({
  traceId: traceparent.slice(3, 35),
  spanId: traceparent.slice(36, 52),
});

describe('OpenTelemetry export', () => {
  it('a continued trace: the span has the ids the node saw, the client span as parent, and the request', async () => {
    const collector = await otlpReceiver();
    const a = await startFakeNode('a');
    const lb = await startBalancer([a], {
      tracing: {
        otlp: {
          endpoint: collector.endpoint,
          headers: { Authorization: 'Bearer collector-token-0123', 'X-Scope-OrgID': 'tenant-1' },
        },
        serviceName: 'lb-test',
      },
    });
    const res = await new Client(lb.url).get('/echo?secret=1', {
      traceparent: `00-${TRACE}-${CLIENT_SPAN}-01`,
    });
    const seen = idsOf(res.json.headers!.traceparent!);
    await waitFor(() => collector.spans.length >= 1, 5000, 'span exported');
    const [span] = collector.spans;
    expect(span).toMatchObject({
      traceId: TRACE,
      spanId: seen.spanId,
      parentSpanId: CLIENT_SPAN,
      name: 'GET',
    });
    expect(attr(span!, 'stickylb.upstream')).toBe('a');
    expect(attr(span!, 'http.response.status_code')).toBe(200);
    expect(attr(span!, 'url.path')).toBe('/echo');
    expect(attr(span!, 'stickylb.request_id')).toBe(res.headers['x-request-id']);
    expect(attr(span!, 'http.response.body.size')).toBeGreaterThan(0);
    expect(BigInt(span!.endTimeUnixNano)).toBeGreaterThan(BigInt(span!.startTimeUnixNano));
    expect([...collector.services]).toEqual(['lb-test']);
    // A hosted collector's credentials go with every export, and never to the log.
    expect([...collector.credentials]).toEqual(['Bearer collector-token-0123 tenant-1']);
    expect(JSON.stringify(lb.logs)).not.toContain('collector-token-0123');
  });

  it('a new trace and a re-pin are on the span; a 503 with no node is a span marked as an error', async () => {
    const collector = await otlpReceiver();
    const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
    const lb = await startBalancer([a, b], { tracing: { otlp: { endpoint: collector.endpoint } } });
    await a.kill();
    await waitFor(() => lb.app.pool.get('a')?.health === 'down', 3000, 'a down');
    const res = await new Client(lb.url).get('/echo', { cookie: `stickylb=${affinityToken(SECRET, 'a')}` });
    const seen = idsOf(res.json.headers!.traceparent!);
    await waitFor(() => collector.spans.some((s) => s.spanId === seen.spanId), 5000, 'span exported');
    const span = collector.spans.find((s) => s.spanId === seen.spanId)!;
    expect(span.traceId).toBe(seen.traceId);
    expect(span.parentSpanId ?? '').toBe('');
    expect(attr(span, 'stickylb.upstream')).toBe('b');
    expect(attr(span, 'stickylb.repin_reason')).toBe('down');
    await b.kill();
    await waitFor(() => lb.app.pool.get('b')?.health === 'down', 3000, 'b down');
    await new Client(lb.url).get('/echo');
    await waitFor(
      () => collector.spans.some((s) => attr(s, 'http.response.status_code') === 503),
      5000,
      '503 span',
    );
    const failed = collector.spans.find((s) => attr(s, 'http.response.status_code') === 503)!;
    expect(failed.name).toBe('GET');
    expect(failed.status?.code).toBe(2);
    expect(attr(failed, 'stickylb.upstream')).toBeUndefined();
    // A WebSocket handshake with no node to go to is a span too, made where HTTP's is.
    await expect(openSocket(`${lb.url}/ws`)).rejects.toThrow(/503/);
    await waitFor(() => collector.spans.some((s) => s.name === 'WebSocket'), 5000, 'handshake span');
    const refused = collector.spans.find((s) => s.name === 'WebSocket')!;
    expect(attr(refused, 'http.response.status_code')).toBe(503);
    expect(refused.status?.code).toBe(2);
  });

  it('a WebSocket session is one span, ended when the tunnel closes, with its bytes', async () => {
    const collector = await otlpReceiver();
    const a = await startFakeNode('a');
    const lb = await startBalancer([a], { tracing: { otlp: { endpoint: collector.endpoint } } });
    const { ws, hello } = await openSocket(`${lb.url}/ws`);
    await new Promise<void>((resolve) => {
      ws.once('message', () => resolve());
      // Random text: permessage-deflate cannot shrink it much.
      ws.send(randomBytes(1000).toString('base64'));
    });
    ws.close();
    await waitFor(() => collector.spans.length >= 1, 5000, 'session span');
    const span = collector.spans[0]!;
    expect(span.name).toBe('WebSocket');
    expect(idsOf(hello.traceparent!)).toEqual({ traceId: span.traceId, spanId: span.spanId });
    expect(attr(span, 'http.response.status_code')).toBe(101);
    expect(attr(span, 'stickylb.websocket.bytes_to_node')).toBeGreaterThan(1000);
    expect(attr(span, 'stickylb.websocket.bytes_from_node')).toBeGreaterThan(1000);
  });

  it('sampleRatio 0 records no new trace but follows a client that samples', async () => {
    const collector = await otlpReceiver();
    const a = await startFakeNode('a');
    const lb = await startBalancer([a], {
      tracing: { otlp: { endpoint: collector.endpoint }, sampleRatio: 0 },
    });
    const client = new Client(lb.url);
    // stickylb decides for new traces, and tells the node it did not record them.
    for (let i = 0; i < 20; i++) {
      expect((await client.get('/echo')).json.headers!.traceparent).toMatch(/-00$/);
    }
    await client.get('/echo', { traceparent: `00-${TRACE}-${CLIENT_SPAN}-00` });
    await client.get('/echo', { traceparent: `00-${TRACE}-${CLIENT_SPAN}-01` });
    await waitFor(() => collector.spans.length >= 1, 5000, 'sampled span');
    // Flushes what is queued: nothing else was sampled.
    await lb.close();
    expect(collector.spans.map((s) => s.traceId)).toEqual([TRACE]);
  });

  it('a collector that is down costs no request; spans resume when it is back', async () => {
    const a = await startFakeNode('a');
    const lb = await startBalancer([a], { tracing: { otlp: { endpoint: 'http://127.0.0.1:9/v1/traces' } } });
    const client = new Client(lb.url);
    for (let i = 0; i < 50; i++) expect((await client.get('/echo')).status).toBe(200);
    const collector = await otlpReceiver();
    lb.app.apply({
      ...lb.app.config(),
      tracing: { ...lb.app.config().tracing, otlp: { endpoint: collector.endpoint } },
    });
    await waitFor(
      () =>
        // The structured field of the export's start line, not its wording.
        lb.logs.some((l) => l.endpoint === collector.endpoint && 'sampleRatio' in l),
      3000,
      'new endpoint',
    );
    await client.get('/echo');
    await waitFor(() => collector.spans.length >= 1, 5000, 'span after the switch');
  });

  it('a long request path is cut to MAX_ATTRIBUTE_CHARS in its span, so the queue stays small (issue 22.2)', async () => {
    const collector = await otlpReceiver();
    const a = await startFakeNode('a');
    const lb = await startBalancer([a], { tracing: { otlp: { endpoint: collector.endpoint } } });
    const path = `/echo/${'x'.repeat(8_000)}`;
    expect((await new Client(lb.url).get(`${path}?q=1`)).status).toBe(200);
    await waitFor(() => collector.spans.length >= 1, 5000, 'span exported');
    const kept = attr(collector.spans[0]!, 'url.path') as string;
    expect(kept).toBe(path.slice(0, MAX_ATTRIBUTE_CHARS));
  });

  it("a collector's 1 MB error body reaches the log cut to a short field (issue 22.10)", async () => {
    const huge = 'e'.repeat(1 << 20);
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(400, { 'content-type': 'text/plain' }).end(huge));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    onTestFinished(() => {
      server.close();
    });
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
    const a = await startFakeNode('a');
    const lb = await startBalancer([a], { tracing: { otlp: { endpoint } } });
    expect((await new Client(lb.url).get('/')).status).toBe(200);
    await waitFor(() => lb.logs.some((l) => Array.isArray(l.detail)), 10_000, 'export failure logged');
    for (const line of lb.logs.filter((l) => Array.isArray(l.detail))) {
      expect(JSON.stringify(line).length).toBeLessThan(4096);
    }
  });
});
