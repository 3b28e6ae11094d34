// CPU accounting and pinning for the benchmarks, from /proc and taskset (util-linux).
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';

const TICK_MS = 1000 / 100; // USER_HZ is 100 on Linux

function stat(pid) {
  try {
    // Fields after the command name, which is in parentheses and may hold spaces.
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** The process `pid` and its descendants (cluster workers, nginx workers). */
export function processTree(pid) {
  const parents = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const f = stat(entry);
    if (f) parents.set(Number(entry), Number(f[1]));
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    for (const [child, parent] of parents) if (parent === tree[i]) tree.push(child);
  }
  return tree;
}

/** User + system CPU milliseconds used so far by `pid` and its descendants, all threads. */
export function cpuMs(pid) {
  let ms = 0;
  for (const p of processTree(pid)) {
    const f = stat(p);
    if (f) ms += (Number(f[11]) + Number(f[12])) * TICK_MS;
  }
  return ms;
}

/** True when the machine has two or more CPUs and taskset can pin here. */
export const canPin = cpus().length >= 2 && spawnSync('taskset', ['-p', String(process.pid)]).status === 0;

/** Pins `pid`, its threads and its descendants to `cpuList` ("1", "0-1"). */
export function pin(pid, cpuList) {
  if (!canPin) return;
  for (const p of processTree(pid))
    spawnSync('taskset', ['-a', '-pc', cpuList, String(p)], { stdio: 'ignore' });
}

/** Every CPU of the machine, as a taskset list. */
export const allCpus = `0-${cpus().length - 1}`;
