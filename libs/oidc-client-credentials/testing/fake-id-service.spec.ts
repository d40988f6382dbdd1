import { decodeJwt, decodeProtectedHeader } from 'jose';
import { FakeIdService, PATHS } from 'nest-oidc-client-credentials/testing';

describe('FakeIdService', () => {
  let idp: FakeIdService;

  beforeAll(async () => {
    idp = await FakeIdService.start({
      clients: {
        billing: { secret: 'b s', audience: ['orders-api', 'stock-api'], scope: 'orders:read' },
        shipping: { secret: 's', tokenFormat: 'opaque', lifetimeSeconds: 120 },
      },
      alg: 'ES256',
    });
  });
  afterAll(() => idp.close());
  beforeEach(() => idp.reset());

  async function tokenFor(clientId: string, secret: string): Promise<Record<string, unknown>> {
    const response = await fetch(idp.url(PATHS.token), {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${clientId}:${secret.replace(/ /g, '+')}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'grant_type=client_credentials',
    });
    return (await response.json()) as Record<string, unknown>;
  }

  it('mints JWTs with the seed defaults; given claims replace them and undefined removes one', async () => {
    const now = Math.floor(Date.now() / 1000);

    const defaults = decodeJwt(await idp.mintJwt());
    const custom = decodeJwt(
      await idp.mintJwt({ sub: 'billing', aud: 'orders-api', exp: undefined }),
    );

    expect(defaults).toEqual({
      iss: idp.issuer,
      sub: 'test-client',
      aud: 'test-client',
      iat: expect.any(Number),
      exp: expect.any(Number),
    });
    expect(defaults.exp! - now).toBeGreaterThanOrEqual(3599);
    expect(custom).toEqual({
      iss: idp.issuer,
      sub: 'billing',
      aud: 'orders-api',
      iat: expect.any(Number),
    });
  });

  it('bearer() is an Authorization value whose JWT the fake itself recognises', async () => {
    const header = await idp.bearer({ sub: 'billing', scope: 'orders:read' });

    expect(header).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    expect(decodeProtectedHeader(header.slice(7))).toEqual({ alg: 'ES256', kid: idp.currentKid });
    expect(await idp.introspect(header.slice(7))).toMatchObject({
      sub: 'billing',
      client_id: 'billing',
      scope: 'orders:read',
    });
  });

  it("issues a client's JWT with its audience and default scope", async () => {
    const body = await tokenFor('billing', 'b s');

    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 3600, scope: 'orders:read' });
    expect(decodeJwt(body.access_token as string)).toMatchObject({
      sub: 'billing',
      aud: ['orders-api', 'stock-api'],
      scope: 'orders:read',
    });
  });

  it('introspect() knows live opaque tokens only, and forgets revoked ones', async () => {
    const body = await tokenFor('shipping', 's');
    const token = body.access_token as string;

    expect(body.expires_in).toBe(120);
    expect(await idp.introspect(token)).toMatchObject({ sub: 'shipping', client_id: 'shipping' });
    expect(await idp.introspect('never-issued')).toBeUndefined();
    idp.revoke(token);
    expect(await idp.introspect(token)).toBeUndefined();
  });

  it('counts requests per path and in total, until reset()', async () => {
    await tokenFor('billing', 'b s');
    await tokenFor('billing', 'wrong');
    await fetch(idp.url(PATHS.jwks));

    expect(idp.requestCount(PATHS.token)).toBe(2);
    expect(idp.requestCount(PATHS.jwks)).toBe(1);
    expect(idp.requestCount()).toBe(3);
    idp.reset();
    expect(idp.requestCount()).toBe(0);
  });
});
