import { Inject } from '@nestjs/common';
import { ClientCredentialsHttpService } from './client-credentials-http.service.js';
import { TokenProvider } from './token.provider.js';
import { DEFAULT_CLIENT_NAME } from '../options/resolved-options.js';

/**
 * DI token of the {@link TokenProvider} of a client: the `TokenProvider` class itself for the root
 * client (no name or `'default'`), a string naming the client otherwise.
 */
export function getTokenProviderToken(
  name: string = DEFAULT_CLIENT_NAME,
): string | typeof TokenProvider {
  return name === DEFAULT_CLIENT_NAME
    ? TokenProvider
    : `nest-oidc-client-credentials:TokenProvider(${name})`;
}

/**
 * DI token of the token-attaching HttpService of a client: the `ClientCredentialsHttpService`
 * class itself for the root client, a string naming the client otherwise.
 */
export function getClientCredentialsHttpToken(
  name: string = DEFAULT_CLIENT_NAME,
): string | typeof ClientCredentialsHttpService {
  return name === DEFAULT_CLIENT_NAME
    ? ClientCredentialsHttpService
    : `nest-oidc-client-credentials:ClientCredentialsHttpService(${name})`;
}

/**
 * Injects the {@link TokenProvider} of a named client (configured under `clients` or with
 * `forFeature`); without a name, the root client's.
 *
 * @example
 * constructor(@InjectTokenProvider('billing') private readonly billingTokens: TokenProvider) {}
 */
export function InjectTokenProvider(name?: string): PropertyDecorator & ParameterDecorator {
  return Inject(getTokenProviderToken(name));
}

/**
 * Injects the token-attaching {@link ClientCredentialsHttpService} of a named client; without a
 * name, the root client's.
 *
 * @example
 * constructor(@InjectClientCredentialsHttp('billing') private readonly billing: ClientCredentialsHttpService) {}
 */
export function InjectClientCredentialsHttp(name?: string): PropertyDecorator & ParameterDecorator {
  return Inject(getClientCredentialsHttpToken(name));
}
