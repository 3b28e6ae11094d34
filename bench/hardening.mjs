// Hostile clients and broken nodes, measured on a stickylb process (issue 17):
// - descriptors and tunnels left after 2,000 WebSocket handshakes whose clients reset before the 101,
//   and how long until none is left;
// - RSS while 500 clients each hold a request body stalled after 3 bytes, and after timeouts.clientBody;
// - CPU of health checking per 100 nodes (idle balancer, 1 s interval), and /metrics size, for 100
//   and 1,000 nodes.
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { cpuMs } from './lib/cpu.mjs';
import { startStickylb } from './lib/servers.mjs';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const fds = (pid) => readdirSync(`/proc/${pid}/fd`).length;
const rssMiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

/** A node on every 127.x address of one port: 200 to probes, silence to WebSocket handshakes. */
async function quietNode() {
  const server = createServer((req, res) => {
    if (req.url === '/__ping__') return res.end('ok');
    // A body upload: read it all, then answer.
    req.resume();
    req.on('end', () => res.end('done'));
  });
  server.on('upgrade', () => {}); // silent, as Shiny is until the client speaks
  await new Promise((r) => server.listen(0, '0.0.0.0', r));
  return { server, port: server.address().port };
}

async function nodes(api) {
  const res = await fetch(`${api}/api/nodes`);
  return res.json();
}

async function abortedHandshakes(node) {
  const lb = await startStickylb(
    CLI,
    [{ name: 'a', url: `http://127.0.0.1:${node.port}` }],
    'bench-secret-0123456789',
  );
  const pid = lb.child.pid;
  const { port } = new URL(lb.url);
  const before = fds(pid);
  const handshake =
    'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';
  const count = 2000;
  for (let i = 0; i < count; i += 100) {
    await Promise.all(
      Array.from(
        { length: 100 },
        () =>
          new Promise((resolve) => {
            const s = connect(Number(port), '127.0.0.1', () =>
              s.write(handshake, () => setTimeout(() => s.resetAndDestroy(), 5)),
            );
            s.on('close', resolve);
            s.on('error', () => {});
          }),
      ),
    );
  }
  const closedAt = Date.now();
  let left;
  let ms = 0;
  for (;;) {
    const [n] = await nodes(lb.adminUrl);
    left = { fds: fds(pid) - before, inFlight: n.inFlight, websockets: n.websockets };
    ms = Date.now() - closedAt;
    if ((left.fds <= 0 && left.inFlight === 0 && left.websockets === 0) || ms > 10_000) break;
    await sleep(20);
  }
  lb.child.kill('SIGKILL');
  return { handshakes: count, msUntilNoneLeft: ms, left };
}

async function stalledBodies(node) {
  const lb = await startStickylb(
    CLI,
    [{ name: 'a', url: `http://127.0.0.1:${node.port}` }],
    'bench-secret-0123456789',
    {
      timeouts: { clientBody: '5s' },
    },
  );
  const pid = lb.child.pid;
  const { port } = new URL(lb.url);
  const idle = rssMiB(pid);
  const clients = 500;
  const sockets = [];
  for (let i = 0; i < clients; i++) {
    const s = connect(Number(port), '127.0.0.1');
    s.on('error', () => {});
    s.write('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nabc');
    sockets.push(s);
  }
  await sleep(2000);
  const [held] = await nodes(lb.adminUrl);
  const during = rssMiB(pid);
  await sleep(5000);
  const [after] = await nodes(lb.adminUrl);
  const metrics = await (await fetch(`${lb.adminUrl}/metrics`)).text();
  const timedOut = Number(
    /stickylb_client_body_timeouts_total\{upstream="a"\} (\d+)/.exec(metrics)?.[1] ?? 0,
  );
  for (const s of sockets) s.destroy();
  lb.child.kill('SIGKILL');
  return {
    clients,
    rssIdleMiB: Math.round(idle),
    rssStalledMiB: Math.round(during),
    inFlightStalled: held.inFlight,
    inFlightAfterTimeout: after.inFlight,
    timedOut,
  };
}

async function probing(node, count) {
  const list = Array.from({ length: count }, (_, i) => ({
    name: `n${i}`,
    url: `http://127.0.${Math.floor(i / 250)}.${(i % 250) + 1}:${node.port}`,
  }));
  const lb = await startStickylb(CLI, list, 'bench-secret-0123456789', {
    healthCheck: { interval: '1s', timeout: '500ms' },
  });
  const pid = lb.child.pid;
  await sleep(3000);
  const t0 = cpuMs(pid);
  const seconds = 10;
  await sleep(seconds * 1000);
  const cpu = (cpuMs(pid) - t0) / seconds / 10; // % of a core
  const metrics = await (await fetch(`${lb.adminUrl}/metrics`)).text();
  lb.child.kill('SIGKILL');
  return {
    nodes: count,
    cpuPercentOfACore: Math.round(cpu * 10) / 10,
    cpuPercentPer100Nodes: Math.round((cpu / count) * 100 * 10) / 10,
    metricsKiB: Math.round(Buffer.byteLength(metrics) / 1024),
  };
}

/** Runs every hardening measurement. */
export async function hardeningBench() {
  const node = await quietNode();
  try {
    return {
      abortedHandshakes: await abortedHandshakes(node),
      stalledBodies: await stalledBodies(node),
      probing: [await probing(node, 100), await probing(node, 1000)],
    };
  } finally {
    node.server.close();
    node.server.closeAllConnections();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(JSON.stringify(await hardeningBench(), null, 2));
  process.exit(0);
}
