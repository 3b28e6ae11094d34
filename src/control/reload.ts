/**
 * One configuration reload (SIGHUP or POST /api/reload): read and validate the file, apply it, count
 * and log the outcome. An invalid file leaves the running configuration untouched.
 */
import type { Counter } from 'prom-client';
import type { Config } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ReloadOutcome } from './admin/admin-server.js';

/** Loads with `load`, applies with `apply` (which may throw ConfigError before changing anything). */
export async function reloadConfig(
  load: (() => Promise<Config>) | undefined,
  apply: (next: Config) => void,
  counter: Counter<'result'>,
  log: Logger,
): Promise<ReloadOutcome> {
  if (load === undefined) return { ok: false, problems: ['no configuration file to reload'] };
  try {
    const next = await load();
    apply(next);
    counter.inc({ result: 'success' });
    log.info({ nodes: next.upstreams.map((u) => u.name) }, 'configuration reloaded');
    return { ok: true };
  } catch (err) {
    counter.inc({ result: 'failure' });
    const problems = err instanceof ConfigError ? err.problems : [String(err)];
    log.error({ problems }, 'configuration reload rejected; keeping the running configuration');
    return { ok: false, problems };
  }
}
