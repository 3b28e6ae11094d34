import { describe, expect, it } from 'vitest';
import { classifyUpstreamError, type UpstreamFailure } from '../../src/data/upstream-failure.js';

describe('transport failure classifier', () => {
  it.each<[string | undefined, UpstreamFailure]>([
    ['ECONNREFUSED', 'refused'],
    ['EHOSTUNREACH', 'refused'],
    ['ENOTFOUND', 'refused'],
    ['UND_ERR_CONNECT', 'refused'],
    ['UND_ERR_CONNECT_TIMEOUT', 'connect-timeout'],
    ['ETIMEDOUT', 'connect-timeout'],
    ['UND_ERR_HEADERS_TIMEOUT', 'response-timeout'],
    ['UND_ERR_BODY_TIMEOUT', 'response-timeout'],
    ['UND_ERR_ABORTED', 'aborted'],
    ['ABORT_ERR', 'aborted'],
    ['UND_ERR_INVALID_ARG', 'bad-request'],
    ['ERR_INVALID_CHAR', 'bad-request'],
    ['ECONNRESET', 'reset'],
    ['EPIPE', 'reset'],
    ['UND_ERR_SOCKET', 'reset'],
    ['UND_ERR_DESTROYED', 'node-lost'],
    ['HPE_INVALID_CONSTANT', 'bad-response'],
    ['UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'bad-response'],
    ['SOMETHING_NEW', 'reset'],
    [undefined, 'reset'],
  ])('%s -> %s', (code, failure) => {
    const err = Object.assign(new Error('x'), code === undefined ? {} : { code });
    expect(classifyUpstreamError(err)).toBe(failure);
  });
});
