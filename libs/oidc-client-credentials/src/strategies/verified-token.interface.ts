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
  /** Issuer, when known. */
  issuer?: string;
  /** Audiences, when known. */
  audience?: string[];
  /** All claims the ID service returned, as a null-prototype object. */
  claims: Readonly<Record<string, unknown>>;
}
