import {
  OidcClientCredentialsError,
  type OidcClientCredentialsErrorCode,
} from './oidc-client-credentials.error.js';

/** Codes that mean "the token could not be checked right now". */
export type ValidatorUnavailableErrorCode = Extract<
  OidcClientCredentialsErrorCode,
  | 'OIDC_CC_JWKS_UNAVAILABLE'
  | 'OIDC_CC_INTROSPECTION_UNAVAILABLE'
  | 'OIDC_CC_USERINFO_UNAVAILABLE'
  | 'OIDC_CC_DISCOVERY_FAILED'
  | 'OIDC_CC_VALIDATOR_UNAVAILABLE'
>;

/**
 * The ID service (JWKS, introspection or userinfo endpoint) could not answer, and no cached answer
 * exists. Answered with 503 and `Retry-After`, never 401: the token may well be valid.
 */
export class ValidatorUnavailableError extends OidcClientCredentialsError {
  constructor(
    override readonly code: ValidatorUnavailableErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}
