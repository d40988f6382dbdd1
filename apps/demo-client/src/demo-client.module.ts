import { Module, type DynamicModule } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import {
  OidcClientCredentialsModule,
  type ClientAuthMethod,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { DemoApiClient } from './demo-api.client.js';
import { DemoClientController } from './demo-client.controller.js';

/** Environment of the demo client (see apps/README.md). */
export type DemoClientEnv = Record<string, string | undefined>;

/**
 * The module options from the environment, as a real service would build them:
 * `OIDC_ISSUER` (or `ID_SERVICE_URL`), `CLIENT_ID`, `CLIENT_SECRET`, and optionally
 * `CLIENT_AUTH_METHOD` and `CLIENT_SCOPE`.
 */
export function clientOptions(config: ConfigService): OidcClientCredentialsModuleOptions {
  const scope = config.get<string>('CLIENT_SCOPE');
  return {
    issuer: config.get<string>('OIDC_ISSUER') ?? config.getOrThrow<string>('ID_SERVICE_URL'),
    clientId: config.getOrThrow<string>('CLIENT_ID'),
    clientSecret: config.getOrThrow<string>('CLIENT_SECRET'),
    clientAuthMethod: config.get<ClientAuthMethod>('CLIENT_AUTH_METHOD') ?? 'client_secret_basic',
    ...(scope ? { scope } : {}),
  };
}

/** A service that calls the demo API with client credentials. */
@Module({})
export class DemoClientModule {
  /** `env` is `process.env` for a real run; tests and the demo pass their own. */
  static register(env: DemoClientEnv = process.env): DynamicModule {
    return {
      module: DemoClientModule,
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
          useFactory: clientOptions,
        }),
      ],
      controllers: [DemoClientController],
      providers: [DemoApiClient],
    };
  }
}
