import { BearerRequestError } from '../../errors/bearer-request.error.js';
import { TokenVerificationError } from '../../errors/token-verification.error.js';
import { isB64Token } from '../bearer-token.util.js';

const DPOP = 'dpop';
const SPACE = 0x20;
/** Requests whose token came with the `DPoP` scheme (a WeakSet: nothing is added to the request). */
const dpopRequests = new WeakSet<object>();

/**
 * The access token of `Authorization: DPoP <token>` (the scheme case-insensitive), `undefined` for
 * another scheme or none. Only the header carries DPoP tokens (RFC 9449 §7.1).
 *
 * @throws BearerRequestError for `DPoP` without a token (400 `invalid_request`).
 * @throws TokenVerificationError for a token longer than `maxTokenLength` or outside `b64token`.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
 */
export function dpopSchemeToken(
  authorization: readonly string[],
  maxTokenLength: number,
): string | undefined {
  if (authorization.length !== 1) return undefined;
  const header = authorization[0];
  if (header.length < 4 || header.slice(0, 4).toLowerCase() !== DPOP) return undefined;
  if (header.length > 4 && header.charCodeAt(4) !== SPACE) return undefined;
  const token = header.slice(5).trimStart();
  if (token.length === 0) {
    throw new BearerRequestError(
      'OIDC_CC_BEARER_REQUEST_INVALID',
      'empty_token',
      'DPoP credentials without a token',
    );
  }
  if (token.length > maxTokenLength) {
    throw new TokenVerificationError('OIDC_CC_TOKEN_MALFORMED', 'DPoP access token is too long');
  }
  if (!isB64Token(token)) {
    throw new TokenVerificationError(
      'OIDC_CC_TOKEN_MALFORMED',
      'DPoP access token contains characters outside b64token',
    );
  }
  return token;
}

/** Whether `authorization` uses the `DPoP` scheme, whatever follows. */
export function isDpopScheme(authorization: readonly string[]): boolean {
  const header = authorization[0];
  return (
    header !== undefined &&
    header.length >= 4 &&
    header.slice(0, 4).toLowerCase() === DPOP &&
    (header.length === 4 || header.charCodeAt(4) === SPACE)
  );
}

/** Notes that the token of `request` came with the `DPoP` scheme. */
export function markDpopScheme(request: object): void {
  dpopRequests.add(request);
}

/** Whether the token of `request` came with the `DPoP` scheme. */
export function usedDpopScheme(request: object | undefined): boolean {
  return request !== undefined && dpopRequests.has(request);
}

/**
 * The request's token once the `DPoP` scheme is considered: `bearer` (what the bearer extraction
 * found) when the `Authorization` header is not `DPoP`, else the DPoP token, noted for `request`.
 *
 * @throws BearerRequestError when a DPoP token comes with a bearer token in the query or body.
 */
export function withDpopScheme(
  request: object,
  authorization: readonly string[],
  bearer: string | undefined,
  maxTokenLength: number,
): string | undefined {
  if (!isDpopScheme(authorization)) return bearer;
  if (bearer !== undefined) {
    throw new BearerRequestError(
      'OIDC_CC_BEARER_REQUEST_INVALID',
      'multiple_methods',
      'Access token sent by more than one method (DPoP header, and query or body)',
    );
  }
  const token = dpopSchemeToken(authorization, maxTokenLength);
  if (token !== undefined) markDpopScheme(request);
  return token;
}
