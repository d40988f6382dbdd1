import { Module } from '@nestjs/common';
import { HttpModule } from '@nestjs/axios';
import { IssuerMetadataProvider } from './issuer-metadata.provider.js';
import {
  ConfigurableModuleClass,
  OIDC_CLIENT_CREDENTIALS_MODULE_OPTIONS,
  OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS,
} from './oidc-client-credentials.module-definition.js';
import { SharedCache } from './shared-cache.provider.js';
import { TOKEN_EXPORTS, TOKEN_PROVIDERS } from './token.providers.js';
import { resolveOptions } from './utils/resolve-options.util.js';
import { VERIFICATION_EXPORTS, VERIFICATION_PROVIDERS } from './verification.providers.js';

/**
 * OAuth 2.0 client credentials for NestJS, both directions: `TokenProvider` (and a token-attaching
 * HttpService) for outbound calls, `ClientTokenGuard` for inbound ones. `forRoot` and
 * `forRootAsync` build the same provider graph; options are validated when the module starts.
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
    ...TOKEN_PROVIDERS,
    ...VERIFICATION_PROVIDERS,
  ],
  exports: [
    OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS,
    IssuerMetadataProvider,
    ...TOKEN_EXPORTS,
    ...VERIFICATION_EXPORTS,
  ],
})
export class OidcClientCredentialsModule extends ConfigurableModuleClass {}
