/**
 * `stickylb adopted --config FILE --cookie 'NAME=VALUE; ...'`: which node the configured
 * `affinity.adopt` rules (rule 14) send a client carrying those cookies to, computed from the file
 * alone: the check an admin runs before a cutover with a cookie the outgoing balancer set. Exit 0
 * when an adopted cookie names a node, 1 when none does, 2 on a bad command or configuration.
 */
import { parseArgs } from 'node:util';
import { adoptKey, adoptValues } from './affinity/adopt.js';
import { takeCookie } from './affinity/cookie-header.js';
import { loadConfigFile } from './config/load.js';
import { ConfigError } from './errors.js';

export const ADOPTED_HELP = `Usage: stickylb adopted --config FILE --cookie 'NAME=VALUE; ...'
  which node affinity.adopt sends a client with these cookies (as the old balancer set them) to
`;

/** Runs the command; resolves with the exit code. `out` and `err` receive its lines. */
export async function adoptedCommand(
  argv: string[],
  out: (line: string) => void,
  err: (line: string) => void,
): Promise<number> {
  let values: { config?: string | undefined; cookie?: string | undefined };
  try {
    values = parseArgs({
      args: argv,
      options: { config: { type: 'string', short: 'c' }, cookie: { type: 'string' } },
      strict: true,
    }).values;
  } catch (e) {
    err(`${(e as Error).message}\n${ADOPTED_HELP}`);
    return 2;
  }
  const file = values.config ?? (process.env.STICKYLB_CONFIG || undefined);
  if (file === undefined || values.cookie === undefined) {
    err(ADOPTED_HELP);
    return 2;
  }
  let config: Awaited<ReturnType<typeof loadConfigFile>>;
  try {
    config = await loadConfigFile(file);
  } catch (e) {
    err(e instanceof ConfigError ? e.problems.join('\n') : (e as Error).message);
    return 2;
  }
  const rules = config.affinity.adopt;
  if (rules.length === 0) {
    err(`${file}: affinity.adopt is empty: no other balancer's cookie is read`);
    return 1;
  }
  const nodes = config.upstreams.filter((u) => u.url !== undefined);
  if (nodes.length < config.upstreams.length)
    err('upstreams with dns are left out here: their values follow the addresses they resolve to');
  let found = false;
  for (const rule of rules) {
    const kind = rule.kind as Parameters<typeof adoptKey>[0];
    for (const value of takeCookie(values.cookie, rule.cookie).values) {
      const key = adoptKey(kind, value);
      const node = nodes.find((n) => adoptValues({ ...rule, kind }, n.name, n.url!).includes(key));
      if (node === undefined) {
        out(`${rule.cookie}=${value} (${kind}): names no node; such a client is placed as usual`);
        continue;
      }
      found = true;
      out(`${rule.cookie}=${value} (${kind}): ${node.name} (${node.url}), while it takes new clients`);
    }
  }
  if (!found) err('no adopted cookie in --cookie names a node');
  return found ? 0 : 1;
}
