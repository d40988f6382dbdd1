import {
  exportJWK,
  generateKeyPair,
  SignJWT,
  createRemoteJWKSet,
  jwtVerify,
  decodeProtectedHeader,
} from 'jose';
import { randomUUID } from 'node:crypto';
import { createIdService, type IdServiceHandle } from './id-service.js';
import type { IdServiceClients } from './id-service.config.js';

const ODD_ID = 'my client:1';
const ODD_SECRET = "p@ss w%rd+/=~!*()'";

interface TokenBody {
  access_token: string;
  expires_in: number;
  scope?: string;
  error?: string;
}

describe('id-service token endpoint', () => {
  let idService: IdServiceHandle;
  let tokenUrl: string;
  let assertionKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    assertionKey = pair.privateKey;
    const clients: IdServiceClients = {
      app: { secret: 'app-secret', scopes: ['orders:read', 'orders:write'] },
      opaque: { secret: 'opaque-secret', tokenFormat: 'opaque', lifetimeSeconds: 600 },
      strict: { secret: 'strict-secret', jwtProfile: 'rfc9068' },
      [ODD_ID]: { secret: ODD_SECRET },
      signer: {
        jwks: { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }] },
      },
    };
    idService = await createIdService({ clients, logger: false });
    tokenUrl = `${idService.issuer}/openid/token`;
  });

  afterAll(() => idService.close());

  const form = (params: Record<string, string>) => ({
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params).toString(),
  });
  const basic = (id: string, secret: string) =>
    `Basic ${Buffer.from(`${formEncode(id)}:${formEncode(secret)}`).toString('base64')}`;

  it('answers the seed curl: every parameter in the URL query of a POST', async () => {
    const query = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: 'app',
      client_secret: 'app-secret',
    });
    const res = await fetch(`${tokenUrl}?${query}`, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as TokenBody;
    expect(body).toEqual({
      access_token: expect.any(String),
      token_type: 'Bearer',
      expires_in: 3600,
      scope: 'orders:read orders:write',
    });
  });

  it('accepts Basic with the id and secret form-urlencoded first (RFC 6749 §2.3.1)', async () => {
    const res = await fetch(tokenUrl, {
      ...form({ grant_type: 'client_credentials' }),
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: basic(ODD_ID, ODD_SECRET),
      },
    });
    expect(res.status).toBe(200);
  });

  it('refuses Basic built without the form-urlencoding', async () => {
    const naive = `Basic ${Buffer.from(`${ODD_ID}:${ODD_SECRET}`).toString('base64')}`;
    const res = await fetch(tokenUrl, {
      ...form({ grant_type: 'client_credentials' }),
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: naive },
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic /);
    expect(await res.json()).toMatchObject({ error: 'invalid_client' });
  });

  it('accepts the id and secret in the form body', async () => {
    const res = await fetch(
      tokenUrl,
      form({ grant_type: 'client_credentials', client_id: 'app', client_secret: 'app-secret' }),
    );
    expect(res.status).toBe(200);
  });

  it('issues JWTs shaped like the seed payload, signed by a published key', async () => {
    const res = await fetch(
      tokenUrl,
      form({
        grant_type: 'client_credentials',
        client_id: 'app',
        client_secret: 'app-secret',
        scope: 'orders:read',
      }),
    );
    const { access_token: token, expires_in: expiresIn } = (await res.json()) as TokenBody;
    const jwks = createRemoteJWKSet(new URL(`${idService.issuer}/openid/jwks.json`));
    const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer: idService.issuer });
    expect(Object.keys(payload).sort()).toEqual(['aud', 'exp', 'iat', 'iss', 'scope', 'sub']);
    expect(payload).toMatchObject({ sub: 'app', aud: 'app', scope: 'orders:read' });
    expect(payload.exp! - payload.iat!).toBe(expiresIn);
    expect(protectedHeader.kid).toBe(idService.currentKid());
  });

  it('adds typ at+jwt, client_id and jti for an rfc9068 client', async () => {
    const res = await fetch(
      tokenUrl,
      form({
        grant_type: 'client_credentials',
        client_id: 'strict',
        client_secret: 'strict-secret',
      }),
    );
    const { access_token: token } = (await res.json()) as TokenBody;
    const { payload } = await jwtVerify(
      token,
      createRemoteJWKSet(new URL(`${idService.issuer}/openid/jwks.json`)),
    );
    expect(decodeProtectedHeader(token).typ).toBe('at+jwt');
    expect(payload).toMatchObject({ client_id: 'strict', jti: expect.any(String) });
  });

  it('issues opaque tokens for an opaque client, with its lifetime', async () => {
    const res = await fetch(
      tokenUrl,
      form({
        grant_type: 'client_credentials',
        client_id: 'opaque',
        client_secret: 'opaque-secret',
      }),
    );
    const body = (await res.json()) as TokenBody;
    expect(body.access_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(body.expires_in).toBe(600);
    expect(body.scope).toBeUndefined();
  });

  describe('private_key_jwt (RFC 7523)', () => {
    const assertion = (audience = idService.issuer) =>
      new SignJWT({ jti: randomUUID() })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer('signer')
        .setSubject('signer')
        .setAudience(audience)
        .setIssuedAt()
        .setExpirationTime('60s')
        .sign(assertionKey);
    const withAssertion = (jwt: string) =>
      form({
        grant_type: 'client_credentials',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: jwt,
      });

    it('accepts a fresh assertion once, and refuses its replay', async () => {
      const jwt = await assertion();
      expect((await fetch(tokenUrl, withAssertion(jwt))).status).toBe(200);
      expect((await fetch(tokenUrl, withAssertion(jwt))).status).toBe(401);
    });

    it('refuses an assertion for another audience', async () => {
      const jwt = await assertion('https://elsewhere.example');
      expect((await fetch(tokenUrl, withAssertion(jwt))).status).toBe(401);
    });
  });

  it.each<[string, RequestInit, number, string]>([
    ['no client authentication', form({ grant_type: 'client_credentials' }), 401, 'invalid_client'],
    [
      'wrong secret',
      form({ grant_type: 'client_credentials', client_id: 'app', client_secret: 'nope' }),
      401,
      'invalid_client',
    ],
    [
      'unknown client',
      form({ grant_type: 'client_credentials', client_id: 'constructor', client_secret: 'x' }),
      401,
      'invalid_client',
    ],
    [
      'two authentication methods (Basic and body, RFC 6749 §2.3)',
      {
        ...form({
          grant_type: 'client_credentials',
          client_id: 'app',
          client_secret: 'app-secret',
        }),
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from('app:app-secret').toString('base64')}`,
        },
      },
      400,
      'invalid_request',
    ],
    [
      'Basic for one client, client_id of another',
      {
        ...form({ grant_type: 'client_credentials', client_id: 'opaque' }),
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from('app:app-secret').toString('base64')}`,
        },
      },
      401,
      'invalid_client',
    ],
    [
      'grant_type missing',
      form({ client_id: 'app', client_secret: 'app-secret' }),
      400,
      'invalid_request',
    ],
    [
      'grant_type password',
      form({ grant_type: 'password', client_id: 'app', client_secret: 'app-secret' }),
      400,
      'unsupported_grant_type',
    ],
    [
      'scope not allowed for the client',
      form({
        grant_type: 'client_credentials',
        client_id: 'app',
        client_secret: 'app-secret',
        scope: 'orders:read admin',
      }),
      400,
      'invalid_scope',
    ],
    [
      'repeated parameter',
      {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials&client_id=app&client_secret=app-secret&scope=a&scope=b',
      },
      400,
      'invalid_request',
    ],
  ])('%s is refused', async (_case, init, status, error) => {
    const res = await fetch(tokenUrl, init);
    expect(res.status).toBe(status);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as TokenBody;
    expect(body.error).toBe(error);
    expect(body.access_token).toBeUndefined();
    if (status === 401) expect(res.headers.get('www-authenticate')).toMatch(/^Basic /);
  });

  it('has no GET token endpoint', async () => {
    expect((await fetch(`${tokenUrl}?grant_type=client_credentials`)).status).toBe(404);
  });
});

function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}
