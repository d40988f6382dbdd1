import type { IncomingMessage } from 'node:http';
import { BearerRequestError } from '../errors/bearer-request.error.js';
import { TokenVerificationError } from '../errors/token-verification.error.js';
import type { TokenLocation } from '../options/oidc-client-credentials-options.interface.js';

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

/**
 * A character that is in no b64token (RFC 6750 §2.1 `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+"
 * / "/" ) *"="`). Searching for one is about twice as fast as matching the anchored grammar, and this
 * runs on every request over the whole token.
 */
const NOT_B64TOKEN_CHAR = /[^A-Za-z0-9\-._~+/=]/;
const EQUALS = 0x3d;
const FORM_MEDIA_TYPE = 'application/x-www-form-urlencoded';
const BEARER = 'bearer';
const SPACE = 0x20;

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
  // Runs on every request: no allocation beyond the token itself in the header-only default.
  const { locations } = options;
  let location: TokenLocation | undefined;
  let value: string | undefined;
  if (locations.includes('header')) {
    value = headerToken(parts.authorization[0]);
    if (value !== undefined) location = 'header';
  }
  if (locations.includes('query')) {
    const fromQuery = queryToken(parts.url);
    if (fromQuery !== undefined) {
      if (location) throw multipleMethods(location, 'query');
      location = 'query';
      value = fromQuery;
    }
  }
  if (locations.includes('body')) {
    const fromBody = bodyToken(parts);
    if (fromBody !== undefined) {
      if (location) throw multipleMethods(location, 'body');
      value = fromBody;
    }
  }
  return value === undefined ? undefined : checkToken(value, options.maxTokenLength);
}

/**
 * Reads the bearer-relevant parts of an Express or Fastify request (Fastify's own request wraps
 * Node's as `raw`). Duplicate `Authorization` headers are found in `rawHeaders`, which keeps every
 * line, unlike `headers`. Everything but the `Authorization` lines is read only when asked for.
 */
export function bearerRequestParts(request: unknown): BearerRequestParts {
  return new NodeRequestParts(request as FrameworkRequest);
}

type FrameworkRequest = Partial<IncomingMessage> & {
  raw?: IncomingMessage;
  originalUrl?: string;
  body?: unknown;
};

class NodeRequestParts implements BearerRequestParts {
  readonly authorization: readonly string[];
  private readonly raw: Partial<IncomingMessage>;

  constructor(private readonly request: FrameworkRequest) {
    this.raw = request.raw ?? request;
    this.authorization = authorizationLines(this.raw);
  }

  get method(): string {
    return (this.request.method ?? this.raw.method ?? 'GET').toUpperCase();
  }

  get url(): string {
    return this.request.originalUrl ?? this.raw.url ?? this.request.url ?? '/';
  }

  get contentType(): string | undefined {
    const value = this.raw.headers?.['content-type'];
    return Array.isArray(value) ? value[0] : value;
  }

  get body(): unknown {
    return this.request.body;
  }
}

/**
 * The bearer token of a request's one `Authorization` header, as {@link extractBearerToken} reads
 * it with only the header enabled, but without the `b64token` check, which only guards a parser:
 * for an exact-match lookup of results cached for tokens that passed it. `undefined` whenever the
 * full extraction has something else to say (no header, another scheme, two headers, no token, a
 * token longer than `maxTokenLength`). Allocates nothing but the token.
 */
export function headerBearerCandidate(
  request: unknown,
  maxTokenLength: number,
): string | undefined {
  const framework = request as FrameworkRequest;
  const raw = framework.raw ?? framework;
  const rawHeaders = raw.rawHeaders;
  let header: string | undefined;
  if (Array.isArray(rawHeaders) && rawHeaders.length > 0) {
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      if (isAuthorizationName(rawHeaders[i])) {
        if (header !== undefined) return undefined;
        header = rawHeaders[i + 1];
      }
    }
  } else {
    header = raw.headers?.authorization;
  }
  const token = headerToken(header);
  return token === undefined || token.length === 0 || token.length > maxTokenLength
    ? undefined
    : token;
}

/** Whether a string may be sent as a bearer token at all (RFC 6750 §2.1 `b64token`). */
export function isB64Token(value: string): boolean {
  if (value.length === 0 || NOT_B64TOKEN_CHAR.test(value)) return false;
  // "=" only as trailing padding, after at least one other character.
  const padding = value.indexOf('=');
  if (padding < 0) return true;
  if (padding === 0) return false;
  for (let i = padding + 1; i < value.length; i += 1) {
    if (value.charCodeAt(i) !== EQUALS) return false;
  }
  return true;
}

/** Whether a raw header name is `Authorization`, in any case (the common spellings first). */
function isAuthorizationName(name: string): boolean {
  return (
    name.length === 13 &&
    (name === 'Authorization' || name === 'authorization' || name.toLowerCase() === 'authorization')
  );
}

/**
 * Every line of header `name` (lower case) as received: `rawHeaders` keeps repeated lines, which
 * `headers` joins or drops.
 */
export function headerLines(raw: Partial<IncomingMessage>, name: string): string[] {
  const rawHeaders = raw.rawHeaders;
  if (Array.isArray(rawHeaders) && rawHeaders.length > 0) {
    const lines: string[] = [];
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      const header = rawHeaders[i];
      if (header.length === name.length && header.toLowerCase() === name)
        lines.push(rawHeaders[i + 1]);
    }
    return lines;
  }
  const value = raw.headers?.[name];
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

function authorizationLines(raw: Partial<IncomingMessage>): string[] {
  return headerLines(raw, 'authorization');
}

/**
 * The credentials after `Bearer` (`''` when absent), or `undefined` for another scheme. The
 * auth-scheme is case-insensitive and followed by one or more spaces (RFC 9110 §11.1, RFC 6750
 * §2.1); Node has already removed the whitespace around the header value.
 */
function headerToken(header: string | undefined): string | undefined {
  if (header === undefined || header.length < 6) return undefined;
  for (let i = 0; i < 6; i += 1) {
    // ASCII letters only: OR-ing 0x20 lower-cases them.
    if ((header.charCodeAt(i) | 0x20) !== BEARER.charCodeAt(i)) return undefined;
  }
  if (header.length === 6) return '';
  if (header.charCodeAt(6) !== SPACE) return undefined;
  let start = 7;
  while (header.charCodeAt(start) === SPACE) start += 1;
  return header.slice(start);
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
  if (!isB64Token(value)) {
    throw new TokenVerificationError(
      'OIDC_CC_TOKEN_MALFORMED',
      'Bearer token contains characters outside b64token',
    );
  }
  return value;
}

function multipleMethods(first: TokenLocation, second: TokenLocation): BearerRequestError {
  return malformed(
    'multiple_methods',
    `Bearer token sent by more than one method (${first}, ${second})`,
  );
}

function malformed(
  reason: ConstructorParameters<typeof BearerRequestError>[1],
  message: string,
): BearerRequestError {
  return new BearerRequestError('OIDC_CC_BEARER_REQUEST_INVALID', reason, message);
}
