// HTTP throughput, side by side in one run: direct nginx, HAProxy (cookie insert, redispatch),
// the bare node:http + undici forwarder (the Node ceiling), the http-proxy and @fastify/http-proxy
// sticky peers, stickylb; then HAProxy and stickylb on every core. Every request carries its pin.
// Load: wrk, keep-alive, 50 connections, one wrk thread.
//
// On a machine with two or more CPUs, wrk and nginx are pinned to CPU 0 and each one-core contender
// to CPU 1, so that a contender has a core of its own and is not scheduled against its load. Each
// measurement starts its contender afresh and stops it afterwards: no other balancer is alive while
// one runs (idle ones were seen to slow the one under load by up to a third). The contenders take
// turns in rounds (the order reversed every other round) and each figure is the median over the
// rounds, so a slow minute of a shared machine does not land on one contender. Ratios are paired:
// within each round the contender is compared with the stickylb run next to it in time, and the
// median of those per-round ratios is reported (the host's speed drifts by a third over minutes).
// Besides req/s, the balancer's own CPU time (user + system, every thread and child process) is
// read from /proc around each run: CPU microseconds per request, the cost per core.
import { fileURLToPath } from 'node:url';
import { allCpus, canPin, cpuMs, pin } from './lib/cpu.mjs';
import { BENCH_CONTENT, startHaproxy, startNginxBackends, startPeer, startStickylb } from './lib/servers.mjs';
import { wrk } from './lib/wrk.mjs';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const LOAD_CPU = '0';
const PROXY_CPU = '1';
/**
 * Load before each measurement. JIT tiers settle within ~2 s for the bare forwarder and ~6 s for
 * stickylb (more code to optimise); measured in 2 s windows, stickylb's CPU per request falls from
 * 77 to 61, 63, 57, 54 µs and then holds. A balancer runs for weeks, so the steady state is measured.
 */
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP ?? 8);

export function median(values) {
  const s = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** The contenders, each with a `start()`; `cores` is how many CPUs it may use (0: nginx itself). */
async function contenders(nodes) {
  const secret = 'bench-secret-0123456789abcdef';
  const { affinityToken } = await import(here('../dist/affinity/token.js'));
  const pinCookie = { Cookie: `stickylb=${affinityToken(secret, 'a')}` };
  const haproxyCookie = { Cookie: 'SERVERID=a' };
  const peerCookie = { Cookie: 'SRV=a' };
  const targets = JSON.stringify(nodes);
  const list = [
    {
      name: 'direct (nginx)',
      cores: 0,
      headers: {},
      start: async () => ({ url: nodes[0].url, child: nodes.child }),
    },
    { name: 'HAProxy 2.6, 1 thread', cores: 1, headers: haproxyCookie, start: () => startHaproxy(nodes, 1) },
    {
      name: 'bare node:http + undici',
      cores: 1,
      headers: {},
      start: () => startPeer(here('peers/undici-bare.mjs'), { TARGET: nodes[0].url }),
    },
    {
      name: 'http-proxy sticky peer',
      cores: 1,
      headers: peerCookie,
      start: () => startPeer(here('peers/http-proxy-peer.mjs'), { TARGETS: targets }),
    },
    {
      name: '@fastify/http-proxy sticky peer',
      cores: 1,
      headers: peerCookie,
      start: () => startPeer(here('peers/fastify-peer.mjs'), { TARGETS: targets }),
    },
    {
      name: 'stickylb',
      cores: 1,
      headers: pinCookie,
      start: () => startStickylb(here('../dist/cli.js'), nodes, secret),
    },
    {
      // Rules 10-11: a request of a content (`/content/{guid}/...`) with its content pin and its
      // global pin, as a browser sends them inside an app (issue 23: a content request's cost).
      name: 'stickylb, a content path',
      cores: 1,
      headers: { Cookie: `${pinCookie.Cookie}; stickylb_content=${affinityToken(secret, 'a')}` },
      path: (url) => `/content/${BENCH_CONTENT}${url}`,
      start: () => startStickylb(here('../dist/cli.js'), nodes, secret),
    },
    {
      // Rule 8: no cookie, a Connect API key; every answer carries the Set-Cookie it would set.
      name: 'stickylb, API key and no cookie',
      cores: 1,
      headers: { Authorization: 'Key bench-api-key-0123456789' },
      start: () => startStickylb(here('../dist/cli.js'), nodes, secret),
    },
    { name: 'HAProxy 2.6, 2 threads', cores: 2, headers: haproxyCookie, start: () => startHaproxy(nodes, 2) },
    {
      name: 'stickylb, 2 workers',
      cores: 2,
      headers: pinCookie,
      start: () => startStickylb(here('../dist/cli.js'), nodes, secret, { workers: 2 }),
    },
  ];
  // BENCH_BASELINE=/path/to/another/checkout: its dist/cli.js runs beside this one, paired like the
  // others (the way to tell a change's cost from the host's drift).
  if (process.env.BENCH_BASELINE) {
    list.push({
      name: 'stickylb baseline',
      cores: 1,
      headers: pinCookie,
      start: () => startStickylb(`${process.env.BENCH_BASELINE}/dist/cli.js`, nodes, secret),
    });
  }
  const keep = new RegExp(process.env.BENCH_FILTER ?? '');
  return list.filter((c) => keep.test(c.name));
}

/**
 * One measurement: the contender is started, pinned, warmed up, loaded for `seconds`, and
 * stopped, so that no other balancer process is alive while it runs.
 */
async function measure(c, url, seconds, nodes) {
  const server = await c.start();
  const load = canPin ? LOAD_CPU : undefined;
  if (canPin && c.cores > 0) pin(server.child.pid, c.cores === 1 ? PROXY_CPU : allCpus);
  try {
    const target = `${server.url}${c.path?.(url) ?? url}`;
    await wrk(target, { seconds: WARMUP_SECONDS, headers: c.headers, cpus: load });
    const before = cpuMs(server.child.pid);
    const r = await wrk(target, { seconds, headers: c.headers, cpus: load });
    const used = cpuMs(server.child.pid) - before;
    return { ...r, cpuUs: (used * 1000) / (r.rps * seconds) };
  } finally {
    if (server.child !== nodes.child) await stop(server.child);
  }
}

function stop(child) {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', resolve);
    child.kill('SIGKILL');
  });
}

/** Runs the HTTP comparison for each response size; resolves with rows (medians over rounds). */
export async function httpBench({ seconds, rounds, sizes }) {
  const nodes = await startNginxBackends();
  if (canPin) pin(nodes.child.pid, LOAD_CPU);
  const list = await contenders(nodes);
  const rows = [];
  for (const size of sizes) {
    const runs = new Map(list.map((c) => [c, []]));
    for (let round = 0; round < rounds; round++) {
      for (const c of round % 2 === 0 ? list : [...list].reverse()) {
        runs.get(c).push(await measure(c, `/${size}`, seconds, nodes));
      }
    }
    for (const c of list) {
      const rs = runs.get(c);
      const row = {
        size,
        contender: c.name,
        rps: Math.round(median(rs.map((r) => r.rps))),
        p50: median(rs.map((r) => r.p50)),
        p99: median(rs.map((r) => r.p99)),
        errors: rs.reduce((a, r) => a + r.errors, 0),
        cpuUsPerRequest: Math.round(median(rs.map((r) => r.cpuUs)) * 10) / 10,
        rounds: rs.map((r) => Math.round(r.rps)),
        cpuRounds: rs.map((r) => Math.round(r.cpuUs * 10) / 10),
      };
      rows.push(row);
      console.error(
        `  ${size} ${c.name}: ${row.rps} req/s (rounds ${row.rounds.join(', ')}), ${row.cpuUsPerRequest} CPU us/req, p99 ${row.p99} ms, errors ${row.errors}`,
      );
    }
  }
  return rows;
}
