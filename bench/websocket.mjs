// WebSockets: balancer memory per idle socket (stickylb vs HAProxy) and echo round-trip latency over
// 100 sockets (direct, HAProxy, stickylb). The fd hard limit here is 20,000 per process and a proxy
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

async function run(url, cookie, n, pid) {
  const before = pid ? rss(pid) : 0;
  const clients = start(process.execPath, [here('peers/ws-clients.mjs')], {
    URL: url,
    N: String(n),
    COOKIE: cookie ?? '',
  });
  const next = lines(clients);
  const opened = JSON.parse(await next());
  await new Promise((r) => setTimeout(r, 2000));
  const after = pid ? rss(pid) : 0;
  return { opened, perSocket: pid ? (after - before) / Math.max(1, opened.open) : undefined, clients, next };
}

/** Runs the WebSocket benchmarks. */
export async function websocketBench({ sockets }) {
  const backend = await startPeer(here('peers/ws-echo.mjs'), {});
  const node = { name: 'a', url: backend.url };
  const secret = 'bench-secret-0123456789abcdef';
  const { affinityToken } = await import(here('../dist/affinity/token.js'));
  const haproxy = await startHaproxy([node], 1, ['timeout tunnel 1h']);
  const pipe = await startPeer(here('peers/tcp-pipe.mjs'), { TARGET_PORT: new URL(backend.url).port });
  const lb = await startStickylb(here('../dist/cli.js'), [node], secret);
  const contenders = [
    { name: 'direct', url: backend.url, cookie: undefined, pid: undefined },
    { name: 'HAProxy 2.6, 1 thread', url: haproxy.url, cookie: 'SERVERID=a', pid: haproxy.child.pid },
    { name: 'bare node:net pipe (Node floor)', url: pipe.url, cookie: undefined, pid: pipe.child.pid },
    { name: 'stickylb', url: lb.url, cookie: `stickylb=${affinityToken(secret, 'a')}`, pid: lb.child.pid },
  ];
  const rows = [];
  for (const c of contenders) {
    const wsUrl = `${c.url.replace('http', 'ws')}/ws`;
    const idle = await run(wsUrl, c.cookie, sockets, c.pid);
    idle.clients.stdin.write('close\n');
    await new Promise((r) => setTimeout(r, 1000));
    const echo = await run(wsUrl, c.cookie, 100, undefined);
    echo.clients.stdin.write('echo\n');
    const rtt = JSON.parse(await echo.next());
    echo.clients.stdin.write('close\n');
    const row = {
      contender: c.name,
      idleSockets: idle.opened.open,
      failed: idle.opened.failed,
      kibPerSocket: idle.perSocket === undefined ? null : Math.round((idle.perSocket / 1024) * 10) / 10,
      echoP50: Math.round(rtt.p50 * 1000) / 1000,
      echoP99: Math.round(rtt.p99 * 1000) / 1000,
    };
    rows.push(row);
    console.error(`  ws ${c.name}: ${JSON.stringify(row)}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  return rows;
}
