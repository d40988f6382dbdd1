import { Module, type DynamicModule, type Type } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import {
  OidcClientCredentialsModule,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import {
  IntrospectionRoutesController,
  JwtRoutesController,
  UserinfoRoutesController,
  type DemoStrategy,
} from './demo-routes.controller.js';

/** Environment of the demo API (see apps/README.md). */
export type DemoApiEnv = Record<string, string | undefined>;

/** The JWT routes with their own verifier. */
@Module({})
export class JwtRoutesModule {}

/** The introspection routes with their own verifier. */
@Module({})
export class IntrospectionRoutesModule {}

/** The userinfo routes with their own verifier. */
@Module({})
export class UserinfoRoutesModule {}

const ROUTES: Record<DemoStrategy, { module: Type; controller: Type }> = {
  jwt: { module: JwtRoutesModule, controller: JwtRoutesController },
  introspection: { module: IntrospectionRoutesModule, controller: IntrospectionRoutesController },
  userinfo: { module: UserinfoRoutesModule, controller: UserinfoRoutesController },
};

/**
 * The module options of one strategy, from the environment: the ID service (`OIDC_ISSUER`, or
 * `ID_SERVICE_URL`) and this API's own client, which introspection authenticates as.
 */
export function verifierOptions(
  config: ConfigService,
  strategy: DemoStrategy,
): OidcClientCredentialsModuleOptions {
  return {
    issuer: config.get<string>('OIDC_ISSUER') ?? config.getOrThrow<string>('ID_SERVICE_URL'),
    clientId: config.get<string>('CLIENT_ID'),
    clientSecret: config.get<string>('CLIENT_SECRET'),
    verification: { strategy, realm: 'demo-api' },
  };
}

/**
 * The "3rd party service" of the seed. One route module per strategy, each importing its own
 * `OidcClientCredentialsModule`, so each controller's `ClientTokenGuard` gets that module's
 * strategy.
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
        ...Object.entries(ROUTES).map(([strategy, { module, controller }]) => ({
          module,
          imports: [
            OidcClientCredentialsModule.forRootAsync({
              inject: [ConfigService],
              useFactory: (config: ConfigService) =>
                verifierOptions(config, strategy as DemoStrategy),
            }),
          ],
          controllers: [controller],
        })),
      ],
    };
  }
}
