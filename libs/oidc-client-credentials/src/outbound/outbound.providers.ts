import type { Provider } from '@nestjs/common';
import { ClientCredentialsHttpService } from './client-credentials-http.service.js';
import { ConfigurationError } from '../errors/configuration.error.js';
import {
  getClientCredentialsHttpToken,
  getTokenProviderToken,
} from './inject-token-provider.decorator.js';
import type { NamedClientOptions } from '../options/oidc-client-credentials-options.interface.js';
import { TokenProviderRegistry } from './token-provider-registry.provider.js';
import { TokenProvider } from './token.provider.js';

/** Outbound providers: the token provider, the token-attaching HttpService, the named clients. */
export const OUTBOUND_PROVIDERS: Provider[] = [
  TokenProvider,
  TokenProviderRegistry,
  {
    // The registry builds every client's HttpService, the root client's included.
    provide: ClientCredentialsHttpService,
    useFactory: (registry: TokenProviderRegistry) => registry.httpService(),
    inject: [TokenProviderRegistry],
  },
];

/** Outbound providers visible to importers. */
export const OUTBOUND_EXPORTS: Provider[] = [
  TokenProvider,
  ClientCredentialsHttpService,
  TokenProviderRegistry,
];

/**
 * The injectable `TokenProvider` and HttpService of a named client, taken from the root module's
 * {@link TokenProviderRegistry} (`options`: the definition passed to `forFeature`, if any).
 */
export function namedClientProviders(name: string, options?: NamedClientOptions): Provider[] {
  // A value provider, not a closure: Nest tells dynamic modules apart by their serialised
  // metadata, so two forFeature calls with other options must differ there to stay two modules.
  const definitionToken = `nest-oidc-client-credentials:NamedClientOptions(${name})`;
  // Optional, so that a missing root gets this module's message rather than Nest's.
  const registryToken = { token: TokenProviderRegistry, optional: true };
  return [
    { provide: definitionToken, useValue: options ?? null },
    {
      provide: getTokenProviderToken(name),
      useFactory: (
        registry: TokenProviderRegistry | undefined,
        definition: NamedClientOptions | null,
      ) => requireRegistry(registry, name).register(name, definition ?? undefined),
      inject: [registryToken, definitionToken],
    },
    {
      provide: getClientCredentialsHttpToken(name),
      useFactory: (registry: TokenProviderRegistry | undefined, client: TokenProvider) => {
        void client; // injected so that the client exists, and was checked, first
        return requireRegistry(registry, name).httpService(name);
      },
      inject: [registryToken, getTokenProviderToken(name)],
    },
  ];
}

function requireRegistry(
  registry: TokenProviderRegistry | undefined,
  name: string,
): TokenProviderRegistry {
  if (registry === undefined) {
    throw new ConfigurationError(
      `forFeature('${name}')`,
      'needs OidcClientCredentialsModule.forRoot or forRootAsync registered with isGlobal: true, so that its configuration is visible to feature modules',
    );
  }
  return registry;
}

/** The DI tokens of {@link namedClientProviders}, to export them. */
export function namedClientExports(name: string): (string | Provider)[] {
  return [getTokenProviderToken(name), getClientCredentialsHttpToken(name)];
}
