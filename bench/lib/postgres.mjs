// A PostgreSQL for benches that share state between replicas: Debian's server, initdb in `dir`, a
// free loopback port; as root its binaries run as the postgres user.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDebian, freePort } from './servers.mjs';

function bin() {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  for (const v of readdirSync(root).sort().reverse())
    if (existsSync(join(root, v, 'bin', 'initdb'))) return join(root, v, 'bin');
  return undefined;
}

/** Starts PostgreSQL; `stop()` stops it. */
export async function startPostgres(dir) {
  if (bin() === undefined) ensureDebian({ pg_ctlcluster: 'postgresql' });
  const b = bin();
  const asRoot = process.getuid?.() === 0;
  const run = (cmd, args) =>
    execFileSync(
      asRoot ? 'runuser' : join(b, cmd),
      asRoot ? ['-u', 'postgres', '--', join(b, cmd), ...args] : args,
      {
        stdio: 'pipe',
      },
    );
  chmodSync(dir, 0o777);
  if (asRoot) execFileSync('chown', ['postgres', dir]);
  const data = join(dir, 'data');
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  const port = await freePort();
  run('pg_ctl', [
    '-D',
    data,
    '-o',
    `-p ${port} -k ${dir} -h 127.0.0.1 -c fsync=off`,
    '-w',
    '-l',
    join(dir, 'log'),
    'start',
  ]);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop: () =>
      spawnSync(asRoot ? 'runuser' : join(b, 'pg_ctl'), [
        ...(asRoot ? ['-u', 'postgres', '--', join(b, 'pg_ctl')] : []),
        '-D',
        data,
        '-m',
        'immediate',
        '-w',
        'stop',
      ]),
  };
}
