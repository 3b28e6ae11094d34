import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import WebSocket from 'ws';
import { startBalancer, waitFor } from '../helpers/balancer.js';
import { startFakeNode } from '../helpers/fake-node.js';
import { Client } from '../helpers/http.js';
import { rawExchange } from '../helpers/raw.js';
import { closed, openSocket, roundTrip } from '../helpers/ws.js';

describe('WebSockets on the pinned node', () => {
  it('HTTP then WebSocket land on the same node; the affinity cookie is not forwarded', async () => {
    const nodes = await Promise.all([startFakeNode('a'), startFakeNode('b'), startFakeNode('c')]);
    const lb = await startBalancer(nodes);
    for (let i = 0; i < 3; i++) {
      const client = new Client(lb.url);
      const page = await client.get('/app/');
      const sock = await openSocket(`${lb.url}/app/websocket/`, `${client.cookie}; other=1`);
      expect(sock.hello.hello).toBe(page.json.node);
      expect(sock.setCookie).toEqual([]);
      expect(sock.hello.cookie).toBe('other=1');
    }
  });

  it('WebSocket first: the 101 carries the Set-Cookie and HTTP follows it', async () => {
    const nodes = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
    const lb = await startBalancer(nodes);
    for (let i = 0; i < 4; i++) {
      const sock = await openSocket(`${lb.url}/ws`);
      expect(sock.setCookie).toHaveLength(1);
      const client = new Client(lb.url);
      client.cookie = sock.setCookie[0]!.split(';')[0];
      expect((await client.get('/')).json.node).toBe(sock.hello.hello);
    }
  });

  it("the 101 drops what its node's Connection header names, as HTTP answers do (regression: relayed)", async () => {
    const a = await startFakeNode('a');
    const lb = await startBalancer([a]);
    const sock = await openSocket(`${lb.url}/ws-named`);
    expect(sock.head['x-kept']).toBe('yes');
    expect(sock.head['x-hop']).toBeUndefined();
    expect(sock.head.upgrade).toBe('websocket');
  });

  it('passes text, binary, a 10 MB message, subprotocols and permessage-deflate through', async () => {
    const node = await startFakeNode('a');
    const lb = await startBalancer([node]);
    const sock = await openSocket(`${lb.url}/ws`, undefined, ['shiny-v2', 'other']);
    expect(sock.hello.protocol).toBe('shiny-v2');
    expect(sock.ws.protocol).toBe('shiny-v2');
    expect(sock.hello.extensions).toContain('permessage-deflate');
    expect(sock.ws.extensions).toContain('permessage-deflate');
    const text = await roundTrip(sock.ws, 'hello shiny');
    expect(text.binary).toBe(false);
    expect(text.data.toString()).toBe('hello shiny');
    const bin = randomBytes(1000);
    expect(Buffer.compare((await roundTrip(sock.ws, bin)).data, bin)).toBe(0);
    const big = randomBytes(10 * 1024 * 1024);
    const echoed = await roundTrip(sock.ws, big);
    expect(echoed.data.length).toBe(big.length);
    expect(Buffer.compare(echoed.data, big)).toBe(0);
  });

  it('killing the pinned node closes the client socket within 1 s without a clean close; a reconnect re-pins', async () => {
    const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
    const lb = await startBalancer([a, b], { healthCheck: { interval: '10s', timeout: '1s' } });
    const client = new Client(lb.url);
    const first = await client.get('/');
    const pinned = first.json.node === 'a' ? a : b;
    const sock = await openSocket(`${lb.url}/ws`, client.cookie);
    const node = lb.app.pool.get(pinned.name)!;
    expect(node.websockets).toBe(1);
    const code = closed(sock.ws);
    await pinned.kill();
    expect(await code).toBe(1006);
    await waitFor(() => node.websockets === 0, 1000, 'socket count back to 0');
    const again = await openSocket(`${lb.url}/ws`, client.cookie);
    expect(again.hello.hello).not.toBe(pinned.name);
    expect(again.setCookie).toHaveLength(1);
  });

  it('a node marked down (or put in maintenance) has its sockets dropped without a clean close', async () => {
    const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
    const lb = await startBalancer([a, b], {}, { manualHealth: true });
    const sockets = [];
    for (let i = 0; i < 4; i++) sockets.push(await openSocket(`${lb.url}/ws`));
    const onA = sockets.filter((s) => s.hello.hello === 'a');
    expect(onA).toHaveLength(2);
    const codes = onA.map((s) => closed(s.ws));
    lb.app.pool.setState(lb.app.pool.get('a')!, 'maintenance', 'test');
    expect(await Promise.all(codes)).toEqual([1006, 1006]);
    for (const s of sockets.filter((s) => s.hello.hello === 'b'))
      expect(s.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('draining keeps open sockets', async () => {
    const a = await startFakeNode('a');
    const lb = await startBalancer([a], {}, { manualHealth: true });
    const sock = await openSocket(`${lb.url}/ws`);
    lb.app.pool.setState(lb.app.pool.get('a')!, 'draining', 'test');
    expect((await roundTrip(sock.ws, 'still here')).data.toString()).toBe('still here');
  });

  it('a refused upgrade is redispatched and the 101 re-pins the client', async () => {
    const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
    const lb = await startBalancer([a, b], { healthCheck: { interval: '10s', timeout: '1s' } });
    const client = new Client(lb.url);
    const pinned = (await client.get('/')).json.node === 'a' ? a : b;
    await pinned.kill();
    const sock = await openSocket(`${lb.url}/ws`, client.cookie);
    expect(sock.hello.hello).not.toBe(pinned.name);
    expect(sock.setCookie).toHaveLength(1);
  });

  it('relays a non-101 answer to the handshake; no node at all answers 503 on the socket', async () => {
    const a = await startFakeNode('a');
    const lb = await startBalancer([a], { healthCheck: { interval: '100ms', timeout: '80ms' } });
    const handshake = (path: string) =>
      `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;
    const rejected = await rawExchange(lb.url, handshake('/ws-reject'));
    expect(rejected).toMatch(/^HTTP\/1.1 401/);
    expect(rejected).toContain('no way');
    expect(rejected).toMatch(/Set-Cookie: stickylb=/i);
    await a.kill();
    await waitFor(() => lb.app.pool.get('a')!.health === 'down', 3000);
    const none = await rawExchange(lb.url, handshake('/ws'));
    expect(none).toMatch(/^HTTP\/1.1 503/);
    expect(none).toMatch(/Retry-After: 5/);
  });

  it('frames a client sends before the 101 reach the node after it, in order', async () => {
    const a = await startFakeNode('a');
    const lb = await startBalancer([a]);
    const { port } = new URL(lb.url);
    const payload = Buffer.from('early-bird');
    const mask = randomBytes(4);
    const frame = Buffer.concat([
      Buffer.from([0x81, 0x80 | payload.length]),
      mask,
      Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!)),
    ]);
    const handshake =
      'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
      'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';
    // The handshake and a text frame in one write: the frame waits at the balancer for the 101.
    const s = connect(Number(port), '127.0.0.1');
    onTestFinished(() => {
      s.destroy();
    });
    let got = '';
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
    });
    s.write(Buffer.concat([Buffer.from(handshake), frame]));
    // The node echoes it (unmasked): it arrived after the 101, as the first frame from the client.
    await waitFor(() => got.includes('early-bird'), 3000, 'the early frame echoed');
    expect(got.startsWith('HTTP/1.1 101 ')).toBe(true);
    expect(got.indexOf('early-bird')).toBeGreaterThan(got.indexOf('\r\n\r\n'));
  });

  it('a handshake the node never answers gets 504 after timeouts.websocketHandshake', async () => {
    const a = await startFakeNode('a');
    const lb = await startBalancer([a], { timeouts: { websocketHandshake: '300ms' } });
    const res = await rawExchange(
      lb.url,
      'GET /ws-hang HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    expect(res).toMatch(/^HTTP\/1.1 504/);
  });

  it('garbage after the handshake and half-closed clients neither crash nor leak', async () => {
    const a = await startFakeNode('a');
    const lb = await startBalancer([a]);
    await rawExchange(
      lb.url,
      'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n\x00\xff\xfe garbage frames',
      300,
    );
    await waitFor(() => lb.app.pool.get('a')!.websockets === 0, 2000, 'tunnel closed');
    expect((await new Client(lb.url).get('/')).status).toBe(200);
  });

  it('1,000 sockets opened and closed leave no sockets or listeners behind', async () => {
    const a = await startFakeNode('a');
    const lb = await startBalancer([a]);
    const node = lb.app.pool.get('a')!;
    // Open TCP sockets of this process, by Node's public resource list.
    const activeHandles = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
    await openSocket(`${lb.url}/ws`).then((s) => s.ws.terminate());
    await waitFor(() => node.websockets === 0, 3000, 'warm-up socket released');
    const before = activeHandles();
    const batch = 100;
    for (let round = 0; round < 10; round++) {
      const socks = await Promise.all(Array.from({ length: batch }, () => openSocket(`${lb.url}/ws`)));
      expect(node.websockets).toBe(batch);
      await Promise.all(
        socks.map((s, i) => {
          const done = closed(s.ws);
          if (i % 2 === 0) s.ws.close(1000);
          else s.ws.terminate();
          return done;
        }),
      );
      await waitFor(() => node.websockets === 0, 3000, 'sockets released');
    }
    // Client and balancer live in this process: every leaked socket on either side would show here.
    await waitFor(() => activeHandles() <= before + 2, 3000, `handles back to ${before}`);
  }, 60_000);
});
