/** The open deploy tasks per node (issue 24), on an injected clock. */
import { describe, expect, it } from 'vitest';
import { OpenTasks, type TaskChange } from '../../src/pool/open-tasks.js';

describe('OpenTasks', () => {
  it('opens on a deploy, stays open while polled unfinished, closes when a poll reads it finished', () => {
    let now = 0;
    const tasks = new OpenTasks(1000, () => now);
    const changes: TaskChange[] = [];
    tasks.onChange = (c) => changes.push(c);
    tasks.opened('a', 't1');
    tasks.opened('a', 't2');
    tasks.opened('b', 't3');
    expect([tasks.count('a'), tasks.count('b'), tasks.count('c')]).toEqual([2, 1, 0]);
    now = 900;
    tasks.polled('t1', false);
    now = 1500; // t2 went unpolled for longer than the timeout; t1 was polled at 900
    expect(tasks.count('a')).toBe(1);
    tasks.polled('t1', true);
    expect(tasks.count('a')).toBe(0);
    tasks.polled('unknown', true); // another replica's task: passed on, nothing here
    expect(changes.map((c) => c.kind)).toEqual(['opened', 'opened', 'opened', 'polled', 'polled', 'polled']);
  });

  it("counts the fleet's tasks when the shared store knows more", () => {
    const tasks = new OpenTasks(1000, () => 0);
    tasks.opened('a', 't1');
    tasks.setShared(new Map([['a', 3]]));
    expect(tasks.count('a')).toBe(3);
    tasks.setShared(new Map());
    expect(tasks.count('a')).toBe(1);
  });
});
