import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  JwtVerificationStrategy,
  OidcClientCredentialsModule,
  TokenVerificationError,
  ValidatorUnavailableError,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { FakeIdService, PATHS, type FakeResponse } from 'nest-oidc-client-credentials/testing';
import { freePort } from '../../../../test/utils/ports.js';

const SECOND = 1000;

describe('JwksProvider (through JwtVerificationStrategy, uncached)', () => {
  let idp: FakeIdService;
  let attacker: FakeIdService;
  let warn: jest.SpiedFunction<Logger['warn']>;
  let error: jest.SpiedFunction<Logger['error']>;

  beforeEach(async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    error = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    // EC keys: generated in milliseconds, and the JWKS rules do not depend on the key type.
    idp = await FakeIdService.start({ alg: 'ES256' });
  });
  afterEach(async () => {
    jest.useRealTimers();
    jest.restoreAllMocks();
    await idp.close();
  });
  beforeAll(async () => {
    attacker = await FakeIdService.start({ alg: 'ES256' });
  });
  afterAll(() => attacker.close());
  beforeEach(() => attacker.reset());

  const advance = (ms: number) => jest.setSystemTime(Date.now() + ms);
  const jwksFetches = () => idp.requestsTo(PATHS.jwks).length;

  /** The JWT strategy with explicit endpoints (no discovery) and the defaults of the options. */
  async function strategy(
    options: Partial<OidcClientCredentialsModuleOptions> = {},
  ): Promise<JwtVerificationStrategy> {
    const moduleRef = await Test.createTestingModule({
      imports: [
        OidcClientCredentialsModule.forRoot({
          issuer: idp.issuer,
          endpoints: { jwks: idp.url(PATHS.jwks) },
          ...options,
        }),
      ],
    }).compile();
    return moduleRef.get(JwtVerificationStrategy);
  }

  async function failure(promise: Promise<unknown>): Promise<Error> {
    const caught = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(caught).toBeInstanceOf(Error);
    return caught as Error;
  }

  async function expectUnavailable(promise: Promise<unknown>, code = 'OIDC_CC_JWKS_UNAVAILABLE') {
    const caught = await failure(promise);
    expect(caught).toBeInstanceOf(ValidatorUnavailableError);
    expect((caught as ValidatorUnavailableError).code).toBe(code);
  }

  async function expectInvalid(promise: Promise<unknown>) {
    const caught = await failure(promise);
    expect(caught).toBeInstanceOf(TokenVerificationError);
    expect((caught as TokenVerificationError).code).toBe('OIDC_CC_TOKEN_INVALID');
  }

  it('fetches the JWKS once and reuses it until jwksMaxAgeSeconds', async () => {
    const jwt = await strategy();
    const token = await idp.mintJwt();
    await Promise.all(Array.from({ length: 20 }, () => jwt.verifyUncached(token)));
    expect(jwksFetches()).toBe(1);
    advance(599 * SECOND);
    await jwt.verifyUncached(token);
    expect(jwksFetches()).toBe(1);
    advance(2 * SECOND);
    await jwt.verifyUncached(token);
    expect(jwksFetches()).toBe(2);
  });

  it('R17 JWKS down at startup: 503 without crashing, retried after the backoff, then recovers', async () => {
    const jwt = await strategy();
    const token = await idp.mintJwt();
    idp.on(PATHS.jwks, () => ({ status: 500, body: { error: 'down' } }));
    await expectUnavailable(jwt.verifyUncached(token));
    await expectUnavailable(jwt.verifyUncached(token));
    expect(jwksFetches()).toBe(1);

    idp.reset();
    await expectUnavailable(jwt.verifyUncached(token));
    expect(jwksFetches()).toBe(0);
    advance(5 * SECOND);
    await expect(jwt.verifyUncached(token)).resolves.toMatchObject({ clientId: 'test-client' });
    expect(jwksFetches()).toBe(1);
  });

  it('R18 JWKS down after warm-up: last known keys for the stale window (logged once), then 503', async () => {
    const jwt = await strategy();
    const token = await idp.mintJwt({ exp: Math.floor(Date.now() / 1000) + 86_400 });
    await jwt.verifyUncached(token);
    idp.on(PATHS.jwks, () => ({ status: 503, body: 'maintenance' }));

    advance(601 * SECOND);
    await expect(jwt.verifyUncached(token)).resolves.toBeDefined();
    advance(1800 * SECOND);
    await expect(jwt.verifyUncached(token)).resolves.toBeDefined();
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0][0])).toContain('last known keys');

    advance(1800 * SECOND);
    await expectUnavailable(jwt.verifyUncached(token));
    expect(error).toHaveBeenCalled();
    for (const call of [...warn.mock.calls, ...error.mock.calls]) {
      expect(String(call[0])).not.toContain(token);
    }

    // Failed refreshes are spaced by the backoff, not made on every request.
    const fetchesWhileDown = jwksFetches();
    await expectUnavailable(jwt.verifyUncached(token));
    expect(jwksFetches()).toBe(fetchesWhileDown);
    expect(error).toHaveBeenCalledTimes(1);

    idp.reset();
    advance(5 * SECOND);
    await expect(jwt.verifyUncached(token)).resolves.toBeDefined();
  });

  it('R19 a flood of random kids makes at most one JWKS fetch per cooldown', async () => {
    const jwt = await strategy();
    await jwt.verifyUncached(await idp.mintJwt());
    expect(jwksFetches()).toBe(1);

    const [, payload, signature] = (await idp.mintJwt()).split('.');
    const flood = async () => {
      // An unknown kid is refused before any signature check, so the signature can be reused.
      const tokens = Array.from({ length: 1000 }, (_, i) => {
        const header = { alg: 'ES256', kid: `random-${i}-${Math.random()}` };
        return `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${payload}.${signature}`;
      });
      const results = await Promise.allSettled(tokens.map((t) => jwt.verifyUncached(t)));
      for (const result of results) {
        expect(result.status).toBe('rejected');
        expect((result as PromiseRejectedResult).reason).toBeInstanceOf(TokenVerificationError);
      }
    };

    await flood();
    expect(jwksFetches()).toBe(1);
    advance(31 * SECOND);
    await flood();
    expect(jwksFetches()).toBe(2);
    await flood();
    expect(jwksFetches()).toBe(2);
  });

  it("never refetches because a known kid's signature failed", async () => {
    const jwt = await strategy();
    await jwt.verifyUncached(await idp.mintJwt());
    advance(60 * SECOND);
    const [h, p, s] = (await idp.mintJwt()).split('.');
    const forged = `${h}.${p}.${s.slice(0, -4)}AAAA`;
    for (let i = 0; i < 5; i++) await expectInvalid(jwt.verifyUncached(forged));
    expect(jwksFetches()).toBe(1);
  });

  it('R20 key rotation: a new kid is never refused for the cooldown: 503 with the seconds until the next fetch, then accepted', async () => {
    const jwt = await strategy();
    await jwt.verifyUncached(await idp.mintJwt());
    await idp.rotateKey();
    const rotated = await idp.mintJwt();

    advance(3 * SECOND);
    const caught = await failure(jwt.verifyUncached(rotated));
    expect(caught).toBeInstanceOf(ValidatorUnavailableError);
    expect(caught).toMatchObject({ code: 'OIDC_CC_JWKS_UNAVAILABLE', retryAfterSeconds: 27 });
    expect(jwksFetches()).toBe(1);

    advance(27 * SECOND);
    await expect(jwt.verifyUncached(rotated)).resolves.toMatchObject({ clientId: 'test-client' });
    expect(jwksFetches()).toBe(2);
  });

  it.each([
    ['R20 1.5 s before the next allowed fetch', 1500],
    ['R20 at most 2 s before it', 2000],
  ])('%s, a new kid waits for that fetch and is accepted', async (_case, beforeFetchMs) => {
    const jwt = await strategy();
    await jwt.verifyUncached(await idp.mintJwt());
    await idp.rotateKey();
    const rotated = await idp.mintJwt();

    advance(30 * SECOND - beforeFetchMs);
    const settled = jest.fn();
    const verifications = [jwt.verifyUncached(rotated), jwt.verifyUncached(rotated)].map((p) =>
      p.then(settled, settled),
    );
    await jest.advanceTimersByTimeAsync(beforeFetchMs - 1);
    expect(settled).not.toHaveBeenCalled();
    expect(jwksFetches()).toBe(1);
    await jest.advanceTimersByTimeAsync(1);
    await Promise.all(verifications);
    expect(settled).toHaveBeenCalledTimes(2);
    for (const [result] of settled.mock.calls) {
      expect(result).toMatchObject({ clientId: 'test-client' });
    }
    expect(jwksFetches()).toBe(2);
  });

  it('R20 a kid still unknown after a fresh fetch is invalid, and answered from memory until the next fetch', async () => {
    const jwt = await strategy();
    await jwt.verifyUncached(await idp.mintJwt());
    const [, payload, signature] = (await idp.mintJwt()).split('.');
    const withKid = (kid: string) =>
      `${Buffer.from(JSON.stringify({ alg: 'ES256', kid })).toString('base64url')}.${payload}.${signature}`;

    advance(29 * SECOND);
    const waiting = Promise.allSettled([jwt.verifyUncached(withKid('unknown-1'))]);
    await jest.advanceTimersByTimeAsync(SECOND);
    const [result] = await waiting;
    expect((result as PromiseRejectedResult).reason).toBeInstanceOf(TokenVerificationError);
    expect(jwksFetches()).toBe(2);

    advance(5 * SECOND);
    await expectInvalid(jwt.verifyUncached(withKid('unknown-1')));
    await expectUnavailable(jwt.verifyUncached(withKid('unknown-2')));
    expect(jwksFetches()).toBe(2);
  });

  it('R20 a new kid in the first request after startup is accepted at once', async () => {
    const jwt = await strategy();
    await idp.rotateKey();
    await expect(jwt.verifyUncached(await idp.mintJwt())).resolves.toBeDefined();
  });

  it('R21 a key removed by a refetch for an unknown kid is refused at once, though it verified a token just before', async () => {
    const jwt = await strategy();
    const removedKid = idp.currentKid;
    const signedByRemoved = await idp.mintJwt();
    await jwt.verifyUncached(signedByRemoved);
    await jwt.verifyUncached(await idp.mintJwt());
    await idp.rotateKey();
    idp.unpublishKey(removedKid);

    // Within jwksMaxAgeSeconds: a kid nobody published makes the fetch (after the cooldown), and
    // the keys it brings are the only ones from then on.
    advance(31 * SECOND);
    await expectInvalid(jwt.verifyUncached(await idp.mintJwt({}, { kid: 'never-published' })));
    expect(jwksFetches()).toBe(2);
    await expectInvalid(jwt.verifyUncached(signedByRemoved));
    await expect(jwt.verifyUncached(await idp.mintJwt())).resolves.toBeDefined();
  });

  it('R21 a key removed from a successful JWKS is refused, and failures never resurrect it', async () => {
    const jwt = await strategy();
    const removedKid = idp.currentKid;
    const signedByRemoved = await idp.mintJwt();
    await jwt.verifyUncached(signedByRemoved);
    await idp.rotateKey();
    idp.unpublishKey(removedKid);

    advance(601 * SECOND);
    await expectInvalid(jwt.verifyUncached(signedByRemoved));
    expect(jwksFetches()).toBe(2);
    await expect(jwt.verifyUncached(await idp.mintJwt())).resolves.toBeDefined();

    // With the endpoint failing, the stale keys are the last successful set, without the removed
    // key; an unknown kid while the JWKS cannot be checked is "unavailable", never accepted.
    idp.on(PATHS.jwks, () => ({ status: 500 }));
    advance(601 * SECOND);
    await expectUnavailable(jwt.verifyUncached(signedByRemoved));
    await expect(jwt.verifyUncached(await idp.mintJwt())).resolves.toBeDefined();
  });

  it.each([
    ['oversized', () => ({ body: { keys: [], padding: 'x'.repeat(8192) } })],
    [
      'invalid JSON',
      () => ({ headers: { 'content-type': 'application/json' }, body: '{"keys":[' }),
    ],
    ['a JSON array', () => ({ body: [] })],
    ['no keys member', () => ({ body: { key: [] } })],
    ['HTTP 404', () => ({ status: 404, body: { error: 'not_found' } })],
    ['HTTP 500', () => ({ status: 500 })],
    ['a connection reset', () => ({ reset: true })],
  ])('R22 %s: the fetch fails and the previous keys are kept', async (_name, answer) => {
    const jwt = await strategy({ http: { maxResponseBytes: 4096 } });
    const token = await idp.mintJwt();
    await jwt.verifyUncached(token);
    idp.on(PATHS.jwks, answer);
    advance(601 * SECOND);
    await expect(jwt.verifyUncached(token)).resolves.toBeDefined();
    expect(jwksFetches()).toBe(2);
    expect(warn).toHaveBeenCalledTimes(1);
  });

  it('R22 a redirect is not followed: the fetch fails, previous keys are kept', async () => {
    const jwt = await strategy();
    const token = await idp.mintJwt();
    await jwt.verifyUncached(token);
    idp.on(PATHS.jwks, () => ({
      status: 302,
      headers: { location: attacker.url(PATHS.jwks) },
    }));
    advance(601 * SECOND);
    await expect(jwt.verifyUncached(token)).resolves.toBeDefined();
    expect(attacker.requests).toHaveLength(0);
  });

  it('R22 the first fetch redirected or oversized fails closed with 503', async () => {
    const jwt = await strategy({ http: { maxResponseBytes: 4096 } });
    idp.on(PATHS.jwks, () => ({ status: 307, headers: { location: attacker.url(PATHS.jwks) } }));
    await expectUnavailable(jwt.verifyUncached(await idp.mintJwt()));
    expect(attacker.requests).toHaveLength(0);
  });

  it('drops JWKS entries that are not JWK objects and keeps the others', async () => {
    const jwt = await strategy();
    idp.on(PATHS.jwks, () => ({
      body: { keys: [null, 'x', { kid: 'no-kty' }, ...idp.jwks().keys] },
    }));
    await expect(jwt.verifyUncached(await idp.mintJwt())).resolves.toBeDefined();
  });

  it('a JWKS endpoint that never answers is abandoned at http.timeoutMs (503)', async () => {
    jest.useRealTimers();
    const jwt = await strategy({ http: { timeoutMs: 200 } });
    idp.on(PATHS.jwks, () => ({ hang: true }));
    await expectUnavailable(jwt.verifyUncached(await idp.mintJwt()));
  });

  it('discovery failing when the jwks_uri must be discovered is 503', async () => {
    // One attempt: a discovery retry would wait on the fake clock.
    const moduleRef = await Test.createTestingModule({
      imports: [
        OidcClientCredentialsModule.forRoot({ issuer: idp.issuer, retry: { maxAttempts: 1 } }),
      ],
    }).compile();
    const jwt = moduleRef.get(JwtVerificationStrategy);
    idp.on(PATHS.discovery, () => ({ status: 500 }));
    await expectUnavailable(jwt.verifyUncached(await idp.mintJwt()), 'OIDC_CC_DISCOVERY_FAILED');
    idp.reset();
    advance(5 * SECOND);
    await expect(jwt.verifyUncached(await idp.mintJwt())).resolves.toBeDefined();
  });

  describe('R31 a failure names its cause, and keeps its code and message on every request', () => {
    const DOWN: FakeResponse = { status: 503, body: { error: 'temporarily_unavailable' } };

    it.each<
      [string, () => Promise<Partial<OidcClientCredentialsModuleOptions>>, string, () => string]
    >([
      [
        'discovery-down: stays OIDC_CC_DISCOVERY_FAILED during the backoff',
        async () => {
          idp.on(PATHS.discovery, () => DOWN);
          return { endpoints: {}, retry: { maxAttempts: 1 } };
        },
        'OIDC_CC_DISCOVERY_FAILED',
        () =>
          `Discovery failed: GET ${idp.issuer}/.well-known/openid-configuration answered HTTP 503 (temporarily_unavailable; expected 200 with the ID service's metadata)`,
      ],
      [
        'jwks-404',
        async () => {
          idp.on(PATHS.jwks, () => ({ status: 404, body: { error: 'not_found' } }));
          return {};
        },
        'OIDC_CC_JWKS_UNAVAILABLE',
        () => `JWKS fetch failed: GET ${idp.url(PATHS.jwks)} answered HTTP 404 (not_found)`,
      ],
      [
        'jwks-unreachable: the errno',
        async () => ({
          endpoints: { jwks: `http://127.0.0.1:${await freePort()}/openid/jwks.json?v=1` },
        }),
        'OIDC_CC_JWKS_UNAVAILABLE',
        () => 'connection refused (ECONNREFUSED)',
      ],
      [
        'jwks-html',
        async () => {
          idp.on(PATHS.jwks, () => ({ headers: { 'content-type': 'text/html' }, body: '<p>' }));
          return {};
        },
        'OIDC_CC_JWKS_UNAVAILABLE',
        () => `JWKS fetch failed: GET ${idp.url(PATHS.jwks)} answered invalid JSON`,
      ],
    ])('%s', async (_case, arrange, code, message) => {
      const jwt = await strategy(await arrange());
      const known = await idp.mintJwt();
      await idp.rotateKey();
      const unknownKid = await idp.mintJwt();
      const failures = [
        await failure(jwt.verifyUncached(known)),
        await failure(jwt.verifyUncached(known)),
        await failure(jwt.verifyUncached(unknownKid)),
      ];
      for (const caught of failures) {
        expect(caught).toBeInstanceOf(ValidatorUnavailableError);
        expect(caught).toMatchObject({ code });
        expect(caught.message).toBe(failures[0].message);
        expect(caught.message).not.toContain('?v=1');
      }
      expect(failures[0].message).toContain(message());
    });

    it('the stale window over: the same cause, saying the known keys are too old', async () => {
      const jwt = await strategy();
      const token = await idp.mintJwt({ exp: Math.floor(Date.now() / 1000) + 86_400 });
      await jwt.verifyUncached(token);
      idp.on(PATHS.jwks, () => DOWN);
      advance((600 + 3600) * SECOND);
      const caught = await failure(jwt.verifyUncached(token));
      expect(caught).toMatchObject({
        code: 'OIDC_CC_JWKS_UNAVAILABLE',
        message: `JWKS fetch failed: GET ${idp.url(PATHS.jwks)} answered HTTP 503 (temporarily_unavailable); the last known keys are past jwksStaleWindowSeconds`,
      });
      expect(error.mock.calls.map(([line]) => line)).toEqual([
        `The JWKS endpoint is failing (JWKS fetch failed: GET ${idp.url(PATHS.jwks)} answered HTTP 503 (temporarily_unavailable)) and the last known keys are too old; refusing`,
      ]);
    });

    it('the stale-keys warning names the cause', async () => {
      const jwt = await strategy();
      const token = await idp.mintJwt({ exp: Math.floor(Date.now() / 1000) + 86_400 });
      await jwt.verifyUncached(token);
      idp.on(PATHS.jwks, () => ({ status: 502 }));
      advance(601 * SECOND);
      await expect(jwt.verifyUncached(token)).resolves.toBeDefined();
      expect(warn.mock.calls.map(([line]) => line)).toEqual([
        `The JWKS endpoint is failing (JWKS fetch failed: GET ${idp.url(PATHS.jwks)} answered HTTP 502); verifying with the last known keys for up to 3600 s`,
      ]);
    });
  });

  it('R35 a discovered jwks_uri that answers 404 has discovery fetched again after its cooldown', async () => {
    const moved = idp.url('/openid/keys/v2');
    idp.on(PATHS.discovery, () => ({
      body: { issuer: idp.issuer, jwks_uri: idp.url(PATHS.jwks) },
    }));
    const jwt = await strategy({ endpoints: {} });
    // The ID service has since moved its keys: the old path is gone.
    idp.on(PATHS.jwks, () => ({ status: 404 }));
    idp.on('/openid/keys/v2', () => ({ body: idp.jwks() }));
    const token = await idp.mintJwt();
    await expectUnavailable(jwt.verifyUncached(token));
    idp.on(PATHS.discovery, () => ({ body: { issuer: idp.issuer, jwks_uri: moved } }));

    advance(29 * SECOND);
    await expectUnavailable(jwt.verifyUncached(token));
    expect(idp.requestsTo(PATHS.discovery)).toHaveLength(1);

    // Past the discovery cooldown (30 s) and the JWKS failure backoff (5 s) since the last fetch.
    advance(6 * SECOND);
    await expect(jwt.verifyUncached(token)).resolves.toMatchObject({ clientId: 'test-client' });
    expect(idp.requestsTo(PATHS.discovery)).toHaveLength(2);
    expect(idp.requestsTo('/openid/keys/v2')).toHaveLength(1);
  });
});
