import { randomBytes } from 'node:crypto';
import { jest } from '@jest/globals';
import { NestFactory } from '@nestjs/core';
import { Keyv } from 'keyv';
import {
  OidcClientCredentialsModule,
  TokenProvider,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { PATHS } from 'nest-oidc-client-credentials/testing';
import { fakeClock, fakeDateOnly } from '../utils/fake-date.js';
import {
  isReady,
  PrivateRedis,
  RedisInspector,
  RedisKeys,
  SHARED_REDIS_URL,
} from '../utils/redis.js';
import { privateRedisPerTest, testCacheOptions } from '../utils/shared-cache-instances.js';
import { until, watch } from '../utils/until.js';
import { RedisTestBed } from '../utils/redis-test-bed.js';

const SECRET = 'billing-s3cret:never-in-redis';

describe('outbound tokens shared across instances through Redis (e2e)', () => {
  const bed = new RedisTestBed(
    { clients: { billing: { secret: SECRET } }, tokenFormat: 'opaque' },
    { globalLogger: true },
  );
  const { toClose } = bed;

  /** One more replica of the billing service, with its own connection to `url`. */
  async function instance(
    options: Partial<OidcClientCredentialsModuleOptions> & { url?: string } = {},
  ): Promise<TokenProvider> {
    const { url = SHARED_REDIS_URL, cache, ...rest } = options;
    const app = await NestFactory.createApplicationContext(
      OidcClientCredentialsModule.forRoot({
        issuer: bed.idp.issuer,
        clientId: 'billing',
        clientSecret: SECRET,
        // The R13 tests set their own timeoutMs.
        cache: testCacheOptions({
          stores: [toClose.redisStore(url)],
          keyPrefix: bed.prefix,
          encryptionKey: bed.encryptionKey,
          ...cache,
        }),
        ...rest,
      }),
      { logger: bed.logs },
    );
    return toClose.add(app).get(TokenProvider);
  }
  const instances = (n: number, options?: Parameters<typeof instance>[0]) =>
    Promise.all(Array.from({ length: n }, () => instance(options)));
  const tokenRequests = () => bed.idp.requestsTo(PATHS.token).length;
  const tokenKeys = async (under = bed.prefix) =>
    (await bed.inspector.keys(`${under}:token:`)).filter((k) => !k.endsWith(':lease'));

  it('R15 3 instances × 100 concurrent getToken(): one token request, one token', async () => {
    const replicas = await instances(3);
    const tokens = await Promise.all(
      replicas.flatMap((replica) => Array.from({ length: 100 }, () => replica.getToken())),
    );
    expect(tokenRequests()).toBe(1);
    expect(new Set(tokens).size).toBe(1);
    expect(await tokenKeys()).toHaveLength(1);
    // A replica started later takes the same token from Redis.
    await expect((await instance()).getToken()).resolves.toBe(tokens[0]);
    expect(tokenRequests()).toBe(1);
  });

  it('R14 the shared entry lives ≈ 3,540,000 ms for a 3600 s token (TTL in milliseconds)', async () => {
    const replica = await instance();
    await replica.getToken();
    const [key] = await tokenKeys();
    const ttl = await bed.inspector.pttl(key);
    expect(ttl).toBeGreaterThan(3_530_000);
    expect(ttl).toBeLessThanOrEqual(3_540_000);
  });

  it('S68 R16 Redis holds neither the client secret nor the token (encrypted), only prefixed keys', async () => {
    const replicas = await instances(2);
    const token = await replicas[0].getToken();
    await expect(replicas[1].getToken()).resolves.toBe(token);
    const dump = await bed.inspector.dump(bed.prefix);
    expect(dump).not.toContain(token);
    expect(dump).not.toContain(SECRET);
    expect(dump).not.toContain(encodeURIComponent(SECRET));
    expect(dump).not.toContain(Buffer.from(`billing:${SECRET}`).toString('base64'));
    for (const key of await bed.inspector.keys(bed.prefix))
      expect(key.startsWith(`${bed.prefix}:`)).toBe(true);
    expect(bed.logs.text()).not.toContain(token);
  });

  it('without cache.encryptionKey the token is shared in plain text (with a startup warning), the secret never', async () => {
    const replicas = await instances(2, { cache: { encryptionKey: undefined } });
    const token = await replicas[0].getToken();
    await expect(replicas[1].getToken()).resolves.toBe(token);
    const dump = await bed.inspector.dump(bed.prefix);
    expect(dump).toContain(token);
    expect(dump).not.toContain(SECRET);
    expect(bed.logs.at('warn').some((l) => l.includes('without cache.encryptionKey'))).toBe(true);
  });

  it('R16 an instance with another encryption key cannot read the token and fetches its own', async () => {
    const first = await instance();
    const other = await instance({ cache: { encryptionKey: randomBytes(32) } });
    const a = await first.getToken();
    const b = await other.getToken();
    expect(b).not.toBe(a);
    expect(tokenRequests()).toBe(2);
  });

  it('two services with different key prefixes on one Redis never read each other’s token', async () => {
    const billing = await instance();
    const otherPrefix = bed.otherPrefix();
    const shipping = await instance({ cache: { keyPrefix: otherPrefix } });
    const a = await billing.getToken();
    const b = await shipping.getToken();
    expect(b).not.toBe(a);
    expect(tokenRequests()).toBe(2);
    expect(await tokenKeys()).toHaveLength(1);
    expect(await tokenKeys(otherPrefix)).toHaveLength(1);
  });

  describe('S72 a shared value of the wrong shape is a miss: the instance fetches, nothing breaks', () => {
    const now = () => Date.now();
    const record = (over: Record<string, unknown>) =>
      JSON.stringify({
        value: JSON.stringify({
          v: 1,
          kind: 'token',
          key: 'replaced below',
          accessToken: 'planted-token',
          renewAt: now() + 1_000_000,
          expiresAt: now() + 2_000_000,
          ...over,
        }),
        expires: null,
      });

    it.each([
      ['S72 another library’s data', () => JSON.stringify({ value: 'hello', expires: null })],
      ['S72 not JSON at all', () => '<html>'],
      ['S72 an expired token', () => record({ renewAt: now() - 2000, expiresAt: now() - 1000 })],
      ['S72 past its renewal point', () => record({ renewAt: now() - 1000 })],
      ['S72 renewal after expiry', () => record({ renewAt: now() + 5000, expiresAt: now() + 10 })],
      ['S72 a lifetime longer than any token', () => record({ expiresAt: now() + 10 ** 12 })],
      [
        'S72 a token with CR/LF (header injection)',
        () => record({ accessToken: 'a\r\nX-Evil: 1' }),
      ],
      ['S72 an empty token', () => record({ accessToken: '' })],
      ['S72 a number as token', () => record({ accessToken: 42 })],
      ['S72 times as strings', () => record({ renewAt: String(now() + 1e6) })],
      ['S72 another format version', () => record({ v: 2 })],
    ])('%s', async (_name, planted) => {
      const replica = await instance({ cache: { encryptionKey: undefined } });
      await replica.getToken();
      const [key] = await tokenKeys();
      const value = planted().replace('replaced below', key);
      await bed.inspector.set(key, value);
      const token = await replica.getToken({ forceRefresh: true });
      expect(tokenRequests()).toBe(2);
      const fresh = await instance({ cache: { encryptionKey: undefined } });
      await expect(fresh.getToken()).resolves.toBe(token);
      expect(tokenRequests()).toBe(2);
    });

    it('S72 a well-formed value written under another key is a miss', async () => {
      const replica = await instance({ cache: { encryptionKey: undefined } });
      await replica.getToken();
      const [key] = await tokenKeys();
      await bed.inspector.set(key, record({ key: `${bed.prefix}:token:someone-else` }));
      const fresh = await instance({ cache: { encryptionKey: undefined } });
      await expect(fresh.getToken()).resolves.not.toBe('planted-token');
      expect(tokenRequests()).toBe(2);
    });
  });

  it('R15 after the renewal point one instance renews for all; the others take its token', async () => {
    fakeDateOnly();
    bed.idp.clients.billing.lifetimeSeconds = 100;
    try {
      const renewal = { renewAfterFraction: 0.5, renewBeforeExpirySeconds: 10 };
      const replicas = await instances(3, { tokenRenewal: renewal });
      const first = await replicas[0].getToken();
      await Promise.all(replicas.map((r) => r.getToken()));
      expect(tokenRequests()).toBe(1);

      // Past the shared renewal point (50 s) and every instance's jitter (≤ 25 % of 50 s).
      jest.setSystemTime(Date.now() + 63_000);
      for (const replica of replicas) await expect(replica.getToken()).resolves.toBe(first);
      await until(async () => {
        const seen = await Promise.all(replicas.map((r) => r.getToken()));
        return seen.every((t) => t !== first) && new Set(seen).size === 1;
      }, 'every instance on the renewed token');
      expect(tokenRequests()).toBe(2);
    } finally {
      delete bed.idp.clients.billing.lifetimeSeconds;
    }
  });

  it('R15 renewal points are jittered per instance, never earlier than the shared one', async () => {
    // A private Redis, so its command counter sees only these instances.
    const redis = await PrivateRedis.start();
    const admin = await RedisInspector.connect(redis.url);
    fakeDateOnly();
    bed.idp.clients.billing.lifetimeSeconds = 100;
    try {
      const renewal = { renewAfterFraction: 0.5, renewBeforeExpirySeconds: 10 };
      const replicas = await instances(8, { url: redis.url, tokenRenewal: renewal });
      const start = Date.now();
      const first = await replicas[0].getToken();
      await Promise.all(replicas.map((r) => r.getToken()));

      /** Store commands the instances sent while all of them called getToken() at `t`. */
      const commandsAt = async (t: number) => {
        jest.setSystemTime(start + t);
        const before = await admin.commandsProcessed();
        await Promise.all(replicas.map((r) => r.getToken()));
        await new Promise((resolve) => setTimeout(resolve, 40));
        return (await admin.commandsProcessed()) - before - 1;
      };
      // Up to and at the shared renewal point (50 s) nobody goes to Redis: each instance's own
      // point lies somewhere in the next 12.5 s (25 % of the 50 s left).
      expect(await commandsAt(49_000)).toBe(0);
      expect(await commandsAt(50_000)).toBe(0);
      const active: number[] = [];
      for (let t = 50_500; t <= 63_000; t += 500) {
        if ((await commandsAt(t)) > 0) active.push(t);
      }
      // Instances renewed at different moments; the first renewal served all of them. The last
      // renewals may still be under way: wait for them rather than for a fixed time.
      expect(active.length).toBeGreaterThan(1);
      await until(async () => {
        const seen = await Promise.all(replicas.map((r) => r.getToken()));
        return new Set(seen).size === 1 && seen[0] !== first;
      }, 'every instance on the renewed token');
      expect(tokenRequests()).toBe(2);
    } finally {
      delete bed.idp.clients.billing.lifetimeSeconds;
      await toClose.close();
      await admin.close();
      await redis.close();
    }
  });

  it('R09 a token refused by the called API is dropped from Redis and not taken back', async () => {
    const [a, b] = await instances(2);
    const refused = await a.getToken();
    expect(a.invalidate(refused)).toBe(true);
    const renewed = await a.getToken();
    expect(renewed).not.toBe(refused);
    expect(tokenRequests()).toBe(2);
    await expect(b.getToken()).resolves.toBe(renewed);
    expect(tokenRequests()).toBe(2);
  });

  it('stores without an atomic set-if-absent share tokens on a best-effort basis (no lease)', async () => {
    const shared = new Keyv();
    /** One more instance on the in-memory store `shared`. */
    const onShared = async () => {
      const app = await NestFactory.createApplicationContext(
        OidcClientCredentialsModule.forRoot({
          issuer: bed.idp.issuer,
          clientId: 'billing',
          clientSecret: SECRET,
          cache: { stores: [shared], encryptionKey: bed.encryptionKey },
        }),
        { logger: bed.logs },
      );
      return toClose.add(app).get(TokenProvider);
    };
    const providers = await Promise.all(Array.from({ length: 3 }, onShared));
    const tokens = await Promise.all(providers.flatMap((p) => [p.getToken(), p.getToken()]));
    expect(tokens.every((t) => typeof t === 'string' && t.length > 0)).toBe(true);
    expect(tokenRequests()).toBeGreaterThanOrEqual(1);
    expect(tokenRequests()).toBeLessThanOrEqual(3);
    const settled = tokenRequests();
    const late = await onShared();
    expect(tokens).toContain(await late.getToken());
    expect(tokenRequests()).toBe(settled);
  });

  describe('R13 Redis down or slow', () => {
    const redis = privateRedisPerTest(toClose);

    it('R13 a cached getToken() sends no command to Redis', async () => {
      const replica = await instance({ url: redis.url });
      const token = await replica.getToken();
      const admin = await RedisInspector.connect(redis.url);
      try {
        const before = await admin.commandsProcessed();
        for (let i = 0; i < 10_000; i += 1) await replica.getToken();
        await expect(replica.getToken()).resolves.toBe(token);
        // Only the INFO command of this check itself.
        expect((await admin.commandsProcessed()) - before).toBe(1);
      } finally {
        await admin.close();
      }
    });

    it('R13 Redis killed mid-test: tokens still come without it, one warning per instance, recovery when it returns', async () => {
      // Store calls time out only when the test moves the clock: a healthy Redis is never late.
      fakeClock();
      const replicas = await instances(2, { url: redis.url, cache: { timeoutMs: 40 } });
      const first = await replicas[0].getToken();
      await expect(replicas[1].getToken()).resolves.toBe(first);
      expect(tokenRequests()).toBe(1);

      await redis.stop();
      // Each instance's client reports the lost connection at once; from then on it skips the
      // store, so the tokens below come while the clock stands still.
      const unavailable = () => bed.logs.at('warn').filter((l) => l.includes('unavailable'));
      await until(() => unavailable().length === 2, 'a warning from each instance');
      const renewed = await Promise.all(replicas.map((r) => r.getToken({ forceRefresh: true })));
      expect(renewed.every((t) => t !== first)).toBe(true);
      for (let i = 0; i < 20; i += 1) {
        await Promise.all(replicas.map((r) => r.getToken({ forceRefresh: true })));
      }
      expect(unavailable()).toHaveLength(2);
      expect(bed.logs.text()).not.toContain(SECRET);

      await redis.start();
      // The clients reconnect in their own time (their timers are real); past the probe interval
      // the next call finds the store again.
      await until(() => toClose.stores.every(isReady), 'the reconnection');
      jest.setSystemTime(Date.now() + 1_500);
      await replicas[0].getToken({ forceRefresh: true });
      expect(await new RedisKeys(redis.url).count(bed.prefix)).toBeGreaterThan(0);
      const shared = await replicas[0].getToken();
      const requests = tokenRequests();
      const newcomer = await instance({ url: redis.url });
      await expect(newcomer.getToken()).resolves.toBe(shared);
      expect(tokenRequests()).toBe(requests);
      expect(bed.logs.at('log').some((l) => l.includes('answers again'))).toBe(true);
    });

    it('R13 Redis paused (slow): getToken() waits cache.timeoutMs for it once, then goes on without it', async () => {
      fakeClock();
      const replica = await instance({ url: redis.url, cache: { timeoutMs: 40 } });
      await replica.getToken();
      // Silent until thawed: only the timeout can end a call to it.
      redis.freeze();
      try {
        const timers = jest.getTimerCount();
        const renewal = watch(replica.getToken({ forceRefresh: true }));
        await until(() => jest.getTimerCount() > timers, 'a call to the store');
        await jest.advanceTimersByTimeAsync(39);
        expect(renewal.settled()).toBe(false);
        await jest.advanceTimersByTimeAsync(1);
        await expect(renewal.promise).resolves.toEqual(expect.any(String));
        expect(tokenRequests()).toBe(2);
      } finally {
        redis.thaw();
      }
    });
  });
});
