import { Module, type DynamicModule } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import {
  OidcClientCredentialsModule,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import {
  IntrospectionRoutesController,
  JwtRoutesController,
  UserinfoRoutesController,
} from './demo-routes.controller.js';

/** Environment of the demo API (see apps/README.md). */
export type DemoApiEnv = Record<string, string | undefined>;

/**
 * The module options, from the environment: the ID service (`OIDC_ISSUER`, or `ID_SERVICE_URL`)
 * and this API's own client, which introspection authenticates as. Each route prefix picks its
 * strategy with `@VerifyWith()`.
 */
export function verifierOptions(config: ConfigService): OidcClientCredentialsModuleOptions {
  return {
    issuer: config.get<string>('OIDC_ISSUER') ?? config.getOrThrow<string>('ID_SERVICE_URL'),
    clientId: config.get<string>('CLIENT_ID'),
    clientSecret: config.get<string>('CLIENT_SECRET'),
    verification: {
      realm: 'demo-api',
      // The API its callers' tokens must name in `aud`; unset, the library warns at startup.
      audience: config.get<string>('API_AUDIENCE') || undefined,
    },
  };
}

/**
 * The "3rd party service" of the seed: one `OidcClientCredentialsModule`, and a controller per
 * strategy whose routes choose it with `@VerifyWith()`.
 */
@Module({})
export class DemoApiModule {
  /** `env` is `process.env` for a real run; tests and the demo pass their own. */
  static register(env: DemoApiEnv = process.env): DynamicModule {
    return {
      module: DemoApiModule,
      imports: [
        ConfigModule.forRoot({
          isGlobal: true,
          ignoreEnvFile: true,
          ignoreEnvVars: true,
          skipProcessEnv: true,
          load: [() => ({ ...env })],
        }),
        OidcClientCredentialsModule.forRootAsync({
          inject: [ConfigService],
          useFactory: verifierOptions,
        }),
      ],
      controllers: [JwtRoutesController, IntrospectionRoutesController, UserinfoRoutesController],
    };
  }
}
