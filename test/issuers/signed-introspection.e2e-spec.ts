import { randomBytes } from 'node:crypto';
import { Controller, Get, UseGuards } from '@nestjs/common';
import { CompactSign, generateKeyPair } from 'jose';
import {
  ClientTokenGuard,
  OidcClientCredentialsModule,
  TokenClaims,
  type OidcClientCredentialsModuleOptions,
  type VerifiedToken,
} from 'nest-oidc-client-credentials';
import { FakeIdService, PATHS } from 'nest-oidc-client-credentials/testing';
import {
  CapturingLogger,
  rawRequest,
  startHttpApp,
  type RunningApp,
} from '../utils/nest-http-app.js';
import { startOidcProvider, type RunningOidcProvider } from '../utils/oidc-provider.js';

const AUDIENCE = 'urn:orders-api';
const SIGNED = 'application/token-introspection+jwt';

@Controller('orders')
@UseGuards(ClientTokenGuard)
class WhoAmIController {
  @Get()
  whoami(@TokenClaims() token: VerifiedToken) {
    return { clientId: token.clientId, issuer: token.issuer };
  }
}

/** A token of `provider`'s for the calling client, from its token endpoint. */
async function tokenFrom(provider: RunningOidcProvider): Promise<string> {
  const response = await fetch(provider.endpoints.token, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from('billing:billing-secret').toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials&scope=orders:read',
  });
  return ((await response.json()) as { access_token: string }).access_token;
}

function encode(value: object): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

describe('RFC 9701 signed introspection answers', () => {
  let op: RunningOidcProvider;
  /** Introspection without features.jwtIntrospection: JSON answers only. */
  let opPlain: RunningOidcProvider;
  let fake: FakeIdService;
  const logger = new CapturingLogger();
  const apps: RunningApp[] = [];
  let opToken: string;
  let opPlainToken: string;

  async function app(options: OidcClientCredentialsModuleOptions): Promise<RunningApp> {
    const running = await startHttpApp(
      'express',
      { imports: [OidcClientCredentialsModule.forRoot(options)], controllers: [WhoAmIController] },
      logger,
    );
    apps.push(running);
    return running;
  }

  function get(running: RunningApp, token: string) {
    return rawRequest(running.url, {
      path: '/orders',
      headers: [['Authorization', `Bearer ${token}`]],
    });
  }

  beforeAll(async () => {
    const clients = [
      { client_id: 'billing', client_secret: 'billing-secret', scope: 'orders:read' },
      { client_id: 'orders-api', client_secret: 'orders-api-secret' },
    ];
    [op, opPlain, fake] = await Promise.all([
      startOidcProvider({
        clients,
        accessTokenFormat: 'opaque',
        audience: AUDIENCE,
        jwtIntrospection: true,
      }),
      startOidcProvider({ clients, accessTokenFormat: 'opaque', audience: AUDIENCE }),
      FakeIdService.start({ clients: { 'orders-api': { secret: 'orders-api-secret' } } }),
    ]);
    [opToken, opPlainToken] = await Promise.all([tokenFrom(op), tokenFrom(opPlain)]);
  }, 90_000);

  afterAll(async () => {
    await Promise.all(apps.map((running) => running.close()));
    await Promise.all([op?.close(), opPlain?.close(), fake?.close()]);
  });

  describe('oidc-provider with features.jwtIntrospection', () => {
    const rows: {
      case: string;
      provider: 'jwtIntrospection' | 'introspection only';
      signedResponse: boolean;
      status: number;
    }[] = [
      {
        case: 'a signed answer, asked for and checked',
        provider: 'jwtIntrospection',
        signedResponse: true,
        status: 200,
      },
      {
        case: 'a JSON answer where a signed one was asked',
        provider: 'introspection only',
        signedResponse: true,
        status: 503,
      },
      {
        case: 'a JSON answer without signedResponse, as before',
        provider: 'introspection only',
        signedResponse: false,
        status: 200,
      },
    ];

    it.each(rows)(
      '$provider: $case → $status',
      async (row) => {
        const provider = row.provider === 'jwtIntrospection' ? op : opPlain;
        const running = await app({
          issuer: provider.issuer,
          clientId: 'orders-api',
          clientSecret: 'orders-api-secret',
          verification: {
            strategy: 'introspection',
            audience: AUDIENCE,
            introspection: { signedResponse: row.signedResponse },
          },
        });
        const response = await get(running, provider === op ? opToken : opPlainToken);
        expect(response.status).toBe(row.status);
        if (row.status === 200) {
          expect(JSON.parse(response.body)).toEqual({
            clientId: 'billing',
            issuer: provider.issuer,
          });
        }
      },
      60_000,
    );

    it('a signed answer of oidc-provider through verification.issuers', async () => {
      const running = await app({
        issuer: 'https://id.unrelated.example',
        verification: {
          audience: AUDIENCE,
          introspection: { signedResponse: true },
          issuers: [
            {
              issuer: op.issuer,
              strategy: 'introspection',
              clientId: 'orders-api',
              clientSecret: 'orders-api-secret',
            },
          ],
        },
      });
      const response = await get(running, opToken);
      expect(response.status).toBe(200);
      expect(JSON.parse(response.body)).toEqual({ clientId: 'billing', issuer: op.issuer });
    }, 60_000);
  });

  describe('a fake ID service whose answers a row chooses', () => {
    let running: RunningApp;
    let foreignKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

    beforeAll(async () => {
      foreignKey = (await generateKeyPair('RS256')).privateKey;
      running = await app({
        issuer: fake.issuer,
        clientId: 'orders-api',
        clientSecret: 'orders-api-secret',
        verification: {
          strategy: 'introspection',
          audience: AUDIENCE,
          jwksCooldownSeconds: 0,
          introspection: { signedResponse: true },
        },
      });
    });

    const now = () => Math.floor(Date.now() / 1000);
    const active = () => ({
      active: true,
      client_id: 'billing',
      scope: 'orders:read',
      aud: AUDIENCE,
      iss: fake.issuer,
      exp: now() + 600,
    });
    const claims = () => ({
      iss: fake.issuer,
      aud: 'orders-api',
      iat: now(),
      token_introspection: active(),
    });
    const header = () => ({ alg: 'RS256', typ: 'token-introspection+jwt', kid: fake.currentKid });
    const signedByForeignKey = (kid: string) =>
      new CompactSign(encode(claims())).setProtectedHeader({ ...header(), kid }).sign(foreignKey);

    const rows: {
      case: string;
      answer: () => Promise<{ body: unknown; type: string }>;
      status: number;
    }[] = [
      {
        case: "signed with the issuer's key, from the issuer to this client",
        answer: async () => ({ body: await fake.signRaw(header(), claims()), type: SIGNED }),
        status: 200,
      },
      {
        case: 'unsigned JSON where a signed answer was asked',
        answer: async () => ({ body: JSON.stringify(active()), type: 'application/json' }),
        status: 503,
      },
      {
        case: "signed by a foreign key under the issuer's kid",
        answer: async () => ({ body: await signedByForeignKey(fake.currentKid), type: SIGNED }),
        status: 503,
      },
      {
        case: 'signed by a foreign key the issuer does not publish',
        answer: async () => ({ body: await signedByForeignKey('foreign'), type: SIGNED }),
        status: 503,
      },
      {
        case: 'from another issuer',
        answer: async () => ({
          body: await fake.signRaw(header(), { ...claims(), iss: 'https://id.elsewhere.example' }),
          type: SIGNED,
        }),
        status: 503,
      },
      {
        case: 'for another client',
        answer: async () => ({
          body: await fake.signRaw(header(), { ...claims(), aud: 'someone-else' }),
          type: SIGNED,
        }),
        status: 503,
      },
      {
        case: 'of typ JWT',
        answer: async () => ({
          body: await fake.signRaw({ ...header(), typ: 'JWT' }, claims()),
          type: SIGNED,
        }),
        status: 503,
      },
      {
        case: 'without a token_introspection object',
        answer: async () => ({
          body: await fake.signRaw(header(), { ...claims(), token_introspection: 'active' }),
          type: SIGNED,
        }),
        status: 503,
      },
      {
        case: 'signed, saying inactive',
        answer: async () => ({
          body: await fake.signRaw(header(), {
            ...claims(),
            token_introspection: { active: false },
          }),
          type: SIGNED,
        }),
        status: 401,
      },
    ];

    it.each(rows)('$case → $status', async (row) => {
      const { body, type } = await row.answer();
      fake.reset();
      fake.on(PATHS.introspection, () => ({ headers: { 'content-type': type }, body }));
      const response = await get(running, `opaque-${randomBytes(8).toString('hex')}`);
      expect(response.status).toBe(row.status);
      const [introspection] = fake.requestsTo(PATHS.introspection);
      expect(introspection.headers.accept).toBe(SIGNED);
      if (row.status === 200) {
        expect(JSON.parse(response.body)).toEqual({ clientId: 'billing', issuer: fake.issuer });
      }
    });
  });
});
