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

interface PositiveEntry {
  value: VerifiedToken;
  /** {@link revocationDigest} of the token, so a revocation by digest finds the entry. */
  digest: string;
  promise: Promise<VerifiedToken>;
  expiresAt: number;
  /** Last time the entry moved to the recent end of the LRU order. */
  touchedAt: number;
}

/** Mean pause between two looks at the shared result while another instance verifies the token. */
const LEASE_POLL_MS = 25;

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The channel (`<prefix>:revocations`) on which instances tell each other of revocations. */
const REVOCATIONS = 'revocations';
/** How long a client's "revoked before" time is kept: longer than any client-credentials token lives. */
const REVOKED_CLIENT_TTL_MS = 24 * 60 * 60 * 1000;
const REVOCATION_RECORD_VERSION = 1;

/**
 * The token's digest for revocation records and messages: SHA-256 under a fixed label, the same on
 * every instance and for every profile; the token itself never leaves the process.
 */
function revocationDigest(token: string): string {
  return hash('sha256', `nest-oidc-client-credentials revoked token.${token}`, 'base64url');
}

/** The client's digest in the key of its shared "revoked before" record. */
function clientDigest(clientId: string): string {
  return hash('sha256', `nest-oidc-client-credentials revoked client.${clientId}`, 'base64url');
}

/** A JWT's `exp` in ms, read without verifying (to bound a revocation record), if it has one. */
function unverifiedExpiry(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const exp: unknown = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')).exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

function revokedError(): TokenVerificationError {
  return doNotCache(new TokenVerificationError('OIDC_CC_TOKEN_INACTIVE', 'The token was revoked'));
}

/** A hit moves its entry to the recent end of the LRU order at most this often. */
const TOUCH_INTERVAL_MS = 1000;

interface NegativeEntry {
  code: TokenVerificationError['code'];
  message: string;
  expiresAt: number;
}

const uncacheable = new WeakSet<Error>();

// Built once: reporting a cache hit allocates nothing.
const POSITIVE_HIT = Object.freeze({ result: 'positive' as const });
const NEGATIVE_HIT = Object.freeze({ result: 'negative' as const });
const MISS = Object.freeze({});

/**
 * Marks a refusal that must not be cached as negative (e.g. an unknown `kid` refused only because
 * the JWKS refetch cooldown is running: the same token may verify a few seconds later).
 */
export function doNotCache<E extends Error>(error: E): E {
  uncacheable.add(error);
  return error;
}

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
 * ID service. Keys are SHA-256 digests of profile and token — the token itself is stored nowhere
 * (RFC 9700 §4.9.3). Concurrent verifications of one token share one call (single flight).
 *
 * A hit is a synchronous `Map` lookup and costs no cryptography beyond the SHA-256 of the key and
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
  private readonly positive = new Map<string, PositiveEntry>();
  private readonly negative = new Map<string, NegativeEntry>();
  private readonly inflight = new Map<string, Promise<VerifiedToken>>();
  private readonly profileTags = new Map<string, string>();
  private readonly ttlMs: number;
  private readonly negativeTtlMs: number;
  private readonly maxEntries: number;
  private readonly issuer: string;
  /** How long an instance waits for another's verification of the same token: `http.timeoutMs`. */
  private readonly leaseWaitMs: number;
  /** A verification lease outlives one call to the ID service, then lapses if its holder died. */
  private readonly leaseTtlMs: number;
  private readonly shared?: SharedCache;
  private readonly sharedTags = new Map<string, string>();
  /** Revoked tokens: {@link revocationDigest} → until when (ms), their `exp` where known. */
  private readonly revokedTokens = new Map<string, number>();
  /** Revoked clients: client id → tokens issued before this time (ms) are refused. */
  private readonly revokedClients = new Map<string, number>();
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
    this.maxEntries = options.verification.cacheMaxEntries;
    this.issuer = options.issuer;
    this.leaseWaitMs = options.http.timeoutMs;
    this.leaseTtlMs = options.http.timeoutMs + 1000;
    // A result read back decides who the caller is: only sealed values, which no one without the
    // key can write, are trusted. Without cache.encryptionKey, verification stays in process.
    if (shared?.enabled && shared.sealed) this.shared = shared;
  }

  /**
   * Cache key of a token under a profile: base64url SHA-256 of a fixed-length digest of the profile
   * and the token — never the token. Hashing the profile once keeps the per-request input short.
   */
  keyFor(profileId: string, token: string): string {
    let tag = this.profileTags.get(profileId);
    if (tag === undefined) {
      tag = hash('sha256', profileId, 'base64url');
      // A handful of profiles in practice; bounded anyway.
      if (this.profileTags.size >= 64) this.profileTags.clear();
      this.profileTags.set(profileId, tag);
    }
    return hash('sha256', `${tag}.${token}`, 'base64url');
  }

  /**
   * The cached answer for `token` under `profileId`, else the result of `verify()` — run once for
   * all concurrent callers with the same token — which is then cached as described above.
   * `share` (asked on a miss only) says whether the shared store is used for this token; no for
   * checks cheaper than a round trip to it, such as a local JWT signature check.
   */
  wrap(
    profileId: string,
    token: string,
    verify: () => Promise<VerifiedToken>,
    share: () => boolean = () => true,
  ): Promise<VerifiedToken> {
    const key = this.keyFor(profileId, token);
    const now = Date.now();
    const hit = this.positive.get(key);
    if (hit) {
      if (hit.expiresAt > now) {
        // Re-insert to keep Map order least-recently-used first (approximately: once a second).
        if (now - hit.touchedAt >= TOUCH_INTERVAL_MS) {
          hit.touchedAt = now;
          this.positive.delete(key);
          this.positive.set(key, hit);
        }
        this.events.emit('verification.cache.hit', POSITIVE_HIT);
        return hit.promise;
      }
      this.positive.delete(key);
    }
    const refused = this.negative.get(key);
    if (refused) {
      if (refused.expiresAt > now) {
        this.events.emit('verification.cache.hit', NEGATIVE_HIT);
        return Promise.reject(new TokenVerificationError(refused.code, refused.message));
      }
      this.negative.delete(key);
    }
    this.events.emit('verification.cache.miss', MISS);
    let pending = this.inflight.get(key);
    if (!pending) {
      const digest = revocationDigest(token);
      if ((this.revokedTokens.get(digest) ?? -Infinity) > now)
        return Promise.reject(revokedError());
      const shared = this.shared;
      pending =
        shared && share()
          ? this.verifyShared(shared, profileId, key, digest, verify)
          : // A local check (a JWT) asks the store nothing: revocations reach it as messages.
            verify().then(
              (value) => {
                this.refuseIfRevoked(digest, value);
                this.store(key, digest, value);
                return value;
              },
              (error: unknown) => {
                this.storeRefusal(key, error);
                throw error;
              },
            );
      const settled = () => this.inflight.delete(key);
      pending.then(settled, settled);
      this.inflight.set(key, pending);
    }
    return pending;
  }

  /**
   * Forgets every cached result (e.g. after a revocation, RFC 7662 §4). In-flight calls finish.
   * Shared entries written until now are no longer taken by this instance; they are not deleted
   * from the store, and other instances keep them until their TTL.
   */
  clear(): void {
    this.positive.clear();
    this.negative.clear();
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
  async revoke(token: string): Promise<void> {
    const digest = revocationDigest(token);
    const until = this.revocationEnd(token, digest);
    this.applyTokenRevocation(digest, until);
    const shared = this.shared;
    if (!shared) return;
    const key = shared.key('revoked', 'token', digest);
    const record = { v: REVOCATION_RECORD_VERSION, kind: 'revoked-token', key, until };
    await shared.set(key, record, until - Date.now());
    await shared.publish(REVOCATIONS, { kind: 'token', digest, until });
  }

  /**
   * Revokes every token of `clientId` issued until now: its cached results go at once, and a
   * result for it whose `iat` is before now is refused (401) — results without `iat` are verified
   * again rather than taken from the cache. Shared and announced like {@link revoke}; the record
   * is kept for 24 hours.
   */
  async revokeClient(clientId: string): Promise<void> {
    const before = Date.now();
    this.applyClientRevocation(clientId, before);
    const shared = this.shared;
    if (!shared) return;
    const key = shared.key('revoked', 'client', clientDigest(clientId));
    const record = { v: REVOCATION_RECORD_VERSION, kind: 'revoked-client', key, clientId, before };
    await shared.set(key, record, REVOKED_CLIENT_TTL_MS);
    await shared.publish(REVOCATIONS, { kind: 'client', clientId, before });
  }

  /** Listens for the revocations of the other instances (with a @keyv/redis store). */
  async onModuleInit(): Promise<void> {
    await this.shared?.subscribe(REVOCATIONS, (body) => this.onRevocationMessage(body));
  }

  /** Number of cached results, positive and negative. */
  get size(): number {
    return this.positive.size + this.negative.size;
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
    const sharedKey = shared.key('verify', this.sharedTag(profileId), key);
    const [found] = await Promise.all([
      this.readShared(shared, sharedKey, key, digest),
      this.sharedRevocationCheck(digest),
    ]);
    this.throwIfTokenRevoked(digest);
    if (found) return found;

    // One instance of the fleet verifies a new token; the others wait for its shared result,
    // polling a bounded number of times (the clock may jump or stand still), then verify
    // themselves. The lease is given back as soon as the result is written, or on a failure,
    // which is never shared: the next instance then takes the lease and tries.
    let polls = Math.ceil(this.leaseWaitMs / LEASE_POLL_MS);
    let lease = await shared.lease(`${sharedKey}:lease`, this.leaseTtlMs);
    while (lease.state === 'held' && polls-- > 0) {
      await pause(Math.round(LEASE_POLL_MS * (0.5 + Math.random())));
      const written = await this.readShared(shared, sharedKey, key, digest);
      if (written) return written;
      lease = await shared.lease(`${sharedKey}:lease`, this.leaseTtlMs);
    }
    try {
      if (lease.state === 'acquired') {
        // The previous holder may have written and released between the first read and the lease.
        const written = await this.readShared(shared, sharedKey, key, digest);
        if (written) return written;
      }
      return await this.verifyAndShare(shared, sharedKey, key, digest, verify);
    } finally {
      if (lease.state === 'acquired') await lease.release();
    }
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
      this.storeRefusal(key, found.refused, found.until);
      throw found.refused;
    }
    if (found) {
      this.throwIfTokenRevoked(digest);
      // A stale entry of a revoked client without `iat` is verified again rather than taken.
      if (!(await this.acceptableAfterClientRevocation(shared, found.value))) return undefined;
      this.refuseIfRevoked(digest, found.value);
      this.store(key, digest, found.value, found.until);
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
      const until = this.storeRefusal(key, error);
      if (until !== undefined && error instanceof TokenVerificationError) {
        const now = Date.now();
        await shared.set(sharedKey, refusedRecord(sharedKey, error, now, until), until - now);
      }
      throw error;
    }
    this.refuseIfRevoked(digest, value);
    const until = this.store(key, digest, value);
    if (until !== undefined) {
      const now = Date.now();
      await shared.set(sharedKey, verifiedRecord(sharedKey, value, now, until), until - now);
    }
    return value;
  }

  /** Until when a revocation of `token` lasts: its `exp` where known, else `cacheTtlSeconds`. */
  private revocationEnd(token: string, digest: string): number {
    const now = Date.now();
    let end = unverifiedExpiry(token);
    for (const entry of this.positive.values()) {
      if (entry.digest === digest && entry.value.expiresAt !== undefined) {
        end = Math.max(end ?? 0, entry.value.expiresAt * 1000);
      }
    }
    return end !== undefined && end > now ? end : now + Math.max(this.ttlMs, 1000);
  }

  private applyTokenRevocation(digest: string, until: number): void {
    if (!(until > Date.now())) return;
    this.revokedTokens.set(digest, Math.max(until, this.revokedTokens.get(digest) ?? 0));
    for (const [key, entry] of this.positive) {
      if (entry.digest === digest) this.positive.delete(key);
    }
    this.pruneRevocations();
  }

  private applyClientRevocation(clientId: string, before: number): void {
    if (before <= (this.revokedClients.get(clientId) ?? -Infinity)) return;
    this.revokedClients.set(clientId, before);
    for (const [key, entry] of this.positive) {
      if (entry.value.clientId === clientId) this.positive.delete(key);
    }
  }

  /** Revocations announced by other instances (authenticated by the shared cache). */
  private onRevocationMessage(body: Record<string, unknown>): void {
    if (
      body.kind === 'token' &&
      typeof body.digest === 'string' &&
      typeof body.until === 'number'
    ) {
      this.applyTokenRevocation(body.digest, body.until);
    } else if (
      body.kind === 'client' &&
      typeof body.clientId === 'string' &&
      typeof body.before === 'number' &&
      body.before <= Date.now() + 60_000
    ) {
      this.applyClientRevocation(body.clientId, body.before);
    }
  }

  /** Takes in a shared revocation record of the token, if there is one (instances that missed the message). */
  private async sharedRevocationCheck(digest: string): Promise<void> {
    const shared = this.shared;
    if (!shared) return;
    const key = shared.key('revoked', 'token', digest);
    const record = await shared.get(key);
    if (
      record?.v === REVOCATION_RECORD_VERSION &&
      record.kind === 'revoked-token' &&
      record.key === key &&
      typeof record.until === 'number'
    ) {
      this.applyTokenRevocation(digest, record.until);
    }
  }

  /**
   * Whether a shared result of `value`'s client may be taken: yes unless the client was revoked
   * (here or in its shared record) and the result cannot show it was issued after that.
   */
  private async acceptableAfterClientRevocation(
    shared: SharedCache,
    value: VerifiedToken,
  ): Promise<boolean> {
    const key = shared.key('revoked', 'client', clientDigest(value.clientId));
    const record = await shared.get(key);
    if (
      record?.v === REVOCATION_RECORD_VERSION &&
      record.kind === 'revoked-client' &&
      record.key === key &&
      record.clientId === value.clientId &&
      typeof record.before === 'number'
    ) {
      this.applyClientRevocation(value.clientId, record.before);
    }
    return !this.revokedClients.has(value.clientId) || typeof value.claims.iat === 'number';
  }

  private throwIfTokenRevoked(digest: string): void {
    if ((this.revokedTokens.get(digest) ?? -Infinity) > Date.now()) throw revokedError();
  }

  /** Refuses a result of a revoked token, or of a revoked client's token issued before that. */
  private refuseIfRevoked(digest: string, value: VerifiedToken): void {
    this.throwIfTokenRevoked(digest);
    const before = this.revokedClients.get(value.clientId);
    const iat = value.claims.iat;
    if (before !== undefined && typeof iat === 'number' && iat * 1000 < before) {
      throw revokedError();
    }
  }

  /** Drops token revocations past their end (they are bounded by the tokens' lifetimes). */
  private pruneRevocations(): void {
    if (this.revokedTokens.size < 1024) return;
    const now = Date.now();
    for (const [digest, until] of this.revokedTokens) {
      if (until <= now) this.revokedTokens.delete(digest);
    }
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

  /** Caches a positive result until min(TTL, `exp`, `notAfter`); returns that time, if cached. */
  private store(
    key: string,
    digest: string,
    value: VerifiedToken,
    notAfter = Infinity,
  ): number | undefined {
    const now = Date.now();
    const untilExp = value.expiresAt === undefined ? Infinity : value.expiresAt * 1000 - now;
    const ttl = Math.min(this.ttlMs, untilExp, notAfter - now);
    if (!(ttl > 0)) return undefined;
    this.positive.set(key, {
      value,
      digest,
      promise: Promise.resolve(value),
      expiresAt: now + ttl,
      touchedAt: now,
    });
    this.negative.delete(key);
    evictOverflow(this.positive, this.maxEntries);
    return now + ttl;
  }

  /** Caches a refusal for the negative TTL (at most until `notAfter`); returns that time, if cached. */
  private storeRefusal(key: string, error: unknown, notAfter = Infinity): number | undefined {
    if (!(error instanceof TokenVerificationError) || uncacheable.has(error)) return undefined;
    const now = Date.now();
    const ttl = Math.min(this.negativeTtlMs, notAfter - now);
    if (!(ttl > 0)) return undefined;
    this.negative.set(key, {
      code: error.code,
      message: error.message,
      expiresAt: now + ttl,
    });
    evictOverflow(this.negative, this.maxEntries);
    return now + ttl;
  }
}

function evictOverflow(map: Map<string, unknown>, max: number): void {
  while (map.size > max) {
    const oldest = map.keys().next().value;
    if (oldest === undefined) return;
    map.delete(oldest);
  }
}
