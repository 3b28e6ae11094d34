import { describe, expect, it } from 'vitest';
import { SessionIdle } from '../../src/data/http2-idle.js';
import { ManualClock } from '../helpers/manual-clock.js';

const IDLE = 5_000;

function watch(idleMs = IDLE) {
  const clock = new ManualClock();
  let idle = 0;
  const w = new SessionIdle(clock, idleMs, () => idle++);
  return { clock, w, idled: () => idle };
}

describe('HTTP/2 session idle watch on a manual clock', () => {
  it('a session that never opens a stream is idle after idleMs, not before', () => {
    const { clock, idled } = watch();
    clock.advance(IDLE - 1);
    expect(idled()).toBe(0);
    clock.advance(1);
    expect(idled()).toBe(1);
    expect(clock.pending).toBe(0);
  });

  it('an open stream keeps it from idling however long it lasts (a quiet WebSocket)', () => {
    const { clock, w, idled } = watch();
    clock.advance(1_000);
    w.opened();
    clock.advance(10 * IDLE);
    expect(idled()).toBe(0);
    w.closed();
    clock.advance(IDLE - 1);
    expect(idled()).toBe(0);
    clock.advance(1);
    expect(idled()).toBe(1);
  });

  it('the idle time counts from the last stream closing', () => {
    const { clock, w, idled } = watch();
    w.opened();
    w.opened();
    clock.advance(2_000);
    w.closed();
    clock.advance(4_000);
    w.closed();
    clock.advance(IDLE - 1);
    expect(idled()).toBe(0);
    clock.advance(1);
    expect(idled()).toBe(1);
  });

  it('streams opening and closing within the window never idle it; one timer only', () => {
    const { clock, w, idled } = watch();
    for (let i = 0; i < 20; i++) {
      w.opened();
      clock.advance(IDLE / 2);
      w.closed();
      clock.advance(IDLE / 2 - 1);
      expect(clock.pending).toBe(1);
    }
    expect(idled()).toBe(0);
  });

  it('stop ends the watch; idleMs 0 watches nothing', () => {
    const a = watch();
    a.w.stop();
    a.clock.advance(10 * IDLE);
    expect(a.idled()).toBe(0);
    const b = watch(0);
    expect(b.clock.pending).toBe(0);
    b.clock.advance(10 * IDLE);
    expect(b.idled()).toBe(0);
  });
});
