// How a user tests their own app with the testing kit: their production module, pointed at the fake.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  Controller,
  Get,
  Injectable,
  Module,
  UseGuards,
  type INestApplication,
  type DynamicModule,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  ClientCredentialsHttpService,
  ClientId,
  ClientTokenGuard,
  OIDC_CLIENT_CREDENTIALS_MODULE_OPTIONS,
  OidcClientCredentialsModule,
  RequireScopes,
  TokenProvider,
  TokenRequestError,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { firstValueFrom } from 'rxjs';
import request from 'supertest';
import { createTestingOptions, FakeIdService, PATHS } from 'nest-oidc-client-credentials/testing';

/** The user's production configuration: a real ID service the tests must never reach. */
const PRODUCTION: OidcClientCredentialsModuleOptions = {
  issuer: 'https://id.example.com',
  clientId: 'orders-api',
  clientSecret: 'production secret',
  verification: { audience: 'orders-api' },
};

@Controller('orders')
@UseGuards(ClientTokenGuard)
class OrdersController {
  @Get()
  @RequireScopes('orders:read')
  list(@ClientId() clientId: string): { clientId: string } {
    return { clientId };
  }
}

/** The user's outbound client: calls another API with the module's token-attaching HttpService. */
@Injectable()
class InventoryClient {
  constructor(private readonly http: ClientCredentialsHttpService) {}

  async stock(url: string): Promise<unknown> {
    const { data } = await firstValueFrom(this.http.get<unknown>(url));
    return data;
  }
}

const registrations: [string, DynamicModule][] = [
  ['forRoot', OidcClientCredentialsModule.forRoot(PRODUCTION)],
  ['forRootAsync', OidcClientCredentialsModule.forRootAsync({ useFactory: () => PRODUCTION })],
];

describe.each(registrations)('the testing kit with an app registered by %s', (_name, library) => {
  @Module({ imports: [library], controllers: [OrdersController], providers: [InventoryClient] })
  class AppModule {}

  let idp: FakeIdService;
  let app: INestApplication;

  beforeEach(async () => {
    idp = await FakeIdService.start({
      clients: { 'orders-api': { secret: 'test secret' } },
      alg: 'ES256',
    });
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] })
      .overrideProvider(OIDC_CLIENT_CREDENTIALS_MODULE_OPTIONS)
      .useValue(createTestingOptions(idp, { verification: { audience: 'orders-api' } }))
      .compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
  });

  afterEach(async () => {
    await app?.close();
    await idp?.close();
  });

  const reader = { sub: 'billing', aud: 'orders-api', scope: 'orders:read' };
  const get = (authorization?: string) => {
    const call = request(app.getHttpServer()).get('/orders');
    return authorization === undefined ? call : call.set('Authorization', authorization);
  };

  it('lets a JWT minted by the fake through the guard, and asks the fake, not production', async () => {
    const response = await get(await idp.bearer(reader));

    expect(response.status).toBe(200);
    expect(response.body).toEqual({ clientId: 'billing' });
    expect(idp.requestCount(PATHS.discovery)).toBe(1);
    expect(idp.requestCount(PATHS.jwks)).toBe(1);
  });

  it.each<[string, Record<string, unknown> | undefined, number, RegExp]>([
    ['no token', undefined, 401, /^Bearer realm="api"$/],
    ['another audience', { ...reader, aud: 'payments-api' }, 401, /error="invalid_token"/],
    ['expired', { ...reader, exp: Math.floor(Date.now() / 1000) - 3600 }, 401, /expired/],
    ['scope missing', { ...reader, scope: 'orders:write' }, 403, /insufficient_scope/],
  ])('answers %s as the guard does in production', async (_case, claims, status, challenge) => {
    const response = await get(claims && (await idp.bearer(claims)));

    expect(response.status).toBe(status);
    expect(response.headers['www-authenticate']).toMatch(challenge);
  });

  it('checks opaque tokens by introspection with the client from the testing options; a revocation shows at once', async () => {
    const token = idp.mintOpaque('billing', { scope: 'orders:read', audience: 'orders-api' });
    const elsewhere = idp.mintOpaque('billing', { scope: 'orders:read', audience: 'payments-api' });

    expect((await get(`Bearer ${elsewhere}`)).status).toBe(401);
    expect((await get(`Bearer ${token}`)).status).toBe(200);
    idp.revoke(token);
    expect((await get(`Bearer ${token}`)).status).toBe(401);
    const introspections = idp.requestsTo(PATHS.introspection);
    expect(introspections).toHaveLength(3);
    expect(introspections[0].headers.authorization).toBe(
      `Basic ${Buffer.from('orders-api:test+secret').toString('base64')}`,
    );
  });

  it('accepts tokens of a rotated key on the next request and refuses those of an unpublished one', async () => {
    const oldKid = idp.currentKid;
    const before = await idp.bearer(reader);
    expect((await get(before)).status).toBe(200);

    await idp.rotateKey();
    expect((await get(await idp.bearer(reader))).status).toBe(200);
    // An unpublished key is refused once the JWKS is fetched again: here for the next new kid.
    idp.unpublishKey(oldKid);
    await idp.rotateKey();
    expect((await get(await idp.bearer(reader))).status).toBe(200);
    expect((await get(before)).status).toBe(401);
  });

  it('answers 503 with Retry-After while the fake says its JWKS endpoint is down', async () => {
    idp.on(PATHS.jwks, () => ({ status: 500, body: { error: 'server_error' } }));

    const response = await get(await idp.bearer(reader));

    expect(response.status).toBe(503);
    expect(response.headers['retry-after']).toBe('5');
  });

  describe('outbound', () => {
    let api: Server;
    let apiUrl: string;
    const seen: (Record<string, unknown> | undefined)[] = [];

    beforeEach(async () => {
      seen.length = 0;
      // A stub of the API the user's client calls: it checks the token with the fake.
      api = createServer((req, res) => {
        const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
        void idp.introspect(token).then((claims) => {
          seen.push(claims);
          res.writeHead(claims ? 200 : 401, { 'content-type': 'application/json' });
          res.end(JSON.stringify(claims ? { items: 3 } : {}));
        });
      });
      await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
      apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}/stock`;
    });

    afterEach(async () => {
      api.closeAllConnections();
      await new Promise((resolve) => api.close(resolve));
    });

    it('sends a token of the fake to the called API, fetched once for several calls', async () => {
      const client = app.get(InventoryClient);

      expect(await client.stock(apiUrl)).toEqual({ items: 3 });
      expect(await client.stock(apiUrl)).toEqual({ items: 3 });

      expect(seen).toEqual([
        expect.objectContaining({ sub: 'orders-api', iss: idp.issuer }),
        expect.objectContaining({ sub: 'orders-api', iss: idp.issuer }),
      ]);
      expect(idp.requestCount(PATHS.token)).toBe(1);
    });

    it('surfaces a refusal of the fake token endpoint as a TokenRequestError', async () => {
      idp.on(PATHS.token, () => ({ status: 400, body: { error: 'invalid_scope' } }));

      const error: unknown = await app
        .get(TokenProvider)
        .getToken()
        .catch((e: unknown) => e);

      expect(error).toBeInstanceOf(TokenRequestError);
      expect(error).toMatchObject({ status: 400, error: 'invalid_scope' });
      expect(idp.requestCount(PATHS.token)).toBe(1);
    });
  });
});

describe('createTestingOptions', () => {
  let idp: FakeIdService;

  beforeAll(async () => {
    idp = await FakeIdService.start({
      clients: { 'key-client': {}, billing: { secret: 'b' }, shipping: { secret: 's' } },
    });
  });
  afterAll(() => idp.close());

  it('points at the fake with its first client that has a secret, verification caches off', () => {
    expect(createTestingOptions(idp)).toEqual({
      issuer: idp.issuer,
      clientId: 'billing',
      clientSecret: 'b',
      verification: { cacheTtlSeconds: 0, negativeCacheTtlSeconds: 0, jwksCooldownSeconds: 0 },
    });
  });

  it('takes the secret of the client named in the overrides, and lets every override win', () => {
    expect(
      createTestingOptions(idp, {
        clientId: 'shipping',
        scope: 'orders:read',
        verification: { strategy: 'introspection', cacheTtlSeconds: 60 },
      }),
    ).toEqual({
      issuer: idp.issuer,
      clientId: 'shipping',
      clientSecret: 's',
      scope: 'orders:read',
      verification: {
        strategy: 'introspection',
        cacheTtlSeconds: 60,
        negativeCacheTtlSeconds: 0,
        jwksCooldownSeconds: 0,
      },
    });
  });

  it('sets no secret with private_key_jwt (one authentication method per request)', () => {
    const options = createTestingOptions(idp, {
      clientId: 'billing',
      clientAuthMethod: 'private_key_jwt',
    });

    expect(options).not.toHaveProperty('clientSecret');
  });
});
