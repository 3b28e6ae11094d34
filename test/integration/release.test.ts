/**
 * A closed client connection or HTTP/2 stream lets go of its listeners (src/data/release.ts): V8's
 * young-generation collections keep a closed socket or stream alive until a full collection, and
 * with it whatever its listeners reach, so every request's exchange was promoted instead of dying
 * young (docs/performance.md). Driven through the proxy listener's own factory, with a handler that
 * holds the request as an exchange does.
 */

import type { EventEmitter } from 'node:events';
import { request as httpRequest } from 'node:http';
import { connect, type ServerHttp2Stream } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { DataSettings } from '../../src/contract/data-settings.js';
import { Lifecycle } from '../../src/data/lifecycle.js';
import { createProxyServer, type ProxyServerParts } from '../../src/data/listeners.js';
import { createLogger } from '../../src/logger.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { makeCert } from '../helpers/certs.js';

type Mode = 'http' | 'https' | 'h2';

/** What a closed socket or stream still listens to, read once every 'close' listener has run. */
interface Closed {
  laterListenerRan: boolean;
  after: Array<string | symbol>;
}

function watchClose(emitter: EventEmitter, closed: Closed[]): void {
  // Registered after the listener's own: an exchange's listeners come later too.
  const state: Closed = { laterListenerRan: false, after: [] };
  emitter.on('close', () => {
    state.laterListenerRan = true;
    setImmediate(() => {
      state.after = emitter.eventNames();
      closed.push(state);
    });
  });
}

async function listener(mode: Mode) {
  const cert = makeCert();
  const settings = {
    listen: { http2: mode === 'h2', proxyProtocol: false },
    tls: mode === 'http' ? undefined : { cert: cert.cert, key: cert.key },
    server: { maxHeaderSize: 16_384, clientIdleMs: 60_000, clientHeadersMs: 10_000, maxConnections: 0 },
  } as unknown as DataSettings;
  const sockets: Closed[] = [];
  const streams: Closed[] = [];
  let handed = 0;
  const forwarder = {
    handle: (_req: unknown, res: import('node:http').ServerResponse) => {
      res.on('close', () => {});
      res.writeHead(200, { connection: 'close', 'content-length': '2' });
      res.end('ok');
    },
    handleStream: (stream: ServerHttp2Stream, headers: Record<string, string>) => {
      handed++;
      watchClose(stream, streams);
      stream.on('data', () => {});
      if (headers[':path'] !== '/hold') stream.respond({ ':status': 200 }, { endStream: true });
    },
    refuseConnect: () => {},
    handleExpectContinue: () => {},
  };
  const websockets = { handle: () => {}, handleStream: () => {}, serveOtherUpgradesWith: () => {} };
  const server = createProxyServer(settings, {
    forwarder,
    websockets,
    metrics: new Metrics(),
    logger: createLogger('silent'),
    settings: () => settings,
    lifecycle: new Lifecycle(),
  } as unknown as ProxyServerParts);
  server.on(mode === 'http' ? 'connection' : 'secureConnection', (socket: EventEmitter) =>
    watchClose(socket, sockets),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const url = `${mode === 'http' ? 'http' : 'https'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, ca: cert.cert, sockets, streams, handed: () => handed };
}

/** Resolves once `list` holds `n` entries (the closes have been seen). */
function settled(list: Closed[], n: number): Promise<Closed[]> {
  return new Promise((resolve) => {
    const poll = () => (list.length >= n ? resolve(list) : setImmediate(poll));
    poll();
  });
}

function get(url: string, ca: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const send = url.startsWith('https') ? httpsRequest : httpRequest;
    const req = send(`${url}/x`, { ca, agent: false }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', reject);
    req.end();
  });
}

function expectReleased(closed: Closed[]): void {
  for (const c of closed) {
    expect(c.laterListenerRan).toBe(true);
    expect(c.after).toEqual(['error']);
  }
}

describe('release of closed connections and streams', () => {
  it.each(['http', 'https'] as const)(
    'an %s connection keeps no listener but the error sink once closed',
    async (mode) => {
      const { url, ca, sockets } = await listener(mode);
      await Promise.all([get(url, ca), get(url, ca), get(url, ca)]);
      expectReleased(await settled(sockets, 3));
    },
  );

  it.each([
    ['answered', true],
    ['reset by the client before its answer', false],
  ])('an HTTP/2 stream %s keeps no listener but the error sink once closed', async (_, answered) => {
    const { url, ca, streams, handed } = await listener('h2');
    const client = connect(url, { ca });
    onTestFinished(() => {
      client.destroy();
    });
    const requests = [0, 1, 2].map(() =>
      client.request({ ':path': answered ? '/x' : '/hold' }, { endStream: false }),
    );
    if (answered) {
      await Promise.all(
        requests.map((r) => {
          r.resume();
          r.end();
          return new Promise((resolve) => r.once('end', resolve));
        }),
      );
    } else {
      // Reset each stream once the server has handed it over, unanswered.
      await new Promise<void>((resolve) => {
        const poll = () => (handed() === 3 ? resolve() : setImmediate(poll));
        poll();
      });
      for (const r of requests) r.close();
    }
    expectReleased(await settled(streams, 3));
  });
});
