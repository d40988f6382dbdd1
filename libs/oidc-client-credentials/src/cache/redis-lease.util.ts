import { randomBytes } from 'node:crypto';
import type { GuardedKeyvStore } from './guarded-keyv.store.js';

/** Outcome of taking a lease on the shared store. */
export type SharedLease =
  /** This instance holds the lease until `release()` or its TTL. */
  | { readonly state: 'acquired'; release(): Promise<void> }
  /** Another instance holds it. */
  | { readonly state: 'held' }
  /** No store can set a key atomically if absent (only @keyv/redis stores can). */
  | { readonly state: 'unsupported' }
  /** The store did not answer in time or failed. */
  | { readonly state: 'unavailable' };

/**
 * The part of a node-redis client a lease needs: `eval` with its keys and arguments, which v4 and
 * v5, single node and cluster (routed by the first key) all take in this shape — unlike `set`'s
 * options (v5 moved `NX`/`PX` to `condition`/`expiration`) or `sendCommand` (a cluster's takes a
 * routing key first).
 */
export interface RedisLeaseClient {
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

/** The parts of a `@keyv/redis` store (`keyv.store`) a lease needs, duck-typed. */
export interface RedisStoreLike {
  getClient(): Promise<RedisLeaseClient>;
  createKeyPrefix?(key: string, namespace?: string): string;
  namespace?: string;
}

// SET NX PX as a script, to run through the one command path every client shape has.
const TAKE_SCRIPT = "return redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])";

// Deletes the lease only if it still holds this instance's id: an expired lease that another
// instance has taken since is left alone.
const RELEASE_SCRIPT =
  "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/** A @keyv/redis store: `getClient()` and a node-redis client (which has `isOpen` and `eval`). */
export function isRedisStore(store: unknown): store is RedisStoreLike {
  if (typeof store !== 'object' || store === null) return false;
  const candidate = store as { getClient?: unknown; client?: Record<string, unknown> };
  const client = candidate.client;
  return (
    typeof candidate.getClient === 'function' &&
    typeof client === 'object' &&
    client !== null &&
    'isOpen' in client &&
    typeof client.eval === 'function'
  );
}

/**
 * Tries to take a lease named `key` for `ttlMs` with `SET key id NX PX ttl` on a @keyv/redis
 * store (under the store's own key prefix), each call within the store's deadline. The lease is
 * released with a script that deletes it only while it still holds this instance's random id. A
 * holder that hangs or dies keeps it at most `ttlMs`; then the next `SET NX` takes it over.
 *
 * @see https://redis.io/docs/latest/commands/set/
 */
export async function takeRedisLease(
  store: GuardedKeyvStore,
  redis: RedisStoreLike,
  key: string,
  ttlMs: number,
): Promise<SharedLease> {
  const leaseKey = redis.createKeyPrefix ? redis.createKeyPrefix(key, redis.namespace) : key;
  const id = randomBytes(16).toString('base64url');
  const px = Math.max(1, Math.floor(ttlMs));
  const releaseNow = async () => {
    const client = await redis.getClient();
    await client.eval(RELEASE_SCRIPT, { keys: [leaseKey], arguments: [id] });
  };
  let attempt: Promise<boolean> | undefined;
  const taken = await store.run(() => {
    attempt = redis.getClient().then(async (client) => {
      const reply = await client.eval(TAKE_SCRIPT, { keys: [leaseKey], arguments: [id, `${px}`] });
      return reply === 'OK';
    });
    return attempt;
  });
  if (!taken.ok) {
    // A SET queued while Redis was unreachable may still run later: give such a lease back.
    attempt?.then((late) => (late ? releaseNow() : undefined)).catch(() => undefined);
    return { state: 'unavailable' };
  }
  const release = async () => {
    await store.run(releaseNow);
  };
  return taken.value ? { state: 'acquired', release } : { state: 'held' };
}
