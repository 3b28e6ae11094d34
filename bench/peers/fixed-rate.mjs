// A fixed-rate load generator: RATE requests/s for SECONDS over keep-alive connections; latency is
// measured from each request's scheduled time (no coordinated omission). Prints JSON.
// URL=http://... RATE=1000 SECONDS=10 COOKIE='a=b' node fixed-rate.mjs
import { Pool } from 'undici';

const url = new URL(process.env.URL);
const rate = Number(process.env.RATE ?? 1000);
const seconds = Number(process.env.SECONDS ?? 10);
const headers = process.env.COOKIE ? { cookie: process.env.COOKIE } : {};
const pool = new Pool(url.origin, { connections: 50, pipelining: 1 });
const total = rate * seconds;
const latencies = [];
let errors = 0;
let sent = 0;
let done = 0;
const start = performance.now() + 50;

await new Promise((resolve) => {
  const tick = () => {
    const now = performance.now();
    while (sent < total && start + (sent * 1000) / rate <= now) {
      const scheduled = start + (sent * 1000) / rate;
      sent++;
      pool
        .request({ path: url.pathname, method: 'GET', headers })
        .then(async (res) => {
          await res.body.dump();
          if (res.statusCode !== 200) errors++;
        })
        .catch(() => errors++)
        .finally(() => {
          latencies.push(performance.now() - scheduled);
          if (++done === total) resolve();
        });
    }
    if (sent < total) setTimeout(tick, 1);
  };
  setTimeout(tick, 50);
});
latencies.sort((a, b) => a - b);
const q = (p) =>
  Math.round(latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] * 1000) / 1000;
process.stdout.write(
  `${JSON.stringify({ p50: q(0.5), p99: q(0.99), max: q(1), errors, requests: total })}\n`,
);
await pool.close();
