import { describe, expect, it } from 'vitest';
import { startBalancer, waitFor } from '../helpers/balancer.js';
import { startFakeNode } from '../helpers/fake-node.js';
import { rawExchange, rawJsonBody } from '../helpers/raw.js';

const H = 'Host: x\r\nConnection: close\r\n';

/**
 * [what, raw bytes, expected answer, stickylb error code, how far it gets]: `no` never reaches a
 * node; `cut` reaches one with valid headers, then the body turns out malformed and the upstream
 * request is aborted (bodies stream, as in HAProxy); `yes` is served.
 */
const CASES: Array<[string, string, RegExp, string | undefined, 'no' | 'cut' | 'yes']> = [
  // Smuggling shapes: refused by node:http's parser before any node sees them.
  [
    'Content-Length with Transfer-Encoding',
    `POST /echo HTTP/1.1\r\n${H}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    /^HTTP\/1.1 400/,
    'BAD_REQUEST',
    'no',
  ],
  [
    'two Content-Lengths',
    `POST /echo HTTP/1.1\r\n${H}Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde`,
    /^HTTP\/1.1 400/,
    'BAD_REQUEST',
    'no',
  ],
  [
    'Transfer-Encoding not ending in chunked',
    `POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked, identity\r\n\r\nabc`,
    /^HTTP\/1.1 400/,
    'BAD_REQUEST',
    'no',
  ],
  [
    'an invalid chunk size',
    `POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`,
    /^HTTP\/1.1 400/,
    'BAD_REQUEST',
    'cut',
  ],
  [
    'a chunk size past 64 bits',
    `POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\nabc\r\n`,
    /^HTTP\/1.1 400/,
    'BAD_REQUEST',
    'cut',
  ],
  [
    'a negative Content-Length',
    `POST /echo HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n`,
    /^HTTP\/1.1 400/,
    'BAD_REQUEST',
    'no',
  ],
  [
    'bare LF line ends',
    'GET /echo HTTP/1.1\nHost: x\nConnection: close\n\n',
    /^HTTP\/1.1 400/,
    'BAD_REQUEST',
    'no',
  ],
  [
    'an obs-folded header',
    `GET /echo HTTP/1.1\r\n${H}X-A: a\r\n b\r\n\r\n`,
    /^HTTP\/1.1 400/,
    'BAD_REQUEST',
    'no',
  ],
  [
    'NUL in a header value',
    `GET /echo HTTP/1.1\r\n${H}X-A: a\0b\r\n\r\n`,
    /^HTTP\/1.1 400/,
    'BAD_REQUEST',
    'no',
  ],
  [
    'a space in a header name',
    `GET /echo HTTP/1.1\r\n${H}Foo Bar: x\r\n\r\n`,
    /^HTTP\/1.1 400/,
    'BAD_REQUEST',
    'no',
  ],
  ['an unknown method', `FOO /echo HTTP/1.1\r\n${H}\r\n`, /^HTTP\/1.1 400/, 'BAD_REQUEST', 'no'],
  [
    'a TLS hello on the plain port',
    '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03',
    /^HTTP\/1.1 400/,
    'BAD_REQUEST',
    'no',
  ],
  ['the HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', /^HTTP\/1.1 400/, 'BAD_REQUEST', 'no'],
  [
    'a 100 KiB URL',
    `GET /${'a'.repeat(100_000)} HTTP/1.1\r\n${H}\r\n`,
    /^HTTP\/1.1 431/,
    'HEADERS_TOO_LARGE',
    'no',
  ],
  // Refused by stickylb itself, with a code.
  [
    'two Host headers',
    'GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n',
    /^HTTP\/1.1 400/,
    'INVALID_HOST',
    'no',
  ],
  [
    'an invalid Host',
    'GET /echo HTTP/1.1\r\nHost: a b/c\r\nConnection: close\r\n\r\n',
    /^HTTP\/1.1 400/,
    'INVALID_HOST',
    'no',
  ],
  [
    'an absolute target naming another host',
    `GET http://evil.example/echo HTTP/1.1\r\n${H}\r\n`,
    /^HTTP\/1.1 400/,
    'HOST_MISMATCH',
    'no',
  ],
  ['a bare word as target', `GET echo HTTP/1.1\r\n${H}\r\n`, /^HTTP\/1.1 400/, 'BAD_REQUEST', 'no'],
  [
    'an absolute target of another scheme',
    `GET ftp://x/echo HTTP/1.1\r\n${H}\r\n`,
    /^HTTP\/1.1 400/,
    'INVALID_TARGET',
    'no',
  ],
  ['* with GET', `GET * HTTP/1.1\r\n${H}\r\n`, /^HTTP\/1.1 400/, 'INVALID_TARGET', 'no'],
  ['HTTP/0.9', 'GET /echo\r\n\r\n', /^HTTP\/1.1 505/, 'HTTP_VERSION_NOT_SUPPORTED', 'no'],
  [
    'CONNECT',
    'CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n',
    /^HTTP\/1.1 501/,
    'METHOD_NOT_SUPPORTED',
    'no',
  ],
  [
    'OPTIONS * (answered like Connect answers it)',
    `OPTIONS * HTTP/1.1\r\n${H}\r\n`,
    /^HTTP\/1.1 200/,
    undefined,
    'no',
  ],
  // Odd but valid: served.
  [
    'an absolute target naming the Host',
    `GET http://X:80/echo?q=1 HTTP/1.1\r\n${H}\r\n`,
    /^HTTP\/1.1 200/,
    undefined,
    'yes',
  ],
  ['HTTP/1.0 without Host', 'GET /echo HTTP/1.0\r\n\r\n', /^HTTP\/1.1 200/, undefined, 'yes'],
  [
    'an empty Host (a target with no authority)',
    'GET /echo HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n',
    /^HTTP\/1.1 200/,
    undefined,
    'yes',
  ],
  [
    'Expect: 100-continue',
    `POST /echo HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 3\r\n\r\nabc`,
    /^HTTP\/1.1 100 Continue\r\n\r\nHTTP\/1.1 200/,
    undefined,
    'yes',
  ],
  [
    'a garbage affinity cookie',
    `GET /echo HTTP/1.1\r\n${H}Cookie: stickylb=${'%'.repeat(5000)}; stickylb="; a=b\r\n\r\n`,
    /^HTTP\/1.1 200/,
    undefined,
    'yes',
  ],
];

describe('hostile and malformed requests', () => {
  it.each(CASES)('%s', async (_what, payload, status, code, reaches) => {
    const node = await startFakeNode('a');
    const lb = await startBalancer([node]);
    const served = () => lb.app.pool.nodes[0]!.requests;
    const answer = await rawExchange(lb.url, payload);
    expect(answer).toMatch(status);
    // The balancer's own answers carry their code; what a node answered carries none.
    expect(/\r\nX-Stickylb-Error: ([A-Z_]+)\r\n/i.exec(answer)?.[1]).toBe(code);
    // The fake node stamps X-Node on everything it answers: only served requests show it.
    expect(/\r\nx-node:/i.test(answer)).toBe(reaches === 'yes');
    // A request cut mid-body is counted once its exchange has ended, which may follow the 400.
    await waitFor(() => served() === (reaches === 'no' ? 0 : 1), 5000, 'the request counted');
    // The balancer keeps serving.
    const after = await rawExchange(lb.url, `GET /echo HTTP/1.1\r\n${H}\r\n`);
    expect(after).toMatch(/^HTTP\/1.1 200/);
    expect(served()).toBe(reaches === 'no' ? 1 : 2);
  });

  it('what the HTTP parser refuses is counted by reason and answered with a code', async () => {
    const node = await startFakeNode('a');
    const lb = await startBalancer([node]);
    const smuggle = await rawExchange(
      lb.url,
      `POST /echo HTTP/1.1\r\n${H}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    );
    expect(smuggle).toMatch(/^HTTP\/1.1 400 [^\r]*\r\n(.*\r\n)*X-Stickylb-Error: BAD_REQUEST\r\n/);
    const huge = await rawExchange(lb.url, `GET /${'a'.repeat(100_000)} HTTP/1.1\r\n${H}\r\n`);
    expect(huge).toMatch(/^HTTP\/1.1 431 [^\r]*\r\n(.*\r\n)*X-Stickylb-Error: HEADERS_TOO_LARGE\r\n/);
    await rawExchange(lb.url, 'NOT HTTP\r\n\r\n');
    const metrics = await lb.app.metrics.text();
    expect(metrics).toMatch(/^stickylb_client_errors_total\{reason="bad_request"\} 2$/m);
    expect(metrics).toMatch(/^stickylb_client_errors_total\{reason="headers_too_large"\} 1$/m);
    expect(metrics).toMatch(/^stickylb_client_errors_total\{reason="timeout"\} 0$/m);
  });

  it('an absolute target is sent upstream in origin form', async () => {
    const node = await startFakeNode('a');
    const lb = await startBalancer([node]);
    const answer = await rawExchange(lb.url, `GET http://x/echo?q=1 HTTP/1.1\r\n${H}\r\n`);
    const seen = rawJsonBody(answer);
    expect(seen.url).toBe('/echo?q=1');
    expect((seen.headers as Record<string, string>)['x-rsc-request']).toBe('http://x/echo?q=1');
  });
});
