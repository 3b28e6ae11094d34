/**
 * A closed HTTP/2 stream lets go of the request's objects: V8's young-generation collections keep
 * a closed node:http2 stream alive until a full collection, and with it whatever its listeners
 * reach, so every request's exchange was promoted instead of dying young (docs/performance.md).
 * The server strips a stream's listeners at its 'close', after every 'close' listener has run.
 */

import { connect, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { DataSettings } from '../../src/contract/data-settings.js';
import { createHttp2Server } from '../../src/data/http2-server.js';
import { Lifecycle } from '../../src/data/lifecycle.js';
import { createLogger } from '../../src/logger.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { makeCert } from '../helpers/certs.js';

/** A server whose handler keeps each stream, with a 'close' listener of its own, and answers unless told not to. */
async function server(answer: boolean) {
  const cert = makeCert();
  const settings = {
    tls: { cert: cert.cert, key: cert.key },
    server: { maxHeaderSize: 16_384, clientIdleMs: 60_000 },
  } as unknown as DataSettings;
  const closed: Array<{
    stream: ServerHttp2Stream;
    laterListenerRan: boolean;
    after: Array<string | symbol>;
  }> = [];
  const streams: ServerHttp2Stream[] = [];
  const srv = createHttp2Server(settings, {
    handle: () => {},
    handleStream: (stream) => {
      streams.push(stream);
      // What an exchange holds: registered after the server's own 'close' listener.
      const state = { stream, laterListenerRan: false, after: [] as Array<string | symbol> };
      stream.on('close', () => {
        state.laterListenerRan = true;
        setImmediate(() => {
          state.after = stream.eventNames();
          closed.push(state);
        });
      });
      stream.on('data', () => {});
      if (answer) stream.respond({ ':status': 200 }, { endStream: true });
    },
    handleConnectStream: (stream) => stream.close(),
    metrics: new Metrics(),
    logger: createLogger('silent'),
    lifecycle: new Lifecycle(),
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const client = connect(`https://127.0.0.1:${(srv.address() as AddressInfo).port}`, { ca: cert.cert });
  onTestFinished(async () => {
    client.destroy();
    srv.closeAllConnections();
    await new Promise((resolve) => srv.close(resolve));
  });
  const settled = (n: number) =>
    new Promise<typeof closed>((resolve) => {
      const poll = () => (closed.length >= n ? resolve(closed) : setImmediate(poll));
      poll();
    });
  return { client, streams, settled };
}

describe('HTTP/2 stream release', () => {
  it.each([
    ['answered', true],
    ['reset by the client before its answer', false],
  ])(
    'a stream %s keeps no listener but the error sink once closed; every close listener still ran',
    async (_, answer) => {
      const { client, streams, settled } = await server(answer);
      const requests = [0, 1, 2].map(() => client.request({ ':path': '/x' }, { endStream: false }));
      if (answer) {
        await Promise.all(
          requests.map((r) => {
            r.resume();
            r.end();
            return new Promise((resolve) => r.once('end', resolve));
          }),
        );
      } else {
        const poll = () =>
          new Promise<void>((resolve) =>
            streams.length === 3 ? resolve() : setImmediate(() => resolve(poll())),
          );
        await poll();
        for (const r of requests) r.close();
      }
      const closed = await settled(3);
      for (const c of closed) {
        expect(c.laterListenerRan).toBe(true);
        expect(c.after).toEqual(['error']);
        expect(c.stream.listenerCount('error')).toBe(1);
      }
    },
  );
});
