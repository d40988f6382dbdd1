import { jest } from '@jest/globals';
import {
  OidcClientCredentialsHealthIndicator,
  TokenProviderRegistry,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { FakeIdService, PATHS, type FakeResponse } from 'nest-oidc-client-credentials/testing';
import { fakeDateOnly } from '../utils/fake-date.js';
import { startHttpApp, type RunningApp } from '../utils/nest-http-app.js';
import { until } from '../utils/until.js';
import { healthApp } from './app.module.js';

// R30: readiness reports discovery, the JWKS and each client's token endpoint health, and the
// seconds until its cached token expires — without calling the ID service on every check.

const SECRET = 'orders-secret-0123456789';
const RESET: FakeResponse = { reset: true };

/** Health names the credential source of the clients, a secret string here; never its value. */
const SECRET_SOURCE = { source: 'secret' };

describe('OidcClientCredentialsHealthIndicator with @nestjs/terminus (e2e)', () => {
  let idp: FakeIdService;
  let running: RunningApp | undefined;

  beforeAll(async () => {
    idp = await FakeIdService.start({
      clients: { orders: { secret: SECRET }, billing: { secret: 'billing-secret' } },
    });
  });
  afterAll(async () => {
    await idp.close();
  });
  // The clock moves only when a test says so: ages and expiry times are exact however long a
  // request takes.
  beforeEach(() => fakeDateOnly());
  afterEach(async () => {
    await running?.close();
    running = undefined;
    jest.useRealTimers();
    jest.restoreAllMocks();
    idp.reset();
  });

  async function start(options: Partial<OidcClientCredentialsModuleOptions> = {}) {
    running = await startHttpApp(
      'express',
      healthApp({
        issuer: idp.issuer,
        clientId: 'orders',
        clientSecret: SECRET,
        retry: { maxAttempts: 1 },
        clients: { billing: { clientId: 'billing', clientSecret: 'billing-secret' } },
        ...options,
      }),
    );
    return running;
  }
  async function health() {
    const response = await fetch(`${running!.url}/health`);
    const text = await response.text();
    // Whatever the outcome: no secret, no token, no URL of the ID service.
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain('billing-secret');
    expect(text).not.toContain('127.0.0.1');
    expect(text).not.toMatch(/eyJ/);
    return { status: response.status, body: JSON.parse(text) as Record<string, unknown> };
  }
  const idServiceDown = () => {
    for (const path of Object.values(PATHS)) idp.on(path, () => RESET);
  };
  const advance = (ms: number) => jest.setSystemTime(Date.now() + ms);
  const count = (path: string) => idp.requestsTo(path).length;

  it('healthy: discovery, JWKS and both clients up, with the seconds until each token expires', async () => {
    await start();
    const { status, body } = await health();
    expect(status).toBe(200);
    expect(body).toEqual({
      status: 'ok',
      info: {
        oidc: {
          status: 'up',
          discovery: { status: 'up' },
          jwks: { status: 'up', keys: 1, ageSeconds: 0 },
          clients: {
            default: {
              status: 'up',
              circuit: 'closed',
              expiresInSeconds: expect.any(Number),
              credential: SECRET_SOURCE,
            },
            billing: {
              status: 'up',
              circuit: 'closed',
              expiresInSeconds: expect.any(Number),
              credential: SECRET_SOURCE,
            },
          },
        },
      },
      error: {},
      details: expect.any(Object),
    });
    const clients = (
      body.info as { oidc: { clients: Record<string, { expiresInSeconds: number }> } }
    ).oidc.clients;
    expect(clients.default.expiresInSeconds).toBeGreaterThan(3590);

    // Later checks answer from memory: no token, discovery or JWKS request.
    const before = idp.requests.length;
    advance(300_000);
    const again = await health();
    expect(again.status).toBe(200);
    expect(idp.requests.length).toBe(before);
    const later = (
      again.body.info as { oidc: { clients: Record<string, { expiresInSeconds: number }> } }
    ).oidc.clients.default.expiresInSeconds;
    expect(clients.default.expiresInSeconds - later).toBeGreaterThanOrEqual(300);
    expect(clients.default.expiresInSeconds - later).toBeLessThanOrEqual(301);
    expect(count(PATHS.token)).toBe(2);
    expect(count(PATHS.discovery)).toBe(1);
    expect(count(PATHS.jwks)).toBe(1);
  });

  it('unhealthy: the ID service is down — 503 with each part down and its error code', async () => {
    idServiceDown();
    await start();
    const { status, body } = await health();
    expect(status).toBe(503);
    expect(body).toMatchObject({
      status: 'error',
      error: {
        oidc: {
          status: 'down',
          discovery: { status: 'down', error: 'OIDC_CC_DISCOVERY_FAILED' },
          jwks: { status: 'down', error: 'OIDC_CC_DISCOVERY_FAILED' },
          clients: {
            default: { status: 'down', circuit: 'closed', error: 'OIDC_CC_DISCOVERY_FAILED' },
            billing: { status: 'down', circuit: 'closed', error: 'OIDC_CC_DISCOVERY_FAILED' },
          },
        },
      },
    });
  });

  it('a client without a token is tried once per check through the single flight, and recovers', async () => {
    await start({
      endpoints: { token: idp.url(PATHS.token), jwks: idp.url(PATHS.jwks) },
      verification: { strategy: 'jwt' },
    });
    // The token endpoint answers once every check has asked each client for its token.
    const registry = running!.app.get(TokenProviderRegistry);
    const asked = [registry.get(), registry.get('billing')].map((client) =>
      jest.spyOn(client, 'getTokenResponse'),
    );
    let answer!: () => void;
    const allAsked = new Promise<void>((resolve) => (answer = resolve));
    idp.on(PATHS.token, async () => {
      await allAsked;
      return { status: 503, body: { error: 'temporarily_unavailable' } };
    });
    const pending = Promise.all(Array.from({ length: 5 }, () => health()));
    await until(
      () => asked.every((spy) => spy.mock.calls.length === 5),
      'five checks asking both clients',
    );
    answer();
    const checks = await pending;
    expect(checks.map((c) => c.status)).toEqual([503, 503, 503, 503, 503]);
    // One acquisition per client for five concurrent checks; discovery is not needed at all.
    expect(count(PATHS.token)).toBe(2);
    expect(count(PATHS.discovery)).toBe(0);
    expect(checks[0].body.error).toEqual({
      oidc: {
        status: 'down',
        jwks: expect.objectContaining({ status: 'up' }),
        clients: {
          default: {
            status: 'down',
            circuit: 'closed',
            credential: SECRET_SOURCE,
            error: 'OIDC_CC_TOKEN_ENDPOINT_UNAVAILABLE',
          },
          billing: {
            status: 'down',
            circuit: 'closed',
            credential: SECRET_SOURCE,
            error: 'OIDC_CC_TOKEN_ENDPOINT_UNAVAILABLE',
          },
        },
      },
    });

    idp.on(PATHS.token, () => undefined);
    const recovered = await health();
    expect(recovered.status).toBe(200);
    expect(count(PATHS.token)).toBe(4);
  });

  it('R29 checks while the token endpoint fails stop reaching it once the circuit opens', async () => {
    await start({
      endpoints: { token: idp.url(PATHS.token), jwks: idp.url(PATHS.jwks) },
      circuitBreaker: { failureThreshold: 3, cooldownMs: 30_000 },
    });
    idp.on(PATHS.token, () => ({ status: 503, body: { error: 'temporarily_unavailable' } }));
    for (let i = 0; i < 10; i += 1) expect((await health()).status).toBe(503);
    // Three failed acquisitions per client open its circuit; later checks send nothing.
    expect(count(PATHS.token)).toBe(6);
    const { body } = await health();
    expect(body.error).toMatchObject({
      oidc: {
        clients: {
          default: {
            status: 'down',
            circuit: 'open',
            error: 'OIDC_CC_TOKEN_ENDPOINT_CIRCUIT_OPEN',
          },
        },
      },
    });
  });

  it('degraded: a failed renewal or stale JWKS keys keep the check passing, flagged', async () => {
    await start();
    expect((await health()).status).toBe(200);
    const registry = running!.app.get(TokenProviderRegistry);

    // Inside the renewal window the token endpoint fails: the token is still valid.
    idp.on(PATHS.token, () => ({ status: 503, body: { error: 'temporarily_unavailable' } }));
    idp.on(PATHS.jwks, () => RESET);
    advance(2881_000);
    await registry.get().getToken();
    await until(
      () => registry.get().status().lastAcquisition?.ok === false,
      'the failed background renewal',
    );
    const { status, body } = await health();
    expect(status).toBe(200);
    expect(body).toMatchObject({
      status: 'degraded',
      info: {
        oidc: {
          status: 'degraded',
          jwks: {
            status: 'degraded',
            keys: 1,
            ageSeconds: 2881,
            error: 'OIDC_CC_JWKS_UNAVAILABLE',
          },
          clients: {
            default: {
              status: 'degraded',
              circuit: 'closed',
              expiresInSeconds: expect.any(Number),
              error: 'OIDC_CC_TOKEN_ENDPOINT_UNAVAILABLE',
            },
            billing: { status: 'up' },
          },
        },
      },
    });
    const { clients } = (
      body.info as { oidc: { clients: Record<string, { expiresInSeconds: number }> } }
    ).oidc;
    expect(clients.default.expiresInSeconds).toBeGreaterThanOrEqual(717);
    expect(clients.default.expiresInSeconds).toBeLessThanOrEqual(719);
  });

  it('chosen parts only; an unknown client name is a configuration error', async () => {
    await start();
    const indicator = running!.app.get(OidcClientCredentialsHealthIndicator);
    await expect(
      indicator.isHealthy('tokens', { clients: ['billing'], jwks: false, discovery: false }),
    ).resolves.toEqual({
      tokens: {
        status: 'up',
        clients: {
          billing: {
            status: 'up',
            circuit: 'closed',
            expiresInSeconds: expect.any(Number),
            credential: SECRET_SOURCE,
          },
        },
      },
    });
    expect(count(PATHS.jwks)).toBe(0);
    await expect(indicator.isHealthy('tokens', { clients: ['payroll'] })).rejects.toMatchObject({
      code: 'OIDC_CC_CONFIGURATION_INVALID',
      option: 'clients.payroll',
    });
  });

  it('an inbound-only service reports discovery and JWKS, and no client', async () => {
    await start({ clientId: undefined, clientSecret: undefined, clients: undefined });
    const { status, body } = await health();
    expect(status).toBe(200);
    expect(body.info).toEqual({
      oidc: {
        status: 'up',
        discovery: { status: 'up' },
        jwks: { status: 'up', keys: 1, ageSeconds: 0 },
      },
    });
    expect(count(PATHS.token)).toBe(0);
  });
});
