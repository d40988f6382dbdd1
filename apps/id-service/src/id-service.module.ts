import { Logger, Module, type DynamicModule } from '@nestjs/common';
import type { JWK } from 'jose';
import { IdServiceEndpoints } from 'nest-oidc-client-credentials/testing';
import { DevController } from './dev.controller.js';
import {
  toEndpointClients,
  type IdServiceAlgorithm,
  type IdServiceClients,
} from './id-service.config.js';
import { ProtocolController } from './protocol.controller.js';
import { RequestStats } from './request-stats.service.js';

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

/**
 * The development ID service as a Nest module: the testing kit's endpoints behind Nest controllers,
 * with the seed's JWT payload exactly (no `jti` unless a client asks for RFC 9068 tokens).
 */
@Module({})
export class IdServiceModule {
  static register(options: IdServiceModuleOptions): DynamicModule {
    const logger = new Logger('IdService');
    return {
      module: IdServiceModule,
      controllers: [ProtocolController, ...(options.devApi ? [DevController] : [])],
      providers: [
        {
          provide: IdServiceEndpoints,
          useFactory: () =>
            IdServiceEndpoints.create({
              clients: toEndpointClients(options.clients),
              issuer: options.issuer,
              alg: options.alg ?? 'RS256',
              signingKeys: options.signingKeys,
              clock: options.clock,
              uniqueJwtIds: false,
              onWarning: (message) => logger.warn(message),
            }),
        },
        RequestStats,
      ],
      exports: [IdServiceEndpoints, RequestStats],
    };
  }
}
