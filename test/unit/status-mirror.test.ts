import { describe, expect, it } from 'vitest';
import { DEFAULT_EJECTION } from '../../src/pool/content-health.js';
import type { Transition } from '../../src/pool/node-table.js';
import { Pool } from '../../src/pool/pool.js';
import { StatusMirror } from '../../src/pool/status-mirror.js';
import { statusRecordOf } from '../../src/pool/upstream-node.js';
import { spec } from '../helpers/node-spec.js';

const options = {
  passiveFailures: 2,
  requireSameVersion: true,
  slowStartMs: 10_000,
  ejection: DEFAULT_EJECTION,
};

/** A primary's pool and a worker's mirror of it, joined as the relay joins them (records, evidence). */
function pair() {
  let now = 1_000_000;
  const clock = () => now;
  const pool = new Pool([spec('a'), spec('b')], options, clock);
  const sent: string[] = [];
  const mirror = new StatusMirror(
    { nodes: [spec('a'), spec('b')], pool: options },
    {
      connectFailure: (name) => {
        sent.push(`failure ${name}`);
        pool.reportConnectFailure(pool.get(name)!);
      },
      connected: (name) => {
        sent.push(`connected ${name}`);
        pool.reportConnected(pool.get(name)!);
      },
      contentOutcome: (name, content, ok) => {
        sent.push(`${ok ? 'success' : 'failure'} ${content} ${name}`);
        pool.reportContentOutcome(pool.get(name)!, content, ok);
      },
    },
    clock,
  );
  // The relay: every transition and version change sends records; JSON as over IPC.
  const relay = (records: unknown) => mirror.apply(JSON.parse(JSON.stringify(records)));
  pool.on('transition', (t) => relay([statusRecordOf(t.node)]));
  pool.on('versions', () => relay(pool.nodes.map(statusRecordOf)));
  const seen: string[] = [];
  mirror.on('transition', (t: Transition) =>
    seen.push(`${t.node.name} ${t.kind} ${t.from}->${t.to} ${t.cause}`),
  );
  return { pool, mirror, sent, seen, advance: (ms: number) => (now += ms), clock };
}

describe('a worker status table (StatusMirror)', () => {
  it('copies the pool’s records and emits their transitions, state before health, cause primary', () => {
    const { pool, mirror, seen } = pair();
    pool.setHealth(pool.get('a')!, 'up', 'probe');
    pool.setState(pool.get('b')!, 'draining', 'admin');
    pool.setHealth(pool.get('a')!, 'down', 'probe');
    expect(seen).toEqual([
      'a health unknown->up primary',
      'b state active->draining primary',
      'a health up->down primary',
    ]);
    expect(mirror.get('a')!.health).toBe('down');
    expect(mirror.get('b')!.state).toBe('draining');
    // Two records at once, both fields changed: state first.
    mirror.apply([{ ...statusRecordOf(pool.get('a')!), state: 'maintenance', health: 'up' }]);
    expect(seen.slice(-2)).toEqual(['a state active->maintenance primary', 'a health down->up primary']);
  });

  it('takes the slow start from the pool, so worker and primary give a ramping node the same share', () => {
    const { pool, mirror, advance, clock } = pair();
    pool.setHealth(pool.get('a')!, 'up', 'probe');
    pool.setHealth(pool.get('a')!, 'down', 'probe');
    advance(1_000);
    pool.setHealth(pool.get('a')!, 'up', 'probe');
    advance(2_500);
    const [p, m] = [pool.get('a')!, mirror.get('a')!];
    expect(m.ramping(clock())).toBe(true);
    expect(m.rampShare(clock())).toBe(p.rampShare(clock()));
    expect(m.rampShare(clock())).toBeCloseTo(0.25);
  });

  it('computes nothing of its own: outdated comes from the pool', () => {
    const { pool, mirror } = pair();
    pool.setVersion(pool.get('a')!, '2025.01.0');
    pool.setVersion(pool.get('b')!, '2025.02.0');
    expect([mirror.get('a')!.outdated, mirror.get('b')!.outdated]).toEqual([true, false]);
    expect(mirror.get('a')!.version).toBe('2025.01.0');
  });

  it('sends passive evidence to the pool, which decides; a success is sent only after a failure', () => {
    const { pool, mirror, sent, seen } = pair();
    pool.setHealth(pool.get('a')!, 'up', 'probe');
    const a = mirror.get('a')!;
    mirror.reportConnected(a);
    expect(sent).toEqual([]);
    mirror.reportConnectFailure(a);
    mirror.reportConnected(a);
    mirror.reportConnected(a);
    expect(sent).toEqual(['failure a', 'connected a']);
    expect(pool.get('a')!.connectFailures).toBe(0);
    // passiveFailures (2) in a row: the pool takes the node down and the mirror hears it.
    mirror.reportConnectFailure(a);
    mirror.reportConnectFailure(a);
    expect(pool.get('a')!.health).toBe('down');
    expect(a.health).toBe('down');
    expect(seen.at(-1)).toBe('a health up->down primary');
  });

  it('sends no evidence while passiveFailures is 0 (the pool would ignore it)', () => {
    const { mirror, sent } = pair();
    mirror.follow({ nodes: [spec('a'), spec('b')], pool: { ...options, passiveFailures: 0 } });
    mirror.reportConnectFailure(mirror.get('a')!);
    expect(sent).toEqual([]);
  });

  it('takes membership from the settings; a record of a node it does not have is ignored', () => {
    const { mirror } = pair();
    const removed: string[] = [];
    mirror.on('membership', (gone) => removed.push(...gone.map((n) => n.name)));
    mirror.reconcile([spec('b'), spec('c')]);
    expect(mirror.nodes.map((n) => n.name)).toEqual(['b', 'c']);
    expect(removed).toEqual(['a']);
    mirror.apply([
      {
        name: 'a',
        health: 'up',
        state: 'active',
        since: 0,
        version: undefined,
        outdated: false,
        rampFrom: undefined,
        rampMs: 0,
      },
    ]);
    expect(mirror.get('a')).toBeUndefined();
    // A new node routes as unknown until its record comes.
    expect(mirror.get('c')!.health).toBe('unknown');
  });
});
