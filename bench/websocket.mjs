// WebSockets: balancer memory per idle socket (stickylb, HAProxy, a bare Node pipe) and echo
// round-trip latency over 100 sockets (direct, HAProxy, the pipe, stickylb). The fd hard limit here is 20,000 per process and a proxy
// holds two descriptors per socket, so the idle count defaults to 9,000.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { start, startHaproxy, startPeer, startStickylb } from './lib/servers.mjs';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const rss = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;

function lines(child) {
  const queue = [];
  const waiters = [];
  let buf = '';
  child.stdout.on('data', (c) => {
    buf += c;
    let i = buf.indexOf('\n');
    while (i !== -1) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const w = waiters.shift();
      if (w) w(line);
      else queue.push(line);
      i = buf.indexOf('\n');
    }
  });
  return () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => waiters.push(r)));
}

const settle = () => new Promise((r) => setTimeout(r, 2000));

/**
 * Opens `n` idle sockets in two halves and reads the balancer's RSS before, between and after, each
 * after 2 s of quiet. `all` is the growth over every socket (it includes the heap's one-off growth
 * from an idle process to a busy one); `marginal` is what the second half cost, socket by socket.
 */
async function idle(url, cookie, n, pid) {
  const r0 = rss(pid);
  const clients = start(process.execPath, [here('peers/ws-clients.mjs')], {
    URL: url,
    N: String(Math.ceil(n / 2)),
    COOKIE: cookie ?? '',
  });
  const next = lines(clients);
  const first = JSON.parse(await next());
  await settle();
  const r1 = rss(pid);
  clients.stdin.write('more\n');
  const second = JSON.parse(await next());
  await settle();
  const r2 = rss(pid);
  const kib = (bytes, count) => Math.round((bytes / Math.max(1, count) / 1024) * 10) / 10;
  clients.stdin.write('close\n');
  return {
    open: second.open,
    failed: first.failed + second.failed,
    all: kib(r2 - r0, second.open),
    marginal: kib(r2 - r1, second.open - first.open),
  };
}

async function echo(url, cookie) {
  const clients = start(process.execPath, [here('peers/ws-clients.mjs')], {
    URL: url,
    N: '100',
    COOKIE: cookie ?? '',
  });
  const next = lines(clients);
  await next();
  clients.stdin.write('echo\n');
  const rtt = JSON.parse(await next());
  clients.stdin.write('close\n');
  return rtt;
}

/**
 * Runs the WebSocket benchmarks. Each balancer starts just before its turn, so that every one is
 * measured from the same state: freshly started and idle for a second.
 */
export async function websocketBench({ sockets }) {
  const backend = await startPeer(here('peers/ws-echo.mjs'), {});
  const node = { name: 'a', url: backend.url };
  const secret = 'bench-secret-0123456789abcdef';
  const { affinityToken } = await import(here('../dist/affinity/token.js'));
  const contenders = [
    { name: 'direct', start: async () => ({ url: backend.url }) },
    {
      name: 'HAProxy 2.6, 1 thread',
      cookie: 'SERVERID=a',
      start: () => startHaproxy([node], 1, ['timeout tunnel 1h']),
    },
    {
      name: 'bare node:net pipe (Node floor)',
      start: () => startPeer(here('peers/tcp-pipe.mjs'), { TARGET_PORT: new URL(backend.url).port }),
    },
    {
      name: 'stickylb',
      cookie: `stickylb=${affinityToken(secret, 'a')}`,
      start: () => startStickylb(here('../dist/cli.js'), [node], secret),
    },
  ];
  const rows = [];
  for (const c of contenders) {
    const server = await c.start();
    await new Promise((r) => setTimeout(r, 1000));
    const wsUrl = `${server.url.replace('http', 'ws')}/ws`;
    const held = server.child ? await idle(wsUrl, c.cookie, sockets, server.child.pid) : undefined;
    await new Promise((r) => setTimeout(r, 1000));
    const rtt = await echo(wsUrl, c.cookie);
    server.child?.kill('SIGKILL');
    const row = {
      contender: c.name,
      idleSockets: held?.open ?? null,
      failed: held?.failed ?? 0,
      kibPerSocket: held?.all ?? null,
      marginalKibPerSocket: held?.marginal ?? null,
      echoP50: Math.round(rtt.p50 * 1000) / 1000,
      echoP99: Math.round(rtt.p99 * 1000) / 1000,
    };
    rows.push(row);
    console.error(`  ws ${c.name}: ${JSON.stringify(row)}`);
  }
  return rows;
}
