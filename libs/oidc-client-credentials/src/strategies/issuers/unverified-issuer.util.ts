import { TokenVerificationError } from '../../errors/token-verification.error.js';

/**
 * The longest `iss` a token may name to be routed: longer ones are refused before any lookup
 * (issuer identifiers are short URLs; a long one only costs the lookups it would feed).
 */
export const MAX_ISSUER_LENGTH = 512;

/**
 * The `iss` a token names when it is shaped as a compact JWS (three non-empty segments, the second
 * a JSON object), unverified: only where to send it for verification, never a
 * reason to trust it; `undefined` for a token of another shape (an opaque token). Read cheaply, on
 * every request: the issuer's strategy checks the whole token (base64url alphabet, strict UTF-8, no
 * member name twice, …) before anything of it is accepted.
 *
 * @throws TokenVerificationError `OIDC_CC_TOKEN_MALFORMED` for a payload that is not a JSON
 *   object, `OIDC_CC_TOKEN_INVALID` when `iss` is absent, not a string, empty or too long.
 */
export function unverifiedIssuer(token: string, maxTokenLength: number): string | undefined {
  if (token.length === 0 || token.length > maxTokenLength) return undefined;
  const first = token.indexOf('.');
  const second = token.indexOf('.', first + 1);
  if (first <= 0 || second <= first + 1 || second === token.length - 1) return undefined;
  if (token.indexOf('.', second + 1) !== -1) return undefined;
  // The payload first: a JWT names its issuer there. Only when it is not a JSON object does the
  // header say whether the token is a JWS with a broken payload (malformed) or not one at all.
  const payload = decodeObject(token.slice(first + 1, second));
  if (payload === undefined) {
    const header = decodeObject(token.slice(0, first));
    if (header === undefined || typeof header.alg !== 'string' || header.alg.length === 0) {
      return undefined;
    }
    throw TokenVerificationError.malformed('The token payload is not a JSON object');
  }
  const { iss } = payload;
  if (typeof iss !== 'string' || iss.length === 0) {
    throw TokenVerificationError.invalid('The token "iss" claim is not a non-empty string');
  }
  if (iss.length > MAX_ISSUER_LENGTH) {
    throw TokenVerificationError.invalid(
      `The token "iss" claim is longer than ${MAX_ISSUER_LENGTH} characters`,
    );
  }
  return iss;
}

/** A base64url segment as a JSON object, or `undefined`. */
function decodeObject(segment: string): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}
