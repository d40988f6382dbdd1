import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Controller, Get, UseGuards, type ModuleMetadata } from '@nestjs/common';
import {
  ClientTokenGuard,
  OidcClientCredentialsHealthIndicator,
  OidcClientCredentialsModule,
  TokenClaims,
  type OidcClientCredentialsModuleOptions,
  type VerifiedToken,
} from 'nest-oidc-client-credentials';
import { FakeIdService } from 'nest-oidc-client-credentials/testing';
import {
  CapturingLogger,
  rawRequest,
  startHttpApp,
  type RawResponse,
  type RunningApp,
} from '../utils/nest-http-app.js';
import { startOidcProvider, type RunningOidcProvider } from '../utils/oidc-provider.js';

/** The API both issuers grant tokens for. */
const AUDIENCE = 'urn:orders-api';

@Controller('orders')
@UseGuards(ClientTokenGuard)
class WhoAmIController {
  @Get()
  whoami(@TokenClaims() token: VerifiedToken) {
    return { clientId: token.clientId, issuer: token.issuer };
  }
}

/** A reverse proxy in front of an ID service that records each path it forwards. */
interface RecordingProxy {
  url: string;
  paths: string[];
  close(): Promise<void>;
}

async function recordingProxy(target: string): Promise<RecordingProxy> {
  const paths: string[] = [];
  const server: Server = createServer((req, res) => {
    paths.push(req.url ?? '');
    const forwarded = httpRequest(
      `${target}${req.url ?? ''}`,
      { method: req.method, headers: { ...req.headers, host: new URL(target).host } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forwarded.on('error', () => res.destroy());
    req.pipe(forwarded);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    paths,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A token from a provider's token endpoint, requested with client_secret_basic. */
async function tokenFrom(op: RunningOidcProvider, clientId: string, secret: string) {
  const response = await fetch(op.endpoints.token, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials&scope=orders:read',
  });
  const body = (await response.json()) as { access_token?: string };
  if (!body.access_token) throw new Error(`no token from ${op.issuer}: ${JSON.stringify(body)}`);
  return body.access_token;
}

function encode(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

async function get(app: RunningApp, token: string | undefined): Promise<RawResponse> {
  return rawRequest(app.url, {
    path: '/orders',
    headers: token === undefined ? [] : [['Authorization', `Bearer ${token}`]],
  });
}

describe('several trusted issuers (two oidc-provider instances A and B, a counting fake C)', () => {
  let a: RunningOidcProvider;
  let b: RunningOidcProvider;
  let c: FakeIdService;
  let aProxy: RecordingProxy;
  const logger = new CapturingLogger();
  const apps: RunningApp[] = [];
  const tokens: Record<string, string> = {};

  function options(verification: OidcClientCredentialsModuleOptions['verification']) {
    // No JWKS cooldown: a kid the issuer does not publish is refused at once (401), not answered
    // 503 until the next fetch is allowed, as it is for a key just rotated in.
    return {
      issuer: a.issuer,
      verification: { audience: AUDIENCE, jwksCooldownSeconds: 0, ...verification },
    };
  }

  async function app(verification: OidcClientCredentialsModuleOptions['verification']) {
    const metadata: ModuleMetadata = {
      imports: [OidcClientCredentialsModule.forRoot(options(verification))],
      controllers: [WhoAmIController],
    };
    const running = await startHttpApp('express', metadata, logger);
    apps.push(running);
    return running;
  }

  /**
   * A: JWT access tokens, introspection through the recording proxy; B: opaque tokens. Both
   * `auto`: a JWT is verified against the issuer's JWKS, another token introspected there.
   */
  function issuers() {
    return [
      {
        issuer: a.issuer,
        strategy: 'auto' as const,
        endpoints: { jwks: a.endpoints.jwks, introspection: `${aProxy.url}/openid/introspect` },
        clientId: 'orders-api',
        clientSecret: 'orders-api-secret',
      },
      {
        issuer: b.issuer,
        strategy: 'auto' as const,
        clientId: 'orders-api',
        clientSecret: 'orders-api-secret',
      },
    ];
  }

  beforeAll(async () => {
    const clients = [
      { client_id: 'billing', client_secret: 'billing-secret', scope: 'orders:read' },
      { client_id: 'orders-api', client_secret: 'orders-api-secret' },
    ];
    [a, b, c] = await Promise.all([
      startOidcProvider({ clients, accessTokenFormat: 'jwt', audience: AUDIENCE }),
      startOidcProvider({ clients, accessTokenFormat: 'opaque', audience: AUDIENCE }),
      FakeIdService.start({ clients: { billing: { secret: 'billing-secret' } } }),
    ]);
    aProxy = await recordingProxy(a.issuer);
    tokens.a = await tokenFrom(a, 'billing', 'billing-secret');
    tokens.b = await tokenFrom(b, 'billing', 'billing-secret');
    const aKid = ((await (await fetch(a.endpoints.jwks)).json()) as { keys: { kid: string }[] })
      .keys[0].kid;
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      sub: 'billing',
      client_id: 'billing',
      aud: AUDIENCE,
      iat: now,
      exp: now + 600,
    };
    tokens.c = await c.mintJwt({ ...claims, iss: c.issuer });
    // Claims A, signed by C's key under A's kid: A's JWKS has the kid, and the signature fails.
    tokens.claimsAWithAKid = await c.signRaw(
      { alg: 'RS256', typ: 'at+jwt', kid: aKid },
      { ...claims, iss: a.issuer },
    );
    // Claims A, signed by C's key under C's kid: A's JWKS has no such key.
    tokens.claimsAWithCKid = await c.mintJwt({ ...claims, iss: a.issuer });
    // A's own token with its payload rewritten to claim B: routed to B, which does not know it.
    const [header, , signature] = tokens.a.split('.');
    const payload = JSON.parse(Buffer.from(tokens.a.split('.')[1], 'base64url').toString());
    tokens.aClaimingB = `${header}.${encode({ ...payload, iss: b.issuer })}.${signature}`;
    tokens.longIss = await c.mintJwt({ ...claims, iss: `${a.issuer}/${'x'.repeat(600)}` });
    tokens.numericIss = await c.mintJwt({ ...claims, iss: 42 as unknown as string });
    tokens.noIss = await c.mintJwt({ ...claims, iss: undefined });
    tokens.unlistedIss = await c.mintJwt({ ...claims, iss: 'https://id.elsewhere.example' });
  }, 60_000);

  afterAll(async () => {
    await Promise.all(apps.map((running) => running.close()));
    await Promise.all([a?.close(), b?.close(), c?.close(), aProxy?.close()]);
  });

  beforeEach(() => {
    c.reset();
    aProxy.paths.length = 0;
  });

  describe('routed by iss, without a resolver', () => {
    let running: RunningApp;
    beforeAll(async () => {
      running = await app({ issuers: issuers() });
    });

    const rows: {
      case: string;
      token: string;
      status: number;
      issuer?: 'a' | 'b';
      /** Requests the proxy in front of A forwards. */
      aIntrospections?: number;
    }[] = [
      { case: 'a JWT of A is verified at A', token: 'a', status: 200, issuer: 'a' },
      {
        case: 'an opaque token of B: A (listed first) is asked, then B accepts it',
        token: 'b',
        status: 200,
        issuer: 'b',
        aIntrospections: 1,
      },
      { case: 'a JWT of C, which is not listed', token: 'c', status: 401 },
      {
        case: "a JWT claiming A, signed by another key under A's kid",
        token: 'claimsAWithAKid',
        status: 401,
      },
      {
        case: 'a JWT claiming A, signed by a key A does not publish',
        token: 'claimsAWithCKid',
        status: 401,
      },
      { case: "A's JWT rewritten to claim B", token: 'aClaimingB', status: 401 },
      { case: 'an iss longer than the bound', token: 'longIss', status: 401 },
      { case: 'an iss that is not a string', token: 'numericIss', status: 401 },
      { case: 'no iss', token: 'noIss', status: 401 },
      { case: 'an iss no entry lists', token: 'unlistedIss', status: 401 },
    ];

    it.each(rows)('$case → $status', async (row) => {
      const response = await get(running, tokens[row.token]);
      expect(response.status).toBe(row.status);
      if (row.issuer) {
        const issuer = row.issuer === 'a' ? a.issuer : b.issuer;
        expect(JSON.parse(response.body)).toEqual({ clientId: 'billing', issuer });
      } else {
        expect(response.headers['www-authenticate']).toContain('error="invalid_token"');
      }
      // C is never asked anything: not its metadata, keys or introspection.
      expect(c.requests).toEqual([]);
      expect(aProxy.paths.length).toBe(row.aIntrospections ?? 0);
    });
  });

  describe('opaque tokens with verification.issuerResolver', () => {
    let running: RunningApp;
    beforeAll(async () => {
      running = await app({
        issuers: issuers(),
        issuerResolver: (token) => (token === tokens.b ? b.issuer : undefined),
      });
    });

    it('an opaque token of B is introspected at B only: A receives no introspection', async () => {
      const response = await get(running, tokens.b);
      expect(response.status).toBe(200);
      expect(JSON.parse(response.body)).toEqual({ clientId: 'billing', issuer: b.issuer });
      expect(aProxy.paths).toEqual([]);
    });

    it('an opaque token the resolver names no issuer for → 401, nobody asked', async () => {
      const response = await get(running, 'an-opaque-token-of-nobody');
      expect(response.status).toBe(401);
      expect(aProxy.paths).toEqual([]);
      expect(c.requests).toEqual([]);
    });

    it('a JWT is still routed by its iss, not by the resolver', async () => {
      expect((await get(running, tokens.a)).status).toBe(200);
    });
  });

  describe('the single-issuer options keep working unchanged', () => {
    it("without verification.issuers only the root issuer's tokens are accepted", async () => {
      const running = await app({ strategy: 'jwt' });
      const fromA = await get(running, tokens.a);
      expect(fromA.status).toBe(200);
      expect(JSON.parse(fromA.body)).toEqual({ clientId: 'billing', issuer: a.issuer });
      expect((await get(running, tokens.c)).status).toBe(401);
      expect(c.requests).toEqual([]);
    });
  });

  describe('verifyOnStartup.inbound checks every listed issuer', () => {
    it("an issuer whose JWKS cannot be loaded stops the app, naming that issuer's URL", async () => {
      const unreachable = 'http://127.0.0.1:9';
      await expect(
        app({
          issuers: [
            { issuer: a.issuer, strategy: 'jwt' },
            { issuer: unreachable, strategy: 'jwt', endpoints: { jwks: `${unreachable}/jwks` } },
          ],
        }).then(() => undefined),
      ).resolves.toBeUndefined();
      await expect(
        startHttpApp(
          'express',
          {
            imports: [
              OidcClientCredentialsModule.forRoot({
                ...options({
                  issuers: [
                    { issuer: a.issuer, strategy: 'jwt' },
                    {
                      issuer: unreachable,
                      strategy: 'jwt',
                      endpoints: { jwks: `${unreachable}/jwks` },
                    },
                  ],
                }),
                verifyOnStartup: { inbound: true },
                retry: { maxAttempts: 1 },
              }),
            ],
          },
          logger,
        ),
      ).rejects.toThrow(/Startup check.*127\.0\.0\.1:9\/jwks/);
    });

    it('with every issuer reachable the app starts, and C is not asked', async () => {
      const running = await startHttpApp(
        'express',
        {
          imports: [
            OidcClientCredentialsModule.forRoot({
              ...options({ issuers: issuers() }),
              verifyOnStartup: { inbound: true },
            }),
          ],
          controllers: [WhoAmIController],
        },
        logger,
      );
      apps.push(running);
      expect((await get(running, tokens.a)).status).toBe(200);
      expect(c.requests).toEqual([]);
    });
  });

  it("the health indicator reports each issuer's JWKS, in configured order, and nothing of the root", async () => {
    const unreachable = 'http://127.0.0.1:9';
    const running = await app({
      issuers: [
        { issuer: a.issuer, strategy: 'jwt' },
        { issuer: unreachable, strategy: 'jwt', endpoints: { jwks: `${unreachable}/jwks` } },
      ],
    });
    const health = await running.app.get(OidcClientCredentialsHealthIndicator).isHealthy('oidc');
    expect(health.oidc).toEqual({
      status: 'down',
      issuers: [
        {
          status: 'up',
          discovery: { status: 'up' },
          jwks: expect.objectContaining({ status: 'up', keys: 1 }),
        },
        { status: 'down', jwks: { status: 'down', error: 'OIDC_CC_JWKS_UNAVAILABLE' } },
      ],
    });
    expect(c.requests).toEqual([]);
  });

  describe('bad issuer configuration fails at startup', () => {
    const rows: { case: string; verification: Record<string, unknown>; message: RegExp }[] = [
      {
        case: 'an issuer that is not a URL',
        verification: { issuers: [{ issuer: 'not a url' }] },
        message: /verification\.issuers\[0\]\.issuer/,
      },
      {
        case: 'an http issuer off loopback',
        verification: { issuers: [{ issuer: 'http://id.example.com' }] },
        message: /verification\.issuers\[0\]\.issuer.*loopback/,
      },
      {
        case: 'introspection without credentials at that issuer',
        verification: {
          issuers: [{ issuer: 'https://id.example.com', strategy: 'introspection' }],
        },
        message: /verification\.issuers\[0\]\.clientId/,
      },
    ];

    it.each(rows)('$case', async (row) => {
      await expect(
        startHttpApp(
          'express',
          {
            imports: [
              OidcClientCredentialsModule.forRoot({
                issuer: 'https://id.example.com',
                verification:
                  row.verification as OidcClientCredentialsModuleOptions['verification'],
              }),
            ],
          },
          logger,
        ),
      ).rejects.toThrow(row.message);
    });
  });
});
