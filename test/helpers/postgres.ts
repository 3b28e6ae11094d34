/**
 * A real PostgreSQL from Debian's `postgresql` package, started by the test itself: initdb in a
 * temporary directory, a free loopback port, stopped in teardown. As root its binaries run as the
 * `postgres` user (`runuser -u postgres --`), as initdb refuses root.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { freePort } from './ports.js';

/** A running PostgreSQL. */
export interface TestPostgres {
  /** `postgres://postgres@127.0.0.1:PORT/postgres` */
  readonly url: string;
  stop(): void;
  start(): void;
  /** Freezes the server and every backend (SIGSTOP): connections hang instead of being refused. */
  pause(): void;
  /** Thaws what `pause` froze. */
  resume(): void;
  /** Runs one SQL statement through psql and returns its unaligned output. */
  sql(statement: string): string;
}

/** The directory of Debian's PostgreSQL server binaries, or undefined when not installed. */
export function postgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  for (const version of readdirSync(root).sort().reverse()) {
    const bin = join(root, version, 'bin');
    if (existsSync(join(bin, 'postgres')) && existsSync(join(bin, 'initdb'))) return bin;
  }
  return undefined;
}

const asRoot = process.getuid?.() === 0;

function run(bin: string, command: string, args: string[]): void {
  const [cmd, argv] = asRoot
    ? ['runuser', ['-u', 'postgres', '--', join(bin, command), ...args]]
    : [join(bin, command), args];
  execFileSync(cmd, argv, { stdio: 'pipe' });
}

/** Initialises and starts a PostgreSQL; stopped after the test. */
export async function startPostgres(): Promise<TestPostgres> {
  const bin = postgresBin();
  if (bin === undefined) throw new Error('PostgreSQL is not installed (apt-get install -y postgresql)');
  const dir = mkdtempSync(join(tmpdir(), 'stickylb-pg-'));
  chmodSync(dir, 0o777);
  const data = join(dir, 'data');
  if (asRoot) execFileSync('chown', ['postgres', dir]);
  run(bin, 'initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  const port = await freePort();
  const options = `-p ${port} -k ${dir} -h 127.0.0.1 -c fsync=off`;
  const pg: TestPostgres = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start: () => run(bin, 'pg_ctl', ['-D', data, '-o', options, '-w', '-l', join(dir, 'log'), 'start']),
    stop: () => {
      const [cmd, argv] = asRoot
        ? [
            'runuser',
            ['-u', 'postgres', '--', join(bin, 'pg_ctl'), '-D', data, '-m', 'immediate', '-w', 'stop'],
          ]
        : [join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']];
      spawnSync(cmd, argv, { stdio: 'ignore' });
    },
    pause: () => signalServer(data, 'STOP'),
    resume: () => signalServer(data, 'CONT'),
    sql: (statement) =>
      execFileSync(
        'psql',
        ['-X', '-At', '-d', `postgres://postgres@127.0.0.1:${port}/postgres`, '-c', statement],
        {
          encoding: 'utf8',
        },
      ).trim(),
  };
  pg.start();
  onTestFinished(() => {
    pg.resume();
    pg.stop();
  });
  return pg;
}

/** Sends `signal` to the postmaster of `data` and to all its children. */
function signalServer(data: string, signal: 'STOP' | 'CONT'): void {
  let pid: string;
  try {
    pid = readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]!.trim();
  } catch {
    return; // not running
  }
  const children = spawnSync('pgrep', ['-P', pid], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  // The postmaster first on STOP (no new backend is forked meanwhile), last on CONT.
  const order = signal === 'STOP' ? [pid, ...children] : [...children, pid];
  for (const p of order) spawnSync('kill', [`-${signal}`, p], { stdio: 'ignore' });
}
