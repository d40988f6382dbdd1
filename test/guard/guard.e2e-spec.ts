import { ForbiddenException } from '@nestjs/common';
import {
  TokenVerificationError,
  ValidatorUnavailableError,
  type VerificationOptions,
} from 'nest-oidc-client-credentials';
import {
  HTTP_PLATFORMS,
  rawRequest,
  startHttpApp,
  type RawResponse,
  type RunningApp,
} from '../utils/nest-http-app.js';
import {
  globalGuardAppModule,
  guardedAppModule,
  InMemoryStrategy,
  verified,
} from './app.module.js';

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJiaWxsaW5nIn0.c2lnbmF0dXJlLW9mLWJpbGxpbmc';
const FORM = 'application/x-www-form-urlencoded';
const BARE = 'Bearer realm="api"';
const INVALID_REQUEST =
  'Bearer realm="api", error="invalid_request", error_description="Malformed bearer token request"';
const INVALID_TOKEN =
  'Bearer realm="api", error="invalid_token", error_description="The access token is invalid"';
const MALFORMED_TOKEN =
  'Bearer realm="api", error="invalid_token", error_description="The access token is malformed"';
const EXPIRED_TOKEN =
  'Bearer realm="api", error="invalid_token", error_description="The access token expired"';

const bearer = (token: string): [string, string][] => [['Authorization', `Bearer ${token}`]];

function json(response: RawResponse): Record<string, unknown> {
  return JSON.parse(response.body) as Record<string, unknown>;
}

describe.each(HTTP_PLATFORMS)('ClientTokenGuard on %s', (platform) => {
  let strategy: InMemoryStrategy;
  let running: RunningApp | undefined;

  beforeEach(() => {
    strategy = new InMemoryStrategy();
    strategy.answers.set(TOKEN, verified('billing', 'orders:read'));
  });
  afterEach(async () => {
    // Nothing the guard answered or logged may contain the token.
    if (running) expect(running.logger.text()).not.toContain(TOKEN);
    await running?.close();
    running = undefined;
  });

  async function start(verification: VerificationOptions = {}): Promise<string> {
    running = await startHttpApp(platform, guardedAppModule(strategy, verification));
    return running.url;
  }

  async function send(
    path: string,
    headers: [string, string][] = [],
    options: { method?: string; body?: string; verification?: VerificationOptions } = {},
  ): Promise<RawResponse> {
    const url = running?.url ?? (await start(options.verification));
    const response = await rawRequest(url, { path, headers, ...options });
    expect(response.body).not.toContain(TOKEN);
    return response;
  }

  describe('reading the token (RFC 6750 §2)', () => {
    it.each<[string, [string, string][], string, number, string, boolean]>([
      ['S01 no Authorization header', [], '/orders', 401, BARE, false],
      ['S02 Basic scheme', [['Authorization', 'Basic dXNlcjpwYXNz']], '/orders', 401, BARE, false],
      [
        'S03 Bearer without token',
        [['Authorization', 'Bearer']],
        '/orders',
        400,
        INVALID_REQUEST,
        false,
      ],
      [
        'S05 characters outside b64token',
        bearer(`${TOKEN}"{}`),
        '/orders',
        401,
        MALFORMED_TOKEN,
        false,
      ],
      ['S05 space inside the token', bearer(`${TOKEN} x`), '/orders', 401, MALFORMED_TOKEN, false],
      [
        'S07 token only in the query (disabled)',
        [],
        `/orders?access_token=${TOKEN}`,
        401,
        BARE,
        false,
      ],
      ['S09 token over 8 KB', bearer('a'.repeat(9000)), '/orders', 401, MALFORMED_TOKEN, false],
      ['S09 9 000 dots', bearer('.'.repeat(9000)), '/orders', 401, MALFORMED_TOKEN, false],
      ['unknown token', bearer('unknown-token'), '/orders', 401, INVALID_TOKEN, true],
    ])('%s', async (_name, headers, path, status, challenge, reachesStrategy) => {
      const response = await send(path, headers);
      expect(response.status).toBe(status);
      expect(response.headers['www-authenticate']).toBe(challenge);
      expect(response.headers['retry-after']).toBeUndefined();
      expect(strategy.calls).toBe(reachesStrategy ? 1 : 0);
    });

    it('S01 answers a small fixed body', async () => {
      const response = await send('/orders');
      expect(json(response)).toEqual({
        statusCode: 401,
        error: 'Unauthorized',
        message: 'Bearer token required',
      });
    });

    it('S04 accepts a lower-case scheme and several spaces', async () => {
      const response = await send('/orders', [['authorization', `bearer    ${TOKEN}`]]);
      expect(response.status).toBe(200);
      expect(json(response)).toEqual({ clientId: 'billing', scopes: ['orders:read'] });
    });

    it('S08 refuses two Authorization headers without asking the strategy', async () => {
      const response = await send('/orders', [...bearer(TOKEN), ...bearer(TOKEN)]);
      expect(response.status).toBe(400);
      expect(response.headers['www-authenticate']).toBe(INVALID_REQUEST);
      expect(json(response)).toEqual({
        statusCode: 400,
        error: 'invalid_request',
        message: 'Malformed bearer token request',
      });
      expect(strategy.calls).toBe(0);
    });

    it('S08 refuses a Basic header next to a Bearer one', async () => {
      const response = await send('/orders', [
        ['Authorization', 'Basic dXNlcjpwYXNz'],
        ...bearer(TOKEN),
      ]);
      expect(response.status).toBe(400);
    });

    it('S09 a 100 KB header never reaches the app (Node answers 431)', async () => {
      const response = await send('/orders', bearer('a'.repeat(100 * 1024)));
      expect(response.status).toBe(431);
      expect(strategy.calls).toBe(0);
    });

    it('S06 refuses a token in the header and the query when both are enabled', async () => {
      await start({ tokenLocations: ['header', 'query'] });
      const response = await send(`/orders?access_token=${TOKEN}`, bearer(TOKEN));
      expect(response.status).toBe(400);
      expect(response.headers['www-authenticate']).toBe(INVALID_REQUEST);
      expect(strategy.calls).toBe(0);
    });

    it('S06 refuses a token in the header and the form body when both are enabled', async () => {
      await start({ tokenLocations: ['header', 'body'] });
      const response = await send('/orders', [...bearer(TOKEN), ['Content-Type', FORM]], {
        method: 'POST',
        body: `access_token=${TOKEN}`,
      });
      expect(response.status).toBe(400);
      expect(strategy.calls).toBe(0);
    });

    it('reads the query when enabled', async () => {
      await start({ tokenLocations: ['header', 'query'] });
      const response = await send(`/orders?access_token=${TOKEN}`);
      expect(response.status).toBe(200);
      expect(json(response)).toMatchObject({ clientId: 'billing' });
    });

    it('reads the form body when enabled', async () => {
      await start({ tokenLocations: ['header', 'body'] });
      const response = await send('/orders', [['Content-Type', FORM]], {
        method: 'POST',
        body: `access_token=${TOKEN}&item=1`,
      });
      expect(response.status).toBe(201);
      expect(json(response)).toEqual({ clientId: 'billing' });
    });

    it('refuses a repeated access_token in the body', async () => {
      await start({ tokenLocations: ['body'] });
      const response = await send('/orders', [['Content-Type', FORM]], {
        method: 'POST',
        body: `access_token=${TOKEN}&access_token=${TOKEN}`,
      });
      expect(response.status).toBe(400);
      expect(strategy.calls).toBe(0);
    });

    it('uses the configured realm', async () => {
      await start({ realm: 'orders-api' });
      const response = await send('/orders');
      expect(response.headers['www-authenticate']).toBe('Bearer realm="orders-api"');
    });

    it('uses the configured length cap', async () => {
      await start({ maxTokenLength: 20 });
      const response = await send('/orders', bearer(TOKEN));
      expect(response.status).toBe(401);
      expect(response.headers['www-authenticate']).toBe(MALFORMED_TOKEN);
      expect(strategy.calls).toBe(0);
    });
  });

  describe('answering the strategy (RFC 6750 §3.1)', () => {
    it('a valid token reaches the handler with @ClientId() and @TokenClaims()', async () => {
      const response = await send('/orders', bearer(TOKEN));
      expect(response.status).toBe(200);
      expect(json(response)).toEqual({ clientId: 'billing', scopes: ['orders:read'] });
      expect(response.headers['www-authenticate']).toBeUndefined();
    });

    it.each([
      ['OIDC_CC_TOKEN_EXPIRED', EXPIRED_TOKEN],
      [
        'OIDC_CC_TOKEN_INACTIVE',
        'Bearer realm="api", error="invalid_token", error_description="The access token is not active"',
      ],
      ['OIDC_CC_TOKEN_INVALID', INVALID_TOKEN],
      ['OIDC_CC_TOKEN_MALFORMED', MALFORMED_TOKEN],
    ] as const)('%s → 401 invalid_token', async (code, challenge) => {
      strategy.answers.set(TOKEN, new TokenVerificationError(code, `bad token ${TOKEN}`));
      const response = await send('/orders', bearer(TOKEN));
      expect(response.status).toBe(401);
      expect(response.headers['www-authenticate']).toBe(challenge);
      expect(json(response)).toMatchObject({ statusCode: 401, error: 'invalid_token' });
    });

    it.each([
      'OIDC_CC_JWKS_UNAVAILABLE',
      'OIDC_CC_INTROSPECTION_UNAVAILABLE',
      'OIDC_CC_USERINFO_UNAVAILABLE',
      'OIDC_CC_VALIDATOR_UNAVAILABLE',
    ] as const)('%s → 503 with Retry-After, never 401', async (code) => {
      strategy.answers.set(TOKEN, new ValidatorUnavailableError(code, 'ID service down'));
      await start({ retryAfterSeconds: 7 });
      const response = await send('/orders', bearer(TOKEN));
      expect(response.status).toBe(503);
      expect(response.headers['retry-after']).toBe('7');
      expect(response.headers['www-authenticate']).toBeUndefined();
      expect(json(response)).toEqual({
        statusCode: 503,
        error: 'Service Unavailable',
        message: 'Token verification is temporarily unavailable',
      });
      expect(running!.logger.at('warn').join('\n')).toContain(code);
    });

    it.each([
      ['S12 a TypeError quoting the token', new TypeError(`cannot read ${TOKEN}`)],
      ['S12 a thrown string', `oops ${TOKEN}`],
      ['S56 an error with CR/LF and quotes', new Error(`"\r\nX-Injected: 1\\ ${TOKEN}`)],
    ])('%s fails closed with 503 and logs no message or stack', async (_name, thrown) => {
      strategy.answers.set(TOKEN, thrown);
      const response = await send('/orders', bearer(TOKEN));
      expect(response.status).toBe(503);
      expect(response.headers['retry-after']).toBe('5');
      expect(response.headers['x-injected']).toBeUndefined();
      expect(response.body).not.toMatch(/stack|at .*\.ts|oops|cannot read/);
      const errors = running!.logger.at('error');
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(
        /^Unexpected (TypeError|Error|string) while verifying a bearer token/,
      );
      expect(running!.logger.text()).not.toMatch(/\n\s+at |oops|cannot read|X-Injected/);
    });

    it.each([
      ['no clientId', { scopes: [], claims: {} }],
      ['scopes not a list', { clientId: 'billing', scopes: 'orders:read', claims: {} }],
      ['undefined', undefined],
    ])('S12 a malformed result (%s) fails closed with 503', async (_name, result) => {
      strategy.answers.set(TOKEN, result);
      const response = await send('/orders', bearer(TOKEN));
      expect(response.status).toBe(503);
    });

    it('S70 refuses a result whose expiry has passed (a stale cache)', async () => {
      strategy.answers.set(
        TOKEN,
        verified('billing', '', { expiresAt: Math.floor(Date.now() / 1000) - 60 }),
      );
      const response = await send('/orders', bearer(TOKEN));
      expect(response.status).toBe(401);
      expect(response.headers['www-authenticate']).toBe(EXPIRED_TOKEN);
    });

    it("passes a strategy's own HttpException through unchanged", async () => {
      strategy.answers.set(TOKEN, new ForbiddenException('custom'));
      const response = await send('/orders', bearer(TOKEN));
      expect(response.status).toBe(403);
      expect(json(response)).toMatchObject({ message: 'custom' });
    });
  });

  describe('authorisation after verification', () => {
    it('S53 refuses a token whose scopes only look like the required one', async () => {
      strategy.answers.set(TOKEN, verified('billing', 'orders:read:all orders:reader write'));
      const response = await send('/orders/read', bearer(TOKEN));
      expect(response.status).toBe(403);
      expect(response.headers['www-authenticate']).toBe(
        'Bearer realm="api", error="insufficient_scope", error_description="The access token lacks a required scope", scope="orders:read"',
      );
      expect(json(response)).toEqual({
        statusCode: 403,
        error: 'insufficient_scope',
        message: 'The access token lacks a required scope',
      });
    });

    it('S53 lists every required scope when one is missing', async () => {
      const response = await send('/orders/write', bearer(TOKEN));
      expect(response.status).toBe(403);
      expect(response.headers['www-authenticate']).toContain('scope="orders:read orders:write"');
    });

    it('grants a route when every required scope is present', async () => {
      strategy.answers.set(TOKEN, verified('billing', 'orders:write orders:read'));
      expect((await send('/orders/read', bearer(TOKEN))).status).toBe(200);
      expect((await send('/orders/write', bearer(TOKEN))).status).toBe(200);
    });

    it("a handler adds to its controller's scopes, never lifts them", async () => {
      strategy.answers.set(TOKEN, verified('billing', 'admin:purge'));
      const purge = await send('/admin/purge', bearer(TOKEN));
      expect(purge.status).toBe(403);
      expect(purge.headers['www-authenticate']).toContain('scope="admin admin:purge"');
      strategy.answers.set(TOKEN, verified('billing', 'admin admin:purge'));
      expect((await send('/admin/purge', bearer(TOKEN))).status).toBe(200);
    });

    it('S69 checks each route on its own, also when the strategy answers from its cache', async () => {
      strategy.answers.set(TOKEN, verified('billing', 'orders:read'));
      expect((await send('/orders/read', bearer(TOKEN))).status).toBe(200);
      expect((await send('/orders/write', bearer(TOKEN))).status).toBe(403);
      expect((await send('/admin', bearer(TOKEN))).status).toBe(403);
      expect((await send('/orders/read', bearer(TOKEN))).status).toBe(200);
    });

    it("one handler inherited by two controllers keeps each controller's scopes", async () => {
      strategy.answers.set(TOKEN, verified('billing', 'sales'));
      for (let i = 0; i < 2; i += 1) {
        expect((await send('/reports/sales', bearer(TOKEN))).status).toBe(200);
        expect((await send('/reports/payroll', bearer(TOKEN))).status).toBe(403);
      }
    });

    it('allowedClientIds: another client gets 403 insufficient_scope', async () => {
      await start({ allowedClientIds: ['shipping'] });
      const response = await send('/orders', bearer(TOKEN));
      expect(response.status).toBe(403);
      expect(response.headers['www-authenticate']).toBe(
        'Bearer realm="api", error="insufficient_scope", error_description="The client is not allowed to call this service"',
      );
    });

    it('allowedClientIds: a listed client passes', async () => {
      await start({ allowedClientIds: ['shipping', 'billing'] });
      expect((await send('/orders', bearer(TOKEN))).status).toBe(200);
    });

    it('requireSubjectIsClient: a token whose sub is not the client gets 401', async () => {
      strategy.answers.set(TOKEN, verified('billing', '', { subject: 'user-42' }));
      await start({ requireSubjectIsClient: true });
      const response = await send('/orders', bearer(TOKEN));
      expect(response.status).toBe(401);
      expect(response.headers['www-authenticate']).toBe(INVALID_TOKEN);
    });

    it('requireSubjectIsClient: the seed-shaped token (sub = client id) passes', async () => {
      await start({ requireSubjectIsClient: true });
      expect((await send('/orders', bearer(TOKEN))).status).toBe(200);
    });

    it('a subclass can change one step (authorize) and keeps the rest', async () => {
      expect((await send('/tenant', bearer(TOKEN))).status).toBe(403);
      strategy.answers.set(TOKEN, verified('billing', '', { claims: { tenant: 'acme' } }));
      expect((await send('/tenant', bearer(TOKEN))).status).toBe(200);
      expect((await send('/tenant')).headers['www-authenticate']).toBe(BARE);
    });

    it('@ClientId() on a route without the guard fails with 500, never undefined', async () => {
      const response = await send('/unguarded/client', bearer(TOKEN));
      expect(response.status).toBe(500);
      expect(response.body).not.toContain('billing');
      expect(running!.logger.text()).toContain('@ClientId() needs ClientTokenGuard on this route');
    });
  });

  describe('as APP_GUARD', () => {
    beforeEach(async () => {
      running = await startHttpApp(platform, globalGuardAppModule(strategy));
    });

    it('S10 protects a route without any decorator', async () => {
      const response = await send('/global/protected');
      expect(response.status).toBe(401);
      expect(response.headers['www-authenticate']).toBe(BARE);
      expect((await send('/global/protected', bearer(TOKEN))).status).toBe(200);
    });

    it('S10 @Public() on a handler opens it without a token', async () => {
      const response = await send('/global/health');
      expect(response.status).toBe(200);
      expect(strategy.calls).toBe(0);
    });

    it('S10 @Public() on a controller opens its routes', async () => {
      expect((await send('/docs')).status).toBe(200);
    });

    it('@ClientId() on a @Public() route fails with 500 even with a valid token', async () => {
      expect((await send('/global/public-client', bearer(TOKEN))).status).toBe(500);
    });
  });
});
