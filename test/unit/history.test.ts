import { describe, expect, it } from 'vitest';
import { History } from '../../src/control/admin/history.js';
import type { NodeView } from '../../src/control/admin/node-view.js';

const view = (name: string, requests: number, websockets: number) =>
  ({ name, requests, websockets }) as NodeView;

describe('status page history', () => {
  it('turns request counts into requests per second between samples, and keeps 15 minutes', () => {
    const h = new History();
    h.sample([view('a', 100, 2)], 0);
    h.sample([view('a', 150, 3)], 10_000);
    h.sample([view('a', 150, 0), view('b', 7, 1)], 20_000);
    const { samples } = h.toJSON();
    expect(samples.map((s) => s.nodes)).toEqual([
      { a: { rps: 0, websockets: 2 } },
      { a: { rps: 5, websockets: 3 } },
      { a: { rps: 0, websockets: 0 }, b: { rps: 0, websockets: 1 } },
    ]);
    for (let i = 3; i < 200; i++) h.sample([view('a', 150, 0)], i * 10_000);
    expect(h.toJSON().samples).toHaveLength(90);
  });

  it('lists events newest first, at most 50', () => {
    const h = new History();
    for (let i = 0; i < 60; i++) h.event(`event ${i}`, 'a', i);
    const { events } = h.toJSON();
    expect(events).toHaveLength(50);
    expect(events[0]).toEqual({ t: 59, node: 'a', text: 'event 59' });
    expect(events[49]!.text).toBe('event 10');
  });
});
