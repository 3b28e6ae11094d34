import { describe, expect, it } from 'vitest';
import { NodeTraffic, PLACED_GRACE_MS } from '../../src/pool/node-traffic.js';

describe('node traffic: one owner, leases released once', () => {
  it.each([
    [
      'a request ended twice counts once',
      (t: NodeTraffic) => {
        const l = t.request();
        l.end();
        l.end();
      },
      { inFlight: 0, websockets: 0, sessions: [] },
    ],
    [
      'two requests, one ended twice',
      (t: NodeTraffic) => {
        const a = t.request();
        t.request();
        a.end();
        a.end();
      },
      { inFlight: 1, websockets: 0, sessions: [] },
    ],
    [
      'a tunnel with a content opens a session; its end closes it',
      (t: NodeTraffic) => {
        t.tunnel('app');
        const b = t.tunnel('app');
        b.end();
        b.end();
      },
      { inFlight: 0, websockets: 1, sessions: [['app', 1]] },
    ],
    [
      'the last session of a content takes the content away',
      (t: NodeTraffic) => {
        const a = t.tunnel('app');
        t.tunnel(undefined);
        a.end();
        a.end();
      },
      { inFlight: 0, websockets: 1, sessions: [] },
    ],
  ] as const)('%s', (_name, steps, want) => {
    const t = new NodeTraffic();
    steps(t);
    expect({ inFlight: t.inFlight, websockets: t.websockets, sessions: [...t.contentSessions] }).toEqual(
      want,
    );
  });

  it('no count goes below zero, whatever order leases end in', () => {
    const t = new NodeTraffic();
    const leases = [t.request(), t.tunnel('x'), t.request(), t.tunnel(undefined)];
    for (const l of [...leases, ...leases.reverse()]) l.end();
    expect([t.inFlight, t.websockets, t.contentSessions.size]).toEqual([0, 0, 0]);
  });
});

describe('placed sessions (issue 32.7)', () => {
  it('count from the page until their WebSocket opens, or the grace passes', () => {
    const t = new NodeTraffic();
    t.placed('app', 0);
    t.placed('app', 100);
    t.placed('other', 200);
    expect(t.placedSessions(300)).toBe(3);
    // The WebSocket of the oldest session of app opens: it counts as that WebSocket now.
    const ws = t.tunnel('app');
    expect([t.placedSessions(300), t.websockets]).toEqual([2, 1]);
    // A WebSocket of a content with no placed session takes none.
    t.tunnel('third');
    expect(t.placedSessions(300)).toBe(2);
    // The grace passes for the second app session, then for other's.
    expect(t.placedSessions(100 + PLACED_GRACE_MS)).toBe(1);
    expect(t.placedSessions(200 + PLACED_GRACE_MS)).toBe(0);
    // A late WebSocket of an expired placement takes nothing away.
    t.tunnel('other');
    expect(t.placedSessions(200 + PLACED_GRACE_MS)).toBe(0);
    ws.end();
    expect(t.websockets).toBe(2);
  });

  it('a flood of page loads is bounded, and expires in order', () => {
    const t = new NodeTraffic();
    for (let i = 0; i < 60_000; i++) t.placed(`c${i % 7}`, i / 100);
    expect(t.placedSessions(600)).toBe(50_000);
    expect(t.placedSessions(PLACED_GRACE_MS + 600)).toBe(0);
  });
});
