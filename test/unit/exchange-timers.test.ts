import { describe, expect, it } from 'vitest';
import { ExchangeTimers, type TimedExchange } from '../../src/data/exchange/exchange-timers.js';
import { ManualClock } from '../helpers/manual-clock.js';

/** An exchange that records what its timers told it; `idleAnswers` are bodyIdle's answers in turn. */
function owner(idleAnswers: boolean[] = []) {
  const calls: string[] = [];
  const ex: TimedExchange = {
    queueExpired: () => calls.push('queue'),
    bodyIdle: () => {
      calls.push('body');
      return idleAnswers.shift() ?? false;
    },
    sendExpired: () => calls.push('send'),
  };
  return { ex, calls };
}

/** Runs `steps` (`queue N`, `stopQueue`, `body N`, `progress`, `stalled N`, `clear`, `+N` to advance). */
function play(timers: ExchangeTimers, clock: ManualClock, steps: readonly string[]): void {
  for (const step of steps) {
    const [verb, arg] = step.split(' ');
    const n = Number(arg ?? 0);
    if (verb!.startsWith('+')) clock.advance(Number(verb!.slice(1)));
    else if (verb === 'queue') timers.queue(n);
    else if (verb === 'stopQueue') timers.stopQueue();
    else if (verb === 'body') timers.body(n);
    else if (verb === 'progress') timers.bodyProgress();
    else if (verb === 'stalled') timers.stalled(n);
    else if (verb === 'clear') timers.clear();
    else throw new Error(`unknown step ${step}`);
  }
}

describe('exchange timers', () => {
  const cases: Array<{ name: string; steps: string[]; calls: string[]; idle?: boolean[] }> = [
    { name: 'queue fires after its delay', steps: ['queue 100', '+99', '+1'], calls: ['queue'] },
    { name: 'queue stopped (connected) never fires', steps: ['queue 100', 'stopQueue', '+500'], calls: [] },
    { name: 'queue 0 is no timer', steps: ['queue 0', '+10000'], calls: [] },
    { name: 'a retry restarts the queue timer', steps: ['queue 100', '+60', 'queue 100', '+60'], calls: [] },
    {
      name: 'body chunks push the body timer back',
      steps: ['body 100', '+90', 'progress', '+90', 'progress', '+90'],
      calls: [],
    },
    { name: 'a silent body fires once when answered', steps: ['body 100', '+1000'], calls: ['body'] },
    {
      name: 'a body waiting in the buffer waits another period, then fires again',
      steps: ['body 100', '+100', '+100', '+1000'],
      calls: ['body', 'body'],
      idle: [true, false],
    },
    {
      name: 'each stall pushes the send timer back',
      steps: ['stalled 100', '+90', 'stalled 100', '+90', 'stalled 100', '+100', '+1000'],
      calls: ['send'],
    },
    { name: 'send 0 is no timer', steps: ['stalled 0', '+10000'], calls: [] },
    {
      name: 'clear stops every timer',
      steps: ['queue 100', 'body 100', 'stalled 100', 'clear', '+1000'],
      calls: [],
    },
  ];
  for (const { name, steps, calls, idle } of cases) {
    it(name, () => {
      const clock = new ManualClock();
      const { ex, calls: seen } = owner(idle);
      play(new ExchangeTimers(ex, clock), clock, steps);
      expect(seen).toEqual(calls);
    });
  }

  it('leaves no timer behind once cleared', () => {
    const clock = new ManualClock();
    const timers = new ExchangeTimers(owner().ex, clock);
    play(timers, clock, ['queue 100', 'body 100', 'stalled 100']);
    expect(clock.pending).toBe(3);
    timers.clear();
    expect(clock.pending).toBe(0);
  });
});
