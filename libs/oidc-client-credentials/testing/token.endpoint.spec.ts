import { randomUUID } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { FakeIdService, PATHS } from 'nest-oidc-client-credentials/testing';

interface TokenBody {
  access_token?: string;
  scope?: string;
  error?: string;
}

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

describe('the token endpoint of the testing kit', () => {
  let idp: FakeIdService;
  let assertionKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    assertionKey = pair.privateKey;
    idp = await FakeIdService.start({
      clients: {
        app: { secret: 'app-secret', scopes: ['orders:read', 'orders:write'] },
        free: { secret: 'free-secret', scope: 'stock:read' },
        strict: { secret: 'strict-secret', jwtProfile: 'rfc9068' },
        signer: {
          jwks: { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }] },
        },
      },
      alg: 'ES256',
    });
  });
  afterAll(() => idp.close());

  const post = (body: string, headers: Record<string, string> = {}, query = '') =>
    fetch(`${idp.url(PATHS.token)}${query}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body,
    });
  const basic = (credentials: string) => ({
    authorization: `Basic ${Buffer.from(credentials).toString('base64')}`,
  });
  const grant = (params: Record<string, string>) =>
    new URLSearchParams({ grant_type: 'client_credentials', ...params }).toString();

  it.each<[string, () => Promise<Response>, number, string]>([
    ['no client authentication', () => post(grant({})), 401, 'invalid_client'],
    [
      'two authentication methods (RFC 6749 §2.3)',
      () => post(grant({ client_id: 'app', client_secret: 'app-secret' }), basic('app:app-secret')),
      400,
      'invalid_request',
    ],
    [
      'Basic for one client, client_id of another',
      () => post(grant({ client_id: 'free' }), basic('app:app-secret')),
      401,
      'invalid_client',
    ],
    [
      'grant_type missing',
      () => post('client_id=app&client_secret=app-secret'),
      400,
      'invalid_request',
    ],
    [
      'grant_type password',
      () => post(grant({ grant_type: 'password' }), basic('app:app-secret')),
      400,
      'unsupported_grant_type',
    ],
    [
      'scope outside the client’s scopes',
      () => post(grant({ scope: 'orders:read admin' }), basic('app:app-secret')),
      400,
      'invalid_scope',
    ],
    [
      'repeated parameter (RFC 6749 §3.1)',
      () => post(`${grant({})}&scope=a&scope=b`, basic('free:free-secret')),
      400,
      'invalid_request',
    ],
    [
      'a parameter in the query and in the body',
      () => post(grant({}), basic('free:free-secret'), '?grant_type=client_credentials'),
      400,
      'invalid_request',
    ],
  ])('%s is refused', async (_case, send, status, error) => {
    const response = await send();

    expect(response.status).toBe(status);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const body = (await response.json()) as TokenBody;
    expect(body.error).toBe(error);
    expect(body.access_token).toBeUndefined();
    if (status === 401) expect(response.headers.get('www-authenticate')).toMatch(/^Basic /);
  });

  it.each<[string, string, Record<string, string>, string | undefined]>([
    ['a client without scopes gets the scope it asks for', 'free', { scope: 'x:y' }, 'x:y'],
    ['a client without scopes that asks none gets its scope', 'free', {}, 'stock:read'],
    ['a client with scopes that asks none gets them all', 'app', {}, 'orders:read orders:write'],
    [
      'a scope asked twice is granted once',
      'app',
      { scope: 'orders:read orders:read' },
      'orders:read',
    ],
  ])('%s', async (_case, clientId, params, granted) => {
    const response = await post(grant(params), basic(`${clientId}:${clientId}-secret`));

    const body = (await response.json()) as TokenBody;
    expect(body.scope).toBe(granted);
    expect(decodeJwt(body.access_token!).scope).toBe(granted);
  });

  it('takes resource several times (RFC 8707 §2)', async () => {
    const resources = 'resource=https%3A%2F%2Fa.example&resource=https%3A%2F%2Fb.example';
    const response = await post(`${grant({})}&${resources}`, basic('free:free-secret'));

    expect(response.status).toBe(200);
  });

  it('has no GET token endpoint', async () => {
    expect((await fetch(`${idp.url(PATHS.token)}?grant_type=client_credentials`)).status).toBe(404);
  });

  it.each<[string, string, Record<string, unknown>, string[]]>([
    ['default', 'free', { typ: 'JWT' }, ['aud', 'exp', 'iat', 'iss', 'jti', 'scope', 'sub']],
    [
      'rfc9068',
      'strict',
      { typ: 'at+jwt' },
      ['aud', 'client_id', 'exp', 'iat', 'iss', 'jti', 'sub'],
    ],
  ])('issues JWTs of the %s profile', async (_profile, clientId, header, claims) => {
    const issue = async () =>
      ((await (await post(grant({}), basic(`${clientId}:${clientId}-secret`))).json()) as TokenBody)
        .access_token!;

    const [first, second] = [await issue(), await issue()];

    expect(decodeProtectedHeader(first)).toEqual({ alg: 'ES256', kid: idp.currentKid, ...header });
    expect(Object.keys(decodeJwt(first)).sort()).toEqual(claims);
    expect(decodeJwt(first).jti).not.toBe(decodeJwt(second).jti);
  });

  describe('private_key_jwt (RFC 7523)', () => {
    const assertion = (claims: { aud?: string; exp?: string } = {}) =>
      new SignJWT({ jti: randomUUID() })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer('signer')
        .setSubject('signer')
        .setAudience(claims.aud ?? idp.issuer)
        .setIssuedAt()
        .setExpirationTime(claims.exp ?? '60s')
        .sign(assertionKey);
    const withAssertion = (jwt: string, type = JWT_BEARER) =>
      post(grant({ client_assertion_type: type, client_assertion: jwt }));

    it.each<[string, () => Promise<string>, string | undefined, number]>([
      ['addressed to the issuer', () => assertion(), undefined, 200],
      [
        'addressed to the token endpoint',
        () => assertion({ aud: idp.url(PATHS.token) }),
        undefined,
        200,
      ],
      [
        'addressed elsewhere',
        () => assertion({ aud: 'https://elsewhere.example' }),
        undefined,
        401,
      ],
      ['valid for more than 5 minutes', () => assertion({ exp: '10m' }), undefined, 401],
      ['of another assertion type', () => assertion(), 'urn:example:other', 401],
    ])('an assertion %s', async (_case, sign, type, status) => {
      expect((await withAssertion(await sign(), type)).status).toBe(status);
    });

    it('accepts an assertion once, and refuses its replay', async () => {
      const jwt = await assertion();

      expect((await withAssertion(jwt)).status).toBe(200);
      expect((await withAssertion(jwt)).status).toBe(401);
    });
  });
});
