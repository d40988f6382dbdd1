import { jest } from '@jest/globals';
import {
  OidcClientCredentialsEvents,
  TokenProviderRegistry,
  type OidcClientCredentialsEventMap,
  type OidcClientCredentialsEventName,
} from 'nest-oidc-client-credentials';
import { FakeIdService, PATHS } from 'nest-oidc-client-credentials/testing';
import { fakeDateOnly } from '../utils/fake-date.js';
import { startHttpApp, type RunningApp } from '../utils/nest-http-app.js';
import { until } from '../utils/until.js';
import { observedApp } from './app.module.js';

// R30: what the module does is reported as typed events a user connects to metrics. Every payload
// is checked for tokens and secrets: none may appear, whatever happened.

const ORDERS_SECRET = 'orders-secret-0123456789';
const BILLING_SECRET = 'billing-secret-9876543210';
const EVENT_NAMES: OidcClientCredentialsEventName[] = [
  'token.fetched',
  'token.renewed',
  'token.failed',
  'token.cache.hit',
  'token.cache.miss',
  'token.circuit.opened',
  'token.circuit.closed',
  'verification.succeeded',
  'verification.failed',
  'verification.cache.hit',
  'verification.cache.miss',
  'jwks.fetched',
  'jwks.failed',
  'jwks.stale-keys-used',
];
type Recorded = {
  [K in OidcClientCredentialsEventName]: [K, OidcClientCredentialsEventMap[K]];
}[OidcClientCredentialsEventName];

describe('observability events (e2e)', () => {
  let idp: FakeIdService;
  let running: RunningApp;
  let events: OidcClientCredentialsEvents;
  let recorded: Recorded[];
  /** Every token the test saw: none may appear in a payload. */
  const tokens = new Set<string>();

  beforeAll(async () => {
    idp = await FakeIdService.start({
      clients: {
        orders: { secret: ORDERS_SECRET },
        billing: { secret: BILLING_SECRET },
        caller: { secret: 'caller-secret' },
      },
    });
  });
  afterAll(async () => {
    const text = JSON.stringify(recordedEver);
    for (const secret of [ORDERS_SECRET, BILLING_SECRET, 'caller-secret', ...tokens]) {
      expect(text).not.toContain(secret);
    }
    // Not even a token's signature or payload part on its own.
    for (const token of tokens) {
      for (const part of token.split('.')) expect(text).not.toContain(part);
    }
    expect(recordedEver.length).toBeGreaterThan(30);
    await idp.close();
  });
  const recordedEver: Recorded[] = [];

  beforeEach(async () => {
    // The clock moves only when a test says so: ages and expiry times are exact however long a
    // request takes.
    fakeDateOnly();
    running = await startHttpApp(
      'express',
      observedApp({
        issuer: idp.issuer,
        clientId: 'orders',
        clientSecret: ORDERS_SECRET,
        scope: 'orders:read',
        retry: { maxAttempts: 1 },
        circuitBreaker: { failureThreshold: 2, cooldownMs: 30_000 },
        clients: { billing: { clientId: 'billing', clientSecret: BILLING_SECRET } },
        verification: { strategy: 'jwt', jwksStaleWindowSeconds: 3600 },
      }),
    );
    events = running.app.get(OidcClientCredentialsEvents);
    recorded = [];
    for (const name of EVENT_NAMES) {
      events.on(name, (payload) => {
        recorded.push([name, payload] as Recorded);
        recordedEver.push([name, payload] as Recorded);
      });
    }
  });
  afterEach(async () => {
    await running.close();
    jest.useRealTimers();
    idp.reset();
  });

  const names = () => recorded.map(([name]) => name);
  const payloads = <K extends OidcClientCredentialsEventName>(name: K) =>
    recorded.filter((r) => r[0] === name).map((r) => r[1] as OidcClientCredentialsEventMap[K]);
  const advance = (ms: number) => jest.setSystemTime(Date.now() + ms);
  const get = (path: string, token?: string) =>
    fetch(`${running.url}${path}`, {
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    });
  async function mint(claims: Record<string, unknown> = {}) {
    const token = await idp.mintJwt({ sub: 'caller', ...claims });
    tokens.add(token);
    return token;
  }
  const remember = (token: string) => {
    tokens.add(token);
    return token;
  };

  it('token fetched, cache hits and misses, per client', async () => {
    const registry = running.app.get(TokenProviderRegistry);
    remember(await registry.get().getToken());
    remember(await registry.get().getToken());
    remember(await registry.get('billing').getToken());
    expect(names()).toEqual([
      'token.cache.miss',
      'token.fetched',
      'token.cache.hit',
      'token.cache.miss',
      'token.fetched',
    ]);
    expect(payloads('token.cache.miss')).toEqual([{ client: 'default' }, { client: 'billing' }]);
    const [root, billing] = payloads('token.fetched');
    expect(root).toEqual({
      client: 'default',
      clientId: 'orders',
      source: 'token-endpoint',
      scope: 'orders:read',
      expiresInSeconds: expect.any(Number),
      durationMs: expect.any(Number),
      credential: { source: 'secret' },
    });
    expect(root.expiresInSeconds).toBeGreaterThan(3590);
    expect(billing).toMatchObject({ client: 'billing', clientId: 'billing' });
  });

  it('token renewed in the background inside the renewal window', async () => {
    const tokens = running.app.get(TokenProviderRegistry).get();
    remember(await tokens.getToken());
    advance(2881_000);
    remember(await tokens.getToken());
    await until(() => payloads('token.renewed').length > 0, 'the token.renewed event');
    expect(payloads('token.renewed')).toEqual([
      expect.objectContaining({ client: 'default', source: 'token-endpoint' }),
    ]);
    remember(await tokens.getToken());
  });

  it('token failed by code, circuit opened and closed', async () => {
    const tokens = running.app.get(TokenProviderRegistry).get('billing');
    idp.on(PATHS.token, () => ({ status: 503, body: { error: 'temporarily_unavailable' } }));
    for (let i = 0; i < 3; i += 1) await tokens.getToken().catch(() => undefined);
    expect(payloads('token.failed')).toEqual([
      {
        client: 'billing',
        clientId: 'billing',
        code: 'OIDC_CC_TOKEN_ENDPOINT_UNAVAILABLE',
        status: 503,
        error: 'temporarily_unavailable',
        renewal: false,
        durationMs: expect.any(Number),
        credential: { source: 'secret' },
      },
      expect.objectContaining({ code: 'OIDC_CC_TOKEN_ENDPOINT_UNAVAILABLE' }),
      expect.objectContaining({ code: 'OIDC_CC_TOKEN_ENDPOINT_CIRCUIT_OPEN' }),
    ]);
    expect(payloads('token.circuit.opened')).toEqual([
      { client: 'billing', consecutiveFailures: 2, cooldownMs: 30_000 },
    ]);

    idp.on(PATHS.token, () => undefined);
    advance(30_000);
    remember(await tokens.getToken());
    expect(payloads('token.circuit.closed')).toEqual([{ client: 'billing' }]);

    idp.on(PATHS.token, () => ({ status: 401, body: { error: 'invalid_client' } }));
    await tokens.getToken({ forceRefresh: true }).catch(() => undefined);
    expect(payloads('token.failed').at(-1)).toMatchObject({
      code: 'OIDC_CC_TOKEN_REQUEST_FAILED',
      status: 401,
      error: 'invalid_client',
    });
  });

  it('verification succeeded and failed by code, with cache hits and misses and the JWKS fetch', async () => {
    const good = await mint({ scope: 'orders:read' });
    expect((await get('/orders', good)).status).toBe(200);
    expect((await get('/orders', good)).status).toBe(200);
    expect(names()).toEqual([
      'verification.cache.miss',
      'jwks.fetched',
      'verification.succeeded',
      'verification.cache.hit',
      'verification.succeeded',
    ]);
    expect(payloads('jwks.fetched')).toEqual([
      { reason: 'initial', keyCount: 1, durationMs: expect.any(Number) },
    ]);
    expect(payloads('verification.succeeded')).toEqual([
      { clientId: 'caller' },
      { clientId: 'caller' },
    ]);
    expect(payloads('verification.cache.hit')).toEqual([{ result: 'positive' }]);

    recorded.length = 0;
    const expired = await mint({ exp: Math.floor(Date.now() / 1000) - 3600 });
    expect((await get('/orders')).status).toBe(401);
    expect((await get('/orders', expired)).status).toBe(401);
    expect((await get('/orders', expired)).status).toBe(401);
    expect((await get('/orders/admin', good)).status).toBe(403);
    expect((await get('/orders', 'not-a-jwt')).status).toBe(401);
    expect(payloads('verification.failed')).toEqual([
      { code: 'OIDC_CC_TOKEN_MISSING', status: 401 },
      { code: 'OIDC_CC_TOKEN_EXPIRED', status: 401 },
      { code: 'OIDC_CC_TOKEN_EXPIRED', status: 401 },
      { code: 'OIDC_CC_INSUFFICIENT_SCOPE', status: 403 },
      { code: 'OIDC_CC_TOKEN_MALFORMED', status: 401 },
    ]);
    expect(payloads('verification.cache.hit')).toEqual([
      { result: 'negative' },
      { result: 'positive' },
    ]);
  });

  it('JWKS refetch for an unknown kid, then failures, stale keys in use, and 503 once they are too old', async () => {
    const first = await mint();
    expect((await get('/orders', first)).status).toBe(200);
    await idp.rotateKey();
    advance(30_000);
    expect((await get('/orders', await mint())).status).toBe(200);
    expect(payloads('jwks.fetched').map((e) => e.reason)).toEqual(['initial', 'unknown-kid']);

    idp.on(PATHS.jwks, () => ({ status: 500, body: 'down' }));
    advance(600_000);
    expect((await get('/orders', await mint({ jti: 'a' }))).status).toBe(200);
    expect(payloads('jwks.failed')).toEqual([
      { reason: 'expired', code: 'OIDC_CC_JWKS_UNAVAILABLE', durationMs: expect.any(Number) },
    ]);
    expect(payloads('jwks.stale-keys-used')).toEqual([
      { ageSeconds: 600, staleWindowSeconds: 3600 },
    ]);

    advance(3600_000);
    expect((await get('/orders', await mint({ jti: 'b' }))).status).toBe(503);
    expect(payloads('verification.failed').at(-1)).toEqual({
      code: 'OIDC_CC_JWKS_UNAVAILABLE',
      status: 503,
    });
  });

  it('a failing listener is contained and logged once; off() and the returned function remove listeners', async () => {
    const registry = running.app.get(TokenProviderRegistry);
    const failing = () => {
      throw new Error(`listener bug`);
    };
    events.on('token.cache.hit', failing);
    const rejecting = () => Promise.reject(new Error('async listener bug'));
    const removeRejecting = events.on('token.cache.miss', rejecting as () => void);
    remember(await registry.get().getToken());
    remember(await registry.get().getToken());
    remember(await registry.get().getToken());
    await new Promise((r) => setImmediate(r));
    const warnings = running.logger.at('warn').filter((l) => l.includes('A listener of'));
    expect(warnings).toEqual([
      'A listener of "token.cache.miss" failed (Error); further failures of its listeners are not logged OidcClientCredentialsEvents',
      'A listener of "token.cache.hit" failed (Error); further failures of its listeners are not logged OidcClientCredentialsEvents',
    ]);

    events.off('token.cache.hit', failing);
    removeRejecting();
    expect(events.listenerCount('token.cache.hit')).toBe(1);
    expect(events.listenerCount('token.cache.miss')).toBe(1);
    expect(() => events.on('token.stolen' as 'token.fetched', () => undefined)).toThrow(
      'Unknown event "token.stolen"',
    );
  });
});
