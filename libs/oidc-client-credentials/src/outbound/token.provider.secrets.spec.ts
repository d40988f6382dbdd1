import { jest } from '@jest/globals';
import { Logger, type LoggerService } from '@nestjs/common';
import { exportJWK, generateKeyPair } from 'jose';
import {
  TokenProvider,
  type ClientAuthMethod,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { IssuerMetadataProvider } from '../idp/issuer-metadata.provider.js';
import { FakeIdService, PATHS, type FakeResponse } from 'nest-oidc-client-credentials/testing';
import { until } from '../../../../test/utils/until.js';
import { formUrlEncode } from '../idp/client-authentication.util.js';
import { resolveOptions } from '../options/resolve-options.util.js';

const SECRET = "p@ss w%rd+/=~!*()':x-Zq9";
const TOKEN = 'tok-3f9a1c7e5b2d4f60a8e1';

describe('TokenProvider never reveals secrets, assertions or tokens (S83)', () => {
  let idp: FakeIdService;
  let logs: string[];

  beforeAll(async () => {
    idp = await FakeIdService.start({ clients: { 'test-client': { secret: SECRET } } });
    const pair = await generateKeyPair('ES256', { extractable: true });
    idp.clients['jwt-client'] = {
      jwks: { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k', alg: 'ES256' }] },
    };
    privateKey = { ...(await exportJWK(pair.privateKey)), kid: 'k', alg: 'ES256' };
  });
  let privateKey: OidcClientCredentialsModuleOptions['privateKey'];
  afterAll(async () => {
    Logger.overrideLogger(new Logger());
    await idp.close();
  });
  beforeEach(() => {
    logs = [];
    const capture =
      (level: string) =>
      (message: unknown, ...rest: unknown[]) =>
        logs.push(`${level} ${String(message)} ${rest.map((r) => String(r)).join(' ')}`);
    const logger: LoggerService = {
      log: capture('log'),
      error: capture('error'),
      warn: capture('warn'),
      debug: capture('debug'),
      verbose: capture('verbose'),
    };
    Logger.overrideLogger(logger);
  });
  afterEach(() => {
    jest.useRealTimers();
    idp.reset();
  });

  function provider(
    method: ClientAuthMethod,
    options: Partial<OidcClientCredentialsModuleOptions> = {},
  ) {
    const jwt = method === 'private_key_jwt';
    const resolved = resolveOptions({
      issuer: idp.issuer,
      endpoints: { token: idp.url(PATHS.token) },
      clientId: jwt ? 'jwt-client' : 'test-client',
      clientSecret: jwt ? undefined : SECRET,
      privateKey: jwt ? privateKey : undefined,
      clientAuthMethod: method,
      retry: { initialDelayMs: 1, maxDelayMs: 2, maxAttempts: 2 },
      ...options,
    });
    return new TokenProvider(resolved, new IssuerMetadataProvider(resolved));
  }

  /** Every rendering of the error, and every log line, is free of the given values. */
  function expectClean(error: unknown, forbidden: string[]) {
    const e = error as Error & { cause?: unknown };
    const renderings = [
      String(error),
      e.message,
      e.stack ?? '',
      JSON.stringify(error),
      JSON.stringify({ ...e }),
      ...logs,
    ];
    for (const text of renderings) {
      for (const value of forbidden) expect(text).not.toContain(value);
    }
    // eslint-disable-next-line no-control-regex
    for (const line of [e.message, ...logs]) expect(line).not.toMatch(/[\r\n\u001b]/);
    expect(e.cause).toBeUndefined();
  }

  const secretForms = [SECRET, formUrlEncode(SECRET), encodeURIComponent(SECRET), 'p@ss w%rd'];
  const methods: ClientAuthMethod[] = [
    'client_secret_basic',
    'client_secret_post',
    'client_secret_query',
    'private_key_jwt',
  ];

  const hostile: [string, FakeResponse][] = [
    [
      'echoed secret in error_description',
      {
        status: 401,
        body: { error: 'invalid_client', error_description: `bad secret ${SECRET} for client` },
      },
    ],
    [
      'echoed form-encoded secret',
      {
        status: 400,
        body: { error: 'invalid_request', error_description: `got ${formUrlEncode(SECRET)}` },
      },
    ],
    [
      'newlines and ANSI codes',
      {
        status: 400,
        body: {
          error: 'invalid_scope',
          error_description: 'line1\r\nFAKE LOG LINE\u001b[31m red \u001b[0m',
        },
      },
    ],
    ['HTML error page', { status: 500, body: `<html><body>${TOKEN} ${SECRET}</body></html>` }],
    ['token with unsupported type', { body: { access_token: TOKEN, token_type: 'DPoP' } }],
    [
      'token with bad expires_in',
      { body: { access_token: TOKEN, token_type: 'Bearer', expires_in: -1 } },
    ],
    ['connection reset', { reset: true }],
    ['timeout', { hang: true }],
    ['redirect', { status: 307, headers: { location: `http://127.0.0.1:1/x?token=${TOKEN}` } }],
  ];

  describe.each(methods)('%s', (method) => {
    it.each(hostile)('%s', async (_case, response) => {
      idp.on(PATHS.token, () => response);
      // Only the endpoint that never answers gets a short timeout: nothing can beat it, however
      // slow the machine, while a slow answer from the others is never cut short.
      const error = await provider(method, response.hang ? { http: { timeoutMs: 150 } } : {})
        .getToken()
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error).toMatchObject({ name: 'TokenRequestError', code: expect.any(String) });
      const assertions = idp
        .requestsTo(PATHS.token)
        .map((r) => r.form.get('client_assertion'))
        .filter((a): a is string => !!a);
      expect(assertions.length > 0).toBe(method === 'private_key_jwt');
      // private_key_jwt has no secret: what it must not leak is the assertion.
      const secrets = method === 'private_key_jwt' ? [] : secretForms;
      expectClean(error, [...secrets, TOKEN, ...assertions]);
      expect(logs.some((line) => line.includes((error as Error).message))).toBe(true);
    });
  });

  it('keeps the ID service error fields, sanitised', async () => {
    idp.on(PATHS.token, () => hostile[2][1]);
    const error = await provider('client_secret_basic')
      .getToken()
      .catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'OIDC_CC_TOKEN_REQUEST_FAILED',
      status: 400,
      error: 'invalid_scope',
      details: { errorDescription: 'line1  FAKE LOG LINE [31m red  [0m' },
    });
  });

  it('redacts an echoed secret in error_description', async () => {
    idp.on(PATHS.token, () => hostile[0][1]);
    const error = await provider('client_secret_basic')
      .getToken()
      .catch((e: unknown) => e);
    expect(error).toMatchObject({
      error: 'invalid_client',
      details: { errorDescription: 'bad secret [redacted] for client' },
    });
  });

  it('does not log the token on success or on renewal', async () => {
    jest.useFakeTimers({
      doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'performance', 'hrtime'],
    });
    idp.on(PATHS.token, () => ({
      body: { access_token: TOKEN, token_type: 'Bearer', expires_in: 100 },
    }));
    const tokens = provider('client_secret_basic', { retry: { maxAttempts: 1 } });
    await tokens.getToken();
    idp.on(PATHS.token, () => ({ status: 500 }));
    jest.setSystemTime(Date.now() + 90_000);
    await tokens.getToken();
    await until(() => logs.some((l) => l.includes('renewal failed')), 'the renewal failure');
    for (const line of logs) {
      expect(line).not.toContain(TOKEN);
      expect(line).not.toContain(SECRET);
    }
  });
});
