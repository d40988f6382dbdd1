import { jest } from '@jest/globals';
import { VerificationCache } from 'nest-oidc-client-credentials';
import { FakeIdService, PATHS } from 'nest-oidc-client-credentials/testing';
import { fakeClock, fakeDateOnly } from '../utils/fake-date.js';
import { API_SECRET, InboundFleet, type FleetInstanceOptions } from '../utils/inbound-fleet.js';
import type { RunningApp } from '../utils/nest-http-app.js';
import { isReady, RedisInspector, RedisKeys } from '../utils/redis.js';
import { privateRedisPerTest } from '../utils/shared-cache-instances.js';
import { until } from '../utils/until.js';

describe('inbound verification results shared across instances through Redis (e2e)', () => {
  const fleet = new InboundFleet();
  const { toClose, instance } = fleet;

  const instances = (n: number, options?: FleetInstanceOptions) =>
    Promise.all(Array.from({ length: n }, () => instance(options)));
  const call = async (app: RunningApp, token: string, path = '/orders') => {
    const res = await fetch(`${app.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: await res.text() };
  };
  const introspections = () => fleet.idp.requestsTo(PATHS.introspection).length;
  const verifyKeys = () => fleet.inspector.keys(`${fleet.prefix}:verify:`);

  it('a token introspected by one instance is not introspected again by the others', async () => {
    const replicas = await instances(3);
    const token = fleet.idp.mintOpaque('billing', { scope: 'orders:read' });
    await expect(call(replicas[0], token)).resolves.toEqual({
      status: 200,
      body: JSON.stringify({ clientId: 'billing' }),
    });
    for (const replica of replicas) {
      for (let i = 0; i < 5; i += 1) expect((await call(replica, token)).status).toBe(200);
    }
    expect(introspections()).toBe(1);
    expect(await verifyKeys()).toHaveLength(1);
  });

  it('S69 route requirements are still checked by each instance on a shared result', async () => {
    const [a, b] = await instances(2);
    const token = fleet.idp.mintOpaque('billing', { scope: 'orders:read' });
    expect((await call(a, token)).status).toBe(200);
    expect((await call(b, token, '/orders/write')).status).toBe(403);
    expect(introspections()).toBe(1);
  });

  it('S69 another validation profile (audience) never reads the entry', async () => {
    const plain = await instance();
    const strict = await instance({ verification: { audience: 'https://orders.example.com' } });
    const token = fleet.idp.mintOpaque('billing', {
      scope: 'orders:read',
      audience: 'https://orders.example.com',
    });
    expect((await call(plain, token)).status).toBe(200);
    // What counts is that it introspected itself.
    expect((await call(strict, token)).status).toBe(200);
    expect(introspections()).toBe(2);
    const keys = await verifyKeys();
    expect(keys).toHaveLength(2);
    const namespaces = new Set(keys.map((k) => k.split(':').at(-2)));
    expect(namespaces.size).toBe(2);
  });

  it('S69 an instance of another issuer, on the same Redis and fleet.prefix, never reads the entry', async () => {
    const elsewhere = await FakeIdService.start({
      clients: { 'orders-api': { secret: API_SECRET } },
      tokenFormat: 'opaque',
    });
    try {
      const ours = await instance();
      const theirs = await instance({ issuer: elsewhere.issuer });
      const token = fleet.idp.mintOpaque('billing', { scope: 'orders:read' });
      expect((await call(ours, token)).status).toBe(200);
      // The other issuer never issued this token: taking the shared result would let it in.
      expect((await call(theirs, token)).status).toBe(401);
      expect(introspections()).toBe(1);
      expect(elsewhere.requestsTo(PATHS.introspection)).toHaveLength(1);
      const namespaces = new Set((await verifyKeys()).map((k) => k.split(':').at(-2)));
      expect(namespaces.size).toBe(2);
    } finally {
      await elsewhere.close();
    }
  });

  it('S68 Redis holds neither the token nor the API’s secret; keys are digests under the fleet.prefix', async () => {
    const [a, b] = await instances(2);
    const token = fleet.idp.mintOpaque('billing', { scope: 'orders:read' });
    await call(a, token);
    await call(b, token);
    const dump = await fleet.inspector.dump(fleet.prefix);
    expect(dump).not.toContain(token);
    expect(dump).not.toContain(API_SECRET);
    const [key] = await verifyKeys();
    expect(key).toMatch(new RegExp(`^${fleet.prefix}:verify:[\\w-]{22}:[\\w-]{43}$`));
  });

  it('R16 with an encryption key the stored result reveals no claim', async () => {
    const [a] = await instances(1);
    const token = fleet.idp.mintOpaque('billing', { scope: 'orders:read' });
    await call(a, token);
    const dump = await fleet.inspector.dump(fleet.prefix);
    expect(dump).not.toContain('billing');
    expect(dump).not.toContain('orders:read');
  });

  it('S70 the shared entry never outlives the token’s exp, nor cacheTtlSeconds', async () => {
    const [a] = await instances(1, { verification: { cacheTtlSeconds: 300 } });
    await call(a, fleet.idp.mintOpaque('billing', { lifetimeSeconds: 20 }));
    const [short] = await verifyKeys();
    expect(await fleet.inspector.pttl(short)).toBeLessThanOrEqual(20_000);
    await fleet.inspector.clear(fleet.prefix);
    await call(a, fleet.idp.mintOpaque('billing', { lifetimeSeconds: 3600 }));
    const [long] = await verifyKeys();
    expect(await fleet.inspector.pttl(long)).toBeGreaterThan(290_000);
    expect(await fleet.inspector.pttl(long)).toBeLessThanOrEqual(300_000);
  });

  it('R25 an inactive token is shared for the negative TTL only; R23 errors are never shared', async () => {
    fakeDateOnly();
    const replicas = await instances(2, { verification: { negativeCacheTtlSeconds: 10 } });
    const revoked = fleet.idp.mintOpaque('billing');
    fleet.idp.revoke(revoked);
    expect((await call(replicas[0], revoked)).status).toBe(401);
    expect((await call(replicas[1], revoked)).status).toBe(401);
    expect(introspections()).toBe(1);
    const [key] = await verifyKeys();
    expect(await fleet.inspector.pttl(key)).toBeLessThanOrEqual(10_000);
    // Past the negative TTL the token is checked again.
    jest.setSystemTime(Date.now() + 10_001);
    await fleet.inspector.clear(fleet.prefix);
    expect((await call(replicas[1], revoked)).status).toBe(401);
    expect(introspections()).toBe(2);

    fleet.idp.on(PATHS.introspection, () => ({ status: 500, body: { error: 'server_error' } }));
    const unlucky = fleet.idp.mintOpaque('billing');
    expect((await call(replicas[0], unlucky)).status).toBe(503);
    expect((await call(replicas[1], unlucky)).status).toBe(503);
    expect(introspections()).toBe(4);
  });

  describe('R16 only sealed results are trusted: a writer to Redis cannot choose who the caller is', () => {
    /** A well-formed plain-text record, as an instance without an encryption key would write it. */
    const forged = (key: string) =>
      JSON.stringify({
        value: JSON.stringify({
          v: 1,
          kind: 'verified',
          key,
          at: Date.now(),
          until: Date.now() + 60_000,
          result: {
            clientId: 'intruder',
            scopes: ['orders:write'],
            expiresAt: Math.floor(Date.now() / 1000) + 3600,
            claims: { sub: 'intruder' },
          },
        }),
        expires: null,
      });

    it('without cache.encryptionKey results are not shared; a planted result is never read', async () => {
      const [a, b] = await instances(2, { cache: { encryptionKey: undefined } });
      const token = fleet.idp.mintOpaque('billing', { scope: 'orders:read' });
      expect((await call(a, token)).status).toBe(200);
      expect(await verifyKeys()).toEqual([]);
      // Where the entry would be, with the instance's own fleet.prefix and digests.
      const [c] = await instances(1);
      await call(c, token);
      const [key] = await verifyKeys();
      await fleet.inspector.set(key, forged(key));
      expect((await call(b, token, '/orders/write')).status).toBe(403);
      await expect(call(b, token)).resolves.toEqual({
        status: 200,
        body: JSON.stringify({ clientId: 'billing' }),
      });
      expect(introspections()).toBe(3);
      expect(
        fleet.logs
          .at('warn')
          .filter((line) => line.includes('verification results are not shared')),
      ).toHaveLength(2);
    });

    it('R16 a forged plain-text result is ignored by instances that encrypt', async () => {
      const [a, b] = await instances(2);
      const token = fleet.idp.mintOpaque('billing', { scope: 'orders:read' });
      await call(a, token);
      const [key] = await verifyKeys();
      await fleet.inspector.set(key, forged(key));
      expect((await call(b, token, '/orders/write')).status).toBe(403);
      expect(introspections()).toBe(2);
    });
  });

  it('clear() stops this instance from taking back shared results written before it', async () => {
    const [a, b] = await instances(2);
    const token = fleet.idp.mintOpaque('billing', { scope: 'orders:read' });
    await call(a, token);
    fakeDateOnly();
    jest.setSystemTime(Date.now() + 1);
    b.app.get(VerificationCache).clear();
    jest.setSystemTime(Date.now() + 1);
    fleet.idp.revoke(token);
    expect((await call(b, token)).status).toBe(401);
    expect(introspections()).toBe(2);
  });

  it('JWT results are not sent to Redis: a local check is faster than the round trip', async () => {
    const [a] = await instances(1, { verification: { strategy: 'jwt' } });
    const jwt = await fleet.idp.mintJwt({ sub: 'billing' });
    expect((await call(a, jwt)).status).toBe(200);
    expect(await verifyKeys()).toEqual([]);
  });

  it('auto: opaque tokens are shared, JWTs are not', async () => {
    const [a, b] = await instances(2, { verification: { strategy: 'auto' } });
    const jwt = await fleet.idp.mintJwt({ sub: 'billing' });
    const opaque = fleet.idp.mintOpaque('billing');
    expect((await call(a, jwt)).status).toBe(200);
    expect((await call(a, opaque)).status).toBe(200);
    expect((await call(b, opaque)).status).toBe(200);
    expect(introspections()).toBe(1);
    expect(await verifyKeys()).toHaveLength(1);
  });

  describe('R13 on a private Redis: commands counted, Redis stopped and restarted', () => {
    const redis = privateRedisPerTest(toClose);

    it.each([
      ['an accepted token', 200, () => fleet.idp.mintOpaque('billing')],
      [
        'a refused token',
        401,
        () => {
          const revoked = fleet.idp.mintOpaque('billing');
          fleet.idp.revoke(revoked);
          return revoked;
        },
      ],
    ])('R13 a local hit for %s sends no command to Redis', async (_name, status, mint) => {
      // The local entries (a refused token's lasts seconds) expire only when the test says so.
      fakeDateOnly();
      const [a] = await instances(1, { url: redis.url });
      const token = mint();
      expect((await call(a, token)).status).toBe(status);
      expect(await new RedisKeys(redis.url).count(`${fleet.prefix}:verify:`)).toBe(1);
      const admin = await RedisInspector.connect(redis.url);
      try {
        const before = await admin.commandsProcessed();
        for (let i = 0; i < 200; i += 1) expect((await call(a, token)).status).toBe(status);
        // Only the INFO command of this check itself.
        expect((await admin.commandsProcessed()) - before).toBe(1);
        expect(introspections()).toBe(1);
      } finally {
        await admin.close();
      }
    });

    it('auto without introspection credentials asks Redis nothing for opaque tokens it refuses', async () => {
      const [a] = await instances(1, {
        url: redis.url,
        verification: { strategy: 'auto' },
        clientId: undefined,
        clientSecret: undefined,
      });
      const admin = await RedisInspector.connect(redis.url);
      try {
        const before = await admin.commandsProcessed();
        for (let i = 0; i < 5; i += 1) {
          expect((await call(a, fleet.idp.mintOpaque('billing'))).status).toBe(401);
        }
        expect((await admin.commandsProcessed()) - before).toBe(1);
        expect(introspections()).toBe(0);
      } finally {
        await admin.close();
      }
    });

    const unavailable = () => fleet.logs.at('warn').filter((l) => l.includes('unavailable'));

    it('R13 Redis killed mid-test and started again: sharing resumes', async () => {
      // Store calls time out only when the test moves the clock: a healthy Redis is never late.
      fakeClock();
      const [a, b] = await instances(2, { url: redis.url, cache: { timeoutMs: 40 } });
      const before = fleet.idp.mintOpaque('billing');
      expect((await call(a, before)).status).toBe(200);
      expect((await call(b, before)).status).toBe(200);
      expect(introspections()).toBe(1);

      await redis.stop();
      await until(() => unavailable().length === 2, 'a warning from each instance');
      const during = fleet.idp.mintOpaque('billing');
      expect((await call(a, during)).status).toBe(200);
      expect((await call(b, during)).status).toBe(200);
      expect(introspections()).toBe(3);

      await redis.start();
      // The clients reconnect in their own time (their timers are real); past the probe interval
      // both instances try the store again and find it.
      await until(() => toClose.stores.every(isReady), 'the reconnection');
      jest.setSystemTime(Date.now() + 1_100);
      const after = fleet.idp.mintOpaque('billing');
      expect((await call(a, after)).status).toBe(200);
      const introspected = introspections();
      expect((await call(b, after)).status).toBe(200);
      expect(introspections()).toBe(introspected);
      expect(fleet.logs.at('log').filter((l) => l.includes('answers again'))).toHaveLength(2);
    });

    it('R13 Redis killed: requests are verified without waiting for it, with one warning per instance', async () => {
      fakeClock();
      const [a, b] = await instances(2, { url: redis.url, cache: { timeoutMs: 40 } });
      const first = fleet.idp.mintOpaque('billing');
      expect((await call(a, first)).status).toBe(200);
      expect((await call(b, first)).status).toBe(200);
      expect(introspections()).toBe(1);
      await redis.stop();
      // Each instance's client reports the lost connection at once; the requests below are
      // answered while the clock stands still, so none of them waited for a store call.
      await until(() => unavailable().length === 2, 'a warning from each instance');
      for (let i = 0; i < 20; i += 1) {
        const token = fleet.idp.mintOpaque('billing');
        expect((await call(a, token)).status).toBe(200);
        expect((await call(b, token)).status).toBe(200);
      }
      expect(introspections()).toBe(41);
      expect(unavailable()).toHaveLength(2);
    });
  });
});
