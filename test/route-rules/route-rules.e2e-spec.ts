import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import {
  addClientCredentialsSecurity,
  OidcClientCredentialsEvents,
} from 'nest-oidc-client-credentials';
import { createTestingOptions, FakeIdService } from 'nest-oidc-client-credentials/testing';
import {
  HTTP_PLATFORMS,
  rawRequest,
  startHttpApp,
  type RawResponse,
  type RunningApp,
} from '../utils/nest-http-app.js';
import { routeRulesAppModule } from './app.module.js';

const AUDIENCE = 'orders-api';
const REALM = 'Bearer realm="api", error="insufficient_scope"';
const ROUTE_CLIENT = 'The client is not allowed to call this route';
const CLAIMS = 'The access token lacks a claim this route requires';
const NO_ACCEPTED_SCOPE = 'The access token has none of the scopes this route accepts';
const LACKS_SCOPE = 'The access token lacks a required scope';

/** A refusal's `WWW-Authenticate`, with `scope="…"` when scopes are the reason. */
const challenge = (description: string, scope?: string) =>
  `${REALM}, error_description="${description}"${scope ? `, scope="${scope}"` : ''}`;

/** The claims of a token of `client` (its `client_id` and `sub`), for this API. */
const claimsOf = (client: string, claims: Record<string, unknown> = {}) => ({
  sub: client,
  client_id: client,
  aud: AUDIENCE,
  ...claims,
});

/**
 * A route, the token's claims, and the answer: 200, or 403 with its description and scope. Rows
 * leave out what they do not need; the tests take them as one rest parameter, so that jest never
 * mistakes a missing member for a `done` callback.
 */
type Row = [
  name: string,
  path: string,
  claims: Record<string, unknown>,
  status: 200 | 403,
  description?: string,
  scope?: string,
];

const ALLOW_CLIENTS: Row[] = [
  ['allow-clients-controller-list', '/clients', claimsOf('billing'), 200],
  ['allow-clients-controller-list-other', '/clients', claimsOf('shipping'), 403, ROUTE_CLIENT],
  ['allow-clients-handler-narrows', '/clients/reports-only', claimsOf('reports'), 200],
  [
    'allow-clients-handler-narrows-out',
    '/clients/reports-only',
    claimsOf('billing'),
    403,
    ROUTE_CLIENT,
  ],
  ['allow-clients-in-both-lists', '/clients/shipping', claimsOf('billing'), 200],
  [
    'allow-clients-handler-cannot-widen',
    '/clients/shipping',
    claimsOf('shipping'),
    403,
    ROUTE_CLIENT,
  ],
  ['allow-clients-handler-only', '/audit', claimsOf('auditor'), 200],
  ['allow-clients-handler-only-other', '/audit', claimsOf('billing'), 403, ROUTE_CLIENT],
  ['allow-clients-sibling-route-open', '/audit/open', claimsOf('billing'), 200],
  ['allow-clients-sub-without-client-id', '/audit', { sub: 'auditor', aud: AUDIENCE }, 200],
];

const CLAIMS_ROWS: Row[] = [
  ['claims-exact-value', '/claims/tenant', claimsOf('billing', { tenant: 'acme' }), 200],
  ['claims-other-value', '/claims/tenant', claimsOf('billing', { tenant: 'globex' }), 403, CLAIMS],
  ['claims-missing', '/claims/tenant', claimsOf('billing'), 403, CLAIMS],
  ['claims-value-case', '/claims/tenant', claimsOf('billing', { tenant: 'ACME' }), 403, CLAIMS],
  [
    'claims-scalar-in-token-array',
    '/claims/tenant',
    claimsOf('billing', { tenant: ['globex', 'acme'] }),
    200,
  ],
  [
    'claims-array-contains',
    '/claims/admin',
    claimsOf('billing', { tenant: 'acme', roles: ['reader', 'admin'] }),
    200,
  ],
  [
    'claims-array-lacks-value',
    '/claims/admin',
    claimsOf('billing', { tenant: 'acme', roles: ['reader'] }),
    403,
    CLAIMS,
  ],
  [
    'claims-one-of-two-claims-wrong',
    '/claims/admin',
    claimsOf('billing', { tenant: 'globex', roles: ['admin'] }),
    403,
    CLAIMS,
  ],
  [
    'claims-array-no-substring',
    '/claims/admin',
    claimsOf('billing', { tenant: 'acme', roles: ['administrator', 'admins'] }),
    403,
    CLAIMS,
  ],
  [
    'claims-scalar-token-claim-for-list',
    '/claims/admin',
    claimsOf('billing', { tenant: 'acme', roles: 'admin' }),
    200,
  ],
  [
    'claims-array-contains-every-value',
    '/claims/admin-auditor',
    claimsOf('billing', { roles: ['auditor', 'reader', 'admin'] }),
    200,
  ],
  [
    'claims-array-contains-one-of-two',
    '/claims/admin-auditor',
    claimsOf('billing', { roles: ['admin'] }),
    403,
    CLAIMS,
  ],
  [
    'claims-number-and-boolean',
    '/claims/level',
    claimsOf('billing', { level: 3, verified: true }),
    200,
  ],
  [
    'claims-type-strict',
    '/claims/level',
    claimsOf('billing', { level: '3', verified: 'true' }),
    403,
    CLAIMS,
  ],
  [
    'claims-controller-and-handler',
    '/tenant-admin',
    claimsOf('billing', { tenant: 'acme', roles: ['admin'] }),
    200,
  ],
  [
    'claims-controller-unmet',
    '/tenant-admin',
    claimsOf('billing', { tenant: 'globex', roles: ['admin'] }),
    403,
    CLAIMS,
  ],
  [
    'claims-handler-unmet',
    '/tenant-admin',
    claimsOf('billing', { tenant: 'acme', roles: ['reader'] }),
    403,
    CLAIMS,
  ],
  [
    'claims-predicate-true',
    '/claims/region',
    claimsOf('billing', { address: { region: 'eu' } }),
    200,
  ],
  [
    'claims-predicate-false',
    '/claims/region',
    claimsOf('billing', { address: { region: 'us' } }),
    403,
    CLAIMS,
  ],
  [
    'claims-predicate-passing',
    '/claims/limits',
    claimsOf('billing', { limits: { refunds: 5000 } }),
    200,
  ],
  ['claims-predicate-throws', '/claims/limits', claimsOf('billing'), 403, CLAIMS],
  ['claims-predicate-returns-promise', '/claims/async', claimsOf('billing'), 403, CLAIMS],
  ['claims-prototype-member-not-matched', '/claims/constructor', claimsOf('billing'), 403, CLAIMS],
];

const SCOPE_ROWS: Row[] = [
  ['scopes-any-first-present', '/scopes/any', claimsOf('billing', { scope: 'orders:read' }), 200],
  [
    'scopes-any-second-present',
    '/scopes/any',
    claimsOf('billing', { scope: 'x orders:admin' }),
    200,
  ],
  [
    'scopes-any-none-present',
    '/scopes/any',
    claimsOf('billing', { scope: 'orders:write orders:reader' }),
    403,
    NO_ACCEPTED_SCOPE,
    'orders:read orders:admin',
  ],
  [
    'scopes-any-no-scope-claim',
    '/scopes/any',
    claimsOf('billing'),
    403,
    NO_ACCEPTED_SCOPE,
    'orders:read orders:admin',
  ],
  [
    'scopes-all-and-any-met',
    '/scopes/all-and-any',
    claimsOf('billing', { scope: 'orders:read region:us' }),
    200,
  ],
  [
    'scopes-all-and-any-all-missing',
    '/scopes/all-and-any',
    claimsOf('billing', { scope: 'region:eu' }),
    403,
    LACKS_SCOPE,
    'orders:read',
  ],
  [
    'scopes-all-and-any-any-missing',
    '/scopes/all-and-any',
    claimsOf('billing', { scope: 'orders:read' }),
    403,
    NO_ACCEPTED_SCOPE,
    'region:eu region:us',
  ],
  [
    'scopes-any-controller-and-handler',
    '/reports/export',
    claimsOf('billing', { scope: 'reports:admin export:pdf' }),
    200,
  ],
  [
    'scopes-any-controller-unmet',
    '/reports/export',
    claimsOf('billing', { scope: 'export:csv export:pdf' }),
    403,
    NO_ACCEPTED_SCOPE,
    'reports:read reports:admin',
  ],
  [
    'scopes-any-handler-unmet',
    '/reports/export',
    claimsOf('billing', { scope: 'reports:read' }),
    403,
    NO_ACCEPTED_SCOPE,
    'export:csv export:pdf',
  ],
];

describe.each(HTTP_PLATFORMS)('route rules on %s (e2e)', (platform) => {
  let idp: FakeIdService;
  let running: RunningApp;
  const tokens = new Set<string>();

  beforeAll(async () => {
    idp = await FakeIdService.start({ clients: { [AUDIENCE]: { secret: 'orders-api-secret' } } });
    running = await startHttpApp(
      platform,
      routeRulesAppModule(
        createTestingOptions(idp, {
          verification: { strategy: 'jwt', audience: AUDIENCE, cacheTtlSeconds: 60 },
        }),
      ),
    );
  });

  afterAll(async () => {
    // Nothing the guard logged may contain a token or a claim value of a refused request.
    const logged = running?.logger.text() ?? '';
    for (const token of tokens) expect(logged).not.toContain(token);
    await running?.close();
    await idp?.close();
  });

  async function send(path: string, claims: Record<string, unknown>): Promise<RawResponse> {
    const token = await idp.mintJwt(claims);
    tokens.add(token);
    const response = await rawRequest(running.url, {
      path,
      headers: [['Authorization', `Bearer ${token}`]],
    });
    expect(response.body).not.toContain(token);
    return response;
  }

  function expectAnswer(
    response: RawResponse,
    status: number,
    description: string | undefined,
    scope: string | undefined,
    claims: Record<string, unknown>,
  ): void {
    expect(response.status).toBe(status);
    if (status === 200) {
      expect(JSON.parse(response.body)).toEqual({ clientId: claims.client_id ?? claims.sub });
      expect(response.headers['www-authenticate']).toBeUndefined();
      return;
    }
    expect(response.headers['www-authenticate']).toBe(challenge(description!, scope));
    expect(JSON.parse(response.body)).toEqual({
      statusCode: 403,
      error: 'insufficient_scope',
      message: description,
    });
  }

  describe('@AllowClients()', () => {
    it.each<Row>(ALLOW_CLIENTS)(
      '%s',
      async (...[, path, claims, status, description, scope]: Row) => {
        expectAnswer(await send(path, claims), status, description, scope, claims);
      },
    );
  });

  describe('@RequireClaims()', () => {
    it.each<Row>(CLAIMS_ROWS)(
      '%s',
      async (...[, path, claims, status, description, scope]: Row) => {
        expectAnswer(await send(path, claims), status, description, scope, claims);
      },
    );

    it('claims-predicate-throws is logged once per route, naming it, without the caller seeing it', async () => {
      for (let i = 0; i < 3; i += 1) {
        expectAnswer(await send('/claims/limits', claimsOf('billing')), 403, CLAIMS, undefined, {});
      }
      const lines = running.logger
        .at('error')
        .filter((line) => line.includes('ClaimsController.limits'));
      expect(lines).toEqual([
        expect.stringMatching(
          /^ClaimsController\.limits: a @RequireClaims\(\) predicate threw TypeError: Cannot read properties of undefined \(reading 'refunds'\); its requests are refused with 403\b/,
        ),
      ]);
    });

    it('claims-predicate-returns-promise is logged once, saying predicates are synchronous', async () => {
      await send('/claims/async', claimsOf('billing'));
      expect(
        running.logger
          .at('error')
          .filter((line) => line.includes('ClaimsController.asyncPredicate')),
      ).toEqual([
        expect.stringMatching(
          /^ClaimsController\.asyncPredicate: a @RequireClaims\(\) predicate returned a Promise instead of a boolean \(predicates are synchronous\); its requests are refused with 403\b/,
        ),
      ]);
    });
  });

  describe('@RequireScopes() and @RequireScopes.any()', () => {
    it.each<Row>(SCOPE_ROWS)('%s', async (...[, path, claims, status, description, scope]: Row) => {
      expectAnswer(await send(path, claims), status, description, scope, claims);
    });
  });

  it('S69 route-rules-cached-result: a result from the verification cache is checked against each route', async () => {
    const events = running.app.get(OidcClientCredentialsEvents);
    let hits = 0;
    const off = events.on('verification.cache.hit', () => {
      hits += 1;
    });
    try {
      const token = await idp.mintJwt(
        claimsOf('billing', { tenant: 'acme', scope: 'orders:read' }),
      );
      tokens.add(token);
      const get = (path: string) =>
        rawRequest(running.url, { path, headers: [['Authorization', `Bearer ${token}`]] });
      expect((await get('/clients')).status).toBe(200);
      expect((await get('/claims/tenant')).status).toBe(200);
      expect((await get('/scopes/any')).status).toBe(200);
      const refused = [
        await get('/clients/reports-only'),
        await get('/claims/admin'),
        await get('/reports/export'),
      ];
      expect(refused.map((response) => response.status)).toEqual([403, 403, 403]);
      expect((await get('/clients')).status).toBe(200);
      // Verified once, then every request answered from the cache and checked on its own route.
      expect(hits).toBe(6);
    } finally {
      off();
    }
  });
});

describe('route rules in the OpenAPI document', () => {
  let idp: FakeIdService;
  let running: RunningApp;

  beforeAll(async () => {
    idp = await FakeIdService.start({ clients: { [AUDIENCE]: { secret: 'orders-api-secret' } } });
    running = await startHttpApp(
      'express',
      routeRulesAppModule(createTestingOptions(idp, { verification: { audience: AUDIENCE } })),
    );
  });

  afterAll(async () => {
    await running?.close();
    await idp?.close();
  });

  it('scopes-any-openapi: each scope set that grants a route is an alternative requirement', async () => {
    const builder = await addClientCredentialsSecurity(
      running.app,
      new DocumentBuilder().setTitle('Orders'),
    );
    const document = SwaggerModule.createDocument(running.app, builder.build());
    const security = (path: string) => document.paths[path]?.get?.security;
    expect(security('/scopes/any')).toEqual([
      { oauth2: ['orders:read'] },
      { oauth2: ['orders:admin'] },
    ]);
    expect(security('/scopes/all-and-any')).toEqual([
      { oauth2: ['orders:read', 'region:eu'] },
      { oauth2: ['orders:read', 'region:us'] },
    ]);
    expect(security('/reports/export')).toEqual([
      { oauth2: ['reports:read', 'export:csv'] },
      { oauth2: ['reports:read', 'export:pdf'] },
      { oauth2: ['reports:admin', 'export:csv'] },
      { oauth2: ['reports:admin', 'export:pdf'] },
    ]);
    // Client and claim rules have no OpenAPI form: those routes need a token, any scope.
    expect(security('/clients')).toEqual([{ oauth2: [] }]);
    const flow = document.components?.securitySchemes?.oauth2;
    expect(flow).toMatchObject({
      flows: {
        clientCredentials: {
          scopes: expect.objectContaining({
            'orders:admin': '',
            'region:us': '',
            'export:pdf': '',
          }),
        },
      },
    });
  });
});
