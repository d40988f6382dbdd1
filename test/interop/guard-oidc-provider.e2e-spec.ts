import { randomBytes } from 'node:crypto';
import { Logger, type ModuleMetadata } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  OidcClientCredentialsModule,
  TokenProviderRegistry,
  type VerificationStrategyName,
} from 'nest-oidc-client-credentials';
import {
  CapturingLogger,
  HTTP_PLATFORMS,
  rawRequest,
  startHttpApp,
  type HttpPlatform,
  type RawResponse,
  type RunningApp,
} from '../utils/nest-http-app.js';
import {
  startOidcProvider,
  type OidcProviderClient,
  type RunningOidcProvider,
} from '../utils/oidc-provider.js';
import { OrdersController } from '../utils/orders.controller.js';

// The calling service (billing) and the resource server (orders-api), both clients of the provider.
const CALLER_SECRET = 'billing-secret';
const RESOURCE_SERVER_SECRET = 'orders-api-secret';
const CLIENTS: OidcProviderClient[] = [
  { client_id: 'billing', client_secret: CALLER_SECRET, scope: 'orders:read orders:write' },
  { client_id: 'orders-api', client_secret: RESOURCE_SERVER_SECRET },
];
/** `aud` of the provider's tokens requested without a resource indicator: this resource server. */
const OUR_AUDIENCE = 'urn:orders-api';
const OTHER_RESOURCE = 'urn:billing-api';

const NO_TOKEN = 'Bearer realm="api"';
const INVALID_TOKEN =
  'Bearer realm="api", error="invalid_token", error_description="The access token is invalid"';
const INACTIVE_TOKEN =
  'Bearer realm="api", error="invalid_token", error_description="The access token is not active"';
const MISSING_WRITE_SCOPE =
  'Bearer realm="api", error="insufficient_scope", error_description="The access token lacks a required scope", scope="orders:write"';

/** The resource server: verifies the provider's tokens with `strategy`, introspecting as itself. */
function resourceServer(
  op: RunningOidcProvider,
  strategy: VerificationStrategyName,
): ModuleMetadata {
  return {
    imports: [
      OidcClientCredentialsModule.forRoot({
        issuer: op.issuer,
        clientId: 'orders-api',
        clientSecret: RESOURCE_SERVER_SECRET,
        verification: { strategy, audience: OUR_AUDIENCE },
      }),
    ],
    controllers: [OrdersController],
  };
}

/** Which token a row sends. */
type TokenKind = 'read+write' | 'read' | 'tampered' | 'unknown' | 'other audience' | 'none';

/**
 * The calling service's tokens, from the provider's token endpoint through the library's own
 * TokenProvider (one named client per scope/resource, as a real caller would configure them).
 */
async function callerTokens(op: RunningOidcProvider): Promise<{
  moduleRef: TestingModule;
  tokens: Record<'read+write' | 'read' | 'other audience', string>;
}> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      OidcClientCredentialsModule.forRoot({
        issuer: op.issuer,
        clientId: 'billing',
        clientSecret: CALLER_SECRET,
        scope: 'orders:read orders:write',
        clients: {
          reader: { scope: 'orders:read' },
          elsewhere: { resource: OTHER_RESOURCE },
        },
      }),
    ],
  })
    .setLogger(new CapturingLogger())
    .compile();
  await moduleRef.init();
  const registry = moduleRef.get(TokenProviderRegistry);
  const [readWrite, read, otherAudience] = await Promise.all([
    registry.get('default').getToken(),
    registry.get('reader').getToken(),
    registry.get('elsewhere').getToken(),
  ]);
  return { moduleRef, tokens: { 'read+write': readWrite, read, 'other audience': otherAudience } };
}

/** The same JWS with one character of its signature changed (a middle one: every bit counts). */
function tamperSignature(jwt: string): string {
  const [header, payload, signature] = jwt.split('.');
  const at = Math.floor(signature.length / 2);
  const swapped = signature[at] === 'A' ? 'B' : 'A';
  return `${header}.${payload}.${signature.slice(0, at)}${swapped}${signature.slice(at + 1)}`;
}

interface Row {
  /** What the row shows. */
  case: string;
  token: TokenKind;
  path: string;
  status: number;
  /** Exact `WWW-Authenticate`; `undefined`: none. */
  challenge: string | undefined;
  body?: Record<string, unknown>;
}

const SHARED_ROWS: Row[] = [
  {
    case: 'its token reaches a plain route with the caller as @ClientId()',
    token: 'read+write',
    path: '/orders',
    status: 200,
    challenge: undefined,
    body: { clientId: 'billing' },
  },
  {
    case: 'its token with the required scope reaches a @RequireScopes route',
    token: 'read+write',
    path: '/orders/write',
    status: 200,
    challenge: undefined,
    body: { clientId: 'billing' },
  },
  {
    case: 'its token without the required scope: 403 insufficient_scope naming the scope',
    token: 'read',
    path: '/orders/write',
    status: 403,
    challenge: MISSING_WRITE_SCOPE,
    body: { statusCode: 403, error: 'insufficient_scope' },
  },
  {
    case: 'its token issued for another resource (aud): 401 invalid_token',
    token: 'other audience',
    path: '/orders',
    status: 401,
    challenge: INVALID_TOKEN,
    body: { statusCode: 401, error: 'invalid_token' },
  },
  {
    case: 'no token: 401 with a bare challenge',
    token: 'none',
    path: '/orders',
    status: 401,
    challenge: NO_TOKEN,
  },
];

interface Configuration {
  format: 'jwt' | 'opaque';
  /** Strategies that verify this kind of token; `auto` must route it to the right one. */
  strategies: VerificationStrategyName[];
  rows: Row[];
}

const CONFIGURATIONS: Configuration[] = [
  {
    format: 'jwt',
    strategies: ['jwt', 'auto'],
    rows: [
      ...SHARED_ROWS,
      {
        case: 'its token with a tampered signature: 401 invalid_token',
        token: 'tampered',
        path: '/orders',
        status: 401,
        challenge: INVALID_TOKEN,
        body: { statusCode: 401, error: 'invalid_token' },
      },
    ],
  },
  {
    format: 'opaque',
    strategies: ['introspection', 'auto'],
    rows: [
      ...SHARED_ROWS,
      {
        case: 'a token the provider never issued: 401 invalid_token (inactive)',
        token: 'unknown',
        path: '/orders',
        status: 401,
        challenge: INACTIVE_TOKEN,
        body: { statusCode: 401, error: 'invalid_token' },
      },
    ],
  },
];

describe.each(CONFIGURATIONS)(
  'ClientTokenGuard verifying oidc-provider $format access tokens over HTTP',
  ({ format, strategies, rows }) => {
    const logger = new CapturingLogger();
    const apps = new Map<string, RunningApp>();
    let op: RunningOidcProvider;
    let caller: TestingModule | undefined;
    let tokens: Record<TokenKind, string | undefined>;

    beforeAll(async () => {
      Logger.overrideLogger(false);
      op = await startOidcProvider({
        clients: CLIENTS,
        accessTokenFormat: format,
        audience: OUR_AUDIENCE,
      });
      const issued = await callerTokens(op);
      caller = issued.moduleRef;
      tokens = {
        ...issued.tokens,
        tampered: format === 'jwt' ? tamperSignature(issued.tokens['read+write']) : undefined,
        unknown: randomBytes(32).toString('base64url'),
        none: undefined,
      };
      // Introspection of JWT access tokens is refused by the provider (R32): shown on its own app.
      const alsoStarted: VerificationStrategyName[] =
        format === 'jwt' ? ['userinfo', 'introspection'] : ['userinfo'];
      const started = await Promise.all(
        HTTP_PLATFORMS.flatMap((platform) =>
          [...strategies, ...alsoStarted].map(
            async (strategy) =>
              [
                `${platform}/${strategy}`,
                await startHttpApp(platform, resourceServer(op, strategy), logger),
              ] as const,
          ),
        ),
      );
      for (const [key, app] of started) apps.set(key, app);
    });

    afterAll(async () => {
      await Promise.all([...apps.values()].map((app) => app.close()));
      await caller?.close();
      await op?.close();
      Logger.overrideLogger(new Logger());
    });

    async function send(
      platform: HttpPlatform,
      strategy: string,
      row: Pick<Row, 'token' | 'path'>,
    ) {
      const app = apps.get(`${platform}/${strategy}`)!;
      const token = tokens[row.token];
      const response = await rawRequest(app.url, {
        path: row.path,
        headers: token ? [['Authorization', `Bearer ${token}`]] : [],
      });
      if (token) {
        // Neither the answer nor anything an app logged may contain the token.
        expect(response.body).not.toContain(token);
        expect(logger.text()).not.toContain(token);
      }
      return response;
    }

    function expectAnswer(response: RawResponse, row: Row) {
      expect(response.status).toBe(row.status);
      expect(response.headers['www-authenticate']).toBe(row.challenge);
      if (row.body) expect(JSON.parse(response.body)).toMatchObject(row.body);
    }

    describe.each(HTTP_PLATFORMS)('on %s', (platform) => {
      describe.each(strategies)('strategy %s', (strategy) => {
        it.each(rows)('$case', async (row) => {
          expectAnswer(await send(platform, strategy, row), row);
        });
      });

      // oidc-provider serves userinfo only for tokens of an end-user with `openid`: a client
      // credentials token is refused there, which the guard must answer 401, never 503.
      it.each<Row>([
        {
          case: 'strategy userinfo: the provider refuses client credentials tokens, so 401 invalid_token',
          token: 'read+write',
          path: '/orders',
          status: 401,
          challenge: INVALID_TOKEN,
          body: { statusCode: 401, error: 'invalid_token' },
        },
      ])('$case', async (row) => {
        const hints = () =>
          logger
            .at('warn')
            .filter((line) => line.includes('The userinfo endpoint refused a token'));
        const before = hints().length;
        expectAnswer(await send(platform, 'userinfo', row), row);
        // The refusal came from the provider's userinfo endpoint: this app logged its hint once.
        expect(hints()).toHaveLength(before + 1);
      });

      if (format === 'jwt') {
        it('R32 strategy introspection: the provider does not introspect its JWT access tokens, so 503 and one configuration error saying which strategy fits', async () => {
          const refusals = () =>
            logger.at('error').filter((line) => line.includes('OIDC_CC_INTROSPECTION_REFUSED'));
          const before = refusals().length;
          const row: Row = {
            case: 'introspection of a JWT',
            token: 'read+write',
            path: '/orders',
            status: 503,
            challenge: undefined,
          };
          for (let i = 0; i < 3; i += 1) {
            const response = await send(platform, 'introspection', row);
            expectAnswer(response, row);
            expect(response.headers['retry-after']).toBe('5');
          }
          expect(refusals()).toHaveLength(before + 1);
          expect(refusals().at(-1)).toMatch(
            /^Token verification misconfigured \(OIDC_CC_INTROSPECTION_REFUSED\): The introspection endpoint does not introspect this kind of token: POST http:\/\/127\.0\.0\.1:\d+\/\S+ answered HTTP 400 \(unsupported_token_type: Structured JWT Tokens cannot be introspected via the introspection_endpoint\); ID services that issue JWT access tokens may introspect only opaque ones: verify JWTs with verification\.strategy 'jwt' or 'auto'; answered 503/,
          );
        });
      }
    });
  },
);
