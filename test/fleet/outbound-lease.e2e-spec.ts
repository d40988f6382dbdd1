import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  OidcClientCredentialsModule,
  TokenProvider,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { FakeIdService, PATHS } from 'nest-oidc-client-credentials/testing';
import { CapturingLogger } from '../utils/nest-http-app.js';
import { RedisInspector, uniquePrefix } from '../utils/redis.js';
import { CacheInstances, testCacheOptions } from '../utils/shared-cache-instances.js';
import { until } from '../utils/until.js';

const SECRET = 'billing-s3cret';
const KEY = randomBytes(32).toString('base64');
/** The ID service's per-request timeout; the lease lives half of it. */
const TIMEOUT_MS = 2_000;

describe('outbound lease whose holder hangs (e2e, real Redis)', () => {
  let idp: FakeIdService;
  let inspector: RedisInspector;
  let logs: CapturingLogger;
  let prefix: string;
  const instances = new CacheInstances();

  beforeAll(async () => {
    idp = await FakeIdService.start({
      clients: { billing: { secret: SECRET } },
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
    Logger.overrideLogger(logs);
    prefix = uniquePrefix();
  });
  afterEach(async () => {
    await instances.close();
    await inspector.clear(prefix);
    idp.reset();
  });

  async function start(
    options: Partial<OidcClientCredentialsModuleOptions> = {},
  ): Promise<TokenProvider> {
    const app = await NestFactory.createApplicationContext(
      OidcClientCredentialsModule.forRoot({
        issuer: idp.issuer,
        clientId: 'billing',
        clientSecret: SECRET,
        http: { timeoutMs: TIMEOUT_MS },
        tokenRenewal: { proactive: false },
        cache: testCacheOptions({
          stores: [instances.redisStore()],
          keyPrefix: prefix,
          encryptionKey: KEY,
        }),
        ...options,
      }),
      { logger: logs },
    );
    return instances.add(app).get(TokenProvider);
  }
  const tokenRequests = () => idp.requestCount(PATHS.token);

  it('a holder whose token request hangs: the others resolve within one timeout, ≤ 2 requests for the fleet', async () => {
    let first = true;
    idp.on(PATHS.token, () => {
      if (!first) return undefined;
      first = false;
      return { hang: true };
    });
    const [holder, ...waiters] = await Promise.all([start(), start(), start(), start()]);
    const held = holder.getToken();
    await until(() => tokenRequests() === 1, 'the holder’s request');
    expect(await inspector.keys(`${prefix}:token:`)).toEqual([expect.stringMatching(/:lease$/)]);

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
    expect(logs.text()).not.toContain(tokens[0]);
  });

  it('a holder that died (its lease left behind): one waiter takes over, one request', async () => {
    const [probe, ...fleet] = await Promise.all([start(), start(), start(), start()]);
    // A lease as a crashed holder leaves it: held, never released, expiring after its TTL.
    await probe.getToken();
    const [tokenKey] = await inspector.keys(`${prefix}:token:`);
    await inspector.clear(prefix);
    await inspector.set(`${tokenKey}:lease`, 'crashed-holder', TIMEOUT_MS / 2);
    const before = tokenRequests();

    const started = performance.now();
    const tokens = await Promise.all(fleet.map((p) => p.getToken()));
    expect(performance.now() - started).toBeLessThan(TIMEOUT_MS);
    expect(new Set(tokens).size).toBe(1);
    expect(tokenRequests()).toBe(before + 1);
  });
});
