import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { exportJWK, generateKeyPair } from 'jose';
import {
  ConfigurationError,
  IntrospectionVerificationStrategy,
  OidcClientCredentialsModule,
  TokenVerificationError,
  TokenVerificationStrategy,
  ValidatorUnavailableError,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { FakeIdService, PATHS, type FakeResponse } from 'nest-oidc-client-credentials/testing';
import { freePort } from '../../../../test/utils/ports.js';

const now = () => Math.floor(Date.now() / 1000);

describe('IntrospectionVerificationStrategy', () => {
  let idp: FakeIdService;
  let attacker: FakeIdService;
  let logged: jest.SpiedFunction<Logger['error']>;

  beforeAll(async () => {
    idp = await FakeIdService.start({
      alg: 'ES256',
      clients: {
        'test-client': { secret: 'test-secret' },
        'orders-api': { secret: 'api secret:with%chars' },
      },
    });
    attacker = await FakeIdService.start({ alg: 'ES256' });
  });
  afterAll(async () => {
    await idp.close();
    await attacker.close();
  });
  beforeEach(() => {
    idp.reset();
    attacker.reset();
    logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
  });
  afterEach(() => jest.restoreAllMocks());

  async function strategy(
    options: Partial<OidcClientCredentialsModuleOptions> = {},
  ): Promise<IntrospectionVerificationStrategy> {
    const moduleRef = await Test.createTestingModule({
      imports: [
        OidcClientCredentialsModule.forRoot({
          issuer: idp.issuer,
          clientId: 'orders-api',
          clientSecret: 'api secret:with%chars',
          ...options,
          verification: { strategy: 'introspection', ...options.verification },
        }),
      ],
    }).compile();
    expect(moduleRef.get(TokenVerificationStrategy)).toBeInstanceOf(
      IntrospectionVerificationStrategy,
    );
    return moduleRef.get(IntrospectionVerificationStrategy);
  }

  /** Makes the introspection endpoint answer `answer` (after checking our credentials). */
  function answer(response: FakeResponse): void {
    idp.on(PATHS.introspection, () => response);
  }

  const introspections = () => idp.requestsTo(PATHS.introspection).length;

  async function failure(promise: Promise<unknown>): Promise<Error> {
    const caught = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(caught).toBeInstanceOf(Error);
    return caught as Error;
  }

  async function expectRefused(promise: Promise<unknown>, code: string): Promise<void> {
    const caught = await failure(promise);
    expect(caught).toBeInstanceOf(TokenVerificationError);
    expect((caught as TokenVerificationError).code).toBe(code);
  }

  async function expectUnavailable(
    promise: Promise<unknown>,
    code = 'OIDC_CC_INTROSPECTION_UNAVAILABLE',
  ): Promise<Error> {
    const caught = await failure(promise);
    expect(caught).toBeInstanceOf(ValidatorUnavailableError);
    expect((caught as ValidatorUnavailableError).code).toBe(code);
    return caught;
  }

  it("verifies the seed's opaque token and reads clientId, scope and exp", async () => {
    const introspection = await strategy();
    const token = idp.mintOpaque('test-client', { scope: 'orders:read' });
    const verified = await introspection.verify(token);
    expect(verified).toMatchObject({
      clientId: 'test-client',
      subject: 'test-client',
      scopes: ['orders:read'],
      issuer: idp.issuer,
    });
    expect(verified.expiresAt).toBeGreaterThan(now());
    expect(Object.getPrototypeOf(verified.claims)).toBeNull();
  });

  it('S57 POSTs token and token_type_hint in the form body, authenticated with Basic', async () => {
    const introspection = await strategy();
    const token = idp.mintOpaque();
    await introspection.verify(token);
    const [request] = idp.requestsTo(PATHS.introspection);
    expect(request.method).toBe('POST');
    expect(request.headers['content-type']).toMatch(/^application\/x-www-form-urlencoded/);
    expect(request.form.get('token')).toBe(token);
    expect(request.form.get('token_type_hint')).toBe('access_token');
    expect([...request.query]).toEqual([]);
    const basic = Buffer.from(
      String(request.headers.authorization).replace(/^Basic /, ''),
      'base64',
    ).toString();
    // RFC 6749 §2.3.1: id and secret form-urlencoded before base64.
    expect(basic).toBe('orders-api:api+secret%3Awith%25chars');
  });

  it('S57 client_secret_post sends the credentials in the body only', async () => {
    const introspection = await strategy({ clientAuthMethod: 'client_secret_post' });
    await introspection.verify(idp.mintOpaque());
    const [request] = idp.requestsTo(PATHS.introspection);
    expect(request.headers.authorization).toBeUndefined();
    expect(request.form.get('client_id')).toBe('orders-api');
    expect(request.form.get('client_secret')).toBe('api secret:with%chars');
  });

  it('client_secret_query (the seed token form) introspects with Basic, never with a URL secret', async () => {
    const introspection = await strategy({ clientAuthMethod: 'client_secret_query' });
    await introspection.verify(idp.mintOpaque());
    const [request] = idp.requestsTo(PATHS.introspection);
    expect(request.headers.authorization).toMatch(/^Basic /);
    expect([...request.query]).toEqual([]);
  });

  it('S57 private_key_jwt authenticates with a signed assertion', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'api-key', alg: 'ES256' };
    idp.clients['orders-jwt'] = { jwks: { keys: [jwk] } };
    const introspection = await strategy({
      clientId: 'orders-jwt',
      clientSecret: undefined,
      clientAuthMethod: 'private_key_jwt',
      privateKey: { ...(await exportJWK(privateKey)), kid: 'api-key', alg: 'ES256' },
    });
    await expect(introspection.verify(idp.mintOpaque())).resolves.toBeDefined();
    const [request] = idp.requestsTo(PATHS.introspection);
    expect(request.form.get('client_assertion_type')).toBe(
      'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    );
  });

  it('refuses to start without introspection credentials', async () => {
    await expect(
      Test.createTestingModule({
        imports: [
          OidcClientCredentialsModule.forRoot({
            issuer: idp.issuer,
            verification: { strategy: 'introspection' },
          }),
        ],
      }).compile(),
    ).rejects.toBeInstanceOf(ConfigurationError);
  });

  it('S58 active false', async () => {
    const introspection = await strategy();
    const token = idp.mintOpaque();
    idp.revoke(token);
    await expectRefused(introspection.verify(token), 'OIDC_CC_TOKEN_INACTIVE');
  });

  it.each([
    ['without active', { sub: 'test-client' }],
    ['active "true"', { active: 'true', sub: 'test-client' }],
    ['active 1', { active: 1, sub: 'test-client' }],
    ['active null', { active: null, sub: 'test-client' }],
  ])('S59 a response %s is inactive', async (_name, body) => {
    const introspection = await strategy();
    answer({ body });
    await expectRefused(introspection.verify(idp.mintOpaque()), 'OIDC_CC_TOKEN_INACTIVE');
  });

  it.each([
    ['exp in the past', () => ({ exp: now() - 3600 }), 'OIDC_CC_TOKEN_EXPIRED'],
    ['exp a string', () => ({ exp: String(now() + 60) }), 'OIDC_CC_TOKEN_INVALID'],
    ['nbf in the future', () => ({ nbf: now() + 3600 }), 'OIDC_CC_TOKEN_INVALID'],
    ['nbf a string', () => ({ nbf: String(now()) }), 'OIDC_CC_TOKEN_INVALID'],
  ])('S60 active but %s', async (_name, extra, code) => {
    const introspection = await strategy();
    answer({ body: { active: true, sub: 'test-client', ...extra() } });
    await expectRefused(introspection.verify(idp.mintOpaque()), code);
  });

  it.each([
    ['iss of another issuer', { iss: 'https://evil.example.com' }],
    ['iss with a trailing slash', 'trailing-slash'],
    ['aud not containing us', { aud: ['urn:other-api'] }],
    ['aud malformed', { aud: [42] }],
    ['no aud while verification.audience is set', { aud: undefined }],
    ['token_type refresh_token', { token_type: 'refresh_token' }],
    ['token_type Refresh (any case)', { token_type: 'Refresh' }],
    ['token_type DPoP without cnf.jkt', { token_type: 'DPoP' }],
    ['a cnf.jkt that is no SHA-256 thumbprint', { cnf: { jkt: 'thumbprint' } }],
    ['a cnf member no proof checks', { cnf: { jwk: { kty: 'EC' } } }],
    ['token_type PoP', { token_type: 'PoP' }],
  ])('S61 active but %s', async (_name, extra) => {
    const introspection = await strategy({ verification: { audience: 'urn:orders-api' } });
    const body =
      extra === 'trailing-slash' ? { iss: `${idp.issuer}/` } : (extra as Record<string, unknown>);
    answer({ body: { active: true, sub: 'test-client', aud: 'urn:orders-api', ...body } });
    await expectRefused(introspection.verify(idp.mintOpaque()), 'OIDC_CC_TOKEN_INVALID');
  });

  it.each([
    [
      'a DPoP key',
      { token_type: 'DPoP', cnf: { jkt: 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs' } },
    ],
    [
      'a client certificate',
      { cnf: { 'x5t#S256': 'bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2' } },
    ],
  ])(
    'a token bound to %s is active with its confirmation recorded for the guard',
    async (_name, extra) => {
      const introspection = await strategy();
      answer({ body: { active: true, sub: 'test-client', ...extra } });
      await expect(introspection.verify(idp.mintOpaque())).resolves.toMatchObject({
        confirmation: extra.cnf,
      });
    },
  );

  it('S61 aud listing us among others is accepted; without verification.audience aud is not required', async () => {
    const introspection = await strategy({ verification: { audience: 'urn:orders-api' } });
    answer({ body: { active: true, sub: 'test-client', aud: ['urn:x', 'urn:orders-api'] } });
    await expect(introspection.verify(idp.mintOpaque())).resolves.toMatchObject({
      audience: ['urn:x', 'urn:orders-api'],
    });
    const anyAudience = await strategy();
    answer({ body: { active: true, sub: 'test-client', token_type: 'Bearer' } });
    await expect(anyAudience.verify(idp.mintOpaque())).resolves.toBeDefined();
  });

  it("reads the seed ID service's clientId when the answer has no client_id (before sub)", async () => {
    const introspection = await strategy();
    answer({ body: { active: true, sub: 'someone', clientId: 'shipping' } });
    await expect(introspection.verify(idp.mintOpaque())).resolves.toMatchObject({
      clientId: 'shipping',
      subject: 'someone',
    });
  });

  it('refuses an active answer that names no client', async () => {
    const introspection = await strategy();
    answer({ body: { active: true, scope: 'orders:read' } });
    await expectRefused(introspection.verify(idp.mintOpaque()), 'OIDC_CC_TOKEN_INVALID');
  });

  // Logged by the guard, once per cause per interval (test/diagnostics); the error says it all.
  it.each([401, 403])(
    'S62 the endpoint answering %i (our credentials): 503 OIDC_CC_INTROSPECTION_REFUSED naming them, not cached',
    async (status) => {
      const introspection = await strategy();
      answer({ status, body: { error: 'invalid_client' } });
      const token = idp.mintOpaque();
      const refused = 'OIDC_CC_INTROSPECTION_REFUSED';
      const caught = await expectUnavailable(introspection.verify(token), refused);
      await expectUnavailable(introspection.verify(token), refused);
      expect(introspections()).toBe(2);
      expect(caught.message).toContain("refused this service's credentials");
      expect(caught.message).not.toContain(token);
      expect(logged).not.toHaveBeenCalled();
    },
  );

  it('S62 wrong credentials at the real endpoint are 503', async () => {
    const introspection = await strategy({ clientSecret: 'wrong' });
    await expectUnavailable(
      introspection.verify(idp.mintOpaque()),
      'OIDC_CC_INTROSPECTION_REFUSED',
    );
  });

  describe('R32 what the endpoint said, classified', () => {
    const url = () => idp.url(PATHS.introspection);

    it.each<[string, (token: string) => FakeResponse, string, () => string]>([
      [
        'S62 invalid_client: our credentials',
        () => ({
          status: 401,
          body: { error: 'invalid_client', error_description: 'client authentication failed' },
        }),
        'OIDC_CC_INTROSPECTION_REFUSED',
        () =>
          `The introspection endpoint refused this service's credentials: POST ${url()} answered HTTP 401 (invalid_client: client authentication failed); check clientId, the client secret or key, and that the client may introspect`,
      ],
      [
        'invalid_client with 400',
        () => ({ status: 400, body: { error: 'invalid_client' } }),
        'OIDC_CC_INTROSPECTION_REFUSED',
        () =>
          `The introspection endpoint refused this service's credentials: POST ${url()} answered HTTP 400 (invalid_client); check clientId, the client secret or key, and that the client may introspect`,
      ],
      [
        'unsupported_token_type: a token format this strategy cannot check',
        () => ({
          status: 400,
          body: {
            error: 'unsupported_token_type',
            error_description:
              'Structured JWT Tokens cannot be introspected via the introspection_endpoint',
          },
        }),
        'OIDC_CC_INTROSPECTION_REFUSED',
        () =>
          `The introspection endpoint does not introspect this kind of token: POST ${url()} answered HTTP 400 (unsupported_token_type: Structured JWT Tokens cannot be introspected via the introspection_endpoint); ID services that issue JWT access tokens may introspect only opaque ones: verify JWTs with verification.strategy 'jwt' or 'auto'`,
      ],
      [
        'another OAuth error, the echoed token redacted',
        (token) => ({
          status: 400,
          body: { error: 'invalid_request', error_description: `cannot read ${token}` },
        }),
        'OIDC_CC_INTROSPECTION_REFUSED',
        () =>
          `The introspection endpoint refused the request: POST ${url()} answered HTTP 400 (invalid_request: cannot read [redacted])`,
      ],
      [
        'a 400 HTML page without an OAuth error (a proxy)',
        () => ({ status: 400, headers: { 'content-type': 'text/html' }, body: '<h1>Bad</h1>' }),
        'OIDC_CC_INTROSPECTION_UNAVAILABLE',
        () => `Introspection failed: POST ${url()} answered HTTP 400`,
      ],
      [
        '404 with a JSON error: the endpoint is not there',
        () => ({ status: 404, body: { error: 'not_found' } }),
        'OIDC_CC_INTROSPECTION_UNAVAILABLE',
        () => `Introspection failed: POST ${url()} answered HTTP 404 (not_found)`,
      ],
      [
        '429 slow_down',
        () => ({ status: 429, body: { error: 'slow_down' } }),
        'OIDC_CC_INTROSPECTION_UNAVAILABLE',
        () => `Introspection failed: POST ${url()} answered HTTP 429 (slow_down)`,
      ],
      [
        '500 server_error',
        () => ({ status: 500, body: { error: 'server_error', error_description: 'oops' } }),
        'OIDC_CC_INTROSPECTION_UNAVAILABLE',
        () => `Introspection failed: POST ${url()} answered HTTP 500 (server_error: oops)`,
      ],
      [
        '200 HTML',
        () => ({ headers: { 'content-type': 'text/html' }, body: '<html>login</html>' }),
        'OIDC_CC_INTROSPECTION_UNAVAILABLE',
        () => `Introspection failed: POST ${url()} answered HTTP 200 with text/html, not JSON`,
      ],
    ])('%s', async (_case, response, code, message) => {
      const introspection = await strategy();
      const token = idp.mintOpaque();
      answer(response(token));
      const caught = await expectUnavailable(introspection.verify(token), code);
      expect(caught.message).toBe(message());
    });

    it('R34 unreachable: the errno and the URL without its query', async () => {
      const endpoint = `http://127.0.0.1:${await freePort()}/openid/introspect`;
      const introspection = await strategy({
        endpoints: { introspection: `${endpoint}?tenant=a` },
      });
      const caught = await expectUnavailable(introspection.verify(idp.mintOpaque()));
      expect(caught.message).toBe(
        `Introspection failed: POST ${endpoint}: connection refused (ECONNREFUSED)`,
      );
    });
  });

  it.each([
    ['HTTP 500', { status: 500, body: { error: 'server_error' } }],
    [
      'HTTP 502 HTML',
      { status: 502, headers: { 'content-type': 'text/html' }, body: '<h1>x</h1>' },
    ],
    ['200 HTML', { headers: { 'content-type': 'text/html' }, body: '<html>login</html>' }],
    ['200 invalid JSON', { headers: { 'content-type': 'application/json' }, body: '{"active":' }],
    ['200 JSON array', { body: [{ active: true }] }],
    [
      '200 a signed introspection JWT',
      {
        headers: { 'content-type': 'application/token-introspection+jwt' },
        body: 'eyJhbGciOiJub25lIn0.eyJhY3RpdmUiOnRydWV9.',
      },
    ],
    ['200 oversized', { body: { active: true, sub: 'test-client', pad: 'x'.repeat(70_000) } }],
    ['a connection reset', { reset: true }],
  ] as [string, FakeResponse][])('S63 %s: 503, not cached', async (_name, response) => {
    const introspection = await strategy();
    answer(response);
    const token = idp.mintOpaque();
    await expectUnavailable(introspection.verify(token));
    await expectUnavailable(introspection.verify(token));
    expect(introspections()).toBe(2);
  });

  it('S64 a redirect is not followed (503)', async () => {
    const introspection = await strategy();
    answer({ status: 307, headers: { location: attacker.url(PATHS.introspection) } });
    await expectUnavailable(introspection.verify(idp.mintOpaque()));
    expect(attacker.requests).toHaveLength(0);
  });

  it('R23 an unreachable endpoint is 503', async () => {
    const introspection = await strategy({ endpoints: { introspection: 'http://127.0.0.1:1/x' } });
    await expectUnavailable(introspection.verify(idp.mintOpaque()));
  });

  it('discovery failing is 503', async () => {
    const introspection = await strategy();
    idp.on(PATHS.discovery, () => ({ status: 500 }));
    const caught = await failure(introspection.verify(idp.mintOpaque()));
    expect(caught).toBeInstanceOf(ValidatorUnavailableError);
    expect((caught as ValidatorUnavailableError).code).toBe('OIDC_CC_DISCOVERY_FAILED');
  });

  it('keeps no response body, token or secret in errors', async () => {
    const introspection = await strategy();
    answer({ body: [{ echoed: 'SECRET-BODY' }] });
    const token = idp.mintOpaque();
    const caught = await failure(introspection.verify(token));
    const serialised = JSON.stringify({ message: caught.message, cause: caught.cause });
    expect(serialised).not.toContain('SECRET-BODY');
    expect(serialised).not.toContain(token);
    expect(serialised).not.toContain('api secret');
  });
});
