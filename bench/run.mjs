// `npm run bench`: every benchmark side by side in one run; prints one table with ratios and writes
// bench/results/<timestamp>.json and bench/results/latest.md. Numbers are never asserted in tests.
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { failoverBench } from './failover.mjs';
import { httpBench } from './http.mjs';
import { ensureDebian, stopAll } from './lib/servers.mjs';
import { websocketBench } from './websocket.mjs';

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
ensureDebian({ wrk: 'wrk', haproxy: 'haproxy', nginx: 'nginx-light' });

const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
console.error(`bench on ${machine}, ${seconds}s per run`);

const only = new Set((process.env.BENCH_ONLY ?? 'http,websocket,failover').split(','));
const http = only.has('http') ? await httpBench({ seconds, sizes: ['1k', '64k'] }) : [];
stopAll();
const sockets = Number(process.env.BENCH_WS_SOCKETS ?? 9000);
const websocket = only.has('websocket') ? await websocketBench({ sockets }) : [];
stopAll();
const failover = only.has('failover') ? await failoverBench() : [];
stopAll();

const lines = [
  `Machine: ${machine}; wrk -t1 -c50 -d${seconds}s, keep-alive, every request carrying its pin.`,
  '',
];
for (const size of [...new Set(http.map((r) => r.size))]) {
  const rows = http.filter((r) => r.size === size);
  const by = (name) => rows.find((r) => r.contender.startsWith(name));
  const lb = by('stickylb');
  lines.push(`${size === '1k' ? '1 KiB' : '64 KiB'} responses`, '');
  lines.push(
    '| contender | req/s | p50 ms | p99 ms | errors | stickylb is |',
    '|---|---:|---:|---:|---:|---:|',
  );
  for (const r of rows) {
    const ratio = r === lb ? '' : `${(lb.rps / r.rps).toFixed(2)}x`;
    lines.push(
      `| ${r.contender} | ${r.rps} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.errors} | ${ratio} |`,
    );
  }
  lines.push('');
}
const vsPeer =
  http.find((r) => r.size === '1k' && r.contender === 'stickylb').rps /
  http.find((r) => r.size === '1k' && r.contender.startsWith('http-proxy')).rps;
lines.push(
  `Bar (issue 2): stickylb >= 1.5x the http-proxy peer at 1 KiB: ${vsPeer.toFixed(2)}x, ${vsPeer >= 1.5 ? 'met' : 'NOT met'}.`,
);
const table = lines.join('\n');
console.log(`\n${table}`);
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const dir = fileURLToPath(new URL('./results/', import.meta.url));
writeFileSync(
  `${dir}${stamp}.json`,
  JSON.stringify({ machine, seconds, http, websocket, failover }, null, 2),
);
writeFileSync(`${dir}latest.md`, `${table}\n`);
process.exit(0);
