import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { HealthChecker } from '../../src/control/health/health-checker.js';
import type { ProbeResult } from '../../src/control/health/probe.js';
import { createLogger } from '../../src/logger.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { Pool } from '../../src/pool/pool.js';
import type { UpstreamNode } from '../../src/pool/upstream-node.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { spec } from '../helpers/node-spec.js';

const INTERVAL = 1_000;
const options = {
  path: '/__ping__',
  timeoutMs: 500,
  expectStatus: [200],
  host: undefined,
  intervalMs: INTERVAL,
  healthyThreshold: 2,
  unhealthyThreshold: 3,
  versionCheckIntervalMs: 0,
  clockSkewWarningMs: 0,
};

/** Lets the promises a fired timer started settle (a macrotask: every microtask before it has run). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * A checker on a manual clock whose probes answer from `answers` (per node: true ok, false refused,
 * 'hang' a probe that has not answered yet), with no jitter.
 */
function checker(names: string[], jitter = 0) {
  const clock = new ManualClock();
  const pool = new Pool(
    names.map((n) => spec(n)),
    { passiveFailures: 0, requireSameVersion: false, slowStartMs: 0 },
  );
  const answers = new Map<string, boolean | 'hang' | 402>(names.map((n) => [n, true]));
  const probes: string[] = [];
  const hung: Array<(r: ProbeResult) => void> = [];
  const probe = (_agent: unknown, node: UpstreamNode): Promise<ProbeResult> => {
    probes.push(node.name);
    const answer = answers.get(node.name);
    if (answer === 'hang') return new Promise((resolve) => hung.push(resolve));
    if (answer === 402) return Promise.resolve({ ok: false, status: 402, latencyMs: 1 });
    return Promise.resolve(
      answer ? { ok: true, status: 200, latencyMs: 1 } : { ok: false, error: 'ECONNREFUSED', latencyMs: 1 },
    );
  };
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line));
      cb();
    },
  });
  const hc = new HealthChecker(pool, options, createLogger('info', sink), new Metrics(), {
    clock,
    probe,
    random: () => jitter,
  });
  /** Moves the clock by `ms` and lets the rounds it fired finish. */
  const advance = async (ms: number) => {
    clock.advance(ms);
    await settle();
  };
  return { clock, pool, hc, answers, probes, hung, advance, logs };
}

describe('health checker on a manual clock', () => {
  it('an expired licence is logged when the node leaves rotation for it, once, not on every 402 (issue 32.14)', async () => {
    const { pool, hc, answers, advance, logs } = checker(['a']);
    const licence = () => logs.filter((l) => l.level === 50 && l.upstream === 'a');
    hc.start();
    await advance(0);
    // A 402/200 flap never reaches unhealthyThreshold: the node stays in rotation, nothing said.
    for (let i = 0; i < 10; i++) {
      answers.set('a', i % 2 === 0 ? 402 : true);
      await advance(INTERVAL);
    }
    expect(pool.get('a')!.health).toBe('up');
    expect(licence()).toEqual([]);
    // 402 three times: out of rotation, said once however long it lasts.
    answers.set('a', 402);
    for (let i = 0; i < 6; i++) await advance(INTERVAL);
    expect(pool.get('a')!.health).toBe('down');
    expect(licence()).toHaveLength(1);
    // A single 200 while down (not yet up) and 402 again: the same outage, not said again.
    answers.set('a', true);
    await advance(INTERVAL);
    answers.set('a', 402);
    await advance(INTERVAL);
    expect(licence()).toHaveLength(1);
    // Renewed: up again; a later expiry is a new transition, said again.
    answers.set('a', true);
    for (let i = 0; i < 3; i++) await advance(INTERVAL);
    expect(pool.get('a')!.health).toBe('up');
    answers.set('a', 402);
    for (let i = 0; i < 3; i++) await advance(INTERVAL);
    expect(licence()).toHaveLength(2);
  });

  it('probes at start, then once an interval; unknown -> up on one success, down after unhealthyThreshold', async () => {
    const { pool, hc, answers, probes, advance } = checker(['a']);
    hc.start();
    await advance(0);
    expect(probes).toEqual(['a']);
    expect(pool.get('a')!.health).toBe('up');
    await advance(INTERVAL - 1);
    expect(probes).toHaveLength(1);
    await advance(1);
    expect(probes).toHaveLength(2);
    answers.set('a', false);
    await advance(INTERVAL);
    await advance(INTERVAL);
    expect(pool.get('a')!.health).toBe('up');
    await advance(INTERVAL);
    expect(pool.get('a')!.health).toBe('down');
    // Back: healthyThreshold (2) successes in a row.
    answers.set('a', true);
    await advance(INTERVAL);
    expect(pool.get('a')!.health).toBe('down');
    await advance(INTERVAL);
    expect(pool.get('a')!.health).toBe('up');
    await hc.stop();
  });

  it("never overlaps a node's probes: the next round is timed from the end of the last", async () => {
    const { hc, answers, probes, hung, advance } = checker(['a']);
    answers.set('a', 'hang');
    hc.start();
    await advance(10 * INTERVAL);
    expect(probes).toEqual(['a']);
    answers.set('a', true);
    hung[0]!({ ok: true, status: 200, latencyMs: 1 });
    await settle();
    await advance(INTERVAL - 1);
    expect(probes).toHaveLength(1);
    await advance(1);
    expect(probes).toHaveLength(2);
    await hc.stop();
  });

  it('adds up to 10% jitter to the interval', async () => {
    const { hc, probes, advance } = checker(['a'], 0.5);
    hc.start();
    await advance(0);
    await advance(INTERVAL * 1.05 - 1);
    expect(probes).toHaveLength(1);
    await advance(1);
    expect(probes).toHaveLength(2);
    await hc.stop();
  });

  it('a node that leaves the pool takes its timer with it; a new one is probed at once; stop clears every timer', async () => {
    const { clock, pool, hc, probes, advance } = checker(['a', 'b']);
    hc.start();
    await advance(0);
    expect(clock.pending).toBe(2);
    pool.reconcile([spec('b'), spec('c')], { passiveFailures: 0, requireSameVersion: false, slowStartMs: 0 });
    await advance(0);
    expect(probes.slice(2)).toEqual(['c']);
    expect(clock.pending).toBe(2);
    await advance(INTERVAL);
    expect(probes.slice(3).sort()).toEqual(['b', 'c']);
    await hc.stop();
    expect(clock.pending).toBe(0);
  });

  it('passive evidence or an operator moving a node restarts the probe count', async () => {
    const { pool, hc, answers, advance } = checker(['a']);
    hc.start();
    await advance(0);
    answers.set('a', false);
    await advance(INTERVAL);
    await advance(INTERVAL);
    // Two failures of three; the node goes down by passive evidence and comes back by an operator's hand.
    pool.setHealth(pool.get('a')!, 'down', 'passive');
    pool.setHealth(pool.get('a')!, 'up', 'admin');
    await advance(INTERVAL);
    await advance(INTERVAL);
    expect(pool.get('a')!.health).toBe('up');
    await advance(INTERVAL);
    expect(pool.get('a')!.health).toBe('down');
    await hc.stop();
  });
});
