import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { headWithoutUpgrade, isWebSocketUpgrade } from '../../src/data/upgrade-fallback.js';

function request(method: string, rawHeaders: string[]): IncomingMessage {
  const headers: Record<string, string> = {};
  for (let i = 0; i < rawHeaders.length; i += 2) headers[rawHeaders[i]!.toLowerCase()] = rawHeaders[i + 1]!;
  return { method, url: '/a?b', httpVersion: '1.1', rawHeaders, headers } as unknown as IncomingMessage;
}

describe('upgrade fallback', () => {
  it.each([
    ['GET', 'websocket', true],
    ['GET', 'WebSocket', true],
    ['GET', 'h2c, websocket', true],
    ['GET', 'h2c', false],
    ['POST', 'websocket', false],
    ['GET', 'websockets', false],
  ])('%s with Upgrade: %s is a WebSocket handshake: %s', (method, upgrade, expected) => {
    expect(isWebSocketUpgrade(request(method, ['Upgrade', upgrade]))).toBe(expected);
  });

  it.each([
    [
      ['Host', 'x', 'Connection', 'Upgrade, HTTP2-Settings', 'Upgrade', 'h2c'],
      'Host: x\r\nConnection: HTTP2-Settings\r\n',
    ],
    [['Connection', 'upgrade', 'Upgrade', 'h2c', 'Host', 'x'], 'Host: x\r\n'],
    [
      ['Host', 'x', 'Connection', 'keep-alive, Upgrade', 'Upgrade', 'h2c'],
      'Host: x\r\nConnection: keep-alive\r\n',
    ],
    [
      ['Host', 'x', 'connection', 'close,upgrade', 'UPGRADE', 'h2c', 'X-A', 'caf\u00e9'],
      'Host: x\r\nconnection: close\r\nX-A: caf\u00e9\r\n',
    ],
  ])('%j is sent again as %j', (raw, headers) => {
    const head = headWithoutUpgrade(request('POST', raw));
    expect(head.toString('latin1')).toBe(`POST /a?b HTTP/1.1\r\n${headers}\r\n`);
  });
});
