import { FakeIdService, PATHS, createTestingOptions } from 'nest-oidc-client-credentials/testing';
import { rawRequest, startHttpApp, type RunningApp } from '../utils/nest-http-app.js';
import { ApiKeyStrategy, perRouteAppModule } from './app.module.js';

const CALLED = ['discovery', 'token', 'introspection', 'userinfo', 'jwks'] as const;

/**
 * One app, one `OidcClientCredentialsModule`, routes verified by JWT, introspection, userinfo and a
 * user's strategy side by side with `@VerifyWith()`, against the fake ID service with the
 * verification caches on.
 */
describe('@VerifyWith(): a strategy per route in one app', () => {
  let idp: FakeIdService;
  let app: RunningApp;

  beforeAll(async () => {
    idp = await FakeIdService.start({
      clients: { 'orders-api': { secret: 'orders-secret' }, billing: { secret: 'b' } },
    });
    app = await startHttpApp(
      'express',
      perRouteAppModule(
        createTestingOptions(idp, {
          clientId: 'orders-api',
          verification: { strategy: 'jwt', cacheTtlSeconds: 60, negativeCacheTtlSeconds: 60 },
        }),
      ),
    );
  });

  afterAll(async () => {
    await app?.close();
    await idp?.close();
  });

  beforeEach(() => idp.reset());

  const get = (path: string, token: string) =>
    rawRequest(app.url, { path, headers: [['Authorization', `Bearer ${token}`]] });

  /** ID-service calls by endpoint since the last reset. */
  const calls = () =>
    Object.fromEntries(CALLED.map((name) => [name, idp.requestCount(PATHS[name])]));

  it('verifies each route with its strategy, each keeping its own cache entries', async () => {
    const token = await idp.mintJwt({ sub: 'billing' });
    for (let i = 0; i < 2; i += 1) {
      const response = await get('/introspection', token);
      expect(response.status).toBe(200);
      expect(JSON.parse(response.body)).toMatchObject({ clientId: 'billing' });
    }
    expect(calls()).toMatchObject({ introspection: 1, userinfo: 0 });

    // The controller's choice; the introspection result is not reused for it.
    for (let i = 0; i < 2; i += 1) expect((await get('/userinfo', token)).status).toBe(200);
    expect(calls()).toMatchObject({ introspection: 1, userinfo: 1 });

    // The handler's choice wins over the controller's: checked locally against the JWKS.
    for (let i = 0; i < 2; i += 1) expect((await get('/jwt', token)).status).toBe(200);
    // A route without a choice uses the module's strategy (jwt here): no call more.
    expect((await get('/default', token)).status).toBe(200);
    expect(calls()).toMatchObject({ token: 0, introspection: 1, userinfo: 1, jwks: 1 });
    // Discovery at most once (the first test to need it), shared by every strategy.
    expect(idp.requestCount(PATHS.discovery)).toBeLessThanOrEqual(1);
  });

  it('a revoked token still passes where it is checked locally, not where the ID service is asked', async () => {
    const token = await idp.mintJwt({ sub: 'billing', jti: 'revoked' });
    idp.revoke(token);
    expect((await get('/jwt', token)).status).toBe(200);
    expect((await get('/introspection', token)).status).toBe(401);
    expect((await get('/userinfo', token)).status).toBe(401);
    expect(calls()).toMatchObject({ introspection: 1, userinfo: 1 });
  });

  it("a user's strategy class provided in the app, without the ID service", async () => {
    const strategy = app.app.get(ApiKeyStrategy);
    const before = strategy.calls;
    const response = await get('/api-key', 'key-billing');
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ clientId: 'billing' });
    expect(strategy.calls).toBe(before + 1);
    // The same value is no JWT: the module's strategy refuses it elsewhere.
    expect((await get('/default', 'key-billing')).status).toBe(401);
    expect(calls()).toEqual({ discovery: 0, token: 0, introspection: 0, userinfo: 0, jwks: 0 });
  });

  it('a strategy class no module provides: 503 and one error naming it, no call', async () => {
    for (let i = 0; i < 2; i += 1) {
      expect((await get('/unprovided', 'key-billing')).status).toBe(503);
    }
    const named = app.logger
      .at('error')
      .filter((line) => line.includes('Invalid option "@VerifyWith()"'));
    expect(named).toHaveLength(1);
    expect(named[0]).toContain('UnprovidedStrategy must be provided in a module of the app');
    expect(idp.requestCount()).toBe(0);
  });
});

describe('@VerifyWith("introspection") without this service\'s credentials', () => {
  let idp: FakeIdService;
  let app: RunningApp;

  beforeAll(async () => {
    idp = await FakeIdService.start();
    app = await startHttpApp(
      'express',
      perRouteAppModule({ issuer: idp.issuer, verification: { strategy: 'jwt' } }),
    );
  });

  afterAll(async () => {
    await app?.close();
    await idp?.close();
  });

  it('answers 503 on that route and names the missing option; the other routes work', async () => {
    const token = await idp.mintJwt();
    const headers: [string, string][] = [['Authorization', `Bearer ${token}`]];
    expect((await rawRequest(app.url, { path: '/introspection', headers })).status).toBe(503);
    expect(app.logger.at('error').join('\n')).toContain('Invalid option "clientId"');
    expect(idp.requestCount(PATHS.introspection)).toBe(0);
    expect((await rawRequest(app.url, { path: '/jwt', headers })).status).toBe(200);
  });
});
