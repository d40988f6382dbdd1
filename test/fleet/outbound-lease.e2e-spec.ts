import { performance } from 'node:perf_hooks';
import { NestFactory } from '@nestjs/core';
import {
  OidcClientCredentialsModule,
  TokenProvider,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { PATHS } from 'nest-oidc-client-credentials/testing';
import { testCacheOptions } from '../utils/shared-cache-instances.js';
import { until } from '../utils/until.js';
import { RedisTestBed } from '../utils/redis-test-bed.js';

const SECRET = 'billing-s3cret';
/** The ID service's per-request timeout; the lease lives half of it. */
const TIMEOUT_MS = 2_000;

describe('outbound lease whose holder hangs (e2e, real Redis)', () => {
  const bed = new RedisTestBed(
    { clients: { billing: { secret: SECRET } }, tokenFormat: 'opaque' },
    { globalLogger: true },
  );
  const instances = bed.toClose;

  async function start(
    options: Partial<OidcClientCredentialsModuleOptions> = {},
  ): Promise<TokenProvider> {
    const app = await NestFactory.createApplicationContext(
      OidcClientCredentialsModule.forRoot({
        issuer: bed.idp.issuer,
        clientId: 'billing',
        clientSecret: SECRET,
        http: { timeoutMs: TIMEOUT_MS },
        tokenRenewal: { proactive: false },
        cache: testCacheOptions({
          stores: [instances.redisStore()],
          keyPrefix: bed.prefix,
          encryptionKey: bed.encryptionKey,
        }),
        ...options,
      }),
      { logger: bed.logs },
    );
    return instances.add(app).get(TokenProvider);
  }
  const tokenRequests = () => bed.idp.requestCount(PATHS.token);

  it('a holder whose token request hangs: the others resolve within one timeout, ≤ 2 requests for the fleet', async () => {
    let first = true;
    bed.idp.on(PATHS.token, () => {
      if (!first) return undefined;
      first = false;
      return { hang: true };
    });
    const [holder, ...waiters] = await Promise.all([start(), start(), start(), start()]);
    const held = holder.getToken();
    await until(() => tokenRequests() === 1, 'the holder’s request');
    expect(await bed.inspector.keys(`${bed.prefix}:token:`)).toEqual([
      expect.stringMatching(/:lease$/),
    ]);

    const started = performance.now();
    const tokens = await Promise.all(waiters.map((w) => w.getToken()));
    const elapsed = performance.now() - started;
    // One waiter took the lease over once it expired (half the timeout) and fetched for all.
    expect(elapsed).toBeLessThan(TIMEOUT_MS);
    expect(new Set(tokens).size).toBe(1);
    expect(tokenRequests()).toBe(2);

    // The holder's own request times out; before retrying it finds the shared token.
    await expect(held).resolves.toBe(tokens[0]);
    expect(tokenRequests()).toBe(2);
    expect(bed.logs.text()).not.toContain(tokens[0]);
  });

  it('a holder that died (its lease left behind): one waiter takes over, one request', async () => {
    const [probe, ...fleet] = await Promise.all([start(), start(), start(), start()]);
    // A lease as a crashed holder leaves it: held, never released, expiring after its TTL.
    await probe.getToken();
    const [tokenKey] = await bed.inspector.keys(`${bed.prefix}:token:`);
    await bed.inspector.clear(bed.prefix);
    await bed.inspector.set(`${tokenKey}:lease`, 'crashed-holder', TIMEOUT_MS / 2);
    const before = tokenRequests();

    const started = performance.now();
    const tokens = await Promise.all(fleet.map((p) => p.getToken()));
    expect(performance.now() - started).toBeLessThan(TIMEOUT_MS);
    expect(new Set(tokens).size).toBe(1);
    expect(tokenRequests()).toBe(before + 1);
  });
});
