import { traceVerification } from '../observability/tracing.util.js';
import type { VerifiedToken } from './verified-token.interface.js';
import type { VerificationCache } from './verification-cache.provider.js';
import { TokenVerificationStrategy } from './token-verification.strategy.js';

/**
 * A {@link TokenVerificationStrategy} whose `verify` answers from the {@link VerificationCache}
 * (keyed by `profileId` and the token's hash, single flight per token) and calls
 * `verifyUncached` on a miss. The built-in strategies extend it; so can your own.
 *
 * @example
 * @Injectable()
 * class ApiKeyStrategy extends CachedVerificationStrategy {
 *   constructor(cache: VerificationCache) { super(cache, 'api-key'); }
 *   async verifyUncached(token: string): Promise<VerifiedToken> { … }
 * }
 */
export abstract class CachedVerificationStrategy extends TokenVerificationStrategy {
  protected constructor(
    protected readonly cache: VerificationCache,
    /** Everything that decides acceptance besides the token (see `verificationProfileId`). */
    readonly profileId: string,
  ) {
    super();
  }

  /**
   * Whether the result for `token` also goes to the shared store (`cache.stores`), so other
   * instances need not verify it again; asked on a miss only. Worth it when verifying calls the ID
   * service; a local check faster than a round trip to the store (a JWT signature) should say no.
   */
  protected shareResultOf(token: string): boolean {
    void token;
    return true;
  }

  /**
   * The cached result, else `verifyUncached(token)`; in an `oidc.token.verify` span when an
   * OpenTelemetry SDK is registered (see docs/observability.md).
   */
  verify(token: string): Promise<VerifiedToken> {
    return traceVerification(this.constructor.name, (checked) =>
      this.cache.wrap(
        this.profileId,
        token,
        () => {
          checked();
          return this.verifyUncached(token);
        },
        () => this.shareResultOf(token),
      ),
    );
  }

  /** Checks one token without the cache. */
  abstract verifyUncached(token: string): Promise<VerifiedToken>;
}
