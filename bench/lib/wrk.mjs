// Runs wrk against a URL and parses requests/s and latency percentiles.
import { spawn } from 'node:child_process';

/** Converts wrk's "1.23ms" / "850.00us" / "1.02s" to milliseconds. */
function ms(value) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(value.trim());
  if (!m) return Number.NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60_000;
}

/** Runs `wrk` (on the CPUs in `cpus`, a taskset list, when given) and resolves with { rps, p50, p99, errors, raw }. */
export function wrk(url, { connections = 50, seconds = 10, threads = 1, headers = {}, rate, cpus } = {}) {
  const args = [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, '--latency', '--timeout', '5s'];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  args.push(url);
  return runLoad('wrk', args, cpus).then((out) => {
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN);
    const p50 = ms(/\s50%\s+(\S+)/.exec(out)?.[1] ?? '');
    const p99 = ms(/\s99%\s+(\S+)/.exec(out)?.[1] ?? '');
    const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
    const sockErr = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
    const errors = non2xx + (sockErr ? sockErr.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
    return { rps, p50, p99, errors, raw: out, rate };
  });
}

/** Runs a load tool (on the CPUs in `cpus`, a taskset list, when given); resolves with its output. */
export function runLoad(tool, args, cpus) {
  const [cmd, argv] = cpus === undefined ? [tool, args] : ['taskset', ['-c', cpus, tool, ...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    child.once('error', reject);
    child.once('exit', () => resolve(out));
  });
}
