import { Module, type DynamicModule } from '@nestjs/common';
import { HttpModule } from '@nestjs/axios';
import { ConfigurationError } from './errors/configuration.error.js';
import type { NamedClientOptions } from './options/oidc-client-credentials-options.interface.js';
import { IssuerMetadataProvider } from './idp/issuer-metadata.provider.js';
import { OidcClientCredentialsEvents } from './observability/oidc-client-credentials-events.provider.js';
import { GraphqlWsAuthentication } from './inbound/transports/graphql-ws-authentication.provider.js';
import { OidcClientCredentialsHealthIndicator } from './observability/oidc-client-credentials.health.js';
import { OidcClientCredentialsStartupCheck } from './observability/startup-check.health.js';
import {
  ConfigurableModuleClass,
  OIDC_CLIENT_CREDENTIALS_MODULE_OPTIONS,
  OPTIONS_TYPE,
  type ASYNC_OPTIONS_TYPE,
} from './oidc-client-credentials.module-definition.js';
import { OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS } from './options/resolved-options.js';
import {
  namedClientExports,
  namedClientProviders,
  OUTBOUND_EXPORTS,
  OUTBOUND_PROVIDERS,
} from './outbound/outbound.providers.js';
import { SharedCache } from './cache/shared-cache.provider.js';
import { SenderConstraintVerifier } from './inbound/sender-constraint/sender-constraint.verifier.js';
import { resolveOptions } from './options/resolve-options.util.js';
import { DEFAULT_CLIENT_NAME } from './options/resolved-options.js';
import {
  VERIFICATION_EXPORTS,
  VERIFICATION_PROVIDERS,
} from './strategies/verification.providers.js';
import { ResourceMetadataRoute } from './inbound/resource-metadata/resource-metadata.route.js';

/**
 * OAuth 2.0 client credentials for NestJS, both directions: `TokenProvider` (and a token-attaching
 * HttpService) for outbound calls, `ClientTokenGuard` for inbound ones. `forRoot` and
 * `forRootAsync` build the same provider graph (with `forRootAsync`, named clients are listed in
 * `clientNames`); options are validated when the module starts, and with `verifyOnStartup` the ID
 * service is checked then too.
 *
 * @example
 * @Module({
 *   imports: [
 *     OidcClientCredentialsModule.forRoot({
 *       issuer: 'https://id.example.com',
 *       clientId: 'billing',
 *       clientSecret: process.env.CLIENT_SECRET,
 *     }),
 *   ],
 * })
 * export class AppModule {}
 */
@Module({
  imports: [HttpModule],
  providers: [
    {
      provide: OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS,
      useFactory: resolveOptions,
      inject: [OIDC_CLIENT_CREDENTIALS_MODULE_OPTIONS],
    },
    IssuerMetadataProvider,
    SharedCache,
    OidcClientCredentialsEvents,
    ...OUTBOUND_PROVIDERS,
    ...VERIFICATION_PROVIDERS,
    GraphqlWsAuthentication,
    SenderConstraintVerifier,
    OidcClientCredentialsHealthIndicator,
    OidcClientCredentialsStartupCheck,
    ResourceMetadataRoute,
  ],
  exports: [
    OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS,
    IssuerMetadataProvider,
    OidcClientCredentialsEvents,
    ...OUTBOUND_EXPORTS,
    ...VERIFICATION_EXPORTS,
    GraphqlWsAuthentication,
    SenderConstraintVerifier,
    OidcClientCredentialsHealthIndicator,
  ],
})
export class OidcClientCredentialsModule extends ConfigurableModuleClass {
  /**
   * Registers the module; each client under `options.clients` is injectable by name with
   * `@InjectTokenProvider(name)` and `@InjectClientCredentialsHttp(name)` wherever the root
   * client is.
   */
  static override forRoot(options: typeof OPTIONS_TYPE): DynamicModule {
    const clients = options?.clients;
    // Bad values are reported by the options check at startup, with the option's name.
    const names =
      typeof clients === 'object' && clients !== null && !Array.isArray(clients)
        ? Object.keys(clients)
        : [];
    return withNamedClients(super.forRoot(options), [...(options?.clientNames ?? []), ...names]);
  }

  /**
   * Registers the module with options from a factory, a class (`createOidcClientCredentialsOptions()`)
   * or an existing provider, e.g. `ConfigService` from @nestjs/config. Named clients are injectable
   * when their names are listed in `clientNames` (the factory's `clients` are known only at startup).
   *
   * @example
   * OidcClientCredentialsModule.forRootAsync({
   *   imports: [ConfigModule],
   *   inject: [ConfigService],
   *   useFactory: (config: ConfigService) => ({ issuer: config.getOrThrow('OIDC_ISSUER'), … }),
   *   clientNames: ['billing'],
   * })
   */
  static override forRootAsync(options: typeof ASYNC_OPTIONS_TYPE): DynamicModule {
    return withNamedClients(super.forRootAsync(options), options?.clientNames ?? []);
  }

  /**
   * Makes the named client `name` injectable in the importing module: the one configured under
   * `clients.<name>` of the root options, with `options` on top when given (or defined by `options`
   * alone). Needs the root module (`forRoot` or `forRootAsync`) registered with `isGlobal: true`.
   * A name has one definition: import the same `forFeature(name, options)` wherever it is needed.
   *
   * @example
   * OidcClientCredentialsModule.forRootAsync({ isGlobal: true, useFactory: … }),
   * OidcClientCredentialsModule.forFeature('billing', { scope: 'invoices:write' }),
   */
  static forFeature(name: string, options?: NamedClientOptions): DynamicModule {
    if (typeof name !== 'string' || name === DEFAULT_CLIENT_NAME) {
      throw new ConfigurationError(
        'forFeature',
        `expected the name of a named client (the root client "${DEFAULT_CLIENT_NAME}" is injected as TokenProvider)`,
      );
    }
    return {
      module: OidcClientCredentialsFeatureModule,
      providers: namedClientProviders(name, options),
      exports: namedClientExports(name),
    };
  }
}

/** Adds the providers that inject the named clients `names` by name, and exports them. */
function withNamedClients(definition: DynamicModule, names: readonly string[]): DynamicModule {
  const unique = [...new Set(names)];
  if (unique.length === 0) return definition;
  return {
    ...definition,
    providers: [
      ...(definition.providers ?? []),
      ...unique.flatMap((name) => namedClientProviders(name)),
    ],
    exports: [...(definition.exports ?? []), ...unique.flatMap(namedClientExports)],
  };
}

/** Host of the providers of one `forFeature` call. */
@Module({})
class OidcClientCredentialsFeatureModule {}
