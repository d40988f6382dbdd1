import { jest } from '@jest/globals';
import type { LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  ConfigurationError,
  OidcClientCredentialsModule,
  TokenProvider,
  TokenRequestError,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { FakeIdService, PATHS, type FakeResponse } from 'nest-oidc-client-credentials/testing';
import { fakeDateOnly } from '../../../../test/utils/fake-date.js';
import { until } from '../../../../test/utils/until.js';

// R29: after N consecutive failed acquisitions the token endpoint's circuit opens; callers fail
// fast with OIDC_CC_TOKEN_ENDPOINT_CIRCUIT_OPEN and nothing reaches the endpoint; after the
// cooldown one probe goes through. Date is faked and moves only when a test advances it (the
// retry sleeps, 1-2 ms, stay on real timers); requests are counted at the fake ID service.

const DOWN: FakeResponse = { status: 503, body: { error: 'temporarily_unavailable' } };
const COOLDOWN_MS = 30_000;

describe('TokenProvider circuit breaker (R29)', () => {
  let idp: FakeIdService;
  let lines: string[];

  beforeAll(async () => {
    idp = await FakeIdService.start({
      clients: { 'test-client': { secret: 'test-secret' } },
      tokenFormat: 'opaque',
    });
  });
  afterAll(async () => {
    await idp.close();
  });
  beforeEach(() => {
    lines = [];
    fakeDateOnly(new Date('2026-01-01T00:00:00Z'));
  });
  afterEach(() => {
    jest.useRealTimers();
    idp.reset();
  });

  async function provider(
    options: Partial<OidcClientCredentialsModuleOptions> = {},
  ): Promise<TokenProvider> {
    const record = (message: unknown) => void lines.push(String(message));
    const logger: LoggerService = { log: record, warn: record, error: record, debug: record };
    const moduleRef = await Test.createTestingModule({
      imports: [
        OidcClientCredentialsModule.forRoot({
          issuer: idp.issuer,
          endpoints: { token: idp.url(PATHS.token) },
          clientId: 'test-client',
          clientSecret: 'test-secret',
          retry: { maxAttempts: 2, initialDelayMs: 1, maxDelayMs: 2 },
          circuitBreaker: { failureThreshold: 3, cooldownMs: COOLDOWN_MS },
          ...options,
        }),
      ],
    })
      .setLogger(logger)
      .compile();
    moduleRef.useLogger(logger);
    return moduleRef.get(TokenProvider);
  }

  const tokenRequests = () => idp.requestsTo(PATHS.token).length;
  const down = () => idp.on(PATHS.token, () => DOWN);
  const up = () => idp.on(PATHS.token, () => undefined);
  const advance = (ms: number) => jest.setSystemTime(Date.now() + ms);
  const failure = (promise: Promise<unknown>) =>
    promise.then(
      () => {
        throw new Error('expected a failure');
      },
      (error: unknown) => error as TokenRequestError,
    );
  async function openCircuit(tokens: TokenProvider, options = { forceRefresh: true }) {
    down();
    for (let i = 0; i < 3; i += 1) {
      await expect(tokens.getToken(options)).rejects.toMatchObject({
        code: 'OIDC_CC_TOKEN_ENDPOINT_UNAVAILABLE',
      });
    }
  }

  it('opens after 3 failed acquisitions (each after its retries); then fails fast with no request', async () => {
    const tokens = await provider();
    await openCircuit(tokens, { forceRefresh: false });
    expect(tokenRequests()).toBe(6);

    const errors = await Promise.all(Array.from({ length: 100 }, () => failure(tokens.getToken())));
    expect(tokenRequests()).toBe(6);
    for (const error of errors) {
      expect(error).toBeInstanceOf(TokenRequestError);
      expect(error.code).toBe('OIDC_CC_TOKEN_ENDPOINT_CIRCUIT_OPEN');
      expect(error.details.retryAfterSeconds).toBe(30);
      expect(error.cause).toBeUndefined();
    }
    expect(lines.join('\n')).toMatch(/circuit opened after 3 consecutive failures/i);

    advance(COOLDOWN_MS - 1000);
    await expect(tokens.getToken()).rejects.toMatchObject({
      code: 'OIDC_CC_TOKEN_ENDPOINT_CIRCUIT_OPEN',
      details: { retryAfterSeconds: 1 },
    });
    expect(tokenRequests()).toBe(6);
  });

  it('after the cooldown one probe (a single attempt) goes through; its success closes the circuit', async () => {
    const tokens = await provider();
    await openCircuit(tokens);
    advance(COOLDOWN_MS);
    up();
    const before = tokenRequests();
    const results = await Promise.all(Array.from({ length: 50 }, () => tokens.getToken()));
    expect(tokenRequests() - before).toBe(1);
    expect(new Set(results).size).toBe(1);

    // Closed again: the count starts from zero.
    down();
    for (let i = 0; i < 2; i += 1) {
      await expect(tokens.getToken({ forceRefresh: true })).rejects.toMatchObject({
        code: 'OIDC_CC_TOKEN_ENDPOINT_UNAVAILABLE',
      });
    }
    expect(tokenRequests() - before).toBe(5);
  });

  it('a failed probe opens the circuit for another full cooldown', async () => {
    const tokens = await provider();
    await openCircuit(tokens);
    advance(COOLDOWN_MS);
    const before = tokenRequests();
    const probe = await Promise.all(Array.from({ length: 20 }, () => failure(tokens.getToken())));
    expect(tokenRequests() - before).toBe(1);
    expect(new Set(probe.map((e) => e.code))).toEqual(
      new Set(['OIDC_CC_TOKEN_ENDPOINT_UNAVAILABLE']),
    );
    await expect(tokens.getToken()).rejects.toMatchObject({
      code: 'OIDC_CC_TOKEN_ENDPOINT_CIRCUIT_OPEN',
      details: { retryAfterSeconds: 30 },
    });
    advance(COOLDOWN_MS - 1);
    await expect(tokens.getToken()).rejects.toMatchObject({
      code: 'OIDC_CC_TOKEN_ENDPOINT_CIRCUIT_OPEN',
    });
    expect(tokenRequests() - before).toBe(1);
    advance(1);
    up();
    await expect(tokens.getToken()).resolves.toEqual(expect.any(String));
    expect(tokenRequests() - before).toBe(2);
  });

  it('a still-valid cached token keeps being served while the circuit is open, renewal window included', async () => {
    const tokens = await provider({ retry: { maxAttempts: 1 } });
    const cached = await tokens.getToken();
    // Ten seconds before the renewal point (80 % of 3600 s), forced renewals fail and open it.
    advance(2870_000);
    await openCircuit(tokens);
    const before = tokenRequests();
    await expect(tokens.getToken()).resolves.toBe(cached);

    // Into the renewal window, the cooldown still running: served, and no renewal is attempted.
    advance(11_000);
    const served = await Promise.all(Array.from({ length: 50 }, () => tokens.getToken()));
    expect(served.every((token) => token === cached)).toBe(true);
    await flush();
    expect(tokenRequests()).toBe(before);
    expect(lines.join('\n')).not.toMatch(/renewal failed/i);

    // Once the cooldown has passed, the renewal itself is the probe and closes the circuit.
    advance(COOLDOWN_MS);
    up();
    await expect(tokens.getToken()).resolves.toBe(cached);
    await until(() => tokenRequests() === before + 1, 'the renewal as the probe');
    await until(async () => (await tokens.getToken()) !== cached, 'the renewed token');
    expect(tokenRequests()).toBe(before + 1);
  });

  it('refusals (400 invalid_client) are answers from a healthy service and never open it', async () => {
    idp.on(PATHS.token, () => ({ status: 400, body: { error: 'invalid_client' } }));
    const tokens = await provider();
    for (let i = 0; i < 6; i += 1) {
      await expect(tokens.getToken()).rejects.toMatchObject({
        code: 'OIDC_CC_TOKEN_REQUEST_FAILED',
      });
      advance(5_000);
    }
    expect(tokenRequests()).toBe(6);
  });

  it('a refusal between failures resets the count', async () => {
    const tokens = await provider({ retry: { maxAttempts: 1 } });
    down();
    for (let i = 0; i < 2; i += 1) await failure(tokens.getToken());
    idp.on(PATHS.token, () => ({ status: 400, body: { error: 'invalid_scope' } }));
    await failure(tokens.getToken());
    advance(5_000);
    down();
    for (let i = 0; i < 2; i += 1) {
      await expect(tokens.getToken()).rejects.toMatchObject({
        code: 'OIDC_CC_TOKEN_ENDPOINT_UNAVAILABLE',
      });
    }
    expect(tokenRequests()).toBe(5);
  });

  it('uses failureThreshold 5 and a 30 s cooldown by default', async () => {
    const tokens = await provider({ retry: { maxAttempts: 1 }, circuitBreaker: undefined });
    down();
    for (let i = 0; i < 5; i += 1) {
      await expect(tokens.getToken()).rejects.toMatchObject({
        code: 'OIDC_CC_TOKEN_ENDPOINT_UNAVAILABLE',
      });
    }
    await expect(tokens.getToken()).rejects.toMatchObject({
      code: 'OIDC_CC_TOKEN_ENDPOINT_CIRCUIT_OPEN',
      details: { retryAfterSeconds: 30 },
    });
    expect(tokenRequests()).toBe(5);
  });

  it.each([
    ['failureThreshold 0', { failureThreshold: 0 }, 'circuitBreaker.failureThreshold'],
    ['failureThreshold 2.5', { failureThreshold: 2.5 }, 'circuitBreaker.failureThreshold'],
    ['cooldownMs -1', { cooldownMs: -1 }, 'circuitBreaker.cooldownMs'],
  ])('refuses %s at startup', async (_name, circuitBreaker, option) => {
    await expect(provider({ circuitBreaker })).rejects.toThrow(ConfigurationError);
    await expect(provider({ circuitBreaker })).rejects.toThrow(option);
  });
});

/** Lets pending loopback I/O run for a few real milliseconds. */
async function flush(): Promise<void> {
  const start = performance.now();
  while (performance.now() - start < 20) await new Promise((resolve) => setImmediate(resolve));
}
