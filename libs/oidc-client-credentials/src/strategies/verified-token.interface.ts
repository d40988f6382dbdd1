/**
 * What a verification strategy learned about a valid bearer token. Cached, so it holds only what
 * later requests need: never the token itself.
 */
export interface VerifiedToken {
  /**
   * The calling client: `client_id` when present, else `sub`. In introspection answers a
   * non-standard `clientId` member, which some ID services send instead of `client_id`, comes
   * between them.
   */
  clientId: string;
  /** `sub` of the token, when it has one. */
  subject?: string;
  /** Granted scopes, split on spaces. */
  scopes: string[];
  /** Expiry as epoch seconds, when known. */
  expiresAt?: number;
  /**
   * The issuer: the token's `iss`, when known. With `verification.issuers`, always the listed
   * issuer that accepted the token (also for introspection answers without `iss`).
   */
  issuer?: string;
  /** Audiences, when known. */
  audience?: string[];
  /** All claims the ID service returned, as a null-prototype object. */
  claims: Readonly<Record<string, unknown>>;
  /**
   * The key the token is bound to (its `cnf` claim), when it is a sender-constrained token: the
   * guard then accepts it only with a proof of possession (a DPoP proof, the client certificate).
   */
  confirmation?: TokenConfirmation;
}

/**
 * The confirmation members a resource server checks (RFC 7800 `cnf`).
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-6
 * @see https://www.rfc-editor.org/rfc/rfc8705#section-3.1
 */
export interface TokenConfirmation {
  /** RFC 7638 SHA-256 thumbprint of the DPoP public key (base64url). */
  jkt?: string;
  /** SHA-256 thumbprint of the client certificate's DER (base64url). */
  'x5t#S256'?: string;
}
