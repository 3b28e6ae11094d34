/**
 * Handshakes that never complete normally: clients that leave before the 101 or half-close after it,
 * and nodes that stop answering while a handshake waits (issue 17, items 1 and 2).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { affinityToken } from '../../src/affinity/token.js';
import { startBalancer, waitFor } from '../helpers/balancer.js';
import { startFakeNode } from '../helpers/fake-node.js';
import { twoNodesOneToStop } from '../helpers/stopped-node.js';
import { openSocket } from '../helpers/ws.js';

const SECRET = 'test-secret-0123456789abcdef';
const handshake = (path: string, cookie = '') =>
  `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${cookie ? `Cookie: ${cookie}\r\n` : ''}\r\n`;

/** Opens a TCP connection to `url`, writes `payload`, then does `then` with the socket. */
function send(url: string, payload: string, then: (s: Socket) => void): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const s = connect(Number(port), hostname, () => {
      s.write(payload, () => {
        then(s);
        resolve(s);
      });
    });
    s.on('error', () => {});
    onTestFinished(() => {
      s.destroy();
    });
  });
}

const openFds = () => readdirSync('/proc/self/fd').length;

/** Established TCP connections from this process's host to `port` (/proc/net/tcp, loopback IPv4). */
function connectionsTo(port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length > 3 && f[2]!.endsWith(`:${hex}`) && f[3] === '01').length;
}

describe('WebSocket handshakes that do not complete', () => {
  it('clients that reset or half-close before the 101 leave no socket on the node and no descriptor (regression: 500 leaked tunnels)', async () => {
    const a = await startFakeNode('a');
    const lb = await startBalancer([a]);
    const node = lb.app.pool.get('a')!;
    const before = openFds();
    const sockets: Socket[] = [];
    // /ws-hang stays silent, as Shiny does until the client speaks.
    for (let i = 0; i < 150; i++) sockets.push(await send(lb.url, handshake('/ws-hang'), (s) => s.destroy()));
    for (let i = 0; i < 150; i++) sockets.push(await send(lb.url, handshake('/ws-hang'), (s) => s.end()));
    await waitFor(() => node.inFlight === 0, 3000, 'pending handshakes torn down');
    await expect.poll(async () => (await a.state()).upgrades, { timeout: 3000 }).toBe(0);
    // Half-closed clients are closed by the balancer, not left half-open.
    await waitFor(() => sockets.every((s) => s.destroyed || s.closed), 3000, 'client sockets closed');
    for (const s of sockets) s.destroy();
    await waitFor(() => openFds() <= before + 5, 3000, 'descriptors released');
    expect(node.websockets).toBe(0);
  });

  it('handshakes abandoned while the node has them leave no connection to the node behind (undici reconnects for an aborted request: nodejs/undici#5845)', async () => {
    const a = await startFakeNode('a');
    const lb = await startBalancer([a]);
    const sockets: Socket[] = [];
    for (let i = 0; i < 50; i++) sockets.push(await send(lb.url, handshake('/ws-hang'), () => {}));
    // Every handshake reached the node, which stays silent (as Shiny does until the client speaks).
    await expect.poll(async () => (await a.state()).upgrades, { timeout: 3000 }).toBe(50);
    for (const s of sockets) s.resetAndDestroy();
    await expect.poll(async () => (await a.state()).upgrades, { timeout: 3000 }).toBe(0);
    // Nothing left open towards the node but the health checker's keep-alive connection: no idle
    // connection made for a request already given up.
    await expect.poll(() => connectionsTo(a.port), { timeout: 3000 }).toBeLessThanOrEqual(1);
  });

  it('a client that half-closes after the 101 does not keep a tunnel open on a node that ignores the FIN', async () => {
    const a = await startFakeNode('a');
    const lb = await startBalancer([a]);
    const node = lb.app.pool.get('a')!;
    const before = openFds();
    let got = '';
    const s = await send(lb.url, handshake('/ws-ignore-fin'), (sock) => {
      sock.on('data', (d: Buffer) => {
        got += d.toString('latin1');
        if (got.includes('hi')) sock.end();
      });
    });
    await waitFor(() => got.includes('hi'), 3000, 'greeting');
    expect(got).toMatch(/^HTTP\/1.1 101/);
    await waitFor(() => s.closed && node.websockets === 0, 5000, 'tunnel closed after the half-close');
    // The node never closes its half-open end, so the balancer's own descriptors tell: both released.
    await waitFor(() => openFds() <= before, 3000, 'descriptors released');
  });

  it('a handshake waiting on a node that stops is redispatched when the node is marked down, and re-pins (regression: split session after SIGSTOP)', async () => {
    // The handshake timeout is longer than the test: only the redispatch can answer this handshake.
    const { lb, nodeA, stopA } = await twoNodesOneToStop({ websocketHandshake: '60s' });
    stopA();
    const pending = openSocket(`${lb.url}/ws`, `stickylb=${affinityToken(SECRET, 'a')}`);
    await waitFor(() => nodeA.inFlight === 1, 3000, 'handshake waiting on a');
    await lb.app.checker.checkOnce();
    expect(nodeA.health).toBe('down');
    const sock = await pending;
    expect(sock.hello.hello).toBe('b');
    expect(sock.setCookie[0]).toContain(`stickylb=${affinityToken(SECRET, 'b')}`);
    expect(nodeA.inFlight).toBe(0);
  });
});
