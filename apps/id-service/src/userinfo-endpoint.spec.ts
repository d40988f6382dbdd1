import { createIdService, type IdServiceHandle } from './id-service.js';

describe('id-service userinfo endpoint', () => {
  let idService: IdServiceHandle;
  let url: string;

  beforeAll(async () => {
    idService = await createIdService({
      clients: {
        app: { secret: 'app-secret' },
        opaque: { secret: 'opaque-secret', tokenFormat: 'opaque' },
      },
      logger: false,
    });
    url = `${idService.issuer}/openid/userinfo`;
  });

  afterAll(() => idService.close());

  it.each(['app', 'opaque'])('GET with a %s token answers sub = the client id', async (client) => {
    const { accessToken } = await idService.issueToken(client);
    const res = await fetch(url, { headers: { authorization: `Bearer ${accessToken}` } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ sub: client });
  });

  it('POST with the token in the form body answers too (RFC 6750 §2.2)', async () => {
    const { accessToken } = await idService.issueToken('app');
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ access_token: accessToken }).toString(),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ sub: 'app' });
  });

  it('answers 401 with a bare challenge when no token is sent (RFC 6750 §3.1)', async () => {
    const res = await fetch(url);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="id-service"');
  });

  it.each<[string, string]>([
    ['unknown token', 'Bearer abc.def.ghi'],
    ['malformed token', 'Bearer {"sub":"app"}'],
    ['empty token', 'Bearer '],
  ])('%s → 401 invalid_token', async (_case, authorization) => {
    const res = await fetch(url, { headers: { authorization } });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(
      'Bearer realm="id-service", error="invalid_token"',
    );
  });

  it('refuses a revoked token', async () => {
    const { accessToken } = await idService.issueToken('opaque');
    await idService.revokeToken(accessToken);
    const res = await fetch(url, { headers: { authorization: `Bearer ${accessToken}` } });
    expect(res.status).toBe(401);
  });

  it('refuses a token sent in the header and the body at once (RFC 6750 §2)', async () => {
    const { accessToken } = await idService.issueToken('app');
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${accessToken}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ access_token: accessToken }).toString(),
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('www-authenticate')).toContain('error="invalid_request"');
  });
});
