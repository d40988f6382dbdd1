import { hash } from 'node:crypto';
import { Inject, Injectable, Optional, type OnModuleInit } from '@nestjs/common';
import { TokenVerificationError } from '../errors/token-verification.error.js';
import type { VerifiedToken } from './verified-token.interface.js';
import { OidcClientCredentialsEvents } from '../observability/oidc-client-credentials-events.provider.js';
import { OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS } from '../options/resolved-options.js';
import { SharedCache } from '../cache/shared-cache.provider.js';
import type { ResolvedOptions } from '../options/resolved-options.js';
import {
  readSharedVerification,
  refusedRecord,
  verifiedRecord,
} from './shared-verification.util.js';
import { underFleetLease } from './fleet-single-flight.util.js';
import { LocalVerificationResults } from './verification-results.util.js';
import {
  revocationDigest,
  revokedError,
  VerificationRevocations,
} from './verification-revocations.util.js';

// Built once: reporting a cache hit allocates nothing.
const POSITIVE_HIT = Object.freeze({ result: 'positive' as const });
const NEGATIVE_HIT = Object.freeze({ result: 'negative' as const });
const MISS = Object.freeze({});
const shareAll = (): boolean => true;

/**
 * Identifier of a validation profile: everything that decides whether a token is accepted. It is
 * hashed with the token into the cache key, so a result cached under one configuration never
 * answers for another.
 */
export function verificationProfileId(
  strategy: string,
  options: ResolvedOptions,
  extra: readonly unknown[] = [],
): string {
  const v = options.verification;
  return JSON.stringify([
    'v1',
    strategy,
    options.issuer,
    v.audience ? [...v.audience].sort() : null,
    v.profile,
    [...v.algorithms].sort(),
    v.clockToleranceSeconds,
    ...extra,
  ]);
}

/**
 * Results of token verification, in process: positive ones until min(`exp`, `cacheTtlSeconds`),
 * refusals (`TokenVerificationError`) for `negativeCacheTtlSeconds`, never errors of an unavailable
 * ID service. Keys are the token's SHA-256 digest, tagged with the profile — the token itself is
 * stored nowhere (RFC 9700 §4.9.3). Concurrent verifications of one token share one call (single
 * flight).
 *
 * A hit is a synchronous `Map` lookup and costs no cryptography beyond the token's SHA-256 and
 * no I/O. Positive and negative entries are bounded separately by `cacheMaxEntries` (least
 * recently used out), so a flood of bad tokens cannot evict good results.
 *
 * Route requirements (scopes, allowed clients) are not part of a cached result: the guard checks
 * them on every request.
 *
 * With `cache.stores` and `cache.encryptionKey`, results are also shared by the instances on one
 * store (without the key they are not: a writer to the store could forge them): a local miss reads
 * the shared entry (under `<prefix>:verify:<issuer and profile digest>:<token digest>`, validated,
 * never beyond `exp` nor this instance's own TTLs) before verifying, and a new result is written
 * back; refusals only for the negative TTL, errors never. A token no instance has verified yet is
 * verified by one of them, under a short Redis lease (`<shared key>:lease`, `SET NX PX`); the
 * others wait up to `http.timeoutMs` for its shared result. Hits stay in-process lookups.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7662#section-4 (caching trade-off, never beyond `exp`)
 */
@Injectable()
export class VerificationCache implements OnModuleInit {
  private readonly results: LocalVerificationResults;
  private readonly revocations: VerificationRevocations;
  private readonly inflight = new Map<string, Promise<VerifiedToken>>();
  private readonly profileTags = new Map<string, string>();
  private profileCount = 0;
  /**
   * The digest of a token {@link peek} did not find, for the {@link wrap} of the same token that
   * follows it in the same synchronous run (the guard's miss): one SHA-256 per new token. Taken
   * by that call, or dropped when the run ends: the token is not kept beyond it.
   */
  private missed?: { token: string; digest: string };
  private readonly ttlMs: number;
  private readonly negativeTtlMs: number;
  private readonly issuer: string;
  /** How long an instance waits for another's verification of the same token: `http.timeoutMs`. */
  private readonly leaseWaitMs: number;
  /** A verification lease outlives one call to the ID service, then lapses if its holder died. */
  private readonly leaseTtlMs: number;
  private readonly shared?: SharedCache;
  private readonly sharedTags = new Map<string, string>();
  /** Shared results written before the last {@link clear} are not taken back. */
  private clearedAt = 0;
  private readonly events: OidcClientCredentialsEvents;

  constructor(
    @Inject(OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS) options: ResolvedOptions,
    @Optional() shared?: SharedCache,
    @Optional() events?: OidcClientCredentialsEvents,
  ) {
    this.events = events ?? new OidcClientCredentialsEvents();
    this.ttlMs = options.verification.cacheTtlSeconds * 1000;
    this.negativeTtlMs = options.verification.negativeCacheTtlSeconds * 1000;
    this.issuer = options.issuer;
    this.leaseWaitMs = options.http.timeoutMs;
    this.leaseTtlMs = options.http.timeoutMs + 1000;
    // A result read back decides who the caller is: only sealed values, which no one without the
    // key can write, are trusted. Without cache.encryptionKey, verification stays in process.
    if (shared?.enabled && shared.sealed) this.shared = shared;
    const maxEntries = options.verification.cacheMaxEntries;
    this.results = new LocalVerificationResults(this.ttlMs, this.negativeTtlMs, maxEntries);
    this.revocations = new VerificationRevocations(this.results, this.ttlMs, this.shared);
  }

  /**
   * Cache key of a token under a profile: the token's SHA-256 digest (base64url, the one its
   * revocation is known by) and a short tag of the profile — never the token. One digest per
   * token serves the lookup, the revocation check and the shared entry.
   */
  keyFor(profileId: string, token: string): string {
    return this.keyOf(revocationDigest(token), profileId);
  }

  /**
   * The key of `digest` under `profileId`: the digest itself for the first profile (most services
   * have one: a lookup builds no string), the digest, `.` and a number never given to another
   * profile for the others.
   */
  private keyOf(digest: string, profileId: string): string {
    let tag = this.profileTags.get(profileId);
    if (tag === undefined) {
      // A handful of profiles in practice; bounded anyway. Entries of a forgotten tag age out.
      if (this.profileTags.size >= 64) this.profileTags.clear();
      tag = this.profileCount === 0 ? '' : `.${this.profileCount}`;
      this.profileCount += 1;
      this.profileTags.set(profileId, tag);
    }
    return tag === '' ? digest : digest + tag;
  }

  private readonly forgetMissed = (): void => {
    this.missed = undefined;
  };

  /** `revocationDigest(token)`, or the digest {@link peek} computed for it just before. */
  private digestOf(token: string): string {
    const missed = this.missed;
    if (missed === undefined) return revocationDigest(token);
    this.missed = undefined;
    return missed.token === token ? missed.digest : revocationDigest(token);
  }

  /**
   * The live cached result of `token` under `profileId`, looked up synchronously, or `undefined`:
   * nothing cached, a cached refusal (which {@link wrap} answers), or a result `accept` declines
   * (left to {@link wrap}, and not reported). A hit is reported as {@link wrap} reports it. `now`
   * is the request's reading of the clock (ms since the epoch).
   */
  peek(
    profileId: string,
    token: string,
    accept?: (result: VerifiedToken) => boolean,
    now: number = Date.now(),
  ): VerifiedToken | undefined {
    const digest = revocationDigest(token);
    const hit = this.results.positiveHit(this.keyOf(digest, profileId), now);
    if (hit === undefined) {
      if (this.missed === undefined) queueMicrotask(this.forgetMissed);
      this.missed = { token, digest };
      return undefined;
    }
    if (accept !== undefined && !accept(hit.value)) return undefined;
    this.events.emit('verification.cache.hit', POSITIVE_HIT);
    return hit.value;
  }

  /**
   * The cached answer for `token` under `profileId`, else the result of `verify(token)` — run once
   * for all concurrent callers with the same token — which is then cached as described above.
   * `share(token)` (asked on a miss only) says whether the shared store is used for this token; no
   * for checks cheaper than a round trip to it, such as a local JWT signature check. Both are
   * called with the token, so a caller can pass the same functions for every token.
   */
  wrap(
    profileId: string,
    token: string,
    verify: (token: string) => Promise<VerifiedToken>,
    share: (token: string) => boolean = shareAll,
  ): Promise<VerifiedToken> {
    const digest = this.digestOf(token);
    const key = this.keyOf(digest, profileId);
    const now = Date.now();
    const hit = this.results.positiveHit(key, now);
    if (hit) {
      this.events.emit('verification.cache.hit', POSITIVE_HIT);
      return Promise.resolve(hit.value);
    }
    const refused = this.results.negativeHit(key, now);
    if (refused) {
      this.events.emit('verification.cache.hit', NEGATIVE_HIT);
      return Promise.reject(new TokenVerificationError(refused.code, refused.message));
    }
    this.events.emit('verification.cache.miss', MISS);
    let pending = this.inflight.get(key);
    if (!pending) {
      if (this.revocations.isTokenRevoked(digest, now)) return Promise.reject(revokedError());
      const shared = this.shared;
      if (shared && share(token)) {
        pending = this.verifyShared(shared, profileId, key, digest, () => verify(token));
        const settled = () => this.inflight.delete(key);
        pending.then(settled, settled);
      } else {
        pending = this.verifyHere(key, digest, token, verify);
      }
      this.inflight.set(key, pending);
    }
    return pending;
  }

  /**
   * A miss verified in this instance only (a local check such as a JWT asks the store nothing:
   * revocations reach it as messages): the result cached, or the refusal; then the single flight
   * of `key` ends.
   */
  private async verifyHere(
    key: string,
    digest: string,
    token: string,
    verify: (token: string) => Promise<VerifiedToken>,
  ): Promise<VerifiedToken> {
    try {
      let value: VerifiedToken;
      try {
        value = await verify(token);
      } catch (error) {
        this.results.storeRefusal(key, error);
        throw error;
      }
      this.revocations.refuseIfRevoked(digest, value);
      this.results.store(key, digest, value);
      return value;
    } finally {
      this.inflight.delete(key);
    }
  }

  /**
   * Forgets every cached result (e.g. after a revocation, RFC 7662 §4). In-flight calls finish.
   * Shared entries written until now are no longer taken by this instance; they are not deleted
   * from the store, and other instances keep them until their TTL.
   */
  clear(): void {
    this.results.clear();
    this.clearedAt = Date.now();
  }

  /**
   * Revokes `token`: its cached results go at once, and it is refused (401, `OIDC_CC_TOKEN_INACTIVE`)
   * until its `exp` (a JWT's, or the cached result's; else for `cacheTtlSeconds`) whatever a
   * verification or a shared entry says. With `cache.stores` and `cache.encryptionKey` the record
   * is shared (`<prefix>:revoked:token:<digest>`) and every instance subscribed to
   * `<prefix>:revocations` (a @keyv/redis store) drops its entries within moments.
   *
   * @see https://www.rfc-editor.org/rfc/rfc7009
   */
  revoke(token: string): Promise<void> {
    return this.revocations.revoke(token);
  }

  /**
   * Revokes every token of `clientId` issued until now: its cached results go at once, and a
   * result for it whose `iat` is before now is refused (401) — results without `iat` are verified
   * again rather than taken from the cache. Shared and announced like {@link revoke}; the record
   * is kept for 24 hours.
   */
  revokeClient(clientId: string): Promise<void> {
    return this.revocations.revokeClient(clientId);
  }

  /** Listens for the revocations of the other instances (with a @keyv/redis store). */
  async onModuleInit(): Promise<void> {
    await this.revocations.subscribe();
  }

  /** Number of cached results, positive and negative. */
  get size(): number {
    return this.results.size;
  }

  /**
   * A miss with a shared store: the shared result if there is a valid one, else `verify()`, whose
   * result (or refusal) is cached here and written for the other instances.
   */
  private async verifyShared(
    shared: SharedCache,
    profileId: string,
    key: string,
    digest: string,
    verify: () => Promise<VerifiedToken>,
  ): Promise<VerifiedToken> {
    const sharedKey = shared.key('verify', this.sharedTag(profileId), digest);
    const [found] = await Promise.all([
      this.readShared(shared, sharedKey, key, digest),
      this.revocations.sharedRevocationCheck(digest),
    ]);
    this.revocations.throwIfTokenRevoked(digest);
    if (found) return found;

    // One instance of the fleet verifies a new token; the others wait for its shared result.
    return underFleetLease(shared, {
      leaseKey: `${sharedKey}:lease`,
      leaseTtlMs: this.leaseTtlMs,
      waitMs: this.leaseWaitMs,
      readWritten: () => this.readShared(shared, sharedKey, key, digest),
      run: () => this.verifyAndShare(shared, sharedKey, key, digest, verify),
    });
  }

  /** A valid shared result for `key`, cached here too; a shared refusal is thrown. */
  private async readShared(
    shared: SharedCache,
    sharedKey: string,
    key: string,
    digest: string,
  ): Promise<VerifiedToken | undefined> {
    const found = readSharedVerification(await shared.get(sharedKey), {
      key: sharedKey,
      now: Date.now(),
      ttlMs: this.ttlMs,
      negativeTtlMs: this.negativeTtlMs,
      notBefore: this.clearedAt,
    });
    if (found && 'refused' in found) {
      this.results.storeRefusal(key, found.refused, found.until);
      throw found.refused;
    }
    if (found) {
      this.revocations.throwIfTokenRevoked(digest);
      // A stale entry of a revoked client without `iat` is verified again rather than taken.
      if (!(await this.revocations.acceptableAfterClientRevocation(shared, found.value)))
        return undefined;
      this.revocations.refuseIfRevoked(digest, found.value);
      this.results.store(key, digest, found.value, found.until);
      return found.value;
    }
    return undefined;
  }

  /** `verify()`, its result (or refusal) cached here and written for the other instances. */
  private async verifyAndShare(
    shared: SharedCache,
    sharedKey: string,
    key: string,
    digest: string,
    verify: () => Promise<VerifiedToken>,
  ): Promise<VerifiedToken> {
    let value: VerifiedToken;
    try {
      value = await verify();
    } catch (error) {
      const until = this.results.storeRefusal(key, error);
      if (until !== undefined && error instanceof TokenVerificationError) {
        const now = Date.now();
        await shared.set(sharedKey, refusedRecord(sharedKey, error, now, until), until - now);
      }
      throw error;
    }
    this.revocations.refuseIfRevoked(digest, value);
    const until = this.results.store(key, digest, value);
    if (until !== undefined) {
      const now = Date.now();
      await shared.set(sharedKey, verifiedRecord(sharedKey, value, now, until), until - now);
    }
    return value;
  }

  /**
   * Namespace of a profile's shared entries: a digest of the issuer and the profile, so instances
   * of services with other issuers or validation rules never read them.
   */
  private sharedTag(profileId: string): string {
    let tag = this.sharedTags.get(profileId);
    if (tag === undefined) {
      tag = hash('sha256', JSON.stringify([this.issuer, profileId]), 'base64url').slice(0, 22);
      if (this.sharedTags.size >= 64) this.sharedTags.clear();
      this.sharedTags.set(profileId, tag);
    }
    return tag;
  }
}
