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

  it('with a store that has every change of this replica, the store is the truth (issue 32.6)', () => {
    let now = 0;
    const tasks = new OpenTasks(60_000, () => now);
    tasks.opened('a', 't1');
    now = 10;
    // The store read after t1 was written, before another replica saw it finish: counted once.
    tasks.setShared(new Map([['a', 1]]), true, now);
    expect(tasks.count('a')).toBe(1);
    // Another replica saw t1 finish: the store no longer has it, nor does this replica count it.
    now = 20;
    tasks.setShared(new Map(), true, now);
    expect(tasks.count('a')).toBe(0);
    // A task opened here since the last read counts on top of the store (never an under-count).
    now = 30;
    tasks.opened('a', 't2');
    expect(tasks.count('a')).toBe(1);
    // The store cannot be read: the larger of this replica's count and the store's last one.
    tasks.sharedStale();
    tasks.setShared(new Map([['a', 0]]));
    expect(tasks.count('a')).toBe(2);
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
