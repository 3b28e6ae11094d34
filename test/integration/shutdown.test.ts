/**
 * Stopping a replica without losing a request (issue 24): every response written after the signal
 * says `Connection: close`, and with `shutdownDelay` the replica keeps accepting and serving,
 * unready, before its port closes; a second signal skips the delay.
 */
import { Agent, get } from 'node:http';
import { type ClientHttp2Session, connect as h2connect } from 'node:http2';
import { connect } from 'node:net';
import { request } from 'undici';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startBalancer } from '../helpers/balancer.js';
import { makeCert } from '../helpers/certs.js';
import { startFakeNode } from '../helpers/fake-node.js';
import { closed, openSocket, roundTrip } from '../helpers/ws.js';

/** A GET on `agent` (keep-alive): status, the Connection header and the JSON body. */
function getOn(
  agent: Agent,
  url: string,
): Promise<{ status: number; connection: string | undefined; node: string }> {
  return new Promise((resolve, reject) => {
    get(url, { agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          connection: res.headers.connection,
          node: (JSON.parse(body) as { node: string }).node,
        }),
      );
    }).on('error', reject);
  });
}

const status = async (url: string) => {
  try {
    const res = await request(url);
    await res.body.dump();
    return res.statusCode;
  } catch {
    return 0;
  }
};

const accepts = (url: string) =>
  new Promise<boolean>((resolve) => {
    const { hostname, port } = new URL(url);
    const socket = connect(Number(port), hostname, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });

describe('stopping a replica', () => {
  it('a request in flight at the signal is answered with Connection: close (regression: keep-alive)', async () => {
    const a = await startFakeNode('a');
    const lb = await startBalancer([a], {}, { persistent: true });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    onTestFinished(() => agent.destroy());
    expect((await getOn(agent, `${lb.url}/`)).connection).toBe('keep-alive');
    const slow = getOn(agent, `${lb.url}/slow?ms=400`);
    await a.serving(1);
    const stopped = lb.close();
    const answer = await slow;
    expect(answer.status).toBe(200);
    expect(answer.connection).toBe('close');
    await stopped;
  });

  it('shutdownDelay: unready at once, still accepting and serving with Connection: close, WebSockets kept; a skip ends it', async () => {
    const a = await startFakeNode('a');
    const lb = await startBalancer([a], { shutdownDelay: '60s' }, { persistent: true });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    onTestFinished(() => agent.destroy());
    expect((await getOn(agent, `${lb.url}/`)).connection).toBe('keep-alive');
    const socket = await openSocket(`${lb.url}/ws`);

    const stopped = lb.close();
    await expect.poll(() => status(`${lb.adminUrl}/readyz`)).toBe(503);
    expect(await status(`${lb.adminUrl}/healthz`)).toBe(200);
    // A keep-alive connection from before the signal: served, told to close.
    expect(await getOn(agent, `${lb.url}/`)).toMatchObject({ status: 200, connection: 'close' });
    // New connections are still accepted and served.
    for (let i = 0; i < 3; i++) {
      expect(await getOn(new Agent(), `${lb.url}/`)).toMatchObject({ status: 200, connection: 'close' });
    }
    expect((await roundTrip(socket.ws, 'during the delay')).data.toString()).toContain('during the delay');

    expect(lb.app.skipDelay()).toBe(true);
    await stopped;
    expect(await closed(socket.ws)).not.toBe(1000);
    expect(await accepts(lb.url)).toBe(false);
    expect(lb.app.skipDelay()).toBe(false);
  });

  it('shutdownDelay over HTTP/2: open sessions get GOAWAY; a session opened during the delay is served, then told to go', async () => {
    const cert = makeCert();
    const a = await startFakeNode('a');
    const lb = await startBalancer(
      [a],
      {
        shutdownDelay: '60s',
        listen: { host: '127.0.0.1', port: 0, tls: { cert: cert.certFile, key: cert.keyFile } },
      },
      { persistent: true },
    );
    const session = (): ClientHttp2Session => {
      const s = h2connect(lb.url, { ca: cert.cert });
      s.on('error', () => {});
      onTestFinished(() => {
        s.destroy();
      });
      return s;
    };
    const get2 = (s: ClientHttp2Session) =>
      new Promise<number>((resolve, reject) => {
        const stream = s.request({ ':path': '/' });
        stream.on('response', (h) => resolve(Number(h[':status'])));
        stream.on('error', reject);
        stream.resume();
      });
    const before = session();
    expect(await get2(before)).toBe(200);
    const beforeGoaway = new Promise<void>((resolve) => before.once('goaway', () => resolve()));

    const stopped = lb.close();
    await beforeGoaway;
    const during = session();
    const duringGoaway = new Promise<void>((resolve) => during.once('goaway', () => resolve()));
    expect(await get2(during)).toBe(200);
    await duringGoaway;

    expect(lb.app.skipDelay()).toBe(true);
    await stopped;
  });
});
