// A CPU profile of stickylb under load, for reading where a request's time goes (docs/performance.md):
// nginx backends, stickylb with `--cpu-prof`, h2load for BENCH_SECONDS, then the top self-time
// functions, and self time by origin (stickylb, undici, node's lib, V8 and the kernel's calls) in µs
// per request. PROFILE=h2|h1tls|h1 (default h2); PROFILE_CLI=/path/to/dist/cli.js profiles another
// build; PROFILE_PEER=bare|bare+headers profiles the bare forwarder instead (h1 only), so the two
// summaries side by side say where stickylb's extra time per request goes.
//   npm run build && node bench/profile.mjs
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { canPin, pin } from './lib/cpu.mjs';
import { startNginxBackends, startPeer, startStickylb, stopAll, workdir } from './lib/servers.mjs';
import { runLoad } from './lib/wrk.mjs';
import { makeCert } from './tls.mjs';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const mode = process.env.PROFILE ?? 'h2';
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const secret = 'bench-secret-0123456789abcdef';
const dir = join(workdir, 'profile');

const nodes = await startNginxBackends();
const tls = mode === 'h1' ? undefined : makeCert();
const cli = process.env.PROFILE_CLI ?? here('../dist/cli.js');
const peer = process.env.PROFILE_PEER || undefined;
if (peer !== undefined && mode !== 'h1') throw new Error('the bare forwarder speaks plain HTTP/1.1 only');
const profiling = ['--cpu-prof', `--cpu-prof-dir=${dir}`];
const lb =
  peer === undefined
    ? await startStickylb(cli, nodes, secret, {}, tls, profiling)
    : await startPeer(
        here('peers/undici-bare.mjs'),
        { TARGET: nodes[0].url, BARE_HEADERS: peer === 'bare' ? '0' : '1' },
        profiling,
      );
if (canPin) pin(lb.child.pid, '1');
const { affinityToken } = await import(here('../dist/affinity/token.js'));
const cookie = `stickylb=${affinityToken(secret, 'a')}`;
const args =
  mode === 'h1'
    ? ['-t1', '-c50', '-d', `${seconds}s`, '-H', `Cookie: ${cookie}`, `${lb.url}/1k`]
    : ['-t1', '-D', String(seconds), ...(mode === 'h1tls' ? ['--h1', '-c50', '-m1'] : ['-c10', '-m5'])];
if (mode !== 'h1') args.push('-H', `cookie: ${cookie}`, `${lb.url}/1k`);
const out = await runLoad(mode === 'h1' ? 'wrk' : 'h2load', args, canPin ? '0' : undefined);
console.error(
  out
    .split('\n')
    .filter((l) => /req\/s|Requests\/sec/.test(l))
    .join('\n'),
);
// wrk: "123456 requests in 10.00s"; h2load: "requests: 123456 total, 123456 started, 123456 done".
const requests = Number(
  /(\d+) requests in|requests: \d+ total, \d+ started, (\d+) done/.exec(out)?.slice(1).find(Boolean),
);
await new Promise((resolve) => {
  lb.child.once('exit', resolve);
  lb.child.kill('SIGINT');
});
stopAll();

const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
const profile = JSON.parse(readFileSync(join(dir, file), 'utf8'));
// PROFILE_SAVE=out.cpuprofile keeps the profile (for Chrome's DevTools), with the request count.
if (process.env.PROFILE_SAVE)
  writeFileSync(process.env.PROFILE_SAVE, JSON.stringify({ ...profile, requests }));
const self = new Map();
const dt = new Map();
for (let i = 0; i < profile.samples.length; i++) {
  dt.set(profile.samples[i], (dt.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
}
let total = 0;
for (const node of profile.nodes) {
  const f = node.callFrame;
  const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(node_modules|dist|lib)\//, '$1/')}:${f.lineNumber + 1}`;
  const us = dt.get(node.id) ?? 0;
  total += us;
  self.set(key, (self.get(key) ?? 0) + us);
}
// Inclusive time: each function's samples and its callees' (a function on the stack twice counts once).
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const inclusive = new Map();
const keyOf = (n) => {
  const f = n.callFrame;
  return `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(node_modules|dist|lib)\//, '$1/')}:${f.lineNumber + 1}`;
};
for (const [id, us] of dt) {
  const seen = new Set();
  for (let n = byId.get(id); n !== undefined; n = byId.get(parent.get(n.id))) {
    const k = keyOf(n);
    if (seen.has(k)) continue;
    seen.add(k);
    inclusive.set(k, (inclusive.get(k) ?? 0) + us);
  }
}
const idle = [...self].filter(([k]) => k.startsWith('(idle)')).reduce((a, [, v]) => a + v, 0);
// Self time by where the code comes from. Native frames (url '') are node's bindings: the calls
// into the kernel (writev, the socket reads) and the string and buffer conversions.
const origin = (n) => {
  const { url, functionName } = n.callFrame;
  if (url.includes('/dist/')) return 'stickylb (dist/)';
  if (url.includes('node_modules/undici/') || url.startsWith('wasm://')) return 'undici';
  if (url.includes('node_modules/')) return 'other packages';
  if (url.startsWith('node:')) return "node's lib (node:*)";
  if (functionName === '(garbage collector)') return 'garbage collector';
  if (functionName === '(program)' || functionName === '(root)') return 'V8 (program)';
  if (/^(writev|writeLatin1String|writeUtf8String|writeBuffer|read|onStreamRead)$/.test(functionName))
    return 'socket writes (native)';
  if (url === '' && functionName !== '(idle)') return 'other native';
  return url.startsWith('file:') ? 'peer script' : '(idle)';
};
const byOrigin = new Map();
for (const n of profile.nodes) {
  const o = origin(n);
  byOrigin.set(o, (byOrigin.get(o) ?? 0) + (dt.get(n.id) ?? 0));
}
byOrigin.delete('(idle)');
console.log(`self time by origin, µs per request (${requests} requests)`);
for (const [o, us] of [...byOrigin].sort((a, b) => b[1] - a[1])) {
  console.log(`${(us / requests).toFixed(2).padStart(7)}  ${o}`);
}
console.log(`${((total - idle) / requests).toFixed(2).padStart(7)}  all busy time\n`);
console.log(`${mode}: self time by function, % of busy time (${((total - idle) / 1e6).toFixed(1)} s busy)`);
for (const [k, v] of [...self]
  .sort((a, b) => b[1] - a[1])
  .filter(([k]) => !k.startsWith('(idle)'))
  .slice(0, Number(process.env.PROFILE_TOP ?? 30))) {
  console.log(`${((100 * v) / (total - idle)).toFixed(1).padStart(5)}%  ${k}`);
}
const watch = new RegExp(
  process.env.PROFILE_INCLUSIVE ?? 'dist/|^(respond|dispatch|writeH1|onStreamRead|processHeaders) ',
);
console.log('\ninclusive, % of busy time');
for (const [k, v] of [...inclusive]
  .sort((a, b) => b[1] - a[1])
  .filter(([k]) => watch.test(k))
  .slice(0, 25)) {
  console.log(`${((100 * v) / (total - idle)).toFixed(1).padStart(5)}%  ${k}`);
}
