import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import {
  OidcClientCredentialsModule,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { FakeIdService } from 'nest-oidc-client-credentials/testing';
import { CapturingLogger, startHttpApp, type RunningApp } from './nest-http-app.js';
import { OrdersController } from './orders.controller.js';
import { RedisInspector, SHARED_REDIS_URL, uniquePrefix } from './redis.js';
import { CacheInstances, testCacheOptions } from './shared-cache-instances.js';

/** The orders API's client secret at the fake ID service: the tests check it never reaches Redis. */
export const API_SECRET = 'orders-api-s3cret:never-in-redis';

/** An instance's options: the module's, over the fleet's, and the Redis it connects to. */
export type FleetInstanceOptions = Partial<OidcClientCredentialsModuleOptions> & { url?: string };

/** What the tests of the enclosing `describe` share; each test gets its own prefix and log. */
export interface InboundFleet {
  /** Issues opaque tokens; `billing` may ask for `orders:read`, `orders-api` introspects. */
  readonly idp: FakeIdService;
  /** A connection of the test's own to the shared Redis. */
  readonly inspector: RedisInspector;
  /** The test's key prefix in Redis (cleared after it). */
  readonly prefix: string;
  /** What the test's instances log. */
  readonly logs: CapturingLogger;
  /** The test's instances and stores, closed after it. */
  readonly toClose: CacheInstances;
  /** The sealing key every instance of the fleet shares (`cache.encryptionKey`). */
  readonly encryptionKey: string;
  /**
   * One more replica of the orders API on Express, verifying by introspection (unless `options`
   * say otherwise) with a sealed shared cache of its own connection to the Redis.
   */
  instance(options?: FleetInstanceOptions): Promise<RunningApp>;
  /** The status of `GET path` (`/orders`) with `token` as a bearer token. */
  status(app: RunningApp, token: string, path?: string): Promise<number>;
}

/**
 * Replicas of an API behind `ClientTokenGuard` sharing verification results through the real
 * Redis: registers the hooks that start the fake ID service and the Redis connection for the
 * enclosing `describe`, give each test a prefix and a log, and close what a test started.
 */
export function inboundFleet(): InboundFleet {
  const encryptionKey = randomBytes(32).toString('base64');
  const toClose = new CacheInstances();
  let idp: FakeIdService;
  let inspector: RedisInspector;
  let prefix: string;
  let logs: CapturingLogger;

  beforeAll(async () => {
    idp = await FakeIdService.start({
      clients: {
        'orders-api': { secret: API_SECRET },
        billing: { secret: 'billing-secret', scope: 'orders:read' },
      },
      tokenFormat: 'opaque',
    });
    inspector = await RedisInspector.connect();
  });
  afterAll(async () => {
    await inspector.close();
    await idp.close();
    Logger.overrideLogger(new Logger());
  });
  beforeEach(() => {
    logs = new CapturingLogger();
    prefix = uniquePrefix();
  });
  afterEach(async () => {
    // A test that faked the clock gets the real one back before its instances close.
    jest.useRealTimers();
    await toClose.close();
    await inspector.clear(prefix);
    idp.reset();
  });

  return {
    get idp() {
      return idp;
    },
    get inspector() {
      return inspector;
    },
    get prefix() {
      return prefix;
    },
    get logs() {
      return logs;
    },
    toClose,
    encryptionKey,
    async instance(options: FleetInstanceOptions = {}) {
      const { url = SHARED_REDIS_URL, cache, verification, ...rest } = options;
      const app = await startHttpApp(
        'express',
        {
          imports: [
            OidcClientCredentialsModule.forRoot({
              issuer: idp.issuer,
              clientId: 'orders-api',
              clientSecret: API_SECRET,
              verification: { strategy: 'introspection', ...verification },
              cache: testCacheOptions({
                stores: [toClose.redisStore(url)],
                keyPrefix: prefix,
                encryptionKey,
                ...cache,
              }),
              ...rest,
            }),
          ],
          controllers: [OrdersController],
        },
        logs,
      );
      return toClose.add(app);
    },
    async status(app: RunningApp, token: string, path = '/orders') {
      const response = await fetch(`${app.url}${path}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      await response.body?.cancel();
      return response.status;
    },
  };
}
