// `npm run bench`: every benchmark side by side in one run; prints one table with ratios and writes
// bench/results/<timestamp>.json and bench/results/latest.md. Numbers are never asserted in tests.
import { writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { connectSimBench } from './connect-sim.mjs';
import { failoverBench } from './failover.mjs';
import { hardeningBench } from './hardening.mjs';
import { httpBench, median } from './http.mjs';
import { latencyBench } from './latency.mjs';
import { canPin } from './lib/cpu.mjs';
import { ensureDebian, stopAll } from './lib/servers.mjs';
import { shinyLoadBench } from './shiny-load.mjs';
import { tlsBench } from './tls.mjs';
import { websocketBench } from './websocket.mjs';

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
ensureDebian({
  wrk: 'wrk',
  haproxy: 'haproxy',
  nginx: 'nginx-light',
  taskset: 'util-linux',
  h2load: 'nghttp2-client',
  caddy: 'caddy',
  openssl: 'openssl',
});

const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
console.error(`bench on ${machine}, ${rounds} rounds of ${seconds}s per contender`);

const only = new Set(
  (process.env.BENCH_ONLY ?? 'http,tls,shiny,latency,websocket,failover,hardening,sim').split(','),
);
const http = only.has('http')
  ? await httpBench({ seconds, rounds, sizes: (process.env.BENCH_SIZES ?? '1k,64k').split(',') })
  : [];
stopAll();
const tls = only.has('tls') ? await tlsBench({ seconds, rounds }) : [];
stopAll();
const latency = only.has('latency') ? await latencyBench({ seconds: seconds * 2 }) : [];
stopAll();
const sockets = Number(process.env.BENCH_WS_SOCKETS ?? 9000);
const websocket = only.has('websocket') ? await websocketBench({ sockets }) : [];
stopAll();
const failover = only.has('failover') ? await failoverBench() : [];
stopAll();
const hardening = only.has('hardening') ? await hardeningBench() : undefined;
stopAll();
// BENCH_SIM_SECONDS, BENCH_SIM_SESSIONS, BENCH_SIM_MEDIAN_MS: a longer or less compressed workload.
const simShape = {
  seconds: Number(process.env.BENCH_SIM_SECONDS ?? 60),
  count: Number(process.env.BENCH_SIM_SESSIONS ?? 1200),
  medianMs: Number(process.env.BENCH_SIM_MEDIAN_MS ?? 6000),
};
const sim = only.has('sim') ? await connectSimBench(simShape) : [];
stopAll();
// Last: Chromium and R take seconds to wind down, which showed as a 70 ms p99 in a latency run
// that followed it.
const shiny = only.has('shiny')
  ? await shinyLoadBench({ loads: Number(process.env.BENCH_SHINY_LOADS ?? 15) })
  : undefined;
stopAll();

/** stickylb's req/s over `other`'s: the median of the ratios within each round (paired). */
function rpsRatio(lb, other) {
  return median(lb.rounds.map((v, i) => v / other.rounds[i]));
}

/** Requests per CPU-second, stickylb's over `other`'s: `other`'s CPU per request over stickylb's, paired by round. */
function coreRatio(lb, other) {
  return median(lb.cpuRounds.map((v, i) => other.cpuRounds[i] / v));
}

const pinning = canPin
  ? 'wrk and nginx pinned to CPU 0, each one-core contender to CPU 1, two-core contenders on both'
  : 'no CPU pinning (one CPU)';
const lines = [
  `Machine: ${machine}; wrk -t1 -c50, keep-alive, every request carrying its pin; ${pinning}; each figure the median of ${rounds} rounds of ${seconds} s, contenders taking turns; ratios are medians of the per-round ratios.`,
  '',
];
for (const size of [...new Set(http.map((r) => r.size))]) {
  const rows = http.filter((r) => r.size === size);
  const lb = rows.find((r) => r.contender === 'stickylb');
  lines.push(`${size === '1k' ? '1 KiB' : '64 KiB'} responses`, '');
  lines.push(
    '| contender | req/s | p50 ms | p99 ms | errors | CPU µs per request | stickylb is, req/s | stickylb is, per core |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const r of rows) {
    const ratio = !lb || r === lb ? '' : `${rpsRatio(lb, r).toFixed(2)}x`;
    const perCore = !lb || r === lb ? '' : `${coreRatio(lb, r).toFixed(2)}x`;
    lines.push(
      `| ${r.contender} | ${r.rps} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.errors} | ${r.cpuUsPerRequest} | ${ratio} | ${perCore} |`,
    );
  }
  lines.push('');
}
if (http.length > 0 && !process.env.BENCH_FILTER && http.some((r) => r.size === '1k')) {
  const at1k = http.filter((r) => r.size === '1k');
  const row = (name) =>
    at1k.find((r) => r.contender === name) ?? at1k.find((r) => r.contender.startsWith(name));
  const goal = (text, want, vs) => {
    const rps = rpsRatio(row('stickylb'), row(vs));
    const core = coreRatio(row('stickylb'), row(vs));
    const verdict = (x) => `${x.toFixed(2)}x, ${x >= want ? 'met' : 'NOT met'}`;
    return `- ${text}: per core (requests per CPU-second) ${verdict(core)}; req/s ${verdict(rps)}`;
  };
  lines.push('Goals at 1 KiB:', '');
  lines.push(
    goal('stickylb >= 1.5x the http-proxy peer (issue 2)', 1.5, 'http-proxy'),
    goal('stickylb >= 2x the http-proxy peer (issue 7)', 2, 'http-proxy'),
    goal('stickylb >= 0.9x the bare undici forwarder (issue 7)', 0.9, 'bare'),
  );
  const keyed = row('stickylb, API key');
  if (keyed) {
    lines.push(
      `- a client with an API key and no cookie (rule 8) over one with its cookie: per core ${coreRatio(keyed, row('stickylb')).toFixed(2)}x, req/s ${rpsRatio(keyed, row('stickylb')).toFixed(2)}x`,
    );
  }
  const two = row('stickylb, 2 workers');
  if (two) lines.push(`- 2 workers over 1 worker: ${rpsRatio(two, row('stickylb')).toFixed(2)}x req/s`);
  lines.push('');
}
if (tls.length > 0) {
  lines.push(
    'TLS at the front door (1 KiB, every request carrying its pin; h2load: HTTP/1.1 on 50 connections, HTTP/2 on 10 connections x 5 streams; each contender on one core)',
    '',
    '| contender | protocol | req/s | mean ms | errors | CPU µs per request | stickylb is, per core |',
    '|---|---|---:|---:|---:|---:|---:|',
  );
  const lbOf = (protocol) => tls.find((r) => r.contender === 'stickylb' && r.protocol === protocol);
  for (const r of tls) {
    const lb = lbOf(r.protocol);
    const perCore = !lb || r === lb ? '' : `${coreRatio(lb, r).toFixed(2)}x`;
    lines.push(
      `| ${r.contender} | ${r.protocol} | ${r.rps} | ${r.meanMs.toFixed(2)} | ${r.errors} | ${r.cpuUsPerRequest} | ${perCore} |`,
    );
  }
  const h1 = lbOf('HTTP/1.1');
  const h2 = lbOf('HTTP/2');
  if (h1 && h2) {
    const x = coreRatio(h2, h1);
    lines.push(
      '',
      `- stickylb's HTTP/2 per core at least its HTTP/1.1-over-TLS per core (issue 16): ${x.toFixed(2)}x, ${x >= 1 ? 'met' : 'NOT met'}`,
    );
    const bare = (protocol) => tls.find((r) => r.contender.startsWith('bare') && r.protocol === protocol);
    if (bare('HTTP/1.1') && bare('HTTP/2')) {
      lines.push(
        `- the same for the bare forwarder behind the same node:http2 server (Node's own HTTP/2 over its HTTP/1.1): ${coreRatio(bare('HTTP/2'), bare('HTTP/1.1')).toFixed(2)}x`,
      );
    }
    lines.push('');
  }
}
if (shiny !== undefined) {
  lines.push(
    `Shiny page load through stickylb over TLS, cold (a new browser context each time: new connections, no cache), Debian Chromium, ${shiny.loads} loads each, alternating; the page and its ${shiny.assets} assets until the app's output is shown; "added RTT" is a relay delaying each direction by half of it`,
    '',
    '| protocol | added RTT ms | median ms | p90 ms |',
    '|---|---:|---:|---:|',
    ...shiny.rows.map((r) => `| ${r.protocol} | ${r.rttMs} | ${r.medianMs} | ${r.p90Ms} |`),
    '',
    ...shiny.rtts.map(
      (rtt) =>
        `- a Shiny page load faster over h2 than over HTTP/1.1 (issue 16), ${rtt} ms added RTT: ${shiny.ratios[rtt].toFixed(2)}x the HTTP/1.1 time, ${shiny.ratios[rtt] < 1 ? 'met' : 'NOT met'}`,
    ),
    '',
  );
}
if (latency.length > 0) {
  lines.push(
    "Latency at a fixed 1,000 req/s (1 KiB, 50 connections, measured from each request's scheduled time)",
    '',
  );
  lines.push('| contender | p50 ms | p99 ms | max ms | errors |', '|---|---:|---:|---:|---:|');
  for (const r of latency) lines.push(`| ${r.contender} | ${r.p50} | ${r.p99} | ${r.max} | ${r.errors} |`);
  const p99 = (name) => latency.find((r) => r.contender.startsWith(name)).p99;
  const gap = p99('stickylb') - p99('HAProxy');
  lines.push(
    '',
    `- stickylb p99 within 1 ms of HAProxy's (issue 7): ${gap.toFixed(2)} ms, ${gap <= 1 ? 'met' : 'NOT met'}`,
    '',
  );
}
if (websocket.length > 0) {
  lines.push(
    `WebSockets: ${sockets} idle sockets opened in two halves, balancer RSS read 2 s after each; "all" is the growth over every socket, "marginal" what each socket of the second half added. Then echo round trips of 64 bytes over 100 sockets x 200 messages`,
    '',
  );
  lines.push(
    '| contender | idle sockets | KiB per socket, all | KiB per socket, marginal | echo p50 ms | echo p99 ms |',
    '|---|---:|---:|---:|---:|---:|',
  );
  const kib = (v) => (v === null ? '-' : v);
  for (const r of websocket) {
    const held = r.idleSockets === null ? '-' : `${r.idleSockets}${r.failed ? ` (${r.failed} failed)` : ''}`;
    lines.push(
      `| ${r.contender} | ${held} | ${kib(r.kibPerSocket)} | ${kib(r.marginalKibPerSocket)} | ${r.echoP50} | ${r.echoP99} |`,
    );
  }
  const lb = websocket.find((r) => r.contender === 'stickylb');
  lines.push(
    '',
    `- stickylb <= 8 KiB per idle socket, counting all growth (issues 3, 7): ${lb.kibPerSocket} KiB, ${lb.kibPerSocket <= 8 ? 'met' : 'NOT met'}`,
    '',
  );
}
if (failover.length > 0) {
  lines.push(
    'Failover: a pinned client sends a GET every 10 ms, its node is SIGKILLed (checks every 2 s, timeout 1 s, fall 3 for both)',
    '',
  );
  lines.push(
    '| contender | ms from kill to first success elsewhere | failed requests in 3 s | requests in 3 s |',
    '|---|---:|---:|---:|',
  );
  for (const r of failover)
    lines.push(`| ${r.contender} | ${r.msToFirstSuccess ?? 'none'} | ${r.failed} | ${r.total} |`);
  lines.push('');
}
if (hardening !== undefined) {
  const { abortedHandshakes: h, stalledBodies: b, probing } = hardening;
  lines.push(
    'Hostile clients and broken nodes (issue 17): one stickylb process',
    '',
    '| measurement | result |',
    '|---|---|',
    `| ${h.handshakes} WebSocket handshakes reset by their clients before the 101 (node silent) | none left after ${h.msUntilNoneLeft} ms: ${h.left.fds} descriptors, ${h.left.inFlight} handshakes, ${h.left.websockets} tunnels (goal: 0 within 1 s, ${h.msUntilNoneLeft <= 1000 && h.left.fds <= 0 ? 'met' : 'NOT met'}) |`,
    `| ${b.clients} request bodies stalled after 3 bytes (timeouts.clientBody 5 s) | RSS ${b.rssIdleMiB} MiB idle, ${b.rssStalledMiB} MiB while held (${b.inFlightStalled} in flight); ${b.timedOut} answered 408, ${b.inFlightAfterTimeout} left in flight after the timeout |`,
    ...probing.map(
      (p) =>
        `| health checks of ${p.nodes} nodes every 1 s, idle balancer | ${p.cpuPercentOfACore}% of a core (${p.cpuPercentPer100Nodes}% per 100 nodes); /metrics ${p.metricsKiB} KiB |`,
    ),
    '',
  );
}
// Rule 13's rows (an app broken on one node) get a table of their own.
const simBroken = sim.filter((r) => r.brokenSessions > 0);
const simNormal = sim.filter((r) => r.brokenSessions === 0);
if (simNormal.length > 0) {
  const sim = simNormal;
  const row = (name) => sim.find((r) => r.contender.startsWith(name));
  const content = row('stickylb content');
  const least = row('stickylb leastLoad');
  const haproxy = row('HAProxy');
  const apart = row('stickylb content, 2 replicas, nothing');
  const shared = row('stickylb content, 2 replicas, sharedState');
  lines.push(
    `Connect simulation (issue 23): ${sim[0].sessions} app sessions (Poisson arrivals, Zipf-popular apps over 24, the two most popular preferring one node; log-normal lengths, median ${simShape.medianMs / 1000} s, over ${simShape.seconds} s; 300 users, each with a dashboard visit first) against three simulated Connect nodes (processes of 20 sessions, a cold start for each new process, reaped after 1.5 s idle); the same seeded workload for every contender; balance sampled every 200 ms while at least 10 sessions per node are open`,
    '',
    '| contender | cold starts per 1,000 sessions | peak processes | p95 busiest node / mean | split sessions | failed |',
    '|---|---:|---:|---:|---:|---:|',
    ...sim.map(
      (r) =>
        `| ${r.contender} | ${r.coldStartsPer1000} | ${r.peakProcesses} | ${r.p95Balance} | ${r.split} | ${r.failed} |`,
    ),
    '',
    // A partial run (BENCH_SIM_ONLY) states the goals whose contenders ran.
    ...(content && least
      ? [
          `- cold starts <= 0.35x leastLoad's: ${(content.coldStartsPer1000 / least.coldStartsPer1000).toFixed(2)}x, ${content.coldStartsPer1000 <= 0.35 * least.coldStartsPer1000 ? 'met' : 'NOT met'}`,
        ]
      : []),
    ...(content && haproxy
      ? [
          `- fewer cold starts than HAProxy's bounded-load URI hashing: ${content.coldStartsPer1000} against ${haproxy.coldStartsPer1000}, ${content.coldStartsPer1000 < haproxy.coldStartsPer1000 ? 'met' : 'NOT met'}`,
        ]
      : []),
    ...(content && shared
      ? [
          `- two replicas sharing loads within 10% of one replica's cold starts: ${(shared.coldStartsPer1000 / content.coldStartsPer1000).toFixed(2)}x${apart ? ` (${(apart.coldStartsPer1000 / content.coldStartsPer1000).toFixed(2)}x without sharing)` : ''}, ${shared.coldStartsPer1000 <= 1.1 * content.coldStartsPer1000 ? 'met' : 'NOT met'}`,
        ]
      : []),
    ...(content
      ? [
          `- balance, p95 busiest node / mean <= 1.35: ${content.p95Balance}, ${content.p95Balance <= 1.35 ? 'met' : 'NOT met'}`,
        ]
      : []),
    `- stickylb: 0 split and 0 failed sessions: ${sim.filter((r) => r.contender.startsWith('stickylb')).every((r) => r.split === 0 && r.failed === 0) ? 'met' : 'NOT met'}`,
    '',
  );
}
if (simBroken.length > 0) {
  const row = (name) => simBroken.find((r) => r.contender.startsWith(name));
  const content = row('stickylb content, app 1');
  const least = row('stickylb leastLoad');
  const whole = row('stickylb content, the whole node');
  const baseline = simNormal.find((r) => r.contender === 'stickylb content');
  lines.push(
    `An app that fails on one node (issue 33, rule 13): the same workload, the most popular app (${simBroken[0].brokenSessions} of its sessions) unable to start on its preferred node while that node's ping says 200; "other apps" are every other app's sessions`,
    '',
    '| contender | sessions of the broken app that failed | per 1,000 of them | other apps: cold starts per 1,000 sessions | peak processes | p95 busiest node / mean |',
    '|---|---:|---:|---:|---:|---:|',
    ...simBroken.map(
      (r) =>
        `| ${r.contender} | ${r.brokenFailed} | ${Math.round((r.brokenFailed / r.brokenSessions) * 1000)} | ${r.otherColdStartsPer1000} | ${r.peakProcesses} | ${r.p95Balance} |`,
    ),
    ...(baseline
      ? [
          `| stickylb content, nothing broken | - | - | ${baseline.otherColdStartsPer1000} | ${baseline.peakProcesses} | ${baseline.p95Balance} |`,
        ]
      : []),
    '',
    ...(content && least
      ? [
          `- failed sessions of the broken app at most 1% of leastLoad's: ${content.brokenFailed} against ${least.brokenFailed}, ${content.brokenFailed <= 0.01 * least.brokenFailed ? 'met' : 'NOT met'}`,
        ]
      : []),
    ...(content && baseline
      ? [
          `- no more cold starts for the other apps than with nothing broken: ${content.otherColdStartsPer1000} against ${baseline.otherColdStartsPer1000} per 1,000, ${content.otherColdStartsPer1000 <= baseline.otherColdStartsPer1000 ? 'met' : 'NOT met'}`,
        ]
      : []),
    ...(content && whole
      ? [
          `- ejecting the whole node instead (HAProxy's observe layer7, Envoy's outlier detection): ${whole.brokenFailed} failed, the other apps ${whole.otherColdStartsPer1000} cold starts per 1,000 (${(whole.otherColdStartsPer1000 / Math.max(content.otherColdStartsPer1000, 1)).toFixed(2)}x stickylb's), busiest node / mean ${whole.p95Balance} against ${content.p95Balance}: two nodes carry what three did`,
        ]
      : []),
    '',
  );
}
const table = lines.join('\n');
console.log(`\n${table}`);
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const dir = fileURLToPath(new URL('./results/', import.meta.url));
// A partial run (BENCH_ONLY) is printed but does not replace the recorded full run.
const out = process.env.BENCH_ONLY ? `${tmpdir()}/stickylb-bench-` : dir;
writeFileSync(
  `${out}${stamp}.json`,
  JSON.stringify(
    { machine, seconds, rounds, pinning, http, tls, shiny, latency, websocket, failover, hardening, sim },
    null,
    2,
  ),
);
if (!process.env.BENCH_ONLY) writeFileSync(`${dir}latest.md`, `${table}\n`);
process.exit(0);
