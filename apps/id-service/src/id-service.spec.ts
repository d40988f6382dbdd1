import type { AddressInfo } from 'node:net';
import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  jwtVerify,
} from 'jose';
import { DEFAULT_CLIENTS_FILE, loadClientsFile, validateClients } from './id-service.config.js';
import { createIdService, type IdServiceHandle } from './id-service.js';

interface JsonBody {
  keys?: { kid: string }[];
  [name: string]: unknown;
}

describe('id-service discovery, keys and dev API', () => {
  let idService: IdServiceHandle;

  beforeAll(async () => {
    idService = await createIdService({
      clients: { app: { secret: 'app-secret', scopes: ['orders:read'] } },
      logger: false,
    });
  });

  afterAll(() => idService.close());

  const get = async (path: string) => {
    const res = await fetch(`${idService.issuer}${path}`);
    return { status: res.status, body: (await res.json()) as JsonBody };
  };

  it('publishes discovery whose issuer is its base URL exactly', async () => {
    expect(idService.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const { status, body } = await get('/.well-known/openid-configuration');
    expect(status).toBe(200);
    expect(body).toMatchObject({
      issuer: idService.issuer,
      token_endpoint: `${idService.issuer}/openid/token`,
      introspection_endpoint: `${idService.issuer}/openid/introspect`,
      userinfo_endpoint: `${idService.issuer}/openid/userinfo`,
      jwks_uri: `${idService.issuer}/openid/jwks.json`,
      grant_types_supported: ['client_credentials'],
      scopes_supported: ['orders:read'],
    });
  });

  it('publishes public keys only, each with a kid and alg', async () => {
    const { body } = await get('/openid/jwks.json');
    expect(body.keys).toHaveLength(1);
    const [key] = body.keys!;
    expect(key).toMatchObject({
      kid: idService.currentKid(),
      alg: 'RS256',
      use: 'sig',
      kty: 'RSA',
    });
    for (const privatePart of ['d', 'p', 'q', 'dp', 'dq', 'qi'])
      expect(key).not.toHaveProperty(privatePart);
  });

  it('rotates keys through the dev API: the new one signs, the old one stays published', async () => {
    const before = idService.currentKid();
    const res = await fetch(`${idService.issuer}/_dev/keys/rotate`, { method: 'POST' });
    const { kid } = (await res.json()) as { kid: string };
    expect(kid).not.toBe(before);
    expect(idService.currentKid()).toBe(kid);
    const { body } = await get('/openid/jwks.json');
    expect(body.keys!.map((k) => k.kid)).toEqual([before, kid]);
  });

  it('revokes a key through the dev API: unpublished, unknown kids are 404', async () => {
    const old = idService.currentKid();
    await idService.rotateKey();
    const res = await fetch(`${idService.issuer}/_dev/keys/${old}/revoke`, { method: 'POST' });
    expect(res.status).toBe(204);
    const { body } = await get('/openid/jwks.json');
    expect(body.keys!.map((k) => k.kid)).not.toContain(old);
    const again = await fetch(`${idService.issuer}/_dev/keys/${old}/revoke`, { method: 'POST' });
    expect(again.status).toBe(404);
  });

  it('revokes a token through the dev API', async () => {
    const { accessToken } = await idService.issueToken('app');
    const res = await fetch(`${idService.issuer}/_dev/tokens/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: accessToken }).toString(),
    });
    expect(res.status).toBe(204);
    const userinfo = await fetch(`${idService.issuer}/openid/userinfo`, {
      headers: { authorization: `Bearer ${accessToken}` },
    });
    expect(userinfo.status).toBe(401);
  });

  it('counts calls per protocol endpoint, not dev API calls', async () => {
    idService.resetStats();
    await get('/.well-known/openid-configuration');
    await get('/openid/jwks.json');
    await get('/openid/jwks.json');
    await fetch(`${idService.issuer}/openid/token`, { method: 'POST' });
    const { body } = await get('/_dev/stats');
    expect(body).toEqual({ discovery: 1, jwks: 2, token: 1, introspection: 0, userinfo: 0 });
    expect(idService.stats()).toEqual(body);
  });

  it('has no dev API when it is switched off', async () => {
    const quiet = await createIdService({ clients: {}, devApi: false, logger: false });
    try {
      const res = await fetch(`${quiet.issuer}/_dev/keys/rotate`, { method: 'POST' });
      expect(res.status).toBe(404);
    } finally {
      await quiet.close();
    }
  });

  it('uses a configured issuer as is, without a trailing slash', async () => {
    const proxied = await createIdService({
      clients: {},
      issuer: 'https://id.dev.example/',
      logger: false,
    });
    try {
      expect(proxied.issuer).toBe('https://id.dev.example');
      const { port } = proxied.app.getHttpServer().address() as AddressInfo;
      const res = await fetch(`http://127.0.0.1:${port}/.well-known/openid-configuration`);
      const body = (await res.json()) as JsonBody;
      expect(body.issuer).toBe('https://id.dev.example');
      expect(body.token_endpoint).toBe('https://id.dev.example/openid/token');
    } finally {
      await proxied.close();
    }
  });
});

describe('id-service signing keys', () => {
  it.each(['ES256', 'EdDSA'] as const)('generates %s keys when asked', async (alg) => {
    const idService = await createIdService({
      clients: { app: { secret: 's' } },
      alg,
      logger: false,
    });
    try {
      const { accessToken } = await idService.issueToken('app');
      expect(decodeProtectedHeader(accessToken)).toMatchObject({
        alg,
        kid: idService.currentKid(),
      });
      const jwks = createRemoteJWKSet(new URL(`${idService.issuer}/openid/jwks.json`));
      await expect(
        jwtVerify(accessToken, jwks, { issuer: idService.issuer }),
      ).resolves.toBeDefined();
    } finally {
      await idService.close();
    }
  });

  it('signs with loaded private JWKs, keeping their kid', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(privateKey)), alg: 'ES256', kid: 'loaded-1' };
    const idService = await createIdService({
      clients: { app: { secret: 's' } },
      signingKeys: [jwk],
      logger: false,
    });
    try {
      expect(idService.currentKid()).toBe('loaded-1');
      const { accessToken } = await idService.issueToken('app');
      expect(decodeProtectedHeader(accessToken).kid).toBe('loaded-1');
      const res = await fetch(`${idService.issuer}/openid/jwks.json`);
      const { keys } = (await res.json()) as { keys: Record<string, unknown>[] };
      expect(keys).toEqual([expect.objectContaining({ kid: 'loaded-1', crv: 'P-256' })]);
      expect(keys[0]).not.toHaveProperty('d');
    } finally {
      await idService.close();
    }
  });
});

describe('id-service clients file', () => {
  it('loads the checked-in development file, which says it is for development only', async () => {
    const clients = loadClientsFile(DEFAULT_CLIENTS_FILE);
    expect(Object.keys(clients)).toEqual(
      expect.arrayContaining(['demo-client', 'demo-client-opaque', 'demo-api']),
    );
    const { readFile } = await import('node:fs/promises');
    const raw = JSON.parse(await readFile(DEFAULT_CLIENTS_FILE, 'utf8'));
    expect(raw._comment).toMatch(/DEVELOPMENT ONLY/);
  });

  it.each<[string, unknown, RegExp]>([
    ['not an object', [], /object keyed by client id/],
    ['no credentials', { a: {} }, /"a" needs a "secret" or a "jwks"/],
    ['a typo in a field', { a: { secret: 's', scope: ['x'] } }, /unknown field "scope"/],
    ['a bad token format', { a: { secret: 's', tokenFormat: 'paseto' } }, /"tokenFormat"/],
    ['a scope with a space', { a: { secret: 's', scopes: ['a b'] } }, /"scopes"/],
    ['a zero lifetime', { a: { secret: 's', lifetimeSeconds: 0 } }, /"lifetimeSeconds"/],
  ])('refuses %s with a message naming it', (_case, clients, message) => {
    expect(() => validateClients(clients)).toThrow(message);
  });
});
