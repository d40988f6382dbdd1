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
  /** URL of the protected resource metadata (RFC 9728 §5.1), on every challenge. */
  resourceMetadata?: string;
}

const ERROR_CODES: ReadonlySet<string> = new Set([
  'invalid_request',
  'invalid_token',
  'insufficient_scope',
]);
/** RFC 6749 §3.3 `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`. */
const NOT_SCOPE_TOKEN_CHARS = /[^\x21\x23-\x5b\x5d-\x7e]/g;
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
/** A JWS algorithm name as a challenge's `algs` may carry it. */
const ALG = /^[A-Za-z0-9+\-._]+$/;

/**
 * Builds a `WWW-Authenticate` value such as `Bearer realm="api", error="invalid_token",
 * error_description="The access token expired"`. Each attribute appears at most once, and every
 * value is reduced to `%x20-21 / %x23-5B / %x5D-7E` (no quote, backslash, CR or LF), so the header
 * stays well-formed whatever the input; no attribute is ever built from the token.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
 */
export function buildBearerChallenge(challenge: BearerChallenge): string {
  return buildChallenge('Bearer', challenge, ERROR_CODES);
}

/**
 * One challenge of `scheme`: realm, then `algs` (DPoP), then the error and its description when
 * the code is one of `errorCodes`, the scope and the resource metadata URL; every value sanitized.
 */
function buildChallenge(
  scheme: 'Bearer' | 'DPoP',
  challenge: Omit<BearerChallenge, 'error'> & { error?: string; algs?: readonly string[] },
  errorCodes: ReadonlySet<string>,
): string {
  const attributes = [`realm="${sanitizeForLog(challenge.realm, 100) ?? ''}"`];
  const algs = (challenge.algs ?? []).filter((alg) => ALG.test(alg));
  if (algs.length > 0) attributes.push(`algs="${algs.join(' ')}"`);
  if (challenge.error !== undefined && errorCodes.has(challenge.error)) {
    attributes.push(`error="${challenge.error}"`);
    const description = sanitizeForLog(challenge.errorDescription);
    if (description) attributes.push(`error_description="${description}"`);
  }
  const scope = (challenge.scope ?? [])
    .map((s) => (typeof s === 'string' ? s.replace(NOT_SCOPE_TOKEN_CHARS, '') : ''))
    .filter((s) => s.length > 0);
  if (scope.length > 0) attributes.push(`scope="${[...new Set(scope)].join(' ')}"`);
  const metadata = sanitizeForLog(challenge.resourceMetadata, 2048);
  if (metadata) attributes.push(`resource_metadata="${metadata}"`);
  return `${scheme} ${attributes.join(', ')}`;
}

/**
 * Error codes of a DPoP challenge: RFC 6750's and RFC 9449's own.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
 */
export type DpopErrorCode = BearerErrorCode | 'invalid_dpop_proof' | 'use_dpop_nonce';

/** Attributes of one `WWW-Authenticate: DPoP` challenge. */
export interface DpopChallenge extends Omit<BearerChallenge, 'error'> {
  error?: DpopErrorCode;
  /** The JWS algorithms accepted for proofs (`algs`). */
  algs: readonly string[];
}

const DPOP_ERROR_CODES: ReadonlySet<string> = new Set([
  ...ERROR_CODES,
  'invalid_dpop_proof',
  'use_dpop_nonce',
]);

/**
 * Builds a `WWW-Authenticate` value such as `DPoP realm="api", algs="ES256 PS256",
 * error="invalid_dpop_proof", error_description="The DPoP proof is too old"`, with the same rules
 * as {@link buildBearerChallenge}.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
 */
export function buildDpopChallenge(challenge: DpopChallenge): string {
  return buildChallenge('DPoP', challenge, DPOP_ERROR_CODES);
}

/** Whether a string is a valid RFC 6749 §3.3 scope token (what `@RequireScopes()` accepts). */
export function isScopeToken(value: unknown): value is string {
  return typeof value === 'string' && SCOPE_TOKEN.test(value);
}
