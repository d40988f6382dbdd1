import type { IncomingMessage } from 'node:http';
import { BearerRequestError } from '../errors/bearer-request.error.js';
import { TokenVerificationError } from '../errors/token-verification.error.js';
import type { TokenLocation } from '../interfaces/oidc-client-credentials-options.interface.js';

/**
 * The parts of an HTTP request that can carry a bearer token, taken from an Express or a Fastify
 * request by {@link bearerRequestParts}.
 */
export interface BearerRequestParts {
  method: string;
  /** Every `Authorization` header line received, in order (Node's `req.headers` keeps only one). */
  authorization: readonly string[];
  /** Request target as received: path and query string. */
  url: string;
  /** `Content-Type` header, if any. */
  contentType?: string;
  /** The body as parsed by the framework (an object for form-urlencoded bodies). */
  body?: unknown;
}

/** Where to look and how long a token may be. */
export interface BearerExtractionOptions {
  locations: readonly TokenLocation[];
  maxTokenLength: number;
}

/** RFC 6750 §2.1 `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const FORM_MEDIA_TYPE = 'application/x-www-form-urlencoded';

/**
 * Finds the bearer token of a request, without any I/O.
 *
 * - Returns `undefined` when there is no bearer credential in an enabled location (no header,
 *   another scheme such as Basic, or a token in a location that is not enabled): the caller answers
 *   401 with a challenge that carries no error code.
 * - Throws {@link BearerRequestError} (`OIDC_CC_BEARER_REQUEST_INVALID`, 400 `invalid_request`)
 *   for a structurally malformed request: two `Authorization` headers, a token sent by more than
 *   one method, a repeated `access_token` parameter, or `Bearer` without a token.
 * - Throws {@link TokenVerificationError} (`OIDC_CC_TOKEN_MALFORMED`, 401 `invalid_token`) for a
 *   value that is in the right place but cannot be a token: longer than `maxTokenLength`, or with
 *   characters outside `b64token`.
 *
 * Locations that are not enabled are not read at all, so an `access_token` query parameter means
 * nothing to a service that only accepts the header.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-2
 */
export function extractBearerToken(
  parts: BearerRequestParts,
  options: BearerExtractionOptions,
): string | undefined {
  if (parts.authorization.length > 1) {
    throw malformed('duplicate_authorization_header', 'More than one Authorization header');
  }
  const found: { location: TokenLocation; value: string }[] = [];
  if (options.locations.includes('header')) {
    const value = headerToken(parts.authorization[0]);
    if (value !== undefined) found.push({ location: 'header', value });
  }
  if (options.locations.includes('query')) {
    const value = queryToken(parts.url);
    if (value !== undefined) found.push({ location: 'query', value });
  }
  if (options.locations.includes('body')) {
    const value = bodyToken(parts);
    if (value !== undefined) found.push({ location: 'body', value });
  }
  if (found.length === 0) return undefined;
  if (found.length > 1) {
    throw malformed(
      'multiple_methods',
      `Bearer token sent by more than one method (${found.map((f) => f.location).join(', ')})`,
    );
  }
  return checkToken(found[0].value, options.maxTokenLength);
}

/**
 * Reads the bearer-relevant parts of an Express or Fastify request (Fastify's own request wraps
 * Node's as `raw`). Duplicate `Authorization` headers are found in `rawHeaders`, which keeps every
 * line, unlike `headers`.
 */
export function bearerRequestParts(request: unknown): BearerRequestParts {
  const req = request as Partial<IncomingMessage> & {
    raw?: IncomingMessage;
    originalUrl?: string;
    body?: unknown;
  };
  const raw: Partial<IncomingMessage> = req.raw ?? req;
  return {
    method: (req.method ?? raw.method ?? 'GET').toUpperCase(),
    authorization: authorizationLines(raw),
    url: req.originalUrl ?? raw.url ?? req.url ?? '/',
    contentType: headerValue(raw.headers?.['content-type']),
    body: req.body,
  };
}

/** Whether a string may be sent as a bearer token at all (RFC 6750 §2.1 `b64token`). */
export function isB64Token(value: string): boolean {
  return B64TOKEN.test(value);
}

function authorizationLines(raw: Partial<IncomingMessage>): string[] {
  const rawHeaders = raw.rawHeaders;
  if (Array.isArray(rawHeaders) && rawHeaders.length > 0) {
    const lines: string[] = [];
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      const name = rawHeaders[i];
      if (name.length === 13 && name.toLowerCase() === 'authorization')
        lines.push(rawHeaders[i + 1]);
    }
    return lines;
  }
  const value = raw.headers?.authorization;
  return value === undefined ? [] : [value];
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The credentials after `Bearer` (`''` when absent), or `undefined` for another scheme. */
function headerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const value = header.trim();
  const space = value.indexOf(' ');
  const scheme = space < 0 ? value : value.slice(0, space);
  // The auth-scheme is case-insensitive (RFC 9110 §11.1); anything else is another scheme.
  if (scheme.length !== 6 || scheme.toLowerCase() !== 'bearer') return undefined;
  return space < 0 ? '' : value.slice(space).replace(/^ +/, '');
}

function queryToken(url: string): string | undefined {
  const question = url.indexOf('?');
  if (question < 0) return undefined;
  const query = url.slice(question + 1);
  // Cheap test first; '%' because the name itself may be percent-encoded.
  if (!query.includes('access_token') && !query.includes('%')) return undefined;
  const values = new URLSearchParams(query).getAll('access_token');
  if (values.length > 1) {
    throw malformed('duplicate_parameter', 'access_token appears more than once in the query');
  }
  return values[0];
}

function bodyToken(parts: BearerRequestParts): string | undefined {
  // RFC 6750 §2.2: form-encoded body only, never with GET.
  if (parts.method === 'GET' || parts.method === 'HEAD') return undefined;
  const mediaType = parts.contentType?.split(';', 1)[0].trim().toLowerCase();
  if (mediaType !== FORM_MEDIA_TYPE) return undefined;
  const body = parts.body;
  if (typeof body !== 'object' || body === null || !Object.hasOwn(body, 'access_token')) {
    return undefined;
  }
  const value = (body as Record<string, unknown>).access_token;
  if (typeof value !== 'string') {
    throw malformed('duplicate_parameter', 'access_token in the body is repeated or not a string');
  }
  return value;
}

function checkToken(value: string, maxTokenLength: number): string {
  if (value.length === 0) throw malformed('empty_token', 'Bearer credentials without a token');
  // Length first: nothing else looks at an oversized value.
  if (value.length > maxTokenLength) {
    throw new TokenVerificationError('OIDC_CC_TOKEN_MALFORMED', 'Bearer token is too long');
  }
  if (!B64TOKEN.test(value)) {
    throw new TokenVerificationError(
      'OIDC_CC_TOKEN_MALFORMED',
      'Bearer token contains characters outside b64token',
    );
  }
  return value;
}

function malformed(
  reason: ConstructorParameters<typeof BearerRequestError>[1],
  message: string,
): BearerRequestError {
  return new BearerRequestError('OIDC_CC_BEARER_REQUEST_INVALID', reason, message);
}
