import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair } from 'jose';
import {
  FakeIdService,
  IdServiceEndpoints,
  PATHS,
  recordRequest,
  type FakeClient,
} from 'nest-oidc-client-credentials/testing';

const CLIENTS: Record<string, FakeClient> = {
  api: { secret: 'api-secret' },
  nosy: { secret: 'nosy-secret', canIntrospect: false },
  app: { secret: 'app-secret', scopes: ['orders:read'] },
  free: { secret: 'free-secret', scope: 'stock:read stock:write' },
};

describe('the introspection, userinfo and discovery endpoints of the testing kit', () => {
  let idp: FakeIdService;

  beforeAll(async () => {
    idp = await FakeIdService.start({ clients: CLIENTS, alg: 'ES256' });
  });
  afterAll(() => idp.close());

  const introspect = (body: string, clientId = 'api') =>
    fetch(idp.url(PATHS.introspection), {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${clientId}:${clientId}-secret`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body,
    });

  it.each<[string, () => Promise<Response>, number, Record<string, unknown>]>([
    [
      'a live token',
      async () => introspect(`token=${idp.mintOpaque('app')}`),
      200,
      { active: true },
    ],
    [
      'a client that may not introspect',
      async () => introspect(`token=${idp.mintOpaque('app')}`, 'nosy'),
      200,
      { active: false },
    ],
    ['no token (RFC 7662 §2.1)', async () => introspect(''), 400, { error: 'invalid_request' }],
    [
      'a repeated token',
      async () => introspect(`token=${idp.mintOpaque()}&token=${idp.mintOpaque()}`),
      400,
      { error: 'invalid_request' },
    ],
  ])('introspection answers %s', async (_case, send, status, body) => {
    const response = await send();

    expect(response.status).toBe(status);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await response.json()).toMatchObject(body);
  });

  const userinfo = (init: RequestInit = {}) => fetch(idp.url(PATHS.userinfo), init);
  const form = { 'content-type': 'application/x-www-form-urlencoded' };

  it.each<[string, () => Promise<Response>, number, string | null]>([
    [
      'a token in the header',
      async () => userinfo({ headers: { authorization: `Bearer ${idp.mintOpaque('app')}` } }),
      200,
      null,
    ],
    [
      'a token in the form body of a POST (RFC 6750 §2.2)',
      async () =>
        userinfo({ method: 'POST', headers: form, body: `access_token=${idp.mintOpaque('app')}` }),
      200,
      null,
    ],
    ['no token (RFC 6750 §3.1)', async () => userinfo(), 401, 'Bearer realm="id-service"'],
    [
      'a malformed token',
      async () => userinfo({ headers: { authorization: 'Bearer {"sub":"app"}' } }),
      401,
      'Bearer realm="id-service", error="invalid_token"',
    ],
    [
      'a token in the header and the body (RFC 6750 §2)',
      async () => {
        const token = idp.mintOpaque('app');
        const headers = { ...form, authorization: `Bearer ${token}` };
        return userinfo({ method: 'POST', headers, body: `access_token=${token}` });
      },
      400,
      'Bearer realm="id-service", error="invalid_request"',
    ],
  ])('userinfo answers %s', async (_case, send, status, challenge) => {
    const response = await send();

    expect(response.status).toBe(status);
    expect(response.headers.get('www-authenticate')).toBe(challenge);
    if (status === 200) expect(await response.json()).toEqual({ sub: 'app' });
  });

  it('publishes every client scope and the client authentication methods', async () => {
    const metadata = (await (await fetch(idp.url(PATHS.discovery))).json()) as Record<
      string,
      unknown
    >;

    expect(metadata).toMatchObject({
      issuer: idp.issuer,
      scopes_supported: ['orders:read', 'stock:read', 'stock:write'],
      token_endpoint_auth_methods_supported: [
        'client_secret_basic',
        'client_secret_post',
        'private_key_jwt',
      ],
      id_token_signing_alg_values_supported: ['ES256'],
    });
  });
});

describe('IdServiceEndpoints without an HTTP server', () => {
  const issuer = 'https://id.example.com';
  const tokenRequest = (clientId: string) =>
    recordRequest({
      method: 'POST',
      url: PATHS.token,
      headers: {
        authorization: `Basic ${Buffer.from(`${clientId}:${clientId}-secret`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'grant_type=client_credentials',
    });

  it.each<[string, string, string, number]>([
    ['an unknown path', 'GET', '/openid/other', 404],
    ['the token endpoint with GET', 'GET', PATHS.token, 404],
    ['the JWKS', 'GET', PATHS.jwks, 200],
  ])('routes %s', async (_case, method, url, status) => {
    const endpoints = await IdServiceEndpoints.create({ clients: CLIENTS, issuer, alg: 'ES256' });

    const answer = await endpoints.handle(recordRequest({ method, url, headers: {}, body: '' }));

    expect(answer.status ?? 200).toBe(status);
  });

  it('issues the plain payload, without jti, when uniqueJwtIds is off', async () => {
    const endpoints = await IdServiceEndpoints.create({
      clients: CLIENTS,
      issuer,
      alg: 'ES256',
      uniqueJwtIds: false,
    });

    const answer = await endpoints.handle(tokenRequest('app'));

    const { access_token: token } = answer.body as { access_token: string };
    expect(Object.keys(decodeJwt(token)).sort()).toEqual([
      'aud',
      'exp',
      'iat',
      'iss',
      'scope',
      'sub',
    ]);
  });

  it('signs with loaded private JWKs, and a revoked key’s tokens are inactive', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(privateKey)), alg: 'ES256', kid: 'loaded-1' };
    const endpoints = await IdServiceEndpoints.create({
      clients: CLIENTS,
      issuer,
      signingKeys: [jwk],
    });
    const { accessToken } = await endpoints.tokens.issue('app', []);
    expect(decodeProtectedHeader(accessToken).kid).toBe('loaded-1');
    expect(await endpoints.tokens.inspect(accessToken)).toMatchObject({ sub: 'app' });

    await endpoints.keys.revoke('loaded-1');

    expect(await endpoints.tokens.inspect(accessToken)).toBeUndefined();
    expect(endpoints.keys.current.kid).not.toBe('loaded-1');
    expect(endpoints.keys.jwks().keys.map((k) => k.kid)).toEqual([endpoints.keys.current.kid]);
  });

  it.each<[string, FakeClient['canIntrospect'], boolean]>([
    ['may introspect by default', undefined, true],
    ['may not introspect with canIntrospect: false', false, false],
  ])('a client %s', async (_case, canIntrospect, active) => {
    const warnings: string[] = [];
    const endpoints = await IdServiceEndpoints.create({
      clients: { api: { secret: 'api-secret', canIntrospect } },
      issuer,
      onWarning: (message) => warnings.push(message),
    });
    const token = endpoints.tokens.mintOpaque('api');

    const answer = await endpoints.handle(
      recordRequest({
        method: 'POST',
        url: PATHS.introspection,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `client_id=api&client_secret=api-secret&token=${token}`,
      }),
    );

    expect(answer.body).toMatchObject({ active });
    expect(warnings).toHaveLength(active ? 0 : 1);
  });
});
