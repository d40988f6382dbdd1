import type { VerifiedToken } from './verified-token.interface.js';

/**
 * How an inbound bearer token is checked. Abstract class, so it is both the type and the DI token:
 * provide your own implementation to replace the built-in strategies without touching the guard.
 *
 * `verify` resolves for a valid token and rejects with a `TokenVerificationError` (invalid, expired,
 * inactive) or a `ValidatorUnavailableError` (the ID service could not answer).
 *
 * @example
 * providers: [{ provide: TokenVerificationStrategy, useClass: MyStrategy }]
 */
export abstract class TokenVerificationStrategy {
  /**
   * `false` when the tokens this strategy verifies cannot carry the scopes they were granted (the
   * userinfo strategy: its answers have none). `ClientTokenGuard` then refuses every request to a
   * route with `@RequireScopes()` with 403, and logs the misconfiguration once. Default: they can.
   */
  readonly reportsScopes?: boolean;

  /** Checks one token; must not log or keep the token in clear. */
  abstract verify(token: string): Promise<VerifiedToken>;
}
