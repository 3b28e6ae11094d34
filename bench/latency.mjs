// p99 latency at a fixed 1,000 req/s (1 KiB responses): direct, HAProxy, stickylb, side by side.
import { fileURLToPath } from 'node:url';
import { start, startHaproxy, startNginxBackends, startStickylb } from './lib/servers.mjs';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));

function fixedRate(url, cookie, seconds) {
  const child = start(process.execPath, [here('peers/fixed-rate.mjs')], {
    URL: url,
    RATE: '1000',
    SECONDS: String(seconds),
    COOKIE: cookie ?? '',
  });
  return new Promise((resolve) =>
    child.once('exit', () => resolve(JSON.parse(child.output.trim().split('\n').at(-1)))),
  );
}

/** Runs the fixed-rate comparison. */
export async function latencyBench({ seconds }) {
  const nodes = await startNginxBackends();
  const secret = 'bench-secret-0123456789abcdef';
  const { affinityToken } = await import(here('../dist/affinity/token.js'));
  const haproxy = await startHaproxy(nodes, 1);
  const lb = await startStickylb(here('../dist/cli.js'), nodes, secret);
  const rows = [];
  for (const [name, url, cookie] of [
    ['direct (nginx)', nodes[0].url, undefined],
    ['HAProxy 2.6, 1 thread', haproxy.url, 'SERVERID=a'],
    ['stickylb', lb.url, `stickylb=${affinityToken(secret, 'a')}`],
  ]) {
    await fixedRate(`${url}/1k`, cookie, 2);
    const r = await fixedRate(`${url}/1k`, cookie, seconds);
    rows.push({ contender: name, ...r });
    console.error(`  latency ${name}: ${JSON.stringify(r)}`);
  }
  return rows;
}
