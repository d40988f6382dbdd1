import { hash } from 'node:crypto';
import type { JWK } from 'jose';
import type { SharedCache } from '../cache/shared-cache.provider.js';

/** Mean pause between two looks at the shared JWKS while another instance fetches it. */
const LEASE_POLL_MS = 25;
const RECORD_VERSION = 1;

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A JWKS and when it was fetched (ms since the epoch), by this instance or another. */
export interface JwksSnapshot {
  readonly keys: readonly JWK[];
  /** When the fetch started: the fleet's last attempt, from which the cooldown runs. */
  readonly requestedAt: number;
  readonly fetchedAt: number;
  /** This instance made the fetch. */
  readonly fetched: boolean;
}

/**
 * One JWKS for every instance on a sealed {@link SharedCache}: an instance that needs keys takes
 * them from the shared record when it is recent enough; otherwise one instance fetches under a Redis
 * lease and writes the keys (sealed, with their fetch time) while the others wait for them. The
 * JWKS is public, but a planted one would let a foreign key in: only sealed records are used.
 */
export class SharedJwksStore {
  constructor(
    private readonly shared: SharedCache,
    private readonly timeoutMs: number,
    private readonly recordTtlMs: number,
  ) {}

  /**
   * Keys whose fetch started at most `freshWithinMs` ago, by any instance, else fetched by `fetch` — by this
   * instance when it takes the lease (or none is possible), else by the holder, whose record is
   * waited for up to `http.timeoutMs`. A failed fetch is not shared.
   */
  async obtain(
    jwksUri: string,
    freshWithinMs: number,
    fetch: () => Promise<readonly JWK[]>,
  ): Promise<JwksSnapshot> {
    const key = this.shared.key('jwks', hash('sha256', jwksUri, 'base64url').slice(0, 22));
    const recent = async () => {
      const found = await this.read(key);
      return found && Date.now() - found.requestedAt < freshWithinMs ? found : undefined;
    };
    const first = await recent();
    if (first) return first;

    let polls = Math.ceil(this.timeoutMs / LEASE_POLL_MS);
    let lease = await this.shared.lease(`${key}:lease`, this.timeoutMs + 1000);
    while (lease.state === 'held' && polls-- > 0) {
      await pause(Math.round(LEASE_POLL_MS * (0.5 + Math.random())));
      const written = await recent();
      if (written) return written;
      lease = await this.shared.lease(`${key}:lease`, this.timeoutMs + 1000);
    }
    try {
      if (lease.state === 'acquired') {
        // The previous holder may have written and released between the first read and the lease.
        const written = await recent();
        if (written) return written;
      }
      const requestedAt = Date.now();
      const keys = await fetch();
      const fetchedAt = Date.now();
      const record = { v: RECORD_VERSION, kind: 'jwks', key, keys, requestedAt, fetchedAt };
      await this.shared.set(key, record, this.recordTtlMs);
      return { keys, requestedAt, fetchedAt, fetched: true };
    } finally {
      if (lease.state === 'acquired') await lease.release();
    }
  }

  /** The shared JWKS, if its record is valid (sealed, for this key, a list of JWKs, sane times). */
  private async read(key: string): Promise<JwksSnapshot | undefined> {
    const record = await this.shared.get(key);
    if (record?.v !== RECORD_VERSION || record.kind !== 'jwks' || record.key !== key) {
      return undefined;
    }
    const { keys, requestedAt, fetchedAt } = record;
    if (!Array.isArray(keys) || typeof requestedAt !== 'number' || typeof fetchedAt !== 'number') {
      return undefined;
    }
    if (!(requestedAt <= fetchedAt && fetchedAt <= Date.now() + 60_000)) return undefined;
    if (!keys.every(isJwk)) return undefined;
    return {
      keys: Object.freeze(keys.map((k) => Object.freeze({ ...k }))),
      requestedAt,
      fetchedAt,
      fetched: false,
    };
  }
}

/** A JWK object: what a JWK Set's `keys` hold (other entries are dropped when fetched). */
export function isJwk(value: unknown): value is JWK {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    typeof (value as { kty?: unknown }).kty === 'string'
  );
}
