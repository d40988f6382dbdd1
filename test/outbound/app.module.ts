import { Injectable, Module, type DynamicModule } from '@nestjs/common';
import { firstValueFrom } from 'rxjs';
import {
  ClientCredentialsHttpService,
  OidcClientCredentialsModule,
  TokenProvider,
  type OidcClientCredentialsModuleOptions,
  type OidcClientCredentialsOptionsFactory,
} from 'nest-oidc-client-credentials';

/** A user's service calling another service with the module's token-attaching HttpService. */
@Injectable()
export class OrdersClient {
  constructor(
    private readonly http: ClientCredentialsHttpService,
    readonly tokens: TokenProvider,
  ) {}

  async list(url: string): Promise<unknown> {
    const { data } = await firstValueFrom(this.http.get<unknown>(url));
    return data;
  }
}

/** How the app configures the library: `forRoot` or each of the `forRootAsync` forms. */
export type Registration = 'forRoot' | 'useFactory' | 'useClass' | 'useExisting';

/** Options factory for the `useClass` / `useExisting` forms. */
@Injectable()
export class OutboundOptionsFactory implements OidcClientCredentialsOptionsFactory {
  static options: OidcClientCredentialsModuleOptions;

  createOidcClientCredentialsOptions(): OidcClientCredentialsModuleOptions {
    return OutboundOptionsFactory.options;
  }
}

@Module({ providers: [OutboundOptionsFactory], exports: [OutboundOptionsFactory] })
class OptionsModule {}

/** A small outbound-only app: the library module registered one way, and a user service. */
@Module({})
export class OutboundAppModule {
  static register(
    options: OidcClientCredentialsModuleOptions,
    registration: Registration = 'forRoot',
  ): DynamicModule {
    OutboundOptionsFactory.options = options;
    const library =
      registration === 'forRoot'
        ? OidcClientCredentialsModule.forRoot(options)
        : registration === 'useFactory'
          ? OidcClientCredentialsModule.forRootAsync({ useFactory: async () => options })
          : registration === 'useClass'
            ? OidcClientCredentialsModule.forRootAsync({ useClass: OutboundOptionsFactory })
            : OidcClientCredentialsModule.forRootAsync({
                imports: [OptionsModule],
                useExisting: OutboundOptionsFactory,
              });
    return { module: OutboundAppModule, imports: [library], providers: [OrdersClient] };
  }
}
