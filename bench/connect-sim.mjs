// The Connect simulation (issue 23): the same seeded workload of app sessions (Poisson arrivals,
// Zipf-popular apps, log-normal session lengths; returning users carrying the pin of an earlier
// dashboard visit) against three simulated Connect nodes (bench/lib/sim-node.mjs: processes of 20
// sessions, cold starts, idle reaping), through stickylb `content`, stickylb `leastLoad`, HAProxy's
// bounded-load URI hashing with cookie insert (the nearest peer), and two stickylb replicas with and
// without sharing loads through PostgreSQL (each session's page through one, its WebSocket through
// the other). Reports cold starts per 1,000 sessions, peak processes, the p95 over time of busiest
// node sessions / mean, and sessions split across nodes or failed.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import WebSocket from 'ws';
import { startPostgres } from './lib/postgres.mjs';
import { freePort, start, startHaproxy, startStickylb, waitHttp } from './lib/servers.mjs';
import { arrivalGap, logNormal, seeded, zipfPicker } from './lib/workload.mjs';

// BENCH_SIM_CLI: another build's cli.js (an older checkout, for a before/after of the same workload).
const CLI = process.env.BENCH_SIM_CLI ?? fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const SIM_NODE = fileURLToPath(new URL('./lib/sim-node.mjs', import.meta.url));
const SECRET = 'bench-sim-secret-0123456789';
const NODES = ['a', 'b', 'c'];

/**
 * The workload: `count` sessions over `seconds`, each { at (ms), user, app (index), ms (length) }.
 * Apps are Zipf(1) over `apps`; lengths log-normal (median `medianMs`, sigma 0.6).
 */
function workload({ count, seconds, apps, users, medianMs, seed }) {
  const random = seeded(seed);
  const pickApp = zipfPicker(random, apps, 1);
  const sessions = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    at += arrivalGap(random, (seconds * 1000) / count);
    sessions.push({
      at,
      user: Math.floor(random() * users),
      app: pickApp(),
      ms: logNormal(random, medianMs, 0.6),
    });
  }
  return sessions;
}

/**
 * App GUIDs such that the two most popular apps prefer the same node under stickylb's placement (so
 * the bound has to act), the rest whatever their hash gives.
 */
async function appGuids(apps) {
  const { contentKey } = await import('../dist/affinity/placement.js');
  const { rendezvousScore, rendezvousSeed } = await import('../dist/affinity/rendezvous.js');
  const preferred = (guid) => {
    const key = contentKey(guid);
    return [...NODES].sort(
      (x, y) =>
        rendezvousScore(key, rendezvousSeed(SECRET, y), 1) -
        rendezvousScore(key, rendezvousSeed(SECRET, x), 1),
    )[0];
  };
  const guid = (i) => `5e7a1c2d-3b4f-4a6e-8d9c-${String(i).padStart(12, '0')}`;
  const list = [guid(0)];
  for (let i = 1; list.length < 2; i++) if (preferred(guid(i)) === preferred(list[0])) list.push(guid(i));
  for (let i = 1000; list.length < apps; i++) list.push(guid(i));
  return { list, preferredFirst: preferred(list[0]) };
}

/** A browser's cookie jar: cookies with their Path, sent longest path first (RFC 6265). */
class Jar {
  cookies = new Map();
  header(path) {
    const list = [...this.cookies.values()]
      .filter(
        (c) =>
          c.path === '/' || path === c.path || path.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`),
      )
      .sort((x, y) => y.path.length - x.path.length);
    return list.length === 0 ? undefined : list.map((c) => `${c.name}=${c.value}`).join('; ');
  }
  store(raw) {
    const lines = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
    for (const line of lines) {
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const path = attrs.find((a) => a.toLowerCase().startsWith('path='))?.slice(5) ?? '/';
      this.cookies.set(`${pair.slice(0, eq)} ${path}`, {
        name: pair.slice(0, eq),
        value: pair.slice(eq + 1),
        path,
      });
    }
  }
}

const NAVIGATE = { 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document', accept: 'text/html' };

/** Three fresh simulated nodes; `broken`: { node, app } where that app cannot start. */
async function startSimNodes(broken) {
  const nodes = [];
  for (const name of NODES) {
    const port = await freePort();
    const brokenHere = broken?.node === name ? [broken.app] : [];
    start(process.execPath, [SIM_NODE, name, String(port), '20', '30', '1500', ...brokenHere]);
    await waitHttp(`http://127.0.0.1:${port}/__ping__`);
    nodes.push({ name, url: `http://127.0.0.1:${port}` });
  }
  return nodes;
}

async function stats(nodes) {
  return Promise.all(nodes.map(async (n) => (await fetch(`${n.url}/__sim__/stats`)).json()));
}

/** HAProxy: URI hashing (the app's path) with bounded loads, then a cookie per client. */
async function startHaproxyUri(nodes) {
  const h = await startHaproxy(nodes, 1, ['timeout tunnel 300s'], undefined, [
    'balance uri depth 2',
    'hash-type consistent',
    'hash-balance-factor 125',
  ]);
  return { pages: [h.url], sockets: [h.url], child: h.child };
}

/** Runs `sessions` through a contender; resolves with its measurements. */
async function drive(contender, nodes, sessions, apps) {
  const agent = new Agent({ connections: 64 });
  const jars = new Map();
  const jarOf = (user) => {
    let jar = jars.get(user);
    if (jar === undefined) {
      jar = { jar: new Jar(), visited: false };
      jars.set(user, jar);
    }
    return jar;
  };
  await Promise.all(nodes.map((n) => fetch(`${n.url}/__sim__/reset`).then((r) => r.arrayBuffer())));
  let split = 0;
  let failed = 0;
  /** Sessions per app index that did not get the app (page not 200, or no WebSocket). */
  const failedByApp = new Map();
  let open = 0;
  let peakProcesses = 0;
  const ratios = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const s = await stats(nodes);
      peakProcesses = Math.max(
        peakProcesses,
        s.reduce((sum, n) => sum + n.processes, 0),
      );
      const total = s.reduce((sum, n) => sum + n.sessions, 0);
      // Balance is read at load: with a handful of sessions any split is far from the mean.
      if (total >= nodes.length * 10)
        ratios.push(Math.max(...s.map((n) => n.sessions)) / (total / nodes.length));
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  const t0 = performance.now();
  const one = async (session, i) => {
    const wait = session.at - (performance.now() - t0);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const user = jarOf(session.user);
    const guid = apps[session.app];
    const page = contender.pages[i % contender.pages.length];
    const socketBase =
      contender.sockets[(i + (contender.sockets.length > 1 ? 1 : 0)) % contender.sockets.length];
    try {
      if (!user.visited) {
        // The dashboard first: the user's global pin, from wherever it lands.
        const res = await request(`${page}/connect/`, {
          headers: { ...NAVIGATE, ...cookie(user.jar, '/connect/') },
          dispatcher: agent,
        });
        user.jar.store(res.headers['set-cookie']);
        await res.body.dump();
        user.visited = true;
      }
      const path = `/content/${guid}/`;
      const res = await request(`${page}${path}`, {
        headers: { ...NAVIGATE, ...cookie(user.jar, path) },
        dispatcher: agent,
      });
      user.jar.store(res.headers['set-cookie']);
      const body = await res.body.json();
      if (res.statusCode !== 200) throw new Error(`page ${res.statusCode}`);
      const pageNode = body.node;
      const wsPath = `/content/${guid}/websocket/`;
      const hello = await new Promise((resolve, reject) => {
        const ws = new WebSocket(`${socketBase.replace(/^http/, 'ws')}${wsPath}`, {
          headers: cookie(user.jar, wsPath),
        });
        ws.once('upgrade', (r) => user.jar.store(r.headers['set-cookie']));
        ws.once('message', (m) => {
          open++;
          setTimeout(() => {
            ws.close();
            open--;
          }, session.ms);
          resolve(JSON.parse(String(m)));
        });
        ws.once('error', reject);
      });
      if (hello.node !== pageNode) split++;
    } catch {
      failed++;
      failedByApp.set(session.app, (failedByApp.get(session.app) ?? 0) + 1);
    }
  };
  await Promise.all(sessions.map((s, i) => one(s, i)));
  while (open > 0) await new Promise((r) => setTimeout(r, 100));
  sampling = false;
  await sampler;
  const s = await stats(nodes);
  await agent.close();
  ratios.sort((x, y) => x - y);
  const coldStarts = s.reduce((sum, n) => sum + n.coldStarts, 0);
  // Rule 13's rows break the most popular app (index 0); the other apps' cold starts are compared
  // with the same apps' in a run where nothing is broken.
  const brokenApp = contender.brokenApp;
  const brokenSessions = brokenApp === undefined ? 0 : sessions.filter((x) => x.app === brokenApp).length;
  const others = sessions.filter((x) => x.app !== 0).length;
  const otherCold = s.reduce(
    (sum, n) =>
      sum +
      Object.entries(n.coldByContent)
        .filter(([guid]) => guid !== apps[0])
        .reduce((x, [, c]) => x + c, 0),
    0,
  );
  return {
    brokenSessions,
    brokenFailed: brokenApp === undefined ? 0 : (failedByApp.get(brokenApp) ?? 0),
    otherColdStartsPer1000: Math.round((otherCold / others) * 1000),
    contender: contender.name,
    sessions: sessions.length,
    coldStartsPer1000: Math.round((coldStarts / sessions.length) * 1000),
    peakProcesses,
    p95Balance: Math.round((ratios[Math.floor(ratios.length * 0.95)] ?? 1) * 100) / 100,
    split,
    failed,
  };
}

function cookie(jar, path) {
  const h = jar.header(path);
  return h === undefined ? {} : { cookie: h };
}

/** Runs the simulation for every contender; returns one row each. */
export async function connectSimBench({ seconds = 60, count = 1200, medianMs = 6000 } = {}) {
  const { list: apps, preferredFirst } = await appGuids(24);
  const sessions = workload({ count, seconds, apps: apps.length, users: 300, medianMs, seed: 7 });
  const rows = [];
  // BENCH_SIM_ONLY: run only the contenders named `stickylb <word>` or ending in a listed word (e.g.
  // "content,sharedState": one replica and two sharing, the two-replica goal alone).
  const wanted = process.env.BENCH_SIM_ONLY?.split(',');
  const run = async (name, makeContender, broken) => {
    if (wanted !== undefined && !wanted.some((w) => name.endsWith(w) || name === `stickylb ${w}`)) return;
    const nodes = await startSimNodes(broken && { node: broken.node, app: apps[broken.app] });
    const contender = await makeContender(nodes);
    rows.push(await drive({ name, ...contender, brokenApp: broken?.app }, nodes, sessions, apps));
    for (const c of contender.children ?? []) c.kill('SIGKILL');
    for (const n of nodes) await fetch(`${n.url}/__ping__`).catch(() => {});
    console.error(`connect simulation: ${name} done`);
  };
  // BENCH_SIM_BALANCE: placement.balanceFactor of every stickylb (default 1.25): how much room the
  // load bound leaves, for what rule 13's displaced sessions cost other apps at each.
  const balance = process.env.BENCH_SIM_BALANCE;
  const placed = (extra) =>
    balance === undefined
      ? extra
      : { ...extra, placement: { ...extra.placement, balanceFactor: Number(balance) } };
  const one = (extra) => async (nodes) => {
    const lb = await startStickylb(CLI, nodes, SECRET, placed(extra));
    return { pages: [lb.url], sockets: [lb.url], children: [lb.child] };
  };
  const two = (extra) => async (nodes) => {
    const [x, y] = [
      await startStickylb(CLI, nodes, SECRET, placed(extra)),
      await startStickylb(CLI, nodes, SECRET, placed(extra)),
    ];
    return { pages: [x.url, y.url], sockets: [x.url, y.url], children: [x.child, y.child] };
  };
  await run('stickylb content', one({}));
  // Rule 13: the most popular app cannot start on its preferred node, whose ping says 200.
  const broken = { node: preferredFirst, app: 0 };
  if (process.env.BENCH_SIM_BROKEN !== '0') {
    await run('stickylb content, app 1 broken on its node (rule 13)', one({}), broken);
    await run(
      'stickylb leastLoad, app 1 broken on a node',
      one({ placement: { strategy: 'leastLoad' } }),
      broken,
    );
    // What HAProxy's observe layer7 / Envoy's outlier detection do: the whole node leaves.
    await run(
      'stickylb content, the whole node ejected (HAProxy, Envoy)',
      async (nodes) => {
        const lb = await startStickylb(
          CLI,
          nodes.filter((n) => n.name !== broken.node),
          SECRET,
          placed({}),
        );
        return { pages: [lb.url], sockets: [lb.url], children: [lb.child] };
      },
      broken,
    );
  }
  await run('stickylb leastLoad', one({ placement: { strategy: 'leastLoad' } }));
  await run('HAProxy 2.6 balance uri + hash-balance-factor 125 + cookie insert', async (nodes) => {
    const h = await startHaproxyUri(nodes);
    return { ...h, children: [h.child] };
  });
  await run('stickylb content, 2 replicas, nothing shared', two({}));
  const pg = await startPostgres(mkdtempSync(join(tmpdir(), 'stickylb-bench-pg-')));
  try {
    await run('stickylb content, 2 replicas, sharedState', two({ sharedState: { url: pg.url } }));
  } finally {
    pg.stop();
  }
  return rows;
}
