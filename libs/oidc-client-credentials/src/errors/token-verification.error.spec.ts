import { errors as joseErrors } from 'jose';
import { TokenVerificationError } from './token-verification.error.js';

/** A jose error that carries the claims set, as `JWTClaimValidationFailed` does. */
function joseErrorWithClaims(): Error {
  return new joseErrors.JWTExpired('"exp" claim timestamp check failed', {
    sub: 'secret-subject',
  });
}

describe('TokenVerificationError factories', () => {
  it.each<[string, () => TokenVerificationError, string, string]>([
    [
      'invalid',
      () => TokenVerificationError.invalid('The token "typ" is not accepted'),
      'OIDC_CC_TOKEN_INVALID',
      'The token "typ" is not accepted',
    ],
    [
      'malformed',
      () => TokenVerificationError.malformed('The token is not a compact JWS'),
      'OIDC_CC_TOKEN_MALFORMED',
      'The token is not a compact JWS',
    ],
    [
      'expired',
      () => TokenVerificationError.expired(),
      'OIDC_CC_TOKEN_EXPIRED',
      'The token has expired',
    ],
    [
      'inactive',
      () => TokenVerificationError.inactive(),
      'OIDC_CC_TOKEN_INACTIVE',
      'The token is not active',
    ],
  ])('%s: code and message, no cause', (_name, create, code, message) => {
    const error = create();
    expect(error).toBeInstanceOf(TokenVerificationError);
    expect(error).toMatchObject({ name: 'TokenVerificationError', code, message });
    expect('cause' in error).toBe(false);
  });

  it.each<[string, (cause: unknown) => TokenVerificationError]>([
    ['invalid', (cause) => TokenVerificationError.invalid('The token is invalid', cause)],
    ['malformed', (cause) => TokenVerificationError.malformed('The token is malformed', cause)],
    ['expired', (cause) => TokenVerificationError.expired(cause)],
  ])("%s: keeps only the cause's name, code and sanitised message", (_name, create) => {
    const error = create(joseErrorWithClaims());
    expect(error.cause).toEqual({
      name: 'JWTExpired',
      code: 'ERR_JWT_EXPIRED',
      message: 'exp  claim timestamp check failed',
    });
    expect(JSON.stringify(error.cause)).not.toContain('secret-subject');
  });
});
