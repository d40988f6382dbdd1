import { randomBytes } from 'node:crypto';
import {
  Inject,
  Injectable,
  Logger,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import type { Keyv } from 'keyv';
import { OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS } from '../options/resolved-options.js';
import { createCacheCipher, open, seal, type CacheCipher } from './cache-encryption.util.js';
import type { ResolvedOptions } from '../options/resolved-options.js';
import { sanitizeForLog } from '../errors/sanitize.util.js';

/**
 * While a store is failing, calls skip it and answer from the in-process level at once; one call
 * per this interval probes whether it answers again.
 */
export const SHARED_CACHE_PROBE_INTERVAL_MS = 1_000;

/** Longest wait at startup for a Redis store's connection; the module starts either way. */
export const SHARED_CACHE_CONNECT_WAIT_MS = 500;

/** Outcome of {@link SharedCache.lease}. */
export type SharedLease =
  /** This instance holds the lease until `release()` or its TTL. */
  | { readonly state: 'acquired'; release(): Promise<void> }
  /** Another instance holds it. */
  | { readonly state: 'held' }
  /** No store can set a key atomically if absent (only @keyv/redis stores can). */
  | { readonly state: 'unsupported' }
  /** The store did not answer in time or failed. */
  | { readonly state: 'unavailable' };

/** The parts of a node-redis client (v4 or v5, single node or cluster) a lease needs. */
interface RedisLeaseClient {
  set(key: string, value: string, options: { NX: true; PX: number }): Promise<unknown>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

/** The parts of a `@keyv/redis` store (`keyv.store`) a lease needs, duck-typed. */
interface RedisStoreLike {
  getClient(): Promise<RedisLeaseClient>;
  createKeyPrefix?(key: string, namespace?: string): string;
  namespace?: string;
}

interface StoreState {
  readonly keyv: Keyv;
  readonly name: string;
  readonly onError: (error: unknown) => void;
  /** Errors the store emitted so far: Keyv adapters report failures as events, not rejections. */
  errors: number;
  down: boolean;
  lastAttemptAt: number;
}

type Outcome<T> = { ok: true; value: T } | { ok: false; reason: string };

// Deletes the lease only if it still holds this instance's id: an expired lease that another
// instance has taken since is left alone.
const RELEASE_SCRIPT =
  "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/**
 * The shared level behind the in-process caches: the Keyv stores of `cache.stores` (e.g. Redis
 * through `createKeyv('redis://…')` from @keyv/redis), used by the token provider and the
 * verification cache when several instances should act as one.
 *
 * Keyv directly rather than cache-manager's `createCache`: the in-process level is already ours
 * and synchronous, and this class needs what a second tiering layer hides — a deadline per call,
 * millisecond TTLs computed here, and the Redis client behind a store for `SET NX PX` leases.
 *
 * - Every call is bounded by `cache.timeoutMs`; a timeout or an error is a miss (or a skipped
 *   write), never an exception. A failing store is logged once, skipped except for one probe per
 *   {@link SHARED_CACHE_PROBE_INTERVAL_MS}, and logged once more when it answers again.
 * - Values are JSON records. With `cache.encryptionKey` they are sealed with AES-256-GCM, bound to
 *   their key; anything that does not open (plain text, another key, tampered) is a miss. Without
 *   it they are stored in plain text and anyone who can write to the store can forge them.
 * - Stores are read in order (first hit wins) and written together. The caller owns the stores:
 *   they are not disconnected when the module stops.
 * - A store held in this process's memory (Keyv's default `Map`, what @nestjs/cache-manager's
 *   `CACHE_MANAGER` holds when given no stores, or cacheable's `CacheableMemory`) shares nothing
 *   and is logged once at startup.
 */
@Injectable()
export class SharedCache implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('OidcClientCredentialsSharedCache');
  private readonly stores: StoreState[];
  private readonly cipher?: CacheCipher;
  private readonly prefix: string;
  private readonly timeoutMs: number;
  /** Set when the module stops: work still in flight then no longer touches the stores. */
  private closed = false;

  constructor(@Inject(OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS) options: ResolvedOptions) {
    const { stores, keyPrefix, encryptionKey, timeoutMs } = options.cache;
    this.prefix = keyPrefix;
    this.timeoutMs = timeoutMs;
    this.cipher = encryptionKey && createCacheCipher(encryptionKey);
    this.stores = stores.map((keyv, index) => {
      const state: StoreState = {
        keyv,
        name: `cache.stores[${index}]`,
        errors: 0,
        down: false,
        lastAttemptAt: 0,
        onError: (error) => {
          state.errors += 1;
          this.markDown(state, describeError(error));
        },
      };
      keyv.on('error', state.onError);
      if (heldInProcess(keyv.store)) {
        this.logger.warn(
          `${state.name} keeps its entries in this process's memory: other processes never see ` +
            'them, and the in-process level already caches here. Give only shared stores, ' +
            "such as createKeyv('redis://…') from @keyv/redis",
        );
      }
      return state;
    });
    if (this.enabled && !this.cipher) {
      this.logger.warn(
        'cache.stores is set without cache.encryptionKey: outbound tokens are stored in plain ' +
          'text, and verification results are not shared (whoever can write to the store could ' +
          'forge them); set cache.encryptionKey to share both',
      );
    }
  }

  /** Whether any shared store is configured. Without one, every call is a no-op miss. */
  get enabled(): boolean {
    return this.stores.length > 0;
  }

  /**
   * Whether values are sealed with `cache.encryptionKey` (AES-256-GCM, bound to their key): only
   * then can a value read back be trusted to come from an instance that holds the key.
   */
  get sealed(): boolean {
    return this.cipher !== undefined;
  }

  /** A key under `cache.keyPrefix`: `<prefix>:<part>:<part>…`. */
  key(...parts: string[]): string {
    return [this.prefix, ...parts].join(':');
  }

  /**
   * The record stored under `key` (decrypted and parsed), or `undefined` on a miss, a value that
   * does not open or parse as a JSON object, a timeout or a failure. Callers still validate its shape.
   */
  async get(key: string): Promise<Record<string, unknown> | undefined> {
    for (const store of this.stores) {
      const raw = await this.run(store, () => store.keyv.get<unknown>(key).catch(unreadable));
      const record = raw.ok ? this.decode(key, raw.value) : undefined;
      if (record !== undefined) return record;
    }
    return undefined;
  }

  /** Stores `record` under `key` in every store for `ttlMs` milliseconds (skipped if ≤ 0). */
  async set(key: string, record: Record<string, unknown>, ttlMs: number): Promise<void> {
    const ttl = Math.floor(ttlMs);
    if (!(ttl > 0) || !this.enabled) return;
    const value = this.encode(key, record);
    await Promise.all(
      this.stores.map((store) => this.run(store, () => store.keyv.set(key, value, ttl))),
    );
  }

  /** Removes `key` from every store. */
  async delete(key: string): Promise<void> {
    await Promise.all(this.stores.map((store) => this.run(store, () => store.keyv.delete(key))));
  }

  /**
   * Tries to take a lease named `key` for `ttlMs` with `SET key id NX PX ttl` on the first
   * @keyv/redis store, so one instance does the work the others wait for. Keyv has no atomic
   * set-if-absent, so other stores answer `'unsupported'` and the caller proceeds without one.
   */
  async lease(key: string, ttlMs: number): Promise<SharedLease> {
    const found = this.stores.find((store) => isRedisStore(store.keyv.store));
    if (!found) return { state: this.enabled ? 'unsupported' : 'unavailable' };
    const redis = found.keyv.store as RedisStoreLike;
    const leaseKey = redis.createKeyPrefix ? redis.createKeyPrefix(key, redis.namespace) : key;
    const id = randomBytes(16).toString('base64url');
    const px = Math.max(1, Math.floor(ttlMs));
    const releaseNow = async () => {
      const client = await redis.getClient();
      await client.eval(RELEASE_SCRIPT, { keys: [leaseKey], arguments: [id] });
    };
    let attempt: Promise<boolean> | undefined;
    const taken = await this.run(found, () => {
      attempt = redis
        .getClient()
        .then(async (client) => (await client.set(leaseKey, id, { NX: true, PX: px })) === 'OK');
      return attempt;
    });
    if (!taken.ok) {
      // A SET queued while Redis was unreachable may still run later: give such a lease back.
      attempt?.then((late) => (late ? releaseNow() : undefined)).catch(() => undefined);
      return { state: 'unavailable' };
    }
    const release = async () => {
      await this.run(found, releaseNow);
    };
    return taken.value ? { state: 'acquired', release } : { state: 'held' };
  }

  /**
   * Opens the connections of @keyv/redis stores now (waiting at most
   * {@link SHARED_CACHE_CONNECT_WAIT_MS}), so the first request does not spend its
   * `cache.timeoutMs` on connecting. A store that cannot connect is logged and skipped as usual.
   */
  async onModuleInit(): Promise<void> {
    await Promise.all(
      this.stores.map(async (store) => {
        const redis = store.keyv.store;
        if (!isRedisStore(redis)) return;
        const connected = await withTimeout(() => redis.getClient(), SHARED_CACHE_CONNECT_WAIT_MS);
        if (!connected.ok) this.markDown(store, connected.reason);
      }),
    );
  }

  onModuleDestroy(): void {
    this.closed = true;
    for (const store of this.stores) store.keyv.off('error', store.onError);
  }

  /** One store call within `cache.timeoutMs`; failures are recorded, not thrown. */
  private async run<T>(store: StoreState, call: () => Promise<T>): Promise<Outcome<T>> {
    if (this.closed) return { ok: false, reason: 'closed' };
    const now = Date.now();
    if (store.down && now - store.lastAttemptAt < SHARED_CACHE_PROBE_INTERVAL_MS) {
      return { ok: false, reason: 'skipped while unavailable' };
    }
    store.lastAttemptAt = now;
    const errorsBefore = store.errors;
    const outcome = await withTimeout(call, this.timeoutMs);
    if (!outcome.ok) {
      this.markDown(store, outcome.reason);
      return outcome;
    }
    // Keyv adapters swallow failures, emit 'error' and answer as for a miss.
    if (store.errors !== errorsBefore) return { ok: false, reason: 'store reported an error' };
    if (store.down) {
      store.down = false;
      this.logger.log(`Shared cache ${store.name} answers again`);
    }
    return outcome;
  }

  private markDown(store: StoreState, reason: string): void {
    store.lastAttemptAt = Date.now();
    if (store.down) return;
    store.down = true;
    this.logger.warn(
      `Shared cache ${store.name} unavailable (${reason}); using the in-process cache until it answers again`,
    );
  }

  private encode(key: string, record: Record<string, unknown>): string {
    const json = JSON.stringify(record);
    return this.cipher ? seal(this.cipher, key, json) : json;
  }

  private decode(key: string, value: unknown): Record<string, unknown> | undefined {
    const json = this.cipher ? open(this.cipher, key, value) : value;
    if (typeof json !== 'string' || !json.startsWith('{')) return undefined;
    try {
      const parsed: unknown = JSON.parse(json);
      return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
        ? (parsed as Record<string, unknown>)
        : undefined;
    } catch {
      return undefined;
    }
  }
}

/**
 * Keyv parses what it reads as JSON and rejects on text that is not: that is a bad value (a miss),
 * not a failing store — else one planted value would switch the shared cache off for everyone.
 */
function unreadable(error: unknown): undefined {
  if ((error as Error | undefined)?.name === 'SyntaxError') return undefined;
  throw error;
}

/** Class names of cacheable's in-memory stores, as @nestjs/cache-manager's docs configure them. */
const IN_PROCESS_STORES = new Set(['CacheableMemory', 'KeyvCacheableMemory']);

/** Keyv's default `Map` or one of cacheable's in-memory stores: nothing another process can read. */
function heldInProcess(store: unknown): boolean {
  if (store instanceof Map) return true;
  const name = (store as { constructor?: { name?: unknown } } | undefined)?.constructor?.name;
  return typeof name === 'string' && IN_PROCESS_STORES.has(name);
}

/** A @keyv/redis store: `getClient()` and a node-redis client (which has `isOpen`, `set`, `eval`). */
function isRedisStore(store: unknown): store is RedisStoreLike {
  if (typeof store !== 'object' || store === null) return false;
  const candidate = store as { getClient?: unknown; client?: Record<string, unknown> };
  const client = candidate.client;
  return (
    typeof candidate.getClient === 'function' &&
    typeof client === 'object' &&
    client !== null &&
    'isOpen' in client &&
    typeof client.set === 'function' &&
    typeof client.eval === 'function'
  );
}

/** Runs `call`, settling after at most `ms`; the call itself is not cancelled. */
async function withTimeout<T>(call: () => Promise<T>, ms: number): Promise<Outcome<T>> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Outcome<T>>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, reason: `no answer within ${ms} ms` }), ms);
    timer.unref?.();
  });
  const result = (async (): Promise<Outcome<T>> => {
    try {
      return { ok: true, value: await call() };
    } catch (error) {
      return { ok: false, reason: describeError(error) };
    }
  })();
  try {
    return await Promise.race([result, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A store error for the log: its class and a sanitised, short message, never a key or value. */
function describeError(error: unknown): string {
  if (!(error instanceof Error)) return sanitizeForLog(String(error), 100) ?? 'error';
  const message = sanitizeForLog(error.message, 100);
  return message ? `${error.name}: ${message}` : error.name;
}
