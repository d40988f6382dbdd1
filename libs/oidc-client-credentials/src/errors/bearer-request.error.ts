import {
  OidcClientCredentialsError,
  type OidcClientCredentialsErrorCode,
} from './oidc-client-credentials.error.js';

/**
 * Codes of a request whose bearer credentials could not be read: none at all (401 without an
 * error code) or a malformed request (400 `invalid_request`).
 */
export type BearerRequestErrorCode = Extract<
  OidcClientCredentialsErrorCode,
  'OIDC_CC_TOKEN_MISSING' | 'OIDC_CC_BEARER_REQUEST_INVALID'
>;

/** Why a request was refused before its token was looked at. */
export type BearerRequestErrorReason =
  | 'missing'
  | 'duplicate_authorization_header'
  | 'multiple_methods'
  | 'duplicate_parameter'
  | 'empty_token'
  | 'not_a_string';

/**
 * The request carried no bearer token (`OIDC_CC_TOKEN_MISSING`, answered 401 with a bare
 * challenge) or carried it in a malformed way (`OIDC_CC_BEARER_REQUEST_INVALID`, answered 400
 * `invalid_request`): two `Authorization` headers, more than one method, an empty token.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 */
export class BearerRequestError extends OidcClientCredentialsError {
  constructor(
    override readonly code: BearerRequestErrorCode,
    readonly reason: BearerRequestErrorReason,
    message: string,
  ) {
    super(code, message);
  }
}
