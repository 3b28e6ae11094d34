/**
 * Reading Connect's API with `connect.apiKey` (issue 32.3, 32.4, 32.8): answers are read only up to
 * their bound (the bytes beyond are never pulled), the content list is read as a stream so a real
 * server's list of thousands of contents is kept whole, a failed read is logged and on the status
 * page, and an https node with its own CA has its processes read like its probes are.
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { readProcs, readVanity } from '../../src/control/health/connect-procs.js';
import { NodeAgents } from '../../src/control/health/node-agents.js';
import { UpstreamNode } from '../../src/pool/upstream-node.js';
import { startBalancer } from '../helpers/balancer.js';
import { makeCert } from '../helpers/certs.js';
import { type FakeNode, startFakeNode } from '../helpers/fake-node.js';
import { spec } from '../helpers/node-spec.js';

const KEY = 'test-connect-key-0123456789';

/** A real server on loopback answering with `handler`; its URL. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createHttpServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  onTestFinished(() => {
    server.closeAllConnections();
    server.close();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function agents(): NodeAgents {
  const a = new NodeAgents(2000);
  onTestFinished(() => a.close());
  return a;
}

describe("Connect's API, read within bounds", () => {
  it('a node answering 256 MiB of processes is read no further than the 4 MiB bound (issue 32.3)', async () => {
    let written = 0;
    let closed!: () => void;
    const gone = new Promise<void>((r) => {
      closed = r;
    });
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      res.write('[');
      const pump = () => {
        while (written < 256 * 1024 * 1024) {
          written += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end(']');
      };
      res.on('close', closed);
      pump();
    });
    const node = new UpstreamNode(spec('big', { url }));
    expect(await readProcs(agents(), node, KEY, 10_000)).toBeUndefined();
    await gone;
    // What the server got written before the balancer let go: the bound and the socket buffers.
    expect(written).toBeLessThan(32 * 1024 * 1024);
  });

  it('a content list of 4,000 contents of 1.2 KB each (4.7 MiB) is kept whole (issue 32.4)', async () => {
    const items = Array.from({ length: 4000 }, (_, i) => ({
      guid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      name: `app-${i}`,
      description: 'd'.repeat(1100),
      owner: { guid: 'o', username: 'someone' },
      content_url: `https://connect.example/apps/app-${i}/`,
    }));
    const body = JSON.stringify(items);
    expect(body.length).toBeGreaterThan(4.5 * 1024 * 1024);
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    });
    const read = await readVanity(agents(), new UpstreamNode(spec('c', { url })), KEY, 10_000);
    expect(read).toMatchObject({ contents: 4000, cut: undefined });
    expect('vanity' in read && read.vanity.size).toBe(4000);
    expect('vanity' in read && read.vanity.get('/apps/app-3999/')).toBe(items[3999]!.guid);
  });

  it('a content list that cannot be read is logged and on the status page, once (issue 32.4)', async () => {
    const node = await startFakeNode('a');
    // A key the node refuses: both reads fail.
    const lb = await startBalancer([node] as FakeNode[], {
      connect: { apiKey: 'a-wrong-key-0123456789', procsInterval: '100ms' },
    });
    await expect
      .poll(async () => {
        const history = (await (await fetch(`${lb.adminUrl}/api/history`)).json()) as {
          events: Array<{ text: string; node?: string }>;
        };
        return history.events.filter((e) => e.text.startsWith('content list not read'));
      })
      .toEqual([
        {
          t: expect.any(Number),
          node: 'a',
          text: 'content list not read (answered 401): vanity paths as last read',
        },
      ]);
    expect(lb.logs.filter((l) => l.error === 'answered 401')).toHaveLength(1);
  });

  it('an https node with its own CA has its processes read (issue 32.8)', async () => {
    const cert = makeCert();
    const server = createHttpsServer({ cert: cert.cert, key: cert.key }, (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        req.url === '/__api__/metrics/procs' ? JSON.stringify([{ appGuid: 'x', type: 'render' }]) : '{}',
      );
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    onTestFinished(() => {
      server.closeAllConnections();
      server.close();
    });
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const lb = await startBalancer([], {
      upstreams: [{ name: 'secure', url, tls: { ca: cert.certFile } }],
      healthCheck: { path: '/health', interval: '200ms', timeout: '150ms' },
      connect: { apiKey: KEY, procsInterval: '100ms' },
    });
    expect(lb.app.pool.get('secure')!.health).toBe('up');
    await expect.poll(() => lb.app.pool.get('secure')!.connectProcs?.jobs).toBe(1);
  });
});
