import { describe, expect, it } from 'vitest';
import { NodeTraffic } from '../../src/pool/node-traffic.js';

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
