import { randomBytes } from 'node:crypto';
import { jest } from '@jest/globals';
import { OidcClientCredentialsModule } from 'nest-oidc-client-credentials';
import { PATHS } from 'nest-oidc-client-credentials/testing';
import { fakeDateOnly } from '../utils/fake-date.js';
import { startHttpApp, type RunningApp } from '../utils/nest-http-app.js';
import { OrdersController } from '../utils/orders.controller.js';
import { SHARED_REDIS_URL } from '../utils/redis.js';
import { testCacheOptions } from '../utils/shared-cache-instances.js';
import { RedisTestBed } from '../utils/redis-test-bed.js';

const SECOND = 1000;

/**
 * One JWKS for the fleet: with a sealed shared cache, one instance fetches under a Redis lease and
 * the others read its keys; the unknown-kid cooldown runs from the fleet's last fetch.
 */
describe('one JWKS for instances on one Redis (e2e)', () => {
  const bed = new RedisTestBed({ alg: 'ES256' });
  const { toClose } = bed;
  beforeEach(() => {
    // Only Date is faked: Redis, HTTP and the lease's polling run on real time.
    fakeDateOnly();
  });

  async function instance(sealed = true): Promise<RunningApp> {
    const app = await startHttpApp(
      'express',
      {
        imports: [
          OidcClientCredentialsModule.forRoot({
            issuer: bed.idp.issuer,
            endpoints: { jwks: bed.idp.url(PATHS.jwks) },
            verification: { strategy: 'jwt' },
            cache: testCacheOptions({
              stores: [toClose.redisStore(SHARED_REDIS_URL)],
              keyPrefix: bed.prefix,
              ...(sealed ? { encryptionKey: bed.encryptionKey } : {}),
            }),
          }),
        ],
        controllers: [OrdersController],
      },
      bed.logs,
    );
    return toClose.add(app);
  }
  const fleetOf = (n: number, sealed = true) =>
    Promise.all(Array.from({ length: n }, () => instance(sealed)));
  const status = async (app: RunningApp, token: string) =>
    (await fetch(`${app.url}/orders`, { headers: { authorization: `Bearer ${token}` } })).status;
  const jwksFetches = () => bed.idp.requestsTo(PATHS.jwks).length;
  const advance = (ms: number) => jest.setSystemTime(Date.now() + ms);

  /** Every instance gets `perInstance` tokens with kids the ID service never published. */
  async function randomKidFlood(fleet: RunningApp[], perInstance = 20): Promise<number[]> {
    const tokens = await Promise.all(
      Array.from({ length: fleet.length * perInstance }, (_, i) =>
        bed.idp.mintJwt({}, { kid: `random-${i}-${randomBytes(6).toString('hex')}` }),
      ),
    );
    return Promise.all(tokens.map((token, i) => status(fleet[i % fleet.length], token)));
  }

  it('start-up of 5 instances with concurrent requests → 1 JWKS fetch; the keys are stored sealed', async () => {
    const fleet = await fleetOf(5);
    const token = await bed.idp.mintJwt();
    const statuses = await Promise.all(
      fleet.flatMap((app) => Array.from({ length: 20 }, () => status(app, token))),
    );
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(jwksFetches()).toBe(1);

    const [stored] = (await bed.inspector.keys(`${bed.prefix}:jwks:`)).filter(
      (k) => !k.endsWith(':lease'),
    );
    const raw = (await bed.inspector.get(stored)) ?? '';
    expect(raw).not.toContain(bed.idp.currentKid);
    // A sixth instance started later reads the fleet's keys.
    expect(await status(await instance(), token)).toBe(200);
    expect(jwksFetches()).toBe(1);
  });

  it('R19 a random-kid flood on 5 instances → at most 1 JWKS fetch per cooldown for the fleet', async () => {
    const fleet = await fleetOf(5);
    const token = await bed.idp.mintJwt();
    for (const app of fleet) expect(await status(app, token)).toBe(200);
    expect(jwksFetches()).toBe(1);

    for (const round of [1, 2, 3]) {
      advance(31 * SECOND);
      const statuses = await randomKidFlood(fleet);
      // Refused: 401 after the fleet's fresh fetch, else 503 until the next one; never accepted.
      expect(statuses.every((s) => s === 401 || s === 503)).toBe(true);
      expect(jwksFetches()).toBeLessThanOrEqual(1 + round);
      await randomKidFlood(fleet);
      expect(jwksFetches()).toBeLessThanOrEqual(1 + round);
    }
  });

  it('without cache.encryptionKey the JWKS is not shared: each instance fetches its own', async () => {
    const fleet = await fleetOf(3, false);
    const token = await bed.idp.mintJwt();
    for (const app of fleet) expect(await status(app, token)).toBe(200);
    expect(jwksFetches()).toBe(3);
    expect(await bed.inspector.keys(`${bed.prefix}:jwks:`)).toEqual([]);
  });
});
