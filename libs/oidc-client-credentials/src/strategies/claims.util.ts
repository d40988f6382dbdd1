import { TokenVerificationError } from '../errors/token-verification.error.js';
import type { VerifiedToken } from './verified-token.interface.js';

/**
 * Where the client id of a {@link VerifiedToken} comes from: `client_id` else `sub` (JWT access
 * tokens, RFC 9068), also a non-standard `clientId` member (introspection answers), or `sub` only
 * (userinfo).
 */
export type ClientIdSource = 'client_id' | 'introspection' | 'sub';

/**
 * Builds the {@link VerifiedToken} of checked claims (a JWT payload, an introspection or userinfo
 * response). The result is frozen and its `claims` is a null-prototype copy, so a cached result can
 * be shared by requests and `__proto__`/`constructor` members stay plain data.
 *
 * - `clientId`: `client_id`, else `sub`; for introspection answers a non-standard `clientId`
 *   member, which some ID services answer with instead of `client_id`, comes between them (a
 *   JWT's `clientId` claim is not read: its issuer may fill it from user data). With `clientIdFrom: 'sub'`, `sub` only. A present but
 *   non-string `client_id` is refused.
 * - `scopes`: a string `scope` split on spaces. An array `scope` and the `scp` claim are not
 *   read: RFC 9068 §2.2.3 and RFC 7662 §2.2 define `scope` as a space-delimited string, and
 *   guessing another format would grant scopes nobody checked.
 * - `audience`: `aud` as a list; a malformed `aud` is refused.
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
  return Object.freeze({
    clientId,
    subject,
    scopes: Object.freeze(parseScopes(claims.scope)) as string[],
    expiresAt: typeof expiresAt === 'number' ? expiresAt : undefined,
    issuer: typeof issuer === 'string' ? issuer : undefined,
    audience: audience && (Object.freeze(audience) as string[]),
    claims: nullPrototypeCopy(claims),
  });
}

/** Scopes of a space-delimited `scope` string; anything else grants none. */
export function parseScopes(scope: unknown): string[] {
  if (typeof scope !== 'string') return [];
  return scope.split(' ').filter((item) => item.length > 0);
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

/** A shallow, frozen, null-prototype copy: own members only, no inherited behaviour. */
export function nullPrototypeCopy(
  source: Readonly<Record<string, unknown>>,
): Readonly<Record<string, unknown>> {
  const copy = Object.create(null) as Record<string, unknown>;
  for (const [name, value] of Object.entries(source)) {
    // defineProperty, not assignment: a "__proto__" member stays an ordinary data member.
    Object.defineProperty(copy, name, { value, enumerable: true });
  }
  return Object.freeze(copy);
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
