import { randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import {
  OidcClientCredentialsModule,
  type VerificationStrategyName,
} from 'nest-oidc-client-credentials';
import { FakeIdService, PATHS } from 'nest-oidc-client-credentials/testing';
import { CapturingLogger, startHttpApp, type RunningApp } from '../utils/nest-http-app.js';
import { OrdersController } from '../utils/orders.controller.js';
import { RedisInspector, SHARED_REDIS_URL, uniquePrefix } from '../utils/redis.js';
import { CacheInstances, testCacheOptions } from '../utils/shared-cache-instances.js';

const API_SECRET = 'orders-api-s3cret:never-in-redis';
const KEY = randomBytes(32).toString('base64');

/**
 * One call to the ID service per distinct token for the whole fleet: the first instance to miss
 * verifies under a Redis lease, the others wait for its shared result.
 */
describe('inbound single flight across instances (e2e)', () => {
  let idp: FakeIdService;
  let inspector: RedisInspector;
  let prefix: string;
  const logs = new CapturingLogger();
  const toClose = new CacheInstances();

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
    prefix = uniquePrefix();
  });
  afterEach(async () => {
    await toClose.close();
    await inspector.clear(prefix);
    idp.reset();
  });

  async function instance(strategy: VerificationStrategyName): Promise<RunningApp> {
    const app = await startHttpApp(
      'express',
      {
        imports: [
          OidcClientCredentialsModule.forRoot({
            issuer: idp.issuer,
            clientId: 'orders-api',
            clientSecret: API_SECRET,
            verification: { strategy },
            cache: testCacheOptions({
              stores: [toClose.redisStore(SHARED_REDIS_URL)],
              keyPrefix: prefix,
              encryptionKey: KEY,
            }),
          }),
        ],
        controllers: [OrdersController],
      },
      logs,
    );
    return toClose.add(app);
  }

  const status = async (app: RunningApp, token: string) =>
    (await fetch(`${app.url}/orders`, { headers: { authorization: `Bearer ${token}` } })).status;

  it.each([
    ['introspection', PATHS.introspection],
    ['userinfo', PATHS.userinfo],
  ] as const)(
    '5 instances × 100 concurrent requests with one new token → one %s call',
    async (strategy, path) => {
      const fleet = await Promise.all(Array.from({ length: 5 }, () => instance(strategy)));
      const token = idp.mintOpaque('billing', { scope: 'orders:read' });

      const statuses = await Promise.all(
        fleet.flatMap((app) => Array.from({ length: 100 }, () => status(app, token))),
      );

      expect(statuses.filter((s) => s === 200)).toHaveLength(500);
      expect(idp.requestsTo(path)).toHaveLength(1);
      // The lease is given back once the result is shared.
      expect(
        (await inspector.keys(`${prefix}:verify:`)).filter((k) => k.endsWith(':lease')),
      ).toEqual([]);
    },
  );
});
