/** Rule 9's lookup bounds (issue 22.5): which polls may start one, and the per-replica budget. */
import { describe, expect, it } from 'vitest';
import { isTaskPoll, TaskLookupBudget } from '../../src/data/http/task-lookup.js';

describe('isTaskPoll', () => {
  it.each<[string, boolean]>([
    ['/__api__/v1/tasks/jXhOhdm5OOSkGhJw', true],
    ['/__api__/v1/tasks/jXhOhdm5OOSkGhJw?wait=1&first=0', true],
    ['/__api__/tasks/jXhOhdm5OOSkGhJw?first_status=0', true],
    ['/__api__/v1/tasks/short', false],
    ['/__api__/v1/tasks/no-such-task', false],
    ['/__api__/v1/tasks/../../etc/passwd', false],
    [`/__api__/v1/tasks/${'a'.repeat(33)}`, false],
    ['/__api__/v1/tasks/jXhOhdm5OOSkGhJw/extra', false],
    ['/__api__/v1/content/jXhOhdm5OOSkGhJw', false],
    ['/tasks/jXhOhdm5OOSkGhJw', false],
  ])('%s -> %s', (path, expected) => {
    expect(isTaskPoll(path)).toBe(expected);
  });
});

describe('TaskLookupBudget', () => {
  it('allows a burst, refuses beyond it, and refills at its rate', () => {
    let now = 0;
    const budget = new TaskLookupBudget(5, 10, () => now);
    const takes = (n: number) => Array.from({ length: n }, () => budget.take()).filter(Boolean).length;
    expect(takes(8)).toBe(5);
    now += 100; // 10 per second: one more after 100 ms
    expect(takes(3)).toBe(1);
    now += 10_000; // never more than the burst, however long it rested
    expect(takes(10)).toBe(5);
  });
});
