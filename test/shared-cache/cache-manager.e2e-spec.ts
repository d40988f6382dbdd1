import { CACHE_MANAGER, CacheModule, type CacheOptions } from '@nestjs/cache-manager';
import { type DynamicModule } from '@nestjs/common';
import { createKeyv } from '@keyv/redis';
import type { Cache } from 'cache-manager';
import { CacheableMemory, createKeyv as createMemoryKeyv } from 'cacheable';
import { Keyv } from 'keyv';
import { OidcClientCredentialsModule, TokenProvider } from 'nest-oidc-client-credentials';
import { PATHS } from 'nest-oidc-client-credentials/testing';
import { API_SECRET, InboundFleet } from '../utils/inbound-fleet.js';
import { startHttpApp, type RunningApp } from '../utils/nest-http-app.js';
import { OrdersController } from '../utils/orders.controller.js';
import { SHARED_REDIS_URL } from '../utils/redis.js';
import { testCacheOptions } from '../utils/shared-cache-instances.js';

const IN_MEMORY_WARNING = 'keeps its entries in this process';

describe('cache.stores from @nestjs/cache-manager’s CACHE_MANAGER (e2e)', () => {
  const fleet = new InboundFleet();
  /** The apps, and every Keyv their CacheModule was given (closing the apps must release them). */
  const { toClose } = fleet;

  /** The app's cache configuration, as a user writes it for @nestjs/cache-manager. */
  const cacheModule = (storesOf: () => Keyv[] | undefined, isGlobal = false): DynamicModule =>
    CacheModule.registerAsync({
      isGlobal,
      useFactory: (): CacheOptions => {
        const given = storesOf();
        toClose.stores.push(...(given ?? []));
        return given ? { stores: given } : {};
      },
    });

  /** The module's options, built from the app's cache manager. */
  const fromCacheManager = (cache: Cache) => ({
    issuer: fleet.idp.issuer,
    clientId: 'orders-api',
    clientSecret: API_SECRET,
    verification: { strategy: 'introspection' as const },
    cache: testCacheOptions({
      stores: cache.stores,
      keyPrefix: fleet.prefix,
      encryptionKey: fleet.encryptionKey,
    }),
  });

  type Wiring = 'imported by forRootAsync' | 'registered globally by the app';

  /** One replica of the orders API, with its own CacheModule (and so its own Redis connection). */
  async function instance(wiring: Wiring, storesOf: () => Keyv[] | undefined): Promise<RunningApp> {
    const imports =
      wiring === 'imported by forRootAsync'
        ? [
            OidcClientCredentialsModule.forRootAsync({
              imports: [cacheModule(storesOf)],
              inject: [CACHE_MANAGER],
              useFactory: fromCacheManager,
            }),
          ]
        : [
            cacheModule(storesOf, true),
            OidcClientCredentialsModule.forRootAsync({
              inject: [CACHE_MANAGER],
              useFactory: fromCacheManager,
            }),
          ];
    const app = await startHttpApp(
      'express',
      { imports, controllers: [OrdersController] },
      fleet.logs,
    );
    return toClose.add(app);
  }
  const redis = () => [createKeyv(SHARED_REDIS_URL)];
  const call = async (app: RunningApp, token: string) => {
    const res = await fetch(`${app.url}/orders`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: await res.text() };
  };
  const tokenRequests = () => fleet.idp.requestsTo(PATHS.token).length;
  const introspections = () => fleet.idp.requestsTo(PATHS.introspection).length;
  const wirings: Wiring[] = ['imported by forRootAsync', 'registered globally by the app'];

  it.each(wirings)(
    'CacheModule %s with a @keyv/redis store: two instances make one token request and hold the same token',
    async (wiring) => {
      const [a, b] = await Promise.all([instance(wiring, redis), instance(wiring, redis)]);
      const tokens = await Promise.all(
        [a, b].flatMap(({ app }) =>
          Array.from({ length: 10 }, () => app.get(TokenProvider).getToken()),
        ),
      );
      expect(tokenRequests()).toBe(1);
      expect(new Set(tokens).size).toBe(1);
      expect(await fleet.inspector.keys(`${fleet.prefix}:token:`)).not.toHaveLength(0);
      expect(fleet.logs.text()).not.toContain(IN_MEMORY_WARNING);
    },
  );

  it.each(wirings)(
    'CacheModule %s with a @keyv/redis store: a token introspected by one instance is not introspected by the other',
    async (wiring) => {
      const [a, b] = await Promise.all([instance(wiring, redis), instance(wiring, redis)]);
      const token = fleet.idp.mintOpaque('billing', { scope: 'orders:read' });
      const allowed = { status: 200, body: JSON.stringify({ clientId: 'billing' }) };
      await expect(call(a, token)).resolves.toEqual(allowed);
      await expect(call(b, token)).resolves.toEqual(allowed);
      expect(introspections()).toBe(1);
      expect(await fleet.inspector.keys(`${fleet.prefix}:verify:`)).toHaveLength(1);
    },
  );

  it('closing the apps disconnects the Redis clients CacheModule was given (the module leaves them alone)', async () => {
    await Promise.all([
      instance('imported by forRootAsync', redis),
      instance('registered globally by the app', redis),
    ]);
    const clients = toClose.stores.map(
      (store) => (store.store as { client: { isOpen: boolean } }).client,
    );
    expect(clients.map((c) => c.isOpen)).toEqual([true, true]);
    await toClose.closeApps();
    expect(clients.map((c) => c.isOpen)).toEqual([false, false]);
  });

  it.each([
    ['CacheModule given no stores (its default in-memory Keyv)', () => undefined],
    [
      'CacheModule given new Keyv({ store: new CacheableMemory() })',
      () => [new Keyv({ store: new CacheableMemory({ ttl: 60_000, lruSize: 5000 }) })],
    ],
    ['CacheModule given createKeyv() from cacheable', () => [createMemoryKeyv()]],
  ])(
    '%s: nothing is shared between instances, and each instance warns once at startup',
    async (_name, storesOf) => {
      const [a, b] = await Promise.all([
        instance('imported by forRootAsync', storesOf),
        instance('imported by forRootAsync', storesOf),
      ]);
      const [first, second] = await Promise.all(
        [a, b].map(({ app }) => app.get(TokenProvider).getToken()),
      );
      expect(first).not.toBe(second);
      expect(tokenRequests()).toBe(2);
      const warnings = fleet.logs.at('warn').filter((l) => l.includes(IN_MEMORY_WARNING));
      expect(warnings).toHaveLength(2);
      expect(warnings[0]).toContain('cache.stores[0]');
    },
  );

  it('a memory store in front of Redis is reported; the Redis store behind it is still shared', async () => {
    const tiered = () => [createMemoryKeyv(), createKeyv(SHARED_REDIS_URL)];
    const [a, b] = await Promise.all([
      instance('registered globally by the app', tiered),
      instance('registered globally by the app', tiered),
    ]);
    const token = fleet.idp.mintOpaque('billing', { scope: 'orders:read' });
    expect((await call(a, token)).status).toBe(200);
    expect((await call(b, token)).status).toBe(200);
    expect(introspections()).toBe(1);
    const warnings = fleet.logs.at('warn').filter((l) => l.includes(IN_MEMORY_WARNING));
    expect(warnings).toHaveLength(2);
    expect(warnings.every((w) => w.includes('cache.stores[0]'))).toBe(true);
  });
});
