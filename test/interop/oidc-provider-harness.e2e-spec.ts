import { randomUUID } from 'node:crypto';
import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  jwtVerify,
  SignJWT,
} from 'jose';
import {
  startOidcProvider,
  type OidcProviderClient,
  type RunningOidcProvider,
} from '../utils/oidc-provider.js';

// A secret full of characters that RFC 6749 §2.3.1 form-urlencoding changes.
const APP_SECRET = "p@ss w%rd+/=~!*()':x";
const CLIENTS: OidcProviderClient[] = [
  { client_id: 'orders-app', client_secret: APP_SECRET, scope: 'orders:read orders:write' },
  { client_id: 'resource-server', client_secret: 'rs-secret' },
  { client_id: 'bystander', client_secret: 'bystander-secret' },
];

const formEncode = (value: string): string =>
  new URLSearchParams({ v: value }).toString().slice('v='.length);
const basic = (id: string, secret: string): string =>
  `Basic ${Buffer.from(`${formEncode(id)}:${formEncode(secret)}`).toString('base64')}`;

async function clientCredentialsToken(
  op: RunningOidcProvider,
  form: Record<string, string> = {},
): Promise<{ access_token: string; token_type: string; expires_in: number; scope?: string }> {
  const response = await fetch(op.endpoints.token, {
    method: 'POST',
    headers: {
      authorization: basic('orders-app', APP_SECRET),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', ...form }),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as Awaited<ReturnType<typeof clientCredentialsToken>>;
}

async function introspect(
  op: RunningOidcProvider,
  token: string,
  [id, secret]: [string, string],
): Promise<Record<string, unknown>> {
  const response = await fetch(op.endpoints.introspection, {
    method: 'POST',
    headers: {
      authorization: basic(id, secret),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ token }),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as Record<string, unknown>;
}

describe('oidc-provider harness', () => {
  describe('opaque access tokens', () => {
    let op: RunningOidcProvider;
    beforeAll(async () => {
      op = await startOidcProvider({
        clients: CLIENTS,
        accessTokenFormat: 'opaque',
        ttlSeconds: 600,
        introspectors: ['resource-server'],
      });
    });
    afterAll(() => op.close());

    it('publishes discovery with the seed paths and an exact http loopback issuer', async () => {
      const response = await fetch(`${op.issuer}/.well-known/openid-configuration`);
      const metadata = (await response.json()) as Record<string, unknown>;
      expect(op.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(metadata).toMatchObject({
        issuer: op.issuer,
        token_endpoint: `${op.issuer}/openid/token`,
        introspection_endpoint: `${op.issuer}/openid/introspect`,
        userinfo_endpoint: `${op.issuer}/openid/userinfo`,
        jwks_uri: `${op.issuer}/openid/jwks.json`,
      });
      expect(metadata.grant_types_supported).toContain('client_credentials');
    });

    it('issues a token for Basic with a form-urlencoded secret, introspectable by the resource server', async () => {
      const token = await clientCredentialsToken(op, { scope: 'orders:read' });
      expect(token).toMatchObject({ token_type: 'Bearer', expires_in: 600, scope: 'orders:read' });
      expect(token.access_token.split('.')).toHaveLength(1);

      const answer = await introspect(op, token.access_token, ['resource-server', 'rs-secret']);
      expect(answer).toMatchObject({
        active: true,
        client_id: 'orders-app',
        iss: op.issuer,
        scope: 'orders:read',
        aud: 'orders-app',
        token_type: 'Bearer',
      });
      expect(answer.exp).toEqual(expect.any(Number));
    });

    it('answers inactive to a client not configured as an introspector', async () => {
      const token = await clientCredentialsToken(op);
      await expect(
        introspect(op, token.access_token, ['bystander', 'bystander-secret']),
      ).resolves.toEqual({ active: false });
    });

    it('rejects a wrong secret with invalid_client', async () => {
      const response = await fetch(op.endpoints.token, {
        method: 'POST',
        headers: { authorization: basic('orders-app', 'wrong') },
        body: new URLSearchParams({ grant_type: 'client_credentials' }),
      });
      expect(response.status).toBe(401);
      await expect(response.json()).resolves.toMatchObject({ error: 'invalid_client' });
    });
  });

  describe('JWT access tokens', () => {
    let op: RunningOidcProvider;
    beforeAll(async () => {
      op = await startOidcProvider({ clients: CLIENTS, accessTokenFormat: 'jwt' });
    });
    afterAll(() => op.close());

    it('issues an RS256 at+jwt shaped like the seed (iss, sub = aud = client id) verifiable with the JWKS', async () => {
      const { access_token: token, expires_in } = await clientCredentialsToken(op);
      expect(expires_in).toBe(3600);
      const header = decodeProtectedHeader(token);
      expect(header).toMatchObject({ alg: 'RS256', typ: 'at+jwt', kid: expect.any(String) });

      const jwks = createRemoteJWKSet(new URL(op.endpoints.jwks));
      const { payload } = await jwtVerify(token, jwks, {
        issuer: op.issuer,
        audience: 'orders-app',
        typ: 'at+jwt',
      });
      expect(payload).toMatchObject({ sub: 'orders-app', client_id: 'orders-app' });
    });

    it('uses an explicit resource indicator as the audience', async () => {
      const { access_token: token } = await clientCredentialsToken(op, {
        resource: 'https://orders.example.com',
      });
      const jwks = createRemoteJWKSet(new URL(op.endpoints.jwks));
      await expect(
        jwtVerify(token, jwks, { issuer: op.issuer, audience: 'https://orders.example.com' }),
      ).resolves.toBeDefined();
    });
  });

  it('accepts private_key_jwt for a client registered with its public JWKS', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const publicJwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    const op = await startOidcProvider({
      clients: [
        {
          client_id: 'signer',
          token_endpoint_auth_method: 'private_key_jwt',
          jwks: { keys: [publicJwk] },
        },
      ],
      accessTokenFormat: 'opaque',
    });
    try {
      const assertion = await new SignJWT({ jti: randomUUID() })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer('signer')
        .setSubject('signer')
        .setAudience(op.issuer)
        .setIssuedAt()
        .setExpirationTime('60s')
        .sign(privateKey);
      const response = await fetch(op.endpoints.token, {
        method: 'POST',
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: 'signer',
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: assertion,
        }),
      });
      expect(response.status).toBe(200);
    } finally {
      await op.close();
    }
  });

  it('fails to start, naming the problem, when a client is misconfigured', async () => {
    const bad = {
      client_id: 'bad',
      token_endpoint_auth_method: 'nope',
    } as unknown as OidcProviderClient;
    await expect(startOidcProvider({ clients: [bad], accessTokenFormat: 'jwt' })).rejects.toThrow(
      /client bad: client_secret is mandatory/,
    );
  });

  it('close() stops the provider process', async () => {
    const op = await startOidcProvider({ clients: CLIENTS, accessTokenFormat: 'opaque' });
    const discovery = `${op.issuer}/.well-known/openid-configuration`;
    expect((await fetch(discovery)).status).toBe(200);
    await op.close();
    await op.close();
    await expect(fetch(discovery)).rejects.toThrow();
  });
});
