import { TokenVerificationError } from '../../errors/token-verification.error.js';
import { decodeJsonObject, parseCompactJws } from '../jwt-shape.util.js';

/**
 * The longest `iss` a token may name to be routed: longer ones are refused before any lookup
 * (issuer identifiers are short URLs; a long one only costs the lookups it would feed).
 */
export const MAX_ISSUER_LENGTH = 512;

/**
 * The `iss` a compact JWS names, unverified: only where to send it for verification, never a
 * reason to trust it. Shape and strict JSON as the JWT strategy reads them.
 *
 * @throws TokenVerificationError `OIDC_CC_TOKEN_MALFORMED` for the shape,
 *   `OIDC_CC_TOKEN_INVALID` when `iss` is absent, not a string, empty or too long.
 */
export function unverifiedIssuer(token: string, maxTokenLength: number): string {
  const jws = parseCompactJws(token, maxTokenLength);
  const { iss } = decodeJsonObject(jws.encodedPayload, 'payload');
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
