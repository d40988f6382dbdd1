import { sanitizeForLog } from '../errors/sanitize.util.js';
import { errorField, errorProperty } from '../errors/error-cause.util.js';
import { redactCredentials } from './client-authentication.util.js';
import { ResponseTooLargeError } from './safe-fetch.util.js';

/** What the usual system error codes of a failed connection mean. */
const NETWORK_ERRORS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  UND_ERR_SOCKET: 'connection closed',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_PROXY_TUNNEL: 'the proxy did not open the tunnel',
  HPE_INVALID_CONSTANT: 'the answer is not HTTP',
  HPE_INVALID_STATUS: 'the answer is not HTTP',
  UND_ERR_INFO: 'the answer is not HTTP',
};

/** OpenSSL's certificate verification codes and Node's TLS errors. */
const TLS_ERROR = /CERT|TLS|SSL|LEAF_SIGNATURE|ISSUER|ALTNAME|DEPTH_ZERO/;

/** Codes that say nothing answers at that address: the URL itself may be outdated. */
const NOTHING_THERE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH']);

/** The ID service's RFC 6749 §5.2 error of an answer, sanitised. */
export interface OAuthErrorFields {
  error?: string;
  errorDescription?: string;
}

/**
 * `scheme://host/path` of a URL, for messages and logs: never its query (some ID services take
 * the client secret there), fragment or user info.
 */
export function printableUrl(url: string | URL): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '(an invalid URL)';
  }
  return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
}

/**
 * Why a call got no answer, e.g. `connection refused (ECONNREFUSED)` or `no answer within 5000 ms
 * (http.timeoutMs)`: the system error code of fetch's `TypeError: fetch failed`, never its text.
 */
export function noAnswerReason(error: unknown, timeoutMs: number): string {
  if (error instanceof ResponseTooLargeError) {
    return `the answer is larger than ${error.limit} bytes (http.maxResponseBytes)`;
  }
  // Duck-typed: fetch's errors may come from another realm (vm contexts, test runners).
  const name = errorField(error, 'name');
  if (name === 'TimeoutError') return `no answer within ${timeoutMs} ms (http.timeoutMs)`;
  if (name === 'AbortError') return 'the call was aborted';
  const code = systemErrorCode(error);
  if (code !== undefined) {
    const meaning = NETWORK_ERRORS[code] ?? (TLS_ERROR.test(code) ? 'TLS failed' : 'failed');
    // What a proxy answered instead of opening the tunnel (`HTTP 403`), from the safe fetch.
    const proxyAnswer = errorField(errorProperty(error, 'cause'), 'proxyAnswer');
    return `${meaning}${proxyAnswer ? `: ${sanitizeForLog(proxyAnswer, 40)}` : ''} (${code})`;
  }
  const cause = errorField(errorProperty(error, 'cause'), 'message');
  // Text without a code is kept only when it cannot hold a URL ("bad port", say).
  if (cause !== undefined && !/[/?@]/.test(cause)) return `failed (${sanitizeForLog(cause, 80)})`;
  return `failed (${sanitizeForLog(name, 60) || 'unknown error'})`;
}

/** `GET https://id.example.com/jwks.json: connection refused (ECONNREFUSED)`. */
export function unansweredCall(
  method: string,
  url: string | URL,
  error: unknown,
  timeoutMs: number,
): string {
  return `${method} ${printableUrl(url)}: ${noAnswerReason(error, timeoutMs)}`;
}

/**
 * `POST https://id.example.com/introspect answered HTTP 401 (invalid_client: bad credentials)`;
 * `notes` follow the ID service's error inside the parentheses.
 */
export function answeredCall(
  method: string,
  url: string | URL,
  status: number,
  oauthError: OAuthErrorFields = {},
  ...notes: string[]
): string {
  const said = [oauthError.error, oauthError.errorDescription].filter(Boolean).join(': ');
  const details = [said, ...notes].filter(Boolean).join('; ');
  return `${method} ${printableUrl(url)} answered HTTP ${status}${details ? ` (${details})` : ''}`;
}

/**
 * Whether a call failing this way suggests the URL is outdated (nothing listens there, the host
 * is unknown, or the path is gone), so the metadata that named it is worth fetching again.
 */
export function suggestsMovedEndpoint(failure: { status: number } | unknown): boolean {
  const status = errorProperty(failure, 'status');
  if (typeof status === 'number') return status === 404 || status === 410;
  const code = systemErrorCode(failure);
  return code !== undefined && NOTHING_THERE.has(code);
}

/** Whether the call got no answer at all (unreachable, reset, timed out): worth another try. */
export function isNetworkFailure(error: unknown): boolean {
  const name = errorField(error, 'name');
  return (
    name === 'TimeoutError' ||
    (name === 'TypeError' && errorField(error, 'message') === 'fetch failed')
  );
}

/**
 * The `error` and `error_description` of an answer's JSON body (RFC 6749 §5.2), sanitised, with
 * each of `redact` and anything shaped like a JWT redacted (an ID service may echo what it was
 * sent); empty when the body is not such an object. Reads the body.
 */
export async function readOAuthError(
  response: Response,
  redact: readonly string[] = [],
): Promise<OAuthErrorFields> {
  let body: unknown;
  try {
    body = JSON.parse(await response.text());
  } catch {
    return {};
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return {};
  const { error, error_description: description } = body as Record<string, unknown>;
  const fields: OAuthErrorFields = {};
  const cleanError = clean(error, redact, 64);
  const cleanDescription = clean(description, redact, 200);
  if (cleanError !== undefined) fields.error = cleanError;
  if (cleanDescription !== undefined) fields.errorDescription = cleanDescription;
  return fields;
}

function clean(value: unknown, redact: readonly string[], maxLength: number): string | undefined {
  if (typeof value !== 'string' || value.length === 0) return undefined;
  return sanitizeForLog(redactCredentials(value, redact), maxLength) || undefined;
}

/** The system error code of fetch's `TypeError: fetch failed` (its `cause`), or of the error. */
function systemErrorCode(error: unknown): string | undefined {
  const cause = errorProperty(error, 'cause');
  const code =
    errorField(cause, 'code') ??
    errorField((errorProperty(cause, 'errors') as unknown[] | undefined)?.[0], 'code') ??
    errorField(error, 'code');
  return code === undefined ? undefined : sanitizeForLog(code, 40);
}
