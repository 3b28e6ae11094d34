import { describe, expect, it } from 'vitest';
import type { NodeSpec } from '../../src/contract/data-settings.js';
import { DEFAULT_EJECTION } from '../../src/pool/content-health.js';
import type { Transition } from '../../src/pool/node-table.js';
import { compareVersions, Pool } from '../../src/pool/pool.js';
import type { UpstreamNode } from '../../src/pool/upstream-node.js';
import { spec } from '../helpers/node-spec.js';

const options = { passiveFailures: 3, requireSameVersion: false, slowStartMs: 0, ejection: DEFAULT_EJECTION };

describe('Connect version order', () => {
  it.each([
    ['2024.10.0', '2025.01.0', -1],
    ['2025.01.0', '2025.01.0', 0],
    ['2025.1.0', '2025.01.0', 0],
    ['2025.01.1', '2025.01.0', 1],
    ['2025.01', '2025.01.0', 0],
    ['2025.10.0', '2025.9.0', 1],
    ['2025.01.0-rc1', '2025.01.0', 1],
  ])('%s vs %s: %d', (a, b, sign) => {
    expect(Math.sign(compareVersions(a, b))).toBe(sign);
  });
});

describe('pool reconciliation', () => {
  it.each<[string, NodeSpec[], string[], string[]]>([
    ['unchanged', [spec('a'), spec('b')], ['a', 'b'], []],
    ['a node added', [spec('a'), spec('b'), spec('c')], ['a', 'b', 'c'], []],
    ['a node removed', [spec('a')], ['a'], ['b']],
    [
      'a node re-addressed is a new node',
      [spec('a'), spec('b', { url: 'http://10.9.9.9:3939' })],
      ['a', 'b'],
      ['b'],
    ],
    ['reordered', [spec('b'), spec('a')], ['b', 'a'], []],
  ])('%s', (_name, next, names, removedNames) => {
    const pool = new Pool([spec('a'), spec('b')], options);
    const a = pool.get('a')!;
    pool.setHealth(a, 'up', 'probe');
    a.stats.record(200, 0.01);
    const membership: string[][] = [];
    pool.on('membership', (removed) => membership.push(removed.map((n) => n.name)));
    const removed = pool.reconcile(next, options);
    expect(pool.nodes.map((n) => n.name)).toEqual(names);
    expect(removed.map((n) => n.name)).toEqual(removedNames);
    expect(membership).toEqual(removedNames.length > 0 || names.length !== 2 ? [removedNames] : []);
    // A kept node keeps its health and counters.
    expect(pool.get('a')).toBe(a);
    expect(a.health).toBe('up');
    expect(a.requests).toBe(1);
    for (const n of pool.nodes) expect(pool.byToken(`token-${n.name}`)).toBe(n);
  });

  it("a reload gives a kept node the generation's spec whole (weight, cookie lines, seed, TLS) and keeps its status", () => {
    const pool = new Pool([spec('a'), spec('b')], options);
    const a = pool.get('a')!;
    pool.setHealth(a, 'up', 'probe');
    const next = spec('a', { weight: 5 });
    pool.reconcile([next, spec('b')], options);
    expect(pool.get('a')).toBe(a);
    expect(a.spec).toBe(next);
    expect([a.weight, a.cookie, a.seed]).toEqual([5, next.cookie, next.seed]);
    expect(a.health).toBe('up');
  });

  it('following settings it already follows changes nothing and emits nothing (the data plane follows them too)', () => {
    const specs = [spec('a'), spec('b', { state: 'draining' })];
    const pool = new Pool(specs, options);
    pool.setState(pool.get('a')!, 'maintenance', 'admin', { origin: 'api', at: 1 });
    const events: string[] = [];
    pool.on('transition', (t) => events.push(`${t.node.name} ${t.to}`));
    pool.on('membership', () => events.push('membership'));
    const before = pool.nodes;
    pool.follow({ nodes: specs, pool: options });
    pool.follow({ nodes: specs, pool: options });
    expect(events).toEqual([]);
    expect(pool.nodes).toEqual(before);
    expect(pool.get('a')!.state).toBe('maintenance');
  });

  it('a re-addressed node keeps its counters; a state written in the YAML applies as a transition', () => {
    const pool = new Pool([spec('a'), spec('b')], options);
    pool.get('b')!.stats.record(200, 0.01);
    const transitions: Transition[] = [];
    pool.on('transition', (t) => transitions.push(t));
    pool.reconcile([spec('a', { state: 'draining' }), spec('b', { url: 'http://10.9.9.9:1' })], options);
    expect(pool.get('b')!.requests).toBe(1);
    expect(pool.get('b')!.url).toBe('http://10.9.9.9:1');
    expect(transitions.map((t) => [t.node.name, t.to, t.cause])).toEqual([['a', 'draining', 'config']]);
  });

  it('passive evidence takes a node down after passiveFailures refusals in a row, and a success resets the count', () => {
    const pool = new Pool([spec('a')], options);
    const a: UpstreamNode = pool.get('a')!;
    pool.setHealth(a, 'up', 'probe');
    pool.reportConnectFailure(a);
    pool.reportConnectFailure(a);
    pool.reportConnected(a);
    pool.reportConnectFailure(a);
    pool.reportConnectFailure(a);
    expect(a.health).toBe('up');
    pool.reportConnectFailure(a);
    expect(a.health).toBe('down');
  });

  it.each<[string, Partial<NodeSpec>]>([
    ['draining', { state: 'draining' }],
    ['in maintenance', { state: 'maintenance' }],
  ])('a keyed client never lands on a node %s', (_name, over) => {
    const pool = new Pool([spec('a', over), spec('b'), spec('c')], options);
    for (const n of pool.nodes) pool.setHealth(n, 'up', 'probe');
    for (let i = 0; i < 200; i++) expect(pool.choose(undefined, [i * 7919, i])!.name).not.toBe('a');
  });

  it('a keyed client never lands on a down node, and its choice holds while the node set holds', () => {
    const pool = new Pool([spec('a'), spec('b'), spec('c')], options);
    for (const n of pool.nodes) pool.setHealth(n, n.name === 'b' ? 'down' : 'up', 'probe');
    for (let i = 0; i < 200; i++) {
      const key: [number, number] = [i * 104729, i * 31];
      const first = pool.choose(undefined, key)!;
      expect(first.name).not.toBe('b');
      // Load changes nothing for a keyed client (unlike least-loaded selection).
      for (let j = 0; j < 5; j++) first.traffic.request();
      expect(pool.choose(undefined, key)).toBe(first);
    }
  });

  it('slow start: a node back from down takes a growing share of new clients, then its full share', () => {
    let now = 1_000_000;
    const pool = new Pool([spec('a'), spec('b')], { ...options, slowStartMs: 10_000 }, () => now);
    const [a, b] = [pool.get('a')!, pool.get('b')!];
    pool.setHealth(a, 'up', 'probe');
    pool.setHealth(b, 'up', 'probe');
    // Up at start (from unknown): no ramp.
    expect(a.ramping(now)).toBe(false);
    pool.setHealth(a, 'down', 'probe');
    pool.setHealth(a, 'up', 'probe');
    const from = now;
    const share = (elapsedMs: number) => {
      now = from + elapsedMs;
      let onA = 0;
      for (let i = 0; i < 2000; i++) if (pool.choose() === a) onA++;
      return onA / 2000;
    };
    // Least-loaded alone would give a (no load either way) every other client; ramping, far fewer.
    expect(share(500)).toBeLessThan(0.1);
    expect(share(5000)).toBeGreaterThan(0.15);
    expect(share(5000)).toBeLessThan(0.35);
    expect(share(10_000)).toBeGreaterThan(0.45);
    expect(a.ramping(now)).toBe(false);
    expect(b.ramping(now)).toBe(false);
  });

  it('slow start under load: a ramping node counts its open work per effective weight (weight x share), as HAProxy leastconn does', () => {
    const { pool, a, b, clock } = rampingA();
    const leases = [a.traffic.request(), ...Array.from({ length: 5 }, () => b.traffic.request())];
    // a: 1 request at share 0.1 is a load of 10; b: 5 at full weight is 5.
    clock.now += 1000;
    expect(a.effectiveWeight(clock.now)).toBeCloseTo(0.1, 4);
    for (let i = 0; i < 20; i++) expect(pool.choose()).toBe(b);
    // Its ramp over, a is the less loaded.
    clock.now += 9000;
    expect(pool.choose()).toBe(a);
    for (const l of leases) l.end();
  });

  it('the slow-start share is a pure function of time (reading it writes nothing)', () => {
    const pool = new Pool([spec('a')], { ...options, slowStartMs: 10_000 });
    const a = pool.get('a')!;
    pool.setHealth(a, 'up', 'probe');
    pool.setState(a, 'maintenance', 'admin');
    pool.setState(a, 'active', 'admin');
    const from = a.rampFrom!;
    const table: Array<[number, number, boolean]> = [
      [0, 0.02, true],
      [2500, 0.25, true],
      [9999, 0.9999, true],
      [10_000, 1, false],
      [60_000, 1, false],
      [5000, 0.5, true],
    ];
    for (const [elapsed, share, ramping] of table) {
      expect(a.rampShare(from + elapsed)).toBeCloseTo(share, 4);
      expect(a.ramping(from + elapsed)).toBe(ramping);
    }
    expect(a.rampFrom).toBe(from);
  });

  it('slow start after maintenance or draining, and for keyed clients in proportion to the share', () => {
    const { pool, a, clock } = rampingA();
    expect(a.rampFrom).toBeDefined();
    clock.now += 2000;
    let onA = 0;
    for (let i = 0; i < 2000; i++) if (pool.choose(undefined, [i * 2654435761, i * 40503]) === a) onA++;
    // Weight 1 x share 0.2 against weight 1: about 1/6 of the keys.
    expect(onA / 2000).toBeGreaterThan(0.08);
    expect(onA / 2000).toBeLessThan(0.28);
  });
});

/** Two nodes up, `a` back from maintenance: in its 10 s slow start from `clock.now`. */
function rampingA() {
  const clock = { now: 1_000_000 };
  const pool = new Pool([spec('a'), spec('b')], { ...options, slowStartMs: 10_000 }, () => clock.now);
  const [a, b] = [pool.get('a')!, pool.get('b')!];
  for (const n of [a, b]) pool.setHealth(n, 'up', 'probe');
  pool.setState(a, 'maintenance', 'admin');
  pool.setState(a, 'active', 'admin');
  return { pool, a, b, clock };
}
