import { Inject, Injectable } from '@nestjs/common';
import { compactVerify, errors as joseErrors } from 'jose';
import { TokenVerificationError } from '../errors/token-verification.error.js';
import type { VerifiedToken } from './verified-token.interface.js';
import { JwksProvider } from './jwks.provider.js';
import { OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS } from '../options/resolved-options.js';
import {
  checkJwtClaimsSet,
  ownedClaims,
  toVerifiedToken,
  type JwtClaimsRules,
} from './claims.util.js';
import { decodeJsonObject, type JwsHeader } from './jwt-shape.util.js';
import {
  joseRefusal,
  jwsSignaturePolicy,
  parseAllowedJws,
  withSignatureKey,
  type JwsSignaturePolicy,
} from './jws-signature.util.js';
import type { ResolvedOptions } from '../options/resolved-options.js';
import { VerificationCache, verificationProfileId } from './verification-cache.provider.js';
import { CachedVerificationStrategy } from './cached-verification.strategy.js';

/** `typ` values of the default profile, as media types: absent, `JWT` or `at+jwt`. */
const DEFAULT_PROFILE_TYPES = new Set(['application/jwt', 'application/at+jwt']);
const RFC9068_TYPE = 'application/at+jwt';

/**
 * Verifies JWT access tokens locally (RFC 9068, RFC 8725), in this order:
 *
 * 1. shape: three base64url segments, a JSON-object header without duplicate names, no JWE, no
 *    JSON serialisation;
 * 2. `alg` in `verification.algorithms` (exact, case-sensitive; `none` and HMAC can't be listed),
 *    checked before the JWKS is fetched;
 * 3. `typ` of the profile: `default` accepts none, `JWT` or `at+jwt` (what ID services commonly
 *    issue);
 *    `rfc9068` demands `at+jwt` (media-type comparison: case-insensitive, `application/` optional);
 * 4. payload: a JSON object in strict UTF-8 without duplicate names;
 * 5. key: only from the ID service's JWKS, chosen by `kid` ({@link JwksProvider});
 * 6. signature and claims with jose: `iss` exactly the configured issuer, `exp` and `sub`
 *    required (plus `iat`, `jti`, `client_id`, `aud` under `rfc9068`), `aud` when configured,
 *    `nbf`/`exp` with `clockToleranceSeconds`; then `exp`/`iat`/`nbf` finite numbers and `iat`
 *    not in the future beyond the tolerance.
 *
 * Scopes come only from a space-delimited string `scope` claim; an array `scope` or an `scp` claim
 * grants no scopes (RFC 9068 §2.2.3; see `VerifiedToken.scopes`).
 *
 * Failures reject with `TokenVerificationError` (`OIDC_CC_TOKEN_MALFORMED`, `_EXPIRED`,
 * `_INVALID`); an unreachable JWKS with `ValidatorUnavailableError`.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-4
 * @see https://www.rfc-editor.org/rfc/rfc8725#section-3
 */
@Injectable()
export class JwtVerificationStrategy extends CachedVerificationStrategy {
  private readonly v: ResolvedOptions['verification'];
  private readonly signature: JwsSignaturePolicy;
  private readonly claimsRules: JwtClaimsRules;

  constructor(
    @Inject(OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS) options: ResolvedOptions,
    jwks: JwksProvider,
    cache: VerificationCache,
  ) {
    super(cache, verificationProfileId('jwt', options));
    this.v = options.verification;
    this.signature = jwsSignaturePolicy(options, jwks);
    const strict = this.v.profile === 'rfc9068';
    this.claimsRules = {
      issuer: options.issuer,
      audience: this.v.audience,
      requiredClaims: strict ? ['exp', 'sub', 'iat', 'jti', 'client_id', 'aud'] : ['exp', 'sub'],
      clockTolerance: this.v.clockToleranceSeconds,
      typ: strict ? 'at+jwt' : undefined,
    };
  }

  /** Not shared: a signature check in process is faster than a round trip to the store. */
  protected override shareResultOf(): boolean {
    return false;
  }

  /**
   * Verifies a JWT access token (steps above) without the cache. The header and the payload are
   * decoded and parsed once: jose checks the signature (`compactVerify`), the claims are checked on
   * the payload parsed here, as jose's `jwtVerify` would check them.
   */
  async verifyUncached(token: string): Promise<VerifiedToken> {
    const jws = parseAllowedJws(token, this.signature);
    this.checkType(jws.header);
    // Before any key is fetched: a token whose payload is not a JSON object costs no JWKS request.
    const payload = decodeJsonObject(jws.encodedPayload, 'payload');
    await withSignatureKey(jws, this.signature, (key, algorithms) =>
      compactVerify(token, key, { algorithms }),
    );
    try {
      if (unencodedPayload(jws.header)) {
        throw new joseErrors.JWTInvalid('JWTs MUST NOT use unencoded payload');
      }
      checkJwtClaimsSet(jws.header, payload, this.claimsRules);
    } catch (error) {
      throw joseRefusal(error);
    }
    this.checkClaims(payload);
    return toVerifiedToken(ownedClaims(payload));
  }

  private checkType(header: JwsHeader): void {
    const { typ } = header;
    const strict = this.v.profile === 'rfc9068';
    if (typ === undefined && !strict) return;
    const mediaType = typeof typ === 'string' ? normalizeMediaType(typ) : undefined;
    const accepted = strict
      ? mediaType === RFC9068_TYPE
      : mediaType !== undefined && DEFAULT_PROFILE_TYPES.has(mediaType);
    if (!accepted) {
      throw TokenVerificationError.invalid('The token "typ" is not accepted');
    }
  }

  /** What jose leaves to the caller: finite numeric dates, no `iat` in the future, claim types. */
  private checkClaims(payload: Record<string, unknown>): void {
    const now = Math.floor(Date.now() / 1000);
    const tolerance = this.v.clockToleranceSeconds;
    for (const name of ['exp', 'iat', 'nbf'] as const) {
      const value = payload[name];
      if (value !== undefined && !(typeof value === 'number' && Number.isFinite(value))) {
        throw TokenVerificationError.invalid(`The token "${name}" claim is not a finite number`);
      }
    }
    if (typeof payload.iat === 'number' && payload.iat > now + tolerance) {
      throw TokenVerificationError.invalid('The token "iat" claim is in the future');
    }
    if (typeof payload.sub !== 'string' || payload.sub.length === 0) {
      throw TokenVerificationError.invalid('The token "sub" claim is not a non-empty string');
    }
    // A key-bound token (DPoP, mTLS): its "cnf" is recorded by toVerifiedToken (an unknown
    // member is refused there) and the guard demands the proof of possession (RFC 9449 §7,
    // RFC 8705 §3).
    if (this.v.profile === 'rfc9068') {
      for (const name of ['jti', 'client_id'] as const) {
        const value = payload[name];
        if (typeof value !== 'string' || value.length === 0) {
          throw TokenVerificationError.invalid(
            `The token "${name}" claim is not a non-empty string`,
          );
        }
      }
    }
  }
}

/** Whether the JWS says its payload is not base64url-encoded (RFC 7797): never a JWT's. */
function unencodedPayload(header: JwsHeader): boolean {
  return Array.isArray(header.crit) && header.crit.includes('b64') && header.b64 === false;
}

/** `typ` as a media type: lower case, `application/` added when there is no `/` (RFC 7515 §4.1.9). */
function normalizeMediaType(typ: string): string {
  const lower = typ.toLowerCase();
  return lower.includes('/') ? lower : `application/${lower}`;
}
