import { sanitizeForLog } from '../errors/sanitize.util.js';

/**
 * Error codes of a bearer challenge.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 */
export type BearerErrorCode = 'invalid_request' | 'invalid_token' | 'insufficient_scope';

/** Attributes of one `WWW-Authenticate: Bearer` challenge. */
export interface BearerChallenge {
  realm: string;
  /** Omitted when the request had no credentials at all (RFC 6750 §3.1). */
  error?: BearerErrorCode;
  errorDescription?: string;
  /** Scopes needed for the request, with `insufficient_scope`. */
  scope?: readonly string[];
}

const ERROR_CODES: ReadonlySet<string> = new Set([
  'invalid_request',
  'invalid_token',
  'insufficient_scope',
]);
/** RFC 6749 §3.3 `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`. */
const NOT_SCOPE_TOKEN_CHARS = /[^\x21\x23-\x5b\x5d-\x7e]/g;
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/**
 * Builds a `WWW-Authenticate` value such as `Bearer realm="api", error="invalid_token",
 * error_description="The access token expired"`. Each attribute appears at most once, and every
 * value is reduced to `%x20-21 / %x23-5B / %x5D-7E` (no quote, backslash, CR or LF), so the header
 * stays well-formed whatever the input; no attribute is ever built from the token.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
 */
export function buildBearerChallenge(challenge: BearerChallenge): string {
  const attributes = [`realm="${sanitizeForLog(challenge.realm, 100) ?? ''}"`];
  if (challenge.error !== undefined && ERROR_CODES.has(challenge.error)) {
    attributes.push(`error="${challenge.error}"`);
    const description = sanitizeForLog(challenge.errorDescription);
    if (description) attributes.push(`error_description="${description}"`);
  }
  const scope = (challenge.scope ?? [])
    .map((s) => (typeof s === 'string' ? s.replace(NOT_SCOPE_TOKEN_CHARS, '') : ''))
    .filter((s) => s.length > 0);
  if (scope.length > 0) attributes.push(`scope="${[...new Set(scope)].join(' ')}"`);
  return `Bearer ${attributes.join(', ')}`;
}

/** Whether a string is a valid RFC 6749 §3.3 scope token (what `@RequireScopes()` accepts). */
export function isScopeToken(value: unknown): value is string {
  return typeof value === 'string' && SCOPE_TOKEN.test(value);
}
