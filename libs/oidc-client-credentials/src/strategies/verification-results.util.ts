import { TokenVerificationError } from '../errors/token-verification.error.js';
import type { VerifiedToken } from './verified-token.interface.js';

/** A verified token's cached result. */
export interface PositiveEntry {
  value: VerifiedToken;
  /** The token's revocation digest, so a revocation by digest finds the entry. */
  digest: string;
  expiresAt: number;
  /** Last time the entry moved to the recent end of the LRU order. */
  touchedAt: number;
}

/** A refused token's cached refusal. */
export interface NegativeEntry {
  code: TokenVerificationError['code'];
  message: string;
  expiresAt: number;
}

/** A hit moves its entry to the recent end of the LRU order at most this often. */
const TOUCH_INTERVAL_MS = 1000;

const uncacheable = new WeakSet<Error>();

/**
 * Marks a refusal that must not be cached as negative (e.g. an unknown `kid` refused only because
 * the JWKS refetch cooldown is running: the same token may verify a few seconds later).
 */
export function doNotCache<E extends Error>(error: E): E {
  uncacheable.add(error);
  return error;
}

/**
 * The in-process level of the verification cache: positive results until min(`exp`, TTL),
 * refusals for the negative TTL, each map bounded by `maxEntries` (least recently used out), so a
 * flood of bad tokens cannot evict good results.
 */
export class LocalVerificationResults {
  private readonly positive = new Map<string, PositiveEntry>();
  private readonly negative = new Map<string, NegativeEntry>();
  private readonly positiveOrder = new EvictionCursor(this.positive);
  private readonly negativeOrder = new EvictionCursor(this.negative);

  constructor(
    private readonly ttlMs: number,
    private readonly negativeTtlMs: number,
    private readonly maxEntries: number,
  ) {}

  /** The live positive entry of `key`, moved towards the recent end; an expired one goes. */
  positiveHit(key: string, now: number): PositiveEntry | undefined {
    const hit = this.positive.get(key);
    if (!hit) return undefined;
    if (hit.expiresAt > now) {
      // Re-insert to keep Map order least-recently-used first (approximately: once a second).
      if (now - hit.touchedAt >= TOUCH_INTERVAL_MS) {
        hit.touchedAt = now;
        this.positive.delete(key);
        this.positive.set(key, hit);
      }
      return hit;
    }
    this.positive.delete(key);
    return undefined;
  }

  /** The live refusal of `key`; an expired one goes. */
  negativeHit(key: string, now: number): NegativeEntry | undefined {
    const refused = this.negative.get(key);
    if (!refused) return undefined;
    if (refused.expiresAt > now) return refused;
    this.negative.delete(key);
    return undefined;
  }

  /** Caches a positive result until min(TTL, `exp`, `notAfter`); returns that time, if cached. */
  store(
    key: string,
    digest: string,
    value: VerifiedToken,
    notAfter = Infinity,
  ): number | undefined {
    const now = Date.now();
    const untilExp = value.expiresAt === undefined ? Infinity : value.expiresAt * 1000 - now;
    const ttl = Math.min(this.ttlMs, untilExp, notAfter - now);
    if (!(ttl > 0)) return undefined;
    this.positive.set(key, { value, digest, expiresAt: now + ttl, touchedAt: now });
    this.negative.delete(key);
    this.positiveOrder.evictOverflow(this.maxEntries);
    return now + ttl;
  }

  /** Caches a refusal for the negative TTL (at most until `notAfter`); returns that time, if cached. */
  storeRefusal(key: string, error: unknown, notAfter = Infinity): number | undefined {
    if (!(error instanceof TokenVerificationError) || uncacheable.has(error)) return undefined;
    const now = Date.now();
    const ttl = Math.min(this.negativeTtlMs, notAfter - now);
    if (!(ttl > 0)) return undefined;
    this.negative.set(key, {
      code: error.code,
      message: error.message,
      expiresAt: now + ttl,
    });
    this.negativeOrder.evictOverflow(this.maxEntries);
    return now + ttl;
  }

  /** The positive entries, for revocations. */
  positiveEntries(): IterableIterator<PositiveEntry> {
    return this.positive.values();
  }

  /** Drops the positive entries `revoked` picks. */
  dropPositive(revoked: (entry: PositiveEntry) => boolean): void {
    for (const [key, entry] of this.positive) {
      if (revoked(entry)) this.positive.delete(key);
    }
  }

  clear(): void {
    this.positive.clear();
    this.negative.clear();
  }

  get size(): number {
    return this.positive.size + this.negative.size;
  }
}

/**
 * Evicts the oldest entries of a `Map` kept in least-recently-used order. One iterator is kept
 * across evictions: a new iterator would step over every slot freed since the map last compacted
 * (thousands at a full cache), this one resumes where it stopped. A live `Map` iterator also
 * yields the entries set after it was created, so re-inserted (touched) entries come in turn.
 */
class EvictionCursor {
  private keys?: IterableIterator<string>;

  constructor(private readonly map: Map<string, unknown>) {}

  evictOverflow(max: number): void {
    while (this.map.size > max) {
      let next = this.keys?.next();
      if (next === undefined || next.done) {
        this.keys = this.map.keys();
        next = this.keys.next();
        if (next.done) return;
      }
      this.map.delete(next.value);
    }
  }
}
