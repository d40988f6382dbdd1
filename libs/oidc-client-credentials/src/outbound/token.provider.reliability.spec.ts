import { jest } from '@jest/globals';
import { Logger, type LoggerService } from '@nestjs/common';
import {
  TokenProvider,
  TokenRequestError,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { IssuerMetadataProvider } from '../idp/issuer-metadata.provider.js';
import { FakeIdService, PATHS, type FakeResponse } from 'nest-oidc-client-credentials/testing';
import { fakeAbortTimeouts } from '../../../../test/utils/fake-date.js';
import { until, watch } from '../../../../test/utils/until.js';
import { REFUSAL_COOLDOWN_MS, RENEWAL_RETRY_BASE_MS } from './token.provider.js';
import { resolveOptions } from '../options/resolve-options.util.js';

describe('TokenProvider reliability', () => {
  let idp: FakeIdService;
  let warnings: string[];

  beforeAll(async () => {
    idp = await FakeIdService.start({
      clients: { 'test-client': { secret: 'test-secret' } },
      tokenFormat: 'opaque',
    });
  });
  afterAll(async () => {
    Logger.overrideLogger(new Logger());
    await idp.close();
  });
  beforeEach(() => {
    warnings = [];
    const quiet = () => undefined;
    const logger: LoggerService = {
      log: quiet,
      error: (message: unknown) => warnings.push(String(message)),
      warn: (message: unknown) => warnings.push(String(message)),
      debug: quiet,
      verbose: quiet,
    };
    Logger.overrideLogger(logger);
  });
  afterEach(() => {
    jest.useRealTimers();
    jest.restoreAllMocks();
    idp.reset();
  });

  function provider(options: Partial<OidcClientCredentialsModuleOptions> = {}): TokenProvider {
    const resolved = resolveOptions({
      issuer: idp.issuer,
      endpoints: { token: idp.url(PATHS.token) },
      clientId: 'test-client',
      clientSecret: 'test-secret',
      ...options,
      retry: { initialDelayMs: 1, maxDelayMs: 5, ...options.retry },
      // The global fetch: its connections' timers are not on the fake clock, so the tests that
      // count timers see only the retry waits (undici's keep-alive Agent would add its own).
      http: { fetch, ...options.http },
    });
    return new TokenProvider(resolved, new IssuerMetadataProvider(resolved));
  }

  const tokenRequests = () => idp.requestsTo(PATHS.token);
  const useFakeClock = () =>
    jest.useFakeTimers({
      doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'performance', 'hrtime'],
      now: new Date('2026-01-01T00:00:00Z'),
    });
  /** The fake clock, with http.timeoutMs and retry.deadlineMs on it too: they expire when it moves. */
  const useFakeClockForTimeouts = () => {
    useFakeClock();
    fakeAbortTimeouts();
  };
  /** Answers token requests from a script, then falls through to the default (a valid token). */
  const script = (...answers: FakeResponse[]) => idp.on(PATHS.token, () => answers.shift());
  /** Holds token requests until `release()`; they then get the default answer. */
  function gate() {
    let release!: () => void;
    const opened = new Promise<void>((resolve) => (release = resolve));
    idp.on(PATHS.token, async () => {
      await opened;
      return undefined;
    });
    return { release };
  }
  const settled = <T>(promise: Promise<T>) =>
    promise.then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );

  describe('single flight', () => {
    it('R01 1,000 concurrent callers make exactly one token request and share its token', async () => {
      const tokens = provider();
      const results = await Promise.all(Array.from({ length: 1000 }, () => tokens.getToken()));
      expect(tokenRequests()).toHaveLength(1);
      expect(new Set(results).size).toBe(1);
    });

    it('R01 a failure reaches every waiter once; the next call tries again', async () => {
      script({ status: 500, body: { error: 'server_error' } });
      const tokens = provider({ retry: { maxAttempts: 1 } });
      const results = await Promise.all(
        Array.from({ length: 1000 }, () => settled(tokens.getToken())),
      );
      expect(tokenRequests()).toHaveLength(1);
      const errors = new Set(results.map((r) => ('error' in r ? r.error : undefined)));
      expect(errors.size).toBe(1);
      expect([...errors][0]).toMatchObject({
        code: 'OIDC_CC_TOKEN_ENDPOINT_UNAVAILABLE',
        status: 500,
      });
      await expect(tokens.getToken()).resolves.toEqual(expect.any(String));
      expect(tokenRequests()).toHaveLength(2);
    });

    it('R11 a token endpoint that never answers is aborted; all waiters fail; the next call retries', async () => {
      useFakeClockForTimeouts();
      script({ hang: true });
      const tokens = provider({ http: { timeoutMs: 150 }, retry: { maxAttempts: 1 } });
      const waiting = watch(
        Promise.all(Array.from({ length: 10 }, () => settled(tokens.getToken()))),
      );
      await until(() => tokenRequests().length === 1, 'the token request');
      await jest.advanceTimersByTimeAsync(149);
      expect(waiting.settled()).toBe(false);
      await jest.advanceTimersByTimeAsync(1);
      const results = await waiting.promise;
      for (const result of results) {
        expect(result).toEqual({ error: expect.any(TokenRequestError) });
        expect((result as { error: TokenRequestError }).error.code).toBe(
          'OIDC_CC_TOKEN_ENDPOINT_UNAVAILABLE',
        );
      }
      expect(tokenRequests()).toHaveLength(1);
      await expect(tokens.getToken()).resolves.toEqual(expect.any(String));
      expect(tokenRequests()).toHaveLength(2);
    });

    it('R12 a caller that gives up does not cancel the shared request', async () => {
      const { release } = gate();
      const tokens = provider();
      const quitter = new AbortController();
      const waiting = Array.from({ length: 9 }, () => tokens.getToken());
      const giving = tokens.getToken({ signal: quitter.signal });
      await until(() => tokenRequests().length === 1, 'the token request');
      quitter.abort(new Error('caller gave up'));
      await expect(giving).rejects.toThrow('caller gave up');
      release();
      const results = await Promise.all(waiting);
      expect(new Set(results).size).toBe(1);
      await expect(tokens.getToken()).resolves.toBe(results[0]);
      expect(tokenRequests()).toHaveLength(1);
    });

    it('forceRefresh joins a renewal in flight: many at once make one request', async () => {
      const tokens = provider();
      const first = await tokens.getToken();
      const renewed = await Promise.all(
        Array.from({ length: 50 }, () => tokens.getToken({ forceRefresh: true })),
      );
      expect(tokenRequests()).toHaveLength(2);
      expect(new Set(renewed).size).toBe(1);
      expect(renewed[0]).not.toBe(first);
    });
  });

  describe('refresh-ahead', () => {
    it('R03 inside the renewal window callers get the current token at once; one background renewal', async () => {
      useFakeClock();
      const tokens = provider();
      const first = await tokens.getToken();
      const { release } = gate();
      jest.setSystemTime(Date.now() + 2881_000);
      const during = await Promise.all(Array.from({ length: 50 }, () => tokens.getToken()));
      expect(during.every((token) => token === first)).toBe(true);
      await until(() => tokenRequests().length === 2);
      release();
      await until(async () => (await tokens.getToken()) !== first);
      expect(tokenRequests()).toHaveLength(2);
    });

    it('R04 a failed renewal keeps serving the valid token and retries only after a backoff', async () => {
      useFakeClock();
      const tokens = provider({ retry: { maxAttempts: 1 } });
      const first = await tokens.getToken();
      idp.on(PATHS.token, () => ({ status: 503, body: { error: 'temporarily_unavailable' } }));
      jest.setSystemTime(Date.now() + 2881_000);
      await expect(tokens.getToken()).resolves.toBe(first);
      await until(() => warnings.some((w) => w.includes('Token renewal failed')));
      expect(tokenRequests()).toHaveLength(2);

      jest.setSystemTime(Date.now() + RENEWAL_RETRY_BASE_MS - 1);
      await Promise.all(Array.from({ length: 20 }, () => tokens.getToken()));
      expect(tokenRequests()).toHaveLength(2);

      idp.reset();
      jest.setSystemTime(Date.now() + 1);
      await expect(tokens.getToken()).resolves.toBe(first);
      await until(() => tokenRequests().length === 1);
      await until(async () => (await tokens.getToken()) !== first);
      expect(warnings.join('\n')).not.toContain(first);
    });

    it('R05 expired and renewal failing: a typed error, and a burst makes one request', async () => {
      useFakeClock();
      const tokens = provider({ retry: { maxAttempts: 1 } });
      await tokens.getToken();
      idp.on(PATHS.token, () => ({ status: 500, body: 'down' }));
      jest.setSystemTime(Date.now() + 3600_000);
      const results = await Promise.all(
        Array.from({ length: 100 }, () => settled(tokens.getToken())),
      );
      expect(results.every((r) => 'error' in r)).toBe(true);
      expect(results[0]).toMatchObject({ error: { code: 'OIDC_CC_TOKEN_ENDPOINT_UNAVAILABLE' } });
      expect(tokenRequests()).toHaveLength(2);
    });
  });

  describe('retries', () => {
    it.each<[string, FakeResponse]>([
      ['R06 500', { status: 500, body: { error: 'server_error' } }],
      ['R06 502 html', { status: 502, body: '<html>bad gateway</html>' }],
      ['R06 503', { status: 503 }],
      ['R06 408', { status: 408 }],
      ['R06 connection reset', { reset: true }],
      ['R07 429 without Retry-After', { status: 429, body: { error: 'slow_down' } }],
    ])('%s is retried with backoff', async (_case, failure) => {
      script(failure, failure);
      const tokens = provider();
      await expect(tokens.getToken()).resolves.toEqual(expect.any(String));
      expect(tokenRequests()).toHaveLength(3);
    });

    it('R06 timeout is retried with backoff', async () => {
      useFakeClockForTimeouts();
      script({ hang: true }, { hang: true });
      const tokens = provider({ http: { timeoutMs: 150 } });
      const pending = tokens.getToken();
      for (const attempt of [1, 2]) {
        await until(() => tokenRequests().length === attempt, `attempt ${attempt}`);
        // The attempt times out, then the backoff (at most retry.maxDelayMs, 5 ms) passes.
        await jest.advanceTimersByTimeAsync(150 + 5);
      }
      await expect(pending).resolves.toEqual(expect.any(String));
      expect(tokenRequests()).toHaveLength(3);
    });

    it('R06 gives up after maxAttempts with the last failure', async () => {
      idp.on(PATHS.token, () => ({ status: 502 }));
      const tokens = provider({ retry: { maxAttempts: 4 } });
      await expect(tokens.getToken()).rejects.toMatchObject({
        code: 'OIDC_CC_TOKEN_ENDPOINT_UNAVAILABLE',
        status: 502,
      });
      expect(tokenRequests()).toHaveLength(4);
    });

    it('R06 stays within the overall deadline', async () => {
      useFakeClockForTimeouts();
      idp.on(PATHS.token, () => ({ hang: true }));
      const tokens = provider({
        http: { timeoutMs: 5000 },
        retry: { maxAttempts: 10, deadlineMs: 200 },
      });
      const pending = watch(tokens.getToken());
      await until(() => tokenRequests().length === 1, 'the token request');
      await jest.advanceTimersByTimeAsync(199);
      expect(pending.settled()).toBe(false);
      await jest.advanceTimersByTimeAsync(1);
      await expect(pending.promise).rejects.toMatchObject({
        code: 'OIDC_CC_TOKEN_ENDPOINT_UNAVAILABLE',
      });
      expect(tokenRequests()).toHaveLength(1);
    });

    it.each([
      ['seconds', () => '2'],
      ['HTTP date', () => new Date(Date.now() + 2000).toUTCString()],
    ])('honours Retry-After (%s) before the next attempt', async (_case, retryAfter) => {
      useFakeClock();
      script({ status: 503, headers: { 'retry-after': retryAfter() } });
      const tokens = provider();
      const pending = tokens.getToken();
      // The 503 has been read once the wait before the next attempt is on the clock.
      await until(() => jest.getTimerCount() === 1, 'the wait before the next attempt');
      await jest.advanceTimersByTimeAsync(1999);
      expect(jest.getTimerCount()).toBe(1);
      expect(tokenRequests()).toHaveLength(1);
      await jest.advanceTimersByTimeAsync(1);
      await expect(pending).resolves.toEqual(expect.any(String));
      expect(tokenRequests()).toHaveLength(2);
    });

    it('R07 429 with a Retry-After beyond the deadline: throttled error, no request before it', async () => {
      useFakeClock();
      idp.on(PATHS.token, () => ({ status: 429, headers: { 'retry-after': '60' } }));
      const tokens = provider();
      await expect(tokens.getToken()).rejects.toMatchObject({
        code: 'OIDC_CC_TOKEN_ENDPOINT_THROTTLED',
        status: 429,
        details: { retryAfterSeconds: 60 },
      });
      jest.setSystemTime(Date.now() + 59_000);
      const burst = await Promise.all(Array.from({ length: 20 }, () => settled(tokens.getToken())));
      expect(burst.every((r) => 'error' in r)).toBe(true);
      expect(tokenRequests()).toHaveLength(1);
      idp.reset();
      jest.setSystemTime(Date.now() + 1_000);
      await expect(tokens.getToken()).resolves.toEqual(expect.any(String));
      expect(tokenRequests()).toHaveLength(1);
    });

    it.each<[string, FakeResponse, string]>([
      [
        'S82 invalid_client',
        {
          status: 401,
          headers: { 'www-authenticate': 'Basic realm="id"' },
          body: { error: 'invalid_client', error_description: 'unknown client' },
        },
        'invalid_client',
      ],
      ['S82 invalid_scope', { status: 400, body: { error: 'invalid_scope' } }, 'invalid_scope'],
      [
        'S82 unauthorized_client',
        { status: 400, body: { error: 'unauthorized_client' } },
        'unauthorized_client',
      ],
      [
        'S82 invalid_request',
        { status: 400, body: { error: 'invalid_request' } },
        'invalid_request',
      ],
    ])(
      '%s is not retried; R08 callers get it at once during a cooldown',
      async (_case, refusal, error) => {
        useFakeClock();
        idp.on(PATHS.token, () => refusal);
        const tokens = provider();
        const failure = await settled(tokens.getToken());
        expect(failure).toEqual({ error: expect.any(TokenRequestError) });
        expect((failure as { error: TokenRequestError }).error).toMatchObject({
          code: 'OIDC_CC_TOKEN_REQUEST_FAILED',
          error,
          status: refusal.status,
        });
        expect(tokenRequests()).toHaveLength(1);

        const storm = await Promise.all(
          Array.from({ length: 100 }, () => settled(tokens.getToken())),
        );
        expect(
          storm.every((r) => 'error' in r && r.error === (failure as { error: unknown }).error),
        ).toBe(true);
        expect(tokenRequests()).toHaveLength(1);

        jest.setSystemTime(Date.now() + REFUSAL_COOLDOWN_MS);
        await settled(tokens.getToken());
        expect(tokenRequests()).toHaveLength(2);
      },
    );

    it('S78 a redirect from the token endpoint is not followed', async () => {
      idp.on(PATHS.token, () => ({ status: 307, headers: { location: idp.url('/elsewhere') } }));
      await expect(provider().getToken()).rejects.toMatchObject({
        code: 'OIDC_CC_TOKEN_RESPONSE_INVALID',
        status: 307,
      });
      expect(idp.requestsTo('/elsewhere')).toHaveLength(0);
      expect(tokenRequests()).toHaveLength(1);
    });

    it('refuses an oversized token response', async () => {
      idp.on(PATHS.token, () => ({
        body: { access_token: 'x'.repeat(4096), token_type: 'Bearer' },
      }));
      await expect(provider({ http: { maxResponseBytes: 1024 } }).getToken()).rejects.toMatchObject(
        {
          code: 'OIDC_CC_TOKEN_RESPONSE_INVALID',
        },
      );
    });

    it('a failed discovery is reported with its code and retried by the next call', async () => {
      const resolved = resolveOptions({
        issuer: idp.issuer,
        clientId: 'test-client',
        clientSecret: 'test-secret',
      });
      const tokens = new TokenProvider(resolved, new IssuerMetadataProvider(resolved));
      idp.on(PATHS.discovery, () => ({ status: 500 }));
      await expect(tokens.getToken()).rejects.toMatchObject({
        name: 'TokenRequestError',
        code: 'OIDC_CC_DISCOVERY_FAILED',
      });
      idp.reset();
      await expect(tokens.getToken()).resolves.toEqual(expect.any(String));
    });
  });
});
