/**
 * Issue 32.2: a queued span holds only what it shows. With a collector that accepts and never
 * answers, spans of requests with 60 KB paths queue up to the queue's bound; each must keep its
 * 1 KB `url.path`, not the whole path it was cut from (V8 keeps a short slice of a long string as a
 * view of its parent). The bound is checked in bytes of heap, not in spans.
 */
import { createServer, type Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createOtlpSink } from '../../src/data/tracing/otlp-sink.js';
import { createLogger } from '../../src/logger.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

describe('tracing memory (issue 32.2)', () => {
  it('3,000 queued spans of 60 KB paths hold kilobytes each, not their paths', async () => {
    const held = new Set<Socket>();
    const collector = createServer((socket) => {
      // Accepts, reads, never answers.
      held.add(socket);
      socket.on('error', () => {});
      socket.resume();
    });
    await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
    onTestFinished(() => {
      for (const s of held) s.destroy();
      collector.close();
    });
    const { port } = collector.address() as { port: number };
    const sink = createOtlpSink(
      { endpoint: `http://127.0.0.1:${port}/v1/traces`, headers: {}, sampleRatio: 1, serviceName: 't' },
      createLogger('silent'),
    );
    gc();
    const before = process.memoryUsage().heapUsed;
    const spans = 3000;
    for (let i = 0; i < spans; i++) {
      // A distinct 60 KB path per request, as a client sending long paths makes them.
      const target = `/p${i}/${'x'.repeat(60_000)}?q=1`;
      const id = (i + 1).toString(16).padStart(16, '0');
      sink.record({
        kind: 'http',
        method: 'GET',
        target,
        status: 200,
        node: 'a',
        repin: undefined,
        retries: 0,
        bytesOut: 2,
        bytesIn: 0,
        startMs: Date.now(),
        endMs: Date.now() + 1,
        traceparent: `00-${id.repeat(2)}-${id}-01`,
        parent: undefined,
        requestId: `r${i}`,
      });
    }
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    // 3,000 whole paths would be 180 MB; their 1 KB cuts and the spans around them a few MB.
    expect(grown).toBeLessThan(40 * 1024 * 1024);
    void sink.shutdown().catch(() => {});
  });
});
