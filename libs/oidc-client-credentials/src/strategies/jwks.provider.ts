import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import type { JWK } from 'jose';
import { errorCode } from '../errors/error-code.util.js';
import { TokenVerificationError } from '../errors/token-verification.error.js';
import { ValidatorUnavailableError } from '../errors/validator-unavailable.error.js';
import type { JwksFetchReason } from '../observability/oidc-client-credentials-events.interface.js';
import { IssuerMetadataProvider } from '../idp/issuer-metadata.provider.js';
import { OidcClientCredentialsEvents } from '../observability/oidc-client-credentials-events.provider.js';
import { OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS } from '../options/resolved-options.js';
import { selectJwk } from './jwk-selection.util.js';
import { SharedJwksStore, type JwksSnapshot } from './shared-jwks.store.js';
import { fetchJwks } from './jwks-fetch.util.js';
import { ImportedJwks, type VerificationKey } from './jwk-import.util.js';
import { UnknownKids } from './unknown-kid.util.js';
import { SharedCache } from '../cache/shared-cache.provider.js';
import type { ResolvedOptions } from '../options/resolved-options.js';
import { doNotCache } from './verification-results.util.js';

/** The longest a token naming an unknown `kid` waits for the cooldown to end (or half `http.timeoutMs`). */
const MAX_KID_WAIT_MS = 2000;

/** Where the JWKS stands, from {@link JwksProvider.status}. */
export interface JwksStatus {
  /** Keys of the last successful fetch. */
  readonly keyCount: number;
  /** When they were fetched (ms since the epoch); absent before the first successful fetch. */
  readonly fetchedAt?: number;
  /** They are past `jwksMaxAgeSeconds` (in use only while the endpoint fails, in the stale window). */
  readonly stale: boolean;
  /** The last fetch attempt failed. */
  readonly lastFetchFailed: boolean;
}

/**
 * The ID service's signing keys, fetched only from the configured or discovered `jwks_uri` —
 * never from a token's `jku`, `x5u`, `jwk` or `x5c` — with the hardened fetch (no redirects,
 * timeout, size cap).
 *
 * - Refetched when older than `jwksMaxAgeSeconds`.
 * - Refetched for an unknown `kid` at most once per `jwksCooldownSeconds`; concurrent misses share
 *   one fetch, and a `kid` missing from a fetch is refused from memory until the next successful
 *   one, so a flood of random `kid`s costs at most one fetch per cooldown. A known `kid` whose
 *   signature fails never causes a fetch.
 * - Key rotation: a `kid` not in the keys fetched last is refused (401) only once a fetch made
 *   since it was first seen lacks it too. Inside the cooldown such a token waits for the next
 *   allowed fetch when it is at most 2 s away (and at most half `http.timeoutMs`), else it is
 *   answered 503 with `Retry-After` set to the seconds until that fetch.
 * - When a refresh fails (unreachable, non-200, redirect, invalid JSON, oversized, timeout) the
 *   last successfully fetched keys keep working for `jwksStaleWindowSeconds` after they became
 *   due for refresh (logged once); then verification fails closed with
 *   `ValidatorUnavailableError`. A failed fetch is retried after min(cooldown, `retryAfterSeconds`);
 *   until then every verification that needs the JWKS fails with that same error (its code and
 *   message name the cause: the URL, the system error code or HTTP status). A discovered
 *   `jwks_uri` that looks gone (refused connection, unknown host, 404) has discovery fetched again.
 * - Keys dropped from a successful response are no longer accepted; stale keys are only ever the
 *   last successful set.
 * - With `cache.stores` and `cache.encryptionKey`, the instances share one JWKS: one fetches under
 *   a Redis lease and stores it sealed with its fetch times, the others take it, and the cooldown
 *   runs from the fleet's last fetch.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8725#section-3.10
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-4
 */
@Injectable()
export class JwksProvider {
  private readonly logger = new Logger(JwksProvider.name);
  private readonly maxAgeMs: number;
  private readonly cooldownMs: number;
  private readonly staleWindowMs: number;
  private readonly failureBackoffMs: number;
  private readonly timeoutMs: number;
  private keys?: readonly JWK[];
  private fetchedAt = -Infinity;
  /** When the fetch of the current keys started. */
  private keysRequestedAt = -Infinity;
  private lastAttemptAt = -Infinity;
  private lastAttemptFailed = false;
  /** Why the last fetch failed: what verification answers until the next attempt. */
  private lastFailure?: ValidatorUnavailableError;
  private inflight?: Promise<readonly JWK[]>;
  /** The fetch that tokens naming an unknown `kid` wait for when the cooldown ends soon. */
  private scheduledRefresh?: Promise<readonly JWK[]>;
  /** `kid`s missing from a fetch since the last successful one. */
  private readonly unknownKids = new UnknownKids();
  private readonly maxKidWaitMs: number;
  /** The JWKS shared by the instances on a sealed shared cache, if there is one. */
  private readonly fleet?: SharedJwksStore;
  private reportedStale = false;
  private reportedExpired = false;
  private readonly imported = new ImportedJwks();
  /** Keys `getKey` chose and imported from {@link keys}, by `alg` and `kid`, for {@link readyKey}. */
  private ready: { keys?: readonly JWK[]; byAlgKid: Map<string, VerificationKey> } = {
    byAlgKid: new Map(),
  };

  private readonly events: OidcClientCredentialsEvents;

  constructor(
    private readonly metadata: IssuerMetadataProvider,
    @Inject(OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS) options: ResolvedOptions,
    @Optional() events?: OidcClientCredentialsEvents,
    @Optional() shared?: SharedCache,
  ) {
    this.events = events ?? new OidcClientCredentialsEvents();
    const v = options.verification;
    if (shared?.enabled && shared.sealed) {
      const recordTtlMs = (v.jwksMaxAgeSeconds + v.jwksStaleWindowSeconds) * 1000;
      this.fleet = new SharedJwksStore(shared, options.http.timeoutMs, recordTtlMs);
    }
    this.maxAgeMs = v.jwksMaxAgeSeconds * 1000;
    this.cooldownMs = v.jwksCooldownSeconds * 1000;
    this.staleWindowMs = v.jwksStaleWindowSeconds * 1000;
    this.failureBackoffMs = Math.min(v.jwksCooldownSeconds, v.retryAfterSeconds) * 1000;
    this.timeoutMs = options.http.timeoutMs;
    this.maxKidWaitMs = Math.min(MAX_KID_WAIT_MS, options.http.timeoutMs / 2);
  }

  /**
   * The key that verifies a JWS with this `alg` and `kid` (see `selectJwk` for the rules).
   *
   * @throws TokenVerificationError when no key may verify the token.
   * @throws ValidatorUnavailableError when the JWKS cannot be fetched and no usable keys are known.
   */
  async getKey(alg: string, kid: string | undefined): Promise<VerificationKey> {
    const seenAt = Date.now();
    let keys = await this.currentKeys();
    let selection = selectJwk(keys, alg, kid);
    // Keys another instance fetched before this token was seen are not a fresh fetch for it:
    // then it waits for, or is told when, the next one.
    // Or a fetch lacked it since the last successful one, and no new fetch is allowed yet.
    const checked = () =>
      this.keysRequestedAt >= seenAt ||
      (this.unknownKids.knownMissing(kid) &&
        !this.lastAttemptFailed &&
        Date.now() - this.lastAttemptAt < this.cooldownMs);
    for (let round = 0; round < 2 && selection.kind === 'unknown' && !checked(); round++) {
      keys = await this.keysFetchedAfter(kid);
      selection = selectJwk(keys, alg, kid);
    }
    if (selection.kind === 'unknown') {
      if (!checked()) throw this.notCheckableYet();
      this.unknownKids.remember(kid);
    }
    if (selection.kind === 'unknown') {
      throw doNotCache(TokenVerificationError.invalid('No published key matches the token'));
    }
    if (selection.kind === 'refused') {
      throw TokenVerificationError.invalid(`The token cannot be verified: ${selection.reason}`);
    }
    const key = await this.imported.get(selection.jwk, alg);
    this.remember(keys, alg, kid, key);
    return key;
  }

  /**
   * The key {@link getKey} would answer, when it is known without waiting: the keys are fresh and
   * this `alg` and `kid` were chosen and imported from them before. `undefined` otherwise (then
   * ask {@link getKey}). One map lookup: a first-seen token signed with a known key pays no key
   * selection and no promise for it.
   */
  readyKey(alg: string, kid: string | undefined): VerificationKey | undefined {
    const { ready } = this;
    if (ready.keys !== this.keys || !(Date.now() - this.fetchedAt < this.maxAgeMs))
      return undefined;
    return ready.byAlgKid.get(readyKeyName(alg, kid));
  }

  /** Keeps `key`, chosen from `keys`, for {@link readyKey} while `keys` are the current ones. */
  private remember(
    keys: readonly JWK[],
    alg: string,
    kid: string | undefined,
    key: VerificationKey,
  ): void {
    if (keys !== this.keys) return;
    if (this.ready.keys !== keys) this.ready = { keys, byAlgKid: new Map() };
    // Bounded by the key set: one entry per published key and allowed algorithm.
    this.ready.byAlgKid.set(readyKeyName(alg, kid), key);
  }

  /**
   * Keys fetched after a token named a `kid` the known keys lack: a fetch in flight is joined; a
   * fetch is made when the cooldown allows; a `kid` already missing from a fetch made since the
   * last one it was missing from is answered from memory. Inside the cooldown the token waits for
   * the next allowed fetch when it is near, else it cannot be checked yet (503 with the seconds
   * until that fetch): a key published after the last fetch is never refused for the cooldown.
   */
  private async keysFetchedAfter(kid: string | undefined): Promise<readonly JWK[]> {
    if (this.inflight) return this.inflight;
    const untilAllowed = this.lastAttemptAt + this.cooldownMs - Date.now();
    if (untilAllowed <= 0) return this.refresh('unknown-kid');
    if (this.lastAttemptFailed) throw this.lastFailureAgain();
    if (this.unknownKids.knownMissing(kid)) return this.keys ?? [];
    if (untilAllowed > this.maxKidWaitMs) throw this.notCheckableYet();
    this.scheduledRefresh ??= new Promise<void>((resolve) => {
      setTimeout(resolve, untilAllowed).unref?.();
    }).then(() => {
      this.scheduledRefresh = undefined;
      return this.inflight ?? this.refresh('unknown-kid');
    });
    return this.scheduledRefresh;
  }

  /** A token naming a `kid` no fetch since it was seen could check: 503 until the next fetch. */
  private notCheckableYet(): ValidatorUnavailableError {
    const untilAllowed = this.lastAttemptAt + this.cooldownMs - Date.now();
    return new ValidatorUnavailableError(
      'OIDC_CC_JWKS_UNAVAILABLE',
      'The token names a key the JWKS did not hold when last fetched; the next fetch is allowed after jwksCooldownSeconds',
      { retryAfterSeconds: Math.max(1, Math.ceil(untilAllowed / 1000)) },
    );
  }

  /** The keys of the last successful fetch (for diagnostics); empty before the first one. */
  get knownKeys(): readonly JWK[] {
    return this.keys ?? [];
  }

  /**
   * The keys a verification would use now: fetched first when due (one fetch for all callers,
   * with the same backoff as verification), the last known ones inside the stale window. For
   * health checks: it fetches no more often than verification would.
   *
   * @throws ValidatorUnavailableError when no usable keys can be had.
   */
  keySet(): Promise<readonly JWK[]> {
    return this.currentKeys();
  }

  /** Where the JWKS stands, from memory (no fetch). */
  status(): JwksStatus {
    const fetched = this.keys !== undefined;
    return {
      keyCount: this.keys?.length ?? 0,
      ...(fetched ? { fetchedAt: this.fetchedAt } : {}),
      stale: fetched && Date.now() - this.fetchedAt >= this.maxAgeMs,
      lastFetchFailed: this.lastAttemptFailed,
    };
  }

  /** Forgets the fetched keys and timers; the next verification fetches the JWKS again. */
  clear(): void {
    this.keys = undefined;
    this.fetchedAt = -Infinity;
    this.keysRequestedAt = -Infinity;
    this.lastAttemptAt = -Infinity;
    this.lastAttemptFailed = false;
    this.lastFailure = undefined;
    this.unknownKids.clear();
  }

  private async currentKeys(): Promise<readonly JWK[]> {
    const now = Date.now();
    if (this.keys && now - this.fetchedAt < this.maxAgeMs) return this.keys;
    const mayAttempt =
      this.inflight !== undefined ||
      !this.lastAttemptFailed ||
      now - this.lastAttemptAt >= this.failureBackoffMs;
    if (!this.keys) {
      if (!mayAttempt) throw this.lastFailureAgain();
      return this.refresh('initial');
    }
    if (mayAttempt) {
      try {
        return await this.refresh('expired');
      } catch (error) {
        if (!(error instanceof ValidatorUnavailableError)) throw error;
      }
    }
    if (Date.now() - this.fetchedAt < this.maxAgeMs + this.staleWindowMs) {
      if (!this.reportedStale) {
        this.reportedStale = true;
        this.logger.warn(
          `The JWKS endpoint is failing${this.failureInBrackets()}; verifying with the last known keys for up to ${this.staleWindowMs / 1000} s`,
        );
      }
      if (this.events.observed('jwks.stale-keys-used')) {
        this.events.emit('jwks.stale-keys-used', {
          ageSeconds: Math.floor((Date.now() - this.fetchedAt) / 1000),
          staleWindowSeconds: this.staleWindowMs / 1000,
        });
      }
      return this.keys;
    }
    if (!this.reportedExpired) {
      this.reportedExpired = true;
      this.logger.error(
        `The JWKS endpoint is failing${this.failureInBrackets()} and the last known keys are too old; refusing`,
      );
    }
    throw this.lastFailureAgain('; the last known keys are past jwksStaleWindowSeconds');
  }

  /** ` (<the last fetch's failure>)`, or nothing before a failure. */
  private failureInBrackets(): string {
    return this.lastFailure ? ` (${this.lastFailure.message})` : '';
  }

  /**
   * The last fetch's failure, thrown again while no new fetch may be made: the same code and
   * message on every request, so a cause is reported as itself (and logged as one).
   */
  private lastFailureAgain(suffix = ''): ValidatorUnavailableError {
    const last = this.lastFailure;
    if (!last) {
      return ValidatorUnavailableError.of(
        'OIDC_CC_JWKS_UNAVAILABLE',
        `The JWKS endpoint failed recently${suffix}`,
      );
    }
    return new ValidatorUnavailableError(last.code, `${last.message}${suffix}`, {
      cause: last.cause,
    });
  }

  /** One fetch for all concurrent callers; resolves with the new keys or rejects (503). */
  private refresh(reason: JwksFetchReason): Promise<readonly JWK[]> {
    if (!this.inflight) {
      const startedAt = Date.now();
      this.lastAttemptAt = startedAt;
      this.inflight = this.obtainKeys(reason).then(
        (snapshot) => {
          const { keys } = snapshot;
          this.keys = keys;
          this.keysRequestedAt = snapshot.requestedAt;
          // With a shared JWKS the cooldown runs from the fleet's last fetch.
          this.lastAttemptAt = snapshot.fetched
            ? Math.max(this.lastAttemptAt, snapshot.requestedAt)
            : snapshot.requestedAt;
          this.unknownKids.clear();
          this.fetchedAt = snapshot.fetchedAt;
          if (snapshot.fetched) {
            this.events.emit('jwks.fetched', {
              reason,
              keyCount: keys.length,
              durationMs: Date.now() - startedAt,
            });
          }
          this.lastAttemptFailed = false;
          this.lastFailure = undefined;
          this.reportedExpired = false;
          if (this.reportedStale) {
            this.reportedStale = false;
            this.logger.log('The JWKS endpoint answers again');
          }
          return keys;
        },
        (error: unknown) => {
          this.lastAttemptFailed = true;
          this.lastFailure = error instanceof ValidatorUnavailableError ? error : undefined;
          this.events.emit('jwks.failed', {
            reason,
            code: errorCode(error) ?? 'OIDC_CC_JWKS_UNAVAILABLE',
            durationMs: Date.now() - startedAt,
          });
          throw error;
        },
      );
      const settled = () => {
        this.inflight = undefined;
      };
      this.inflight.then(settled, settled);
    }
    return this.inflight;
  }

  /**
   * The keys to use now: from the instances' shared record when one is recent enough (fetched
   * within the cooldown for an unknown `kid`, within `jwksMaxAgeSeconds` otherwise), else fetched
   * — by one instance for the fleet under a lease when the cache is shared.
   */
  private async obtainKeys(reason: JwksFetchReason): Promise<JwksSnapshot> {
    const jwksUri = (await this.metadata.requireForVerification('jwks_uri')).jwks_uri!;
    if (this.fleet) {
      const freshWithinMs = reason === 'unknown-kid' ? this.cooldownMs : this.maxAgeMs;
      return this.fleet.obtain(jwksUri, freshWithinMs, () => this.fetchKeys(jwksUri));
    }
    const requestedAt = Date.now();
    const keys = await this.fetchKeys(jwksUri);
    return { keys, requestedAt, fetchedAt: Date.now(), fetched: true };
  }

  private fetchKeys(jwksUri: string): Promise<readonly JWK[]> {
    return fetchJwks(this.metadata, jwksUri, this.timeoutMs);
  }
}

/** The name of a ready key: its `alg`, and its `kid` after a space (an `alg` has none). */
function readyKeyName(alg: string, kid: string | undefined): string {
  return kid === undefined ? alg : `${alg} ${kid}`;
}
