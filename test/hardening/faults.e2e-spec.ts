import { request as httpRequest, type ClientRequest } from 'node:http';
import { jest } from '@jest/globals';
import { Test } from '@nestjs/testing';
import {
  OidcClientCredentialsModule,
  TokenProvider,
  TokenRequestError,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { FakeIdService, PATHS } from 'nest-oidc-client-credentials/testing';
import { fakeAbortTimeouts, fakeClock } from '../utils/fake-date.js';
import { rawRequest, startHttpApp, type RunningApp } from '../utils/nest-http-app.js';
import { freePort } from '../utils/ports.js';
import { until, watch } from '../utils/until.js';
import { API_CLIENT, AUDIENCE, hardeningAppModule } from './app.module.js';

// The ID service's bad days (docs/security-cases.md §5) that the unit specs leave out: each fault
// once, on the endpoint where it was missing, seen from the caller (TokenProvider, or the guard's
// HTTP answer), with the requests the fake ID service received.

const SECRET = 'faults-s3cret';
const now = () => Math.floor(Date.now() / 1000);
const bearer = (token: string): [string, string][] => [['Authorization', `Bearer ${token}`]];

/** A held ID-service answer: requests wait until `release()`, then get the default answer. */
function gate(idp: FakeIdService, path: string): { release: () => void } {
  let release!: () => void;
  const opened = new Promise<void>((resolve) => (release = resolve));
  idp.on(path, async () => {
    await opened;
    return undefined;
  });
  return { release };
}

/** A GET whose client can hang up before the answer. */
function abandonableGet(url: string, path: string, token: string) {
  let req!: ClientRequest;
  const done = new Promise<number | 'gave up'>((resolve) => {
    req = httpRequest(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve('gave up'));
    req.end();
  });
  return { done, giveUp: () => req.destroy() };
}

let idp: FakeIdService;

beforeAll(async () => {
  idp = await FakeIdService.start({
    clients: {
      'test-client': { secret: SECRET, audience: AUDIENCE },
      [API_CLIENT.id]: { secret: API_CLIENT.secret },
    },
  });
});
afterAll(async () => {
  await idp?.close();
});
afterEach(() => {
  jest.useRealTimers();
  jest.restoreAllMocks();
  idp.reset();
});

describe('token endpoint faults (TokenProvider)', () => {
  async function tokenProvider(options: Partial<OidcClientCredentialsModuleOptions> = {}) {
    const moduleRef = await Test.createTestingModule({
      imports: [
        OidcClientCredentialsModule.forRoot({
          issuer: idp.issuer,
          endpoints: { token: idp.url(PATHS.token) },
          clientId: 'test-client',
          clientSecret: SECRET,
          retry: { maxAttempts: 3, initialDelayMs: 1, maxDelayMs: 5 },
          ...options,
        }),
      ],
    })
      .setLogger({ log: () => 0, warn: () => 0, error: () => 0 })
      .compile();
    return moduleRef.get(TokenProvider);
  }

  it('R06 ID service down (nothing listens): three attempts, then a typed error without the secret', async () => {
    const port = await freePort();
    const tokens = await tokenProvider({
      endpoints: { token: `http://127.0.0.1:${port}/openid/token` },
    });
    const error = await tokens.getToken().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokenRequestError);
    expect(error).toMatchObject({
      code: 'OIDC_CC_TOKEN_ENDPOINT_UNAVAILABLE',
      message: `Token endpoint unreachable (ECONNREFUSED) [POST http://127.0.0.1:${port}/openid/token]`,
    });
    expect(JSON.stringify({ ...(error as object), m: (error as Error).message })).not.toContain(
      SECRET,
    );
  });

  it.each([
    ['invalid JSON', 'application/json', '{"access_token":"tok'],
    ['an HTML page', 'text/html', '<html><body>Maintenance</body></html>'],
  ])(
    'R06 200 with %s: OIDC_CC_TOKEN_RESPONSE_INVALID, not retried, nothing cached',
    async (_name, contentType, body) => {
      idp.on(PATHS.token, () => ({ headers: { 'content-type': contentType }, body }));
      const tokens = await tokenProvider();
      await expect(tokens.getToken()).rejects.toMatchObject({
        code: 'OIDC_CC_TOKEN_RESPONSE_INVALID',
        status: 200,
      });
      expect(idp.requestsTo(PATHS.token)).toHaveLength(1);
      await expect(tokens.getTokenResponse()).rejects.toBeInstanceOf(TokenRequestError);
    },
  );

  it("R27 renewal follows the local clock and expires_in, not the ID service's clock", async () => {
    jest.useFakeTimers({
      doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'performance', 'hrtime'],
      now: new Date('2026-03-01T12:00:00Z'),
    });
    // The ID service's clock is two hours behind: its JWT says it expired an hour ago.
    idp.on(PATHS.token, async () => ({
      body: {
        access_token: await idp.mintJwt({ iat: now() - 7200, exp: now() - 3600 }),
        token_type: 'Bearer',
        expires_in: 3600,
      },
    }));
    const tokens = await tokenProvider();
    const first = await tokens.getToken();
    expect((await tokens.getTokenResponse()).expiresAt).toBe(Date.now() + 3600_000);

    jest.setSystemTime(Date.now() + 2879_000);
    await expect(tokens.getToken()).resolves.toBe(first);
    expect(idp.requestsTo(PATHS.token)).toHaveLength(1);

    jest.setSystemTime(Date.now() + 2_000);
    await expect(tokens.getToken()).resolves.toBe(first);
    await until(() => idp.requestsTo(PATHS.token).length === 2, 'the background renewal');
  });
});

describe('introspection and JWKS faults (guarded app)', () => {
  let app: RunningApp | undefined;

  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  /** The guarded app; the ID service's answers are not cut short unless a test says so. */
  async function start(options: Partial<OidcClientCredentialsModuleOptions> = {}) {
    app = await startHttpApp(
      'express',
      hardeningAppModule(idp.issuer, {}, { http: { timeoutMs: 5000 }, ...options }),
    );
    return app;
  }

  /** How many requests the app's HTTP server has received so far. */
  function countRequests(): () => number {
    let received = 0;
    app!.app.getHttpServer().on('request', () => (received += 1));
    return () => received;
  }

  async function get(path: string, token: string) {
    const response = await rawRequest(app!.url, { path, headers: bearer(token) });
    expect(response.body).not.toContain(token);
    expect(app!.logger.text()).not.toContain(token);
    return response;
  }

  const expectUnavailable = (response: { status: number; headers: Record<string, unknown> }) => {
    expect(response.status).toBe(503);
    expect(response.headers['retry-after']).toBe('5');
    expect(response.headers['www-authenticate']).toBeUndefined();
  };

  it('R23 a slow introspection endpoint is abandoned at http.timeoutMs: 503, asked again next time', async () => {
    // http.timeoutMs runs on the test's clock: the abandoned call ends when the clock reaches it,
    // and the next one cannot time out however slow the machine.
    fakeClock();
    fakeAbortTimeouts();
    await start({ http: { timeoutMs: 150 } });
    idp.on(PATHS.introspection, () => ({ hang: true }));
    const token = idp.mintOpaque();
    const slow = watch(get('/introspection/whoami', token));
    await until(() => idp.requestsTo(PATHS.introspection).length === 1, 'the introspection call');
    await jest.advanceTimersByTimeAsync(149);
    expect(slow.settled()).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    expectUnavailable(await slow.promise);
    idp.on(PATHS.introspection, () => undefined);
    expect((await get('/introspection/whoami', token)).status).toBe(200);
    expect(idp.requestsTo(PATHS.introspection)).toHaveLength(2);
  });

  it('R23 introspection answering 429 with Retry-After: 503 with our Retry-After, not cached', async () => {
    await start();
    idp.on(PATHS.introspection, () => ({
      status: 429,
      headers: { 'retry-after': '120' },
      body: { error: 'slow_down' },
    }));
    const token = idp.mintOpaque();
    expectUnavailable(await get('/introspection/whoami', token));
    expectUnavailable(await get('/introspection/whoami', token));
    expect(idp.requestsTo(PATHS.introspection)).toHaveLength(2);
  });

  it('R22 JWKS answering 429 with Retry-After before any key is known: 503', async () => {
    await start();
    idp.on(PATHS.jwks, () => ({ status: 429, headers: { 'retry-after': '60' } }));
    expectUnavailable(await get('/jwt/whoami', await idp.mintJwt({ aud: AUDIENCE })));
    expect(idp.requestsTo(PATHS.jwks)).toHaveLength(1);
  });

  it('R17 JWKS endpoint down (nothing listens): 503, the service keeps running', async () => {
    const port = await freePort();
    await start({ endpoints: { jwks: `http://127.0.0.1:${port}/openid/jwks.json` } });
    const token = await idp.mintJwt({ aud: AUDIENCE });
    expectUnavailable(await get('/jwt/whoami', token));
    expect(app!.logger.at('warn').join('\n')).toContain('OIDC_CC_JWKS_UNAVAILABLE');
    expect((await get('/introspection/whoami', idp.mintOpaque())).status).toBe(200);
  });

  it.each<[string, (t: number) => Record<string, number>, number]>([
    [
      'ahead by 20 s: iat and nbf 20 s ahead (leeway 30 s)',
      (t) => ({ iat: t + 20, nbf: t + 20, exp: t + 620 }),
      200,
    ],
    [
      'ahead by 120 s: iat and nbf 120 s ahead',
      (t) => ({ iat: t + 120, nbf: t + 120, exp: t + 720 }),
      401,
    ],
    ['behind: exp passed 20 s ago (leeway 30 s)', (t) => ({ iat: t - 620, exp: t - 20 }), 200],
    ['behind: exp passed 60 s ago', (t) => ({ iat: t - 660, exp: t - 60 }), 401],
  ])('R27 JWT from an ID service whose clock is %s', async (_name, times, status) => {
    await start();
    const response = await get(
      '/jwt/whoami',
      await idp.mintJwt({ aud: AUDIENCE, ...times(now()) }),
    );
    expect(response.status).toBe(status);
  });

  it.each([
    ['20 s ago (within the leeway)', -20, 200],
    ['60 s ago', -60, 401],
  ])('R27 introspection answer whose exp passed %s', async (_name, offset, status) => {
    await start();
    idp.on(PATHS.introspection, () => ({
      body: {
        active: true,
        sub: 'test-client',
        client_id: 'test-client',
        aud: AUDIENCE,
        exp: now() + offset,
      },
    }));
    expect((await get('/introspection/whoami', idp.mintOpaque())).status).toBe(status);
  });

  it('R12 a client that hangs up while others wait on the same introspection call', async () => {
    await start();
    const { release } = gate(idp, PATHS.introspection);
    const token = idp.mintOpaque();
    // The quitter's request starts the call; the others join it; then the quitter hangs up.
    const received = countRequests();
    const quitter = abandonableGet(app!.url, '/introspection/whoami', token);
    await until(() => idp.requestsTo(PATHS.introspection).length === 1, 'the introspection call');
    const others = Array.from({ length: 4 }, () =>
      rawRequest(app!.url, { path: '/introspection/whoami', headers: bearer(token) }),
    );
    await until(() => received() === 5, 'the other requests at the app');
    quitter.giveUp();
    await expect(quitter.done).resolves.toBe('gave up');
    release();
    const statuses = (await Promise.all(others)).map((r) => r.status);
    expect(statuses).toEqual([200, 200, 200, 200]);
    expect((await get('/introspection/whoami', token)).status).toBe(200);
    expect(idp.requestsTo(PATHS.introspection)).toHaveLength(1);
    expect(app!.logger.at('error')).toEqual([]);
  });

  it('R12 a client that hangs up while others wait on the same JWKS fetch', async () => {
    await start();
    const { release } = gate(idp, PATHS.jwks);
    const tokens = await Promise.all(
      Array.from({ length: 5 }, (_, i) => idp.mintJwt({ aud: AUDIENCE, jti: `t${i}` })),
    );
    const received = countRequests();
    const quitter = abandonableGet(app!.url, '/jwt/whoami', tokens[0]);
    await until(() => idp.requestsTo(PATHS.jwks).length === 1, 'the JWKS fetch');
    const others = tokens
      .slice(1)
      .map((token) => rawRequest(app!.url, { path: '/jwt/whoami', headers: bearer(token) }));
    await until(() => received() === 5, 'the other requests at the app');
    quitter.giveUp();
    await expect(quitter.done).resolves.toBe('gave up');
    release();
    expect((await Promise.all(others)).map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect((await get('/jwt/whoami', tokens[0])).status).toBe(200);
    expect(idp.requestsTo(PATHS.jwks)).toHaveLength(1);
    expect(app!.logger.at('error')).toEqual([]);
  });
});
