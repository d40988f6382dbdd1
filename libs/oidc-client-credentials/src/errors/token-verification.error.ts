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
}
