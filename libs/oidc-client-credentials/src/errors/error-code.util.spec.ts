import { errorCode } from './error-code.util.js';
import { TokenRequestError } from './token-request.error.js';

function withCode(code: unknown): Error {
  return Object.assign(new Error('failed'), { code });
}

describe('errorCode', () => {
  it.each<[string, unknown, string | undefined]>([
    [
      "this library's error",
      new TokenRequestError('OIDC_CC_TOKEN_REQUEST_FAILED', 'refused'),
      'OIDC_CC_TOKEN_REQUEST_FAILED',
    ],
    ["another library's error", withCode('ECONNREFUSED'), 'ECONNREFUSED'],
    ['control characters are replaced', withCode('BAD\r\nInjected: 1'), 'BAD  Injected: 1'],
    ['a long code is cut at 60 characters', withCode('X'.repeat(100)), `${'X'.repeat(60)}...`],
    ['an error without a code', new Error('failed'), undefined],
    ['a code that is not a string', withCode(42), undefined],
    ['a thrown object that is not an Error', { code: 'OIDC_CC_TOKEN_EXPIRED' }, undefined],
    ['a thrown string', 'OIDC_CC_TOKEN_EXPIRED', undefined],
    ['undefined', undefined, undefined],
  ])('%s', (_case, error, expected) => {
    expect(errorCode(error)).toBe(expected);
  });
});
