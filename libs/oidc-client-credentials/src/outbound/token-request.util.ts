import * as oauth from 'oauth4webapi';
import { DiscoveryError } from '../errors/discovery.error.js';
import { TokenRequestError } from '../errors/token-request.error.js';
import { errorField, errorProperty } from '../errors/error-cause.util.js';
import type { IdServiceCalls } from '../idp/id-service-transport.util.js';
import { ResponseTooLargeError } from '../idp/safe-fetch.util.js';
import { printableUrl, suggestsMovedEndpoint } from '../idp/endpoint-failure.util.js';
import { sanitizeForLog } from '../errors/sanitize.util.js';
import { parseRetryAfter } from './backoff.util.js';
import {
  redactCredentials,
  withSentCredentials,
  type ClientAuthentication,
} from '../idp/client-authentication.util.js';
import { CredentialError } from '../idp/credential-source.util.js';
import type { IssuedToken } from './token-cache.store.js';
import type { DpopProofs } from './dpop-proof.util.js';

/** RFC 6749 VSCHAR (%x20-7E), one or more. */
const VSCHAR_ONLY = /^[\x20-\x7e]+$/;

/** Everything one token request needs. */
export interface TokenRequestContext {
  /** The ID service as this client calls it (its certificate, its mTLS aliases). */
  metadata: IdServiceCalls;
  clientId: string;
  authentication: ClientAuthentication;
  /** scope, audience, resource and extra parameters, in order. */
  params: readonly [string, string][];
  /** With DPoP: the client's proofs; the token must then come back `token_type: DPoP`. */
  dpop?: DpopProofs;
}

/**
 * True for failures worth another attempt: the endpoint was unreachable, slow, failing (5xx, 408,
 * a 4xx without an OAuth error) or throttling (429). Refusals (4xx with an OAuth error), redirects
 * and malformed answers are final: repeating them only adds load (RFC 6749 §5.2 errors are not
 * transient).
 */
export function isTransient(error: TokenRequestError): boolean {
  return (
    error.code === 'OIDC_CC_TOKEN_ENDPOINT_UNAVAILABLE' ||
    error.code === 'OIDC_CC_TOKEN_ENDPOINT_THROTTLED'
  );
}

/**
 * One client credentials grant request (no retries), through oauth4webapi with the hardened fetch
 * (no redirects, timeout, body cap). Every failure becomes a {@link TokenRequestError} that holds
 * sanitised fields only — never the response body, the secret, an assertion or a token, and no
 * `cause` (oauth4webapi's errors carry the raw body there).
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.4
 */
export async function requestToken(
  context: TokenRequestContext,
  signal: AbortSignal,
): Promise<IssuedToken> {
  // What this request sends (an assertion is new each time) is redacted from its error answer.
  const authentication = withSentCredentials(context.authentication);
  let as: oauth.AuthorizationServer;
  try {
    as = authentication.endpoint(await context.metadata.require('token_endpoint'));
  } catch (error) {
    if (error instanceof DiscoveryError) {
      throw new TokenRequestError('OIDC_CC_DISCOVERY_FAILED', error.message);
    }
    throw error;
  }
  const client: oauth.Client = { client_id: context.clientId };

  const send = async (): Promise<Response> => {
    const dpop = context.dpop;
    // A key that cannot sign is its own error (OIDC_CC_SIGNING_FAILED), not a transport failure.
    const headers = dpop && {
      dpop: await dpop.proof({ method: 'POST', url: as.token_endpoint! }),
    };
    try {
      const sent = await oauth.clientCredentialsGrantRequest(
        as,
        client,
        authentication.authenticate,
        context.params.map(([name, value]) => [name, value]),
        { ...context.metadata.requestOptions(), signal, ...(headers && { headers }) },
      );
      dpop?.rememberNonce(as.token_endpoint!, sent.headers);
      return sent;
    } catch (error) {
      // The client's credential could not be had (a signer failed or hung): nothing was sent.
      if (error instanceof CredentialError) throw error;
      if (suggestsMovedEndpoint(error)) context.metadata.reportEndpointFailure('token_endpoint');
      throw atEndpoint(transportError(error), as);
    }
  };
  let response = await send();
  // RFC 9449 §8: the ID service wants a nonce in the proof; once more with the one it gave.
  if (context.dpop && (await asksForDpopNonce(response))) {
    await response.body?.cancel();
    response = await send();
  }

  if (response.status !== 200) {
    if (suggestsMovedEndpoint(response)) context.metadata.reportEndpointFailure('token_endpoint');
    throw atEndpoint(await errorResponse(response, authentication.secrets), as);
  }

  let json: oauth.TokenEndpointResponse;
  try {
    json = await oauth.processClientCredentialsResponse(as, client, response);
  } catch (error) {
    // oauth4webapi's messages are fixed texts naming a field, never its value.
    const reason = sanitizeForLog(errorField(error, 'message')?.replace(/"/g, ''));
    throw new TokenRequestError(
      'OIDC_CC_TOKEN_RESPONSE_INVALID',
      `Invalid token response: ${reason ?? 'unreadable'}`,
      { status: 200 },
    );
  }
  // oauth4webapi lowercases token_type and also lets "dpop" through. A DPoP client takes only a
  // DPoP-bound token (RFC 9449 §5: a bearer answer means the ID service ignored the proof);
  // others take only bearer.
  const expectedType = context.dpop ? 'dpop' : 'bearer';
  if (json.token_type !== expectedType) {
    throw new TokenRequestError(
      'OIDC_CC_TOKEN_RESPONSE_INVALID',
      context.dpop
        ? `Invalid token response: token_type "${sanitizeForLog(json.token_type, 32)}" where a DPoP-bound token was requested (token_type DPoP); does the ID service support DPoP for this client?`
        : `Invalid token response: token_type "${sanitizeForLog(json.token_type, 32)}" is not supported (only bearer)`,
      { status: 200 },
    );
  }
  // RFC 6749 Appendix A.12: access-token = 1*VSCHAR. Anything else (a CR LF above all) would go
  // on into Authorization headers. The message names the field only: the value may be a token.
  if (!VSCHAR_ONLY.test(json.access_token)) {
    throw new TokenRequestError(
      'OIDC_CC_TOKEN_RESPONSE_INVALID',
      'Invalid token response: access_token has characters outside %x20-7E (RFC 6749 Appendix A.12)',
      { status: 200 },
    );
  }
  const requestedScope = context.params.find(([name]) => name === 'scope')?.[1];
  return {
    accessToken: json.access_token,
    expiresIn: json.expires_in,
    scope: json.scope ?? requestedScope,
    ...(context.dpop ? { tokenType: 'dpop' as const } : {}),
  };
}

/**
 * Whether a token endpoint answer is RFC 9449 §8's `use_dpop_nonce` error with a `DPoP-Nonce`
 * (read from a copy of the body, bounded like every answer).
 */
async function asksForDpopNonce(response: Response): Promise<boolean> {
  if (response.status !== 400 || !response.headers.has('dpop-nonce')) return false;
  try {
    const body: unknown = JSON.parse(await response.clone().text());
    return (body as { error?: unknown } | null)?.error === 'use_dpop_nonce';
  } catch {
    return false;
  }
}

/** The error, its message naming the endpoint (never its query: it may hold the secret). */
function atEndpoint(error: TokenRequestError, as: oauth.AuthorizationServer): TokenRequestError {
  const where = `[POST ${printableUrl(as.token_endpoint!)}]`;
  return new TokenRequestError(error.code, `${error.message} ${where}`, error.details);
}

function transportError(error: unknown): TokenRequestError {
  if (error instanceof ResponseTooLargeError) {
    return new TokenRequestError(
      'OIDC_CC_TOKEN_RESPONSE_INVALID',
      `Invalid token response: body larger than ${error.limit} bytes`,
    );
  }
  // Duck-typed: fetch's errors may come from another realm (vm contexts, test runners).
  const name = errorField(error, 'name') ?? '';
  if (name === 'TimeoutError' || name === 'AbortError') {
    return new TokenRequestError('OIDC_CC_TOKEN_ENDPOINT_UNAVAILABLE', 'Token endpoint timed out');
  }
  if (name === 'TypeError' && errorField(error, 'message') === 'fetch failed') {
    // Only a system error code is kept: undici's messages may quote the URL, and with
    // client_secret_query the URL holds the secret.
    const code = errorField(errorProperty(error, 'cause'), 'code');
    const detail = code ? ` (${sanitizeForLog(code, 40)})` : '';
    return new TokenRequestError(
      'OIDC_CC_TOKEN_ENDPOINT_UNAVAILABLE',
      `Token endpoint unreachable${detail}`,
    );
  }
  return new TokenRequestError(
    'OIDC_CC_TOKEN_REQUEST_FAILED',
    `Token request could not be made (${sanitizeForLog(name, 60) || 'unknown error'})`,
  );
}

async function errorResponse(
  response: Response,
  secrets: readonly string[],
): Promise<TokenRequestError> {
  const status = response.status;
  const retryAfterSeconds = parseRetryAfter(response.headers.get('retry-after'));
  if (status >= 300 && status < 400) {
    await response.body?.cancel();
    return new TokenRequestError(
      'OIDC_CC_TOKEN_RESPONSE_INVALID',
      `Token endpoint answered with a redirect (HTTP ${status}), which is not followed`,
      { status },
    );
  }
  const { error, errorDescription } = await oauthErrorFields(response, secrets);
  const details = { status, error, errorDescription, retryAfterSeconds };
  const said = [error, errorDescription].filter(Boolean).join(': ');
  const suffix = `(HTTP ${status})${said ? `: ${said}` : ''}`;
  if (status === 429) {
    return new TokenRequestError(
      'OIDC_CC_TOKEN_ENDPOINT_THROTTLED',
      `Token endpoint is throttling requests ${suffix}`,
      details,
    );
  }
  if (status >= 500 || status === 408) {
    return new TokenRequestError(
      'OIDC_CC_TOKEN_ENDPOINT_UNAVAILABLE',
      `Token endpoint failed ${suffix}`,
      details,
    );
  }
  // RFC 6749 §5.2 refusals carry an "error": without one, the answer is a proxy's or a firewall's
  // page, not the ID service's refusal. Worth another try, and a failure for the circuit breaker.
  if (status >= 400 && error === undefined) {
    return new TokenRequestError(
      'OIDC_CC_TOKEN_ENDPOINT_UNAVAILABLE',
      `Token endpoint answered HTTP ${status} without an OAuth error (a proxy or firewall page?)`,
      details,
    );
  }
  if (status >= 400) {
    return new TokenRequestError(
      'OIDC_CC_TOKEN_REQUEST_FAILED',
      `Token request refused by the ID service ${suffix}`,
      details,
    );
  }
  return new TokenRequestError(
    'OIDC_CC_TOKEN_RESPONSE_INVALID',
    `Invalid token response: unexpected HTTP ${status}`,
    { status },
  );
}

/** The RFC 6749 §5.2 `error` and `error_description`, sanitised, with any secret redacted. */
async function oauthErrorFields(
  response: Response,
  secrets: readonly string[],
): Promise<{ error?: string; errorDescription?: string }> {
  let body: unknown;
  try {
    body = JSON.parse(await response.text());
  } catch {
    return {};
  }
  if (typeof body !== 'object' || body === null) return {};
  const fields = body as { error?: unknown; error_description?: unknown };
  return {
    error: clean(fields.error, secrets, 64),
    errorDescription: clean(fields.error_description, secrets, 200),
  };
}

function clean(value: unknown, secrets: readonly string[], maxLength: number): string | undefined {
  if (typeof value !== 'string' || value.length === 0) return undefined;
  return sanitizeForLog(redactCredentials(value, secrets), maxLength) || undefined;
}
