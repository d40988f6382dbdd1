import { safeCause } from './error-cause.util.js';
import {
  OidcClientCredentialsError,
  type OidcClientCredentialsErrorCode,
} from './oidc-client-credentials.error.js';

/** Codes that mean "this token is not acceptable" (RFC 6750 `invalid_token`). */
export type TokenVerificationErrorCode = Extract<
  OidcClientCredentialsErrorCode,
  | 'OIDC_CC_TOKEN_INVALID'
  | 'OIDC_CC_TOKEN_EXPIRED'
  | 'OIDC_CC_TOKEN_INACTIVE'
  | 'OIDC_CC_TOKEN_MALFORMED'
>;

/**
 * The bearer token was checked and refused. Answered with 401 `invalid_token`.
 *
 * The static factories name the four refusals. A `cause` given to them (an error of jose,
 * oauth4webapi or fetch) is kept as its name, code and message only, sanitised: such errors may
 * hold the claims or the response body.
 *
 * @example
 * if (claims.sub === undefined) throw TokenVerificationError.invalid('The token names no subject');
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 */
export class TokenVerificationError extends OidcClientCredentialsError {
  constructor(
    override readonly code: TokenVerificationErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }

  /** `OIDC_CC_TOKEN_INVALID`: the token is well formed but does not pass a check. */
  static invalid(message: string, cause?: unknown): TokenVerificationError {
    return refusal('OIDC_CC_TOKEN_INVALID', message, cause);
  }

  /** `OIDC_CC_TOKEN_MALFORMED`: the token is not a well-formed token of the expected kind. */
  static malformed(message: string, cause?: unknown): TokenVerificationError {
    return refusal('OIDC_CC_TOKEN_MALFORMED', message, cause);
  }

  /** `OIDC_CC_TOKEN_EXPIRED`: the token's `exp` has passed (beyond the clock tolerance). */
  static expired(cause?: unknown): TokenVerificationError {
    return refusal('OIDC_CC_TOKEN_EXPIRED', 'The token has expired', cause);
  }

  /**
   * `OIDC_CC_TOKEN_INACTIVE`: the ID service says the token is not active (revoked, expired or
   * unknown to it).
   *
   * @see https://www.rfc-editor.org/rfc/rfc7662#section-2.2
   */
  static inactive(): TokenVerificationError {
    return refusal('OIDC_CC_TOKEN_INACTIVE', 'The token is not active');
  }
}

function refusal(
  code: TokenVerificationErrorCode,
  message: string,
  cause?: unknown,
): TokenVerificationError {
  return new TokenVerificationError(
    code,
    message,
    cause === undefined ? undefined : { cause: safeCause(cause) },
  );
}
