import { jest } from '@jest/globals';
import { type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  OidcClientCredentialsEvents,
  OidcClientCredentialsModule,
  TokenProvider,
  TokenProviderRegistry,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { PATHS } from 'nest-oidc-client-credentials/testing';
import { fakeClock } from '../utils/fake-date.js';
import { testCacheOptions } from '../utils/shared-cache-instances.js';
import { until } from '../utils/until.js';
import { RedisTestBed } from '../utils/redis-test-bed.js';

const SECRET = 'billing-s3cret';
/** A 100 s token renewed at 50 s (half its lifetime); a timer's jitter adds at most 12.5 s. */
const LIFETIME_S = 100;
const RENEWAL = { renewAfterFraction: 0.5, renewBeforeExpirySeconds: 10 };

/** One instance of the billing service: its token provider and the events it emits. */
interface Instance {
  app: INestApplicationContext;
  tokens: TokenProvider;
  /** Every `token.fetched` / `token.renewed` / `token.failed` so far, in order. */
  seen: { event: string; renewal: boolean; source?: string }[];
}

describe('outbound tokens renewed on a timer (e2e)', () => {
  const bed = new RedisTestBed(
    {
      clients: { billing: { secret: SECRET, lifetimeSeconds: LIFETIME_S } },
      tokenFormat: 'opaque',
    },
    { globalLogger: true },
  );
  const instances = bed.toClose;
  beforeEach(() => {
    fakeClock(new Date('2026-01-01T00:00:00Z'));
  });

  async function start(
    options: Partial<OidcClientCredentialsModuleOptions> & { redis?: boolean } = {},
  ): Promise<Instance> {
    const { redis = false, tokenRenewal, ...rest } = options;
    const app = await NestFactory.createApplicationContext(
      OidcClientCredentialsModule.forRoot({
        issuer: bed.idp.issuer,
        clientId: 'billing',
        clientSecret: SECRET,
        retry: { maxAttempts: 1 },
        tokenRenewal: { ...RENEWAL, ...tokenRenewal },
        ...(redis
          ? {
              cache: testCacheOptions({
                stores: [instances.redisStore()],
                keyPrefix: bed.prefix,
                encryptionKey: bed.encryptionKey,
              }),
            }
          : {}),
        ...rest,
      }),
      { logger: bed.logs },
    );
    instances.add(app);
    const seen: Instance['seen'] = [];
    const events = app.get(OidcClientCredentialsEvents);
    events.on('token.fetched', ({ source }) =>
      seen.push({ event: 'fetched', renewal: false, source }),
    );
    events.on('token.renewed', ({ source }) =>
      seen.push({ event: 'renewed', renewal: true, source }),
    );
    events.on('token.failed', ({ renewal }) => seen.push({ event: 'failed', renewal }));
    return { app, tokens: app.get(TokenProvider), seen };
  }

  const tokenRequests = () => bed.idp.requestCount(PATHS.token);
  const count = (instance: Instance, event: string) =>
    instance.seen.filter((e) => e.event === event).length;
  /** Moves the fake clock to this instance's renewal timer, which then fires. */
  async function toRenewalPoint(instance: Instance): Promise<void> {
    const at = instance.tokens.status().renewsAt;
    if (at === undefined) throw new Error('no renewal timer is set');
    await jest.advanceTimersByTimeAsync(Math.max(0, at - Date.now()));
  }

  it('an idle instance renews at its renewal point; getToken() afterwards sends no request', async () => {
    const one = await start();
    const first = await one.tokens.getToken();
    const renewsAt = one.tokens.status().renewsAt!;
    // At the renewal point, plus a jitter of at most a quarter of the 50 s left.
    expect(renewsAt - Date.now()).toBeGreaterThanOrEqual(50_000);
    expect(renewsAt - Date.now()).toBeLessThanOrEqual(62_500);

    await toRenewalPoint(one);
    await until(() => count(one, 'renewed') === 1, 'the timer renewal');
    expect(tokenRequests()).toBe(2);
    const renewed = await one.tokens.getToken();
    expect(renewed).not.toBe(first);
    expect(tokenRequests()).toBe(2);
    expect(bed.logs.text()).not.toContain(first);
  });

  it('an outage starting after the renewal point: the valid token is served until its expiry', async () => {
    const one = await start();
    const first = await one.tokens.getToken();
    const expiresAt = one.tokens.status().tokenExpiresAt!;
    bed.idp.on(PATHS.token, () => ({ status: 503, body: { error: 'temporarily_unavailable' } }));

    await toRenewalPoint(one);
    await until(() => count(one, 'failed') === 1, 'the failed timer renewal');
    await expect(one.tokens.getToken()).resolves.toBe(first);
    // The timer keeps trying (with backoff) while the token is valid; callers keep the token.
    await jest.advanceTimersByTimeAsync(expiresAt - 1 - Date.now());
    await expect(one.tokens.getToken()).resolves.toBe(first);
    expect(
      one.seen.every((e) => e.event === 'fetched' || (e.event === 'failed' && e.renewal)),
    ).toBe(true);
    await jest.advanceTimersByTimeAsync(1);
    await expect(one.tokens.getToken()).rejects.toMatchObject({
      code: expect.stringMatching(/^OIDC_CC_TOKEN_ENDPOINT_(UNAVAILABLE|CIRCUIT_OPEN)$/),
    });
  });

  it('3 idle instances on one Redis: one renewal request for the fleet at the renewal point', async () => {
    const fleet = [
      await start({ redis: true }),
      await start({ redis: true }),
      await start({ redis: true }),
    ];
    const first = await fleet[0].tokens.getToken();
    for (const instance of fleet.slice(1))
      await expect(instance.tokens.getToken()).resolves.toBe(first);
    expect(tokenRequests()).toBe(1);

    // Each instance's timer fires at its own jittered point; nobody calls getToken() meanwhile.
    const byTimer = [...fleet].sort(
      (a, b) => a.tokens.status().renewsAt! - b.tokens.status().renewsAt!,
    );
    for (const instance of byTimer) {
      await toRenewalPoint(instance);
      await until(() => count(instance, 'renewed') === 1, 'this instance’s renewal');
    }
    expect(tokenRequests()).toBe(2);
    expect(byTimer.map((i) => i.seen.at(-1)?.source)).toEqual([
      'token-endpoint',
      'shared-cache',
      'shared-cache',
    ]);
    const renewed = await Promise.all(fleet.map((i) => i.tokens.getToken()));
    expect(new Set(renewed).size).toBe(1);
    expect(renewed[0]).not.toBe(first);
    expect(tokenRequests()).toBe(2);
  });

  it('a token nobody read for a whole lifetime is not renewed again', async () => {
    const one = await start();
    await one.tokens.getToken();
    await toRenewalPoint(one);
    await until(() => count(one, 'renewed') === 1, 'the first timer renewal');

    // Nobody has read the renewed token: at its renewal point it is let go.
    await toRenewalPoint(one);
    expect(one.tokens.status().renewsAt).toBeUndefined();
    await jest.advanceTimersByTimeAsync(LIFETIME_S * 1000);
    expect(one.tokens.status().tokenExpiresAt).toBeUndefined();
    // The next caller fetches anew (a fetch, not the renewal a timer would have started).
    await one.tokens.getToken();
    expect(one.seen.map((e) => e.event)).toEqual(['fetched', 'renewed', 'fetched']);
    expect(tokenRequests()).toBe(3);
  });

  it('with tokenRenewal.proactive: false nothing renews an idle instance', async () => {
    const one = await start({ tokenRenewal: { proactive: false } });
    const first = await one.tokens.getToken();
    expect(one.tokens.status().renewsAt).toBeUndefined();
    await jest.advanceTimersByTimeAsync(60_000);
    expect(tokenRequests()).toBe(1);
    // The first caller after the renewal point still starts a background renewal.
    await expect(one.tokens.getToken()).resolves.toBe(first);
    await until(() => count(one, 'renewed') === 1, 'the renewal on demand');
  });

  it.each([
    ['tokenRenewal.prefetch: true fetches at bootstrap', true, 1],
    ['by default nothing is fetched before the first caller', undefined, 0],
  ])('%s', async (_name, prefetch, atBootstrap) => {
    const one = await start({ tokenRenewal: { prefetch } });
    expect(tokenRequests()).toBe(atBootstrap);
    await one.tokens.getToken();
    expect(tokenRequests()).toBe(1);
  });

  it('app.close() leaves no timer behind, a named client’s included', async () => {
    const one = await start({
      redis: true,
      tokenRenewal: { prefetch: true },
      clients: { reports: { scope: 'reports' } },
    });
    const reports = one.app.get(TokenProviderRegistry).get('reports');
    await reports.getToken();
    expect(one.tokens.status().renewsAt).toBeDefined();
    expect(reports.status().renewsAt).toBeDefined();
    expect(jest.getTimerCount()).toBeGreaterThan(0);
    await instances.closeApps();
    expect(jest.getTimerCount()).toBe(0);
    expect(one.tokens.status().renewsAt).toBeUndefined();
    expect(reports.status().renewsAt).toBeUndefined();
  });
});
