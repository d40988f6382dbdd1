import { TokenVerificationError } from '../errors/token-verification.error.js';
import type { TokenConfirmation } from './verified-token.interface.js';

/** A SHA-256 thumbprint in base64url without padding: 43 characters. */
const SHA256_B64URL = /^[A-Za-z0-9_-]{43}$/;
/** The `cnf` members a resource server can check: RFC 9449 §6 and RFC 8705 §3.1. */
const KNOWN_MEMBERS: ReadonlySet<string> = new Set(['jkt', 'x5t#S256']);

/**
 * The key a token is bound to, from its `cnf` claim (a JWT's, or an introspection answer's):
 * `undefined` without `cnf`. Refused (401 `invalid_token`) when `cnf` is not an object, has a
 * member this library cannot check (`jwk`, `x5t`, `kid`, …: a proof of possession nobody verifies
 * would make the token a bearer token), or a thumbprint that is not a base64url SHA-256 value.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7800#section-3.1
 */
export function tokenConfirmation(cnf: unknown): TokenConfirmation | undefined {
  if (cnf === undefined) return undefined;
  if (typeof cnf !== 'object' || cnf === null || Array.isArray(cnf)) {
    throw TokenVerificationError.invalid('The token "cnf" claim is not an object');
  }
  const members = Object.keys(cnf);
  if (members.length === 0 || members.some((name) => !KNOWN_MEMBERS.has(name))) {
    throw TokenVerificationError.invalid(
      'The token is bound to a key ("cnf") in a way this service cannot check',
    );
  }
  const confirmation: TokenConfirmation = {};
  for (const name of members as (keyof TokenConfirmation)[]) {
    const value = (cnf as Record<string, unknown>)[name];
    if (typeof value !== 'string' || !SHA256_B64URL.test(value)) {
      throw TokenVerificationError.invalid(`The token "cnf.${name}" is not a SHA-256 thumbprint`);
    }
    confirmation[name] = value;
  }
  return Object.freeze(confirmation);
}
