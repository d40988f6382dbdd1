import {
  OidcClientCredentialsError,
  type OidcClientCredentialsErrorCode,
} from './oidc-client-credentials.error.js';

/** Codes of a valid token that does not grant access to the route (403). */
export type InsufficientScopeErrorCode = Extract<
  OidcClientCredentialsErrorCode,
  'OIDC_CC_INSUFFICIENT_SCOPE' | 'OIDC_CC_CLIENT_NOT_ALLOWED' | 'OIDC_CC_SCOPES_UNVERIFIABLE'
>;

/**
 * The token is valid but does not grant this request: a scope required by `@RequireScopes()` is
 * missing (`OIDC_CC_INSUFFICIENT_SCOPE`), or the client is not in `verification.allowedClientIds`
 * (`OIDC_CC_CLIENT_NOT_ALLOWED`), or the route requires scopes that its verification strategy
 * cannot report (`OIDC_CC_SCOPES_UNVERIFIABLE`: userinfo answers carry none). Answered with 403
 * `insufficient_scope`.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 */
export class InsufficientScopeError extends OidcClientCredentialsError {
  constructor(
    override readonly code: InsufficientScopeErrorCode,
    message: string,
    /** Scopes the route requires (all of them), for the challenge's `scope` attribute. */
    readonly requiredScopes: readonly string[] = [],
  ) {
    super(code, message);
  }
}
