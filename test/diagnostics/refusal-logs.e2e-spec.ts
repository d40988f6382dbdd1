import { jest } from '@jest/globals';
import {
  OidcClientCredentialsEvents,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { FakeIdService, PATHS } from 'nest-oidc-client-credentials/testing';
import { fakeDateOnly } from '../utils/fake-date.js';
import { rawRequest, startHttpApp, type RunningApp } from '../utils/nest-http-app.js';
import { freePort } from '../utils/ports.js';
import { diagnosticsApp } from './app.module.js';

// A 503 from the guard says why: the log line names the URL fetched (never its query), the system
// error code or HTTP status and the ID service's error; the same cause keeps its code on every
// request; it is logged once per cause per minute, saying how many were left out; a refusal of
// this service's configuration is an error, an outage a warning; a 4xx stays at debug by code.

const API = { id: 'orders-api', secret: 'orders-api-s3cret' };
const WELL_KNOWN = '/.well-known/openid-configuration';

/** What one row sets up: the module's options, the token sent, the line expected. */
interface Scenario {
  options: Partial<OidcClientCredentialsModuleOptions>;
  token: string;
  line: string;
}

describe('R31 the guard says why it answers 503, once per cause and minute', () => {
  let idp: FakeIdService;
  let running: RunningApp | undefined;
  let codes: string[];

  beforeAll(async () => {
    idp = await FakeIdService.start({
      clients: { 'test-client': { secret: 'test-secret' }, [API.id]: { secret: API.secret } },
    });
  });
  afterAll(() => idp.close());
  beforeEach(() => fakeDateOnly());
  afterEach(async () => {
    await running?.close();
    running = undefined;
    jest.useRealTimers();
    idp.reset();
  });

  async function start(options: Partial<OidcClientCredentialsModuleOptions>): Promise<void> {
    running = await startHttpApp(
      'express',
      diagnosticsApp({
        issuer: idp.issuer,
        clientId: API.id,
        clientSecret: API.secret,
        retry: { initialDelayMs: 1, maxDelayMs: 5 },
        ...options,
        verification: { warnOnMissingAudience: false, ...options.verification },
      }),
    );
    codes = [];
    running.app
      .get(OidcClientCredentialsEvents)
      .on('verification.failed', ({ code }) => void codes.push(code));
  }

  async function get(token: string): Promise<number> {
    const response = await rawRequest(running!.url, {
      path: '/orders',
      headers: [['Authorization', `Bearer ${token}`]],
    });
    expect(response.body).not.toContain(token);
    return response.status;
  }

  /** The guard's lines at one level, without the logger's context (and an error's empty stack). */
  const guardLines = (level: 'warn' | 'error' | 'debug') =>
    running!.logger
      .at(level)
      .filter((line) => / ClientTokenGuard$/.test(line))
      .map((line) => line.replace(/( undefined)? ClientTokenGuard$/, ''));
  /** The guard's refusal lines at one level. */
  const reports = (level: 'warn' | 'error') =>
    guardLines(level).filter((line) => line.startsWith('Token verification'));
  const advance = (ms: number) => jest.setSystemTime(Date.now() + ms);
  const jwtStrategy = { verification: { strategy: 'jwt' as const } };

  it.each<[string, 'warn' | 'error', string, () => Promise<Scenario>]>([
    [
      'discovery-unreachable: the errno of the issuer',
      'warn',
      'OIDC_CC_DISCOVERY_FAILED',
      async () => {
        const issuer = `http://127.0.0.1:${await freePort()}`;
        return {
          options: { issuer, ...jwtStrategy },
          token: await idp.mintJwt(),
          line: `Token verification unavailable (OIDC_CC_DISCOVERY_FAILED): Discovery failed: GET ${issuer}${WELL_KNOWN}: connection refused (ECONNREFUSED); answered 503`,
        };
      },
    ],
    [
      'wrong-issuer-path: the path fetched and its 404',
      'warn',
      'OIDC_CC_DISCOVERY_FAILED',
      async () => ({
        options: { issuer: `${idp.issuer}/openid`, ...jwtStrategy },
        token: await idp.mintJwt(),
        line: `Token verification unavailable (OIDC_CC_DISCOVERY_FAILED): Discovery failed: GET ${idp.issuer}/openid${WELL_KNOWN} answered HTTP 404 (not_found; expected 200 with the ID service's metadata; is "issuer" right?); GET ${idp.issuer}/.well-known/oauth-authorization-server/openid (RFC 8414) answered HTTP 404 too; answered 503`,
      }),
    ],
    [
      'jwks-404',
      'warn',
      'OIDC_CC_JWKS_UNAVAILABLE',
      async () => {
        idp.on(PATHS.jwks, () => ({ status: 404, body: { error: 'not_found' } }));
        return {
          options: jwtStrategy,
          token: await idp.mintJwt(),
          line: `Token verification unavailable (OIDC_CC_JWKS_UNAVAILABLE): JWKS fetch failed: GET ${idp.url(PATHS.jwks)} answered HTTP 404 (not_found); answered 503`,
        };
      },
    ],
    [
      'jwks-unreachable: the errno, and never the query',
      'warn',
      'OIDC_CC_JWKS_UNAVAILABLE',
      async () => {
        const jwks = `http://127.0.0.1:${await freePort()}/keys`;
        return {
          options: { endpoints: { jwks: `${jwks}?api_key=k3y-in-query` }, ...jwtStrategy },
          token: await idp.mintJwt(),
          line: `Token verification unavailable (OIDC_CC_JWKS_UNAVAILABLE): JWKS fetch failed: GET ${jwks}: connection refused (ECONNREFUSED); answered 503`,
        };
      },
    ],
    [
      'introspection-invalid-client: a configuration error',
      'error',
      'OIDC_CC_INTROSPECTION_REFUSED',
      async () => {
        idp.on(PATHS.introspection, () => ({
          status: 401,
          body: { error: 'invalid_client', error_description: 'client authentication failed' },
        }));
        return {
          options: { verification: { strategy: 'introspection' } },
          token: idp.mintOpaque(),
          line: `Token verification misconfigured (OIDC_CC_INTROSPECTION_REFUSED): The introspection endpoint refused this service's credentials: POST ${idp.url(PATHS.introspection)} answered HTTP 401 (invalid_client: client authentication failed); check clientId, the client secret or key, and that the client may introspect; answered 503`,
        };
      },
    ],
    [
      'introspection-unsupported-token-type: the strategy does not fit the token',
      'error',
      'OIDC_CC_INTROSPECTION_REFUSED',
      async () => {
        idp.on(PATHS.introspection, () => ({
          status: 400,
          body: {
            error: 'unsupported_token_type',
            error_description:
              'Structured JWT Tokens cannot be introspected via the introspection_endpoint',
          },
        }));
        return {
          options: { verification: { strategy: 'introspection' } },
          token: await idp.mintJwt(),
          line: `Token verification misconfigured (OIDC_CC_INTROSPECTION_REFUSED): The introspection endpoint does not introspect this kind of token: POST ${idp.url(PATHS.introspection)} answered HTTP 400 (unsupported_token_type: Structured JWT Tokens cannot be introspected via the introspection_endpoint); ID services that issue JWT access tokens may introspect only opaque ones: verify JWTs with verification.strategy 'jwt' or 'auto'; answered 503`,
        };
      },
    ],
    [
      "userinfo-500: the status and the ID service's error",
      'warn',
      'OIDC_CC_USERINFO_UNAVAILABLE',
      async () => {
        idp.on(PATHS.userinfo, () => ({ status: 500, body: { error: 'server_error' } }));
        return {
          options: { verification: { strategy: 'userinfo' } },
          token: idp.mintOpaque(),
          line: `Token verification unavailable (OIDC_CC_USERINFO_UNAVAILABLE): Userinfo failed: GET ${idp.url(PATHS.userinfo)} answered HTTP 500 (server_error); answered 503`,
        };
      },
    ],
  ])('%s', async (_case, level, code, arrange) => {
    const { options, token, line } = await arrange();
    await start(options);
    for (let i = 0; i < 5; i += 1) expect(await get(token)).toBe(503);
    expect(codes).toEqual(Array(5).fill(code));
    expect(reports(level)).toEqual([line]);

    advance(59_000);
    expect(await get(token)).toBe(503);
    expect(reports(level)).toEqual([line]);
    advance(1_000);
    expect(await get(token)).toBe(503);
    expect(reports(level)).toEqual([line, `${line} (5 more since the last report 60 s ago)`]);
    expect(codes).toEqual(Array(7).fill(code));
    expect(running!.logger.text()).not.toContain(token);
    expect(running!.logger.text()).not.toContain('k3y-in-query');
  });

  it('a new cause is logged at once, within the minute of another', async () => {
    idp.on(PATHS.jwks, () => ({ status: 404, body: { error: 'not_found' } }));
    await start(jwtStrategy);
    const token = await idp.mintJwt();
    expect(await get(token)).toBe(503);
    idp.on(PATHS.jwks, () => ({ status: 502 }));
    // Past the JWKS failure backoff (retryAfterSeconds, 5 s): the next request fetches again.
    advance(6_000);
    expect(await get(token)).toBe(503);
    expect(await get(token)).toBe(503);
    expect(reports('warn')).toEqual([
      `Token verification unavailable (OIDC_CC_JWKS_UNAVAILABLE): JWKS fetch failed: GET ${idp.url(PATHS.jwks)} answered HTTP 404 (not_found); answered 503`,
      `Token verification unavailable (OIDC_CC_JWKS_UNAVAILABLE): JWKS fetch failed: GET ${idp.url(PATHS.jwks)} answered HTTP 502; answered 503`,
    ]);
  });

  it('a 4xx stays at debug level, by its code only', async () => {
    await start(jwtStrategy);
    const expired = await idp.mintJwt({ exp: Math.floor(Date.now() / 1000) - 3600 });
    for (let i = 0; i < 3; i += 1) expect(await get(expired)).toBe(401);
    expect(guardLines('debug')).toEqual(
      Array(3).fill('Bearer token refused with 401: OIDC_CC_TOKEN_EXPIRED'),
    );
    expect(reports('warn')).toEqual([]);
    expect(reports('error')).toEqual([]);
  });
});
