import { errors as joseErrors } from 'jose';
import { TokenVerificationError } from '../errors/token-verification.error.js';
import { tokenConfirmation } from './token-confirmation.util.js';
import type { VerifiedToken } from './verified-token.interface.js';

/**
 * Where the client id of a {@link VerifiedToken} comes from: `client_id` else `sub` (JWT access
 * tokens, RFC 9068), also a non-standard `clientId` member (introspection answers), or `sub` only
 * (userinfo).
 */
export type ClientIdSource = 'client_id' | 'introspection' | 'sub';

/**
 * Builds the {@link VerifiedToken} of checked claims (a JWT payload, an introspection or userinfo
 * response). The result is frozen and its `claims` a frozen null-prototype object (a copy, unless
 * the claims come from {@link ownedClaims}), so a cached result can be shared by requests and
 * `__proto__`/`constructor` members stay plain data.
 *
 * - `clientId`: `client_id`, else `sub`; for introspection answers a non-standard `clientId`
 *   member, which some ID services answer with instead of `client_id`, comes between them (a
 *   JWT's `clientId` claim is not read: its issuer may fill it from user data). With `clientIdFrom: 'sub'`, `sub` only. A present but
 *   non-string `client_id` is refused.
 * - `scopes`: a string `scope` split on spaces. An array `scope` and the `scp` claim are not
 *   read: RFC 9068 §2.2.3 and RFC 7662 §2.2 define `scope` as a space-delimited string, and
 *   guessing another format would grant scopes nobody checked.
 * - `audience`: `aud` as a list; a malformed `aud` is refused.
 * - `confirmation`: the key a sender-constrained token is bound to (`cnf`); a `cnf` with members
 *   that cannot be checked is refused.
 *
 * @throws TokenVerificationError `OIDC_CC_TOKEN_INVALID` when no client can be named or a claim
 *   has the wrong type.
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-2.2
 */
export function toVerifiedToken(
  claims: Readonly<Record<string, unknown>>,
  clientIdFrom: ClientIdSource = 'client_id',
): VerifiedToken {
  const subject = optionalString(claims, 'sub');
  const clientId =
    clientIdFrom === 'sub'
      ? subject
      : (optionalString(claims, 'client_id') ??
        (clientIdFrom === 'introspection' ? nonStandardClientId(claims) : undefined) ??
        subject);
  if (clientId === undefined) {
    throw TokenVerificationError.invalid('The token names no client (no client_id or sub)');
  }
  const audience = audienceList(claims.aud);
  const issuer = claims.iss;
  const expiresAt = claims.exp;
  const confirmation = tokenConfirmation(claims.cnf);
  const token: VerifiedToken = {
    clientId,
    subject,
    scopes: Object.freeze(parseScopes(claims.scope)) as string[],
    expiresAt: typeof expiresAt === 'number' ? expiresAt : undefined,
    issuer: typeof issuer === 'string' ? issuer : undefined,
    audience: audience && (Object.freeze(audience) as string[]),
    claims: isOwnedClaims(claims) ? claims : nullPrototypeCopy(claims),
  };
  if (confirmation) token.confirmation = confirmation;
  return Object.freeze(token);
}

/** Scopes of a space-delimited `scope` string; anything else grants none. */
export function parseScopes(scope: unknown): string[] {
  if (typeof scope !== 'string' || scope.length === 0) return [];
  const scopes = scope.split(' ');
  // Empty items only where spaces repeat or lead or trail, which ID services rarely send.
  return scopes.includes('') ? scopes.filter((item) => item.length > 0) : scopes;
}

/**
 * `aud` as a list of strings, `undefined` when absent.
 *
 * @throws TokenVerificationError when `aud` is neither a string nor an array of strings.
 * @see https://www.rfc-editor.org/rfc/rfc7519#section-4.1.3
 */
export function audienceList(aud: unknown): string[] | undefined {
  if (aud === undefined) return undefined;
  if (typeof aud === 'string') return [aud];
  if (Array.isArray(aud) && aud.every((item) => typeof item === 'string')) return [...aud];
  throw TokenVerificationError.invalid('The token "aud" is not a string or a list of strings');
}

/** Whether `aud` names one of the configured audiences (any of them, RFC 7519 §4.1.3). */
export function audienceMatches(aud: readonly string[], expected: readonly string[]): boolean {
  return aud.some((item) => expected.includes(item));
}

/**
 * A shallow, frozen, null-prototype copy: own members only, no inherited behaviour. Built as a
 * plain object whose prototype is then removed, so it keeps V8's fast properties (an object
 * created with a null prototype starts, and stays, a dictionary).
 */
export function nullPrototypeCopy(
  source: Readonly<Record<string, unknown>>,
): Readonly<Record<string, unknown>> {
  const copy: Record<string, unknown> = {};
  for (const name of Object.keys(source)) {
    // defineProperty for "__proto__" and any other inherited name: an assignment would set the
    // prototype or meet an accessor (or a frozen intrinsic) instead of adding a member.
    if (name in copy) {
      Object.defineProperty(copy, name, {
        value: source[name],
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else {
      copy[name] = source[name];
    }
  }
  Object.setPrototypeOf(copy, null);
  return Object.freeze(copy);
}

/**
 * A claims object the caller made and holds no other reference to (a payload it just parsed),
 * made into what {@link nullPrototypeCopy} would copy it to, in place: its prototype removed,
 * frozen. {@link toVerifiedToken} keeps it as it is instead of copying it.
 */
export function ownedClaims(claims: Record<string, unknown>): Readonly<Record<string, unknown>> {
  Object.setPrototypeOf(claims, null);
  return Object.freeze(claims);
}

/** Whether `claims` is already frozen and without a prototype, as {@link ownedClaims} leaves it. */
function isOwnedClaims(claims: Readonly<Record<string, unknown>>): boolean {
  return Object.getPrototypeOf(claims) === null && Object.isFrozen(claims);
}

/** What {@link checkJwtClaimsSet} demands of a JWT claims set, as jose's `jwtVerify` options. */
export interface JwtClaimsRules {
  /** `iss` must be exactly this. */
  readonly issuer: string;
  /** `aud` must name one of these, when set. */
  readonly audience?: readonly string[];
  /** Claims that must be present (besides `iss`, and `aud` when an audience is set). */
  readonly requiredClaims: readonly string[];
  /** Seconds of leeway for `nbf` and `exp`. */
  readonly clockTolerance: number;
  /** The media type `typ` must be (`at+jwt`), when set. */
  readonly typ?: string;
}

const CHECK_FAILED = 'check_failed';

/**
 * The claim checks of jose's `jwtVerify`, on a claims set already parsed (so a JWT's payload is
 * parsed once): `typ`, presence of the required claims (`iss`, `aud` when an audience is set, then
 * `rules.requiredClaims`), `iss`, `aud`, `iat` and `nbf` and `exp` numbers, `nbf` and `exp` with
 * the leeway. Throws jose's own errors (`JWTClaimValidationFailed`, `JWTExpired`) with jose's
 * messages, in jose's order, for the caller to map as it maps jose's.
 */
export function checkJwtClaimsSet(
  header: Readonly<Record<string, unknown>>,
  claims: Readonly<Record<string, unknown>>,
  rules: JwtClaimsRules,
  now = Math.floor(Date.now() / 1000),
): void {
  const { typ } = rules;
  if (
    typ !== undefined &&
    (typeof header.typ !== 'string' || normalizeTyp(header.typ) !== normalizeTyp(typ))
  ) {
    throw new joseErrors.JWTClaimValidationFailed(
      'unexpected "typ" JWT header value',
      claims,
      'typ',
      CHECK_FAILED,
    );
  }
  // jose's order: iss, aud, then the required claims from the last.
  if (!Object.hasOwn(claims, 'iss')) throw missingClaim(claims, 'iss');
  if (rules.audience !== undefined && !Object.hasOwn(claims, 'aud')) {
    throw missingClaim(claims, 'aud');
  }
  for (let i = rules.requiredClaims.length - 1; i >= 0; i -= 1) {
    const name = rules.requiredClaims[i];
    if (!Object.hasOwn(claims, name)) throw missingClaim(claims, name);
  }
  if (claims.iss !== rules.issuer) throw unexpectedClaim(claims, 'iss');
  if (rules.audience !== undefined && !audiencePresent(claims.aud, rules.audience)) {
    throw unexpectedClaim(claims, 'aud');
  }
  const tolerance = rules.clockTolerance;
  numericDate(claims, 'iat');
  const nbf = numericDate(claims, 'nbf');
  if (nbf !== undefined && nbf > now + tolerance) {
    throw new joseErrors.JWTClaimValidationFailed(
      '"nbf" claim timestamp check failed',
      claims,
      'nbf',
      CHECK_FAILED,
    );
  }
  const exp = numericDate(claims, 'exp');
  if (exp !== undefined && exp <= now - tolerance) {
    throw new joseErrors.JWTExpired(
      '"exp" claim timestamp check failed',
      claims,
      'exp',
      CHECK_FAILED,
    );
  }
}

function normalizeTyp(value: string): string {
  const lower = value.toLowerCase();
  return value.includes('/') ? lower : `application/${lower}`;
}

function audiencePresent(aud: unknown, expected: readonly string[]): boolean {
  if (typeof aud === 'string') return expected.includes(aud);
  if (Array.isArray(aud)) return expected.some((item) => aud.includes(item));
  return false;
}

function numericDate(claims: Readonly<Record<string, unknown>>, name: string): number | undefined {
  const value = claims[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'number') {
    throw new joseErrors.JWTClaimValidationFailed(
      `"${name}" claim must be a number`,
      claims,
      name,
      'invalid',
    );
  }
  return value;
}

function missingClaim(
  claims: Readonly<Record<string, unknown>>,
  name: string,
): joseErrors.JWTClaimValidationFailed {
  return new joseErrors.JWTClaimValidationFailed(
    `missing required "${name}" claim`,
    claims,
    name,
    'missing',
  );
}

function unexpectedClaim(
  claims: Readonly<Record<string, unknown>>,
  name: string,
): joseErrors.JWTClaimValidationFailed {
  return new joseErrors.JWTClaimValidationFailed(
    `unexpected "${name}" claim value`,
    claims,
    name,
    CHECK_FAILED,
  );
}

function optionalString(
  claims: Readonly<Record<string, unknown>>,
  name: string,
): string | undefined {
  const value = claims[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0) {
    throw TokenVerificationError.invalid(`The token "${name}" claim is not a non-empty string`);
  }
  return value;
}

/**
 * The non-standard `clientId` member some ID services put in their introspection answers instead
 * of RFC 7662's `client_id`; read only when it is a non-empty string (anything else is ignored,
 * not refused, since no standard defines it).
 */
function nonStandardClientId(claims: Readonly<Record<string, unknown>>): string | undefined {
  const value = claims.clientId;
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}
