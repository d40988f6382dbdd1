import { inspect } from 'node:util';
import { jest } from '@jest/globals';
import { Test } from '@nestjs/testing';
import {
  IntrospectionVerificationStrategy,
  JwtVerificationStrategy,
  OidcClientCredentialsModule,
  TokenVerificationError,
  ValidatorUnavailableError,
  VerificationCache,
  type OidcClientCredentialsModuleOptions,
  type VerificationOptions,
  type VerifiedToken,
} from 'nest-oidc-client-credentials';
import { JwksProvider } from './jwks.provider.js';
import { FakeIdService, PATHS } from 'nest-oidc-client-credentials/testing';

const SECOND = 1000;
const now = () => Math.floor(Date.now() / 1000);

describe('VerificationCache', () => {
  let idp: FakeIdService;

  beforeAll(async () => {
    idp = await FakeIdService.start({
      alg: 'ES256',
      clients: { 'test-client': { secret: 'test-secret' }, 'orders-api': { secret: 's3cret' } },
    });
  });
  afterAll(() => idp.close());
  beforeEach(() => {
    idp.reset();
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
  });
  afterEach(() => {
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  const advance = (ms: number) => jest.setSystemTime(Date.now() + ms);
  const introspections = () => idp.requestsTo(PATHS.introspection).length;

  async function inbound(
    verification: VerificationOptions = {},
    options: Partial<OidcClientCredentialsModuleOptions> = {},
  ) {
    const moduleRef = await Test.createTestingModule({
      imports: [
        OidcClientCredentialsModule.forRoot({
          issuer: idp.issuer,
          clientId: 'orders-api',
          clientSecret: 's3cret',
          endpoints: { introspection: idp.url(PATHS.introspection), jwks: idp.url(PATHS.jwks) },
          ...options,
          verification,
        }),
      ],
    }).compile();
    return {
      cache: moduleRef.get(VerificationCache),
      introspection: moduleRef.get(IntrospectionVerificationStrategy),
      jwt: moduleRef.get(JwtVerificationStrategy),
      jwks: moduleRef.get(JwksProvider),
    };
  }

  /** Answers every introspection with `body` (a function, evaluated per request). */
  function introspectionAnswers(body: () => Record<string, unknown>): void {
    idp.on(PATHS.introspection, () => ({ body: body() }));
  }

  it('S68 keys are SHA-256 digests; the token appears nowhere in the cache', async () => {
    const { cache, introspection, jwt } = await inbound();
    const opaque = idp.mintOpaque();
    const signed = await idp.mintJwt();
    const refused = idp.mintOpaque();
    idp.revoke(refused);
    await introspection.verify(opaque);
    await jwt.verify(signed);
    await introspection.verify(refused).catch(() => undefined);
    expect(cache.size).toBe(3);
    const keys = [
      cache.keyFor(introspection.profileId, opaque),
      cache.keyFor(jwt.profileId, signed),
      cache.keyFor(introspection.profileId, refused),
    ];
    // Everything the cache holds, private maps included: entries sit under the digests only.
    const dump = inspect(cache, { depth: 20, showHidden: true, maxStringLength: Infinity });
    for (const key of keys) {
      expect(key).toMatch(/^[A-Za-z0-9_-]{43}(\.\d+)?$/);
      expect(dump).toContain(`'${key}' =>`);
    }
    for (const token of [opaque, signed, signed.split('.')[2], refused]) {
      expect(dump).not.toContain(token);
    }
  });

  it('S73 tokens sharing their last characters are distinct entries', async () => {
    const { cache, introspection } = await inbound();
    const suffix = 'x'.repeat(32);
    introspectionAnswers(() => ({ active: true, sub: 'a' }));
    const a = await introspection.verify(`AAAA${suffix}`);
    introspectionAnswers(() => ({ active: true, sub: 'b' }));
    const b = await introspection.verify(`BBBB${suffix}`);
    expect([a.clientId, b.clientId]).toEqual(['a', 'b']);
    expect(cache.size).toBe(2);
    expect(introspections()).toBe(2);
  });

  it('a hit makes no I/O and no key lookup or signature check', async () => {
    const { jwt, jwks } = await inbound();
    const token = await idp.mintJwt();
    const getKey = jest.spyOn(jwks, 'getKey');
    const first = await jwt.verify(token);
    for (let i = 0; i < 100; i++) expect(await jwt.verify(token)).toBe(first);
    expect(getKey).toHaveBeenCalledTimes(1);
    expect(idp.requestsTo(PATHS.jwks)).toHaveLength(1);
  });

  it('S70 a positive result lives until exp when exp comes before cacheTtlSeconds', async () => {
    const { introspection } = await inbound({ cacheTtlSeconds: 300 });
    const exp = now() + 60;
    introspectionAnswers(() => ({ active: true, sub: 'test-client', exp }));
    const token = idp.mintOpaque();
    await introspection.verify(token);
    advance(59 * SECOND);
    await introspection.verify(token);
    expect(introspections()).toBe(1);
    advance(2 * SECOND);
    // Past exp the entry is gone: the ID service is asked again (it decides, with the leeway).
    await introspection.verify(token).catch(() => undefined);
    expect(introspections()).toBe(2);
  });

  it('S70 a positive result lives cacheTtlSeconds when exp is later', async () => {
    const { jwt } = await inbound({ cacheTtlSeconds: 300 });
    const token = await idp.mintJwt();
    const verified = jest.spyOn(jwt, 'verifyUncached');
    await jwt.verify(token);
    advance(299 * SECOND);
    await jwt.verify(token);
    expect(verified).toHaveBeenCalledTimes(1);
    advance(2 * SECOND);
    await jwt.verify(token);
    expect(verified).toHaveBeenCalledTimes(2);
  });

  it('S71 an introspection answer without exp is cached only for cacheTtlSeconds', async () => {
    const { introspection } = await inbound({ cacheTtlSeconds: 30 });
    introspectionAnswers(() => ({ active: true, sub: 'test-client' }));
    const token = idp.mintOpaque();
    await introspection.verify(token);
    advance(29 * SECOND);
    await introspection.verify(token);
    expect(introspections()).toBe(1);
    advance(2 * SECOND);
    await introspection.verify(token);
    expect(introspections()).toBe(2);
  });

  it('R25 an inactive token is cached for negativeCacheTtlSeconds', async () => {
    const { introspection } = await inbound({ negativeCacheTtlSeconds: 10 });
    const token = idp.mintOpaque();
    idp.revoke(token);
    for (let i = 0; i < 50; i++) {
      await expect(introspection.verify(token)).rejects.toMatchObject({
        code: 'OIDC_CC_TOKEN_INACTIVE',
      });
    }
    expect(introspections()).toBe(1);
    advance(11 * SECOND);
    await expect(introspection.verify(token)).rejects.toBeInstanceOf(TokenVerificationError);
    expect(introspections()).toBe(2);
  });

  it('R25 errors, timeouts and an unavailable ID service are never cached', async () => {
    const { introspection } = await inbound();
    idp.on(PATHS.introspection, () => ({ status: 500 }));
    const token = idp.mintOpaque();
    for (let i = 0; i < 3; i++) await expect(introspection.verify(token)).rejects.toBeDefined();
    expect(introspections()).toBe(3);
    idp.reset();
    await expect(introspection.verify(token)).resolves.toBeDefined();
  });

  it('R24 300 concurrent requests with one new opaque token make one introspection call', async () => {
    const { introspection } = await inbound();
    const token = idp.mintOpaque('billing');
    const results = await Promise.all(
      Array.from({ length: 300 }, () => introspection.verify(token)),
    );
    expect(introspections()).toBe(1);
    expect(new Set(results.map((r) => r.clientId))).toEqual(new Set(['billing']));
  });

  it('R24 concurrent requests with one inactive token share one call and one refusal', async () => {
    const { introspection } = await inbound({ negativeCacheTtlSeconds: 0 });
    const token = idp.mintOpaque();
    idp.revoke(token);
    const results = await Promise.allSettled(
      Array.from({ length: 100 }, () => introspection.verify(token)),
    );
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(introspections()).toBe(1);
  });

  it('R26 clear() forgets results; cacheTtlSeconds 0 caches nothing', async () => {
    const { cache, introspection } = await inbound();
    const token = idp.mintOpaque();
    await introspection.verify(token);
    cache.clear();
    expect(cache.size).toBe(0);
    idp.revoke(token);
    await expect(introspection.verify(token)).rejects.toMatchObject({
      code: 'OIDC_CC_TOKEN_INACTIVE',
    });

    const uncached = await inbound({ cacheTtlSeconds: 0, negativeCacheTtlSeconds: 0 });
    idp.reset();
    const other = idp.mintOpaque();
    await uncached.introspection.verify(other);
    await uncached.introspection.verify(other);
    expect(introspections()).toBe(2);
    expect(uncached.cache.size).toBe(0);
  });

  it('S69 a result cached under one configuration never answers for another', async () => {
    const open = await inbound();
    const strict = await inbound({ audience: 'urn:orders-api' });
    const token = await idp.mintJwt();
    await expect(open.jwt.verify(token)).resolves.toBeDefined();
    await expect(strict.jwt.verify(token)).rejects.toMatchObject({
      code: 'OIDC_CC_TOKEN_INVALID',
    });

    // One cache, two profiles: each profile verifies on its own.
    const verify = jest.fn(async (): Promise<VerifiedToken> => ({
      clientId: 'c',
      scopes: [],
      claims: {},
    }));
    await open.cache.wrap('profile-a', token, verify);
    await open.cache.wrap('profile-b', token, verify);
    await open.cache.wrap('profile-a', token, verify);
    expect(verify).toHaveBeenCalledTimes(2);
    expect(open.cache.keyFor('profile-a', token)).not.toBe(open.cache.keyFor('profile-b', token));
  });

  it('is bounded by cacheMaxEntries, least recently used out', async () => {
    const { cache, introspection } = await inbound({ cacheMaxEntries: 3 });
    const [a, b, c, d] = Array.from({ length: 4 }, () => idp.mintOpaque());
    for (const token of [a, b, c]) await introspection.verify(token);
    advance(1 * SECOND); // hits refresh the LRU order at most once a second
    await introspection.verify(a); // a is now the most recently used
    await introspection.verify(d); // evicts b
    expect(cache.size).toBe(3);
    expect(introspections()).toBe(4);
    await introspection.verify(a);
    expect(introspections()).toBe(4);
    await introspection.verify(b);
    expect(introspections()).toBe(5);
  });

  it('a flood of bad tokens does not evict good results', async () => {
    const { introspection } = await inbound({ cacheMaxEntries: 2 });
    const good = idp.mintOpaque();
    await introspection.verify(good);
    for (let i = 0; i < 20; i++) {
      const bad = idp.mintOpaque();
      idp.revoke(bad);
      await introspection.verify(bad).catch(() => undefined);
    }
    const before = introspections();
    await introspection.verify(good);
    expect(introspections()).toBe(before);
  });

  it('R20 an unknown kid answered inside the JWKS cooldown is not negatively cached', async () => {
    const { jwt } = await inbound({ negativeCacheTtlSeconds: 60 });
    await jwt.verify(await idp.mintJwt());
    await idp.rotateKey();
    const rotated = await idp.mintJwt();
    advance(3 * SECOND);
    await expect(jwt.verify(rotated)).rejects.toBeInstanceOf(ValidatorUnavailableError);
    advance(30 * SECOND);
    await expect(jwt.verify(rotated)).resolves.toMatchObject({ clientId: 'test-client' });
  });

  it.each([
    ['revoke(token)', (cache: VerificationCache, token: string) => cache.revoke(token)],
    ['revokeClient(clientId)', (cache: VerificationCache) => cache.revokeClient('billing')],
  ])(
    '%s: a cached JWT is refused at once and until its exp, though its signature still verifies',
    async (_case, revoke) => {
      const { jwt, cache } = await inbound({ cacheTtlSeconds: 60 });
      const token = await idp.mintJwt({ sub: 'billing', exp: Math.floor(Date.now() / 1000) + 600 });
      await expect(jwt.verify(token)).resolves.toMatchObject({ clientId: 'billing' });

      await revoke(cache, token);
      for (const after of [0, 120, 470]) {
        advance(after * SECOND);
        await expect(jwt.verify(token)).rejects.toMatchObject({ code: 'OIDC_CC_TOKEN_INACTIVE' });
      }
      // 590 s after the revocation: a token issued since is accepted.
      const issuedLater = await idp.mintJwt({ sub: 'billing' });
      await expect(jwt.verify(issuedLater)).resolves.toMatchObject({ clientId: 'billing' });
    },
  );

  it('cached results are frozen, so one caller cannot change what another receives', async () => {
    const { introspection } = await inbound();
    idp.reset();
    const token = idp.mintOpaque('billing', { scope: 'orders:read' });
    const first = await introspection.verify(token);
    expect(Object.isFrozen(first)).toBe(true);
    expect(Object.isFrozen(first.scopes)).toBe(true);
    expect(() => (first.scopes as string[]).push('admin')).toThrow(TypeError);
    expect((await introspection.verify(token)).scopes).toEqual(['orders:read']);
  });
});
