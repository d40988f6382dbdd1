import fc from 'fast-check';
import { FakeIdService, PATHS } from 'nest-oidc-client-credentials/testing';
import { TokenRequestError, type TokenRequestErrorCode } from '../errors/token-request.error.js';
import { IssuerMetadataProvider } from '../idp/issuer-metadata.provider.js';
import { resolveOptions } from '../options/resolve-options.util.js';
import { createClientAuthentication } from '../idp/client-authentication.util.js';
import { requestToken, type TokenRequestContext } from './token-request.util.js';

// Whatever the token endpoint answers — status, headers, body — one request either yields a
// checked token or fails with a TokenRequestError that holds no secret, token or response body.

const SECRET = 'pr0p-s3cret:Zq8%';
const CODES: readonly TokenRequestErrorCode[] = [
  'OIDC_CC_TOKEN_REQUEST_FAILED',
  'OIDC_CC_TOKEN_RESPONSE_INVALID',
  'OIDC_CC_TOKEN_ENDPOINT_UNAVAILABLE',
  'OIDC_CC_TOKEN_ENDPOINT_THROTTLED',
];

/** Access tokens are recognisable, so a test can tell whether one leaked into a message. */
const accessToken = fc.stringMatching(/^AT-[A-Za-z0-9_-]{16,40}$/);
const tokenResponse = fc.record(
  {
    access_token: fc.oneof(
      { weight: 5, arbitrary: accessToken },
      fc.constant(''),
      fc.integer(),
      fc.constant(null),
      fc.array(accessToken, { maxLength: 2 }),
    ),
    token_type: fc.oneof(
      { weight: 5, arbitrary: fc.mixedCase(fc.constantFrom('bearer', 'dpop', 'mac', 'n_a')) },
      fc.string({ maxLength: 60 }),
      fc.integer(),
    ),
    expires_in: fc.oneof(
      fc.integer({ min: -10, max: 100_000 }),
      fc.double(),
      fc.constantFrom('3600', '1e3', ' 60 ', 'x', '', null, 1e308, true),
    ),
    scope: fc.oneof(fc.string({ maxLength: 30 }), fc.array(fc.string({ maxLength: 8 }))),
    refresh_token: fc.string({ maxLength: 20 }),
    error: fc.oneof(
      fc.constantFrom('invalid_client', 'invalid_scope', 'slow_down'),
      fc.string({ maxLength: 80 }),
      fc.integer(),
    ),
    error_description: fc.oneof(
      fc.string({ unit: 'binary', maxLength: 300 }),
      fc.constant(`client secret ${SECRET} is wrong\r\n\x1b[31m`),
    ),
  },
  { requiredKeys: [] },
);
/** A valid answer with optional members that may still spoil it. */
const validResponse = fc.record(
  {
    access_token: accessToken,
    token_type: fc.mixedCase(fc.constant('bearer')),
    expires_in: fc.oneof(fc.integer({ min: 0, max: 86_400 }), fc.constantFrom('3600', 1e9)),
    scope: fc.oneof(fc.string({ maxLength: 30 }), fc.constant(['orders:read'])),
  },
  { requiredKeys: ['access_token', 'token_type'] },
);
const body = fc.oneof(
  { weight: 4, arbitrary: validResponse.map((value) => JSON.stringify(value)) },
  { weight: 4, arbitrary: tokenResponse.map((value) => JSON.stringify(value)) },
  fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.constantFrom('', '<html><body>Bad gateway</body></html>', '{"access_token":', 'null'),
);
const answer = fc.record({
  status: fc.oneof(
    { weight: 2, arbitrary: fc.constant(200) },
    fc.constantFrom(201, 204, 301, 302, 307, 400, 401, 403, 404, 408, 429, 500, 502, 503),
    fc.constantFrom(400, 429, 503),
  ),
  contentType: fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'text/html',
    'text/plain',
    'application/x-www-form-urlencoded',
  ),
  retryAfter: fc.option(
    fc.oneof(
      fc.nat({ max: 100_000 }).map(String),
      fc.constantFrom('-5', '1.5', 'soon', 'Wed, 21 Oct 2015 07:28:00 GMT'),
      fc.date({ noInvalidDate: true }).map((d) => d.toUTCString()),
    ),
    { nil: undefined },
  ),
  body,
});

describe('requestToken against random token endpoint answers', () => {
  let idp: FakeIdService;
  let context: TokenRequestContext;

  beforeAll(async () => {
    idp = await FakeIdService.start({ clients: { 'prop-client': { secret: SECRET } } });
    const options = resolveOptions({
      issuer: idp.issuer,
      endpoints: { token: idp.url(PATHS.token) },
      clientId: 'prop-client',
      clientSecret: SECRET,
      scope: 'orders:read',
    });
    context = {
      metadata: new IssuerMetadataProvider(options),
      clientId: 'prop-client',
      authentication: await createClientAuthentication(options),
      params: options.tokenParams,
    };
  });
  afterAll(async () => {
    await idp?.close();
  });

  it('yields a checked bearer token or a TokenRequestError without secrets, tokens or causes', async () => {
    const outcomes = { tokens: 0, errors: new Set<string>() };
    await fc.assert(
      fc.asyncProperty(answer, async (a) => {
        idp.on(PATHS.token, () => ({
          status: a.status,
          headers: {
            'content-type': a.contentType,
            ...(a.retryAfter === undefined ? {} : { 'retry-after': a.retryAfter }),
          },
          body: a.body,
        }));
        let parsed: unknown;
        try {
          parsed = JSON.parse(a.body);
        } catch {
          parsed = undefined;
        }
        const sent = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<
          string,
          unknown
        >;
        try {
          const issued = await requestToken(context, AbortSignal.timeout(5000));
          outcomes.tokens += 1;
          expect(a.status).toBe(200);
          expect(issued.accessToken).toBe(sent.access_token);
          expect(issued.accessToken.length).toBeGreaterThan(0);
          expect(String(sent.token_type).toLowerCase()).toBe('bearer');
          if (issued.expiresIn !== undefined) {
            expect(Number.isFinite(issued.expiresIn)).toBe(true);
            expect(issued.expiresIn).toBeGreaterThanOrEqual(0);
          }
        } catch (error) {
          if (!(error instanceof TokenRequestError)) throw error;
          outcomes.errors.add(error.code);
          expect(CODES).toContain(error.code);
          expect(error.cause).toBeUndefined();
          const visible = `${error.message} ${JSON.stringify(error.details)}`;
          expect(visible).not.toContain(SECRET);
          expect(visible).not.toMatch(/[^\x20-\x7e]/);
          if (typeof sent.access_token === 'string' && sent.access_token.startsWith('AT-')) {
            expect(visible).not.toContain(sent.access_token);
          }
          if (a.status === 429) expect(error.code).toBe('OIDC_CC_TOKEN_ENDPOINT_THROTTLED');
          if (a.status >= 500 || a.status === 408) {
            expect(error.code).toBe('OIDC_CC_TOKEN_ENDPOINT_UNAVAILABLE');
          }
          const retryAfter = error.details.retryAfterSeconds;
          if (retryAfter !== undefined) {
            expect(Number.isInteger(retryAfter)).toBe(true);
            expect(retryAfter).toBeGreaterThanOrEqual(0);
            expect(retryAfter).toBeLessThanOrEqual(300);
          }
        }
      }),
      { numRuns: 200 },
    );
    // The generators reach success and every kind of failure.
    expect(outcomes.tokens).toBeGreaterThan(0);
    expect([...outcomes.errors].sort()).toEqual([...CODES].sort());
  });
});
