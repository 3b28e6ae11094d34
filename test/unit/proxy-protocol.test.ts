import { describe, expect, it } from 'vitest';
import { ProxyProtocolError, parseProxyHeader } from '../../src/data/proxy-protocol.js';

const SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

/** A PROXY v2 header: command 1 (PROXY) or 0 (LOCAL), family byte, address block. */
function v2(command: number, family: number, addresses: Buffer): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(addresses.length);
  return Buffer.concat([SIG, Buffer.from([0x20 | command, family]), len, addresses]);
}
function tcp4(src: number[], port: number): Buffer {
  const b = Buffer.alloc(12);
  Buffer.from(src).copy(b, 0);
  Buffer.from([127, 0, 0, 1]).copy(b, 4);
  b.writeUInt16BE(port, 8);
  b.writeUInt16BE(8080, 10);
  return b;
}
function tcp6(src: number[], port: number): Buffer {
  const b = Buffer.alloc(36);
  for (const [i, g] of src.entries()) b.writeUInt16BE(g, i * 2);
  b.writeUInt16BE(1, 30);
  b.writeUInt16BE(port, 32);
  b.writeUInt16BE(8080, 34);
  return b;
}

describe('parseProxyHeader', () => {
  const ok: Array<[string, Buffer, number, { address: string; port: number } | undefined]> = [
    [
      'v1 TCP4',
      Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 40000 8080\r\nGET /'),
      44,
      { address: '203.0.113.7', port: 40000 },
    ],
    [
      'v1 TCP6',
      Buffer.from('PROXY TCP6 2001:db8::7 2001:db8::1 1 8080\r\n'),
      43,
      { address: '2001:db8::7', port: 1 },
    ],
    ['v1 UNKNOWN', Buffer.from('PROXY UNKNOWN\r\n'), 15, undefined],
    ['v1 UNKNOWN with addresses', Buffer.from('PROXY UNKNOWN x y 1 2\r\n'), 23, undefined],
    ['v2 TCP4', v2(1, 0x11, tcp4([198, 51, 100, 9], 50000)), 28, { address: '198.51.100.9', port: 50000 }],
    [
      'v2 TCP4 with TLVs after the addresses',
      v2(1, 0x11, Buffer.concat([tcp4([1, 2, 3, 4], 5), Buffer.from([4, 0, 1, 0])])),
      32,
      { address: '1.2.3.4', port: 5 },
    ],
    [
      'v2 TCP6',
      v2(1, 0x21, tcp6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 9], 443)),
      52,
      { address: '2001:db8:0:0:0:0:0:9', port: 443 },
    ],
    ["v2 LOCAL (the balancer's own health check)", v2(0, 0x00, Buffer.alloc(0)), 16, undefined],
    ['v2 UNSPEC family', v2(1, 0x00, Buffer.alloc(0)), 16, undefined],
  ];
  it.each(ok)('%s', (_what, input, length, peer) => {
    expect(parseProxyHeader(input)).toEqual({ kind: 'header', length, peer });
  });

  const incomplete: Array<[string, Buffer]> = [
    ['nothing yet', Buffer.alloc(0)],
    ['part of v1', Buffer.from('PROXY TCP4 203.0')],
    ['part of the v2 signature', SIG.subarray(0, 5)],
    ['v2 without all its addresses', v2(1, 0x11, tcp4([1, 2, 3, 4], 5)).subarray(0, 20)],
  ];
  it.each(incomplete)('incomplete: %s', (_what, input) => {
    expect(parseProxyHeader(input)).toEqual({ kind: 'incomplete' });
  });

  const bad: Array<[string, Buffer]> = [
    ['plain HTTP', Buffer.from('GET / HTTP/1.1\r\n')],
    ['a TLS hello', Buffer.from([0x16, 0x03, 0x01, 0x00])],
    ['v1 with a bad address', Buffer.from('PROXY TCP4 999.1.1.1 10.0.0.1 1 2\r\n')],
    ['v1 with a bad port', Buffer.from('PROXY TCP4 1.1.1.1 10.0.0.1 70000 2\r\n')],
    ['v1 with a missing field', Buffer.from('PROXY TCP4 1.1.1.1 10.0.0.1 1\r\n')],
    ['v1 with an unknown family', Buffer.from('PROXY UDP4 1.1.1.1 10.0.0.1 1 2\r\n')],
    ['v1 without an end in 107 bytes', Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`)],
    ['a broken v2 signature', Buffer.concat([SIG.subarray(0, 6), Buffer.from('xxxxxxxxxx')])],
    ['v2 with version 1', Buffer.concat([SIG, Buffer.from([0x11, 0x11, 0, 0])])],
    ['v2 with an unknown command', v2(2, 0x11, tcp4([1, 2, 3, 4], 5))],
    ['v2 TCP4 with a short address block', v2(1, 0x11, Buffer.alloc(4))],
    ['v2 declaring more than 4 KiB', Buffer.concat([SIG, Buffer.from([0x21, 0x11, 0xff, 0xff])])],
  ];
  it.each(bad)('rejects %s', (_what, input) => {
    expect(() => parseProxyHeader(input)).toThrow(ProxyProtocolError);
  });
});
