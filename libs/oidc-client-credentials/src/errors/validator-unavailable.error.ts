import { safeCause } from './error-cause.util.js';
import {
  OidcClientCredentialsError,
  type OidcClientCredentialsErrorCode,
} from './oidc-client-credentials.error.js';

/**
 * Codes that mean "the token could not be checked": the ID service could not answer, or
 * (`OIDC_CC_INTROSPECTION_REFUSED`) it refused to check it for this service's configuration.
 */
export type ValidatorUnavailableErrorCode = Extract<
  OidcClientCredentialsErrorCode,
  | 'OIDC_CC_JWKS_UNAVAILABLE'
  | 'OIDC_CC_INTROSPECTION_UNAVAILABLE'
  | 'OIDC_CC_INTROSPECTION_REFUSED'
  | 'OIDC_CC_USERINFO_UNAVAILABLE'
  | 'OIDC_CC_DISCOVERY_FAILED'
  | 'OIDC_CC_VALIDATOR_UNAVAILABLE'
>;

/**
 * The ID service (JWKS, introspection or userinfo endpoint) could not answer, and no cached answer
 * exists — or its introspection endpoint refused to check the token for this service
 * (`OIDC_CC_INTROSPECTION_REFUSED`: wrong credentials, or a token format it does not introspect).
 * Answered with 503 and `Retry-After`, never 401: the token may well be valid.
 *
 * @example
 * throw ValidatorUnavailableError.of('OIDC_CC_VALIDATOR_UNAVAILABLE', 'The key service is down', error);
 */
export class ValidatorUnavailableError extends OidcClientCredentialsError {
  /** When the check can be tried again, in seconds, if known better than `retryAfterSeconds`. */
  readonly retryAfterSeconds?: number;

  constructor(
    override readonly code: ValidatorUnavailableErrorCode,
    message: string,
    options?: { cause?: unknown; retryAfterSeconds?: number },
  ) {
    super(code, message, options && 'cause' in options ? { cause: options.cause } : undefined);
    if (options?.retryAfterSeconds !== undefined)
      this.retryAfterSeconds = options.retryAfterSeconds;
  }

  /**
   * The endpoint behind `code` could not answer. `cause` (the failure of fetch, jose or
   * oauth4webapi, or this library's own) is kept as its name, code and message only, sanitised:
   * such errors may hold the request or the response body.
   */
  static of(
    code: ValidatorUnavailableErrorCode,
    message: string,
    cause?: unknown,
  ): ValidatorUnavailableError {
    return new ValidatorUnavailableError(
      code,
      message,
      cause === undefined ? undefined : { cause: safeCause(cause) },
    );
  }
}
