import { describe, expect, it } from 'vitest';
import { completeResponses, requestsIn } from '../helpers/raw.js';

describe('the raw-exchange helper knows when an answer is complete', () => {
  const ok = (body: string) => `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  const table: Array<[string, string, number]> = [
    ['nothing yet', '', 0],
    ['a head still arriving', 'HTTP/1.1 200 OK\r\nContent-Le', 0],
    ['a body short of its length', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc', 0],
    ['one complete', ok('hello'), 1],
    ['two pipelined', ok('a') + ok('bc'), 2],
    ['chunked, unfinished', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n', 0],
    ['chunked, finished', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n', 1],
    ['a 204 has no body', 'HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n', 1],
    ['a 100 is not the answer', 'HTTP/1.1 100 Continue\r\n\r\n', 0],
    ['a 100 then the answer', `HTTP/1.1 100 Continue\r\n\r\n${ok('x')}`, 1],
    ['a 101 ends HTTP', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x02hi', 1],
    ['a body until close', 'HTTP/1.0 200 OK\r\n\r\nstreaming', 0],
    ['not HTTP at all', 'garbage\r\n\r\n', 0],
  ];
  for (const [name, text, count] of table) {
    it(name, () => expect(completeResponses(text)).toBe(count));
  }

  it('counts the request lines of a payload', () => {
    expect(requestsIn('GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n')).toBe(2);
    expect(requestsIn('GET /\r\n')).toBe(0);
    expect(requestsIn(Buffer.from('POST /x HTTP/1.0\r\n\r\n'))).toBe(1);
  });
});
