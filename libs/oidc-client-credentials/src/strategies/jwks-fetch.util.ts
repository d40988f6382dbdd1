import type { JWK } from 'jose';
import { ValidatorUnavailableError } from '../errors/validator-unavailable.error.js';
import {
  answeredCall,
  printableUrl,
  readOAuthError,
  suggestsMovedEndpoint,
  unansweredCall,
} from '../idp/endpoint-failure.util.js';
import type { IssuerMetadataProvider } from '../idp/issuer-metadata.provider.js';
import { isJwk } from './shared-jwks.store.js';

/**
 * One GET of the JWK Set at `jwksUri` with the hardened fetch: its JWK objects, frozen. A discovered
 * `jwks_uri` that looks gone (refused connection, unknown host, 404) is reported so discovery is
 * fetched again.
 *
 * @throws ValidatorUnavailableError naming the URL and the cause when no JWK Set can be read.
 */
export async function fetchJwks(
  metadata: IssuerMetadataProvider,
  jwksUri: string,
  timeoutMs: number,
): Promise<readonly JWK[]> {
  let response: Response;
  try {
    response = await metadata.fetch(jwksUri, {
      headers: { accept: 'application/jwk-set+json, application/json' },
    });
  } catch (error) {
    if (suggestsMovedEndpoint(error)) metadata.reportEndpointFailure('jwks_uri');
    throw unavailable(unansweredCall('GET', jwksUri, error, timeoutMs), error);
  }
  if (response.status !== 200) {
    if (suggestsMovedEndpoint(response)) metadata.reportEndpointFailure('jwks_uri');
    const oauthError = await readOAuthError(response);
    throw unavailable(answeredCall('GET', jwksUri, response.status, oauthError));
  }
  let body: unknown;
  try {
    body = await response.json();
  } catch (error) {
    throw unavailable(`GET ${printableUrl(jwksUri)} answered invalid JSON`, error);
  }
  const keys = (body as { keys?: unknown } | null)?.keys;
  if (typeof body !== 'object' || Array.isArray(body) || !Array.isArray(keys)) {
    throw unavailable(`GET ${printableUrl(jwksUri)} answered something other than a JWK Set`);
  }
  // Entries that are not JWK objects are dropped; the others stay usable.
  return Object.freeze(keys.filter(isJwk).map((key) => Object.freeze({ ...key })));
}

function unavailable(reason: string, cause?: unknown): ValidatorUnavailableError {
  return ValidatorUnavailableError.of(
    'OIDC_CC_JWKS_UNAVAILABLE',
    `JWKS fetch failed: ${reason}`,
    cause,
  );
}
