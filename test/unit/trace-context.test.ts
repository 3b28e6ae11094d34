import { describe, expect, it } from 'vitest';
import { acceptRequestId, newRequestId, nextTraceparent, traceIdOf } from '../../src/data/trace-context.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SHAPE = /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

describe('trace context', () => {
  it.each<[string, string | undefined, 'continued' | 'new', string?]>([
    ['a valid sampled traceparent', `00-${TRACE}-00f067aa0ba902b7-01`, 'continued', '01'],
    ['a valid unsampled one keeps its flags', `00-${TRACE}-00f067aa0ba902b7-00`, 'continued', '00'],
    ['a later version, by its first fields', `01-${TRACE}-00f067aa0ba902b7-01-extra`, 'continued', '01'],
    ['none', undefined, 'new'],
    ['all-zero trace id', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`, 'new'],
    ['all-zero parent id', `00-${TRACE}-${'0'.repeat(16)}-01`, 'new'],
    ['version ff', `ff-${TRACE}-00f067aa0ba902b7-01`, 'new'],
    ['upper case hex', `00-${TRACE.toUpperCase()}-00f067aa0ba902b7-01`, 'new'],
    ['version 00 with trailing data', `00-${TRACE}-00f067aa0ba902b7-01-x`, 'new'],
    ['garbage', 'hello', 'new'],
  ])('%s: %s trace', (_name, incoming, expected, flags) => {
    const next = nextTraceparent(incoming);
    expect(next).toMatch(SHAPE);
    expect(next.slice(36, 52)).not.toBe('00f067aa0ba902b7');
    if (expected === 'continued') expect([traceIdOf(next), next.slice(53)]).toEqual([TRACE, flags]);
    else expect(traceIdOf(next)).not.toBe(TRACE);
  });

  it.each<[string, number | undefined, string | undefined, string]>([
    ['tracing off: a new trace is sampled', undefined, undefined, '01'],
    ['ratio 1: sampled', 1, undefined, '01'],
    ['ratio 0: a new trace is not sampled', 0, undefined, '00'],
    ["ratio 0 still follows a client's sampled trace", 0, `00-${TRACE}-00f067aa0ba902b7-01`, '01'],
    ["ratio 1 still follows a client's unsampled trace", 1, `00-${TRACE}-00f067aa0ba902b7-00`, '00'],
  ])('%s', (_name, ratio, incoming, flags) => {
    expect(nextTraceparent(incoming, ratio).slice(53)).toBe(flags);
  });

  it('a ratio samples about that share of new traces', () => {
    const sampled = Array.from({ length: 4000 }, () => nextTraceparent(undefined, 0.25)).filter((t) =>
      t.endsWith('-01'),
    ).length;
    expect(sampled).toBeGreaterThan(800);
    expect(sampled).toBeLessThan(1200);
  });

  it('new traces and request ids are unique', () => {
    const traces = new Set(Array.from({ length: 5000 }, () => traceIdOf(nextTraceparent(undefined))));
    const ids = new Set(Array.from({ length: 5000 }, () => newRequestId()));
    expect([traces.size, ids.size]).toEqual([5000, 5000]);
  });

  it.each<[string | undefined, boolean]>([
    ['a1b2-c3', true],
    ['req:123@edge/7+x=', true],
    ['', false],
    ['has space', false],
    ['x'.repeat(201), false],
    [undefined, false],
  ])('a proxy request id %j is kept: %s', (value, kept) => {
    expect(acceptRequestId(value)).toBe(kept ? value : undefined);
  });
});
