import { Module, type DynamicModule } from '@nestjs/common';
import type { JWK } from 'jose';
import { ClientAuthenticator } from './client-authenticator.service.js';
import { DevController } from './dev.controller.js';
import type { IdServiceAlgorithm, IdServiceClients } from './id-service.config.js';
import { IdServiceContext } from './id-service.context.js';
import { IntrospectionController } from './introspection.controller.js';
import { IssuedTokens } from './issued-tokens.service.js';
import { MetadataController } from './metadata.controller.js';
import { RequestStats } from './request-stats.service.js';
import { ID_SERVICE_SIGNING_KEYS, SigningKeys } from './signing-keys.service.js';
import { TokenController } from './token.controller.js';
import { UserinfoController } from './userinfo.controller.js';

/** Options of {@link IdServiceModule.register}. */
export interface IdServiceModuleOptions {
  clients: IdServiceClients;
  /** Fixed issuer (e.g. behind a proxy); otherwise the listening address once known. */
  issuer?: string;
  /** Algorithm of generated keys. Default `'RS256'`. */
  alg?: IdServiceAlgorithm;
  /** Private JWKs to sign with instead of generated keys. */
  signingKeys?: JWK[];
  /** Mount the `/_dev` API (stats, key and token revocation). */
  devApi?: boolean;
  /** Clock in epoch milliseconds, for tests. Default `Date.now`. */
  clock?: () => number;
}

/** The development ID service as a Nest module. */
@Module({})
export class IdServiceModule {
  static register(options: IdServiceModuleOptions): DynamicModule {
    return {
      module: IdServiceModule,
      controllers: [
        MetadataController,
        TokenController,
        IntrospectionController,
        UserinfoController,
        ...(options.devApi ? [DevController] : []),
      ],
      providers: [
        {
          provide: IdServiceContext,
          useValue: new IdServiceContext(
            options.clients,
            options.alg ?? 'RS256',
            options.clock ?? Date.now,
            options.issuer,
          ),
        },
        { provide: ID_SERVICE_SIGNING_KEYS, useValue: options.signingKeys ?? [] },
        SigningKeys,
        IssuedTokens,
        ClientAuthenticator,
        RequestStats,
      ],
      exports: [IdServiceContext, SigningKeys, IssuedTokens, RequestStats],
    };
  }
}
