import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, type JWK } from 'jose';
import {
  TokenProvider,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { IssuerMetadataProvider } from '../idp/issuer-metadata.provider.js';
import { FakeIdService, PATHS, type RecordedRequest } from 'nest-oidc-client-credentials/testing';
import { until } from '../../../../test/utils/until.js';
import { resolveOptions } from '../options/resolve-options.util.js';

const SECRET = "p@ss w%rd+/=~!*()':x";

describe('TokenProvider', () => {
  let idp: FakeIdService;

  beforeAll(async () => {
    Logger.overrideLogger(false);
    // Opaque tokens are random; the fake's JWTs are equal within one second.
    idp = await FakeIdService.start({
      clients: { 'test-client': { secret: SECRET } },
      tokenFormat: 'opaque',
    });
  });
  afterAll(async () => {
    Logger.overrideLogger(new Logger());
    await idp.close();
  });
  afterEach(() => {
    jest.useRealTimers();
    idp.reset();
  });

  function provider(options: Partial<OidcClientCredentialsModuleOptions> = {}): TokenProvider {
    const resolved = resolveOptions({
      issuer: idp.issuer,
      clientId: 'test-client',
      clientSecret: SECRET,
      retry: { initialDelayMs: 1, maxDelayMs: 5 },
      ...options,
    });
    return new TokenProvider(resolved, new IssuerMetadataProvider(resolved));
  }

  const tokenRequests = () => idp.requestsTo(PATHS.token);
  const answer = (body: unknown) => idp.on(PATHS.token, () => ({ body }));
  const useFakeClock = () =>
    jest.useFakeTimers({
      doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'performance', 'hrtime'],
      now: new Date('2026-01-01T00:00:00Z'),
    });

  describe('client authentication, one method per request', () => {
    const credentialPlaces = (request: RecordedRequest) => ({
      header: request.headers.authorization !== undefined,
      body: request.form.has('client_secret') || request.form.has('client_assertion'),
      query: request.query.has('client_secret'),
    });

    it('S74 client_secret_basic: the id and secret are form-urlencoded and round-trip', async () => {
      await expect(provider().getToken()).resolves.toEqual(expect.any(String));
      const [request] = tokenRequests();
      expect(request.headers.authorization).toBe(
        'Basic dGVzdC1jbGllbnQ6cCU0MHNzK3clMjVyZCUyQiUyRiUzRCU3RSUyMSolMjglMjklMjclM0F4',
      );
      expect(credentialPlaces(request)).toEqual({ header: true, body: false, query: false });
      expect(request.form.get('grant_type')).toBe('client_credentials');
    });

    it.each([
      [
        'S74 rfc6749',
        's6BhdRkqt3',
        '7Fjfp0ZBr1KtDRbnfVdmIw',
        'czZCaGRSa3F0Mzo3RmpmcDBaQnIxS3REUmJuZlZkbUl3',
      ],
      [
        'S74 space-colon',
        'my client:1',
        "p@ss w%rd+/=~!*()'",
        'bXkrY2xpZW50JTNBMTpwJTQwc3MrdyUyNXJkJTJCJTJGJTNEJTdFJTIxKiUyOCUyOSUyNw==',
      ],
      ['S74 colons', 'client', 's3cr3t:with:colons', 'Y2xpZW50OnMzY3IzdCUzQXdpdGglM0Fjb2xvbnM='],
      ['S74 non-ascii', 'clïent', 'sécret', 'Y2wlQzMlQUZlbnQ6cyVDMyVBOWNyZXQ='],
    ])('%s vector is sent exactly and accepted', async (_case, clientId, clientSecret, basic) => {
      idp.clients[clientId] = { secret: clientSecret };
      await expect(provider({ clientId, clientSecret }).getToken()).resolves.toEqual(
        expect.any(String),
      );
      expect(tokenRequests()[0].headers.authorization).toBe(`Basic ${basic}`);
    });

    it('S75 client_secret_post: credentials only in the body', async () => {
      await provider({ clientAuthMethod: 'client_secret_post' }).getToken();
      const [request] = tokenRequests();
      expect(credentialPlaces(request)).toEqual({ header: false, body: true, query: false });
      expect(request.form.get('client_id')).toBe('test-client');
      expect(request.form.get('client_secret')).toBe(SECRET);
      expect([...request.query]).toEqual([]);
    });

    it("client_secret_query: the seed's form, credentials only in the URL query", async () => {
      await provider({ clientAuthMethod: 'client_secret_query' }).getToken();
      const [request] = tokenRequests();
      expect(request.method).toBe('POST');
      expect(credentialPlaces(request)).toEqual({ header: false, body: false, query: true });
      expect(request.query.get('client_id')).toBe('test-client');
      expect(request.query.get('client_secret')).toBe(SECRET);
      expect(request.form.has('client_id')).toBe(false);
    });

    describe('S76 private_key_jwt', () => {
      let privateKey: JWK;

      beforeEach(async () => {
        const pair = await generateKeyPair('ES256', { extractable: true });
        privateKey = { ...(await exportJWK(pair.privateKey)), kid: 'k1', alg: 'ES256' };
        const publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' };
        idp.clients['jwt-client'] = { jwks: { keys: [publicJwk] } };
      });

      const jwtProvider = (options: Partial<OidcClientCredentialsModuleOptions> = {}) =>
        provider({
          clientId: 'jwt-client',
          clientSecret: undefined,
          clientAuthMethod: 'private_key_jwt',
          privateKey,
          ...options,
        });

      it('sends a fresh, short-lived assertion for the issuer with every request', async () => {
        const tokens = jwtProvider();
        await tokens.getToken();
        await tokens.getToken({ forceRefresh: true });
        const requests = tokenRequests();
        expect(requests).toHaveLength(2);
        const assertions = requests.map((r) => r.form.get('client_assertion')!);
        const claims = assertions.map((a) => decodeJwt(a));
        const now = Math.floor(Date.now() / 1000);
        for (const [i, request] of requests.entries()) {
          expect(credentialPlaces(request)).toEqual({ header: false, body: true, query: false });
          expect(request.form.get('client_assertion_type')).toBe(
            'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          );
          expect(decodeProtectedHeader(assertions[i])).toMatchObject({ alg: 'ES256', kid: 'k1' });
          expect(decodeProtectedHeader(assertions[i]).typ).toBeUndefined();
          const { iss, sub, aud, iat, exp, jti } = claims[i];
          expect({ iss, sub, aud }).toEqual({
            iss: 'jwt-client',
            sub: 'jwt-client',
            aud: idp.issuer,
          });
          expect(Math.abs(iat! - now)).toBeLessThanOrEqual(5);
          expect(exp! - iat!).toBeGreaterThan(0);
          expect(exp! - iat!).toBeLessThanOrEqual(60);
          expect(jti).toEqual(expect.any(String));
        }
        expect(claims[0].jti).not.toBe(claims[1].jti);
        expect(assertions[0]).not.toBe(assertions[1]);
      });

      it('can type the assertion and address it to the token endpoint', async () => {
        answer({ access_token: 'opaque-1', token_type: 'Bearer', expires_in: 600 });
        await jwtProvider({
          clientAssertion: { audience: 'token_endpoint', explicitType: true },
        }).getToken();
        const assertion = tokenRequests()[0].form.get('client_assertion')!;
        expect(decodeProtectedHeader(assertion).typ).toBe('client-authentication+jwt');
        expect(decodeJwt(assertion).aud).toBe(idp.url(PATHS.token));
      });
    });
  });

  describe('cache', () => {
    it('reuses the token until the renewal point', async () => {
      const tokens = provider();
      const first = await tokens.getToken();
      await expect(tokens.getToken()).resolves.toBe(first);
      await expect(tokens.getTokenResponse()).resolves.toMatchObject({
        accessToken: first,
        tokenType: 'bearer',
      });
      expect(tokenRequests()).toHaveLength(1);
    });

    it('renews at 80% of the lifetime, from the local clock', async () => {
      useFakeClock();
      const tokens = provider();
      const first = await tokens.getToken();
      const { expiresAt } = await tokens.getTokenResponse();
      expect(expiresAt).toBe(Date.now() + 3600_000);

      jest.setSystemTime(Date.now() + 2879_000);
      await expect(tokens.getToken()).resolves.toBe(first);
      expect(tokenRequests()).toHaveLength(1);

      jest.setSystemTime(Date.now() + 2_000);
      await expect(tokens.getToken()).resolves.toBe(first);
      await until(() => tokenRequests().length === 2);
      await until(async () => (await tokens.getToken()) !== first);
      const renewed = await tokens.getTokenResponse();
      expect(renewed.expiresAt).toBe(Date.now() + 3600_000);
      expect(tokenRequests()).toHaveLength(2);
    });

    it('renews 60 s before expiry when that comes first', async () => {
      useFakeClock();
      answer({ access_token: 'short', token_type: 'Bearer', expires_in: 200 });
      const tokens = provider();
      await tokens.getToken();
      jest.setSystemTime(Date.now() + 139_000);
      await tokens.getToken();
      expect(tokenRequests()).toHaveLength(1);
      jest.setSystemTime(Date.now() + 2_000);
      await tokens.getToken();
      await until(() => tokenRequests().length === 2);
    });

    it('renews by the configured fraction of the configured default lifetime', async () => {
      useFakeClock();
      answer({ access_token: 'no-expiry', token_type: 'Bearer' });
      const tokens = provider({
        tokenRenewal: { renewAfterFraction: 0.5, defaultLifetimeSeconds: 1000 },
      });
      await tokens.getToken();
      await expect(tokens.getTokenResponse()).resolves.toMatchObject({
        expiresAt: Date.now() + 1000_000,
      });
      // 0.5 × 1000 s: long before the default 80 % (800 s) and the 60 s margin (940 s).
      jest.setSystemTime(Date.now() + 499_000);
      await tokens.getToken();
      expect(tokenRequests()).toHaveLength(1);
      jest.setSystemTime(Date.now() + 2_000);
      await tokens.getToken();
      await until(() => tokenRequests().length === 2);
    });

    it('never hands out an expired token', async () => {
      useFakeClock();
      const tokens = provider({ retry: { maxAttempts: 1 } });
      await tokens.getToken();
      idp.on(PATHS.token, () => ({ status: 503, body: { error: 'temporarily_unavailable' } }));
      jest.setSystemTime(Date.now() + 3600_000);
      await expect(tokens.getToken()).rejects.toMatchObject({
        code: 'OIDC_CC_TOKEN_ENDPOINT_UNAVAILABLE',
      });
    });

    it('R02 keeps configurations apart: one request per scope, each caller its own token', async () => {
      idp.clients['jwt-scoped'] = { secret: SECRET, tokenFormat: 'jwt' };
      const read = provider({ clientId: 'jwt-scoped', scope: 'orders:read' });
      const write = provider({ clientId: 'jwt-scoped', scope: 'orders:write' });
      const [a, b] = await Promise.all([read.getToken(), write.getToken()]);
      expect(tokenRequests()).toHaveLength(2);
      expect(decodeJwt(a).scope).toBe('orders:read');
      expect(decodeJwt(b).scope).toBe('orders:write');
      await expect(read.getToken()).resolves.toBe(a);
      await expect(write.getToken()).resolves.toBe(b);
    });

    it('sends scope, audience, resource and extra parameters', async () => {
      await provider({
        scope: ['orders:read', 'orders:write'],
        audience: 'https://orders.example.com',
        resource: ['https://a.example.com', 'https://b.example.com'],
        extraParams: { tenant: 'blue' },
      }).getToken();
      const { form } = tokenRequests()[0];
      expect(form.get('scope')).toBe('orders:read orders:write');
      expect(form.getAll('audience')).toEqual(['https://orders.example.com']);
      expect(form.getAll('resource')).toEqual(['https://a.example.com', 'https://b.example.com']);
      expect(form.get('tenant')).toBe('blue');
    });

    it('S84 accepts and exposes a narrower granted scope', async () => {
      answer({
        access_token: 'narrow',
        token_type: 'Bearer',
        expires_in: 60,
        scope: 'orders:read',
      });
      const response = await provider({ scope: 'orders:read orders:write' }).getTokenResponse();
      expect(response.scope).toBe('orders:read');
    });

    it('exposes the requested scope when the answer omits it (RFC 6749 §5.1)', async () => {
      answer({ access_token: 'same', token_type: 'Bearer', expires_in: 60 });
      const response = await provider({ scope: 'orders:read' }).getTokenResponse();
      expect(response.scope).toBe('orders:read');
    });

    it('invalidate() drops the cached token only while it is current', async () => {
      const tokens = provider();
      const first = await tokens.getToken();
      expect(tokens.invalidate('something-else')).toBe(false);
      expect(tokens.invalidate(first)).toBe(true);
      const second = await tokens.getToken();
      expect(second).not.toBe(first);
      expect(tokens.invalidate(first)).toBe(false);
      await expect(tokens.getToken()).resolves.toBe(second);
      expect(tokenRequests()).toHaveLength(2);
    });
  });

  describe('token response validation', () => {
    it.each([
      ['R10 expires_in absent → default lifetime', undefined, 300],
      ['S81 numeric string', '3600', 3600],
      ['S81 huge → capped', 1e9, 86_400],
    ])('%s', async (_case, expiresIn, lifetime) => {
      useFakeClock();
      answer({ access_token: 'tok', token_type: 'Bearer', expires_in: expiresIn });
      const tokens = provider();
      await expect(tokens.getTokenResponse()).resolves.toMatchObject({
        expiresAt: Date.now() + lifetime * 1000,
      });
      jest.setSystemTime(Date.now() + lifetime * 1000);
      idp.on(PATHS.token, () => ({ status: 400, body: { error: 'invalid_client' } }));
      await expect(tokens.getToken()).rejects.toMatchObject({
        code: 'OIDC_CC_TOKEN_REQUEST_FAILED',
      });
    });

    it('S81 expires_in 0: handed to the waiting callers once, never cached', async () => {
      answer({ access_token: 'once', token_type: 'Bearer', expires_in: 0 });
      const tokens = provider();
      const both = await Promise.all([tokens.getToken(), tokens.getToken()]);
      expect(both).toEqual(['once', 'once']);
      expect(tokenRequests()).toHaveLength(1);
      await tokens.getToken();
      expect(tokenRequests()).toHaveLength(2);
    });

    it.each([
      ['S80 bearer', 'bearer'],
      ['S80 BEARER', 'BEARER'],
      ['S80 Bearer', 'Bearer'],
    ])('%s is accepted', async (_case, tokenType) => {
      answer({ access_token: 'tok', token_type: tokenType, expires_in: 60 });
      await expect(provider().getToken()).resolves.toBe('tok');
    });

    it.each<[string, unknown]>([
      ['S80 DPoP', { access_token: 'tok', token_type: 'DPoP', expires_in: 60 }],
      ['S80 mac', { access_token: 'tok', token_type: 'mac', expires_in: 60 }],
      ['S80 missing token_type', { access_token: 'tok', expires_in: 60 }],
      ['S79 missing access_token', { token_type: 'Bearer', expires_in: 60 }],
      ['S79 empty access_token', { access_token: '', token_type: 'Bearer', expires_in: 60 }],
      ['S79 non-string access_token', { access_token: 42, token_type: 'Bearer', expires_in: 60 }],
      ['S81 negative expires_in', { access_token: 'tok', token_type: 'Bearer', expires_in: -5 }],
      ['S81 unparsable expires_in', { access_token: 'tok', token_type: 'Bearer', expires_in: 'x' }],
      ['not an object', ['tok']],
    ])('%s is refused and nothing is cached', async (_case, body) => {
      useFakeClock();
      answer(body);
      const tokens = provider();
      await expect(tokens.getToken()).rejects.toMatchObject({
        name: 'TokenRequestError',
        code: 'OIDC_CC_TOKEN_RESPONSE_INVALID',
      });
      expect(tokenRequests()).toHaveLength(1);
      idp.reset();
      jest.setSystemTime(Date.now() + 5_000);
      await expect(tokens.getToken()).resolves.not.toBe('tok');
      expect(tokenRequests()).toHaveLength(1);
    });
  });

  describe('configuration', () => {
    it.each<[string, Partial<OidcClientCredentialsModuleOptions>, string]>([
      ['no client options', { clientId: undefined, clientSecret: undefined }, 'clientId'],
      ['a client id alone', { clientSecret: undefined }, 'clientSecret'],
      [
        'a client id alone, private_key_jwt',
        { clientSecret: undefined, clientAuthMethod: 'private_key_jwt' },
        'privateKey',
      ],
    ])(
      'an inbound-only service boots (%s); getToken() names the missing option',
      async (_case, options, option) => {
        const tokens = provider(options);
        await expect(tokens.onModuleInit()).resolves.toBeUndefined();
        await expect(tokens.getToken()).rejects.toMatchObject({
          code: 'OIDC_CC_CONFIGURATION_INVALID',
          option,
        });
        expect(idp.requests).toHaveLength(0);
      },
    );

    it.each<[string, Partial<OidcClientCredentialsModuleOptions>, string]>([
      ['client id missing', { clientId: undefined }, 'clientId'],
    ])('a half-configured outbound side fails at startup (%s)', async (_case, options, option) => {
      await expect(provider(options).onModuleInit()).rejects.toMatchObject({
        code: 'OIDC_CC_CONFIGURATION_INVALID',
        option,
      });
    });
  });
});
