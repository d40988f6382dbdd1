import {
  ValidatorUnavailableError,
  type ValidatorUnavailableErrorCode,
} from './validator-unavailable.error.js';

describe('ValidatorUnavailableError.of', () => {
  it.each<ValidatorUnavailableErrorCode>([
    'OIDC_CC_JWKS_UNAVAILABLE',
    'OIDC_CC_INTROSPECTION_UNAVAILABLE',
    'OIDC_CC_INTROSPECTION_REFUSED',
    'OIDC_CC_USERINFO_UNAVAILABLE',
    'OIDC_CC_DISCOVERY_FAILED',
    'OIDC_CC_VALIDATOR_UNAVAILABLE',
  ])('%s: code and message, no cause when none is given', (code) => {
    const error = ValidatorUnavailableError.of(code, 'The endpoint answered HTTP 502');
    expect(error).toBeInstanceOf(ValidatorUnavailableError);
    expect(error).toMatchObject({
      name: 'ValidatorUnavailableError',
      code,
      message: 'The endpoint answered HTTP 502',
    });
    expect('cause' in error).toBe(false);
  });

  it.each<[string, unknown, unknown]>([
    [
      'a fetch failure: name, code and message only',
      Object.assign(new TypeError('fetch failed'), {
        code: 'ECONNREFUSED',
        request: { headers: { authorization: 'Basic c2VjcmV0' } },
      }),
      { name: 'TypeError', code: 'ECONNREFUSED', message: 'fetch failed' },
    ],
    [
      'control characters in the message are replaced',
      new Error('bad\r\nInjected: 1'),
      { name: 'Error', message: 'bad  Injected: 1' },
    ],
    ['a thrown string', 'oops', { name: 'string', message: 'non-error thrown' }],
  ])('keeps a sanitised cause: %s', (_name, cause, expected) => {
    const error = ValidatorUnavailableError.of('OIDC_CC_JWKS_UNAVAILABLE', 'down', cause);
    expect(error.cause).toEqual(expected);
    expect(JSON.stringify(error.cause)).not.toContain('c2VjcmV0');
  });
});
