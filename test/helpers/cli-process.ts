/** Runs the built CLI (dist/cli.js) as a real process with a YAML file written for the test. */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, onTestFinished } from 'vitest';
import { stringify } from 'yaml';

export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

/** Writes `tree` as YAML to a fresh temp file and returns its path. */
export function writeConfig(tree: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'stickylb-test-'));
  const file = join(dir, 'stickylb.yaml');
  writeFileSync(file, typeof tree === 'string' ? tree : stringify(tree));
  return file;
}

/** A YAML tree listening on 127.0.0.1:0 (proxy and admin) in front of `nodes`, plus `extra` keys. */
export function loopbackConfig(
  nodes: readonly { name: string; url: string }[],
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    upstreams: nodes.map((n) => ({ name: n.name, url: n.url })),
    ...extra,
  };
}

/** Runs the CLI to completion. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 20_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A balancer running as its own process. */
export interface BalancerProcess {
  readonly child: ChildProcess;
  readonly url: string;
  readonly adminUrl: string;
  readonly output: () => string;
  /** Resident set size in bytes, from /proc. */
  rss(): number;
  exited: Promise<number | null>;
}

/** Starts `node dist/cli.js --config FILE` and waits for its start-up log line. */
export async function startCliBalancer(
  configFile: string,
  env: NodeJS.ProcessEnv = {},
): Promise<BalancerProcess> {
  const child = spawn(process.execPath, [CLI, '--config', configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  onTestFinished(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
  });
  const started = await new Promise<{ proxy: string; admin: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`balancer did not start:\n${out}`)), 10_000);
    const check = () => {
      for (const line of out.split('\n')) {
        if (!line.includes('"stickylb started"')) continue;
        clearTimeout(timer);
        resolve(JSON.parse(line) as { proxy: string; admin: string });
        return;
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', () => reject(new Error(`balancer exited:\n${out}`)));
  });
  return {
    child,
    url: started.proxy,
    adminUrl: started.admin,
    output: () => out,
    exited,
    rss: () => {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) * 1024;
    },
  };
}

/** A node as a balancer process's /api/nodes reports it (the fields tests wait on). */
export interface AdminNode {
  readonly name: string;
  readonly health: string;
  readonly lastProbe: unknown;
}

/** The balancer's /api/nodes, or [] while it does not answer. */
export async function adminNodes(adminUrl: string): Promise<AdminNode[]> {
  try {
    const res = await fetch(`${adminUrl}/api/nodes`);
    return (await res.json()) as AdminNode[];
  } catch {
    return [];
  }
}

/** Resolves once `count` nodes of the balancer read `health` (polled through its admin API). */
export async function nodesWith(adminUrl: string, health: string, count: number): Promise<void> {
  await expect
    .poll(async () => (await adminNodes(adminUrl)).filter((n) => n.health === health).length, {
      timeout: 10_000,
      interval: 50,
    })
    .toBeGreaterThanOrEqual(count);
}

/** A counter's value in the balancer's /metrics (0 when absent). */
export async function metricValue(adminUrl: string, series: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  for (const line of text.split('\n'))
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  return 0;
}
