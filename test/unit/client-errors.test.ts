import { describe, expect, it } from 'vitest';
import { clientErrorReason } from '../../src/data/client-errors.js';

describe('clientErrorReason', () => {
  it.each([
    [{ code: 'HPE_INVALID_METHOD' }, 'bad_request'],
    [{ code: 'HPE_UNEXPECTED_CONTENT_LENGTH' }, 'bad_request'],
    [{ code: 'HPE_INVALID_TRANSFER_ENCODING' }, 'bad_request'],
    [{ code: 'HPE_HEADER_OVERFLOW' }, 'headers_too_large'],
    [{ code: 'HPE_CHUNK_EXTENSIONS_OVERFLOW' }, 'headers_too_large'],
    [{ code: 'ERR_HTTP_REQUEST_TIMEOUT' }, 'timeout'],
    [{ code: 'ECONNRESET' }, 'aborted'],
    [{ code: 'EPIPE' }, 'aborted'],
    [{}, 'aborted'],
    [null, 'aborted'],
  ])('%j is %s', (err, reason) => {
    expect(clientErrorReason(err)).toBe(reason);
  });
});
