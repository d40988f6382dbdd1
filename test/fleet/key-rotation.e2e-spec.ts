import { jest } from '@jest/globals';
import { OidcClientCredentialsModule } from 'nest-oidc-client-credentials';
import { FakeIdService, PATHS } from 'nest-oidc-client-credentials/testing';
import { fakeClock } from '../utils/fake-date.js';
import {
  HTTP_PLATFORMS,
  rawRequest,
  startHttpApp,
  type HttpPlatform,
  type RunningApp,
} from '../utils/nest-http-app.js';
import { OrdersController } from '../utils/orders.controller.js';
import { until, watch } from '../utils/until.js';

const SECOND = 1000;

/**
 * R20: after the ID service starts signing with a new key, a token with the new kid is never
 * answered 401 because of `jwksCooldownSeconds` (30 s): it waits for the next allowed JWKS fetch
 * when that is near (at most 2 s), else it is answered 503 with `Retry-After` until that fetch.
 */
describe('key rotation: a new kid is never refused for the JWKS cooldown', () => {
  let idp: FakeIdService;
  let running: RunningApp | undefined;

  beforeEach(async () => {
    fakeClock();
    idp = await FakeIdService.start({ alg: 'ES256' });
  });
  afterEach(async () => {
    await running?.close();
    running = undefined;
    await idp.close();
    jest.useRealTimers();
  });

  const jwksFetches = () => idp.requestsTo(PATHS.jwks).length;
  const advance = (ms: number) => jest.setSystemTime(Date.now() + ms);
  const get = (token: string) =>
    rawRequest(running!.url, { path: '/orders', headers: [['Authorization', `Bearer ${token}`]] });

  /** An API on `platform` that verified one token of the ID service's first key. */
  async function warmApi(platform: HttpPlatform): Promise<void> {
    running = await startHttpApp(platform, {
      imports: [
        OidcClientCredentialsModule.forRoot({
          issuer: idp.issuer,
          endpoints: { jwks: idp.url(PATHS.jwks) },
          verification: { strategy: 'jwt' },
        }),
      ],
      controllers: [OrdersController],
    });
    expect((await get(await idp.mintJwt())).status).toBe(200);
    expect(jwksFetches()).toBe(1);
  }

  const cases = HTTP_PLATFORMS.flatMap((platform) => [
    [`R20 ${platform}: 3 s after the last fetch, 503 with Retry-After 27`, platform, 3, 27],
    [`R20 ${platform}: 25 s after the last fetch, 503 with Retry-After 5`, platform, 25, 5],
  ]) as [string, HttpPlatform, number, number][];

  it.each(cases)(
    '%s, then 200 once the fetch is allowed',
    async (_case, platform, after, retry) => {
      await warmApi(platform);
      await idp.rotateKey();
      const rotated = await idp.mintJwt();

      advance(after * SECOND);
      const refused = await get(rotated);
      expect(refused.status).toBe(503);
      expect(refused.headers['retry-after']).toBe(String(retry));
      expect(refused.headers['www-authenticate']).toBeUndefined();
      expect(jwksFetches()).toBe(1);

      advance(retry * SECOND);
      expect((await get(rotated)).status).toBe(200);
      expect(jwksFetches()).toBe(2);
    },
  );

  it.each(HTTP_PLATFORMS.map((p) => [`R20 ${p}: 1.5 s before the next allowed fetch`, p]))(
    '%s, the request waits for that fetch and is answered 200',
    async (_case, platform) => {
      await warmApi(platform as HttpPlatform);
      await idp.rotateKey();
      const rotated = await idp.mintJwt();
      advance(28.5 * SECOND);

      const timers = jest.getTimerCount();
      const answer = watch(get(rotated));
      await until(() => jest.getTimerCount() > timers, 'the request waiting for the JWKS fetch');
      expect(answer.settled()).toBe(false);
      expect(jwksFetches()).toBe(1);

      await jest.advanceTimersByTimeAsync(1.5 * SECOND);
      expect((await answer.promise).status).toBe(200);
      expect(jwksFetches()).toBe(2);
    },
  );

  it.each(HTTP_PLATFORMS.map((p) => [`R20 ${p}`, p]))(
    '%s: a kid still unknown after a fresh fetch is 401, refused from memory until the next fetch',
    async (_case, platform) => {
      await warmApi(platform as HttpPlatform);
      const unknown = await idp.mintJwt({}, { kid: 'never-published' });
      advance(30 * SECOND);

      const first = await get(unknown);
      expect(first.status).toBe(401);
      expect(first.headers['www-authenticate']).toContain('error="invalid_token"');
      expect(jwksFetches()).toBe(2);

      advance(5 * SECOND);
      expect((await get(unknown)).status).toBe(401);
      expect(jwksFetches()).toBe(2);
    },
  );
});
