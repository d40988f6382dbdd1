import type { ClientCredentialsToken } from './client-credentials-token.interface.js';
import type { SharedCache } from '../cache/shared-cache.provider.js';
import type { ResolvedOptions } from '../options/resolved-options.js';
import { sleep } from './backoff.util.js';
import type { TokenCacheEntry } from './token-cache.store.js';

/** Mean pause between two looks at the shared entry while another instance holds the lease. */
export const LEASE_POLL_MS = 25;
/**
 * The lease lives this share of `http.timeoutMs`: a holder that hangs or dies is taken over by a
 * waiter sooner than its request would time out. A holder slower than that may see one more request.
 */
export const LEASE_SHARE_OF_TIMEOUT = 0.5;
/** The shortest lease, whatever `http.timeoutMs` is. */
const MIN_LEASE_MS = 100;
/**
 * Each instance renews at a random point in the first quarter of the time between the shared
 * renewal point and expiry, so instances reading one entry do not renew in lockstep.
 */
export const RENEWAL_JITTER_FRACTION = 0.25;
/** A shared entry claiming more lifetime than this host could have granted, plus this, is refused. */
const CLOCK_SKEW_ALLOWANCE_MS = 60_000;
const RECORD_VERSION = 1;
/** RFC 6749 VSCHAR: what an access token may contain, and all that may go into a header. */
const VSCHAR = /^[\x20-\x7e]+$/;

/**
 * The outbound token as kept in the shared store: times in epoch milliseconds of the writer's
 * clock, renewal point without this instance's jitter.
 */
type SharedTokenRecord = {
  v: typeof RECORD_VERSION;
  kind: 'token';
  /** The cache key it was written under, so a value copied elsewhere is refused. */
  key: string;
  accessToken: string;
  scope?: string;
  /** A DPoP-bound token's RFC 7638 thumbprint of the key it is bound to (its `cnf.jkt`). */
  jkt?: string;
  renewAt: number;
  expiresAt: number;
};

/** Fetches a token; `recheck` looks at the shared store again (before a retry, say). */
export type SharedFetch = (
  recheck: () => Promise<TokenCacheEntry | undefined>,
) => Promise<TokenCacheEntry & { cacheable: boolean }>;

/**
 * One outbound token shared by every instance on the same {@link SharedCache}: read on an
 * in-process miss, written after a fetch, and fetched under a Redis lease by one instance while the
 * others poll for its result.
 */
export class SharedTokenStore {
  private readonly leaseKey: string;

  constructor(
    private readonly shared: SharedCache,
    private readonly key: string,
    private readonly options: ResolvedOptions,
    private readonly random: () => number = Math.random,
    /**
     * With DPoP: the thumbprint of this client's key. Only a token bound to it is taken; a bearer
     * token (or one bound to another key) is a miss, and a token written is labelled with it.
     */
    private readonly binding?: () => string | undefined,
  ) {
    this.leaseKey = `${key}:lease`;
  }

  /**
   * A token for this instance: the shared one while it is before its renewal point and is not
   * `stale` (the token being replaced); else one fetched by `fetch` — by this instance if it takes
   * the lease (or no lease is possible), else by the lease holder, whose result is polled for.
   * The lease lives {@link LEASE_SHARE_OF_TIMEOUT} of `http.timeoutMs`: when a holder hangs or
   * dies, the first waiter to find it expired takes it over (`SET NX`) and fetches, and the others
   * wait for that one's result. Only after `retry.deadlineMs` of polling does a waiter fetch
   * itself. Never waits on the store longer than `cache.timeoutMs` per call.
   */
  async obtain(fetch: SharedFetch, stale?: string): Promise<TokenCacheEntry> {
    const found = await this.read(stale);
    if (found) return found;

    // Bounded by a number of polls (≈ retry.deadlineMs in all) rather than by the clock, which
    // may jump (NTP) or stand still (fake timers).
    let polls = Math.ceil(this.options.retry.deadlineMs / LEASE_POLL_MS);
    const leaseMs = Math.max(
      MIN_LEASE_MS,
      Math.floor(this.options.http.timeoutMs * LEASE_SHARE_OF_TIMEOUT),
    );
    let lease = await this.shared.lease(this.leaseKey, leaseMs);
    while (lease.state === 'held' && polls-- > 0) {
      await sleep(Math.round(LEASE_POLL_MS * (0.5 + this.random())));
      const written = await this.read(stale);
      if (written) return written;
      lease = await this.shared.lease(this.leaseKey, leaseMs);
    }
    if (lease.state !== 'acquired') return this.fetchAndShare(fetch, stale);
    try {
      // The previous holder may have written and released between the first read and the lease.
      return (await this.read(stale)) ?? (await this.fetchAndShare(fetch, stale));
    } finally {
      await lease.release();
    }
  }

  /** Removes the shared token if it is `accessToken` (e.g. the called API refused it). */
  async discard(accessToken: string): Promise<void> {
    const record = await this.shared.get(this.key);
    if (record?.accessToken === accessToken) await this.shared.delete(this.key);
  }

  /**
   * This instance's copy of an entry: the renewal point moved later by a random part of
   * {@link RENEWAL_JITTER_FRACTION} of the time left after it.
   */
  jittered(entry: TokenCacheEntry): TokenCacheEntry {
    const slack = Math.max(0, entry.expiresAt - entry.renewAt);
    const renewAt = entry.renewAt + Math.floor(this.random() * RENEWAL_JITTER_FRACTION * slack);
    return { ...entry, renewAt };
  }

  /** Fetches and writes the result; a token another instance wrote meanwhile is not rewritten. */
  private async fetchAndShare(fetch: SharedFetch, stale?: string): Promise<TokenCacheEntry> {
    const { cacheable, ...entry } = await fetch(() => this.read(stale));
    if (cacheable) await this.write(entry);
    return entry;
  }

  /**
   * Stores the token until `renewBeforeExpirySeconds` before its expiry (the whole lifetime when
   * that margin exceeds it), in milliseconds as Keyv counts: a 3600 s token lives ≈ 3,540,000 ms,
   * so what another instance reads always has the margin left.
   */
  private async write(entry: TokenCacheEntry): Promise<void> {
    const now = Date.now();
    const margin = this.options.tokenRenewal.renewBeforeExpirySeconds * 1000;
    const until = entry.expiresAt - margin > now ? entry.expiresAt - margin : entry.expiresAt;
    const record: SharedTokenRecord = {
      v: RECORD_VERSION,
      kind: 'token',
      key: this.key,
      accessToken: entry.token.accessToken,
      ...(entry.token.scope === undefined ? {} : { scope: entry.token.scope }),
      ...(this.boundTo(entry) === undefined ? {} : { jkt: this.boundTo(entry) }),
      renewAt: entry.renewAt,
      expiresAt: entry.expiresAt,
    };
    await this.shared.set(this.key, record, until - now);
  }

  /** The key thumbprint a DPoP-bound entry is written with (this client's current key). */
  private boundTo(entry: TokenCacheEntry): string | undefined {
    return entry.token.tokenType === 'dpop' ? this.binding?.() : undefined;
  }

  /** The shared token if it is well-formed, this key's, not `stale` and before its renewal point. */
  private async read(stale?: string): Promise<TokenCacheEntry | undefined> {
    const record = this.validRecord(await this.shared.get(this.key));
    if (!record || record.accessToken === stale) return undefined;
    if (record.jkt !== this.binding?.()) return undefined;
    const token: ClientCredentialsToken = Object.freeze({
      accessToken: record.accessToken,
      tokenType: record.jkt === undefined ? 'bearer' : 'dpop',
      expiresAt: record.expiresAt,
      ...(record.scope === undefined ? {} : { scope: record.scope }),
    });
    return {
      token,
      renewAt: record.renewAt,
      expiresAt: record.expiresAt,
      resolved: Promise.resolve(record.accessToken),
    };
  }

  /** Anything odd — another library's data, another key's value, bad times — is a miss. */
  private validRecord(value: Record<string, unknown> | undefined): SharedTokenRecord | undefined {
    if (value === undefined) return undefined;
    const { v, kind, key, accessToken, scope, jkt, renewAt, expiresAt } = value;
    const now = Date.now();
    const longest = this.options.tokenRenewal.maxLifetimeSeconds * 1000 + CLOCK_SKEW_ALLOWANCE_MS;
    const valid =
      v === RECORD_VERSION &&
      kind === 'token' &&
      key === this.key &&
      typeof accessToken === 'string' &&
      accessToken.length <= this.options.http.maxResponseBytes &&
      VSCHAR.test(accessToken) &&
      (scope === undefined || (typeof scope === 'string' && /^[\x20-\x7e]*$/.test(scope))) &&
      (jkt === undefined || (typeof jkt === 'string' && /^[\w-]{43}$/.test(jkt))) &&
      Number.isFinite(renewAt) &&
      Number.isFinite(expiresAt) &&
      now < (renewAt as number) &&
      (renewAt as number) <= (expiresAt as number) &&
      (expiresAt as number) - now <= longest;
    return valid ? (value as unknown as SharedTokenRecord) : undefined;
  }
}
