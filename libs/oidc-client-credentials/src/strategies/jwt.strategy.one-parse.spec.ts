import { Test } from '@nestjs/testing';
import {
  JwtVerificationStrategy,
  OidcClientCredentialsModule,
  TokenVerificationError,
  type VerificationOptions,
} from 'nest-oidc-client-credentials';
import { FakeIdService } from 'nest-oidc-client-credentials/testing';
import { sanitizeForLog } from '../errors/sanitize.util.js';

const now = () => Math.floor(Date.now() / 1000);
/** jose's message as a refusal's cause keeps it: made log-safe (quotes become spaces). */
const logSafe = (message: string) => sanitizeForLog(message);

/**
 * The JWT strategy parses a token once and checks its claims itself, as jose's jwtVerify would:
 * the same refusals, with jose's error as the cause, in jose's order; and what jwtVerify refused
 * beyond the signature (an unencoded payload) is still refused.
 */
describe('JwtVerificationStrategy, one parse per token', () => {
  let idp: FakeIdService;

  beforeAll(async () => {
    idp = await FakeIdService.start();
  });
  afterAll(async () => {
    await idp.close();
  });

  async function strategy(verification: VerificationOptions = {}) {
    const moduleRef = await Test.createTestingModule({
      imports: [
        OidcClientCredentialsModule.forRoot({
          issuer: idp.issuer,
          verification: { warnOnMissingAudience: false, ...verification },
        }),
      ],
    }).compile();
    return moduleRef.get(JwtVerificationStrategy);
  }

  const claims = (extra: Record<string, unknown> = {}) => {
    const iat = now();
    return { iss: idp.issuer, iat, exp: iat + 3600, sub: 'billing', aud: 'orders', ...extra };
  };
  const header = (extra: Record<string, unknown> = {}) => ({
    alg: 'RS256',
    kid: idp.currentKid,
    ...extra,
  });

  async function refusal(promise: Promise<unknown>): Promise<TokenVerificationError> {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TokenVerificationError);
    return error as TokenVerificationError;
  }

  it('refuses an unencoded payload (RFC 7797 "b64": false), which a JWT never has', async () => {
    const jwt = await strategy();
    const token = await idp.signRaw(header({ b64: false, crit: ['b64'] }), claims());
    const error = await refusal(jwt.verify(token));
    expect(error.code).toBe('OIDC_CC_TOKEN_MALFORMED');
    expect(error.cause).toMatchObject({ name: 'JWTInvalid' });
  });

  it.each([
    ['iss missing', {}, { iss: undefined }, 'missing required "iss" claim'],
    [
      'aud missing while an audience is set',
      { audience: 'orders' },
      { aud: undefined },
      'missing required "aud" claim',
    ],
    ['sub missing', {}, { sub: undefined }, 'missing required "sub" claim'],
    [
      'iss of another issuer',
      {},
      { iss: 'https://other.example.com' },
      'unexpected "iss" claim value',
    ],
    [
      'aud of another API',
      { audience: 'orders' },
      { aud: ['billing'] },
      'unexpected "aud" claim value',
    ],
    ['iat a string', {}, { iat: '1' }, '"iat" claim must be a number'],
    ['nbf a string', {}, { nbf: 'soon' }, '"nbf" claim must be a number'],
    ['nbf beyond the leeway', {}, { nbf: now() + 120 }, '"nbf" claim timestamp check failed'],
    ['exp a string', {}, { exp: 'later' }, '"exp" claim must be a number'],
    [
      'iss and aud both missing: iss is named first',
      { audience: 'orders' },
      { iss: undefined, aud: undefined },
      'missing required "iss" claim',
    ],
  ] as const)(
    '%s: refused as jwtVerify refuses it',
    async (_case, verification, extra, message) => {
      const jwt = await strategy(verification);
      const error = await refusal(jwt.verify(await idp.signRaw(header(), claims(extra))));
      expect(error.code).toBe('OIDC_CC_TOKEN_INVALID');
      expect(error.cause).toEqual({
        name: 'JWTClaimValidationFailed',
        code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
        message: logSafe(message),
      });
    },
  );

  it("exp past the leeway: expired, with jose's JWTExpired as the cause", async () => {
    const jwt = await strategy({ clockToleranceSeconds: 30 });
    const error = await refusal(
      jwt.verify(await idp.signRaw(header(), claims({ exp: now() - 31 }))),
    );
    expect(error.code).toBe('OIDC_CC_TOKEN_EXPIRED');
    expect(error.cause).toEqual({
      name: 'JWTExpired',
      code: 'ERR_JWT_EXPIRED',
      message: logSafe('"exp" claim timestamp check failed'),
    });
  });

  it('the rfc9068 profile wants typ at+jwt, jti and client_id', async () => {
    const jwt = await strategy({ profile: 'rfc9068', audience: 'orders' });
    const strict = claims({ jti: 'j-1', client_id: 'billing' });
    await expect(
      jwt.verify(await idp.signRaw(header({ typ: 'at+jwt' }), strict)),
    ).resolves.toMatchObject({ clientId: 'billing' });
    const missing = await refusal(
      jwt.verify(await idp.signRaw(header({ typ: 'at+jwt' }), { ...strict, jti: undefined })),
    );
    expect(missing.cause).toMatchObject({ message: logSafe('missing required "jti" claim') });
  });

  it('keeps the claims as a frozen null-prototype copy, "__proto__" an ordinary member', async () => {
    const jwt = await strategy();
    const payload = JSON.parse(
      `{"iss":${JSON.stringify(idp.issuer)},"sub":"billing","exp":${now() + 600},"__proto__":{"admin":true},"toString":"x"}`,
    ) as Record<string, unknown>;
    const verified = await jwt.verify(await idp.signRaw(header(), payload));
    expect(Object.getPrototypeOf(verified.claims)).toBeNull();
    expect(Object.isFrozen(verified.claims)).toBe(true);
    expect(Object.keys(verified.claims)).toEqual(['iss', 'sub', 'exp', '__proto__', 'toString']);
    expect(Object.getOwnPropertyDescriptor(verified.claims, '__proto__')?.value).toEqual({
      admin: true,
    });
    expect(verified.claims.toString).toBe('x');
    expect((verified.claims as { admin?: unknown }).admin).toBeUndefined();
  });
});
