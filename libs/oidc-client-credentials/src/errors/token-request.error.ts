import {
  OidcClientCredentialsError,
  type OidcClientCredentialsErrorCode,
} from './oidc-client-credentials.error.js';

/** Codes of a failed outbound token acquisition. */
export type TokenRequestErrorCode = Extract<
  OidcClientCredentialsErrorCode,
  | 'OIDC_CC_TOKEN_REQUEST_FAILED'
  | 'OIDC_CC_TOKEN_RESPONSE_INVALID'
  | 'OIDC_CC_TOKEN_ENDPOINT_UNAVAILABLE'
  | 'OIDC_CC_TOKEN_ENDPOINT_THROTTLED'
  | 'OIDC_CC_TOKEN_ENDPOINT_CIRCUIT_OPEN'
  | 'OIDC_CC_DISCOVERY_FAILED'
  | 'OIDC_CC_CREDENTIAL_UNAVAILABLE'
>;

/**
 * The token endpoint refused or failed the client credentials grant. Carries the ID service's
 * `error`, `error_description` (sanitised, truncated) and HTTP status; never the secret or a token.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 */
export class TokenRequestError extends OidcClientCredentialsError {
  constructor(
    override readonly code: TokenRequestErrorCode,
    message: string,
    readonly details: {
      status?: number;
      error?: string;
      errorDescription?: string;
      retryAfterSeconds?: number;
    } = {},
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }

  /** The ID service's RFC 6749 §5.2 `error` code, when it sent one. */
  get error(): string | undefined {
    return this.details.error;
  }

  /** HTTP status of the token endpoint's answer, when there was one. */
  get status(): number | undefined {
    return this.details.status;
  }
}
