/** The per-session HTTP/2 budgets (http2-budget.ts): fixed windows, one abuse report per window. */
import { describe, expect, it } from 'vitest';
import { type BudgetedFrame, HTTP2_LIMITS, SessionBudget } from '../../src/data/http2-budget.js';

const W = HTTP2_LIMITS.windowMs;

describe('SessionBudget', () => {
  it.each<[BudgetedFrame, string]>([
    ['resets', 'rapid_reset'],
    ['pings', 'ping_flood'],
    ['settings', 'settings_flood'],
  ])('%s: the limit is allowed, the next one is %s, reported once', (frame, abuse) => {
    const budget = new SessionBudget(0);
    const limit = HTTP2_LIMITS[frame];
    for (let i = 0; i < limit; i++) expect(budget.count(frame, i)).toBeUndefined();
    expect(budget.count(frame, limit)).toBe(abuse);
    expect(budget.count(frame, limit + 1)).toBeUndefined();
  });

  it.each([
    ['a new window starts from zero', [W - 1, W], [undefined, undefined]],
    ['the same window keeps counting', [1, W - 1], [undefined, 'rapid_reset']],
  ] as const)('%s', (_name, [first, second], expected) => {
    const budget = new SessionBudget(0);
    const results: Array<string | undefined> = [];
    for (const at of [first, second]) {
      let last: string | undefined;
      for (let i = 0; i < Math.ceil(HTTP2_LIMITS.resets / 2) + 1; i++)
        last = budget.count('resets', at) ?? last;
      results.push(last);
    }
    expect(results).toEqual(expected);
  });

  it('kinds are counted apart', () => {
    const budget = new SessionBudget(0);
    for (let i = 0; i < HTTP2_LIMITS.pings; i++) budget.count('pings', 0);
    expect(budget.count('settings', 0)).toBeUndefined();
    expect(budget.count('resets', 0)).toBeUndefined();
    expect(budget.count('pings', 0)).toBe('ping_flood');
  });
});
