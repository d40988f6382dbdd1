import {
  CACHE_HIT_RECHECK_MS,
  traceVerification,
  tracingEnabled,
} from '../observability/tracing.util.js';
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
    if (!tracingOn()) return this.cache.wrap(this.profileId, token, this.#uncached, this.#share);
    return traceVerification(this.constructor.name, (checked) =>
      this.cache.wrap(
        this.profileId,
        token,
        () => {
          checked();
          return this.verifyUncached(token);
        },
        this.#share,
      ),
    );
  }

  /**
   * The live cached result of `token`, looked up synchronously (no promise, no I/O), as
   * {@link verify} would answer it from the cache; `undefined` when {@link verify} must answer: no
   * cached result, a cached refusal, a result `accept` declines, or while an OpenTelemetry SDK is
   * registered (so that {@link verify} records the span). A hit is reported (the
   * `verification.cache.hit` event) as {@link verify} reports it. `now` is the caller's reading
   * of the clock for this request (ms since the epoch), so that one request reads it once.
   */
  cachedResult(
    token: string,
    accept?: (result: VerifiedToken) => boolean,
    now: number = Date.now(),
  ): VerifiedToken | undefined {
    if (tracingOn(now)) return undefined;
    return this.cache.peek(this.profileId, token, accept, now);
  }

  /** `verifyUncached` as one function for every token (no closure per call). */
  readonly #uncached = (token: string): Promise<VerifiedToken> => this.verifyUncached(token);

  /** `shareResultOf` as one function for every token. */
  readonly #share = (token: string): boolean => this.shareResultOf(token);

  /** Checks one token without the cache. */
  abstract verifyUncached(token: string): Promise<VerifiedToken>;
}

let tracingCheckedAt = Number.NEGATIVE_INFINITY;
let tracing = false;

/**
 * Whether an OpenTelemetry SDK is registered, looked at most once per `CACHE_HIT_RECHECK_MS` (the
 * look costs more than a cache hit): an SDK registered later is seen within that time.
 */
function tracingOn(now: number = Date.now()): boolean {
  if (now - tracingCheckedAt >= CACHE_HIT_RECHECK_MS || now < tracingCheckedAt) {
    tracingCheckedAt = now;
    tracing = tracingEnabled();
  }
  return tracing;
}
