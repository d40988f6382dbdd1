import { Controller, Get } from '@nestjs/common';
import type { JWK } from 'jose';
import { ID_SERVICE_PATHS, IdServiceContext } from './id-service.context.js';
import { RequestStats } from './request-stats.service.js';
import { SigningKeys } from './signing-keys.service.js';

/**
 * Discovery metadata and the public keys.
 *
 * @see https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderMetadata
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-2
 */
@Controller()
export class MetadataController {
  constructor(
    private readonly context: IdServiceContext,
    private readonly keys: SigningKeys,
    private readonly stats: RequestStats,
  ) {}

  @Get(ID_SERVICE_PATHS.discovery)
  discovery(): Record<string, unknown> {
    this.stats.count('discovery');
    const authMethods = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'];
    const scopes = Object.values(this.context.clients).flatMap((client) => client.scopes ?? []);
    return {
      issuer: this.context.issuer,
      token_endpoint: this.context.url(ID_SERVICE_PATHS.token),
      introspection_endpoint: this.context.url(ID_SERVICE_PATHS.introspection),
      userinfo_endpoint: this.context.url(ID_SERVICE_PATHS.userinfo),
      jwks_uri: this.context.url(ID_SERVICE_PATHS.jwks),
      grant_types_supported: ['client_credentials'],
      response_types_supported: ['token'],
      subject_types_supported: ['public'],
      scopes_supported: [...new Set(scopes)],
      token_endpoint_auth_methods_supported: authMethods,
      token_endpoint_auth_signing_alg_values_supported: ['RS256', 'PS256', 'ES256', 'EdDSA'],
      introspection_endpoint_auth_methods_supported: authMethods,
      id_token_signing_alg_values_supported: [this.context.alg],
    };
  }

  @Get(ID_SERVICE_PATHS.jwks)
  jwks(): { keys: JWK[] } {
    this.stats.count('jwks');
    return this.keys.jwks();
  }
}
