import { OidcClientCredentialsError } from './oidc-client-credentials.error.js';

/**
 * The ID service's metadata could not be fetched or did not match the configured issuer.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-3.3
 */
export class DiscoveryError extends OidcClientCredentialsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('OIDC_CC_DISCOVERY_FAILED', message, options);
  }
}
