import type { FakeResponse } from './http-exchange.js';
import type { IdServiceContext } from './id-service-context.js';
import { PATHS } from './paths.js';
import type { SigningKeys } from './signing-keys.js';

const CLIENT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'];

/**
 * The discovery document: the issuer, every endpoint's absolute URL and what they support.
 *
 * @see https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderMetadata
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-2
 */
export function discoveryEndpoint(context: IdServiceContext, keys: SigningKeys): FakeResponse {
  const scopes = Object.values(context.clients).flatMap(
    (client) => client.scopes ?? client.scope?.split(' ').filter(Boolean) ?? [],
  );
  return {
    body: {
      issuer: context.issuer,
      token_endpoint: context.url(PATHS.token),
      introspection_endpoint: context.url(PATHS.introspection),
      userinfo_endpoint: context.url(PATHS.userinfo),
      jwks_uri: context.url(PATHS.jwks),
      grant_types_supported: ['client_credentials'],
      response_types_supported: ['token'],
      subject_types_supported: ['public'],
      scopes_supported: [...new Set(scopes)],
      token_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
      token_endpoint_auth_signing_alg_values_supported: ['RS256', 'PS256', 'ES256', 'EdDSA'],
      introspection_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
      id_token_signing_alg_values_supported: [keys.alg],
    },
  };
}

/**
 * The published signing keys, public parts only.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7517#section-5
 */
export function jwksEndpoint(keys: SigningKeys): FakeResponse {
  return { body: keys.jwks() };
}
