/**
 * `stickylb drain NODE --admin URL [--token T] [--wait] [--timeout 10m]`: drains a node through a
 * replica's admin API and, with `--wait`, waits until the node holds no request or WebSocket (summed
 * over that replica's workers): what an Ansible play or a Kubernetes preStop hook needs before it
 * stops a Connect node. Exit 0 when drained (and, with --wait, safe to stop), 1 on an error, 3 at
 * the deadline. With shared state (`sharedState.url`) the drain reaches every replica; without it,
 * run it against each replica.
 */
import { parseArgs } from 'node:util';
import { parseDuration } from './config/units.js';

/** Usage of the drain command. */
export const DRAIN_HELP = `Usage: stickylb drain NODE [--admin URL] [--token TOKEN] [--wait] [--timeout 10m] [--action drain|maintenance|activate]
  --admin URL     the replica's admin server (default http://127.0.0.1:9090)
  --token TOKEN   admin.token (default $STICKYLB_ADMIN_TOKEN)
  --wait          wait until the node is safe to stop (no request, WebSocket or deploy task; exit 3 at the deadline)
  --timeout D     how long to wait (default 10m)
`;

interface NodeState {
  state: string;
  inFlight: number;
  websockets: number;
  safeToStop: boolean;
  waitingFor?: string[];
}

/** Runs the command; resolves with the exit code. `out` and `err` receive its lines. */
export async function drainCommand(
  argv: string[],
  out: (line: string) => void,
  err: (line: string) => void,
): Promise<number> {
  let args: ReturnType<typeof parse>;
  try {
    args = parse(argv);
  } catch (e) {
    err(`${(e as Error).message}\n${DRAIN_HELP}`);
    return 2;
  }
  const node = args.positionals[0];
  const timeoutMs = parseDuration(args.values.timeout ?? '10m');
  const action = args.values.action ?? 'drain';
  if (
    node === undefined ||
    typeof timeoutMs === 'string' ||
    !['drain', 'maintenance', 'activate'].includes(action)
  ) {
    err(typeof timeoutMs === 'string' ? `--timeout: ${timeoutMs}` : DRAIN_HELP);
    return 2;
  }
  const admin = (args.values.admin ?? 'http://127.0.0.1:9090').replace(/\/$/, '');
  const token = args.values.token ?? process.env.STICKYLB_ADMIN_TOKEN;
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const url = `${admin}/api/nodes/${encodeURIComponent(node)}`;
  // --timeout bounds the whole command, an admin API that stops answering included (issue 32.12):
  // every request has what is left of it.
  const deadline = Date.now() + timeoutMs;
  const left = () => AbortSignal.timeout(Math.max(deadline - Date.now(), 1));
  let polling = false;
  try {
    const res = await fetch(`${url}/${action}`, { method: 'POST', headers, signal: left() });
    const body = (await res.json()) as { error?: string };
    if (!res.ok) {
      err(`stickylb drain: ${res.status} ${body.error ?? ''}`.trim());
      return 1;
    }
    out(`${node}: ${action === 'drain' ? 'draining' : action === 'activate' ? 'active' : action}`);
    if (!args.values.wait || action === 'activate') return 0;
    polling = true;
    let said = '';
    for (;;) {
      const view = (await (await fetch(url, { headers, signal: left() })).json()) as NodeState;
      if (view.safeToStop) {
        out(`${node}: safe to stop (no request, WebSocket or deploy task left)`);
        return 0;
      }
      const waiting = (
        view.waitingFor ?? [`${view.inFlight} requests`, `${view.websockets} WebSockets`]
      ).join(', ');
      if (waiting !== said && Date.now() < deadline) out(`${node}: waiting for ${waiting}`);
      said = waiting;
      await new Promise((r) => setTimeout(r, Math.min(1000, Math.max(deadline - Date.now(), 0))));
      if (Date.now() >= deadline) {
        err(`${node}: still holds ${said} at the deadline`);
        return 3;
      }
    }
  } catch (e) {
    const late = Date.now() >= deadline;
    if (late && polling) {
      err(`${node}: the admin API at ${admin} did not answer before the deadline`);
      return 3;
    }
    const why = late ? `no answer within ${args.values.timeout ?? '10m'}` : (e as Error).message;
    err(`stickylb drain: cannot reach ${admin} (${why})`);
    return 1;
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    options: {
      admin: { type: 'string' },
      token: { type: 'string' },
      wait: { type: 'boolean' },
      timeout: { type: 'string' },
      action: { type: 'string' },
    },
    strict: true,
    allowPositionals: true,
  });
}
