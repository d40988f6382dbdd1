import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  OidcClientCredentialsModule,
  TokenProvider,
  TokenRequestError,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { FakeIdService, PATHS, type FakeResponse } from 'nest-oidc-client-credentials/testing';
import { fakeDateOnly } from '../../../../test/utils/fake-date.js';
import { freePort } from '../../../../test/utils/ports.js';
import { REDISCOVERY_COOLDOWN_MS } from '../idp/issuer-metadata.provider.js';

// How a token request's failures are classified and worded, seen through TokenProvider.

const SECRET = 'query-s3cret';

describe('token request failures', () => {
  let idp: FakeIdService;

  beforeAll(async () => {
    idp = await FakeIdService.start({
      clients: { 'test-client': { secret: SECRET } },
      tokenFormat: 'opaque',
    });
  });
  afterAll(() => idp.close());
  beforeEach(() => {
    for (const level of ['log', 'warn', 'error', 'debug'] as const) {
      jest.spyOn(Logger.prototype, level).mockImplementation(() => undefined);
    }
  });
  afterEach(() => {
    jest.useRealTimers();
    jest.restoreAllMocks();
    idp.reset();
  });

  async function tokenProvider(
    options: Partial<OidcClientCredentialsModuleOptions> = {},
  ): Promise<TokenProvider> {
    const moduleRef = await Test.createTestingModule({
      imports: [
        OidcClientCredentialsModule.forRoot({
          issuer: idp.issuer,
          clientId: 'test-client',
          clientSecret: SECRET,
          ...options,
          retry: { initialDelayMs: 1, maxDelayMs: 5, ...options.retry },
        }),
      ],
    }).compile();
    return moduleRef.get(TokenProvider);
  }

  const tokenRequests = () => idp.requestsTo(PATHS.token).length;
  /** Answers token requests from a script, then falls through to the default (a token). */
  const script = (...answers: FakeResponse[]) => idp.on(PATHS.token, () => answers.shift());
  const failure = (promise: Promise<unknown>) =>
    promise.then(
      () => undefined,
      (error: unknown) => error as TokenRequestError,
    );

  describe('R33 a 4xx without an OAuth error is a proxy or firewall page: transient', () => {
    const WAF: FakeResponse = {
      status: 403,
      headers: { 'content-type': 'text/html' },
      body: '<html><body>Request blocked</body></html>',
    };

    it.each<[string, FakeResponse]>([
      ['403 HTML page', WAF],
      ['404 HTML page', { status: 404, headers: { 'content-type': 'text/html' }, body: '<p>' }],
      ['400 without a body', { status: 400 }],
      ['401 with a JSON body but no error', { status: 401, body: { message: 'denied' } }],
    ])('%s is retried within the deadline', async (_case, answer) => {
      script(answer, answer);
      const tokens = await tokenProvider();
      await expect(tokens.getToken()).resolves.toEqual(expect.any(String));
      expect(tokenRequests()).toBe(3);
    });

    it('after the last attempt: OIDC_CC_TOKEN_ENDPOINT_UNAVAILABLE, saying what came back', async () => {
      idp.on(PATHS.token, () => WAF);
      const tokens = await tokenProvider({ endpoints: { token: idp.url(PATHS.token) } });
      const error = await failure(tokens.getToken());
      expect(error).toBeInstanceOf(TokenRequestError);
      expect(error).toMatchObject({
        code: 'OIDC_CC_TOKEN_ENDPOINT_UNAVAILABLE',
        status: 403,
        message: `Token endpoint answered HTTP 403 without an OAuth error (a proxy or firewall page?) [POST ${idp.url(PATHS.token)}]`,
      });
      expect(tokenRequests()).toBe(3);
    });

    it('counts as a failure for the circuit breaker, never as a success', async () => {
      idp.on(PATHS.token, () => WAF);
      const tokens = await tokenProvider({
        retry: { maxAttempts: 1 },
        circuitBreaker: { failureThreshold: 2 },
      });
      await failure(tokens.getToken());
      await failure(tokens.getToken());
      expect(tokenRequests()).toBe(2);
      await expect(tokens.getToken()).rejects.toMatchObject({
        code: 'OIDC_CC_TOKEN_ENDPOINT_CIRCUIT_OPEN',
      });
      expect(tokenRequests()).toBe(2);
      expect(tokens.status().circuit).toBe('open');
    });

    it.each<[string, FakeResponse]>([
      ['invalid_client', { status: 401, body: { error: 'invalid_client' } }],
      ['invalid_scope', { status: 400, body: { error: 'invalid_scope' } }],
    ])('a 4xx with an OAuth error (%s) stays a final refusal', async (error, answer) => {
      idp.on(PATHS.token, () => answer);
      const tokens = await tokenProvider();
      await expect(tokens.getToken()).rejects.toMatchObject({
        code: 'OIDC_CC_TOKEN_REQUEST_FAILED',
        error,
      });
      expect(tokenRequests()).toBe(1);
    });
  });

  describe('R34 messages name the token endpoint, never its query (client_secret_query)', () => {
    it.each<[string, () => Promise<Partial<OidcClientCredentialsModuleOptions>>, string]>([
      [
        'unreachable',
        async () => ({ endpoints: { token: `http://127.0.0.1:${await freePort()}/openid/token` } }),
        'Token endpoint unreachable (ECONNREFUSED)',
      ],
      [
        'refused',
        async () => {
          idp.on(PATHS.token, () => ({
            status: 401,
            body: { error: 'invalid_client', error_description: 'client authentication failed' },
          }));
          return {};
        },
        'Token request refused by the ID service (HTTP 401): invalid_client: client authentication failed',
      ],
      [
        'failing',
        async () => {
          idp.on(PATHS.token, () => ({ status: 503, body: { error: 'temporarily_unavailable' } }));
          return {};
        },
        'Token endpoint failed (HTTP 503): temporarily_unavailable',
      ],
      [
        'timed out',
        async () => {
          idp.on(PATHS.token, () => ({ hang: true }));
          // The endpoint is given, so the short timeout bounds only the request that never answers
          // (a discovery on a busy machine could take longer).
          return { http: { timeoutMs: 100 }, endpoints: { token: idp.url(PATHS.token) } };
        },
        'Token endpoint timed out',
      ],
    ])('%s', async (_case, arrange, message) => {
      const options = await arrange();
      const tokens = await tokenProvider({
        clientAuthMethod: 'client_secret_query',
        retry: { maxAttempts: 1 },
        ...options,
      });
      const error = await failure(tokens.getToken());
      const endpoint = options.endpoints?.token ?? idp.url(PATHS.token);
      expect(error?.message).toBe(`${message} [POST ${endpoint}]`);
      expect(error?.message).not.toContain(SECRET);
      expect(error?.message).not.toContain('client_secret');
    });
  });

  describe('R35 a discovered token endpoint that looks gone has discovery fetched again', () => {
    /** The discovery document naming another token endpoint. */
    const naming = (tokenEndpoint: string) => () => ({
      body: { issuer: idp.issuer, token_endpoint: tokenEndpoint },
    });

    it.each<[string, () => Promise<string>]>([
      ['404', async () => idp.url('/old/token')],
      ['connection refused', async () => `http://127.0.0.1:${await freePort()}/openid/token`],
    ])('%s: the next request after the cooldown uses the new endpoint', async (_case, old) => {
      fakeDateOnly();
      idp.on(PATHS.discovery, naming(await old()));
      const tokens = await tokenProvider();
      await expect(tokens.getToken()).rejects.toBeInstanceOf(TokenRequestError);
      idp.on(PATHS.discovery, naming(idp.url(PATHS.token)));

      jest.setSystemTime(Date.now() + REDISCOVERY_COOLDOWN_MS - 1000);
      await expect(tokens.getToken()).rejects.toBeInstanceOf(TokenRequestError);
      expect(idp.requestsTo(PATHS.discovery)).toHaveLength(1);

      // Past the discovery cooldown, and past the 5 s a refusal holds new requests back.
      jest.setSystemTime(Date.now() + 6000);
      await expect(tokens.getToken()).resolves.toEqual(expect.any(String));
      expect(idp.requestsTo(PATHS.discovery)).toHaveLength(2);
      expect(tokenRequests()).toBe(1);
    });
  });
});
