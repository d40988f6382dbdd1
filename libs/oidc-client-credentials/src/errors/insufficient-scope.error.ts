import {
  OidcClientCredentialsError,
  type OidcClientCredentialsErrorCode,
} from './oidc-client-credentials.error.js';

/** Codes of a valid token that does not grant access to the route (403). */
export type InsufficientScopeErrorCode = Extract<
  OidcClientCredentialsErrorCode,
  | 'OIDC_CC_INSUFFICIENT_SCOPE'
  | 'OIDC_CC_NO_ACCEPTED_SCOPE'
  | 'OIDC_CC_CLIENT_NOT_ALLOWED'
  | 'OIDC_CC_ROUTE_CLIENT_NOT_ALLOWED'
  | 'OIDC_CC_CLAIMS_NOT_SATISFIED'
  | 'OIDC_CC_CLAIMS_CHECK_FAILED'
  | 'OIDC_CC_SCOPES_UNVERIFIABLE'
>;

/**
 * The token is valid but does not grant this request. Answered with 403 `insufficient_scope`:
 *
 * - `OIDC_CC_INSUFFICIENT_SCOPE`: a scope required by `@RequireScopes()` is missing;
 * - `OIDC_CC_NO_ACCEPTED_SCOPE`: the token has none of the scopes of a `@RequireScopes.any()`;
 * - `OIDC_CC_CLIENT_NOT_ALLOWED`: the client is not in `verification.allowedClientIds`;
 * - `OIDC_CC_ROUTE_CLIENT_NOT_ALLOWED`: the client is not one the route's `@AllowClients()` names;
 * - `OIDC_CC_CLAIMS_NOT_SATISFIED`: the token's claims do not meet the route's `@RequireClaims()`;
 * - `OIDC_CC_CLAIMS_CHECK_FAILED`: a `@RequireClaims()` predicate threw or did not return a boolean;
 * - `OIDC_CC_SCOPES_UNVERIFIABLE`: the route requires scopes that its verification strategy cannot
 *   report (userinfo answers carry none).
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 */
export class InsufficientScopeError extends OidcClientCredentialsError {
  constructor(
    override readonly code: InsufficientScopeErrorCode,
    message: string,
    /**
     * The scopes behind the refusal, for the challenge's `scope` attribute: the route's required
     * scopes (all of them), or the scopes of which one would do (`OIDC_CC_NO_ACCEPTED_SCOPE`).
     */
    readonly requiredScopes: readonly string[] = [],
  ) {
    super(code, message);
  }
}
