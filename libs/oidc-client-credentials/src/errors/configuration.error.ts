import { OidcClientCredentialsError } from './oidc-client-credentials.error.js';

/** Thrown at startup when an option is missing or wrong; the message names the option. */
export class ConfigurationError extends OidcClientCredentialsError {
  constructor(
    readonly option: string,
    expectation: string,
  ) {
    super('OIDC_CC_CONFIGURATION_INVALID', `Invalid option "${option}": ${expectation}`);
  }
}
