import { randomBytes } from 'node:crypto';
import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { Keyv, type KeyvStoreAdapter } from 'keyv';
import type { OidcClientCredentialsModuleOptions } from 'nest-oidc-client-credentials';
import {
  closeStores,
  deadPort,
  isReady,
  PrivateRedis,
  RedisInspector,
  redisStore,
  uniquePrefix,
} from '../../../../test/utils/redis.js';
import { fakeClock } from '../../../../test/utils/fake-date.js';
import { CapturingLogger } from '../../../../test/utils/nest-http-app.js';
import { until, watch } from '../../../../test/utils/until.js';
import { SHARED_CACHE_PROBE_INTERVAL_MS } from './guarded-keyv.store.js';
import { SHARED_CACHE_CONNECT_WAIT_MS, SharedCache } from './shared-cache.provider.js';
import { resolveOptions } from '../options/resolve-options.util.js';

/**
 * A Keyv adapter whose calls never settle: a Redis that accepted the connection and went silent.
 * `calls` counts what reached it.
 */
function silentAdapter(): KeyvStoreAdapter & { calls: number } {
  const adapter = {
    calls: 0,
    opts: {},
    namespace: undefined,
    on: () => undefined,
  };
  const never = () => {
    adapter.calls += 1;
    return new Promise<never>(() => undefined);
  };
  return Object.assign(adapter, {
    get: never,
    set: never,
    delete: never,
    clear: never,
  }) as unknown as KeyvStoreAdapter & { calls: number };
}

describe('SharedCache', () => {
  let logs: CapturingLogger;
  let inspector: RedisInspector;
  let prefix: string;
  const stores: Keyv[] = [];
  const caches: SharedCache[] = [];

  beforeAll(async () => {
    inspector = await RedisInspector.connect();
  });
  afterAll(async () => {
    await inspector.close();
    Logger.overrideLogger(new Logger());
  });
  beforeEach(() => {
    logs = new CapturingLogger();
    Logger.overrideLogger(logs);
    prefix = uniquePrefix();
    // Store calls and the startup connect wait end on this clock only: however slow the machine,
    // an answer from Redis is never late, and a timeout happens when a test moves the clock.
    fakeClock();
  });
  afterEach(async () => {
    jest.useRealTimers();
    for (const cache of caches.splice(0)) cache.onModuleDestroy();
    await closeStores(stores.splice(0));
    await inspector.clear(prefix);
  });

  /** A started SharedCache; with `unreachable`, the connect wait is let run out on the clock. */
  async function sharedCache(
    cache: OidcClientCredentialsModuleOptions['cache'],
    { unreachable = false } = {},
  ): Promise<SharedCache> {
    const instance = new SharedCache(
      resolveOptions({
        issuer: 'https://id.example.com',
        cache: { keyPrefix: prefix, timeoutMs: 1000, ...cache },
      }),
    );
    caches.push(instance);
    const started = instance.onModuleInit();
    if (unreachable) await jest.advanceTimersByTimeAsync(SHARED_CACHE_CONNECT_WAIT_MS);
    await started;
    return instance;
  }
  const store = (keyv: Keyv) => {
    stores.push(keyv);
    return keyv;
  };
  const warnings = () => logs.at('warn').filter((line) => line.includes('unavailable'));

  it('is a no-op without stores (the default: in-process only)', async () => {
    const cache = await sharedCache({});
    expect(cache.enabled).toBe(false);
    await cache.set(cache.key('x'), { a: 1 }, 1000);
    await expect(cache.get(cache.key('x'))).resolves.toBeUndefined();
    await expect(cache.lease(cache.key('l'), 1000)).resolves.toEqual({ state: 'unavailable' });
    expect(logs.lines).toEqual([]);
  });

  it('writes under cache.keyPrefix with a TTL in milliseconds (R14)', async () => {
    const cache = await sharedCache({ stores: [store(redisStore())] });
    const key = cache.key('token', 'abc');
    expect(key).toBe(`${prefix}:token:abc`);
    await cache.set(key, { n: 1 }, 3_540_000);
    expect(await inspector.keys(prefix)).toEqual([key]);
    const ttl = await inspector.pttl(key);
    expect(ttl).toBeGreaterThan(3_530_000);
    expect(ttl).toBeLessThanOrEqual(3_540_000);
    await expect(cache.get(key)).resolves.toEqual({ n: 1 });
  });

  it('warns once at startup when values would be stored unencrypted', async () => {
    await sharedCache({ stores: [store(new Keyv())] });
    await sharedCache({ stores: [store(new Keyv())], encryptionKey: randomBytes(32) });
    expect(logs.at('warn').filter((l) => l.includes('without cache.encryptionKey'))).toHaveLength(
      1,
    );
  });

  describe('values of the wrong shape are a miss (S72)', () => {
    it.each([
      ['S72 another library’s string', 'hello'],
      ['S72 JSON array', '[1,2]'],
      ['S72 JSON null', 'null'],
      ['S72 truncated JSON', '{"v":1,'],
      ['S72 a number', '42'],
    ])('%s', async (_name, raw) => {
      const cache = await sharedCache({ stores: [store(redisStore())] });
      const key = cache.key('x');
      await inspector.set(key, JSON.stringify({ value: raw, expires: null }));
      await expect(cache.get(key)).resolves.toBeUndefined();
      expect(warnings()).toEqual([]);
    });

    it('S72 a raw value that is not Keyv JSON at all: a miss, and the store stays in use', async () => {
      const cache = await sharedCache({ stores: [store(redisStore())] });
      const key = cache.key('x');
      await inspector.set(key, '\u0000\u0001not json');
      await expect(cache.get(key)).resolves.toBeUndefined();
      await cache.set(cache.key('y'), { ok: true }, 60_000);
      await expect(cache.get(cache.key('y'))).resolves.toEqual({ ok: true });
      expect(warnings()).toEqual([]);
    });
  });

  describe('encryption (R16)', () => {
    it('stores sealed values only, and a reader with another key or none gets a miss', async () => {
      const secret = randomBytes(32);
      const writer = await sharedCache({ stores: [store(redisStore())], encryptionKey: secret });
      const key = writer.key('v');
      await writer.set(key, { claim: 'visible-only-when-decrypted' }, 60_000);

      expect(await inspector.dump(prefix)).not.toContain('visible-only-when-decrypted');
      await expect(writer.get(key)).resolves.toEqual({ claim: 'visible-only-when-decrypted' });
      const sameKey = await sharedCache({
        stores: [store(redisStore())],
        encryptionKey: secret.toString('base64'),
      });
      await expect(sameKey.get(key)).resolves.toEqual({ claim: 'visible-only-when-decrypted' });
      const otherKey = await sharedCache({
        stores: [store(redisStore())],
        encryptionKey: randomBytes(32),
      });
      await expect(otherKey.get(key)).resolves.toBeUndefined();
      const noKey = await sharedCache({ stores: [store(redisStore())] });
      await expect(noKey.get(key)).resolves.toBeUndefined();
    });

    it('R16 a plain value planted where sealed ones are expected is a miss', async () => {
      const reader = await sharedCache({
        stores: [store(redisStore())],
        encryptionKey: randomBytes(32),
      });
      const plain = await sharedCache({ stores: [store(redisStore())] });
      const key = reader.key('v');
      await plain.set(key, { forged: true }, 60_000);
      await expect(reader.get(key)).resolves.toBeUndefined();
    });

    it('R16 a sealed value copied to another key is a miss', async () => {
      const cache = await sharedCache({
        stores: [store(redisStore())],
        encryptionKey: randomBytes(32),
      });
      await cache.set(cache.key('a'), { for: 'a' }, 60_000);
      await inspector.set(cache.key('b'), (await inspector.get(cache.key('a')))!);
      await expect(cache.get(cache.key('b'))).resolves.toBeUndefined();
    });
  });

  describe('leases', () => {
    it('one holder at a time on a @keyv/redis store, with a TTL, released by its holder only', async () => {
      const a = await sharedCache({ stores: [store(redisStore())] });
      const b = await sharedCache({ stores: [store(redisStore())] });
      const key = a.key('lease');
      const first = await a.lease(key, 5_000);
      expect(first.state).toBe('acquired');
      await expect(b.lease(key, 5_000)).resolves.toEqual({ state: 'held' });
      expect(await inspector.pttl(key)).toBeGreaterThan(4_000);
      expect(await inspector.pttl(key)).toBeLessThanOrEqual(5_000);
      if (first.state !== 'acquired') throw new Error('unreachable');
      await first.release();
      const second = await b.lease(key, 5_000);
      expect(second.state).toBe('acquired');
      await first.release(); // the old holder's release must not free the new holder's lease
      await expect(a.lease(key, 5_000)).resolves.toEqual({ state: 'held' });
    });

    it('is unsupported on stores without an atomic set-if-absent (best effort)', async () => {
      const cache = await sharedCache({ stores: [store(new Keyv())] });
      await expect(cache.lease(cache.key('lease'), 1000)).resolves.toEqual({
        state: 'unsupported',
      });
    });
  });

  describe('R13 store slow or down', () => {
    it('R13 a silent store costs cache.timeoutMs, then is skipped until the next probe; warned once', async () => {
      const silent = silentAdapter();
      const cache = await sharedCache({ stores: [store(new Keyv(silent))], timeoutMs: 30 });
      const first = watch(cache.get(cache.key('x')));
      await jest.advanceTimersByTimeAsync(29);
      expect(first.settled()).toBe(false);
      await jest.advanceTimersByTimeAsync(1);
      await expect(first.promise).resolves.toBeUndefined();
      expect(silent.calls).toBe(1);

      // Skipped: answered at once, the clock standing still, nothing sent to the store.
      for (let i = 0; i < 50; i += 1) {
        await cache.get(cache.key('x'));
        await cache.set(cache.key('x'), { a: 1 }, 1000);
      }
      await expect(cache.lease(cache.key('l'), 1000)).resolves.toEqual({ state: 'unsupported' });
      expect(silent.calls).toBe(1);

      // One probe per interval.
      await jest.advanceTimersByTimeAsync(SHARED_CACHE_PROBE_INTERVAL_MS);
      const probe = watch(cache.get(cache.key('x')));
      await jest.advanceTimersByTimeAsync(30);
      await expect(probe.promise).resolves.toBeUndefined();
      expect(silent.calls).toBe(2);
      expect(warnings()).toEqual([
        expect.stringContaining('cache.stores[0] unavailable (no answer within 30 ms)'),
      ]);
    });

    it('R13 nothing listening: misses, lease unavailable, one warning', async () => {
      const port = await deadPort();
      const cache = await sharedCache(
        { stores: [store(redisStore(`redis://127.0.0.1:${port}`))], timeoutMs: 30 },
        { unreachable: true },
      );
      await expect(cache.get(cache.key('x'))).resolves.toBeUndefined();
      await expect(cache.lease(cache.key('l'), 1000)).resolves.toEqual({ state: 'unavailable' });
      await cache.set(cache.key('x'), { a: 1 }, 1000);
      expect(warnings()).toHaveLength(1);
    });

    it('R13 Redis paused (slow): a call gives up at the timeout; Redis killed and back: recovers, logged once each way', async () => {
      const redis = await PrivateRedis.start();
      try {
        const keyv = store(redisStore(redis.url));
        const cache = await sharedCache({ stores: [keyv], timeoutMs: 40 });
        const key = cache.key('x');
        await cache.set(key, { a: 1 }, 60_000);
        await expect(cache.get(key)).resolves.toEqual({ a: 1 });

        // Silent until thawed: only the timeout can end the call.
        redis.freeze();
        try {
          const paused = watch(cache.get(key));
          await jest.advanceTimersByTimeAsync(39);
          expect(paused.settled()).toBe(false);
          await jest.advanceTimersByTimeAsync(1);
          await expect(paused.promise).resolves.toBeUndefined();
        } finally {
          redis.thaw();
        }

        jest.setSystemTime(Date.now() + SHARED_CACHE_PROBE_INTERVAL_MS + 1);
        await expect(cache.get(key)).resolves.toEqual({ a: 1 });

        await redis.stop();
        // The client reports the lost connection at once; from then on calls skip the store.
        await until(() => warnings().length === 2, 'the warning for the lost connection');
        for (let i = 0; i < 20; i += 1) await expect(cache.get(key)).resolves.toBeUndefined();

        await redis.start();
        // The client reconnects in its own time (its timers are real); then one probe, past the
        // interval, finds the store again.
        await until(() => isReady(keyv), 'the reconnection');
        jest.setSystemTime(Date.now() + SHARED_CACHE_PROBE_INTERVAL_MS + 1);
        await cache.set(key, { b: 2 }, 60_000);
        await expect(cache.get(key)).resolves.toEqual({ b: 2 });

        expect(warnings()).toHaveLength(2); // the pause, the crash
        expect(logs.at('log').filter((l) => l.includes('answers again'))).toHaveLength(2);
        expect(logs.text()).not.toMatch(new RegExp(prefix));
      } finally {
        await closeStores(stores.splice(0));
        await redis.close();
      }
    });
  });
});
