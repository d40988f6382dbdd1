import { createIdService, type IdServiceHandle } from './id-service.js';

describe('id-service introspection endpoint', () => {
  let idService: IdServiceHandle;
  let now: number;
  let url: string;

  beforeAll(async () => {
    now = Date.now();
    idService = await createIdService({
      clients: {
        app: { secret: 'app-secret', scopes: ['orders:read'] },
        opaque: { secret: 'opaque-secret', tokenFormat: 'opaque', scopes: ['orders:read'] },
        api: { secret: 'api-secret', canIntrospect: true },
        nosy: { secret: 'nosy-secret' },
      },
      clock: () => now,
      logger: false,
    });
    url = `${idService.issuer}/openid/introspect`;
  });

  afterAll(() => idService.close());

  const introspect = (token: string, id = 'api', secret = `${id}-secret`) =>
    fetch(url, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ token }).toString(),
    });

  it.each(['app', 'opaque'])('answers the seed fields for an active %s token', async (client) => {
    const { accessToken } = await idService.issueToken(client, ['orders:read']);
    const res = await introspect(accessToken);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const nowSeconds = Math.floor(now / 1000);
    expect(await res.json()).toEqual({
      active: true,
      sub: client,
      clientId: client,
      client_id: client,
      aud: client,
      iss: idService.issuer,
      iat: nowSeconds,
      exp: nowSeconds + 3600,
      scope: 'orders:read',
      token_type: 'Bearer',
    });
  });

  it.each<[string, () => Promise<string>]>([
    ['unknown opaque token', async () => 'not-a-token-we-issued'],
    [
      'JWT from another signer',
      async () =>
        'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhcHAiLCJpc3MiOiJ4IiwiZXhwIjo5OTk5OTk5OTk5fQ.c2ln',
    ],
    [
      'revoked opaque token',
      async () => {
        const { accessToken } = await idService.issueToken('opaque');
        await idService.revokeToken(accessToken);
        return accessToken;
      },
    ],
    [
      'revoked JWT',
      async () => {
        const { accessToken } = await idService.issueToken('app');
        await idService.revokeToken(accessToken);
        return accessToken;
      },
    ],
    [
      'JWT signed by a revoked key',
      async () => {
        const { accessToken } = await idService.issueToken('app');
        await idService.revokeKey(idService.currentKid());
        return accessToken;
      },
    ],
  ])('%s → { active: false }', async (_case, mint) => {
    const res = await introspect(await mint());
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ active: false });
  });

  it.each(['app', 'opaque'])('an expired %s token is inactive', async (client) => {
    const { accessToken, expiresIn } = await idService.issueToken(client);
    now += (expiresIn - 1) * 1000;
    expect(await (await introspect(accessToken)).json()).toMatchObject({ active: true });
    now += 1000;
    expect(await (await introspect(accessToken)).json()).toEqual({ active: false });
  });

  it('answers inactive to a client not allowed to introspect', async () => {
    const { accessToken } = await idService.issueToken('app');
    const res = await introspect(accessToken, 'nosy');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ active: false });
  });

  it('refuses a caller with wrong credentials with 401 invalid_client (RFC 7662 §2.3)', async () => {
    const { accessToken } = await idService.issueToken('app');
    const res = await introspect(accessToken, 'api', 'wrong');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic /);
    expect(await res.json()).toMatchObject({ error: 'invalid_client' });
  });

  it('refuses an anonymous caller', async () => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'token=abc',
    });
    expect(res.status).toBe(401);
  });

  it('refuses a request without a token with 400 invalid_request', async () => {
    const res = await introspect('');
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_request' });
  });
});
