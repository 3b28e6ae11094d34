// Two contenders measured at the same time on the same core, each under its own load generator:
// whatever the shared host does to the core in those seconds, it does to both, so the ratio of their
// CPU time per request holds where sequential runs swing by a third (docs/performance.md). A side
// is `build:protocol`: build `dist` (this checkout), a path to another checkout, `caddy`, `bare`
// (the bare node:http + undici forwarder, peers/undici-bare.mjs, plain HTTP/1.1 only), or
// `bare+headers` (the same adding the headers stickylb adds for Connect);
// protocol `h2` (h2load, 10 connections x 5 streams), `h1tls` (h2load --h1, 50 connections),
// `h1` (wrk, 50 connections, plain HTTP), `h1close` (the same with a connection per request),
// `h1content` (the same on a content's path with its content pin beside the global one, rules
// 10-11) or `h1key` (no cookie, a Connect API key: rule 8). Ratios are A's CPU per request over
// B's, per round.
//   npm run build && PAIR=dist:h2,dist:h1tls node bench/paired.mjs
//   PAIR=dist:h2,/path/to/old/checkout:h2 node bench/paired.mjs
import { fileURLToPath } from 'node:url';
import { canPin, cpuMs, pin } from './lib/cpu.mjs';
import { BENCH_CONTENT, startNginxBackends, startPeer, startStickylb, stopAll } from './lib/servers.mjs';
import { runLoad } from './lib/wrk.mjs';
import { makeCert, startCaddy } from './tls.mjs';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const { affinityToken } = await import(here('../dist/affinity/token.js'));
const SECRET = 'bench-secret-0123456789abcdef';
const seconds = Number(process.env.BENCH_SECONDS ?? 8);
const rounds = Number(process.env.BENCH_ROUNDS ?? 6);
const sides = (process.env.PAIR ?? 'dist:h2,dist:h1tls').split(',').map((s) => {
  const at = s.lastIndexOf(':');
  return { build: s.slice(0, at), mode: s.slice(at + 1) };
});
if (sides.length !== 2) throw new Error('PAIR names two sides: build:protocol,build:protocol');

const nodes = await startNginxBackends();
if (canPin) pin(nodes.child.pid, '0');
const tls = makeCert();

async function startSide({ build, mode }, index) {
  if (build === 'caddy') return startCaddy(nodes, tls);
  if (build === 'bare' || build === 'bare+headers') {
    if (mode !== 'h1' && mode !== 'h1close')
      throw new Error('the bare forwarder speaks plain HTTP/1.1 only (bare:h1)');
    const env = { TARGET: nodes[0].url, BARE_HEADERS: build === 'bare' ? '0' : '1' };
    const peer = await startPeer(here('peers/undici-bare.mjs'), env);
    return { ...peer, headers: {} };
  }
  const cli = build === 'dist' ? here('../dist/cli.js') : `${build}/dist/cli.js`;
  const plain = mode.startsWith('h1') && mode !== 'h1tls';
  // PAIR_NODE_ARGS_A / _B: node flags for one side (the same build with and without a V8 flag).
  const nodeArgs = (process.env[`PAIR_NODE_ARGS_${index === 0 ? 'A' : 'B'}`] ?? '')
    .split(' ')
    .filter(Boolean);
  const server = await startStickylb(cli, nodes, SECRET, {}, plain ? undefined : tls, nodeArgs);
  const pin = affinityToken(SECRET, 'a');
  if (mode === 'h1key') return { ...server, headers: { authorization: 'Key bench-api-key-0123456789' } };
  if (mode !== 'h1content') return { ...server, headers: { cookie: `stickylb=${pin}` } };
  return {
    ...server,
    headers: { cookie: `stickylb=${pin}; stickylb_content=${pin}` },
    path: `/content/${BENCH_CONTENT}`,
  };
}

function loadArgs(mode, server, secs) {
  const headers = Object.entries(server.headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
  if (mode === 'h1close') headers.push('-H', 'Connection: close');
  if (mode.startsWith('h1') && mode !== 'h1tls')
    return ['wrk', ['-t1', '-c50', '-d', `${secs}s`, ...headers, `${server.url}${server.path ?? ''}/1k`]];
  const shape = mode === 'h1tls' ? ['--h1', '-c50', '-m1'] : ['-c10', '-m5'];
  return ['h2load', ['-t1', '-D', String(secs), ...shape, ...headers, `${server.url}/1k`]];
}

function served(mode, out) {
  const wrk = mode.startsWith('h1') && mode !== 'h1tls';
  const m = wrk ? /(\d+) requests in/.exec(out) : /requests: \d+ total, \d+ started, (\d+) done/.exec(out);
  return Number(m?.[1] ?? Number.NaN);
}

const servers = [];
for (const [index, side] of sides.entries()) {
  const server = await startSide(side, index);
  if (canPin) pin(server.child.pid, '1');
  servers.push(server);
}
const ratios = [];
const cpu = [[], []];
// A first warm-up long enough for stickylb's JIT to settle (about 6 s, docs/performance.md), so
// the first round reads like the rest; each round then warms up for 2 s more.
const settle = Number(process.env.BENCH_WARMUP ?? 6);
await Promise.all(
  servers.map((s, i) => runLoad(...loadArgs(sides[i].mode, s, settle), canPin ? '0' : undefined)),
);
for (let round = 0; round < rounds; round++) {
  // Warm-up, then the measured run, both sides at once.
  await Promise.all(
    servers.map((s, i) => runLoad(...loadArgs(sides[i].mode, s, 2), canPin ? '0' : undefined)),
  );
  const before = servers.map((s) => cpuMs(s.child.pid));
  const outs = await Promise.all(
    servers.map((s, i) => runLoad(...loadArgs(sides[i].mode, s, seconds), canPin ? '0' : undefined)),
  );
  const us = servers.map(
    (s, i) => ((cpuMs(s.child.pid) - before[i]) * 1000) / served(sides[i].mode, outs[i]),
  );
  if (!us.every(Number.isFinite)) {
    // A load run whose output did not parse (its tool failed): the round is dropped, and said.
    console.error(`  round ${round + 1}: dropped, a load run reported no count:\n${outs.join('\n')}`);
    continue;
  }
  cpu[0].push(us[0]);
  cpu[1].push(us[1]);
  ratios.push(us[0] / us[1]);
  console.error(
    `  round ${round + 1}: ${us[0].toFixed(1)} / ${us[1].toFixed(1)} CPU µs per request = ${(us[0] / us[1]).toFixed(3)}`,
  );
}
const median = (v) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)];
const label = (s) => `${s.build === 'dist' ? 'stickylb' : s.build} ${s.mode}`;
console.log(
  `${label(sides[0])} vs ${label(sides[1])}: CPU per request ${median(cpu[0]).toFixed(1)} vs ${median(cpu[1]).toFixed(1)} µs; ` +
    `A/B ${median(ratios).toFixed(3)} (rounds ${ratios.map((r) => r.toFixed(3)).join(', ')}); A per core ${(1 / median(ratios)).toFixed(2)}x B`,
);
stopAll();
process.exit(0);
