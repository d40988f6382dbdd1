/**
 * Stable error codes. Code, not message, is the contract: messages may change, codes do not.
 */
export type OidcClientCredentialsErrorCode =
  | 'OIDC_CC_CONFIGURATION_INVALID'
  | 'OIDC_CC_DISCOVERY_FAILED'
  | 'OIDC_CC_TOKEN_REQUEST_FAILED'
  | 'OIDC_CC_TOKEN_RESPONSE_INVALID'
  | 'OIDC_CC_TOKEN_ENDPOINT_UNAVAILABLE'
  | 'OIDC_CC_TOKEN_ENDPOINT_THROTTLED'
  | 'OIDC_CC_TOKEN_ENDPOINT_CIRCUIT_OPEN'
  | 'OIDC_CC_TOKEN_MISSING'
  | 'OIDC_CC_BEARER_REQUEST_INVALID'
  | 'OIDC_CC_TOKEN_MALFORMED'
  | 'OIDC_CC_TOKEN_INVALID'
  | 'OIDC_CC_TOKEN_EXPIRED'
  | 'OIDC_CC_TOKEN_INACTIVE'
  | 'OIDC_CC_CLIENT_NOT_ALLOWED'
  | 'OIDC_CC_INSUFFICIENT_SCOPE'
  | 'OIDC_CC_SCOPES_UNVERIFIABLE'
  | 'OIDC_CC_NO_ACCEPTED_SCOPE'
  | 'OIDC_CC_ROUTE_CLIENT_NOT_ALLOWED'
  | 'OIDC_CC_CLAIMS_NOT_SATISFIED'
  | 'OIDC_CC_CLAIMS_CHECK_FAILED'
  | 'OIDC_CC_JWKS_UNAVAILABLE'
  | 'OIDC_CC_INTROSPECTION_UNAVAILABLE'
  | 'OIDC_CC_INTROSPECTION_REFUSED'
  | 'OIDC_CC_USERINFO_UNAVAILABLE'
  | 'OIDC_CC_VALIDATOR_UNAVAILABLE'
  | 'OIDC_CC_VERIFIED_TOKEN_MISSING'
  | 'OIDC_CC_INSECURE_REQUEST'
  | 'OIDC_CC_TOKEN_PARAMETERS_INVALID'
  | 'OIDC_CC_DESTINATION_NOT_ALLOWED'
  | 'OIDC_CC_SIGNING_FAILED'
  | 'OIDC_CC_CREDENTIAL_UNAVAILABLE'
  | 'OIDC_CC_DPOP_PROOF_INVALID'
  | 'OIDC_CC_DPOP_NONCE_REQUIRED'
  | 'OIDC_CC_TOKEN_BINDING_INVALID'
  | 'OIDC_CC_DPOP_REPLAY_CHECK_UNAVAILABLE';

/**
 * Base class of every error this library throws. `code` is stable; `message` never contains a
 * token, an assertion or a secret.
 *
 * @example
 * try { await tokenProvider.getToken(); }
 * catch (e) { if (e instanceof OidcClientCredentialsError && e.code === 'OIDC_CC_TOKEN_REQUEST_FAILED') … }
 */
export class OidcClientCredentialsError extends Error {
  constructor(
    readonly code: OidcClientCredentialsErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}
