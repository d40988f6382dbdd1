import {
  Inject,
  Injectable,
  Logger,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS } from '../options/resolved-options.js';
import type { ResolvedOptions } from '../options/resolved-options.js';
import { createCacheCipher, type CacheCipher } from './cache-encryption.util.js';
import { decodeRecord, encodeRecord } from './cache-record.util.js';
import { GuardedKeyvStore, heldInProcess } from './guarded-keyv.store.js';
import { isRedisStore, takeRedisLease, type SharedLease } from './redis-lease.util.js';
import {
  pubSubClientOf,
  subscribeTo,
  type PubSubClient,
  type Subscription,
} from './redis-channel.util.js';
import { messageKey, openMessage, SeenMessages, signMessage } from './signed-message.util.js';

/** Longest wait at startup for a Redis store's connection; the module starts either way. */
export const SHARED_CACHE_CONNECT_WAIT_MS = 500;

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
 *   write), never an exception. A failing store is logged once, skipped except for one probe a
 *   second, and logged once more when it answers again ({@link GuardedKeyvStore}).
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
  private readonly stores: GuardedKeyvStore[];
  private readonly cipher?: CacheCipher;
  private readonly prefix: string;
  /** Signs and checks messages between instances; only with `cache.encryptionKey`. */
  private readonly messageKey?: Buffer;
  private readonly seenMessages = new SeenMessages();
  private readonly subscriptions: Subscription[] = [];

  constructor(@Inject(OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS) options: ResolvedOptions) {
    const { stores, keyPrefix, encryptionKey, timeoutMs } = options.cache;
    this.prefix = keyPrefix;
    this.cipher = encryptionKey && createCacheCipher(encryptionKey);
    this.messageKey = encryptionKey && messageKey(encryptionKey);
    this.stores = stores.map((keyv, index) => {
      const store = new GuardedKeyvStore(keyv, `cache.stores[${index}]`, timeoutMs, this.logger);
      if (heldInProcess(keyv.store)) {
        this.logger.warn(
          `${store.name} keeps its entries in this process's memory: other processes never see ` +
            'them, and the in-process level already caches here. Give only shared stores, ' +
            "such as createKeyv('redis://…') from @keyv/redis",
        );
      }
      return store;
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
      const raw = await store.get(key);
      const record = raw.ok ? decodeRecord(this.cipher, key, raw.value) : undefined;
      if (record !== undefined) return record;
    }
    return undefined;
  }

  /** Stores `record` under `key` in every store for `ttlMs` milliseconds (skipped if ≤ 0). */
  async set(key: string, record: Record<string, unknown>, ttlMs: number): Promise<void> {
    const ttl = Math.floor(ttlMs);
    if (!(ttl > 0) || !this.enabled) return;
    const value = encodeRecord(this.cipher, key, record);
    await Promise.all(this.stores.map((store) => store.set(key, value, ttl)));
  }

  /** Removes `key` from every store. */
  async delete(key: string): Promise<void> {
    await Promise.all(this.stores.map((store) => store.delete(key)));
  }

  /**
   * Tries to take a lease named `key` for `ttlMs` with `SET key id NX PX ttl` on the first
   * @keyv/redis store, so one instance does the work the others wait for. Keyv has no atomic
   * set-if-absent, so other stores answer `'unsupported'` and the caller proceeds without one.
   */
  async lease(key: string, ttlMs: number): Promise<SharedLease> {
    for (const store of this.stores) {
      const redis = store.keyv.store;
      if (isRedisStore(redis)) return takeRedisLease(store, redis, key, ttlMs);
    }
    return { state: this.enabled ? 'unsupported' : 'unavailable' };
  }

  /**
   * Whether {@link publish} and {@link subscribe} reach other instances: a @keyv/redis store and
   * `cache.encryptionKey` (messages are authenticated with a key derived from it).
   */
  get messaging(): boolean {
    return this.messageKey !== undefined && this.pubSubClient() !== undefined;
  }

  /**
   * Sends `body` to every instance subscribed to `name` (`<prefix>:<name>`) on the first
   * @keyv/redis store, signed with HMAC-SHA-256 (a key derived from `cache.encryptionKey`), with
   * its send time and a random id. Without such a store or the key, nothing is sent. Never throws.
   *
   * @returns whether the message was handed to Redis in time.
   */
  async publish(name: string, body: Record<string, unknown>): Promise<boolean> {
    const client = this.pubSubClient();
    if (!client || !this.messageKey) return false;
    const channel = this.key(name);
    const message = signMessage(this.messageKey, channel, body);
    const store = this.stores.find((s) => pubSubClientOf(s.keyv.store) === client);
    const sent = await store!.run(() => client.publish(channel, message));
    return sent.ok;
  }

  /**
   * Calls `listener` with the body of each message another instance {@link publish}es on `name`,
   * once, and only if its signature holds, it is at most 30 s old and its id is new: a forged,
   * altered or replayed message is dropped. Uses a second connection of the first @keyv/redis
   * store; without one (or without `cache.encryptionKey`) it does nothing and returns false.
   * Waits for the subscription at most as long as for a store's connection at start-up.
   */
  async subscribe(
    name: string,
    listener: (body: Record<string, unknown>) => void,
  ): Promise<boolean> {
    const client = this.pubSubClient();
    const key = this.messageKey;
    if (!client || !key) return false;
    const channel = this.key(name);
    const subscription = subscribeTo(
      client,
      channel,
      (raw) => {
        const body = openMessage(key, channel, raw, this.seenMessages);
        if (body) listener(body);
      },
      this.logger,
    );
    this.subscriptions.push(subscription);
    // Start-up waits for the subscription as for the store's connection, no longer: an
    // unreachable Redis delays nothing, and the subscription goes on trying.
    let timer: NodeJS.Timeout | undefined;
    const subscribed = subscription.ready.then(
      () => true,
      (error: unknown) => {
        const reason = error instanceof Error ? error.message : String(error);
        this.logger.warn(
          `Cannot subscribe to ${channel} (${reason}); messages from other instances are not received`,
        );
        return false;
      },
    );
    const waited = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), SHARED_CACHE_CONNECT_WAIT_MS);
      timer.unref?.();
    });
    try {
      return await Promise.race([subscribed, waited]);
    } finally {
      clearTimeout(timer);
    }
  }

  private pubSubClient(): PubSubClient | undefined {
    for (const store of this.stores) {
      const client = pubSubClientOf(store.keyv.store);
      if (client) return client;
    }
    return undefined;
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
        await store.connect(() => redis.getClient(), SHARED_CACHE_CONNECT_WAIT_MS);
      }),
    );
  }

  onModuleDestroy(): void {
    for (const subscription of this.subscriptions.splice(0)) subscription.close();
    for (const store of this.stores) store.close();
  }
}
