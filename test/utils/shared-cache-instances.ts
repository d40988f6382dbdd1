import { afterEach, beforeEach } from '@jest/globals';
import type { Keyv } from 'keyv';
import type { SharedCacheOptions } from 'nest-oidc-client-credentials';
import { closeStores, PrivateRedis, redisStore, SHARED_REDIS_URL } from './redis.js';

/** An app instance a test starts: an HTTP app or an application context. */
interface Closable {
  close(): Promise<void>;
}

/** The app instances a test starts on a shared cache, and their stores, to close together. */
export class CacheInstances {
  /** Every store handed to an instance, in order. */
  readonly stores: Keyv[] = [];
  private readonly apps: Closable[] = [];

  /** A new connection to the Redis at `url` for one instance (see {@link redisStore}). */
  redisStore(url: string = SHARED_REDIS_URL): Keyv {
    const store = redisStore(url);
    this.stores.push(store);
    return store;
  }

  /** Keeps `app` to close it with the others; returns it. */
  add<T extends Closable>(app: T): T {
    this.apps.push(app);
    return app;
  }

  /** Closes every instance started so far. */
  async closeApps(): Promise<void> {
    await Promise.all(this.apps.splice(0).map((app) => app.close()));
  }

  /** Closes every instance, then every store still connected. */
  async close(): Promise<void> {
    await this.closeApps();
    await closeStores(this.stores.splice(0));
  }
}

/**
 * An instance's `cache` options: `options` with a store timeout of 1 s unless set, generous so a
 * busy test machine does not turn Redis calls into timeouts.
 */
export function testCacheOptions(options: SharedCacheOptions): SharedCacheOptions {
  return { timeoutMs: 1000, ...options };
}

/**
 * A {@link PrivateRedis} for each test of the enclosing `describe`: started before the test; after
 * it, `instances` are closed, then the Redis.
 */
export function privateRedisPerTest(
  instances: CacheInstances,
): Pick<PrivateRedis, 'url' | 'start' | 'stop' | 'freeze' | 'thaw'> {
  let redis: PrivateRedis | undefined;
  beforeEach(async () => {
    redis = await PrivateRedis.start();
  });
  afterEach(async () => {
    await instances.close();
    await redis?.close();
    redis = undefined;
  });
  const current = (): PrivateRedis => {
    if (!redis) throw new Error('the private Redis exists only during a test');
    return redis;
  };
  return {
    get url() {
      return current().url;
    },
    start: () => current().start(),
    stop: () => current().stop(),
    freeze: () => current().freeze(),
    thaw: () => current().thaw(),
  };
}
