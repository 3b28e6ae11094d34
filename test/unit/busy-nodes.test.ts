import { describe, expect, it } from 'vitest';
import type { NodeCounters } from '../../src/contract/messages.js';
import { busyNodes } from '../../src/modes/busy-nodes.js';

const n = (name: string, inFlight = 0, websockets = 0): NodeCounters => ({
  name,
  inFlight,
  websockets,
  placed: 0,
  requests: 0,
  contents: [],
});

describe('busyNodes', () => {
  const cases: Array<{
    what: string;
    previous: string[];
    asked: number;
    answers: NodeCounters[][];
    busy: string[];
  }> = [
    { what: 'nothing asked, nothing known', previous: [], asked: 0, answers: [], busy: [] },
    {
      what: 'a request in flight in one worker',
      previous: [],
      asked: 2,
      answers: [
        [n('a', 1), n('b')],
        [n('a'), n('b')],
      ],
      busy: ['a'],
    },
    {
      what: 'a WebSocket in another worker',
      previous: [],
      asked: 2,
      answers: [
        [n('a'), n('b')],
        [n('a'), n('b', 0, 1)],
      ],
      busy: ['b'],
    },
    {
      what: 'every worker answered idle: what was known busy is forgotten',
      previous: ['a', 'b'],
      asked: 2,
      answers: [
        [n('a'), n('b')],
        [n('a'), n('b')],
      ],
      busy: [],
    },
    {
      what: 'one worker did not answer: what was known busy stays busy',
      previous: ['a'],
      asked: 2,
      answers: [[n('a'), n('b')]],
      busy: ['a'],
    },
    {
      what: 'one worker did not answer: the answers still add',
      previous: ['a'],
      asked: 3,
      answers: [[n('b', 2)], [n('c', 0, 1)]],
      busy: ['a', 'b', 'c'],
    },
    {
      what: 'no worker answered: everything known stays',
      previous: ['a', 'b'],
      asked: 2,
      answers: [],
      busy: ['a', 'b'],
    },
    {
      what: 'a worker replaced mid-round answers too: more answers than asked still decide',
      previous: ['a'],
      asked: 1,
      answers: [[n('a')], [n('b')]],
      busy: [],
    },
  ];
  it.each(cases)('$what', ({ previous, asked, answers, busy }) => {
    expect([...busyNodes(new Set(previous), asked, answers)].sort()).toEqual(busy);
  });

  it('does not change the previous set', () => {
    const previous = new Set(['a']);
    busyNodes(previous, 1, [[n('b', 1)]]);
    expect([...previous]).toEqual(['a']);
  });
});
