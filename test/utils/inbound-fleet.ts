import {
  OidcClientCredentialsModule,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { startHttpApp, type RunningApp } from './nest-http-app.js';
import { OrdersController } from './orders.controller.js';
import { SHARED_REDIS_URL } from './redis.js';
import { RedisTestBed } from './redis-test-bed.js';
import { testCacheOptions } from './shared-cache-instances.js';

/** The orders API's client secret at the fake ID service: the tests check it never reaches Redis. */
export const API_SECRET = 'orders-api-s3cret:never-in-redis';

/** An instance's options: the module's, over the fleet's, and the Redis it connects to. */
export type FleetInstanceOptions = Partial<OidcClientCredentialsModuleOptions> & { url?: string };

/**
 * Replicas of the orders API behind `ClientTokenGuard` sharing verification results through the
 * real Redis. The ID service issues opaque tokens: `billing` may ask for `orders:read`,
 * `orders-api` introspects.
 */
export class InboundFleet extends RedisTestBed {
  constructor() {
    super({
      clients: {
        'orders-api': { secret: API_SECRET },
        billing: { secret: 'billing-secret', scope: 'orders:read' },
      },
      tokenFormat: 'opaque',
    });
  }

  /**
   * One more replica on Express, verifying by introspection (unless `options` say otherwise) with
   * a sealed shared cache of its own connection to the Redis.
   */
  readonly instance = async (options: FleetInstanceOptions = {}): Promise<RunningApp> => {
    const { url = SHARED_REDIS_URL, cache, verification, ...rest } = options;
    const app = await startHttpApp(
      'express',
      {
        imports: [
          OidcClientCredentialsModule.forRoot({
            issuer: this.idp.issuer,
            clientId: 'orders-api',
            clientSecret: API_SECRET,
            verification: { strategy: 'introspection', ...verification },
            cache: testCacheOptions({
              stores: [this.toClose.redisStore(url)],
              keyPrefix: this.prefix,
              encryptionKey: this.encryptionKey,
              ...cache,
            }),
            ...rest,
          }),
        ],
        controllers: [OrdersController],
      },
      this.logs,
    );
    return this.toClose.add(app);
  };

  /** The status of `GET path` (`/orders`) with `token` as a bearer token. */
  readonly status = async (app: RunningApp, token: string, path = '/orders'): Promise<number> => {
    const response = await fetch(`${app.url}${path}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    await response.body?.cancel();
    return response.status;
  };
}
