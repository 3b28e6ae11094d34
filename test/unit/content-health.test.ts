/** Rule 13's decisions, pure: outcomes per (content, node) on an injected time. */
import { describe, expect, it } from 'vitest';
import { ContentHealth } from '../../src/pool/content-health.js';

const policy = { failures: 3, baseMs: 30_000, maxMs: 600_000 };
const fail = (h: ContentHealth, node: string, now: number, others = ['b']) =>
  h.record('app', node, false, now, others);
const succeed = (h: ContentHealth, node: string, now: number, others = ['b']) =>
  h.record('app', node, true, now, others);

describe('content health (rule 13)', () => {
  it('three failures in a row eject the node for the app only; a success between resets the count', () => {
    const h = new ContentHealth(policy);
    fail(h, 'a', 0);
    fail(h, 'a', 1);
    succeed(h, 'a', 2);
    fail(h, 'a', 3);
    fail(h, 'a', 4);
    expect(h.ejected('app', 'a', 5)).toBe(false);
    expect(fail(h, 'a', 5)).toEqual({
      kind: 'ejected',
      content: 'app',
      node: 'a',
      untilMs: 30_005,
      ejections: 1,
    });
    expect(h.ejected('app', 'a', 6)).toBe(true);
    expect(h.ejected('other', 'a', 6)).toBe(false);
    expect(h.ejected('app', 'b', 6)).toBe(false);
  });

  it.each<[string, number[]]>([
    ['the n-th ejection in a row lasts n times the base', [30_000, 60_000, 90_000]],
  ])(
    '%s, then one trial session; its failure ejects again at once, its success ends it',
    (_name, lengths) => {
      const h = new ContentHealth(policy);
      let now = 0;
      for (let i = 0; i < 3; i++) fail(h, 'a', now++);
      let until = now - 1 + lengths[0]!;
      for (const length of lengths.slice(1)) {
        now = until;
        expect(h.ejected('app', 'a', now)).toBe(false);
        h.placed('app', 'a', now);
        // One trial at a time: the node is out of the order again while it runs.
        expect(h.ejected('app', 'a', now)).toBe(true);
        const e = fail(h, 'a', now);
        expect(e).toMatchObject({ kind: 'ejected', untilMs: now + length });
        until = now + length;
      }
      now = until;
      h.placed('app', 'a', now);
      expect(succeed(h, 'a', now)).toEqual({ kind: 'recovered', content: 'app', node: 'a' });
      expect(h.ejected('app', 'a', now)).toBe(false);
      expect(h.failing('a')).toEqual([]);
    },
  );

  it('ejection time is capped at maxMs', () => {
    const h = new ContentHealth({ failures: 1, baseMs: 400_000, maxMs: 600_000 });
    expect(h.record('app', 'a', false, 0, ['b'])).toMatchObject({ untilMs: 400_000 });
    h.placed('app', 'a', 400_000);
    expect(h.record('app', 'a', false, 400_000, ['b'])).toMatchObject({ untilMs: 1_000_000, ejections: 2 });
  });

  it('a trial that never reports frees the trial after 30 s', () => {
    const h = new ContentHealth(policy);
    for (let i = 0; i < 3; i++) fail(h, 'a', 0);
    h.placed('app', 'a', 30_000);
    expect(h.ejected('app', 'a', 59_999)).toBe(true);
    expect(h.ejected('app', 'a', 60_000)).toBe(false);
  });

  it('never from every node: with the others ejected or failing, the app is at fault', () => {
    const h = new ContentHealth(policy);
    for (let i = 0; i < 3; i++) fail(h, 'a', i, ['b']);
    expect(h.ejected('app', 'a', 10)).toBe(true);
    for (let i = 0; i < 5; i++) expect(fail(h, 'b', 10 + i, ['a'])).toBeUndefined();
    expect(h.ejected('app', 'b', 20)).toBe(false);
  });

  it('failing as often elsewhere is not one node’s fault', () => {
    const h = new ContentHealth(policy);
    // b: 10 outcomes, half failed (bad input reaching every node).
    for (let i = 0; i < 10; i++) h.record('app', 'b', i % 2 === 0, i, ['a']);
    // a fails 3 in a row: no worse than b, nothing ejected.
    for (let i = 0; i < 3; i++) expect(fail(h, 'a', 20 + i)).toBeUndefined();
    expect(h.ejected('app', 'a', 30)).toBe(false);
  });

  it('failures: 0 records nothing', () => {
    const h = new ContentHealth({ ...policy, failures: 0 });
    for (let i = 0; i < 10; i++) fail(h, 'a', i);
    expect(h.troubled('app')).toBe(false);
  });

  it('shared ejections (a worker copying its primary) keep the node out until their time', () => {
    const h = new ContentHealth(policy);
    h.setShared([{ content: 'app', node: 'a', until: 1000, ejections: 1 }]);
    expect([h.troubled('app'), h.ejected('app', 'a', 999), h.ejected('app', 'a', 1000)]).toEqual([
      true,
      true,
      false,
    ]);
    expect(h.failing('a')).toEqual([
      { content: 'app', failures: 0, ejections: 1, since: 1000, ejectedUntil: 1000 },
    ]);
  });
});
